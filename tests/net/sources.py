"""A twin source whose changes the test decides, and helpers to run a server in a thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.server.background import BackgroundServer
from xrclient.server.twin_server import ServerConfig

PROPS = (
    PropertySpec("state", "enum", values=("RUNNING", "IDLE", "FAULT")),
    PropertySpec("temperature_c", "number", "°C"),
    PropertySpec("door_open", "bool"),
    PropertySpec("program", "string"),
    PropertySpec("last_maintenance", "time"),
)


class BadControl(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class ScriptedSource:
    """``n`` machines; each ``step`` applies the next scripted change (or a random walk)."""

    def __init__(self, n: int = 20, seed: int = 1, extra_machines: tuple[str, ...] = ()) -> None:
        ids = tuple(f"M{i:03d}" for i in range(n)) + extra_machines
        self.schema = StreamSchema(ids, PROPS)
        self.rng = np.random.default_rng(seed)
        shape = (len(ids), len(PROPS))
        self.values = np.zeros(shape)
        self.values[:, 1] = 20.0 + np.arange(len(ids))
        self.values[:, 3] = 0.0
        self.values[:, 4] = 1.7e9
        self.values[::3, 2] = np.nan  # some machines never report door_open
        self.source_time = np.where(np.isnan(self.values), np.nan, time.time())
        self._texts = ["O1000", "O2000"]
        self.strings = [self._texts if p.kind == "string" else [] for p in PROPS]
        self.frozen = False
        self.changes_per_step = 5
        self.controls: list[dict[str, object]] = []

    def step(self, now: float) -> npt.NDArray[np.bool_]:
        changed = np.zeros(self.values.shape, bool)
        if self.frozen:
            return changed
        n = self.values.shape[0]
        rows = self.rng.integers(0, n, self.changes_per_step)
        changed[rows, 1] = True
        self.values[rows, 1] += self.rng.normal(0, 1, len(rows)).round(2)
        flip = rows[: max(1, len(rows) // 3)]
        self.values[flip, 0] = self.rng.integers(0, 3, len(flip))
        changed[flip, 0] = True
        self.values[flip, 3] = self.rng.integers(0, len(self._texts), len(flip))
        changed[flip, 3] = True
        self.source_time[changed] = now
        return changed

    def control(self, msg: Mapping[str, object], now: float) -> str:
        if msg.get("action") != "freeze":
            raise BadControl("unknown_action", f"no action {msg.get('action')!r}")
        self.controls.append(dict(msg))
        self.frozen = bool(msg.get("on", True))
        return "frozen" if self.frozen else "running"


def server_thread(source: object, **config: object) -> BackgroundServer:
    """A real twin server for ``source`` on a free loopback port, in a background thread
    (control requests allowed from every client unless ``config`` says otherwise)."""
    cfg = ServerConfig(**{"port": 0, "rate_hz": 50.0, "allow_control": True, **config})  # type: ignore[arg-type]  # config holds ServerConfig fields, typed by the caller
    return BackgroundServer(source, cfg)  # type: ignore[arg-type]  # any update source the server accepts (duck-typed in tests)


@contextmanager
def running_server(source: object, **config: object) -> Iterator[BackgroundServer]:
    srv = server_thread(source, **config)
    try:
        srv.start()
        yield srv
    finally:
        srv.close()


def drain_into(store: TwinStore, queue: object) -> int:
    n = 0
    for batch in queue.drain():  # type: ignore[attr-defined]  # the queue is an UpdateQueue here
        store.apply(batch, time.time())
        n += 1
    return n


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def same_state(store: TwinStore, source: ScriptedSource) -> bool:
    """The store (machines in the source's order) holds exactly the source's values."""
    ours = store.value
    theirs = source.values[: store.n_machines].copy()
    for p, spec in enumerate(PROPS):
        if spec.kind == "string":  # compare texts, not codes
            a = [store.text(spec.name, v) for v in ours[:, p]]
            b = [None if np.isnan(v) else source.strings[p][int(v)] for v in theirs[:, p]]
            if a != b:
                return False
            theirs[:, p] = ours[:, p]
    return bool(np.array_equal(ours, theirs, equal_nan=True))
