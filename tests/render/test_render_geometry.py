"""Scene -> instanced batches, machine visuals layout and camera fitting (no GL)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.core.visuals import ROW, TEXTURE_WIDTH, MachineVisuals
from xrclient.render.camera import fit_view, overview, view_for_viewpoint
from xrclient.scene.geometry import FIXTURE, build_geometry, compose_many
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Transform, Viewpoint

from .helpers import box_mesh, scene_of


def test_machines_and_fixtures_group_by_asset_loading_each_once() -> None:
    scene = scene_of(
        [("box", (0.0, 0.0, 0.0)), ("tall", (3.0, 0.0, 0.0)), ("box", (6.0, 0.0, 0.0))],
        fixtures=[("floor", (0.0, -0.5, 0.0)), ("box", (0.0, 0.0, 9.0))],
    )
    meshes = {
        "box": box_mesh(),
        "tall": box_mesh((1.0, 4.0, 1.0)),
        "floor": box_mesh((20.0, 0.1, 20.0)),
    }
    loads: list[str] = []

    def load(asset: Asset) -> MeshData:
        loads.append(asset.name)
        return meshes[asset.name]

    geo = build_geometry(scene, load)
    assert sorted(loads) == ["box", "floor", "tall"]
    assert [b.asset for b in geo.batches] == ["box", "tall", "floor"]
    box = geo.batches[0]
    assert box.machine.tolist() == [0, 2, FIXTURE]
    assert box.matrices.shape == (3, 4, 4) and box.matrices.dtype == np.float32
    np.testing.assert_allclose(box.matrices[1], scene.machines[2].transform.matrix())
    assert geo.machine_count == 3
    assert geo.instance_count == 5
    assert geo.triangle_count == 5 * 12
    np.testing.assert_allclose(geo.machine_bounds[1], [[2.5, -2.0, -0.5], [3.5, 2.0, 0.5]])
    np.testing.assert_allclose(geo.bounds, [[-10.0, -2.0, -10.0], [10.0, 2.0, 10.0]])


def test_empty_scene_has_no_batches() -> None:
    geo = build_geometry(scene_of([]), lambda a: box_mesh())
    assert geo.batches == ()
    assert geo.machine_bounds.shape == (0, 2, 3)
    np.testing.assert_array_equal(geo.bounds, np.zeros((2, 3)))


def test_compose_many_matches_compose() -> None:
    rng = np.random.default_rng(7)
    transforms = [
        Transform(
            position=tuple(rng.normal(size=3)),
            rotation=tuple(rng.normal(size=4)),
            scale=tuple(rng.uniform(0.2, 3.0, size=3)),
        )
        for _ in range(20)
    ]
    expected = np.stack([t.matrix() for t in transforms])
    np.testing.assert_allclose(compose_many(transforms), expected, atol=1e-5)
    with pytest.raises(ValueError):
        compose_many([Transform(rotation=(0.0, 0.0, 0.0, 0.0))])


def test_visuals_views_write_the_upload_array() -> None:
    vis = MachineVisuals(1500)
    assert vis.texture_size == (TEXTURE_WIDTH, 2)
    assert vis.data.flags.c_contiguous and vis.data.dtype == np.float32
    assert vis.data.nbytes == TEXTURE_WIDTH * 2 * 16
    vis.set_tint([3, 1500 - 1], (1.0, 0.5, 0.0), 0.75)
    vis.emissive[1200] = (0.1, 0.2, 0.3)
    vis.highlight[1200] = 1.0
    texels = vis.data.reshape(2, TEXTURE_WIDTH, 4)  # as the texture sees it
    np.testing.assert_allclose(texels[0, 2 * 3], (1.0, 0.5, 0.0, 0.75))
    np.testing.assert_allclose(texels[1, 2 * (1499 - ROW)], (1.0, 0.5, 0.0, 0.75))
    np.testing.assert_allclose(texels[1, 2 * (1200 - ROW) + 1], (0.1, 0.2, 0.3, 1.0))
    vis.reset()
    assert not vis.data.any()
    assert MachineVisuals(0).data.shape == (ROW, 2, 4)
    with pytest.raises(ValueError):
        MachineVisuals(-1)


@pytest.mark.parametrize("aspect", [16 / 9, 1.0, 0.5])
def test_fit_view_frames_the_whole_box(aspect: float) -> None:
    bounds = np.array([[-10.0, 0.0, -4.0], [12.0, 3.0, 6.0]], dtype=np.float32)
    eye, target, near, far = fit_view(bounds, aspect, 60.0)
    view = math3d.look_at(eye, target)
    proj = math3d.perspective(60.0, aspect, near, far)
    ndc = math3d.transform_points(proj @ view, math3d.box_corners(bounds))
    assert np.abs(ndc).max() <= 1.0
    assert np.abs(ndc[:, :2]).max() > 0.85  # not lost in the middle
    assert np.abs(ndc[:, :2].max(axis=0) + ndc[:, :2].min(axis=0)).max() < 0.1  # centred
    assert eye[1] > bounds[1, 1]  # from above
    slack = (bounds[1] - bounds[0]) * 0.25
    assert np.all((bounds[0] - slack <= target) & (target <= bounds[1] + slack))
    assert math.isclose(target[1], 1.5, abs_tol=1e-4)  # pivot at the box centre height
    assert near < float(np.linalg.norm(np.subtract(target, eye))) < far


def test_views_from_viewpoints_see_the_whole_scene() -> None:
    bounds = np.array([[-50.0, 0.0, -50.0], [50.0, 10.0, 50.0]], dtype=np.float32)
    vp = Viewpoint(name="door", position=(45.0, 1.7, 45.0), target=(0.0, 1.0, 0.0), fov_deg=70.0)
    view = view_for_viewpoint(vp, (640, 480), bounds)
    assert view.viewport == (0, 0, 640, 480)
    np.testing.assert_allclose(view.eye_position, vp.position, atol=1e-4)
    far_corner = (-50.0, 10.0, -50.0)
    depth = math3d.transform_points(view.view_projection, [far_corner])[0, 2]
    assert -1.0 < depth < 1.0
    ov = overview(bounds, (640, 480))
    assert math.isclose(ov.aspect, 640 / 480)


def test_view_validates_its_matrices() -> None:
    eye = (1.0, 2.0, 3.0)
    view = View(math3d.look_at(eye, (0, 0, 0)), math3d.perspective(60, 1, 0.1, 10), (0, 0, 8, 8))
    np.testing.assert_allclose(view.eye_position, eye, atol=1e-5)
    with pytest.raises(ValueError):
        View(np.eye(3, dtype=np.float32), np.eye(4, dtype=np.float32), (0, 0, 8, 8))
    with pytest.raises(ValueError):
        View(np.eye(4, dtype=np.float32), np.eye(4, dtype=np.float32), (0, 0, 0, 8))
