"""Teleport arc, snap turn and grabbing the world: pure math on the rig."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xrclient.core.view import View
from xrclient.xr import locomotion as lm
from xrclient.xr.poses import Fov, Pose, eye_view, initial_rig, rig_scale, translate, world_pose


def _apply(m: np.ndarray, p: tuple[float, float, float]) -> np.ndarray:
    return (m @ np.array([*p, 1.0]))[:3]


def test_arc_lands_on_the_floor_exactly() -> None:
    arc = lm.teleport_arc((0.0, 1.5, 0.0), (0.0, 0.5, -1.0), floor_y=0.0)
    assert arc.target is not None
    assert arc.target[1] == 0.0
    assert arc.target[2] < -2.0  # thrown forward
    assert np.allclose(arc.points[-1], arc.target)
    assert (np.diff(arc.points[:, 2]) < 0).all()  # always moving forward
    # the target solves the ballistic equation
    speed, g = 8.0, 9.81
    d = np.array([0.0, 0.5, -1.0]) / math.sqrt(1.25)
    t = -arc.target[2] / (d[2] * -speed)
    assert 1.5 + d[1] * speed * t - 0.5 * g * t * t == pytest.approx(0.0, abs=1e-9)


def test_arc_upwards_too_far_has_no_target() -> None:
    arc = lm.teleport_arc((0.0, 1.5, 0.0), (0.0, 1.0, 0.0), floor_y=0.0, max_points=10)
    assert arc.target is None
    assert len(arc.points) == 10
    with pytest.raises(ValueError):
        lm.teleport_arc((0.0, 1.0, 0.0), (0.0, 0.0, 0.0))


def test_teleport_puts_the_feet_on_the_target() -> None:
    rig = translate((5.0, 0.0, 5.0))
    head = (0.3, 1.7, -0.2)
    moved = lm.teleport(rig, head, (10.0, 0.0, -4.0))
    feet = _apply(moved, (head[0], 0.0, head[2]))
    assert feet == pytest.approx([10.0, 0.0, -4.0])
    assert rig_scale(moved) == pytest.approx(1.0)


def test_snap_turn_right_turns_the_gaze_clockwise_about_the_head() -> None:
    rig = np.eye(4)
    head = (0.5, 1.6, 0.5)
    turned = lm.snap_turn(rig, head, 90.0)
    # the head stays where it was
    assert _apply(turned, head) == pytest.approx(list(head))
    # looking along -Z in tracking space now looks along +X in the world (turned right)
    _, rot = world_pose(turned, Pose(head))
    assert -rot[:, 2] == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)
    back = lm.snap_turn(turned, head, -90.0)
    assert back == pytest.approx(rig, abs=1e-12)


def test_one_hand_drag_keeps_the_held_point_in_the_hand() -> None:
    rig = translate((2.0, 0.0, 1.0)) @ lm.rotation_y(0.7)
    start, now = (0.1, 1.0, -0.3), (0.6, 1.2, -0.1)
    held = _apply(rig, start)
    moved = lm.grab_one(rig, start, now)
    assert _apply(moved, now) == pytest.approx(held)


def test_two_hands_apart_make_the_world_bigger_and_keep_the_points_held() -> None:
    rig = translate((1.0, 0.0, -2.0))
    a0, b0 = (-0.2, 1.0, -0.4), (0.2, 1.0, -0.4)
    a1, b1 = (-0.4, 1.0, -0.4), (0.4, 1.0, -0.4)  # twice as far apart
    out = lm.grab_two(rig, a0, b0, a1, b1)
    # one tracked metre now covers half a world metre: the world looks twice as big
    assert rig_scale(out) == pytest.approx(0.5)
    assert _apply(out, a1) == pytest.approx(_apply(rig, a0))
    assert _apply(out, b1) == pytest.approx(_apply(rig, b0))


def test_two_hands_turning_turn_the_world_about_the_vertical() -> None:
    rig = np.eye(4)
    a0, b0 = (-0.3, 1.0, 0.0), (0.3, 1.0, 0.0)
    a1, b1 = (0.0, 1.0, 0.3), (0.0, 1.0, -0.3)  # the pair turned 90 degrees
    out = lm.grab_two(rig, a0, b0, a1, b1)
    assert rig_scale(out) == pytest.approx(1.0)
    assert _apply(out, a1) == pytest.approx(_apply(rig, a0), abs=1e-9)
    assert _apply(out, b1) == pytest.approx(_apply(rig, b0), abs=1e-9)
    assert out[1, :3] == pytest.approx([0.0, 1.0, 0.0])  # no tilt


def test_two_hand_scale_is_clamped_and_hands_together_only_drag() -> None:
    rig = np.eye(4)
    out = lm.grab_two(rig, (-1.0, 1, 0), (1.0, 1, 0), (-0.0001, 1, 0), (0.0001, 1, 0))
    assert rig_scale(out) == pytest.approx(lm.MAX_SCALE)
    out = lm.grab_two(rig, (-0.01, 1, 0), (0.01, 1, 0), (-5.0, 1, 0), (5.0, 1, 0))
    assert rig_scale(out) == pytest.approx(lm.MIN_SCALE)


def test_eye_view_is_rigid_and_scaled_rigs_scale_the_eye_separation() -> None:
    fov = Fov(-0.8, 0.8, 0.7, -0.7)
    rig = np.diag([2.0, 2.0, 2.0, 1.0])
    left = eye_view(rig, Pose((-0.032, 1.6, 0.0)), fov, 0.05, 100.0, (0, 0, 320, 240))
    right = eye_view(rig, Pose((0.032, 1.6, 0.0)), fov, 0.05, 100.0, (0, 0, 320, 240))
    assert isinstance(left, View)
    rot = left.view[:3, :3].astype(np.float64)
    assert rot @ rot.T == pytest.approx(np.eye(3), abs=1e-6)
    sep = np.subtract(right.eye_position, left.eye_position)
    assert sep == pytest.approx([0.128, 0.0, 0.0], abs=1e-5)
    assert left.eye_position[1] == pytest.approx(3.2, abs=1e-5)


def test_initial_rig_stands_in_front_of_the_plant() -> None:
    rig = initial_rig([[-10.0, 0.0, -5.0], [10.0, 4.0, 5.0]])
    assert _apply(rig, (0.0, 0.0, 0.0)) == pytest.approx([0.0, 0.0, 6.0])
