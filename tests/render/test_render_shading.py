"""The mesh shading as cut down for software rasterizers, against the reference shading.

The reference (tests/render/reference/) is the mesh shader pair from before: world position
interpolated, every vector normalised with ``normalize``, the sRGB curve with ``pow``. The
renderer's own shaders must give the same image up to one 8-bit step here and there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import xrclient.render.gpu as gpu
from xrclient.backends.headless import HeadlessBackend
from xrclient.core.visuals import MachineVisuals
from xrclient.render.camera import view_for_viewpoint
from xrclient.render.renderer import Renderer
from xrclient.resources import scene_path
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.model import Light, Scene, Viewpoint
from xrclient.scene.schema import load_scene

from .helpers import RED, box_mesh, geometry_of, scene_of

REFERENCE = Path(__file__).resolve().parent / "reference"
SIZE = (320, 180)

Image = npt.NDArray[np.int16]


@pytest.fixture(scope="module")
def demo() -> tuple[Scene, SceneGeometry]:
    scene = load_scene(scene_path("demo-plant"))
    geometry, _ = load_geometry(scene, LoadLimits())
    return scene, geometry


@pytest.fixture(scope="module", params=[4, 0], ids=["msaa4", "msaa-off"])
def backend(request: pytest.FixtureRequest) -> Iterator[HeadlessBackend]:
    with HeadlessBackend(SIZE, samples=request.param) as b:
        yield b


def reference_renderer(
    monkeypatch: pytest.MonkeyPatch,
    backend: HeadlessBackend,
    geometry: SceneGeometry,
    lights: tuple[Light, ...],
) -> Renderer:
    """A renderer whose mesh programs are compiled from the reference shaders."""
    own = gpu.shader_source

    def source(name: str) -> str:
        if name in ("mesh.vert", "mesh.frag"):
            return (REFERENCE / name).read_text(encoding="utf-8")
        return own(name)

    with monkeypatch.context() as patch:
        patch.setattr(gpu, "shader_source", source)
        return Renderer(backend.ctx, geometry, lights)


def both_images(
    monkeypatch: pytest.MonkeyPatch,
    backend: HeadlessBackend,
    scene: Scene,
    geometry: SceneGeometry,
    visuals: MachineVisuals,
    *,
    srgb: bool = True,
) -> tuple[Image, Image]:
    view = view_for_viewpoint(scene.viewpoints[0], SIZE, geometry.bounds)
    images = []
    for renderer in (
        Renderer(backend.ctx, geometry, scene.lights),
        reference_renderer(monkeypatch, backend, geometry, scene.lights),
    ):
        try:
            renderer.srgb_output = srgb
            backend.render(renderer, [view], visuals)
            images.append(backend.read_rgb().astype(np.int16))
        finally:
            renderer.release()
    return images[0], images[1]


def assert_same_image(ours: Image, reference: Image) -> None:
    """At most two 8-bit steps anywhere, and few pixels off at all (about 1 % here: the
    sRGB fit and llvmpipe's own ``pow`` each round a little differently)."""
    diff = np.abs(ours - reference)
    assert diff.max() <= 2, diff.max()
    assert (diff.max(axis=2) > 0).mean() < 0.03
    assert diff.mean() < 0.02


def glowing_visuals(count: int) -> MachineVisuals:
    visuals = MachineVisuals(count)
    visuals.set_tint(0, RED)
    visuals.emissive[1] = (0.3, 0.05, 0.0)
    visuals.highlight[2] = 1.0
    return visuals


def test_demo_plant_matches_the_reference_shading(
    monkeypatch: pytest.MonkeyPatch,
    backend: HeadlessBackend,
    demo: tuple[Scene, SceneGeometry],
) -> None:
    scene, geometry = demo
    visuals = glowing_visuals(len(scene.machines))
    ours, reference = both_images(monkeypatch, backend, scene, geometry, visuals)
    assert (ours != ours[0, 0]).any(axis=2).mean() > 0.3  # the plant fills the view
    assert_same_image(ours, reference)


def test_demo_plant_matches_the_reference_in_linear_output(
    monkeypatch: pytest.MonkeyPatch,
    backend: HeadlessBackend,
    demo: tuple[Scene, SceneGeometry],
) -> None:
    scene, geometry = demo
    visuals = glowing_visuals(len(scene.machines))
    ours, reference = both_images(monkeypatch, backend, scene, geometry, visuals, srgb=False)
    assert_same_image(ours, reference)


def test_point_lights_match_the_reference_shading(
    monkeypatch: pytest.MonkeyPatch, backend: HeadlessBackend
) -> None:
    placed = [("box", (float(x), 0.0, float(z))) for x in (-2, 0, 2) for z in (-2, 0)]
    base = scene_of(placed)
    lights = (
        Light("ambient", intensity=0.1),
        Light("hemisphere", color=(0.7, 0.8, 1.0), ground=(0.3, 0.25, 0.2), intensity=0.5),
        Light("point", intensity=25.0, position=(0.0, 2.0, 2.0)),
        Light("point", color=(1.0, 0.6, 0.3), intensity=15.0, position=(-3.0, 1.0, -1.0)),
    )
    viewpoint = Viewpoint(name="v", position=(0.0, 4.0, 6.0), target=(0.0, 0.0, -1.0))
    scene = replace(base, lights=lights, viewpoints=(viewpoint,))
    geometry = geometry_of(scene, {"box": box_mesh((1.2, 1.0, 1.2))})
    visuals = glowing_visuals(len(placed))
    ours, reference = both_images(monkeypatch, backend, scene, geometry, visuals)
    assert (ours != ours[0, 0]).any(axis=2).mean() > 0.05
    assert_same_image(ours, reference)


def test_only_batches_with_a_glowing_machine_take_the_glow_program(
    backend: HeadlessBackend, demo: tuple[Scene, SceneGeometry]
) -> None:
    scene, geometry = demo
    renderer = Renderer(backend.ctx, geometry, scene.lights)
    try:
        order = [b.asset for b in renderer._all]
        assets = [scene.assets[m.asset].name for m in scene.machines]
        visuals = MachineVisuals(len(scene.machines))
        assert not any(renderer._glowing(visuals))
        assert not any(renderer._glowing(None))
        visuals.highlight[3] = 0.5
        visuals.emissive[10, 2] = 0.2
        flags = renderer._glowing(visuals)
        assert {a for a, f in zip(order, flags, strict=True) if f} == {assets[3], assets[10]}
        visuals.reset()
        visuals.set_tint(5, RED)  # a tint alone does not glow
        assert not any(renderer._glowing(visuals))
    finally:
        renderer.release()
