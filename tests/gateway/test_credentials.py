"""User files and key files of plant connections: private, well formed, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrclient.gateway.credentials import CredentialsError, check_private, read_user_file


def test_user_file_must_be_private_and_well_formed(tmp_path: Path) -> None:
    f = tmp_path / "user"
    f.write_text("alice\nhunter2\n")
    f.chmod(0o644)
    with pytest.raises(CredentialsError, match="chmod 600") as info:
        read_user_file(f)
    assert "hunter2" not in str(info.value) and str(f) in str(info.value)
    f.chmod(0o600)
    assert read_user_file(f) == ("alice", "hunter2")
    for text in ("only-one-line\n", "a\nb\nc\n", "\npw\n"):
        f.write_text(text)
        with pytest.raises(CredentialsError, match="two lines"):
            read_user_file(f)
    f.write_bytes(b"alice\n\xff\xfe\n")
    with pytest.raises(CredentialsError, match="not UTF-8") as info:
        read_user_file(f)
    f.write_text("alice\n" + "p" * 5000 + "\n")
    with pytest.raises(CredentialsError, match="larger than"):
        read_user_file(f)
    with pytest.raises(CredentialsError, match="cannot read"):
        read_user_file(tmp_path / "absent")
    with pytest.raises(CredentialsError, match="not a regular file"):
        read_user_file(tmp_path)


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("k")
    key.chmod(0o640)
    with pytest.raises(CredentialsError, match="read by others"):
        check_private(key, "key file")
    key.chmod(0o600)
    assert check_private(key, "key file").st_size == 1
