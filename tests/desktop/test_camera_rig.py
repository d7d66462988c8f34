"""The desktop camera's moves, checked through the View it produces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xrclient.core import math3d
from xrclient.desktop.camera_rig import DISTANCE_MIN, PITCH_MAX, CameraRig

SIZE = (800, 600)
BOUNDS = np.array([[-20.0, 0.0, -20.0], [20.0, 5.0, 20.0]])


def pixel(rig: CameraRig, point: tuple[float, float, float]) -> tuple[float, float]:
    """Window position (origin top-left) of a world point."""
    view = rig.view(SIZE, BOUNDS)
    ndc = math3d.transform_points(view.view_projection, [point])[0]
    return (ndc[0] + 1) / 2 * SIZE[0], (1 - ndc[1]) / 2 * SIZE[1]


def test_eye_and_target_round_trip() -> None:
    rig = CameraRig((10.0, 8.0, 12.0), (1.0, 0.5, -2.0))
    assert np.allclose(rig.eye, (10.0, 8.0, 12.0))
    assert np.allclose(rig.target, (1.0, 0.5, -2.0))
    # the target sits at the centre of the frame
    assert pixel(rig, (1.0, 0.5, -2.0)) == pytest.approx((400, 300), abs=1e-3)


def test_orbit_turns_around_the_target_at_the_same_distance() -> None:
    rig = CameraRig((0.0, 5.0, 10.0), (0.0, 0.0, 0.0))
    before = rig.eye.copy()
    rig.orbit(100.0, 0.0)
    assert np.linalg.norm(rig.eye - rig.target) == pytest.approx(np.linalg.norm(before))
    assert rig.eye[1] == pytest.approx(before[1])  # a horizontal drag keeps the height
    assert not np.allclose(rig.eye, before)
    rig.orbit(0.0, 10_000.0)  # dragging far down stops short of straight down
    assert rig.pitch == pytest.approx(PITCH_MAX)
    assert rig.eye[1] > 0


def test_pan_keeps_the_grabbed_point_under_the_cursor() -> None:
    rig = CameraRig((0.0, 10.0, 10.0), (0.0, 0.0, 0.0))
    target = (0.0, 0.0, 0.0)
    x0, y0 = pixel(rig, target)
    rig.pan(50.0, -30.0, SIZE[1])
    x1, y1 = pixel(rig, target)
    # the target's plane (through the target, facing the camera) moves with the cursor
    assert (x1 - x0, y1 - y0) == pytest.approx((50.0, -30.0), abs=0.5)


def test_zoom_toward_a_point_keeps_it_under_the_cursor() -> None:
    rig = CameraRig((0.0, 10.0, 20.0), (0.0, 0.0, 0.0))
    pivot = (6.0, 1.0, 3.0)
    before = pixel(rig, pivot)
    distance = rig.distance
    rig.zoom(0.5, pivot)
    assert rig.distance == pytest.approx(distance * 0.5)
    assert pixel(rig, pivot) == pytest.approx(before, abs=1e-3)
    # zooming without a pivot closes in on the target, and never through it
    rig.zoom(1e-6)
    assert rig.distance == pytest.approx(DISTANCE_MIN)


def test_look_turns_in_place_and_move_flies_along_the_heading() -> None:
    rig = CameraRig((0.0, 2.0, 10.0), (0.0, 2.0, 0.0))
    eye = rig.eye.copy()
    rig.look(200.0, 0.0)
    assert np.allclose(rig.eye, eye)
    rig.look_at((0.0, 2.0, 10.0), (0.0, 2.0, 0.0))
    rig.move(1.0, 0.0, 0.0, 3.0)  # forward: toward -z here
    assert np.allclose(rig.eye, (0.0, 2.0, 7.0))
    rig.move(0.0, 1.0, 1.0, 2.0)  # right (+x) and up
    assert np.allclose(rig.eye, (2.0, 4.0, 7.0))


def test_fly_to_moves_smoothly_and_ends_exactly() -> None:
    rig = CameraRig((0.0, 10.0, 20.0), (0.0, 0.0, 0.0))
    rig.fly_to((10.0, 5.0, 10.0), (10.0, 0.0, 0.0), now=100.0, duration=1.0)
    assert rig.flying
    assert rig.advance(100.1)
    early = np.linalg.norm(rig.target - (0.0, 0.0, 0.0))
    assert rig.advance(100.5)
    assert rig.target[0] == pytest.approx(5.0)  # smoothstep: halfway at half time
    assert early < 0.5  # starts slowly
    assert not rig.advance(101.0)
    assert np.allclose(rig.eye, (10.0, 5.0, 10.0)) and np.allclose(rig.target, (10.0, 0, 0))
    assert not rig.flying


def test_any_manual_move_cancels_a_flight() -> None:
    rig = CameraRig((0.0, 10.0, 20.0), (0.0, 0.0, 0.0))
    rig.fly_to((10.0, 5.0, 10.0), (10.0, 0.0, 0.0), now=0.0)
    rig.orbit(5.0, 0.0)
    assert not rig.flying and not rig.advance(0.3)


def test_focus_frames_a_machine_from_the_same_direction() -> None:
    rig = CameraRig((0.0, 10.0, 20.0), (0.0, 0.0, 0.0))
    forward = rig.forward.copy()
    rig.focus((5.0, 1.0, -3.0), 1.5, now=0.0)
    rig.advance(10.0)
    assert np.allclose(rig.target, (5.0, 1.0, -3.0))
    assert np.allclose(rig.forward, forward)
    # the sphere fills a good part of the view, not all of it
    angular = 2 * math.degrees(math.atan(1.5 / rig.distance))
    assert 0.2 * rig.fov_deg < angular < 0.8 * rig.fov_deg


def test_view_clip_planes_cover_the_scene_from_inside_it() -> None:
    rig = CameraRig((0.0, 2.0, 0.0), (5.0, 1.0, 0.0))
    view = rig.view(SIZE, BOUNDS)
    corners = math3d.box_corners(BOUNDS.astype(np.float32))
    ndc = math3d.transform_points(view.view_projection, corners)
    in_front = ndc[np.abs(ndc[:, 0]) <= 1]
    assert (in_front[:, 2] <= 1.0).all()  # nothing in view is cut by the far plane


@pytest.mark.parametrize(
    ("eye", "target", "fov"),
    [((0, 0, 0), (0, 0, 0), 60.0), ((0, 0, 1), (0, 0, 0), 1.0), ((0, math.nan, 1), (0, 0, 0), 60)],
)
def test_bad_cameras_are_refused(
    eye: tuple[float, ...], target: tuple[float, ...], fov: float
) -> None:
    with pytest.raises(ValueError):
        CameraRig(eye, target, fov)
