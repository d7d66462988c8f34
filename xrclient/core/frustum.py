"""View frustums as six planes, and which axis-aligned boxes they may see (numpy, no GL).

The planes come from a clip-from-world matrix by the Gribb-Hartmann construction for
OpenGL clip space (``-w <= x, y, z <= w``); the box test is conservative: a box is only
reported outside when it lies wholly on the outer side of one plane, by more than a small
relative margin that covers float32 rounding on the GPU. Boxes that straddle a plane, or
that hold NaN or infinite coordinates, are reported inside.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: relative margin of the box test (float32 has about 7 significant digits)
MARGIN = 1e-5


def frustum_planes(view_projection: npt.ArrayLike) -> F64:
    """Six planes (left, right, bottom, top, near, far) as rows ``(a, b, c, d)``, float64,
    for a row-major clip-from-world matrix of column vectors; a world point ``p`` is inside
    where ``a*x + b*y + c*z + d >= 0`` for every row. Rows with a non-zero normal are scaled
    to a unit normal, so that ``a*x + b*y + c*z + d`` is a distance in world units."""
    m = np.asarray(view_projection, dtype=np.float64).reshape(4, 4)
    w = m[3]
    planes = np.stack([w + m[0], w - m[0], w + m[1], w - m[1], w + m[2], w - m[2]])
    norm = np.linalg.norm(planes[:, :3], axis=1)
    ok = np.isfinite(norm) & (norm > 0.0)
    planes[ok] /= norm[ok, None]
    return planes


def boxes_in_frustum(planes: F64, boxes: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """For K boxes ``(K, 2, 3)`` given as ``(min, max)`` corners: may each be seen through
    the frustum ``planes`` (from :func:`frustum_planes`)? Vectorised over boxes and planes.

    A box is culled only when its corner farthest along a plane's normal is behind that
    plane by more than ``MARGIN`` of the magnitudes involved. Inverted boxes (min above
    max) are read by their corners either way round; NaN and infinite boxes are kept.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 3)
    if b.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    normals = planes[:, :3]
    offsets = planes[:, 3]
    with np.errstate(invalid="ignore", over="ignore"):
        center = 0.5 * (b[:, 0] + b[:, 1])
        half = 0.5 * np.abs(b[:, 1] - b[:, 0])
        reach = half @ np.abs(normals).T  # (K, 6): how far the box extends along each normal
        nearest = center @ normals.T + offsets + reach  # signed distance of the farthest corner
        scale = np.abs(center) @ np.abs(normals).T + reach + np.abs(offsets)
        outside = nearest < -MARGIN * scale
    inside: npt.NDArray[np.bool_] = np.logical_not(outside.any(axis=1))
    return inside
