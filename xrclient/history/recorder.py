"""Append a twin stream to a recording file (see :mod:`xrclient.history.format`).

Each batch becomes a DELTA record, written and flushed at once; a KEYFRAME (the full state)
follows the first snapshot and then every ``keyframe_s`` seconds of stream time, so a
reader seeks by loading one keyframe and the deltas after it. Nothing already written is
ever rewritten: a recorder killed at any point leaves a file that replays up to its last
complete record.
"""

from __future__ import annotations

import os
from pathlib import Path

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import UpdateBatch
from xrclient.history.format import (
    DELTA,
    FILE_HEADER,
    KEYFRAME,
    SCHEMA,
    frame,
    pack_batch,
    pack_schema,
)
from xrclient.history.state import StreamState


class Recorder:
    """Writes batches to ``path`` (a new file, or appends to an existing recording)."""

    def __init__(self, path: str | Path, *, keyframe_s: float = 10.0, fsync_s: float = 5.0) -> None:
        if not keyframe_s > 0:
            raise ValueError("keyframe interval must be > 0")
        self.path = Path(path)
        self.keyframe_s = keyframe_s
        self.fsync_s = fsync_s
        self.records = 0
        self.updates = 0
        self._file = open(self.path, "xb")
        self._file.write(FILE_HEADER)
        self._file.flush()
        self.bytes = len(FILE_HEADER)
        self._state: StreamState | None = None
        self._last_key = float("-inf")
        self._last_sync = float("-inf")
        self._time = float("-inf")

    @property
    def schema(self) -> StreamSchema | None:
        return None if self._state is None else self._state.schema

    def write(self, batch: UpdateBatch) -> None:
        """Append one batch (a schema change needs a snapshot, as on the wire)."""
        state = self._state
        if state is None or (batch.schema is not state.schema and batch.schema != state.schema):
            if not batch.snapshot:
                raise ValueError("a recording starts (or changes schema) with a snapshot")
            self._append(SCHEMA, max(batch.sent, self._time), pack_schema(batch.schema))
            state = self._state = StreamState(batch.schema)
            self._last_key = float("-inf")
        state.apply(batch)
        # record times never go back (a reconnect may reach a server with another clock)
        t = self._time = max(batch.sent, self._time)
        self._append(DELTA, t, pack_batch(batch))
        self.updates += len(batch)
        if t - self._last_key >= self.keyframe_s:
            self._append(KEYFRAME, t, pack_batch(state.keyframe()))
            self._last_key = t
        if t - self._last_sync >= self.fsync_s:
            os.fsync(self._file.fileno())
            self._last_sync = t

    def _append(self, kind: int, time: float, payload: bytes) -> None:
        data = frame(kind, time, payload)
        self._file.write(data)
        self._file.flush()  # one record at a time reaches the OS: a kill loses no more
        self.records += 1
        self.bytes += len(data)

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
