"""A recording served as a live twin stream: a ``TwinSource`` for ``TwinServer``.

The source plays the recording's first schema segment at ``speed`` times real time from the
first ``step``. Source times are shifted onto the serving clock (a value recorded ``d``
seconds before the current replay position is stamped ``d / speed`` seconds before now), so
clients see a live, fresh stream; values are exactly the recorded ones. At the end it holds
the last state (or starts over with ``loop``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from xrclient.errors import XRClientError
from xrclient.history.format import SCHEMA, RecordingError
from xrclient.history.reader import Reader
from xrclient.history.state import StreamState
from xrclient.server.sim_service import serve_until_signal
from xrclient.server.twin_server import ServerConfig, TwinServer

MIN_SPEED, MAX_SPEED = 0.01, 1000.0


class ReplayError(Exception):
    """A control message a replay refuses (``code`` is a protocol error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class ReplaySource:
    def __init__(self, path: str | Path, *, speed: float = 1.0, loop: bool = False) -> None:
        if not (math.isfinite(speed) and MIN_SPEED <= speed <= MAX_SPEED):
            raise ValueError(f"speed must be {MIN_SPEED:g} to {MAX_SPEED:g}, got {speed!r}")
        self.speed = speed
        self.loop = loop
        self.reader = Reader(path)
        first = next(i for i, e in enumerate(self.reader.entries) if e.kind != SCHEMA)
        self.schema = self.reader.schema_of(self.reader.entries[first])
        # one schema segment: stop before the next schema record
        self._stop = next(
            (i for i, e in enumerate(self.reader.entries) if e.kind == SCHEMA and i > 0),
            len(self.reader.entries),
        )
        self.start = self.reader.entries[first].time
        self.end = self.reader.entries[self._stop - 1].time
        self._rewind()
        self.values = self._state.value.copy()
        self.source_time = self._state.time.copy()
        self._wall0: float | None = None
        #: the recording time the stream is at
        self.position = self.start

    def _rewind(self) -> None:
        self._state = StreamState(self.schema)
        self._next = 0
        self._advance(self.start)  # the first snapshot (and anything at the same time)
        texts = self._state.texts
        self.strings: Sequence[Sequence[str]] = [
            texts if p.kind == "string" else () for p in self.schema.properties
        ]

    def _advance(self, until: float) -> npt.NDArray[np.bool_]:
        changed = np.zeros(self._state.value.shape, bool)
        for i, batch in self.reader.iter_batches(self._next, until):
            if i >= self._stop:
                break
            changed |= self._state.apply(batch)
            self._next = i + 1
        return changed

    def step(self, now: float) -> npt.NDArray[np.bool_]:
        first = self._wall0 is None
        if self._wall0 is None:
            self._wall0 = now
        target = self.start + (now - self._wall0) * self.speed
        if target > self.end and self.loop and self.position >= self.end:
            self._wall0, target = now, self.start
            self._rewind()
            changed = np.ones(self.values.shape, bool)
        else:
            changed = self._advance(min(target, self.end))
            if first:  # restamp the initial state onto the serving clock
                changed[...] = True
        self.position = min(target, self.end)
        np.copyto(self.values, self._state.value, where=changed)
        # recorded ages shrink or stretch with the speed, and never end in the future
        stamped = now - (self.position - self._state.time) / self.speed
        np.copyto(self.source_time, np.minimum(stamped, now), where=changed)
        changed &= ~np.isnan(self.values)  # a cell that went missing is not sent
        return changed

    def control(self, msg: Mapping[str, object], now: float) -> str:
        raise ReplayError("unknown_action", "a replay takes no control messages (pause/resume)")

    def close(self) -> None:
        self.reader.close()


async def serve_replay(
    path: Path,
    config: ServerConfig,
    speed: float = 1.0,
    announce: Callable[[str], None] = print,
    *,
    loop: bool = False,
) -> None:
    """Serve the recording at ``path`` until SIGINT or SIGTERM (like ``serve_simulator``)."""
    try:
        source = ReplaySource(path, speed=speed, loop=loop)
    except (RecordingError, ValueError) as exc:
        raise XRClientError(str(exc)) from None
    try:
        server = TwinServer(source, config)
        n_m, n_p = source.values.shape

        def started(port: int) -> None:
            announce(
                f"twin-sim: replaying {path} ({source.end - source.start:.0f} s, {n_m} machines "
                f"x {n_p} properties) at {speed:g}x on ws://{config.host}:{port}; Ctrl-C stops"
            )

        await serve_until_signal(server, config, started)
        announce(f"twin-sim: stopped at {source.position - source.start:.1f} s of the replay")
    finally:
        source.close()
