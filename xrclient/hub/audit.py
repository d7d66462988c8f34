"""The hash-chained audit log of annotation changes, and its verification.

Every annotation change appends one row to ``audit`` in the same transaction as the
change itself. A row's ``hash`` is SHA-256 over the previous row's hash and the row's
canonical JSON (sorted keys, no spaces), so editing, deleting or reordering any row breaks
the chain from there on. Triggers refuse ``UPDATE`` and ``DELETE`` on the table; the hash
chain catches edits made around SQLite (another tool, the file itself). ``verify`` also
replays the log and checks that it yields exactly the annotations stored, and reports the
head hash: keep it somewhere else to detect the log being cut short together with the
annotations.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def chain_hash(prev: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev}\n{canonical(record)}".encode()).hexdigest()


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


def verify(path: Path) -> Verdict:
    """Check the chain of the hub database at ``path`` (opened read-only)."""
    if not path.is_file():
        return Verdict(False, 0, GENESIS, (f"no database at {path}",))
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return _verify(conn)
    except sqlite3.DatabaseError as exc:
        return Verdict(False, 0, GENESIS, (f"not a hub database: {exc}",))
    finally:
        conn.close()


def _verify(conn: sqlite3.Connection) -> Verdict:
    problems: list[str] = []
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
        record = record_of(seq, at, room, actor, role, action, annotation, state)
        if chain_hash(row_prev, record) != row_hash:
            problems.append(f"row {seq}: its hash does not match its content")
        prev = row_hash
        if action == "delete":
            replay.pop((room, annotation), None)
        elif state is not None:
            replay[(room, annotation)] = state
        if len(problems) > 20:
            problems.append("... (stopped after 20 problems)")
            break
    stored: dict[tuple[str, str], str] = {}
    for room, aid, state in conn.execute("SELECT room, id, state FROM annotations"):
        stored[(room, aid)] = state
    if not problems:
        for key in sorted(set(stored) | set(replay)):
            if stored.get(key) != replay.get(key):
                problems.append(
                    f"annotation {key[1]} in room {key[0]}: stored state differs from the log"
                )
                if len(problems) > 20:
                    break
    return Verdict(not problems, rows, prev, tuple(problems))
