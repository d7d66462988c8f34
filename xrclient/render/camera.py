"""Default cameras: a 3/4 overview fitted to the scene, and views from scene viewpoints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.scene.model import Viewpoint

if TYPE_CHECKING:
    import moderngl

Vec3 = tuple[float, float, float]

#: overview direction from the target: front-right, about 40 degrees above the horizon
OVERVIEW_DIRECTION = (0.62, 0.80, 0.86)
#: the box is grown to at least this half extent (metres) on every axis
MIN_HALF_EXTENT = 0.25
#: the box fills 1 / FRAME_MARGIN of the frame on its limiting axis
FRAME_MARGIN = 1.08


def _vec(a: npt.ArrayLike) -> Vec3:
    v = np.asarray(a, dtype=np.float64).reshape(3)
    return float(v[0]), float(v[1]), float(v[2])


def fit_view(
    bounds: npt.ArrayLike, aspect: float, fov_deg: float = 60.0
) -> tuple[Vec3, Vec3, float, float]:
    """``(eye, target, near, far)`` of a 3/4 overview whose frame holds all of ``bounds``.

    All eight corners of the box lie inside the frame, centred, with a small border.
    """
    b = np.asarray(bounds, dtype=np.float64).reshape(2, 3)
    center = (b[0] + b[1]) / 2.0
    half = np.maximum((b[1] - b[0]) / 2.0, MIN_HALF_EXTENT)
    corners = math3d.box_corners(np.stack([center - half, center + half])).astype(np.float64)
    forward = -np.asarray(OVERVIEW_DIRECTION) / np.linalg.norm(OVERVIEW_DIRECTION)
    side = np.cross(forward, (0.0, 1.0, 0.0))
    side /= np.linalg.norm(side)
    up = np.cross(side, forward)
    x, y, z = corners @ side, corners @ up, corners @ forward
    # fit into the frame shrunk by FRAME_MARGIN, which leaves the border
    tan_v = math.tan(math.radians(fov_deg) / 2.0) / FRAME_MARGIN
    tan_h = tan_v * aspect
    # With the eye at (ex, ey, ez) in this basis, a corner is inside when
    # |x - ex| <= tan_h (z - ez) and |y - ey| <= tan_v (z - ez): each side of the frustum
    # must clear its most demanding corner. Touching both sides of an axis fixes that
    # axis's centre and depth; the deeper of the two axes keeps every corner inside.
    right, left = (x - tan_h * z).max(), (-x - tan_h * z).max()
    top, bottom = (y - tan_v * z).max(), (-y - tan_v * z).max()
    ez = min(-(right + left) / (2.0 * tan_h), -(top + bottom) / (2.0 * tan_v))
    depth = z - ez
    eye = side * _centre(x, depth) + up * _centre(y, depth) + forward * ez
    radius = float(np.linalg.norm(half))
    distance = float((center - eye) @ forward)
    near = max(0.01, (distance - radius) * 0.5)
    far = distance + radius * 1.5
    # aim where the view axis crosses the height of the box centre (a sensible pivot for
    # orbiting), or else at the depth of the centre
    reach = float((center[1] - eye[1]) / forward[1])
    target = eye + forward * (reach if near < reach < far else distance)
    return _vec(eye), _vec(target), near, far


def _centre(coord: npt.NDArray[np.float64], depth: npt.NDArray[np.float64]) -> float:
    """The eye offset that makes the projected extent ``(coord - e) / depth`` symmetric."""
    lo, hi = float(coord.min()), float(coord.max())
    for _ in range(48):  # bisection: max + min of the projection falls as e grows
        mid = (lo + hi) / 2.0
        slope = (coord - mid) / depth
        if slope.max() + slope.min() > 0.0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def clip_planes(eye: Sequence[float], bounds: npt.ArrayLike) -> tuple[float, float]:
    """Near and far planes for a camera at ``eye`` that must see everything in ``bounds``."""
    corners = math3d.box_corners(np.asarray(bounds, dtype=np.float32).reshape(2, 3))
    reach = float(np.linalg.norm(corners - np.asarray(eye, dtype=np.float32), axis=1).max())
    far = max(reach * 1.1, 1.0)
    near = min(0.1, max(0.01, far / 5000.0))
    return near, far


def make_view(
    eye: Sequence[float],
    target: Sequence[float],
    size: tuple[int, int],
    fov_deg: float,
    near: float,
    far: float,
    framebuffer: moderngl.Framebuffer | None = None,
) -> View:
    """A full-size view of ``size`` (width, height) looking from ``eye`` at ``target``."""
    width, height = size
    return View(
        view=math3d.look_at(eye, target),
        projection=math3d.perspective(fov_deg, width / height, near, far),
        viewport=(0, 0, width, height),
        framebuffer=framebuffer,
    )


def overview(bounds: npt.ArrayLike, size: tuple[int, int], fov_deg: float = 60.0) -> View:
    """The :func:`fit_view` overview as a full-size view of ``size``."""
    eye, target, near, far = fit_view(bounds, size[0] / size[1], fov_deg)
    return make_view(eye, target, size, fov_deg, near, far)


def view_for_viewpoint(vp: Viewpoint, size: tuple[int, int], bounds: npt.ArrayLike) -> View:
    """A full-size view from a scene viewpoint, clip planes fitted to the scene ``bounds``."""
    near, far = clip_planes(vp.position, bounds)
    return make_view(vp.position, vp.target, size, vp.fov_deg, near, far)
