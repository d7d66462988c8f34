"""View-frustum culling in the renderer: the same pixels as drawing everything, less drawn.

The plant: 50 instanced box machines on a 10 x 5 grid, 5 machines taken from nodes of one
GLB whose rest (a finely tessellated 60 x 40 m floor) comes in spatial chunks, and 20
instanced pillars as fixtures. Every image is compared, byte for byte, with the same
renderer drawing everything (``culling=False``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh
from trimesh.exchange.gltf import export_glb

from xrclient.backends.headless import HeadlessBackend
from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.core.visuals import MachineVisuals
from xrclient.inspection import describe
from xrclient.render.renderer import FrameStats, Renderer
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene

from .helpers import BLUE, RED, Image, is_background

SCENE_HEAD = """
format = 1

[plant]
name = "Hall"

[assets.hall]
path = "hall.glb"

[assets.box]
path = "box.stl"

[assets.pillar]
path = "pillar.stl"

[[lines]]
id = "A"
"""

#: the node machines' x positions along z = 15 in the hall file
NODE_X = (-20.0, -10.0, 0.0, 10.0, 20.0)
FLOOR_CELLS = (200, 150)  # 60,000 triangles: 6 chunks


def floor_mesh() -> trimesh.Trimesh:
    """A flat 60 x 40 m floor of FLOOR_CELLS quads, two triangles each, facing up."""
    nx, nz = FLOOR_CELLS
    xs, zs = np.meshgrid(np.linspace(-30, 30, nx + 1), np.linspace(-20, 20, nz + 1))
    vertices = np.stack([xs.ravel(), np.full(xs.size, -0.01), zs.ravel()], axis=1)
    i = (np.arange(nz)[:, None] * (nx + 1) + np.arange(nx)[None]).ravel()
    quads = np.stack([i, i + nx + 1, i + 1, i + 1, i + nx + 1, i + nx + 2], axis=1)
    return trimesh.Trimesh(vertices, quads.reshape(-1, 3), process=False)


def hall_glb() -> bytes:
    s = trimesh.Scene()
    g = s.graph
    g.update(frame_from=g.base_frame, frame_to="Hall", matrix=np.eye(4))
    g.update(frame_from="Hall", frame_to="Line", matrix=np.eye(4))
    for k, x in enumerate(NODE_X):
        s.add_geometry(
            trimesh.creation.box((2.0, 2.0, 2.0)),
            node_name=f"Cell_{k}",
            geom_name=f"cell{k}",
            parent_node_name="Line",
            transform=trimesh.transformations.translation_matrix([x, 1.0, 15.0]),
        )
    s.add_geometry(floor_mesh(), node_name="Floor", geom_name="floor", parent_node_name="Hall")
    return export_glb(s)


def write_plant(folder: Path) -> Path:
    (folder / "hall.glb").write_bytes(hall_glb())
    trimesh.creation.box((1.0, 1.0, 1.0)).export(folder / "box.stl")
    trimesh.creation.cylinder(radius=0.3, height=4.0, sections=12).export(folder / "pillar.stl")
    parts = [SCENE_HEAD]
    for i in range(50):
        x, z = -22.5 + 5.0 * (i % 10), -10.0 + 5.0 * (i // 10)
        parts.append(
            f'[[machines]]\nid = "B{i}"\ntype = "t"\nasset = "box"\nline = "A"\n'
            f"transform = {{ position = [{x}, 0.5, {z}] }}\n"
        )
    for k in range(len(NODE_X)):
        parts.append(
            f'[[machines]]\nid = "N{k}"\ntype = "t"\nasset = "hall"\nline = "A"\n'
            f'node = "Cell_{k}"\n'
        )
    for j in range(20):
        x, z = -27.0 + 54.0 * (j % 2), -18.0 + 4.0 * (j // 2)
        parts.append(
            f'[[fixtures]]\nid = "P{j}"\nasset = "pillar"\n'
            f"transform = {{ position = [{x}, 2, {z}] }}\n"
        )
    (folder / "plant.toml").write_text("\n".join(parts))
    return folder / "plant.toml"


@pytest.fixture(scope="module")
def plant_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plant(tmp_path_factory.mktemp("culling"))


@pytest.fixture(scope="module")
def plant(plant_file: Path) -> tuple[Scene, SceneGeometry]:
    scene = load_scene(plant_file)
    geometry, _ = load_geometry(scene, LoadLimits())
    return scene, geometry


@pytest.fixture
def renderers(
    headless: HeadlessBackend, plant: tuple[Scene, SceneGeometry]
) -> Iterator[tuple[Renderer, Renderer]]:
    _, geometry = plant
    on, off = Renderer(headless.ctx, geometry), Renderer(headless.ctx, geometry, culling=False)
    assert on.culling and not off.culling
    yield on, off
    on.release()
    off.release()


def visuals_for(scene: Scene) -> MachineVisuals:
    """Tints, a highlight and an emissive machine spread over the plant."""
    visuals = MachineVisuals(len(scene.machines))
    visuals.set_tint([0, 9, 23, 49], RED)
    visuals.set_tint([51, 53], BLUE)
    visuals.highlight[[4, 45]] = 1.0
    visuals.emissive[[30, 52]] = (0.4, 0.3, 0.0)
    return visuals


def shot(
    headless: HeadlessBackend,
    renderer: Renderer,
    views: list[View],
    visuals: MachineVisuals | None = None,
) -> tuple[Image, FrameStats]:
    stats = headless.render(renderer, views, visuals)
    return headless.read_rgb(), stats


#: (eye, target, fov): the whole plant; a tenth of it; away from it (up at the sky)
CAMERAS = {
    "overview": ((0.0, 45.0, 45.0), (0.0, 0.0, 0.0), 60.0),
    "corner": ((-20.0, 14.0, -12.0), (-20.0, 0.0, -14.0), 50.0),
    "close": ((12.0, 2.5, 8.0), (18.0, 0.5, 15.0), 50.0),
    "sky": ((0.0, 5.0, 0.0), (0.3, 50.0, 0.2), 60.0),
    "outward": ((0.0, 1.5, -21.0), (0.0, 1.6, -60.0), 50.0),
}


def camera(headless: HeadlessBackend, name: str) -> View:
    eye, target, fov = CAMERAS[name]
    return headless.view_from(eye, target, fov_deg=fov, near=0.1, far=200.0)


def test_geometry_has_instanced_batches_node_machines_and_floor_chunks(
    plant: tuple[Scene, SceneGeometry], plant_file: Path
) -> None:
    _, geometry = plant
    names = [b.asset for b in geometry.batches]
    assert names.count("hall#rest") == 6  # the floor, in spatial chunks
    assert next(b for b in geometry.batches if b.asset == "box").instance_count == 50
    assert next(b for b in geometry.batches if b.asset == "pillar").instance_count == 20
    report = describe(plant_file, LoadLimits())
    assert report["node_assets"] == {
        "hall": {"nodes_claimed": 5, "rest_triangles": 2 * FLOOR_CELLS[0] * FLOOR_CELLS[1]}
    }


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_culled_frames_match_unculled_pixels(
    headless: HeadlessBackend,
    plant: tuple[Scene, SceneGeometry],
    renderers: tuple[Renderer, Renderer],
    name: str,
) -> None:
    scene, geometry = plant
    on, off = renderers
    view = camera(headless, name)
    visuals = visuals_for(scene)
    img_on, stats_on = shot(headless, on, [view], visuals)
    img_off, stats_off = shot(headless, off, [view], visuals)
    np.testing.assert_array_equal(img_on, img_off)
    total = geometry.instance_count
    assert stats_off.instances == total and stats_off.culled == 0
    assert stats_off.triangles == geometry.triangle_count
    assert stats_on.instances + stats_on.culled == total
    if name == "overview":
        assert stats_on.instances == total
        assert not is_background(img_on).all()
    elif name in ("corner", "close"):  # a tenth of the plant or so
        assert stats_on.instances <= total // 5
        assert stats_on.triangles <= geometry.triangle_count // 2
        assert stats_on.draw_calls < stats_off.draw_calls
        assert not is_background(img_on).all()
    else:  # looking away: nothing drawn
        assert (stats_on.instances, stats_on.triangles, stats_on.draw_calls) == (0, 0, 0)
        assert stats_on.culled == total
        assert is_background(img_on, tol=0).all()


def test_a_tenth_of_the_plant_compacts_the_instanced_boxes(
    headless: HeadlessBackend, renderers: tuple[Renderer, Renderer]
) -> None:
    on, _ = renderers
    _, stats = shot(headless, on, [camera(headless, "corner")])
    # some of the 50 boxes were drawn, from compacted instance buffers
    assert 0 < stats.instances < 20
    assert on.instance_writes >= 1


def test_compaction_is_written_once_per_visible_set(
    headless: HeadlessBackend,
    plant: tuple[Scene, SceneGeometry],
    renderers: tuple[Renderer, Renderer],
) -> None:
    scene, _ = plant
    on, off = renderers
    visuals = visuals_for(scene)
    corner = camera(headless, "corner")
    shot(headless, on, [corner], visuals)
    written = on.instance_writes
    assert written >= 1
    img, _ = shot(headless, on, [corner], visuals)  # the same frame again: no rewrite
    assert on.instance_writes == written
    np.testing.assert_array_equal(img, shot(headless, off, [corner], visuals)[0])
    # the camera moves: other boxes are seen, the buffers are rewritten
    close = camera(headless, "close")
    img, _ = shot(headless, on, [close], visuals)
    assert on.instance_writes > written
    np.testing.assert_array_equal(img, shot(headless, off, [close], visuals)[0])
    # back to the overview: every instance again, restored in order
    overview = camera(headless, "overview")
    img, stats = shot(headless, on, [overview], visuals)
    assert stats.culled == 0
    np.testing.assert_array_equal(img, shot(headless, off, [overview], visuals)[0])
    written = on.instance_writes
    shot(headless, on, [overview], visuals)
    assert on.instance_writes == written
    # culling switched off at run time draws everything from full buffers
    shot(headless, on, [corner], visuals)
    on.culling = False
    img, stats = shot(headless, on, [close], visuals)
    assert stats.culled == 0
    np.testing.assert_array_equal(img, shot(headless, off, [close], visuals)[0])


def eye_pair(headless: HeadlessBackend, names: tuple[str, str], ipd: float = 0.0) -> list[View]:
    """Two views side by side in the backend's framebuffer, each half the width."""
    w, h = headless.size
    views = []
    for k, name in enumerate(names):
        eye, target, fov = CAMERAS[name]
        shift = (-0.5 + k) * ipd
        eye = (eye[0] + shift, eye[1], eye[2])
        views.append(
            View(
                view=math3d.look_at(eye, target),
                projection=math3d.perspective(fov, (w / 2) / h, 0.1, 200.0),
                viewport=(k * w // 2, 0, w // 2, h),
            )
        )
    return views


@pytest.mark.parametrize(
    "names",
    [("corner", "corner"), ("corner", "close"), ("close", "sky")],
    ids=["stereo", "two-places", "one-eye-away"],
)
def test_two_views_match_unculled_pixels_in_both_eyes(
    headless: HeadlessBackend,
    plant: tuple[Scene, SceneGeometry],
    renderers: tuple[Renderer, Renderer],
    names: tuple[str, str],
) -> None:
    scene, geometry = plant
    on, off = renderers
    views = eye_pair(headless, names, ipd=0.064 if names[0] == names[1] else 0.0)
    visuals = visuals_for(scene)
    img_on, stats_on = shot(headless, on, views, visuals)
    img_off, stats_off = shot(headless, off, views, visuals)
    np.testing.assert_array_equal(img_on, img_off)
    assert stats_off.culled == 0
    half = headless.size[0] // 2
    assert not is_background(img_on[:, :half]).all()  # the left eye sees something
    assert stats_on.views == 2
    total = geometry.instance_count
    assert stats_on.instances < total and stats_on.culled > total
    if names[1] == "sky":  # the right eye draws nothing
        assert is_background(img_on[:, half:], tol=0).all()
    # per view, each eye's own frame culls at least as much as the pair
    singles = [shot(headless, on, [v], visuals)[1] for v in views]
    assert sum(s.culled for s in singles) >= stats_on.culled
