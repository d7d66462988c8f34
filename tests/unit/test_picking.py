"""Picking machines with rays: small scenes of real meshes and the shipped demo plant."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import trimesh

from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.resources import scene_path
from xrclient.scene.geometry import FIXTURE, SceneGeometry, build_geometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Fixture, Line, Machine, Plant, Scene, Transform
from xrclient.scene.picking import Hit, Picker, Ray, ray_from_pixel, ray_from_pose
from xrclient.scene.schema import load_scene

Vec3 = tuple[float, float, float]
F64 = npt.NDArray[np.float64]
# (asset, position, rotation quaternion x y z w, scale)
Placed = tuple[str, Vec3, tuple[float, float, float, float], Vec3]
IDENTITY = (0.0, 0.0, 0.0, 1.0)
ONE = (1.0, 1.0, 1.0)


def mesh_of(tm: trimesh.Trimesh) -> MeshData:
    count = len(tm.vertices)
    return MeshData(
        name="mesh",
        positions=np.asarray(tm.vertices, dtype=np.float32),
        normals=np.zeros((count, 3), dtype=np.float32),
        colors=np.ones((count, 4), dtype=np.float32),
        indices=np.asarray(tm.faces, dtype=np.uint32),
    )


def box(size: Vec3 = ONE, centre: Vec3 = (0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    tm = trimesh.creation.box(extents=size)
    tm.apply_translation(centre)
    return tm


def l_shape() -> trimesh.Trimesh:
    """A 2 x 1 x 1 bar (y 0..1) with a 1 x 1 x 1 block on its left half (x -1..0, y 1..2):
    its bounding box's top-right quarter (x 0..1, y 1..2) is empty."""
    return trimesh.util.concatenate(
        [box((2.0, 1.0, 1.0), (0.0, 0.5, 0.0)), box(ONE, (-0.5, 1.5, 0.0))]
    )


def points_mesh(points: npt.ArrayLike) -> MeshData:
    pos = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    return MeshData(
        name="points",
        positions=pos,
        normals=np.zeros_like(pos),
        colors=np.ones((len(pos), 4), dtype=np.float32),
        indices=np.zeros((0, 3), dtype=np.uint32),
        primitive="points",
    )


def placed(
    asset: str,
    position: Vec3,
    rotation: Sequence[float] = IDENTITY,
    scale: Sequence[float] = ONE,
) -> Placed:
    r = [float(c) for c in rotation]
    s = [float(c) for c in scale]
    return (asset, position, (r[0], r[1], r[2], r[3]), (s[0], s[1], s[2]))


def geometry(
    meshes: dict[str, MeshData | trimesh.Trimesh],
    machines: Sequence[Placed],
    fixtures: Sequence[Placed] = (),
) -> SceneGeometry:
    data = {k: v if isinstance(v, MeshData) else mesh_of(v) for k, v in meshes.items()}

    def transform(p: Placed) -> Transform:
        return Transform(position=p[1], rotation=p[2], scale=p[3])

    scene = Scene(
        source=Path("picking.toml"),
        plant=Plant(name="picking"),
        assets={n: Asset(name=n, path=Path(f"{n}.glb")) for n in data},
        lines=(Line(id="L", name="line"),),
        machines=tuple(
            Machine(f"M{i}", f"M{i}", "t", p[0], "L", "", transform(p))
            for i, p in enumerate(machines)
        ),
        fixtures=tuple(Fixture(f"F{i}", p[0], transform(p)) for i, p in enumerate(fixtures)),
    )
    return build_geometry(scene, lambda asset: data[asset.name])


def down_z(x: float, y: float, z: float = 10.0) -> Ray:
    return Ray((x, y, z), (0.0, 0.0, -1.0))


def check_hit(hit: Hit | None, machine: int, distance: float, normal: Vec3 | None) -> None:
    assert hit is not None
    assert hit.machine == machine
    assert hit.distance == pytest.approx(distance, abs=1e-5)
    if normal is None:
        assert hit.normal is None
    else:
        assert hit.normal is not None
        np.testing.assert_allclose(hit.normal, normal, atol=1e-6)


