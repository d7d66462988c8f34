"""Moving the user through the plant: teleport arc, snap turn and grabbing the world.

Pure functions on the rig ``world_from_stage`` (see :mod:`.poses`): positions of hands and
head are in stage (tracking) space, targets in world space. Every result is again a
similarity with a uniform scale and a rotation about the vertical axis only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xrclient.xr.poses import F64, Vec, rig_scale, rotation_y, translate

#: world scale limits for two-hand grab (1 = true scale)
MIN_SCALE = 0.02
MAX_SCALE = 50.0


@dataclass(frozen=True, slots=True)
class Arc:
    """A sampled throw: ``points`` (N, 3) in world space; ``target`` where it meets the
    floor, or ``None`` when it does not within its reach."""

    points: F64
    target: F64 | None


def teleport_arc(
    origin: Vec,
    direction: Vec,
    *,
    floor_y: float = 0.0,
    speed: float = 8.0,
    gravity: float = 9.81,
    step: float = 0.03,
    max_points: int = 96,
) -> Arc:
    """A ballistic arc from ``origin`` along ``direction`` (any length) with ``speed`` in
    m/s, sampled every ``step`` seconds; it ends on the floor plane ``y = floor_y`` (exact
    intersection) or after ``max_points`` samples."""
    o = np.asarray(origin, np.float64).reshape(3)
    d = np.asarray(direction, np.float64).reshape(3)
    n = float(np.linalg.norm(d))
    if not (n > 0.0 and np.all(np.isfinite(d)) and np.all(np.isfinite(o))):
        raise ValueError("teleport arc needs a finite origin and a non-zero direction")
    v = d / n * speed
    t = np.arange(max_points, dtype=np.float64) * step
    pts = o + v * t[:, None]
    pts[:, 1] -= 0.5 * gravity * t * t
    below = np.flatnonzero(pts[:, 1] <= floor_y)
    if below.size == 0 or o[1] < floor_y:
        return Arc(pts, None)
    k = int(below[0])
    if k == 0:
        return Arc(pts[:1], pts[0].copy())
    # exact time the parabola crosses the floor: y0 + vy t - g t^2 / 2 = floor
    a, b, c = -0.5 * gravity, v[1], o[1] - floor_y
    disc = b * b - 4 * a * c
    hit_t = (-b - math.sqrt(disc)) / (2 * a)
    hit = o + v * hit_t
    hit[1] = floor_y
    return Arc(np.vstack([pts[:k], hit]), hit)


def teleport(world_from_stage: F64, head_stage: Vec, target_world: Vec) -> F64:
    """Move the rig so the point on the floor under the head lands on ``target_world``."""
    feet = np.array([head_stage[0], 0.0, head_stage[2], 1.0])
    now = world_from_stage @ feet
    return translate(np.asarray(target_world, np.float64) - now[:3]) @ world_from_stage


def snap_turn(world_from_stage: F64, head_stage: Vec, degrees: float) -> F64:
    """Turn the user by ``degrees`` about the vertical axis through the head; positive
    turns to the right (clockwise seen from above)."""
    head = world_from_stage @ np.array([*head_stage[:3], 1.0])
    pivot = head[:3].copy()
    # turning the user right = rotating the rig clockwise = a negative angle about +Y
    turn = translate(pivot) @ rotation_y(-math.radians(degrees)) @ translate(-pivot)
    return turn @ world_from_stage


def grab_one(world_from_stage: F64, hand_start: Vec, hand_now: Vec) -> F64:
    """One hand drags the world: the world point held at ``hand_start`` (stage) follows the
    hand to ``hand_now``. ``world_from_stage`` is the rig when the grab started."""
    delta = world_from_stage[:3, :3] @ (
        np.asarray(hand_start, np.float64) - np.asarray(hand_now, np.float64)
    )
    return translate(delta) @ world_from_stage


def grab_two(
    world_from_stage: F64,
    left_start: Vec,
    right_start: Vec,
    left_now: Vec,
    right_now: Vec,
    *,
    min_scale: float = MIN_SCALE,
    max_scale: float = MAX_SCALE,
) -> F64:
    """Two hands move, turn and scale the world: the world points held at the start stay in
    the hands (exactly for horizontal motion; turning is about the vertical axis only).
    Hands moving apart make the world larger. ``world_from_stage`` is the rig at the start."""
    a0, b0 = np.asarray(left_start, np.float64), np.asarray(right_start, np.float64)
    a1, b1 = np.asarray(left_now, np.float64), np.asarray(right_now, np.float64)
    d0, d1 = b0 - a0, b1 - a1
    n0, n1 = float(np.linalg.norm(d0)), float(np.linalg.norm(d1))
    if n0 < 1e-4 or n1 < 1e-4:  # hands together: nothing sensible to scale or turn
        return grab_one(world_from_stage, (a0 + b0) / 2, (a1 + b1) / 2)
    k = n0 / n1  # stage-from-stage factor; the world's apparent size changes by 1/k
    s0 = rig_scale(world_from_stage)
    k = float(np.clip(s0 * k, min_scale, max_scale) / s0)
    theta = math.atan2(d1[0], d1[2]) - math.atan2(d0[0], d0[2])
    if math.hypot(d0[0], d0[2]) < 1e-4 or math.hypot(d1[0], d1[2]) < 1e-4:
        theta = 0.0  # hands above one another: no heading to follow
    mid0, mid1 = (a0 + b0) / 2, (a1 + b1) / 2
    scale = np.diag([k, k, k, 1.0])
    # stage(now) -> stage(start): the current hands map onto where they were
    m = translate(mid0) @ rotation_y(-theta) @ scale @ translate(-mid1)
    out: F64 = world_from_stage @ m
    return out
