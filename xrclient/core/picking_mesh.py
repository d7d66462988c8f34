"""Ray tests in one asset's own coordinates: boxes (slabs) and triangles, vectorised.

A :class:`TriangleSet` holds an asset's triangles once, however many instances share it.
Each triangle is stored as 16 float64 numbers derived from its corners (unit normal, edges
and products with the first corner, all divided by the triangle's doubled area), so that
the Moller-Trumbore determinant, ``u``, ``v`` and ``t`` of every triangle against one ray,
each times the determinant, come out of a single matrix product. Triangles are grouped
into spatially compact chunks (median splits of their centroids) with one bounding box
each; only the chunks the ray crosses are tested, nearest first, so large meshes (a plant
floor, a scanned hall) stay cheap.

A ray need not be unit length here: instances transform rays into local space with their
inverse model matrix, which keeps the ray parameter ``t`` equal to the world distance.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: triangles per chunk
CHUNK = 128
#: meshes of at most this many triangles are tested whole, without chunk boxes
WHOLE = 2048
#: chunks intersected per matrix product
GROUP = 8
#: an axis whose direction component is below this fraction of the largest is parallel
PARALLEL = 1e-12
#: a triangle is missed when the ray's cosine with its plane is below this
GRAZING = 1e-10
#: a triangle whose doubled area is below this times its squared edges is degenerate
SLIVER = 1e-12
#: edge tolerance in barycentric units, so rays along shared edges cannot slip through
EDGE = 1e-9
#: larger coordinates (vertices, ray origins, matrix entries) are left out of ray tests,
#: which keeps every product finite
MAX_COORDINATE = 1e9


def box_rows(lo: npt.ArrayLike, hi: npt.ArrayLike) -> F64:
    """Boxes as :func:`slab` takes them: (7, N) rows min x, y, z, max x, y, z, then ones."""
    lo64 = np.asarray(lo, dtype=np.float64).reshape(-1, 3)
    hi64 = np.asarray(hi, dtype=np.float64).reshape(-1, 3)
    ones = np.ones((lo64.shape[0], 1))
    return np.ascontiguousarray(np.concatenate([lo64, hi64, ones], axis=1).T)


def slab(boxes: F64, origin: F64, direction: F64) -> tuple[F64, F64]:
    """Entry and exit parameters of one ray against N boxes (7, N) from :func:`box_rows`.

    The ray misses a box when ``enter > leave`` or ``leave < 0``. The six plane distances
    of every box come out of one matrix product. Axes the ray runs parallel to are handled
    without division: on such an axis the box spans everything when the origin lies within
    it and nothing otherwise. NaN bounds never hit.
    """
    o = (float(origin[0]), float(origin[1]), float(origin[2]))
    d = (float(direction[0]), float(direction[1]), float(direction[2]))
    tiny = PARALLEL * max(abs(d[0]), abs(d[1]), abs(d[2]))
    m = np.zeros((6, 7))
    parallel: list[int] = []
    for axis in range(3):
        if abs(d[axis]) <= tiny:
            parallel.append(axis)
            continue
        inv = 1.0 / d[axis]
        near, far = (axis, axis + 3) if inv > 0.0 else (axis + 3, axis)
        m[axis, near] = inv  # row axis: distance to the plane entered
        m[axis + 3, far] = inv  # row axis + 3: distance to the plane left
        m[axis, 6] = m[axis + 3, 6] = -o[axis] * inv
    t = m @ boxes
    for axis in parallel:
        inside = (boxes[axis] <= o[axis]) & (boxes[axis + 3] >= o[axis])
        t[axis] = np.where(inside, -np.inf, np.inf)
        t[axis + 3] = np.where(inside, np.inf, -np.inf)
    return t[:3].max(axis=0), t[3:].min(axis=0)


def slab_hits(enter: F64, leave: F64, limit: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes a ray enters at or before ``limit``, ordered by entry distance."""
    hit = leave >= np.maximum(enter, 0.0)
    if math.isfinite(limit):
        hit &= enter <= limit
    ids = np.flatnonzero(hit)
    return ids[np.argsort(enter[ids], kind="stable")]


def chunk_order(points: F64, chunk: int) -> npt.NDArray[np.intp]:
    """An ordering of (N, 3) points whose consecutive runs of ``chunk`` are compact.

    Median splits along the longest axis, top down (a balanced k-d tree whose leaves hold
    ``chunk`` points; only the last leaf may hold fewer).
    """
    order = np.arange(points.shape[0], dtype=np.intp)
    pending = [(0, points.shape[0])]
    while pending:
        start, stop = pending.pop()
        n = stop - start
        if n <= chunk:
            continue
        ids = order[start:stop]
        p = points[ids]
        axis = int(np.argmax(p.max(axis=0) - p.min(axis=0)))
        half = chunk * math.ceil(n / chunk / 2)  # whole leaves on the left
        part = np.argpartition(p[:, axis], half - 1)
        order[start:stop] = ids[part]
        pending += [(start, start + half), (start + half, stop)]
    return order


