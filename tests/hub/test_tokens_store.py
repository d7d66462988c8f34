"""Tokens, the SQLite store and the hash-chained audit log, with real files."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from pathlib import Path

import pytest

from xrclient.commands.hub import main as hub_main
from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.core.session_room import Annotation, Change
from xrclient.hub import audit, tokens
from xrclient.hub.store import HubStore, StoreError

from .helpers import SECRET

NOW = 1_800_000_000.0


def test_token_round_trip() -> None:
    tok = tokens.mint(SECRET, "plant-1", "Ana Lima", roles.Role.EXPERT, 3600, now=NOW)
    claims = tokens.verify(SECRET, tok, now=NOW + 10)
    assert (claims.room, claims.name, claims.role) == ("plant-1", "Ana Lima", roles.Role.EXPERT)
    assert claims.expires == NOW + 3600
    # only subprotocol-safe characters, so it can travel as one
    assert all(c.isalnum() or c in "._-" for c in tok)


def _forge(tok: str, **changes: object) -> str:
    head, body, sig = tok.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{raw}.{sig}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda t: _forge(t, o="expert", n="mallory"), "bad token signature"),
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "bad token signature"),
        (lambda t: tokens.mint(b"x" * 32, "plant", "ana", roles.Role.EXPERT, 60, NOW), "signature"),
        (lambda t: "xs2" + t[3:], "malformed token"),
        (lambda t: t + ".x", "malformed token"),
        (lambda t: "", "malformed token"),
        (lambda t: "é" * 10, "malformed token"),
        (lambda t: "x" * 5000, "malformed token"),
    ],
)
def test_forged_and_malformed_tokens_are_refused(make, reason: str) -> None:  # type: ignore[no-untyped-def]  # make is the token factory fixture
    tok = tokens.mint(SECRET, "plant", "ana", roles.Role.TRAINEE, 3600, now=NOW)
    with pytest.raises(tokens.TokenError) as err:
        tokens.verify(SECRET, make(tok), now=NOW)
    assert reason in err.value.reason and err.value.status == 401


def test_expiry_with_skew_allowance() -> None:
    tok = tokens.mint(SECRET, "plant", "ana", roles.Role.TRAINEE, 60, now=NOW)
    tokens.verify(SECRET, tok, now=NOW + 60 + tokens.SKEW - 1)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(SECRET, tok, now=NOW + 60 + tokens.SKEW + 1)
    with pytest.raises(tokens.TokenError, match="not valid yet"):
        tokens.verify(SECRET, tok, now=NOW - 3600)


def test_ttl_parsing_and_claim_checks() -> None:
    assert tokens.parse_ttl("8h") == 8 * 3600
    assert tokens.parse_ttl("90") == 90
    assert tokens.parse_ttl("1.5m") == 90
    for bad in ("", "8 hours", "0s", "31d", "-1h"):
        with pytest.raises(ValueError):
            tokens.parse_ttl(bad)
    with pytest.raises(codec.SessionError):
        tokens.mint(SECRET, "bad room/..", "ana", roles.Role.EXPERT, 60)
    with pytest.raises(ValueError):
        tokens.mint(b"short", "plant", "ana", roles.Role.EXPERT, 60)


def test_secret_files(tmp_path: Path) -> None:
    path = tmp_path / "hub.secret"
    secret = tokens.create_secret(path)
    assert tokens.load_secret(path) == secret
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        tokens.create_secret(path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others"):
        tokens.load_secret(path)
    short = tmp_path / "short"
    short.write_text("abcd")
    short.chmod(0o600)
    with pytest.raises(ValueError, match="at least 32"):
        tokens.load_secret(short)
    with pytest.raises(ValueError, match="no secret file"):
        tokens.load_secret(tmp_path / "missing")


# -- store and audit ---------------------------------------------------------------------------


def ann(aid: str, text: str, rev: int = 1, author: str = "ana") -> Annotation:
    return Annotation(aid, "M1", (0.5, 1.0, -0.25), text, author, "#ffcc00", "open", NOW, NOW, rev)


def change(action: str, before: Annotation | None, after: Annotation | None) -> Change:
    return Change(action, "ana", roles.Role.EXPERT, 1, None, before, after, NOW)


def fill(db: Path) -> None:
    store = HubStore(db)
    a1, a2 = ann("a1", "one"), ann("a2", "two")
    store.commit([("plant", change("create", None, a1)), ("plant", change("create", None, a2))])
    store.commit([("plant", change("update", a1, ann("a1", "one!", 2)))])
    store.commit([("plant", change("delete", a2, None)), ("other", change("create", None, a2))])
    store.close()


def test_store_persists_and_reloads(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    fill(db)
    store = HubStore(db)
    assert store.load("plant") == [ann("a1", "one!", 2)]
    assert store.load("other") == [ann("a2", "two")]
    assert store.load("empty") == []
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    verdict = audit.verify(db)
    assert verdict.ok and verdict.rows == 5, verdict.problems


def test_a_failed_batch_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    store = HubStore(db)
    bad = Annotation("a9", "M1", (0, 0, 0), "x", "ana", "#ffcc00", "", NOW, NOW, 1)
    with pytest.raises(sqlite3.Error):
        store.commit(
            [
                ("plant", change("create", None, ann("a1", "x"))),
                ("plant", Change("bogus", "ana", roles.Role.EXPERT, 1, None, None, bad, NOW)),
            ]
        )
    assert store.load("plant") == []
    store.commit([("plant", change("create", None, ann("a1", "x")))])
    store.close()
    assert audit.verify(db).ok


def test_the_audit_table_refuses_updates_and_deletes(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    fill(db)
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE seq = 5")
    conn.close()


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE audit SET actor = 'mallory' WHERE seq = 2", "row 2: its hash"),
        ("DELETE FROM audit WHERE seq = 3", "row 4: expected sequence number 3"),
        ("UPDATE annotations SET state = replace(state, 'one!', 'evil')", "stored state differs"),
        ("DELETE FROM audit WHERE seq = 5", "annotation a2 in room other"),
    ],
)
def test_tampering_is_detected(tmp_path: Path, tamper: str, problem: str) -> None:
    db = tmp_path / "hub.sqlite"
    fill(db)
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_no_update")  # someone with write access to the file
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute(tamper)
    conn.commit()
    conn.close()
    verdict = audit.verify(db)
    assert not verdict.ok
    assert any(problem in p for p in verdict.problems), verdict.problems


def test_not_a_hub_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StoreError):
        HubStore(junk)
    assert not audit.verify(junk).ok
    assert not audit.verify(tmp_path / "missing.sqlite").ok


# -- the commands ----------------------------------------------------------------------------


def test_token_and_audit_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "hub.secret"
    tokens.create_secret(secret)
    code = hub_main(
        [
            "token",
            "--room",
            "plant",
            "--name",
            "ana",
            "--role",
            "operator",
            "--ttl",
            "15m",
            "--secret-file",
            str(secret),
        ]
    )
    tok = capsys.readouterr().out.strip()
    assert code == 0
    claims = tokens.verify(tokens.load_secret(secret), tok)
    assert claims.role is roles.Role.OPERATOR and claims.room == "plant"
    assert (
        hub_main(
            [
                "token",
                "--room",
                "plant",
                "--name",
                "a",
                "--role",
                "expert",
                "--secret-file",
                str(tmp_path / "none"),
            ]
        )
        == 1
    )
    assert "no secret file" in capsys.readouterr().err

    db = tmp_path / "hub.sqlite"
    fill(db)
    assert hub_main(["audit", "verify", "--db", str(db)]) == 0
    assert "audit log OK: 5 changes" in capsys.readouterr().out
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET at = at + 1 WHERE seq = 1")
    conn.commit()
    conn.close()
    assert hub_main(["audit", "verify", "--db", str(db)]) == 1
    assert "row 1: its hash does not match" in capsys.readouterr().err


def test_hub_command_refuses_plaintext_off_loopback_and_half_tls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "hub.secret"
    base = ["hub", "--db", str(tmp_path / "hub.sqlite"), "--secret-file", str(secret)]
    assert hub_main([*base, "--host", "0.0.0.0"]) == 1
    assert "without TLS" in capsys.readouterr().err
    assert secret.exists()  # created on first start, owner-only
    assert os.stat(secret).st_mode & 0o777 == 0o600
    assert hub_main([*base, "--tls-cert", "c.pem"]) == 1
    assert "both --tls-cert and --tls-key" in capsys.readouterr().err
    assert hub_main([*base, "--allow-origin", "https://a.example/"]) == 1
    assert "an origin looks like" in capsys.readouterr().err
