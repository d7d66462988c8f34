"""Live twin state for a frame loop: stream client, twin store and bindings together.

``LiveTwin`` is the live half of the plant frame (:mod:`xrclient.frame`): once per frame it
drains the client's queue into the store (``update``); the plant frame then lets the
scene's bindings write the machine visuals. The network stays on its own thread; nothing
here blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol

from xrclient.core.bindings import Bindings
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.net.twin_client import ConnectionStatus, TwinClient
from xrclient.scene.model import Scene


@dataclass(frozen=True, slots=True)
class TwinOptions:
    url: str
    token: str | None = None
    encoding: Literal["msgpack", "json"] = "msgpack"
    #: seconds a one-shot render waits for the first state
    wait: float = 5.0


class BatchSink(Protocol):
    def write(self, batch: UpdateBatch) -> None: ...


class LiveTwin:
    def __init__(self, scene: Scene, options: TwinOptions) -> None:
        self.scene = scene
        self.store = TwinStore([m.id for m in scene.machines])
        self.bindings = Bindings.compile(scene)
        self.client = TwinClient(options.url, token=options.token, encoding=options.encoding)
        self.batches = 0
        #: every batch applied is also written here (a history the front end can scrub)
        self.recorder: BatchSink | None = None

    def start(self) -> LiveTwin:
        self.client.start()
        return self

    def stop(self) -> None:
        self.client.stop()

    def __enter__(self) -> LiveTwin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def status(self) -> ConnectionStatus:
        return self.client.status

    def update(self, now: float | None = None) -> int:
        """Apply everything received since the last call; returns the batches applied."""
        now = time.time() if now is None else now
        batches = self.client.queue.drain()
        for batch in batches:
            if self.recorder is not None:
                self.recorder.write(batch)
            self.store.apply(batch, now)
        self.store.advance(now)
        self.batches += len(batches)
        return len(batches)

    def wait_for_state(self, timeout: float) -> bool:
        """Block until the first snapshot has been applied, or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while self.store.schema is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.client.queue.wait(min(left, 0.1))
            self.update()
        return True

    def summary(self) -> str:
        """One line for people: how many machines report, are stale or in alarm, as of the
        bindings' last evaluation."""
        state = self.bindings.state
        st = self.status
        n = self.store.n_machines
        alarms = int((state.alarm_level > 0).sum())
        critical = int((state.alarm_level >= 2).sum())
        latency = f", latency p50 {st.latency_p50 * 1000:.1f} ms" if st.latency_p50 else ""
        return (
            f"twin {st.url}: {st.state}, {int(state.seen.sum())}/{n} machines reporting, "
            f"{int((state.stale & state.seen).sum())} stale, {alarms} in alarm "
            f"({critical} critical){latency}"
        )
