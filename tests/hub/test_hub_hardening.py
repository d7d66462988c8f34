"""Defects an attacker with one valid token (or one web page) could use, each reproduced
against a real hub on loopback with real WebSocket clients: a room made unjoinable by its
annotations, odd handshake headers, a keyed audit chain, a corrupt stored row, and a
participant too far behind on reliable frames."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from xrclient.commands.hub import main as hub_main
from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.core.session_room import Annotation, Change
from xrclient.hub import audit, tokens
from xrclient.hub.store import HubStore, StoreError

from .helpers import (
    AUDIT_KEY,
    SECRET,
    client,
    raw,
    recv_until,
    running_hub,
    send,
    token,
    wait_until,
)

NOW = 1_800_000_000.0


def _ann(aid: str, text: str, author: str = "ana", rev: int = 1) -> Annotation:
    return Annotation(aid, "M1", (0.0, 1.0, 0.0), text, author, "#ffcc00", "open", NOW, NOW, rev)


def _create(ann: Annotation) -> Change:
    return Change("create", ann.author, roles.Role.EXPERT, 1, None, None, ann, NOW)


def _fill(db: Path, n: int, text_chars: int, key: bytes | None = AUDIT_KEY) -> list[str]:
    store = HubStore(db, key)
    ids = [f"a{k:05d}" for k in range(n)]
    batch = [("plant", _create(_ann(aid, "x" * text_chars))) for aid in ids]
    for k in range(0, n, 500):
        store.commit(batch[k : k + 500])
    store.close()
    return ids


# -- 1. a welcome bounded however large the room's history ---------------------------------


def test_a_large_room_stays_joinable_welcome_bounded_annotations_paged(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    ids = _fill(db, 2000, 1500)  # about 3 MB of annotations: once all in the welcome
    with running_hub(db, page_bytes=32 * 1024) as hub:
        with raw(hub, token(name="joiner", role="observer"), max_size=2**20) as ws:
            first = ws.recv(5)
            assert isinstance(first, bytes) and len(first) < 16 * 1024  # the welcome
            welcome = codec.decode(first)
            assert welcome["t"] == "welcome" and welcome["annotations"] == []
            assert welcome["annotation_count"] == 2000
            got: list[str] = []
            while True:
                frame = ws.recv(5)
                assert isinstance(frame, bytes)
                doc = codec.decode(frame)
                assert doc["t"] == "ann_page"
                assert len(frame) < 32 * 1024 + 4096  # a page and one annotation at most
                got += [a["id"] for a in doc["anns"]]
                if doc["last"]:
                    break
            assert sorted(got) == ids
        viewer = client(hub, token(name="viewer", role="observer"))
        viewer.start()
        try:
            wait_until(lambda: viewer.room().annotations_loaded, 20, "all pages")
            assert sorted(viewer.room().annotations) == ids
        finally:
            viewer.stop()


def test_changes_during_the_pages_come_after_them(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    ids = _fill(db, 300, 1000)
    with running_hub(db, page_bytes=4096) as hub:
        with raw(hub, token(name="ed")) as editor:
            recv_until(editor, "ann_page")
            watcher = client(hub, token(name="watcher", role="observer"))
            watcher.start()
            try:
                send(editor, {"t": "ann_delete", "id": 1, "ann": ids[-1]})
                send(editor, {"t": "ann_update", "id": 2, "ann": ids[0], "text": "edited"})
                assert recv_until(editor, "ack")["id"] == 1
                wait_until(lambda: watcher.room().annotations_loaded, 20, "all pages")

                def settled() -> bool:
                    anns = watcher.room().annotations
                    return ids[-1] not in anns and anns[ids[0]].text == "edited"

                wait_until(settled, 10, "the changes after the pages")
                assert len(watcher.room().annotations) == 299
            finally:
                watcher.stop()


# -- 6. duplicated and odd handshake headers: 400, never 500 --------------------------------


def _http(port: int, head: str) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return int(status_line.split()[1]), data.decode("latin-1", "replace")


def _upgrade(path: str = "/plant", extra: str = "", auth: bool = True) -> str:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {codec.SUBPROTOCOL}",
    ]
    if auth:
        lines.append(f"Authorization: Bearer {token()}")
    return "\r\n".join(lines) + "\r\n" + extra + "\r\n"


@pytest.mark.parametrize(
    "request_text",
    [
        _upgrade(extra="Origin: https://a.example\r\nOrigin: https://a.example\r\n"),
        _upgrade(extra="Origin: https://a.example\r\nOrigin: https://b.example\r\n"),
        _upgrade(extra=f"Authorization: Bearer {token()}\r\n"),
        _upgrade(extra="Host: other.example\r\n"),
        _upgrade(extra="Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
        _upgrade(extra="Sec-WebSocket-Version: 13\r\n"),
        _upgrade(extra="Origin: \r\n"),
        _upgrade(path="/plant?a=1&b=2&c=3&d=4&e=5&f=6"),
        _upgrade(path="/plant?device=desktop&device=headset"),
    ],
    ids=[
        "origin-twice",
        "two-origins",
        "authorization-twice",
        "host-twice",
        "key-twice",
        "version-twice",
        "empty-origin",
        "many-query-fields",
        "device-twice",
    ],
)
def test_odd_headers_are_a_bad_request_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, request_text: str
) -> None:
    caplog.set_level(logging.INFO)
    origin = "https://a.example"
    with running_hub(tmp_path / "hub.sqlite", origins=(origin,)) as hub:
        status, _ = _http(hub.port, request_text)
        assert status == 400
        status, _ = _http(hub.port, _upgrade(extra=f"Origin: {origin}\r\n"))
        assert status == 101  # the same request, each header once, is fine
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- 7. a keyed audit chain ---------------------------------------------------------------


def _rechain(db: Path, key: bytes | None) -> None:
    """What someone with write access to the file does: edit an annotation and its audit
    row, then recompute every hash after it (unkeyed, or with a key of their own)."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_no_update")
    state = json.loads(
        conn.execute("SELECT state FROM annotations WHERE id = 'a00001'").fetchone()[0]
    )
    state["text"] = "nothing to see here"
    forged = audit.canonical(state)
    conn.execute("UPDATE annotations SET state = ? WHERE id = 'a00001'", (forged,))
    conn.execute("UPDATE audit SET state = ? WHERE annotation = 'a00001'", (forged,))
    prev = audit.GENESIS
    rows = conn.execute(
        "SELECT seq, at, room, actor, role, action, annotation, state FROM audit ORDER BY seq"
    ).fetchall()
    for row in rows:
        digest = audit.chain_hash(prev, audit.record_of(*row), key)
        conn.execute("UPDATE audit SET prev = ?, hash = ? WHERE seq = ?", (prev, digest, row[0]))
        prev = digest
    conn.commit()
    conn.close()