# --- small scenes -------------------------------------------------------------------------


def row_of_boxes() -> SceneGeometry:
    """Unit boxes centred at x = 0, 3, 6 (y and z centred on 0)."""
    return geometry({"box": box()}, [placed("box", (3.0 * i, 0.0, 0.0)) for i in range(3)])


def test_ray_through_a_machine_centre_picks_it() -> None:
    picker = Picker(row_of_boxes())
    for i in range(3):
        hit = picker.pick(down_z(3.0 * i, 0.0))
        check_hit(hit, i, 9.5, (0.0, 0.0, 1.0))
        assert hit is not None
        np.testing.assert_allclose(hit.point, (3.0 * i, 0.0, 0.5), atol=1e-6)
    # the same machines from behind, from the side and from above
    check_hit(picker.pick(Ray((3.0, 0.0, -7.0), (0.0, 0.0, 1.0))), 1, 6.5, (0.0, 0.0, -1.0))
    check_hit(picker.pick(Ray((-5.0, 0.2, 0.1), (1.0, 0.0, 0.0))), 0, 4.5, (-1.0, 0.0, 0.0))
    check_hit(picker.pick(Ray((6.2, 4.0, -0.3), (0.0, -1.0, 0.0))), 2, 3.5, (0.0, 1.0, 0.0))


