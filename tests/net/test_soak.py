"""Soak: the real simulator process killed, restarted and cut off on a seeded schedule."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from xrclient.core.twin_store import TwinStore
from xrclient.net.twin_client import Backoff, TwinClient
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.schema import load_scene

from .proxy import FaultyProxy
from .sources import wait_until

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.5)


class SimProcess:
    """``xrclient twin-sim`` on the demo plant as a real child process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self, port: int, seed: int) -> int:
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "xrclient", "twin-sim", DEMO_SCENE),
                *("--port", str(port), "--seed", str(seed), "--rate", "50"),
                *("--heartbeat", "0.2", "--fault-rate", "60", "--allow-control"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)", line)
        assert match, (line, self.proc.stderr.read() if self.proc.stderr else "")
        self.port = int(match.group(1))
        return self.port

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self.proc = None
        return code


def texts_equal(a: TwinStore, b: TwinStore) -> bool:
    """Same values in both stores, comparing enum and string cells by their text."""
    if a.schema != b.schema:
        return False
    va, vb = a.value.copy(), b.value.copy()
    for p, spec in enumerate(a.properties):
        if spec.kind == "string":
            ta = [a.text(spec.name, v) for v in va[:, p]]
            tb = [b.text(spec.name, v) for v in vb[:, p]]
            if ta != tb:
                return False
            va[:, p] = vb[:, p]
    return bool(np.array_equal(va, vb, equal_nan=True))


def fresh_state(url: str, ids: list[str]) -> TwinStore:
    store = TwinStore(ids)
    with TwinClient(url) as client:
        assert client.queue.wait(10), client.status
        for batch in client.queue.drain():
            store.apply(batch, time.time())
    return store


@pytest.mark.slow
def test_client_state_equals_server_state_after_a_seeded_fault_schedule() -> None:
    rng = random.Random(20261125)
    ids = [m.id for m in load_scene(scene_path(DEMO_SCENE)).machines]
    store = TwinStore(ids)
    events: list[str] = []
    sim = SimProcess()
    port = sim.start(0, seed=1)
    proxy = FaultyProxy(port)
    try:
        client = TwinClient(f"ws://127.0.0.1:{proxy.port}", backoff=FAST, open_timeout=1.0)
        with client:
            wait_until(lambda: client.status.state == "live", 10)
            schedule = ["kill", "kill", "term", "cut", "cut", "cut", "stall", "stall"]
            rng.shuffle(schedule)
            for event in schedule:
                events.append(event)
                connects = client.status.connects
                if event in ("kill", "term"):
                    code = sim.stop(signal.SIGKILL if event == "kill" else signal.SIGTERM)
                    assert code == (-9 if event == "kill" else 0)
                    time.sleep(rng.uniform(0.0, 0.5))
                    sim.start(port, seed=rng.randrange(1000))
                elif event == "cut":
                    proxy.cut()
                else:
                    proxy.stall(True)
                    time.sleep(2.5)  # longer than three heartbeats + 1 s: the client gives up
                    proxy.stall(False)
                wait_until(lambda c=connects: client.status.connects > c, 15, event)
                wait_until(lambda: client.status.state == "live", 15, f"live after {event}")
                for batch in client.queue.drain():
                    store.apply(batch, time.time())
            # freeze the plant, then compare with what a brand-new client is told
            direct = f"ws://127.0.0.1:{port}"
            with TwinClient(direct) as controller:
                wait_until(lambda: controller.status.state == "live", 10)
                assert controller.control("pause").result(5) == "paused"
            truth = fresh_state(direct, ids)

            def converged() -> bool:
                for batch in client.queue.drain():
                    store.apply(batch, time.time())
                return texts_equal(store, truth)

            wait_until(converged, 15, f"convergence after {events}")
            assert client.status.connects >= 1 + len(schedule)
            assert np.isfinite(store.value).any()
    finally:
        proxy.close()
        if sim.proc is not None:
            sim.stop()