def chunk_layout(v0: F64, v1: F64, v2: F64, chunk: int) -> npt.NDArray[np.intp]:
    """Triangle index per slot of whole chunks of ``chunk`` slots, -1 in padding slots.

    Triangles are first sorted into size classes (a factor of 4 apart), so that a few long
    triangles do not stretch the boxes of chunks of small ones; each class is then ordered
    by :func:`chunk_order` and padded to whole chunks.
    """
    lo = np.minimum(np.minimum(v0, v1), v2)
    hi = np.maximum(np.maximum(v0, v1), v2)
    size = np.log2(np.maximum((hi - lo).max(axis=1), 1e-300)) // 2.0
    centroid = (v0 + v1 + v2) / 3.0
    parts: list[npt.NDArray[np.intp]] = []
    for cls in np.unique(size):
        ids = np.flatnonzero(size == cls)
        ids = ids[chunk_order(centroid[ids], chunk)]
        pad = -len(ids) % chunk
        parts += [ids, np.full(pad, -1, dtype=np.intp)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)


class TriangleSet:
    """An asset's non-degenerate triangles, chunked, ready for exact ray tests.

    Meshes of at most ``whole`` triangles are one chunk, tested without chunk boxes.
    """

    __slots__ = ("_rows", "boxes", "chunks", "triangle_count")

    def __init__(
        self,
        positions: npt.ArrayLike,
        indices: npt.ArrayLike,
        chunk: int = CHUNK,
        whole: int = WHOLE,
    ) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1, 3)
        # indices outside the vertex array and non-finite or huge corners make no triangle
        idx = idx[np.all((idx >= 0) & (idx < pos.shape[0]), axis=1)]
        v0, v1, v2 = pos[idx[:, 0]], pos[idx[:, 1]], pos[idx[:, 2]]
        sane = np.ones(idx.shape[0], dtype=bool)
        for corner in (v0, v1, v2):
            sane &= np.all(np.abs(corner) <= MAX_COORDINATE, axis=1)  # False for NaN
        v0, v1, v2 = v0[sane], v1[sane], v2[sane]
        e1, e2 = v1 - v0, v2 - v0
        normal = np.cross(e1, e2)
        area = np.linalg.norm(normal, axis=1)
        # degenerate triangles and slivers (near-zero area for their size) are never hit
        keep = area > SLIVER * (np.einsum("ij,ij->i", e1, e1) + np.einsum("ij,ij->i", e2, e2))
        v0, v1, v2, area = v0[keep], v1[keep], v2[keep], area[keep]
        count = int(v0.shape[0])
        self.triangle_count = count
        if count <= max(whole, chunk):
            slots = np.arange(max(count, 1), dtype=np.intp)
            slots[count:] = -1
            size = slots.shape[0]
        else:
            slots = chunk_layout(v0, v1, v2, chunk)
            size = chunk
        self.chunks = slots.shape[0] // size
        used = slots >= 0
        o = slots[used]
        a, b, c = v0[o], v1[o], v2[o]
        e1, e2, n = b - a, c - a, normal[keep][o]
        # one row per slot, scaled by 1 / doubled area (every test is invariant to a
        # positive factor per row); padding rows stay zero: determinant 0, never a hit
        rows = np.zeros((slots.shape[0], 16), dtype=np.float64)
        rows[used, 0:3] = n
        rows[used, 3:6] = e1
        rows[used, 6:9] = e2
        rows[used, 9:12] = np.cross(e2, a)
        rows[used, 12:15] = np.cross(a, e1)
        rows[used, 15] = np.einsum("ij,ij->i", n, a)
        rows[used] /= area[o][:, None]
        # (chunks, 16, size): a ray's results for a chunk come out as contiguous rows
        self._rows = np.ascontiguousarray(rows.reshape(self.chunks, size, 16).transpose(0, 2, 1))
        lo = np.full((slots.shape[0], 3), np.inf)
        hi = np.full((slots.shape[0], 3), -np.inf)
        lo[used] = np.minimum(np.minimum(a, b), c)
        hi[used] = np.maximum(np.maximum(a, b), c)
        #: (7, chunks) box of each chunk, see :func:`box_rows`
        self.boxes = box_rows(
            lo.reshape(self.chunks, size, 3).min(axis=1),
            hi.reshape(self.chunks, size, 3).max(axis=1),
        )

    @property
    def bounds(self) -> F64:
        """(2, 3) box of every triangle kept; inverted (inf, -inf) when there are none."""
        return np.stack([self.boxes[0:3].min(axis=1), self.boxes[3:6].max(axis=1)])

    def intersect(self, origin: F64, direction: F64, limit: float) -> tuple[float, F64] | None:
        """Nearest ``(t, normal)`` with ``0 <= t <= limit`` of a ray, or None.

        ``normal`` is the hit triangle's unit normal (corner order, this space).
        """
        if self.triangle_count == 0:
            return None
        grazing = GRAZING * math.sqrt(float(direction @ direction))
        b = _columns(origin, direction)
        if self.chunks == 1:
            rows = self._rows[:1]
            hit = _nearest(b, rows, grazing, limit)
            return None if hit is None else (hit[2], rows[0, 0:3, hit[1]].copy())
        enter, leave = slab(self.boxes, origin, direction)
        ids = slab_hits(enter, leave, limit)
        entry = enter[ids]
        best = limit
        found: tuple[float, F64] | None = None
        for start in range(0, int(ids.shape[0]), GROUP):
            if entry[start] > best:
                break
            rows = self._rows[ids[start : start + GROUP]]
            hit = _nearest(b, rows, grazing, best)
            if hit is not None:
                best = hit[2]
                found = (best, rows[hit[0], 0:3, hit[1]].copy())
        return found


