"""The hub's SQLite store: annotations per room and their audit log, in one file.

WAL journal with ``synchronous=FULL``: a commit returns only once it is on disk, and the
hub acknowledges a change only after its commit returned, so a crash or restart loses
nothing acknowledged. ``commit`` writes a batch of changes and their audit rows in one
transaction (group commit): many participants annotating at once cost one disk flush per
batch, not one per change. One ``HubStore`` is used from one thread at a time (the hub
runs it on a single worker thread).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from xrclient.core import session_codec as codec
from xrclient.core.run_result import RunResult
from xrclient.core.session_room import Annotation, Change
from xrclient.hub import audit
from xrclient.training import results as training_results

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS annotations (
    room TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('format', 'xrclient-hub/1');
"""
    + audit.SCHEMA
    + training_results.SCHEMA
)


log = logging.getLogger("xrclient.hub")


class StoreError(RuntimeError):
    pass


class HubStore:
    """The store at ``path``; ``audit_key`` keys the audit chain (``audit.derive_key``):
    without one (tests of the unkeyed format) rows are chained with plain SHA-256."""

    def __init__(self, path: Path, audit_key: bytes | None = None) -> None:
        self.path = path
        self._key = audit_key
        #: (room, id) of stored annotation rows found invalid by ``load`` (skipped)
        self.bad_rows: set[tuple[str, str]] = set()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{path}: cannot use write-ahead logging ({mode})")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(SCHEMA)
            fmt = self._conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if fmt is None or fmt[0] != "xrclient-hub/1":
                raise StoreError(f"{path} is not an xrclient hub database")
            row = self._conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            last = row.fetchone()
            if audit_key is not None:
                self._mark(audit_key, last)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"{path}: {exc}") from None
        except StoreError:
            self._conn.close()
            raise
        self._seq: int = last[0] if last else 0
        self._head: str = last[1] if last else audit.GENESIS
        self.commits = 0

    def _mark(self, key: bytes, last: tuple[int, str] | None) -> int:
        """The row after which the chain is keyed: from the marker, written now (at the
        current head) when the database has none (a new one, or one written unkeyed)."""
        got = self._conn.execute("SELECT value FROM meta WHERE key = ?", (audit.MARKER,))
        row = got.fetchone()
        if row is None:
            seq, head = (last[0], last[1]) if last else (0, audit.GENESIS)
            self._conn.execute(
                "INSERT INTO meta VALUES (?, ?)", (audit.MARKER, audit.marker(key, seq, head))
            )
            return seq
        found = audit.read_marker(str(row[0]), key)
        if found is None:
            raise StoreError(
                f"{self.path}: its audit log was keyed with another key (a different secret "
                "or audit key file), or its key marker was altered; see 'xrclient audit verify'"
            )
        return found[0]

    def close(self) -> None:
        self._conn.close()

    def load(self, room: str) -> list[Annotation]:
        """The room's annotations; a stored row that is not a valid annotation is logged,
        remembered in ``bad_rows`` and skipped (it never takes the room down)."""
        rows = self._conn.execute(
            "SELECT id, state FROM annotations WHERE room = ? ORDER BY id", (room,)
        ).fetchall()
        out: list[Annotation] = []
        for aid, state in rows:
            try:
                out.append(Annotation.from_wire(json.loads(state)))
            except (ValueError, TypeError, codec.SessionError) as exc:
                if (room, str(aid)) not in self.bad_rows:
                    self.bad_rows.add((room, str(aid)))
                    log.error(
                        "room %r: stored annotation %r is not valid (%s); skipped "
                        "(run 'xrclient audit verify')",
                        room,
                        aid,
                        str(exc)[:80],
                    )
        return out

    def commit(self, changes: Sequence[tuple[str, Change]]) -> None:
        """Write ``(room, change)`` pairs in order, with their audit rows, in one
        transaction; on any error nothing is written and the error is raised."""
        conn = self._conn
        seq, head = self._seq, self._head
        try:
            conn.execute("BEGIN IMMEDIATE")
            for room, ch in changes:
                aid = ch.annotation_id
                state = None if ch.after is None else audit.canonical(ch.after.to_wire())
                if state is None:
                    conn.execute("DELETE FROM annotations WHERE room = ? AND id = ?", (room, aid))
                else:
                    conn.execute(
                        "INSERT INTO annotations (room, id, state) VALUES (?, ?, ?) "
                        "ON CONFLICT (room, id) DO UPDATE SET state = excluded.state",
                        (room, aid, state),
                    )
                seq += 1
                record = audit.record_of(
                    seq, ch.at, room, ch.actor, ch.role.value, ch.action, aid, state
                )
                digest = audit.chain_hash(head, record, self._key)
                conn.execute(
                    "INSERT INTO audit (seq, at, room, actor, role, action, annotation, state,"
                    " prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        seq,
                        ch.at,
                        room,
                        ch.actor,
                        ch.role.value,
                        ch.action,
                        aid,
                        state,
                        head,
                        digest,
                    ),
                )
                head = digest
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._seq, self._head = seq, head
        self.commits += 1

    # -- training results ------------------------------------------------------------------

    def add_result(self, room: str, result: RunResult) -> int:
        """Store a training result in its own transaction; its sequence number once on disk."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            seq = training_results.insert(conn, room, result)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return seq

    def results(
        self, room: str | None = None, trainee: str | None = None, limit: int = 10_000
    ) -> list[training_results.StoredResult]:
        """Stored results, oldest first (the newest ``limit``)."""
        rows = training_results.query(self._conn, room=room, trainee=trainee)
        return rows[-limit:]
