"""The shipped demo plant, loaded from its real files and rendered headlessly."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from xrclient.backends.headless import HeadlessBackend
from xrclient.core import math3d
from xrclient.core.visuals import MachineVisuals
from xrclient.render.camera import view_for_viewpoint
from xrclient.render.renderer import Renderer
from xrclient.resources import scene_path
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene

SIZE = (480, 270)


@pytest.fixture(scope="module")
def demo() -> tuple[Scene, SceneGeometry]:
    scene = load_scene(scene_path("demo-plant"))
    geometry, cache = load_geometry(scene, LoadLimits())
    assert cache.loads == len({m.asset for m in scene.machines} | {f.asset for f in scene.fixtures})
    return scene, geometry


@pytest.fixture(scope="module")
def backend() -> Iterator[HeadlessBackend]:
    with HeadlessBackend(SIZE, samples=4) as b:
        yield b


def test_demo_scene_meets_the_brief(demo: tuple[Scene, SceneGeometry]) -> None:
    scene, geometry = demo
    assert len(scene.lines) >= 3 and len(scene.machines) >= 40
    kinds = {m.type for m in scene.machines}
    assert {"cnc_mill", "lathe", "press", "conveyor", "tank", "agv"} <= kinds
    assert {"overview", "line-a", "line-b", "line-c"} <= {vp.name for vp in scene.viewpoints}
    # instanced: one batch per distinct asset, many instances per batch
    assert len(geometry.batches) == len({b.asset for b in geometry.batches})
    assert geometry.instance_count == len(scene.machines) + len(scene.fixtures)


def test_overview_covers_a_plausible_part_of_the_image(
    demo: tuple[Scene, SceneGeometry], backend: HeadlessBackend
) -> None:
    scene, geometry = demo
    renderer = Renderer(backend.ctx, geometry, scene.lights)
    try:
        view = view_for_viewpoint(scene.viewpoint("overview"), SIZE, geometry.bounds)
        backend.render(renderer, [view])
        image = backend.read_rgb().astype(int)
    finally:
        renderer.release()
    sky = np.array([round(c * 255) for c in (0.62, 0.70, 0.78)])
    plant = np.abs(image - sky).sum(axis=2) > 12
    assert 0.35 < plant.mean() < 0.98, plant.mean()
    assert image.std() > 20  # shaded detail, not a flat silhouette


def test_tinting_one_real_machine_marks_exactly_its_screen_area(
    demo: tuple[Scene, SceneGeometry], backend: HeadlessBackend
) -> None:
    scene, geometry = demo
    target = scene.machine_index[next(m.id for m in scene.machines if m.type == "tank")]
    renderer = Renderer(backend.ctx, geometry, scene.lights)
    visuals = MachineVisuals(len(scene.machines))
    try:
        view = view_for_viewpoint(scene.viewpoint("overview"), SIZE, geometry.bounds)
        backend.render(renderer, [view], visuals)
        before = backend.read_rgb().astype(int)
        visuals.tint[target] = (0.0, 1.0, 0.0, 1.0)  # pure green, full strength
        backend.render(renderer, [view], visuals)
        after = backend.read_rgb().astype(int)
    finally:
        renderer.release()
    changed = np.abs(after - before).sum(axis=2) > 30
    greenish = (after[..., 1] > after[..., 0] + 40) & (after[..., 1] > after[..., 2] + 40)
    assert (changed & greenish).sum() > 20, "the tinted tank must show green pixels"
    # every changed pixel lies inside the projection of the tank's world bounding box
    corners = math3d.box_corners(geometry.machine_bounds[target])
    ndc = math3d.transform_points(view.view_projection, corners)
    width, height = SIZE
    xs = (ndc[:, 0] + 1) / 2 * width
    ys = (1 - (ndc[:, 1] + 1) / 2) * height
    x0, x1 = int(np.floor(xs.min())) - 2, int(np.ceil(xs.max())) + 2
    y0, y1 = int(np.floor(ys.min())) - 2, int(np.ceil(ys.max())) + 2
    inside = np.zeros_like(changed)
    inside[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    assert changed.any()
    assert not (changed & ~inside).any(), "pixels changed outside the tank's screen box"