@pytest.mark.parametrize("forger_key", [None, audit.derive_key(b"m" * 32)], ids=["sha", "hmac"])
def test_a_recomputed_chain_is_detected_with_the_key(
    tmp_path: Path, forger_key: bytes | None
) -> None:
    db = tmp_path / "hub.sqlite"
    _fill(db, 5, 10)
    assert audit.verify(db, AUDIT_KEY).ok
    _rechain(db, forger_key)
    verdict = audit.verify(db, AUDIT_KEY)
    assert not verdict.ok
    assert any("row 1: its hash does not match" in p for p in verdict.problems), verdict.problems
    assert not audit.verify(db).ok  # without the key a keyed log never passes
    assert "give the hub's secret file" in audit.verify(db).problems[0]


def test_an_unkeyed_database_stays_verifiable_and_is_anchored(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    _fill(db, 3, 10, key=None)  # written before the chain was keyed
    assert audit.verify(db).ok
    store = HubStore(db, AUDIT_KEY)  # the first keyed hub marks where the key starts
    store.commit([("plant", _create(_ann("b1", "keyed")))])
    store.close()
    verdict = audit.verify(db, AUDIT_KEY)
    assert verdict.ok and verdict.rows == 4 and verdict.unkeyed_rows == 3, verdict.problems
    # rewriting the unkeyed part (recomputed with plain SHA-256) breaks the anchor
    _rechain(db, None)
    verdict = audit.verify(db, AUDIT_KEY)
    assert not verdict.ok
    assert any("not those the key marker anchors" in p for p in verdict.problems), verdict.problems


def test_marker_removed_or_wrong_key(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    _fill(db, 3, 10)
    other = audit.derive_key(b"o" * 32)
    assert "does not match the key" in audit.verify(db, other).problems[0]
    with pytest.raises(StoreError, match="another key"):
        HubStore(db, other)  # a hub started with another secret refuses to chain on
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM meta WHERE key = ?", (audit.MARKER,))
    conn.commit()
    conn.close()
    verdict = audit.verify(db, AUDIT_KEY)
    assert not verdict.ok and "no key marker" in verdict.problems[0]


def test_audit_verify_command_reads_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, secret = tmp_path / "hub.sqlite", tmp_path / "hub.secret"
    secret.write_text(SECRET.hex())
    secret.chmod(0o600)
    _fill(db, 4, 10)
    assert hub_main(["audit", "verify", "--db", str(db), "--secret-file", str(secret)]) == 0
    assert "audit log OK: 4 changes" in capsys.readouterr().out
    keyfile = tmp_path / "audit.key"
    tokens.create_secret(keyfile)
    code = hub_main(["audit", "verify", "--db", str(db), "--audit-key-file", str(keyfile)])
    assert code == 1
    assert "does not match the key" in capsys.readouterr().err
    missing = str(tmp_path / "none")
    assert hub_main(["audit", "verify", "--db", str(db), "--secret-file", missing]) == 1
    assert "give the hub's secret file" in capsys.readouterr().err


# -- 9. a corrupt stored annotation row ----------------------------------------------------


def test_a_corrupt_row_is_reported_and_skipped_never_kills_the_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "hub.sqlite"
    ids = _fill(db, 4, 10)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE annotations SET state = '{\"id\": 7' WHERE id = ?", (ids[1],))
    conn.execute(
        "UPDATE annotations SET state = ? WHERE id = ?",
        (json.dumps({**_ann(ids[2], "x").to_wire(), "color": "red"}), ids[2]),
    )
    conn.commit()
    conn.close()
    caplog.set_level(logging.INFO)
    with running_hub(db) as hub:
        for _ in range(2):  # every join, not just the first
            with raw(hub, token()) as ws:
                recv_until(ws, "welcome")
                page = recv_until(ws, "ann_page")
                assert sorted(a["id"] for a in page["anns"]) == [ids[0], ids[3]]
                send(ws, {"t": "chat", "id": 1, "text": "still here"})
                assert recv_until(ws, "ack")["id"] == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "xrclient.hub"]
    assert any(repr(ids[1]) in m and "skipped" in m for m in logged), logged
    assert sum(repr(ids[2]) in m for m in logged) == 1  # named once, not at every join
    assert not [r for r in caplog.records if r.exc_info]
    verdict = audit.verify(db, AUDIT_KEY)
    assert not verdict.ok and set(verdict.bad_rows) == {("plant", ids[1]), ("plant", ids[2])}
    assert any(repr(ids[1]) in p and "not a valid annotation" in p for p in verdict.problems)


# -- a participant too far behind on reliable frames: 1008, not the ping timeout ------------


def test_a_participant_too_far_behind_is_cut_without_waiting_for_pings(tmp_path: Path) -> None:
    with running_hub(
        tmp_path / "hub.sqlite",
        rate=1e5,
        burst=100_000,
        room_fanout=1e6,
        room_fanout_burst=1_000_000,
        max_backlog=64,
        ping_interval=600.0,
        ping_timeout=600.0,
        cut_timeout=0.5,
    ) as hub:
        with (
            raw(hub, token(name="slow", role="observer"), max_queue=1),  # it stops reading
            raw(hub, token(name="loud"), max_queue=None) as loud,
        ):
            recv_until(loud, "ann_page")
            text = "€" * 500  # 1.5 kB a chat
            skipped: list[dict[str, Any]] = []  # a "left" may come while loud waits for an ack
            for k in range(1, 12_000):
                if k % 16:
                    send(loud, {"t": "chat", "text": text})
                    continue
                send(loud, {"t": "chat", "id": k, "text": text})  # loud keeps up: it waits
                while recv_until(loud, "ack", skipped=skipped)["id"] != k:
                    pass
                if hub.call(lambda: hub.hub.stats.cut_behind):  # type: ignore[union-attr]  # the hub is running inside this block
                    break
            wait_until(
                lambda: hub.call(lambda: hub.hub.stats.cut_behind) == 1,  # type: ignore[union-attr]  # the hub is running inside this block
                10,
                "the slow participant cut",
            )
            left = next((d for d in skipped if d["t"] == "left"), None)
            if left is None:
                left = recv_until(loud, "left", timeout=10)
            assert left["reason"] == "lost"
            assert hub.call(lambda: len(hub.hub.rooms["plant"].conns)) == 1  # type: ignore[union-attr]  # the hub is running inside this block


# -- the hub command takes the budgets --------------------------------------------------------


def test_hub_command_checks_the_budget_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "hub.secret"
    base = ["hub", "--db", str(tmp_path / "hub.sqlite"), "--secret-file", str(secret)]
    assert hub_main([*base, "--max-per-name", "0"]) == 1
    assert "per-name limit must be at least 1" in capsys.readouterr().err
    assert hub_main([*base, "--room-fanout", "0"]) == 1
    assert "room fan-out positive" in capsys.readouterr().err
    assert hub_main([*base, "--handshake-burst", "0"]) == 1
    assert "the burst 1..1e6" in capsys.readouterr().err
    assert hub_main([*base, "--audit-key-file", str(tmp_path / "none")]) == 1
    assert "no secret file" in capsys.readouterr().err
