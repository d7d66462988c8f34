"""Polygons of any size (convex or not, planar or nearly so) cut into triangles.

OBJ and PLY faces may have any number of corners. A fan from the first corner is right only
for convex polygons: a concave face (an L, a C-frame's opening) fanned gets triangles
outside it. :func:`triangulate` projects each polygon onto its best-fit plane (the plane
through its centroid with the Newell normal) and cuts it by ear clipping (mapbox-earcut);
convex polygons, the common case, are fanned in one vectorised step. A polygon that has no
plane (all corners on a line or a point) or crosses itself is fanned and counted, never an
error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mapbox_earcut
import numpy as np
import numpy.typing as npt

from xrclient.scene.notices import warn_asset

__all__ = ["EAR_CLIP_WORK", "Budget", "Triangulation", "fan", "triangulate", "warn_fanned"]

_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]


#: ear clipping costs up to (corners)^2 per polygon: the work one file may ask for
EAR_CLIP_WORK = 10**9
_CHUNK_CORNERS = 2**20  # polygons are projected this many corners at a time


@dataclass(slots=True)
class Budget:
    """Ear-clipping work left for one file, in squared corners."""

    left: int = EAR_CLIP_WORK


@dataclass(frozen=True, slots=True)
class Triangulation:
    #: (P, n - 2, 3) corner numbers (0..n-1) of each polygon's triangles, in its winding
    triangles: _I64
    #: polygons fanned because they have no plane or cross themselves
    fanned: int
    #: concave polygons fanned because the file's ear-clipping work was spent
    over_budget: int = 0


def fan(n: int) -> _I64:
    """Corner numbers of a fan from corner 0 over an ``n``-gon, shape (n - 2, 3)."""
    k = np.arange(1, n - 1, dtype=np.int64)
    return np.stack([np.zeros_like(k), k, k + 1], axis=1)


def triangulate(points: _F64, budget: Budget | None = None) -> Triangulation:
    """Triangles of ``P`` polygons of ``n`` corners each; ``points`` is (P, n, 3).

    The triangles keep the polygon's winding (they face the way its Newell normal does).
    Concave polygons are ear clipped while ``budget`` lasts (share one per file), then
    fanned and counted.
    """
    count, n = points.shape[:2]
    if n < 3:
        return Triangulation(np.zeros((count, 0, 3), dtype=np.int64), 0)
    out = np.broadcast_to(fan(n), (count, n - 2, 3)).copy()
    if n == 3 or count == 0:
        return Triangulation(out, 0)
    budget = Budget() if budget is None else budget
    fanned = over = 0
    step = max(1, _CHUNK_CORNERS // n)
    for first in range(0, count, step):
        chunk = slice(first, first + step)
        fanned_here, over_here = _cut_chunk(points[chunk], out[chunk], n, budget)
        fanned += fanned_here
        over += over_here
    return Triangulation(out, fanned, over)


def _cut_chunk(points: _F64, out: _I64, n: int, budget: Budget) -> tuple[int, int]:
    """Ear-clip the concave polygons of ``points`` into ``out`` (which holds fans)."""
    over = 0
    with np.errstate(all="ignore"):
        flat, planar = _project(points)
        edges = np.roll(flat, -1, axis=1) - flat
        nxt = np.roll(edges, -1, axis=1)
        turn = edges[..., 0] * nxt[..., 1] - edges[..., 1] * nxt[..., 0]
        dot = np.einsum("pij,pij->pi", edges, nxt)
        # simple and convex: every corner turns left, once around in all
        winding = np.arctan2(turn, dot).sum(axis=1)
        convex = (turn > 0).all(axis=1) & (np.abs(winding - 2 * np.pi) < 1e-3)
    fanned = int((~planar).sum())
    for p in np.flatnonzero(planar & ~convex).tolist():
        if budget.left < n * n:
            over += 1
            continue
        budget.left -= n * n
        cut = _ear_clip(flat[p])
        if cut is None:
            fanned += 1
        else:
            out[p] = cut
    return fanned, over


def warn_fanned(path: Path, fanned: int, what: str, over_budget: int = 0) -> None:
    """:class:`~xrclient.scene.notices.AssetWarning` s for the polygons :func:`triangulate`
    had to fan."""
    if fanned:
        warn_asset(
            path,
            f"{fanned:,} {what} polygon(s) have no plane or cross themselves; "
            "drawn as triangle fans",
        )
    if over_budget:
        warn_asset(
            path,
            f"{over_budget:,} concave {what} polygon(s) drawn as triangle fans: the file's "
            f"polygons are too large to cut within the work limit ({EAR_CLIP_WORK:,} "
            "squared corners)",
        )


def _project(points: _F64) -> tuple[_F64, npt.NDArray[np.bool_]]:
    """2D coordinates of each polygon in its best-fit plane (counter-clockwise about the
    Newell normal), and whether it has a plane at all."""
    centred = points - points.mean(axis=1, keepdims=True)
    nxt = np.roll(centred, -1, axis=1)
    # Newell: the sum of the edges' cross products, twice the polygon's vector area
    normal = np.cross(centred, nxt).sum(axis=1)
    length = np.linalg.norm(normal, axis=1)
    extent = np.abs(centred).max(axis=(1, 2))
    # a vector area this small next to the extent is a line or a point (float32 noise)
    planar = np.isfinite(length) & (length > 1e-6 * np.maximum(extent * extent, 1e-300))
    planar &= extent > 0
    normal = normal / np.where(planar, length, 1.0)[:, None]
    # any unit vector across the normal, then the third axis of a right-handed frame
    axis = np.zeros_like(normal)
    axis[np.arange(len(normal)), np.abs(normal).argmin(axis=1)] = 1.0
    u = np.cross(normal, axis)
    u /= np.maximum(np.linalg.norm(u, axis=1), 1e-300)[:, None]
    v = np.cross(normal, u)
    flat = np.stack(
        [np.einsum("pij,pj->pi", centred, u), np.einsum("pij,pj->pi", centred, v)], axis=2
    )
    planar &= np.isfinite(flat).all(axis=(1, 2))
    return flat, planar


def _ear_clip(flat: _F64) -> _I64 | None:
    """Ear-clipped triangles of one counter-clockwise polygon; None when the cut does not
    cover the polygon exactly (it crosses itself or folds onto itself)."""
    n = len(flat)
    try:
        cut = mapbox_earcut.triangulate_float64(
            np.ascontiguousarray(flat), np.array([n], dtype=np.uint32)
        )
    except Exception:  # earcut's C++ errors are not typed; treat as uncut
        return None
    tris = np.asarray(cut, dtype=np.int64).reshape(-1, 3)
    if len(tris) != n - 2 or (tris < 0).any() or (tris >= n).any():
        return None
    a, b, c = (flat[tris[:, k]] for k in range(3))
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    tris = np.where((area < 0)[:, None], tris[:, ::-1], tris)
    x, y = flat[:, 0], flat[:, 1]
    polygon = float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum())
    total = float(np.abs(area).sum())
    if not abs(total - polygon) <= 1e-6 * max(abs(polygon), 1e-300):
        return None
    return tris
