"""CPU time per frame to update and record every machine overlay, and overlay draw calls.

For 50, 500 and 2,000 machines (the synthetic plant with the demo plant's bindings), live
state from the plant simulator, a camera gliding along a path over the plant: per frame
``Overlays.update`` (levels, declutter, panel pool, value texts) plus ``Overlays.draw``
(buffer uploads and draw-call recording; the GPU's own work is not waited for, but on
Mesa's llvmpipe the draw call itself runs the vertex shaders on the CPU), and the shape and
glyph instances that draw sends to the vertex stage per view.

usage: python benchmarks/bench_overlays.py [--machines 50 500 2000] [--frames 120]
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

from plantgen.synthetic import DEMO_TWIN, write_large_plant
from xrclient.backends.headless import HeadlessBackend
from xrclient.core.bindings import Bindings
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.render.font import load_font
from xrclient.render.overlays import Overlays
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.schema import load_scene
from xrclient.server.simulator import PlantSimulator

SIZE = (1280, 720)


def live_store(sim: PlantSimulator, ids: list[str], now: float) -> TwinStore:
    store = TwinStore(ids)
    sim.step(now)
    m, p = np.nonzero(~np.isnan(sim.values))
    values = sim.values[m, p].copy()
    kinds = np.array([s.kind == "string" for s in sim.schema.properties])
    texts: list[str] = []
    for i in np.flatnonzero(kinds[p]):
        texts.append(sim.strings[p[i]][int(values[i])])
        values[i] = len(texts) - 1
    batch = UpdateBatch.build(
        sim.schema, m, p, values, sim.source_time[m, p], snapshot=True, sent=now, texts=texts
    )
    store.apply(batch, now)
    return store


def drawn(overlays: Overlays) -> int:
    """Instances (shapes and glyphs) the overlays' draw issues per view."""
    shapes, text = overlays.shapes, overlays.text
    return int(getattr(shapes, "drawn", shapes.instances)) + int(
        getattr(text, "drawn", text.glyphs)
    )


def run(machines: int, frames: int, folder: Path) -> tuple[float, float, float, int, int, int]:
    path = write_large_plant(folder / f"p{machines}", machines=machines)
    path.write_text(path.read_text(encoding="utf-8") + DEMO_TWIN, encoding="utf-8")
    scene = load_scene(path)
    geometry, _ = load_geometry(scene, LoadLimits())
    now = time.time()
    sim = PlantSimulator(scene, seed=1, start=now - 60, fault_rate_per_hour=0.0)
    store = live_store(sim, [m.id for m in scene.machines], now)
    bindings = Bindings.compile(scene)
    lo, hi = geometry.bounds[0].astype(float), geometry.bounds[1].astype(float)
    centre = (lo + hi) / 2
    with HeadlessBackend(SIZE, samples=0) as backend:
        overlays = Overlays(backend.ctx, scene, geometry, bindings, load_font())
        samples = []
        calls = 0
        instances: list[int] = []
        try:
            for k in range(frames + 10):
                t = k / frames
                eye = (lo[0] + (hi[0] - lo[0]) * t, 6.0, hi[2] + 5.0)
                view = backend.view_from(eye, (eye[0], 0.5, centre[2]), far=500.0)
                state = bindings.evaluate(store, now + k / 60)
                backend.fbo.use()
                started = time.perf_counter()
                overlays.update(store, state, view, now + k / 60)
                updated = time.perf_counter()
                calls = overlays.draw([view], now + k / 60)
                done = time.perf_counter()
                backend.ctx.finish()
                if k >= 10:
                    samples.append((updated - started, done - updated))
                    instances.append(drawn(overlays))
        finally:
            overlays.release()
    update = [u for u, _ in samples]
    total = [u + d for u, d in samples]
    return (
        statistics.median(update),
        statistics.median(total),
        float(np.percentile(total, 95)),
        calls,
        len(scene.machines),
        int(statistics.median(instances)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, nargs="+", default=[50, 500, 2000])
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    print(
        f"setup: synthetic plant + demo bindings, {SIZE[0]}x{SIZE[1]}, camera gliding along "
        f"the plant, {args.frames} frames; time = Overlays.update + Overlays.draw (CPU)"
    )
    print(
        "update = levels, declutter, panel pool, texts (numpy + Python); update + draw adds "
        "buffer uploads and recording (on llvmpipe the draw call also runs the vertex shaders)"
    )
    print(
        f"{'machines':>8} {'update ms':>10} {'update+draw ms':>15} {'p95 ms':>8} {'calls':>6} "
        f"{'instances drawn per view':>25}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.machines:
            upd, med, p95, calls, count, shown = run(n, args.frames, Path(tmp))
            print(
                f"{count:>8} {upd * 1000:>10.2f} {med * 1000:>15.2f} {p95 * 1000:>8.2f} {calls:>6} "
                f"{shown:>25}",
                flush=True,
            )


if __name__ == "__main__":
    main()
