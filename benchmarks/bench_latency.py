"""End-to-end latency of the twin stream on loopback: simulator send -> value in the store.

The simulator runs as its own process (``xrclient twin-sim``, demo plant, every machine
stepped at the given rate); this process runs the real ``TwinClient`` (network thread) and a
consumer thread that applies each batch to a ``TwinStore`` as soon as it is queued. For each
applied batch it records ``applied - sent`` (the server's send time; both processes share
the clock) and, per batch, ``applied - newest source time`` (adds the wait between a
simulation step and its send). A frame loop that drains once per frame adds up to one frame
period on top (11 ms at 90 Hz).

usage: python benchmarks/bench_latency.py [--rates 10 100 1000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line
from _sim import twin_sim

from xrclient.core.twin_store import TwinStore
from xrclient.net.twin_client import TwinClient
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.schema import load_scene


def measure(url: str, ids: list[str], encoding: str, seconds: float) -> dict[str, float]:
    store = TwinStore(ids)
    sent_lat: list[float] = []
    src_lat: list[float] = []
    updates = 0
    stop = threading.Event()
    with TwinClient(url, encoding=encoding) as client:  # type: ignore[arg-type]  # encoding is a command-line choice of the client's encodings

        def consume() -> None:
            nonlocal updates
            while not stop.is_set():
                if not client.queue.wait(0.1):
                    continue
                for batch in client.queue.drain():
                    store.apply(batch, time.time())
                    done = time.time()
                    if not batch.snapshot:
                        sent_lat.append(done - batch.sent)
                        src_lat.append(done - batch.newest)
                        updates += len(batch)

        consumer = threading.Thread(target=consume)
        consumer.start()
        time.sleep(1.0)  # connect, snapshot, settle
        sent_lat.clear()
        src_lat.clear()
        updates = 0
        time.sleep(seconds)
        stop.set()
        consumer.join()
    a, b = np.array(sent_lat) * 1000, np.array(src_lat) * 1000
    return {
        "batches/s": len(a) / seconds,
        "updates/s": updates / seconds,
        "sent p50": float(np.percentile(a, 50)),
        "sent p99": float(np.percentile(a, 99)),
        "src p50": float(np.percentile(b, 50)),
        "src p99": float(np.percentile(b, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 100.0, 1000.0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--encodings", nargs="+", default=["msgpack", "json"])
    args = parser.parse_args()
    ids = [m.id for m in load_scene(scene_path(DEMO_SCENE)).machines]
    print(f"machine: {machine_line()}")
    print(
        f"setup: demo plant ({len(ids)} machines), simulator in its own process, "
        f"{args.seconds:g} s per run, consumer applies each batch as soon as it is queued"
    )
    print(
        f"{'rate Hz':>8} {'encoding':>8} {'batches/s':>10} {'updates/s':>10} "
        f"{'send->store p50/p99 ms':>24} {'source->store p50/p99 ms':>26}"
    )
    for rate in args.rates:
        with twin_sim(DEMO_SCENE, rate) as url:
            for enc in args.encodings:
                r = measure(url, ids, enc, args.seconds)
                print(
                    f"{rate:>8g} {enc:>8} {r['batches/s']:>10.0f} {r['updates/s']:>10.0f} "
                    f"{r['sent p50']:>11.2f} / {r['sent p99']:<10.2f} "
                    f"{r['src p50']:>12.2f} / {r['src p99']:<10.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
