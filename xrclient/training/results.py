"""Training results in SQLite: one row per run, per room and trainee.

The hub keeps this table in its database (``HubStore``) and writes a result in one
transaction before acknowledging it; ``xrclient training results`` reads it back.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from xrclient.core.run_result import RunResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS training_results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    trainee TEXT NOT NULL,
    procedure TEXT NOT NULL,
    run_id TEXT NOT NULL,
    finished REAL NOT NULL,
    score REAL NOT NULL,
    passed INTEGER NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (room, run_id)
);
CREATE INDEX IF NOT EXISTS training_results_trainee ON training_results (trainee, seq);
"""

MAX_RECORD_BYTES = 256 * 1024


class ResultsError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class StoredResult:
    seq: int
    room: str
    result: RunResult


def insert(conn: sqlite3.Connection, room: str, result: RunResult) -> int:
    """Add (or, for the same room and run id, replace) a result; the caller commits."""
    record = json.dumps(result.to_dict(), separators=(",", ":"), allow_nan=False)
    if len(record) > MAX_RECORD_BYTES:
        raise ResultsError(f"result is {len(record)} bytes, over {MAX_RECORD_BYTES}")
    conn.execute(
        "INSERT INTO training_results (room, trainee, procedure, run_id, finished, score,"
        " passed, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (room, run_id) DO UPDATE SET trainee = excluded.trainee,"
        " procedure = excluded.procedure, finished = excluded.finished,"
        " score = excluded.score, passed = excluded.passed, record = excluded.record",
        (
            room,
            result.trainee,
            result.procedure_id,
            result.run_id,
            result.finished,
            result.score,
            int(result.passed),
            record,
        ),
    )
    row = conn.execute(
        "SELECT seq FROM training_results WHERE room = ? AND run_id = ?", (room, result.run_id)
    ).fetchone()
    return int(row[0])


def query(
    conn: sqlite3.Connection,
    *,
    room: str | None = None,
    trainee: str | None = None,
    limit: int = 10_000,
) -> list[StoredResult]:
    """Results, oldest first, optionally of one room and/or trainee."""
    sql = "SELECT seq, room, record FROM training_results WHERE 1"
    args: list[object] = []
    if room is not None:
        sql += " AND room = ?"
        args.append(room)
    if trainee is not None:
        sql += " AND trainee = ?"
        args.append(trainee)
    sql += " ORDER BY seq LIMIT ?"
    args.append(limit)
    out = []
    for seq, r, record in conn.execute(sql, args).fetchall():
        try:
            result = RunResult.from_dict(json.loads(record))
        except (ValueError, TypeError) as exc:
            raise ResultsError(f"result {seq} is corrupt: {exc}") from None
        out.append(StoredResult(int(seq), str(r), result))
    return out


def read_results(
    path: Path, *, room: str | None = None, trainee: str | None = None
) -> list[StoredResult]:
    """Read results from a hub database file without writing to it."""
    if not path.is_file():
        raise ResultsError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ResultsError(f"{path}: {exc}") from None
    try:
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'training_results'"
        ).fetchone()
        if has is None:
            return []
        return query(conn, room=room, trainee=trainee)
    except sqlite3.DatabaseError as exc:
        raise ResultsError(f"{path}: {exc}") from None
    finally:
        conn.close()