def _columns(origin: F64, direction: F64) -> F64:
    """The (5, 16) matrix that turns triangle rows into signed ray-test quantities.

    Its rows, each the Moller-Trumbore value times ``det``: the determinant ``det``;
    ``u + EDGE``; ``v + EDGE``; ``1 + EDGE - u - v``; ``t``. After multiplying by the sign
    of ``det``, the ray crosses a triangle exactly when the middle three are all >= 0.
    """
    ox, oy, oz = float(origin[0]), float(origin[1]), float(origin[2])
    dx, dy, dz = float(direction[0]), float(direction[1]), float(direction[2])
    mx, my, mz = oy * dz - oz * dy, oz * dx - ox * dz, ox * dy - oy * dx  # origin x direction
    e, f = EDGE, 1.0 + EDGE
    z3 = [0.0, 0.0, 0.0]
    det = [-dx, -dy, -dz, *z3, *z3, *z3, *z3, 0.0]
    u = [-e * dx, -e * dy, -e * dz, *z3, mx, my, mz, -dx, -dy, -dz, *z3, 0.0]
    v = [-e * dx, -e * dy, -e * dz, -mx, -my, -mz, *z3, *z3, -dx, -dy, -dz, 0.0]
    w = [-f * dx, -f * dy, -f * dz, mx, my, mz, -mx, -my, -mz, dx, dy, dz, dx, dy, dz, 0.0]
    t = [ox, oy, oz, *z3, *z3, *z3, *z3, -1.0]
    return np.array([det, u, v, w, t])


def _nearest(b: F64, rows: F64, grazing: float, limit: float) -> tuple[int, int, float] | None:
    """``(chunk, slot, t)`` of the nearest hit with ``0 <= t <= limit`` among ``rows``
    (g, 16, S), for the ray of ``b`` from :func:`_columns`.

    ``|det|`` must exceed ``grazing``: the ray is not parallel to the triangle's plane.
    ``t`` is worked out only for the few triangles the ray's line crosses.
    """
    r = b[:4] @ rows  # (g, 4, S)
    signed = r * np.sign(r[:, 0:1])
    crossed = (signed[:, 1:] >= 0.0).all(axis=1) & (signed[:, 0] > grazing)
    ks = np.flatnonzero(crossed)
    if ks.shape[0] == 0:
        return None
    g, s = np.divmod(ks, rows.shape[2])
    ts = (rows[g, :, s] @ b[4]) / r[g, 0, s]
    ahead = (ts >= 0.0) & (ts <= limit)
    if not ahead.any():
        return None
    j = int(np.flatnonzero(ahead)[np.argmin(ts[ahead])])
    return int(g[j]), int(s[j]), float(ts[j])


def box_hit(box: F64, origin: F64, direction: F64, limit: float) -> tuple[float, F64 | None]:
    """``(t, normal)`` where a ray enters one box (7, 1) from :func:`box_rows`, or ``(inf, None)``.

    ``t`` is 0 and the normal None when the origin is inside the box.
    """
    enter, leave = slab(box, origin, direction)
    if not (leave[0] >= max(enter[0], 0.0) and enter[0] <= limit):
        return math.inf, None
    if enter[0] <= 0.0:
        return 0.0, None
    # the face entered is on the axis whose near plane is farthest along the ray
    largest = float(np.abs(direction).max())
    best_axis, best_t = 0, -math.inf
    for axis in range(3):
        d = float(direction[axis])
        if abs(d) <= PARALLEL * largest:
            continue
        plane = float(box[axis, 0] if d > 0.0 else box[axis + 3, 0])
        t = (plane - float(origin[axis])) / d
        if t > best_t:
            best_axis, best_t = axis, t
    normal = np.zeros(3)
    normal[best_axis] = -1.0 if direction[best_axis] > 0.0 else 1.0
    return float(enter[0]), normal
