"""``xrclient token --name`` takes only names the display-text policy allows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_cli import xrclient


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "hub.secret"
    path.write_text(os.urandom(32).hex() + "\n")
    path.chmod(0o600)
    return path


def mint(secret: Path, name: str) -> tuple[int, str, str]:
    run = xrclient(
        "token", "--secret-file", str(secret), "--room", "line-a", "--name", name,
        "--role", "trainee",
    )  # fmt: skip
    return run.returncode, run.stdout, run.stderr


@pytest.mark.parametrize(
    "name",
    ["Ann\n2026-12-08 hub INFO fake line", "Ann\u202e", "A\u200bnn", "Ann\x7f", "Ann\x9b", " Ann"],
)
def test_names_the_policy_refuses_get_no_token(secret: Path, name: str) -> None:
    code, out, err = mint(secret, name)
    assert code == 1 and out == ""
    assert "'--name'" in err


def test_a_name_is_normalised_before_it_is_signed(secret: Path) -> None:
    from xrclient.hub import tokens

    code, out, _ = mint(secret, "Zoe\u0308 Ødegård")
    assert code == 0
    claims = tokens.verify(bytes.fromhex(secret.read_text().strip()), out.strip())
    assert claims.name == "Zoë Ødegård"
