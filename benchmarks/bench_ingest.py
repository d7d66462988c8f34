"""Twin-stream ingest: property updates per second decoded, stored and bound, on one core.

Each message is a delta as the server sends it (``TwinServer._send_updates``: the real
update encoders inside the real envelope, then ``encode_json`` / ``encode_msgpack``), built
from PlantSimulator values for every machine of the large synthetic plant: the first
``--props`` properties of the simulator's stream, where a cell that a machine's type lacks
takes a value of the same property from a machine that has it (so every machine reports
every property). Three deltas: all cells (machines x properties), and a random tenth and a
random hundredth of them with the simulator's values one second later.

Ours is the client's whole path for one frame: ``TwinClientProtocol.receive`` (frame ->
checked ``UpdateBatch``), ``TwinStore.apply``, ``Bindings.update`` over the store (what
changed since the last frame; ``Bindings.evaluate``, every rule for every machine, in the
"full evaluation" rows) and ``Bindings.apply`` into ``MachineVisuals``. The scene is the
large plant with the demo plant's ``[twin]`` and ``[[bindings]]`` tables added (same machine
types). The same delta frame is fed again and again (its cells are written each time, so
``update`` re-evaluates them each time); the protocol's sequence counter is rewound before
each one
so that it counts as the next delta.

Baselines in the same run: stdlib ``json.loads`` then ``setattr(obj, name, value)`` on one
Python object per machine (no checks, no bindings), and the same with ``orjson.loads``.
With ``--old REV`` the same path as it was at git revision REV (its ``wire``, ``twin_store``
and ``bindings`` modules read with ``git show``, bindings evaluated in full) runs in the same
rounds.

usage: python benchmarks/bench_ingest.py [--machines 2000] [--props 20] [--rounds 11] [--quick]
                                         [--old REV] [--cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, timed_interleaved

from plantgen.synthetic import DEMO_TWIN, write_large_plant
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


def old_modules(rev: str) -> dict[str, types.ModuleType]:
    """``wire``, ``twin_store`` and ``bindings`` of ``xrclient.core`` as they were at ``rev``
    (each imports the rest of the package as it is now)."""
    root = Path(__file__).resolve().parent.parent
    out: dict[str, types.ModuleType] = {}
    for name in ("wire", "twin_store", "bindings"):
        source = subprocess.run(
            ["git", "show", f"{rev}:xrclient/core/{name}.py"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        module = types.ModuleType(f"_old_{name}")
        sys.modules[module.__name__] = module  # dataclasses look their module up
        exec(compile(source, f"{rev}:xrclient/core/{name}.py", "exec"), module.__dict__)
        out[name] = module
    return out


class Ours:
    """The client's path: protocol -> store -> bindings -> visuals (``old``: with the
    modules of ``old_modules`` and a full evaluation every frame; ``full``: today's code,
    with a full evaluation every frame)."""

    def __init__(
        self,
        scene: Scene,
        schema: StreamSchema,
        encoding: str,
        snapshot: str | bytes,
        old: dict[str, types.ModuleType] | None = None,
        full: bool = False,
    ):
        self.proto = TwinClientProtocol()
        ids = [m.id for m in scene.machines]
        self.store: Any = TwinStore(ids) if old is None else old["twin_store"].TwinStore(ids)
        self.bindings: Any = (
            Bindings.compile(scene) if old is None else old["bindings"].Bindings.compile(scene)
        )
        self.full = full or old is not None
        self.visuals = MachineVisuals(len(scene.machines))
        welcome = welcome_message(schema, encoding, 1.0, "bench")
        self.proto.receive(encode_json(welcome) if encoding == "json" else encode_msgpack(welcome))
        if old is not None:
            self.proto._decoder = old["wire"].UpdateDecoder(schema)
        self.receive(snapshot, bind=True)

    def receive(self, frame: str | bytes, bind: bool) -> None:
        self.proto.last_seq = 0  # every delta frame is seq 1: count it as the next one
        (event,) = self.proto.receive(frame)
        if not isinstance(event, Updates):
            raise RuntimeError(f"frame not accepted: {event}")
        self.store.apply(event.batch, NOW)
        if bind:
            if self.full:
                self.bindings.evaluate(self.store, NOW)
            else:
                self.bindings.update(self.store, NOW)
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
    scene: Scene,
    schema: StreamSchema,
    snapshot: Frames,
    frames: Frames,
    old: dict[str, types.ModuleType] | None,
    rev: str,
) -> dict[str, Callable[[], object]]:
    """Ours (each a fresh protocol, store and bindings after the snapshot) and the baselines."""
    ids = tuple(m.id for m in scene.machines)
    naive_std, naive_orjson = naive(json.loads, ids), naive(orjson.loads, ids)
    js, mp = frames.json, frames.msgpack

    def ours(encoding: str, bind: bool, **kw: Any) -> Callable[[], None]:
        side = Ours(scene, schema, encoding, getattr(snapshot, encoding), **kw)
        frame = js if encoding == "json" else mp
        return lambda: side.receive(frame, bind=bind)

    out: dict[str, Callable[[], object]] = {
        "naive: json.loads + setattr": lambda: naive_std(js),
        "orjson.loads + setattr": lambda: naive_orjson(js),
        "ours JSON": ours("json", True),
        "ours msgpack": ours("msgpack", True),
        "ours JSON, full evaluation": ours("json", True, full=True),
        "ours msgpack, full evaluation": ours("msgpack", True, full=True),
        "ours JSON, no bindings": ours("json", False),
        "ours msgpack, no bindings": ours("msgpack", False),
    }
    if old is not None:
        out[f"{rev} JSON"] = ours("json", True, old=old)
        out[f"{rev} msgpack"] = ours("msgpack", True, old=old)
        out[f"{rev} JSON, no bindings"] = ours("json", False, old=old)
        out[f"{rev} msgpack, no bindings"] = ours("msgpack", False, old=old)
    return out


def timed_cpu(
    fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 1
) -> dict[str, tuple[float, float]]:
    """``timed_interleaved`` with the process's CPU time instead of the wall clock."""
    return timed_interleaved(fns, repeat, warmup, clock=time.process_time)


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
    parser.add_argument("--old", metavar="REV", help="also the path as it was at git revision REV")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time with this process's CPU clock (a machine shared with other work: waiting "
        "for a core is not counted)",
    )
    args = parser.parse_args()
    old = old_modules(args.old) if args.old else None
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

    def part(share: int) -> npt.NDArray[np.bool_]:
        cells = np.zeros(n * k, bool)
        cells[np.random.default_rng(0).choice(n * k, n * k // share, replace=False)] = True
        return cells.reshape(n, k)

    deltas = {
        "full": Frames(schema, texts, "delta", np.ones((n, k), bool), values0, times0),
        "10%": Frames(schema, texts, "delta", part(10), values1, times1),
        "1%": Frames(schema, texts, "delta", part(100), values1, times1),
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
        f"msgpack {len(deltas['10%'].msgpack) / 2**10:.0f} KiB), "
        f"1% delta {deltas['1%'].cells:,} cells "
        f"(JSON {len(deltas['1%'].json) / 2**10:.0f} KiB, "
        f"msgpack {len(deltas['1%'].msgpack) / 2**10:.0f} KiB)"
    )
    print(
        "ours = TwinClientProtocol.receive -> TwinStore.apply -> Bindings.update + apply "
        "('full evaluation': Bindings.evaluate); 'no bindings' stops after TwinStore.apply"
    )
    clock = "CPU time of this process" if args.cpu else "wall clock"
    print(f"median and best of {rounds} interleaved rounds after 1 warm-up; one core; {clock}")
    verdicts: list[str] = []
    for label, frames in deltas.items():
        per_sample = max(1, (40_000 if args.quick else 200_000) // frames.cells)
        fns = candidates(scene, schema, snapshot, frames, old, args.old or "")
        timer = timed_cpu if args.cpu else timed_interleaved
        results = timer({name: repeat(fn, per_sample) for name, fn in fns.items()}, rounds)
        print(f"\n{label} delta: {frames.cells:,} updates per message, {per_sample} per sample")
        base = results["naive: json.loads + setattr"][0]
        for name, (med, best) in results.items():
            per_msg = med / per_sample
            print(
                f"  {name:<36} {frames.cells * per_sample / med / 1e6:7.2f} M/s "
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
