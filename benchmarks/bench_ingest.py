"""Twin-stream ingest: property updates per second decoded, stored and bound, on one core.

Each message is a delta as the server sends it (``TwinServer._send_updates``: the real
update encoders inside the real envelope, then ``encode_json`` / ``encode_msgpack``), built
from PlantSimulator values for every machine of the large synthetic plant: the first
``--props`` properties of the simulator's stream, where a cell that a machine's type lacks
takes a value of the same property from a machine that has it (so every machine reports
every property). Two deltas: all cells (machines x properties), and a random tenth of them
with the simulator's values one second later.

Ours is the client's whole path for one frame: ``TwinClientProtocol.receive`` (frame ->
checked ``UpdateBatch``), ``TwinStore.apply``, ``Bindings.evaluate`` over the store and
``Bindings.apply`` into ``MachineVisuals``. The scene is the large plant with the demo
plant's ``[twin]`` and ``[[bindings]]`` tables added (same machine types). The same delta
frame is fed again and again; the protocol's sequence counter is rewound before each one
so that it counts as the next delta.

Baselines in the same run: stdlib ``json.loads`` then ``setattr(obj, name, value)`` on one
Python object per machine (no checks, no bindings), and the same with ``orjson.loads``.

usage: python benchmarks/bench_ingest.py [--machines 2000] [--props 20] [--rounds 11] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, timed_interleaved

from xrclient.core.bindings import Bindings
from xrclient.core.protocol import TwinClientProtocol, Updates, welcome_message
from xrclient.core.twin_schema import StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.visuals import MachineVisuals
from xrclient.core.wire import (
    encode_json,
    encode_msgpack,
)
from xrclient.core.wire_encode import encode_updates_binary, encode_updates_json
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene
from xrclient.scene.synthetic import DEMO_TWIN, write_large_plant
from xrclient.server.simulator import PlantSimulator

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC, a Thursday: first shift running
SENT = START + 1.0
NOW = SENT + 0.02  # the client's clock at receipt (same for every message)
F64 = npt.NDArray[np.float64]


def build_scene(out_dir: Path, machines: int) -> Scene:
    path = write_large_plant(out_dir, machines=machines)
    path.write_text(path.read_text(encoding="utf-8") + DEMO_TWIN, encoding="utf-8")
    return load_scene(path)


def full_grid(values: F64) -> F64:
    """Every cell finite: a cell a machine's type lacks takes the value of a machine that has
    the property (cycling through those machines), so every machine reports every property."""
    out = values.copy()
    for p in range(out.shape[1]):
        col = out[:, p]
        missing = np.isnan(col)
        donors = col[~missing]
        if missing.any():
            col[missing] = donors[np.arange(int(missing.sum())) % len(donors)]
    return out


class Frames:
    """One delta as a JSON text frame and a msgpack binary frame, plus its cell count."""

    def __init__(
        self,
        schema: StreamSchema,
        texts: tuple[tuple[str, ...], ...],
        kind: str,
        cells: npt.NDArray[np.bool_],
        values: F64,
        times: F64,
    ) -> None:
        m, p = np.nonzero(cells)
        v, t = values[m, p], times[m, p]
        doc: dict[str, Any] = {"type": kind, "seq": 1, "sent": SENT}
        self.json = encode_json({**doc, "updates": encode_updates_json(schema, m, p, v, t, texts)})
        self.msgpack = encode_msgpack({**doc, **encode_updates_binary(schema, m, p, v, t, texts)})
        self.cells = len(m)


class Ours:
    """The client's path: protocol -> store -> bindings -> visuals."""

    def __init__(self, scene: Scene, schema: StreamSchema, encoding: str, snapshot: str | bytes):
        self.proto = TwinClientProtocol()
        self.store = TwinStore([m.id for m in scene.machines])
        self.bindings = Bindings.compile(scene)
        self.visuals = MachineVisuals(len(scene.machines))
        welcome = welcome_message(schema, encoding, 1.0, "bench")
        self.proto.receive(encode_json(welcome) if encoding == "json" else encode_msgpack(welcome))
        self.receive(snapshot, bind=True)

    def receive(self, frame: str | bytes, bind: bool) -> None:
        self.proto.last_seq = 0  # every delta frame is seq 1: count it as the next one
        (event,) = self.proto.receive(frame)
        if not isinstance(event, Updates):
            raise RuntimeError(f"frame not accepted: {event}")
        self.store.apply(event.batch, NOW)
        if bind:
            self.bindings.evaluate(self.store, NOW)
            self.bindings.apply(self.visuals)


class _Machine:
    """What the naive client keeps per machine: one attribute per property."""


def naive(loads: Callable[[str], Any], machine_ids: tuple[str, ...]) -> Callable[[str], None]:
    objs = {mid: _Machine() for mid in machine_ids}

    def ingest(frame: str) -> None:
        for mid, _t, vals in loads(frame)["updates"]:
            obj = objs[mid]
            for name, value in vals.items():
                setattr(obj, name, value)

    return ingest


