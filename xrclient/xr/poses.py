"""OpenXR poses and fields of view to the renderer's matrices, through the user's rig.

The rig is ``world_from_stage``: a similarity (uniform scale, rotation about Y, translation)
placing the runtime's tracking space in the plant. Teleport, snap turn and grab change it
(:mod:`.locomotion`); poses read from the runtime are in tracking (stage) space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from xrclient.core import math3d
from xrclient.core.view import View

if TYPE_CHECKING:
    import moderngl

F64 = npt.NDArray[np.float64]
Quat = tuple[float, float, float, float]
Vec3 = tuple[float, float, float]
#: a 3-vector as numbers or an array
Vec = Sequence[float] | F64


@dataclass(frozen=True, slots=True)
class Pose:
    """A position and an orientation quaternion ``(x, y, z, w)``, as OpenXR gives them."""

    position: Vec3
    orientation: Quat = (0.0, 0.0, 0.0, 1.0)

    def matrix(self) -> F64:
        return math3d.compose(self.position, self.orientation, (1.0, 1.0, 1.0)).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Fov:
    """Half-angles in radians, OpenXR ``XrFovf`` order (left and down are negative)."""

    left: float
    right: float
    up: float
    down: float


def rig_scale(world_from_stage: F64) -> float:
    """The uniform scale of a rig (world metres per tracked metre)."""
    return float(np.linalg.norm(world_from_stage[:3, 0]))


def world_pose(world_from_stage: F64, pose: Pose) -> tuple[F64, F64]:
    """``(position, rotation 3x3)`` of a tracked pose in world space (rotation stays rigid)."""
    scale = rig_scale(world_from_stage)
    rot_rig = world_from_stage[:3, :3] / scale
    p = world_from_stage[:3, :3] @ np.asarray(pose.position, np.float64) + world_from_stage[:3, 3]
    r = rot_rig @ pose.matrix()[:3, :3]
    return p, r


def eye_view(
    world_from_stage: F64,
    pose: Pose,
    fov: Fov,
    near: float,
    far: float,
    viewport: tuple[int, int, int, int],
    framebuffer: moderngl.Framebuffer | None = None,
) -> View:
    """The renderer's View for one eye: a rigid world-to-eye matrix and an asymmetric
    projection. A scaled rig scales the eye positions (and so the eye separation) and the
    clip planes, so the world looks larger or smaller while the view stays rigid."""
    scale = rig_scale(world_from_stage)
    p, r = world_pose(world_from_stage, pose)
    view = np.eye(4, dtype=np.float64)
    view[:3, :3] = r.T
    view[:3, 3] = -r.T @ p
    proj = math3d.frustum_from_fov(fov.left, fov.right, fov.up, fov.down, near * scale, far * scale)
    return View(view.astype(np.float32), proj, viewport, framebuffer)


def rotation_y(angle: float) -> F64:
    c, s = math.cos(angle), math.sin(angle)
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = c, s, -s, c
    return m


def translate(offset: Vec) -> F64:
    m = np.eye(4)
    m[:3, 3] = np.asarray(offset, np.float64)[:3]
    return m


def initial_rig(bounds: npt.ArrayLike, start: Sequence[float] | None = None) -> F64:
    """Where the user stands at first: ``start`` (a world point on the floor) or the middle
    of the plant's front edge (+Z side, facing -Z into the plant), floor at the plant's
    lowest point; true scale."""
    b = np.asarray(bounds, np.float64).reshape(2, 3)
    if start is None:
        start = (float(b[:, 0].mean()), float(b[0, 1]), float(b[1, 2]) + 1.0)
    return translate(start)
