"""Seek time in a one-hour recording of the demo plant, and the recording's size.

The recording is generated from the seeded simulator stepped with explicit times at the
server's rate (``--rate``, 10 Hz) for ``--minutes`` (60) during the day shift, written by
``Recorder`` (keyframe every ``--keyframe`` s). Timed: opening it (``Reader``: checks the
header and indexes every record), ``Reader.state_at(t)`` for random ``t`` (keyframe plus
deltas as one snapshot batch) applied to a fresh ``TwinStore``, and a timeline seek
(``Timeline.seek`` + ``update``: the state at ``t`` with ``--history`` s of history behind
it, what a viewer does when the user drops the scrubber).

usage: python benchmarks/bench_seek.py [--minutes 60] [--rate 10] [--keyframe 10]
       [--seeks 50] [--history 300] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line

from xrclient.core.twin_store import TwinStore
from xrclient.history.reader import Reader
from xrclient.history.recorder import Recorder
from xrclient.history.sim_batches import simulate
from xrclient.history.timeline import Timeline
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.schema import load_scene
from xrclient.server.simulator import PlantSimulator

START = 1_767_225_600.0 + 4 * 86400 + 8 * 3600  # a Monday 08:00 UTC


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--keyframe", type=float, default=10.0)
    parser.add_argument("--seeks", type=int, default=50)
    parser.add_argument("--history", type=float, default=300.0)
    parser.add_argument("--quick", action="store_true", help="10 minutes, 20 seeks")
    args = parser.parse_args()
    minutes, seeks = (10.0, 20) if args.quick else (args.minutes, args.seeks)
    print(f"machine: {machine_line()}, numpy {np.__version__}")
    scene = load_scene(scene_path(DEMO_SCENE))
    ids = [m.id for m in scene.machines]
    sim = PlantSimulator(scene, seed=1, start=START, fault_rate_per_hour=0.05)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plant.xrrec"
        began = time.perf_counter()
        with Recorder(path, keyframe_s=args.keyframe) as rec:
            for _, batch in simulate(sim, START, minutes * 60, args.rate):
                rec.write(batch)
        made = time.perf_counter() - began
        size = path.stat().st_size
        print(
            f"recording: demo plant ({len(ids)} machines x {len(sim.schema.properties)} "
            f"properties), {minutes:g} min at {args.rate:g} Hz, keyframe every "
            f"{args.keyframe:g} s; generated and written in {made:.1f} s"
        )
        print(
            f"  {size / 2**20:.2f} MiB, {rec.records:,} records, {rec.updates:,} updates: "
            f"{size / rec.updates:.1f} bytes per update (keyframes included), "
            f"{size / (minutes * 60) / 1024:.1f} KiB per second of plant"
        )
        opens = []
        for _ in range(5):
            t0 = time.perf_counter()
            reader = Reader(path)
            opens.append(time.perf_counter() - t0)
            reader.close()
        print(f"  open + index: median {statistics.median(opens) * 1e3:.1f} ms of 5")
        rng = np.random.default_rng(0)
        targets = START + rng.uniform(0, minutes * 60, seeks)
        with Reader(path) as reader:
            state_times = []
            for t in targets:
                t0 = time.perf_counter()
                found = reader.state_at(float(t))
                assert found is not None
                store = TwinStore(ids)
                store.apply(found[0], float(t))
                state_times.append(time.perf_counter() - t0)
            timeline_times = []
            for t in targets[: max(5, seeks // 5)]:
                timeline = Timeline(reader, ids, history_capacity=round(args.history))
                t0 = time.perf_counter()
                timeline.seek(float(t))
                timeline.update(0.0)
                timeline_times.append(time.perf_counter() - t0)
        print(
            f"seek to a random time, state only (state_at + TwinStore.apply), {seeks} seeks: "
            f"median {statistics.median(state_times) * 1e3:.1f} ms, "
            f"p95 {pct(state_times, 95) * 1e3:.1f} ms, max {max(state_times) * 1e3:.1f} ms"
        )
        print(
            f"timeline seek with {args.history:g} s of history, {len(timeline_times)} seeks: "
            f"median {statistics.median(timeline_times) * 1e3:.0f} ms, "
            f"max {max(timeline_times) * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
