"""Anomaly scoring cost next to ingest, and detection quality on the seeded simulator.

Cost: the large synthetic plant (``--machines`` x ``--props``, as in ``bench_ingest.py``):
one ``Predictor.update`` that takes a sample (baselines, scores, flags and the trend fit for
every machine and property) against one ingested message (``TwinClientProtocol.receive`` ->
``TwinStore.apply`` -> ``Bindings.evaluate`` + ``apply``), interleaved in the same run. The
predictor samples once per second, so its share of the client's work is its sample cost
over one second of messages at the server's rate (``--rate``, 10 Hz by default). A frame
with no sample due is timed too. ``--slices N`` has the baselines learn in N rotating slices
of machines; ``--shifts`` adds baselines per shift (06:00, 14:00, 22:00 UTC).

Quality: the demo plant from a Monday 10:30 UTC (day shift), seeded, stepped every second
with explicit times; eight bearing-wear faults (30 min each, staggered); lead time of the
first flag before each reaches FAULT, and flag onsets per machine-hour on the machines that
had no fault.

usage: python benchmarks/bench_anomaly.py [--machines 2000] [--props 20] [--rounds 7]
       [--hours 1.75] [--seeds 7,3,11] [--slices 1] [--shifts] [--cost-only] [--quick]
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
from _common import machine_line, timed_interleaved
from bench_ingest import SENT, START, Frames, Ours, build_scene, full_grid

from xrclient.core.anomaly import Predictor
from xrclient.core.anomaly_config import PredictionConfig, parse_prediction_table
from xrclient.core.twin_schema import StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.history.sim_batches import simulate
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.schema import load_scene
from xrclient.server.faults import ScheduledFault
from xrclient.server.simulator import PlantSimulator

VICTIMS = ("CNV-C5", "PRS-B1", "CNC-A2", "RBT-C1", "CNV-C2", "CNV-A1", "CNV-B7", "PRS-B3")
SHIFTS = {"shifts": ["06:00", "14:00", "22:00"], "shift_timezone": "UTC"}


def settings(shifts: bool) -> PredictionConfig | None:
    return parse_prediction_table(SHIFTS) if shifts else None


def cost(machines: int, props: int, rounds: int, rate: float, slices: int, shifts: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scene = build_scene(Path(tmp), machines)
    sim = PlantSimulator(scene, seed=0, start=START)
    schema = StreamSchema(sim.schema.machines, sim.schema.properties[:props])
    texts = sim.strings[:props]
    n, k = len(scene.machines), props
    values0 = full_grid(sim.values[:, :k])
    times0 = np.full((n, k), START)
    full = Frames(schema, texts, "delta", np.ones((n, k), bool), values0, times0)
    snapshot = Frames(schema, texts, "snapshot", np.ones((n, k), bool), values0, times0)
    ours = Ours(scene, schema, "msgpack", snapshot.msgpack)
    predictor = Predictor.from_scene(scene, settings(shifts), slices=slices)
    clock = [SENT]
    predictor.update(ours.store, clock[0])

    def sample() -> None:  # ten seconds of samples: one trend refit among them
        for _ in range(10):
            clock[0] += 1.0  # a sample is due at every call
            predictor.update(ours.store, clock[0])

    def frame() -> None:
        predictor.update(ours.store, clock[0] + 0.5)  # none due

    numeric = sum(p.kind == "number" for p in schema.properties)
    results = timed_interleaved(
        {
            "ingest one full delta": lambda: ours.receive(full.msgpack, bind=True),
            "predictor sample": sample,
            "predictor, no sample due": frame,
        },
        rounds,
    )
    ingest, _ = results["ingest one full delta"]
    samp, samp_best = (x / 10 for x in results["predictor sample"])
    idle, _ = results["predictor, no sample due"]
    print(
        f"\ncost: {n} machines x {k} properties ({numeric} numeric scored), "
        f"median of {rounds} interleaved rounds; slices {slices}, "
        f"{'baselines per shift' if shifts else 'no shifts'}"
    )
    print(
        f"  ingest (msgpack, bindings) {ingest * 1e3:8.2f} ms per full delta "
        f"({full.cells:,} updates: {ingest / full.cells * 1e9:.0f} ns/update)"
    )
    print(
        f"  predictor sample (mean)    {samp * 1e3:8.2f} ms (best {samp_best * 1e3:.2f}; "
        f"{samp / (n * numeric) * 1e9:.0f} ns per machine-property)"
    )
    print(f"  predictor, no sample due   {idle * 1e6:8.2f} us")
    share = samp / (rate * ingest)
    print(
        f"  one sample per second vs {rate:g} full deltas per second: "
        f"{share * 100:.1f}% of ingest time"
    )


def quality(
    hours: float, seed: int, slices: int = 1, shifts: bool = False
) -> tuple[int, int, list[float], float]:
    scene = load_scene(scene_path(DEMO_SCENE))
    shift = 1_767_225_600.0 + 4 * 86400 + 10.5 * 3600
    faults = [
        ScheduledFault(v, "bearing_wear", shift + 2400 + 300 * i, 1800.0)
        for i, v in enumerate(VICTIMS)
    ]
    sim = PlantSimulator(scene, seed=seed, start=shift, fault_rate_per_hour=0.0, faults=faults)
    store = TwinStore([m.id for m in scene.machines])
    predictor = Predictor.from_scene(scene, settings(shifts), slices=slices)
    flags: dict[int, list[float]] = {}  # flag onsets per machine
    onsets = np.zeros(len(scene.machines))
    before = np.zeros(len(scene.machines), bool)
    began = time.perf_counter()
    for t, batch in simulate(sim, shift, hours * 3600, 1.0):
        store.apply(batch, t)
        state = predictor.update(store, t)
        new = state.flagged & ~before
        for m in np.flatnonzero(new):
            flags.setdefault(int(m), []).append(t)
        onsets += new
        before = state.flagged
    spent = time.perf_counter() - began
    index = {m.id: i for i, m in enumerate(scene.machines)}
    print(
        f"\nquality: demo plant ({len(scene.machines)} machines), seed {seed}, {hours:g} h "
        f"from Monday 10:30 UTC stepped at 1 Hz ({spent:.1f} s to run)"
    )
    leads = []
    for r in sim.fault_log:
        onset = flags.get(index[r.machine], [])
        at = next((t for t in onset if r.start <= t < r.fault_at), None)
        lead = None if at is None else r.fault_at - at
        leads.append(lead)
        shown = "missed" if lead is None else f"{lead:6.0f} s before FAULT"
        print(f"  {r.machine:<8} {r.kind} over {r.fault_at - r.start:.0f} s: {shown}")
    found = [x for x in leads if x is not None]
    healthy = [index[m.id] for m in scene.machines if m.id not in VICTIMS]
    early = sum(t < r.start for r in sim.fault_log for t in flags.get(index[r.machine], []))
    if early:
        print(f"  {early} flag(s) on these machines before their fault started")
    rate = onsets[healthy].sum() / (len(healthy) * hours)
    if found:
        print(
            f"  detected {len(found)}/{len(leads)}; lead time median "
            f"{statistics.median(found):.0f} s, min {min(found):.0f} s, max {max(found):.0f} s"
        )
    print(
        f"  false alarms: {int(onsets[healthy].sum())} on {len(healthy)} healthy machines "
        f"= {rate:.3f} per machine-hour"
    )
    return len(found), len(leads), found, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--props", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rate", type=float, default=10.0, help="server rate (Hz)")
    parser.add_argument("--hours", type=float, default=1.75)
    parser.add_argument("--seeds", default="7,3,11", help="simulator seeds (comma-separated)")
    parser.add_argument("--slices", type=int, default=1, help="rotating learning slices")
    parser.add_argument("--shifts", action="store_true", help="baselines per shift")
    parser.add_argument("--cost-only", action="store_true", help="skip the quality runs")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 500 machines")
    args = parser.parse_args()
    print(f"machine: {machine_line()}, numpy {np.__version__}")
    if args.quick:
        cost(500, args.props, 3, args.rate, args.slices, args.shifts)
    else:
        cost(args.machines, args.props, args.rounds, args.rate, args.slices, args.shifts)
    if args.cost_only:
        return
    found, total, leads, rates = 0, 0, [], []
    for seed in (int(x) for x in args.seeds.split(",")):
        f, n, lead, rate = quality(args.hours, seed, args.slices, args.shifts)
        found, total = found + f, total + n
        leads += lead
        rates.append(rate)
    print(
        f"\nall seeds: detected {found}/{total} before FAULT"
        + (f", lead time median {statistics.median(leads):.0f} s" if leads else "")
        + f"; false alarms {statistics.mean(rates):.3f} per healthy machine-hour"
    )


if __name__ == "__main__":
    main()