def test_a_repeated_ray_is_answered_from_the_recent_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A controller held still asks the same ray every frame: it is cast once; another
    limit, another ray or the same ray after others pushed it out is cast again."""
    picker = Picker(row_of_boxes())
    casts: list[Ray] = []
    real = Picker._cast

    def counting(self: Picker, ray: Ray, max_distance: float) -> Hit | None:
        casts.append(ray)
        return real(self, ray, max_distance)

    monkeypatch.setattr(Picker, "_cast", counting)
    first = picker.pick(down_z(3.0, 0.0))
    check_hit(first, 1, 9.5, (0.0, 0.0, 1.0))
    for _ in range(5):
        assert picker.pick(down_z(3.0, 0.0)) == first
    assert len(casts) == 1
    assert picker.pick(down_z(3.0, 0.0), 5.0) is None  # a shorter laser: cast again
    assert picker.pick(down_z(1.5, 0.0)) is None  # between the boxes
    assert len(casts) == 3
    # -0.0 and 0.0 are different bits: not taken for one another
    check_hit(picker.pick(Ray((3.0, 0.0, 10.0), (-0.0, 0.0, -1.0))), 1, 9.5, (0.0, 0.0, 1.0))
    assert len(casts) == 4
    for i in range(Picker.RECENT):  # others push the first ray out
        picker.pick(down_z(0.1 * i, 0.0))
    check_hit(picker.pick(down_z(3.0, 0.0)), 1, 9.5, (0.0, 0.0, 1.0))
    assert len(casts) == 5 + Picker.RECENT


def test_ray_through_a_gap_or_past_everything_picks_nothing() -> None:
    picker = Picker(row_of_boxes())
    for ray in (
        down_z(1.5, 0.0),  # between two boxes
        down_z(4.6, 0.3),
        down_z(0.0, 0.8),  # above the row
        Ray((-5.0, 0.0, 0.0), (-1.0, 0.0, 0.0)),  # pointing away
        Ray((-5.0, 2.0, 0.0), (1.0, 0.0, 0.0)),  # parallel to the row, above it
    ):
        assert picker.pick(ray) is None
        assert picker.cast(ray) is None


def test_nearer_of_two_overlapping_machines_wins() -> None:
    # boxes overlap in z (A: -0.5..0.5, B: -1.1..-0.1, B half a metre lower)
    for order in ((0, 1), (1, 0)):
        spots = [(0.0, 0.0, 0.0), (0.0, -0.5, -0.6)]
        geo = geometry({"box": box()}, [placed("box", spots[k]) for k in order])
        picker = Picker(geo)
        a, b = order.index(0), order.index(1)
        check_hit(picker.pick(down_z(0.0, -0.2)), a, 9.5, (0.0, 0.0, 1.0))
        check_hit(picker.pick(Ray((0.0, -0.2, -10.0), (0.0, 0.0, 1.0))), b, 8.9, (0, 0, -1))
        # below A's bottom only B is there
        check_hit(picker.pick(down_z(0.0, -0.8)), b, 10.1, (0.0, 0.0, 1.0))


def test_machine_behind_a_wall_is_not_picked() -> None:
    geo = geometry(
        {"box": box(), "wall": box((4.0, 3.0, 0.2))},
        [placed("box", (0.0, 0.0, 0.0))],
        fixtures=[placed("wall", (0.0, 0.0, 3.0))],
    )
    picker = Picker(geo)
    ray = down_z(0.0, 0.0)
    assert picker.pick(ray) is None
    wall = picker.cast(ray)
    check_hit(wall, FIXTURE, 6.9, (0.0, 0.0, 1.0))
    # from between the wall and the machine, or past the wall's edge, the machine is picked
    check_hit(picker.pick(down_z(0.0, 0.0, 2.0)), 0, 1.5, (0.0, 0.0, 1.0))
    past = Ray((8.0, 0.0, 10.0), (-7.6, 0.0, -9.5))  # passes x = 2.5 at the wall
    hit = picker.pick(past)
    assert hit is not None and hit.machine == 0
    # a limit short of the wall sees nothing at all
    assert picker.cast(ray, max_distance=6.0) is None


def test_empty_corner_of_a_bounding_box_does_not_pick_the_machine() -> None:
    geo = geometry(
        {"l": l_shape(), "box": box()},
        [placed("l", (0.0, 0.0, 0.0)), placed("box", (0.5, 1.5, -3.0))],
    )
    lo, hi = geo.machine_bounds[0]
    np.testing.assert_allclose([lo, hi], [[-1.0, 0.0, -0.5], [1.0, 2.0, 0.5]])
    picker = Picker(geo)
    # (0.5, 1.5) lies inside the L's box but in its empty quarter: the box behind is picked
    check_hit(picker.pick(down_z(0.5, 1.5)), 1, 12.5, (0.0, 0.0, 1.0))
    check_hit(picker.pick(down_z(-0.5, 1.5)), 0, 9.5, (0.0, 0.0, 1.0))
    check_hit(picker.pick(down_z(0.5, 0.5)), 0, 9.5, (0.0, 0.0, 1.0))
    # nothing behind the corner: a miss
    assert (
        Picker(geometry({"l": l_shape()}, [placed("l", (0.0, 0.0, 0.0))])).pick(down_z(0.5, 1.5))
        is None
    )


def test_rotated_and_scaled_instances() -> None:
    yaw90 = (0.0, math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4))
    # a 4 x 1 x 0.5 slab turned a quarter about Y: 0.5 wide in x, 4 long in z
    geo = geometry({"box": box()}, [placed("box", (0.0, 0.0, 0.0), yaw90, (4.0, 1.0, 0.5))])
    np.testing.assert_allclose(geo.machine_bounds[0], [[-0.25, -0.5, -2], [0.25, 0.5, 2]], 1e-6)
    picker = Picker(geo)
    check_hit(picker.pick(down_z(0.0, 0.0)), 0, 8.0, (0.0, 0.0, 1.0))
    check_hit(picker.pick(down_z(0.2, 0.4)), 0, 8.0, (0.0, 0.0, 1.0))
    assert picker.pick(down_z(0.3, 0.0)) is None  # inside the unturned slab, outside this one
    check_hit(picker.pick(Ray((10.0, 0.0, 1.5), (-1.0, 0.0, 0.0))), 0, 9.75, (1.0, 0.0, 0.0))
    # tilted 30 degrees about Z: the top face's normal tilts with it (inverse transpose)
    tilt = math3d.euler_quat((0.0, 0.0, 30.0))
    geo = geometry({"box": box()}, [placed("box", (0.0, 0.0, 0.0), tilt, (3.0, 0.5, 1.0))])
    hit = Picker(geo).pick(Ray((0.0, 5.0, 0.0), (0.0, -1.0, 0.0)))
    assert hit is not None
    assert hit.distance == pytest.approx(5.0 - 0.25 / math.cos(math.radians(30.0)), abs=1e-5)
    assert hit.normal is not None
    np.testing.assert_allclose(hit.normal, (-0.5, math.sqrt(3.0) / 2.0, 0.0), atol=1e-6)


def test_ray_starting_inside_a_box() -> None:
    geo = geometry(
        {"box": box(), "l": l_shape()},
        [placed("box", (0.0, 0.0, 0.0)), placed("box", (3.0, 0.0, 0.0)), placed("l", (0, 0, 5))],
    )
    picker = Picker(geo)
    # from the centre of machine 0 outwards: its own wall, seen from inside, 0.5 away
    check_hit(picker.pick(Ray((0.0, 0.0, 0.0), (1.0, 0.0, 0.0))), 0, 0.5, (-1.0, 0.0, 0.0))
    # from inside the L's box, in its empty quarter, toward machine 1: that machine
    hit = picker.pick(Ray((0.5, 1.5, 5.0), (2.5, -1.5, -5.0)))
    assert hit is not None and hit.machine == 1


def test_point_cloud_machines_are_hit_at_their_box_and_do_not_occlude_as_fixtures() -> None:
    rng = np.random.default_rng(3)
    cloud = points_mesh(rng.uniform(-0.5, 0.5, (500, 3)))
    hall = points_mesh(rng.uniform(-50.0, 50.0, (500, 3)))
    lo, hi = cloud.bounds
    geo = geometry(
        {"cloud": cloud, "hall": hall, "box": box()},
        [placed("cloud", (5.0, 0.0, 0.0)), placed("box", (0.0, 0.0, 0.0))],
        fixtures=[placed("hall", (0.0, 0.0, 0.0))],
    )
    picker = Picker(geo)
    assert picker.instance_count == 2  # the point-cloud fixture takes no part
    check_hit(picker.pick(down_z(5.0, 0.0)), 0, 10.0 - float(hi[2]), (0.0, 0.0, 1.0))
    check_hit(picker.pick(Ray((5.0, 0.0, 0.0), (0.0, 0.0, -1.0))), 0, 0.0, None)
    check_hit(picker.pick(Ray((0.0, -9.0, 0.0), (0.0, 1.0, 0.0))), 1, 8.5, (0.0, -1.0, 0.0))
    assert picker.pick(down_z(5.0, float(lo[1]) - 0.01)) is None


def test_degenerate_triangles_bad_indices_and_grazing_rays_are_harmless() -> None:
    positions = np.array(
        [
            [0, 0, 0],
            [1, 0, 0],
            [0, 1, 0],
            [2, 2, 0],
            [2, 2, 0],
            [3, 3, 0],
            [np.nan, 0, 0],
            [1e30, 0, 0],
            [0, -1e30, 0],
        ],
        dtype=np.float32,
    )
    mesh = MeshData(
        name="odd",
        positions=positions,
        normals=np.zeros_like(positions),
        colors=np.ones((len(positions), 4), dtype=np.float32),
        # a real triangle, a repeated corner, three collinear corners, a NaN corner, an
        # index past the end and corners far beyond any plant
        indices=np.array(
            [[0, 1, 2], [3, 4, 5], [0, 3, 5], [6, 1, 2], [0, 1, 99], [7, 8, 0]], dtype=np.uint32
        ),
    )
    picker = Picker(geometry({"odd": mesh}, [placed("odd", (0.0, 0.0, 0.0))]))
    check_hit(picker.pick(down_z(0.2, 0.2)), 0, 10.0, (0.0, 0.0, 1.0))
    assert picker.pick(down_z(2.5, 2.5)) is None  # only degenerate triangles there
    assert picker.pick(Ray((-1.0, 0.2, 0.0), (1.0, 0.0, 0.0))) is None  # in the plane
    assert picker.pick(Ray((-1.0, 0.2, 1e-9), (1.0, 0.0, 0.0))) is None  # just above it
    assert picker.pick(down_z(0.2, 0.2), max_distance=9.99) is None
    check_hit(picker.pick(down_z(0.2, 0.2), max_distance=10.0), 0, 10.0, (0.0, 0.0, 1.0))
    check_hit(picker.pick(down_z(0.2, 0.2), max_distance=1e300), 0, 10.0, (0.0, 0.0, 1.0))
    assert picker.pick(down_z(5e8, -5e8)) is None  # inside the far-flung triangle's span


def test_flat_instances_and_empty_scenes_take_no_part() -> None:
    geo = geometry(
        {"box": box()},
        [placed("box", (0.0, 0.0, 0.0), scale=(1.0, 0.0, 1.0)), placed("box", (3.0, 0, 0))],
    )
    picker = Picker(geo)
    assert picker.instance_count == 1
    assert picker.pick(Ray((0.0, 5.0, 0.0), (0.0, -1.0, 0.0))) is None
    check_hit(picker.pick(down_z(3.0, 0.0)), 1, 9.5, (0.0, 0.0, 1.0))
    empty = Picker(geometry({}, []))
    assert empty.instance_count == 0 and empty.pick(down_z(0.0, 0.0)) is None


def test_bad_rays_and_limits_are_refused() -> None:
    for origin, direction in (
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        ((math.nan, 0.0, 0.0), (1.0, 0.0, 0.0)),
        ((0.0, 0.0, 0.0), (math.inf, 0.0, 0.0)),
        ((1e12, 0.0, 0.0), (1.0, 0.0, 0.0)),
        ((0.0, 0.0), (1.0, 0.0, 0.0)),
    ):
        with pytest.raises(ValueError):
            Ray(origin, direction)  # type: ignore[arg-type]  # a malformed ray on purpose
    picker = Picker(row_of_boxes())
    for limit in (-1.0, math.nan):
        with pytest.raises(ValueError, match="max_distance"):
            picker.pick(down_z(0.0, 0.0), max_distance=limit)
    ray = Ray((1.0, 2.0, 3.0), (0.0, 3.0, -4.0))
    assert ray.direction == pytest.approx((0.0, 0.6, -0.8))
    assert ray.at(5.0) == pytest.approx((1.0, 5.0, -1.0))


def test_picks_match_a_brute_force_search_over_every_triangle() -> None:
    rng = np.random.default_rng(11)
    shapes: dict[str, MeshData | trimesh.Trimesh] = {
        "box": box(),
        "ball": trimesh.creation.icosphere(subdivisions=2, radius=0.7),
        "drum": trimesh.creation.cylinder(radius=0.5, height=1.2, sections=24),
        "l": l_shape(),
        "wall": box((12.0, 3.0, 0.2)),
    }
    machines = []
    for i in range(16):
        quat = rng.normal(size=4)
        scale = rng.uniform(0.4, 1.6, 3)
        spot = (float(i % 4) * 2.5 - 4.0, float(rng.uniform(0.0, 1.0)), float(i // 4) * 2.5 - 4.0)
        machines.append(placed(["box", "ball", "drum", "l"][i % 4], spot, quat, tuple(scale)))
    fixtures = [placed("wall", (0.0, 1.0, 5.5)), placed("wall", (0.0, 1.0, -5.5))]
    geo = geometry(shapes, machines, fixtures)
    world, owner = world_triangles(geo)
    pickers = [Picker(geo), Picker(geo, chunk=8, whole=0)]  # whole meshes and chunked
    hits = 0
    for _ in range(300):
        origin = rng.normal(size=3)
        origin = origin / np.linalg.norm(origin) * 15.0
        target = rng.uniform((-6.0, -0.5, -6.0), (6.0, 2.5, 6.0))
        ray = Ray(tuple(origin), tuple(target - origin))
        expected = brute_force(world, owner, ray)
        for picker in pickers:
            hit = picker.cast(ray)
            if expected is None:
                assert hit is None
            else:
                assert hit is not None
                assert hit.machine == expected[0]
                assert hit.distance == pytest.approx(expected[1], rel=1e-9, abs=1e-9)
        hits += expected is not None
    assert 150 < hits < 300  # both hits (machines, walls) and misses were tried


def world_triangles(geo: SceneGeometry) -> tuple[F64, npt.NDArray[np.int32]]:
    tris: list[F64] = []
    owners: list[npt.NDArray[np.int32]] = []
    for batch in geo.batches:
        local = batch.mesh.positions.astype(np.float64)[batch.mesh.indices]  # (T, 3, 3)
        for mat, machine in zip(batch.matrices.astype(np.float64), batch.machine, strict=True):
            tris.append(local @ mat[:3, :3].T + mat[:3, 3])
            owners.append(np.full(len(local), machine, dtype=np.int32))
    return np.concatenate(tris), np.concatenate(owners)


def brute_force(world: F64, owner: npt.NDArray[np.int32], ray: Ray) -> tuple[int, float] | None:
    """Textbook Moller-Trumbore in world space over every triangle of every instance."""
    o, d = np.asarray(ray.origin), np.asarray(ray.direction)
    a, b, c = world[:, 0], world[:, 1], world[:, 2]
    e1, e2 = b - a, c - a
    p = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-12
    inv = np.divide(1.0, det, out=np.zeros_like(det), where=ok)
    s = o - a
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, e1)
    v = (q @ d) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    ok &= (u >= 0.0) & (v >= 0.0) & (u + v <= 1.0) & (t >= 0.0)
    if not ok.any():
        return None
    k = int(np.flatnonzero(ok)[np.argmin(t[ok])])
    return int(owner[k]), float(t[k])


# --- rays from pixels and poses -----------------------------------------------------------


def to_window(view: View, point: Sequence[float], target_height: int) -> tuple[float, float]:
    """Where ``point`` lands, in window pixels (top-left origin, y down)."""
    ndc = math3d.transform_points(view.view_projection, np.asarray([point]))[0]
    vx, vy, vw, vh = view.viewport
    x = vx + (float(ndc[0]) + 1.0) / 2.0 * vw
    y_up = vy + (float(ndc[1]) + 1.0) / 2.0 * vh
    return x, target_height - y_up


@pytest.mark.parametrize(
    ("projection", "viewport", "height"),
    [
        (math3d.perspective(60.0, 640 / 360, 0.1, 100.0), (0, 0, 640, 360), None),
        (math3d.perspective(45.0, 640 / 360, 0.05, 500.0), (100, 50, 640, 360), 500),
        (math3d.frustum_from_fov(-0.8, 0.6, 0.5, -0.7, 0.05, 200.0), (0, 240, 400, 300), 540),
    ],
)
def test_pixel_ray_passes_through_the_point_projected_there(
    projection: math3d.F32, viewport: tuple[int, int, int, int], height: int | None
) -> None:
    view = View(math3d.look_at((4.0, 3.0, 9.0), (0.5, 0.0, -1.0)), projection, viewport)
    full = height if height is not None else viewport[1] + viewport[3]
    rng = np.random.default_rng(5)
    for point in rng.uniform((-3.0, -1.0, -4.0), (3.0, 2.0, 2.0), size=(20, 3)):
        x, y = to_window(view, point, full)
        ray = ray_from_pixel(view, x, y, target_height=height)
        offset = point - np.asarray(ray.origin)
        along = float(offset @ np.asarray(ray.direction))
        assert along > 0.0
        assert np.linalg.norm(offset - along * np.asarray(ray.direction)) < 1e-4 * along
        # the ray starts on the near plane
        near = projection[2, 3] / (projection[2, 2] - 1.0)
        eye_z = (view.view.astype(np.float64) @ np.append(ray.origin, 1.0))[2]
        assert eye_z == pytest.approx(-near, rel=1e-4)


def test_clicking_a_machine_on_screen_picks_it() -> None:
    geo = row_of_boxes()
    view = View(
        math3d.look_at((3.0, 4.0, 8.0), (3.0, 0.0, 0.0)),
        math3d.perspective(50.0, 800 / 600, 0.1, 100.0),
        (0, 0, 800, 600),
    )
    picker = Picker(geo)
    for i in range(3):
        x, y = to_window(view, (3.0 * i, 0.0, 0.0), 600)
        hit = picker.pick(ray_from_pixel(view, x, y))
        assert hit is not None and hit.machine == i
    assert picker.pick(ray_from_pixel(view, 2.0, 2.0)) is None  # top-left corner: sky


def test_pose_rays_look_down_minus_z() -> None:
    ray = ray_from_pose((1.0, 1.5, 2.0), IDENTITY)
    assert ray.origin == (1.0, 1.5, 2.0)
    assert ray.direction == pytest.approx((0.0, 0.0, -1.0))
    s = math.sin(math.pi / 4)
    # a quarter turn left about +Y turns -Z into -X; the quaternion need not be normalised
    assert ray_from_pose((0, 0, 0), (0.0, 3 * s, 0.0, 3 * s)).direction == pytest.approx(
        (-1.0, 0.0, 0.0)
    )
    pitch = math3d.euler_quat((-30.0, 0.0, 0.0))  # aim 30 degrees down
    direction = ray_from_pose((0, 0, 0), pitch).direction
    assert direction == pytest.approx((0.0, -0.5, -math.sqrt(3.0) / 2.0))
    for bad in ((0.0, 0.0, 0.0, 0.0), (0.0, math.nan, 0.0, 1.0), (0.0, 0.0, 1.0)):
        with pytest.raises(ValueError):
            ray_from_pose((0.0, 0.0, 0.0), bad)
    picker = Picker(row_of_boxes())
    hit = picker.pick(ray_from_pose((6.0, 0.0, 4.0), IDENTITY))
    check_hit(hit, 2, 3.5, (0.0, 0.0, 1.0))


# --- the demo plant -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> tuple[Scene, SceneGeometry, Picker]:
    scene = load_scene(scene_path("demo-plant"))
    geo, _ = load_geometry(scene, LoadLimits())
    return scene, geo, Picker(geo)


def test_every_demo_machine_is_picked_from_above(
    demo: tuple[Scene, SceneGeometry, Picker],
) -> None:
    scene, geo, picker = demo
    assert picker.instance_count == len(scene.machines) + len(scene.fixtures)
    centres = geo.machine_bounds.astype(np.float64).mean(axis=1)
    picked = []
    for x, _, z in centres:
        hit = picker.pick(Ray((float(x), 50.0, float(z)), (0.0, -1.0, 0.0)))
        picked.append(-2 if hit is None else hit.machine)
    assert picked == list(range(len(scene.machines)))


def test_demo_walls_hide_machines_from_outside(
    demo: tuple[Scene, SceneGeometry, Picker],
) -> None:
    scene, geo, picker = demo
    m = int(np.argmin(geo.machine_bounds[:, 0, 2]))  # the machine nearest the back wall
    centre = geo.machine_bounds[m].astype(np.float64).mean(axis=0)
    x, y = float(centre[0]), float(centre[1])
    outside = Ray((x, y, -30.0), (0.0, 0.0, 1.0))
    assert picker.pick(outside) is None
    wall = picker.cast(outside)
    assert wall is not None and wall.machine == FIXTURE
    back = [f for f in scene.fixtures if f.id.startswith("wall-back")]
    assert back and all(f.asset == "wall" for f in back)
    z = back[0].transform.position[2]
    lo, hi = next(b.mesh.bounds for b in geo.batches if b.asset == "wall")
    assert z + lo[2] <= wall.point[2] <= z + hi[2] <= centre[2]  # on the back wall
    assert wall.distance == pytest.approx(wall.point[2] + 30.0)
    inside = picker.pick(Ray((x, y, -19.6), (0.0, 0.0, 1.0)))
    assert inside is not None and inside.machine == m
