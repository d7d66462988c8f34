"""The golden overlay image: the demo plant at a fixed view with a fixed simulated state.

Regenerate after an intended visual change with ``make golden`` (which runs
``scripts/update_golden.py``) and look at the new PNG before committing it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from xrclient.backends.headless import HeadlessBackend
from xrclient.core.bindings import Bindings
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.core.visuals import MachineVisuals
from xrclient.render.camera import view_for_viewpoint
from xrclient.render.font import load_font
from xrclient.render.overlays import Overlays
from xrclient.render.renderer import Renderer
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.schema import load_scene
from xrclient.server.simulator import PlantSimulator

GOLDEN = Path(__file__).resolve().parent / "golden" / "demo-line-a-overlays.png"
SIZE = (640, 360)
START = 1_767_258_000.0  # a Thursday, 09:00 UTC: the day shift is running
SECONDS = 90


def simulated_store(sim: PlantSimulator, ids: list[str]) -> tuple[TwinStore, float]:
    """A store fed one snapshot of the simulator per second, as a client would see it."""
    store = TwinStore(ids)
    now = START
    for k in range(1, SECONDS + 1):
        now = START + k
        sim.step(now)
        m, p = np.nonzero(~np.isnan(sim.values))
        values = sim.values[m, p].copy()
        strings = [s.kind == "string" for s in sim.schema.properties]
        texts: list[str] = []
        for i in np.flatnonzero(np.array(strings)[p]):
            texts.append(sim.strings[p[i]][int(values[i])])
            values[i] = len(texts) - 1
        batch = UpdateBatch.build(
            sim.schema, m, p, values, sim.source_time[m, p],
            snapshot=True, seq=k, sent=now, texts=texts,
        )  # fmt: skip
        store.apply(batch, now)
    return store, now


def render_golden(font_cache: Path | None = None) -> npt.NDArray[np.uint8]:
    scene = load_scene(scene_path(DEMO_SCENE))
    geometry, _ = load_geometry(scene, LoadLimits())
    sim = PlantSimulator(scene, seed=7, start=START, fault_rate_per_hour=0.0)
    sim.control({"action": "inject_fault", "machine": "CNV-A3", "fault": "jam"}, START)
    store, now = simulated_store(sim, [m.id for m in scene.machines])
    bindings = Bindings.compile(scene)
    state = bindings.evaluate(store, now)
    visuals = MachineVisuals(len(scene.machines))
    bindings.apply(visuals)
    selected = scene.machine_index["LTH-A1"]
    visuals.highlight[selected] = 1.0
    with HeadlessBackend(SIZE, samples=4) as backend:
        view = view_for_viewpoint(scene.viewpoint("line-a"), SIZE, geometry.bounds)
        renderer = Renderer(backend.ctx, geometry, scene.lights)
        overlays = Overlays(backend.ctx, scene, geometry, bindings, load_font(cache_dir=font_cache))
        try:
            overlays.update(store, state, view, now, selected)
            backend.render(renderer, [view], visuals, lambda views: overlays.draw(views, now))
            return backend.read_rgb()
        finally:
            overlays.release()
            renderer.release()