def candidates(
    scene: Scene, schema: StreamSchema, snapshot: Frames, frames: Frames
) -> dict[str, Callable[[], object]]:
    """Ours (fresh protocol, store and bindings after the snapshot) and the baselines."""
    json_side = Ours(scene, schema, "json", snapshot.json)
    msgpack_side = Ours(scene, schema, "msgpack", snapshot.msgpack)
    ids = tuple(m.id for m in scene.machines)
    naive_std, naive_orjson = naive(json.loads, ids), naive(orjson.loads, ids)
    js, mp = frames.json, frames.msgpack
    return {
        "naive: json.loads + setattr": lambda: naive_std(js),
        "orjson.loads + setattr": lambda: naive_orjson(js),
        "ours JSON": lambda: json_side.receive(js, bind=True),
        "ours msgpack": lambda: msgpack_side.receive(mp, bind=True),
        "ours JSON, no bindings": lambda: json_side.receive(js, bind=False),
        "ours msgpack, no bindings": lambda: msgpack_side.receive(mp, bind=False),
    }


def repeat(fn: Callable[[], object], times: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(times):
            fn()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--props", type=int, default=20, help="properties per machine (1-23)")
    parser.add_argument("--rounds", type=int, default=11, help="interleaved timed rounds")
    parser.add_argument("--quick", action="store_true", help="3 rounds, fewer messages")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    print(f"machine: {machine_line()}, numpy {np.__version__}, orjson {orjson.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        scene = build_scene(Path(tmp), args.machines)
    sim = PlantSimulator(scene, seed=0, start=START)
    if not 1 <= args.props <= len(sim.schema.properties):
        parser.error(f"--props must be 1 to {len(sim.schema.properties)}")
    props = sim.schema.properties[: args.props]
    schema = StreamSchema(sim.schema.machines, props)
    texts = sim.strings[: args.props]
    n, k = len(scene.machines), args.props
    values0 = full_grid(sim.values[:, :k])
    times0 = np.full((n, k), START)
    changed = sim.step(SENT)[:, :k]
    values1 = full_grid(sim.values[:, :k])
    times1 = np.where(changed, SENT, times0)
    tenth = np.zeros(n * k, bool)
    tenth[np.random.default_rng(0).choice(n * k, n * k // 10, replace=False)] = True
    deltas = {
        "full": Frames(schema, texts, "delta", np.ones((n, k), bool), values0, times0),
        "10%": Frames(schema, texts, "delta", tenth.reshape(n, k), values1, times1),
    }
    snapshot = Frames(schema, texts, "snapshot", np.ones((n, k), bool), values0, times0)
    kinds = ", ".join(sorted({p.kind for p in props}))
    print(
        f"setup: large synthetic plant, {n} machines x {k} properties ({kinds}); "
        f"{len(scene.bindings)} bindings (demo plant's [twin] + [[bindings]]); "
        f"full delta {deltas['full'].cells:,} cells "
        f"(JSON {len(deltas['full'].json) / 2**20:.2f} MiB, "
        f"msgpack {len(deltas['full'].msgpack) / 2**20:.2f} MiB), "
        f"10% delta {deltas['10%'].cells:,} cells "
        f"(JSON {len(deltas['10%'].json) / 2**10:.0f} KiB, "
        f"msgpack {len(deltas['10%'].msgpack) / 2**10:.0f} KiB)"
    )
    print(
        "ours = TwinClientProtocol.receive -> TwinStore.apply -> Bindings.evaluate + apply; "
        "'no bindings' stops after TwinStore.apply"
    )
    print(f"median and best of {rounds} interleaved rounds after 1 warm-up; one core")
    verdicts: list[str] = []
    for label, frames in deltas.items():
        per_sample = max(1, (40_000 if args.quick else 200_000) // frames.cells)
        fns = candidates(scene, schema, snapshot, frames)
        results = timed_interleaved(
            {name: repeat(fn, per_sample) for name, fn in fns.items()}, rounds
        )
        print(f"\n{label} delta: {frames.cells:,} updates per message, {per_sample} per sample")
        base = results["naive: json.loads + setattr"][0]
        for name, (med, best) in results.items():
            per_msg = med / per_sample
            print(
                f"  {name:<28} {frames.cells * per_sample / med / 1e6:7.2f} M/s "
                f"(best {frames.cells * per_sample / best / 1e6:6.2f})  "
                f"{per_msg * 1e3:7.3f} ms/message  {base / med:5.2f}x naive"
            )
        rate = frames.cells * per_sample / results["ours msgpack"][0] / 1e6
        ratio = base / results["ours JSON"][0]
        verdicts.append(
            f"  {label} delta: msgpack {rate:.1f} M/s (>= 20: {'met' if rate >= 20 else 'NOT met'})"
            f", JSON {ratio:.2f}x naive (>= 2x: {'met' if ratio >= 2 else 'NOT met'})"
        )
    print("\ntargets (medians, bindings included):")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
