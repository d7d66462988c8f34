"""Frustum planes from clip-from-world matrices and the conservative box test."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from xrclient.core import math3d
from xrclient.core.frustum import boxes_in_frustum, frustum_planes
from xrclient.render.culling import InstanceCulling

F64 = npt.NDArray[np.float64]

LEFT, RIGHT, BOTTOM, TOP, NEAR, FAR = range(6)


def orthographic(half_w: float, half_h: float, near: float, far: float) -> F64:
    """OpenGL orthographic projection of a centred box (depth -1..1)."""
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1] = 1.0 / half_w, 1.0 / half_h
    m[2, 2], m[2, 3] = -2.0 / (far - near), -(far + near) / (far - near)
    m[3, 3] = 1.0
    return m


#: a camera at z = 5 looking down -z at the origin
EYE_VIEW = math3d.look_at((0.0, 0.0, 5.0), (0.0, 0.0, 0.0))
PERSPECTIVE = math3d.perspective(60.0, 1.5, 0.5, 50.0) @ EYE_VIEW
ORTHO = orthographic(4.0, 3.0, 0.5, 50.0) @ EYE_VIEW


def box(center: tuple[float, float, float], half: float = 0.25) -> F64:
    c = np.asarray(center, dtype=np.float64)
    return np.stack([c - half, c + half])


def visible(vp: npt.ArrayLike, *boxes: F64) -> list[bool]:
    return boxes_in_frustum(frustum_planes(vp), np.stack(boxes)).tolist()


def outside_of(vp: npt.ArrayLike, b: F64) -> list[int]:
    """The planes that alone cull ``b``."""
    planes = frustum_planes(vp)
    return [k for k in range(6) if not boxes_in_frustum(planes[[k]], b[None])[0]]


#: per projection: a box wholly outside each plane (perspective half-widths at z = 0:
#: 5 tan 30 = 2.89 high, 4.33 wide; far plane at z = -45, near at z = 4.5)
OUTSIDE = {
    "perspective": (
        PERSPECTIVE,
        {
            LEFT: (-6.0, 0.0, 0.0),
            RIGHT: (6.0, 0.0, 0.0),
            BOTTOM: (0.0, -4.0, 0.0),
            TOP: (0.0, 4.0, 0.0),
            NEAR: (0.0, 0.0, 4.8),
            FAR: (0.0, 0.0, -46.0),
        },
    ),
    "orthographic": (
        ORTHO,
        {
            LEFT: (-4.5, 0.0, 0.0),
            RIGHT: (4.5, 0.0, 0.0),
            BOTTOM: (0.0, -3.5, 0.0),
            TOP: (0.0, 3.5, 0.0),
            NEAR: (0.0, 0.0, 4.8),
            FAR: (0.0, 0.0, -46.0),
        },
    ),
}


@pytest.mark.parametrize("kind", sorted(OUTSIDE))
def test_a_box_outside_each_plane_is_culled_by_that_plane_alone(kind: str) -> None:
    vp, cases = OUTSIDE[kind]
    assert visible(vp, box((0.0, 0.0, 0.0)), box((0.0, 0.0, -30.0))) == [True, True]
    for plane, center in cases.items():
        b = box(center)
        assert visible(vp, b) == [False], (kind, plane)
        assert outside_of(vp, b) == [plane], (kind, plane)


@pytest.mark.parametrize("vp", [PERSPECTIVE, ORTHO], ids=["perspective", "orthographic"])
def test_boxes_straddling_a_plane_or_enclosing_the_frustum_are_kept(vp: F64) -> None:
    straddling = [
        np.array([[-10.0, -0.1, -0.1], [0.0, 0.1, 0.1]]),  # across the left plane
        np.array([[0.0, -0.1, -0.1], [10.0, 0.1, 0.1]]),  # across the right plane
        np.array([[-0.1, -0.1, 4.0], [0.1, 0.1, 6.0]]),  # across the near plane, eye inside
        np.array([[-0.1, -0.1, -60.0], [0.1, 0.1, -40.0]]),  # across the far plane
        np.array([[-1e3, -1e3, -1e3], [1e3, 1e3, 1e3]]),  # the whole frustum inside it
    ]
    assert visible(vp, *straddling) == [True] * len(straddling)


def test_a_box_behind_the_eye_is_culled() -> None:
    # a large box behind the camera: inside the side planes' wedge extended backwards
    behind = np.array([[-3.0, -3.0, 6.0], [3.0, 3.0, 20.0]])
    assert visible(PERSPECTIVE, behind) == [False]
    assert NEAR in outside_of(PERSPECTIVE, behind)
    assert visible(ORTHO, behind) == [False]


def test_a_box_touching_a_plane_is_kept() -> None:
    # the left plane of the orthographic frustum is x = -4: a box ending exactly there
    touching = np.array([[-5.0, -0.1, -0.1], [-4.0, 0.1, 0.1]])
    just_out = np.array([[-5.0, -0.1, -0.1], [-4.01, 0.1, 0.1]])
    assert visible(ORTHO, touching, just_out) == [True, False]


def test_degenerate_and_non_finite_boxes_give_plain_answers() -> None:
    point_in = np.zeros((2, 3))
    point_out = np.full((2, 3), 100.0)
    inverted_in = np.array([[0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]])  # min above max
    nan_box = np.full((2, 3), np.nan)
    inf_box = np.array([[-np.inf] * 3, [np.inf] * 3])
    boxes = np.stack([point_in, point_out, inverted_in, nan_box, inf_box])
    with np.errstate(all="raise"):  # no floating-point error escapes
        for vp in (PERSPECTIVE, ORTHO):
            result = boxes_in_frustum(frustum_planes(vp), boxes)
            assert result.dtype == np.bool_
            assert result.tolist() == [True, False, True, True, True]
        # a projection that maps everything to zero culls nothing
        assert boxes_in_frustum(frustum_planes(np.zeros((4, 4))), boxes).all()
    assert boxes_in_frustum(frustum_planes(PERSPECTIVE), np.zeros((0, 2, 3))).shape == (0,)
    assert np.isfinite(frustum_planes(PERSPECTIVE)).all()
    assert np.isfinite(frustum_planes(np.zeros((4, 4)))).all()


def test_planes_are_unit_distances() -> None:
    planes = frustum_planes(ORTHO)
    np.testing.assert_allclose(np.linalg.norm(planes[:, :3], axis=1), 1.0)
    # the orthographic left plane is x = -4: a point at x = -1 is 3 m inside it
    assert planes[LEFT] @ [-1.0, 0.0, 0.0, 1.0] == pytest.approx(3.0)


def test_never_culls_a_box_with_a_point_inside_the_clip_volume() -> None:
    """Random boxes and cameras against a brute force: any sampled point of a box inside
    -w..w in clip space means the box is kept; boxes found culled have no such point."""
    rng = np.random.default_rng(11)
    kept_any = culled_any = 0
    for trial in range(40):
        eye = rng.uniform(-20, 20, 3)
        target = eye + rng.normal(size=3)
        proj = (
            math3d.perspective(float(rng.uniform(20, 100)), float(rng.uniform(0.5, 2)), 0.1, 60)
            if trial % 2
            else orthographic(*rng.uniform(1, 15, 2), 0.1, 60.0)
        )
        vp = proj.astype(np.float64) @ math3d.look_at(eye, target).astype(np.float64)
        lo = rng.uniform(-40, 40, (200, 3))
        boxes = np.stack([lo, lo + rng.uniform(0, 8, (200, 3))], axis=1)
        result = boxes_in_frustum(frustum_planes(vp), boxes)
        t = rng.uniform(0, 1, (200, 64, 3))
        t[:, :8] = [[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)]  # the corners too
        points = boxes[:, None, 0] + t * (boxes[:, None, 1] - boxes[:, None, 0])
        clip = np.einsum("ij,bpj->bpi", vp[:, :3], points) + vp[:, 3]
        w = clip[..., 3:]
        inside = ((np.abs(clip[..., :3]) <= w) & (w > 0)).all(axis=-1).any(axis=1)
        assert not (inside & ~result).any(), trial
        kept_any += int(result.sum())
        culled_any += int((~result).sum())
    assert kept_any > 100 and culled_any > 1000  # both outcomes were exercised


def test_instance_plan_unions_views_and_keeps_point_batches() -> None:
    """Batches: 3 boxes along x (left, centre, right), and one points batch off to the side."""
    boxes = [np.stack([box((-6.0, 0.0, 0.0)), box((0.0, 0.0, 0.0)), box((6.0, 0.0, 0.0))])]
    boxes.append(box((0.0, 0.0, 40.0))[None])  # behind the eye
    culling = InstanceCulling(boxes, [True, False])
    left = math3d.perspective(60.0, 1.5, 0.5, 50.0) @ math3d.look_at((-6, 0, 5), (-6, 0, 0))
    plan = culling.plan([PERSPECTIVE, left])
    assert plan.visible.tolist() == [True, True, False, True]
    assert plan.counts.tolist() == [2, 1]
    assert plan.seen.tolist() == [[True, True], [True, True]]
    assert plan.culled == 2 * 4 - 2 * 3
    # the first batch's buffers get its two visible boxes, once
    assert [(b, r.tolist() if r is not None else None) for b, r in culling.writes(plan)] == [
        (0, [0, 1])
    ]
    assert culling.writes(culling.plan([PERSPECTIVE, left])) == []
    # everything again: the buffers get all instances back
    everything = culling.plan([PERSPECTIVE], enabled=False)
    assert everything.culled == 0 and everything.visible.all()
    assert culling.writes(everything) == [(0, None)]
