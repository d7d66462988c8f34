"""The chained audit log of annotation changes, keyed, and its verification.

Every annotation change appends one row to ``audit`` in the same transaction as the
change itself. A row's ``hash`` is HMAC-SHA256, with the audit key, over the previous
row's hash and the row's canonical JSON (sorted keys, no spaces), so editing, deleting or
reordering any row breaks the chain from there on, and without the key nobody can write
a chain that verifies. The key is never in the database: it is derived from the hub's
secret file (or from its own ``--audit-key-file``), and ``verify`` needs it.

A database written before the chain was keyed keeps its rows, chained with plain SHA-256
(``GENESIS`` onwards); the first hub that opens it with a key writes a marker to ``meta``
(``audit_keyed``): the last unkeyed row's number and hash, with their HMAC. Rows after it
are keyed; the rows up to it are anchored by the marker (the HMAC covers the head hash at
that point), so rewriting them is detected too. Triggers refuse ``UPDATE`` and ``DELETE``
on the table; the chain catches edits made around SQLite (another tool, the file itself).
``verify`` also replays the log and checks that it yields exactly the annotations stored,
that every stored annotation row is a valid annotation, and reports the head hash: keep it
somewhere else to detect the log being cut short together with the annotations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xrclient.core import session_codec as codec
from xrclient.core.session_room import Annotation

GENESIS = "0" * 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    room TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    annotation TEXT NOT NULL,
    state TEXT,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: what the audit key is derived from the hub's secret (or the audit key file) with
KEY_INFO = b"xrclient-hub audit chain v1"
MARKER = "audit_keyed"


def derive_key(secret: bytes) -> bytes:
    """The audit key from a secret (the hub's token secret or a separate audit key file):
    a key of its own, so the chain's MAC is never a token signature."""
    return hmac.new(secret, KEY_INFO, hashlib.sha256).digest()


def chain_hash(prev: str, record: dict[str, Any], key: bytes | None = None) -> str:
    """A row's hash: HMAC-SHA256 with ``key``; plain SHA-256 for rows written unkeyed."""
    data = f"{prev}\n{canonical(record)}".encode()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def marker(key: bytes, seq: int, head: str) -> str:
    """The ``meta`` value that says rows after ``seq`` are keyed (and anchors those up to
    it: ``head`` is the hash of row ``seq``)."""
    mac = hmac.new(key, f"keyed after {seq} {head}".encode(), hashlib.sha256).hexdigest()
    return f"{seq}:{head}:{mac}"


def read_marker(value: str, key: bytes) -> tuple[int, str] | None:
    """``(seq, head)`` of a genuine marker for ``key``; ``None`` if altered or another key."""
    try:
        seq_text, head, _ = value.split(":")
        seq = int(seq_text)
    except ValueError:
        return None
    return (seq, head) if hmac.compare_digest(marker(key, seq, head), value) else None


def record_of(
    seq: int,
    at: float,
    room: str,
    actor: str,
    role: str,
    action: str,
    annotation: str,
    state: str | None,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "room": room,
        "actor": actor,
        "role": role,
        "action": action,
        "annotation": annotation,
        "state": state,
    }


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    head: str
    problems: tuple[str, ...]
    #: rows written before the chain was keyed (checked with plain SHA-256 and anchored
    #: by the marker), ``None`` when the log holds no marker (an unkeyed log)
    unkeyed_rows: int | None = None
    #: stored annotation rows that are not valid annotations (room, id)
    bad_rows: tuple[tuple[str, str], ...] = ()


MAX_PROBLEMS = 20


def verify(path: Path, key: bytes | None = None) -> Verdict:
    """Check the chain of the hub database at ``path`` (opened read-only) with the audit
    ``key`` (``derive_key`` of the secret); without one only an unkeyed log verifies."""
    if not path.is_file():
        return Verdict(False, 0, GENESIS, (f"no database at {path}",))
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return _verify(conn, key)
    except sqlite3.DatabaseError as exc:
        return Verdict(False, 0, GENESIS, (f"not a hub database: {exc}",))
    finally:
        conn.close()


def _boundary(
    conn: sqlite3.Connection, key: bytes | None, problems: list[str]
) -> tuple[int | None, str | None]:
    """Up to which row the log is unkeyed (``None``: no marker) and that row's hash."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    row = (
        conn.execute("SELECT value FROM meta WHERE key = ?", (MARKER,)).fetchone()
        if has_meta
        else None
    )
    if row is None:
        if key is not None and conn.execute("SELECT 1 FROM audit LIMIT 1").fetchone():
            problems.append(
                "the log has no key marker: either no keyed hub ever wrote to it, or the "
                "marker was removed (then any row may have been rewritten)"
            )
        return None, None
    if key is None:
        problems.append(
            "the log is keyed: give the hub's secret file (or its audit key file) to verify it"
        )
        return None, None
    got = read_marker(str(row[0]), key)
    if got is None:
        problems.append("the key marker does not match the key (another key, or it was altered)")
        return None, None
    return got


def _verify(conn: sqlite3.Connection, key: bytes | None) -> Verdict:
    problems: list[str] = []
    boundary, anchor = _boundary(conn, key, problems)
    if problems:
        return Verdict(False, 0, GENESIS, tuple(problems))
    prev = GENESIS
    expected_seq = 1
    replay: dict[tuple[str, str], str] = {}
    rows = 0
    cur = conn.execute(
        "SELECT seq, at, room, actor, role, action, annotation, state, prev, hash "
        "FROM audit ORDER BY seq"
    )
    for seq, at, room, actor, role, action, annotation, state, row_prev, row_hash in cur:
        rows += 1
        if seq != expected_seq:
            problems.append(f"row {seq}: expected sequence number {expected_seq}")
        expected_seq = seq + 1
        if row_prev != prev:
            problems.append(f"row {seq}: does not follow the previous row's hash")
        keyed = boundary is not None and seq > boundary
        try:
            record = record_of(seq, at, room, actor, role, action, annotation, state)
            digest = chain_hash(row_prev, record, key if keyed else None)
        except (TypeError, ValueError):
            digest = ""
        if digest != row_hash:
            problems.append(f"row {seq}: its hash does not match its content")
        if boundary is not None and seq == boundary and row_hash != anchor:
            problems.append(f"row {seq}: the rows up to it are not those the key marker anchors")
        prev = row_hash
        if action == "delete":
            replay.pop((room, annotation), None)
        elif state is not None:
            replay[(room, annotation)] = state
        if len(problems) > MAX_PROBLEMS:
            problems.append(f"... (stopped after {MAX_PROBLEMS} problems)")
            break
    if boundary is not None and rows < boundary:
        problems.append(f"the log ends at row {rows}, before the key marker's row {boundary}")
    stored: dict[tuple[str, str], str] = {}
    bad: list[tuple[str, str]] = []
    for room, aid, state in conn.execute("SELECT room, id, state FROM annotations"):
        stored[(room, aid)] = state
        try:
            Annotation.from_wire(json.loads(state))
        except (ValueError, TypeError, codec.SessionError) as exc:
            bad.append((str(room), str(aid)))
            if len(problems) <= MAX_PROBLEMS:
                problems.append(
                    f"annotation {aid!r} in room {room!r}: the stored row is not a valid "
                    f"annotation ({str(exc)[:80]}); the hub skips it"
                )
    if not problems or bad:
        for k in sorted(set(stored) | set(replay)):
            if stored.get(k) != replay.get(k):
                problems.append(
                    f"annotation {k[1]} in room {k[0]}: stored state differs from the log"
                )
                if len(problems) > MAX_PROBLEMS:
                    break
    unkeyed = None if boundary is None else boundary
    return Verdict(not problems, rows, prev, tuple(problems), unkeyed, tuple(bad))
