"""Which machine is under the mouse or the controller's aim: rays against the scene.

:class:`Picker` is built once from a :class:`~xrclient.scene.geometry.SceneGeometry` and
answers one ray at a time in two stages:

1. a slab test of the ray against the world bounding boxes of every instance (machines and
   fixtures) at once, giving the candidates ordered by entry distance;
2. an exact ray-triangle test of each candidate, nearest box first, with the ray moved into
   the instance's own coordinates by its precomputed inverse model matrix (each asset's
   triangles are stored once, see :mod:`xrclient.core.picking_mesh`). It stops as soon as
   the next box starts beyond the nearest surface found.

The last few rays' answers are kept: a controller held still asks the same ray every frame
(its pose is the same to the bit), and the geometry never changes under a picker.

Fixtures (walls, floor) take part, so a machine behind a wall is not picked. Point-cloud
machines are hit where the ray enters their (oriented) bounding box; point-cloud fixtures
are not solid and never occlude.

Distances are in scene units (metres) along the ray, whose direction is unit length.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from xrclient.core.picking_mesh import (
    CHUNK,
    F64,
    MAX_COORDINATE,
    WHOLE,
    TriangleSet,
    box_hit,
    box_rows,
    slab,
    slab_hits,
)
from xrclient.scene.geometry import FIXTURE, SceneGeometry

if TYPE_CHECKING:
    from xrclient.core.view import View

Vec3 = tuple[float, float, float]


def _vec3(values: Sequence[float] | npt.NDArray[np.floating], what: str) -> Vec3:
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    if a.shape != (3,):
        raise ValueError(f"{what} must have 3 components, got {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be finite, got {a.tolist()}")
    return float(a[0]), float(a[1]), float(a[2])


@dataclass(frozen=True, slots=True)
class Ray:
    """A half-line from ``origin``; ``direction`` is normalised on construction."""

    origin: Vec3
    direction: Vec3

    def __post_init__(self) -> None:
        origin = _vec3(self.origin, "ray origin")
        if max(abs(c) for c in origin) > MAX_COORDINATE:
            raise ValueError(f"ray origin must lie within {MAX_COORDINATE:g} of 0, got {origin}")
        d = np.asarray(_vec3(self.direction, "ray direction"))
        length = float(np.linalg.norm(d))
        if not length > 0.0:
            raise ValueError("ray direction must be non-zero")
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", _vec3(d / length, "ray direction"))

    def at(self, distance: float) -> Vec3:
        """The point ``distance`` along the ray."""
        o, d = self.origin, self.direction
        return o[0] + d[0] * distance, o[1] + d[1] * distance, o[2] + d[2] * distance


@dataclass(frozen=True, slots=True)
class Hit:
    """The nearest surface a ray meets.

    ``machine`` indexes ``scene.machines``; it is ``FIXTURE`` (-1) for a fixture, which only
    :meth:`Picker.cast` reports. ``normal`` is unit length and faces the ray's origin; it is
    None where a point-cloud machine's box is entered from inside.
    """

    machine: int
    distance: float
    point: Vec3
    normal: Vec3 | None


def ray_from_pixel(view: View, x: float, y: float, *, target_height: int | None = None) -> Ray:
    """The world ray through window position ``(x, y)`` of ``view``.

    ``x`` and ``y`` are continuous pixel coordinates of the render target with the origin at
    its top-left corner and ``y`` down, as mouse positions are (the centre of pixel column
    ``i`` is ``i + 0.5``). ``view.viewport`` (origin bottom-left) places the view in the
    target; ``target_height`` is the target's height in pixels, by default the top edge of
    the viewport (right for a view that fills its window). The ray starts on the near plane,
    so it meets only what the view can draw.
    """
    vx, vy, vw, vh = view.viewport
    top = vy + vh if target_height is None else target_height
    ndc_x = 2.0 * (float(x) - vx) / vw - 1.0
    ndc_y = 2.0 * ((top - float(y)) - vy) / vh - 1.0
    if not (math.isfinite(ndc_x) and math.isfinite(ndc_y)):
        raise ValueError(f"pixel position must be finite, got ({x}, {y})")
    clip_from_world = view.projection.astype(np.float64) @ view.view.astype(np.float64)
    try:
        world_from_clip = np.linalg.inv(clip_from_world)
    except np.linalg.LinAlgError:
        raise ValueError("view projection is singular: no ray through a pixel") from None
    near_h = world_from_clip @ np.array([ndc_x, ndc_y, -1.0, 1.0])
    far_h = world_from_clip @ np.array([ndc_x, ndc_y, 1.0, 1.0])
    if not abs(near_h[3]) > 0.0:
        raise ValueError("view projection puts the near plane at infinity")
    near = near_h[:3] / near_h[3]
    # homogeneous difference: also right for a far plane at infinity (w = 0)
    direction = far_h[:3] - near * far_h[3]
    if far_h[3] < 0.0:
        direction = -direction
    return Ray(_vec3(near, "ray origin"), _vec3(direction, "ray direction"))


def ray_from_pose(
    position: Sequence[float] | npt.NDArray[np.floating],
    orientation: Sequence[float] | npt.NDArray[np.floating],
) -> Ray:
    """The ray of an aim pose: from ``position`` along the pose's -Z axis (OpenXR).

    ``orientation`` is a quaternion ``(x, y, z, w)``, normalised first.
    """
    q = np.asarray(orientation, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        raise ValueError(f"orientation must be 4 finite numbers (x, y, z, w), got {q.tolist()}")
    norm = float(np.linalg.norm(q))
    if not norm > 0.0:
        raise ValueError("orientation quaternion must be non-zero")
    qx, qy, qz, qw = q / norm
    forward = (
        -2.0 * (qx * qz + qy * qw),
        -2.0 * (qy * qz - qx * qw),
        -(1.0 - 2.0 * (qx * qx + qy * qy)),
    )
    return Ray(_vec3(position, "pose position"), forward)


class Picker:
    """Ray queries against one scene's geometry; build once, query every frame."""

    __slots__ = ("_boxes", "_inv", "_owner", "_recent", "_shape", "_shapes", "machine_count")

    #: answers kept for repeated rays (two hands, a mouse and a little slack)
    RECENT = 4

    def __init__(self, geometry: SceneGeometry, *, chunk: int = CHUNK, whole: int = WHOLE) -> None:
        """``chunk`` and ``whole`` tune :class:`~xrclient.core.picking_mesh.TriangleSet`."""
        self.machine_count = geometry.machine_count
        self._recent: dict[bytes, Hit | None] = {}
        shapes: list[TriangleSet | F64] = []
        boxes: list[F64] = []
        inv: list[F64] = []
        owner: list[npt.NDArray[np.int32]] = []
        shape_of: list[npt.NDArray[np.intp]] = []
        for batch in geometry.batches:
            mesh = batch.mesh
            bounds = mesh.bounds.astype(np.float64)
            owners = np.asarray(batch.machine, dtype=np.int32)
            if mesh.primitive == "points":
                # not solid: only machines are hit, at their box
                use = owners != FIXTURE
                if mesh.vertex_count == 0 or not np.all(np.abs(bounds) <= MAX_COORDINATE):
                    continue
                shape: TriangleSet | F64 = box_rows(bounds[0], bounds[1])
            else:
                use = np.ones(owners.shape[0], dtype=bool)
                shape = TriangleSet(mesh.positions, mesh.indices, chunk, whole)
                if shape.triangle_count == 0:
                    continue
                bounds = shape.bounds
            mats = np.asarray(batch.matrices, dtype=np.float64)[use]
            owners = owners[use]
            # instances that are not finite, too large or flat take no part
            sane = np.all(np.abs(mats) <= MAX_COORDINATE, axis=(1, 2))
            mats, owners = mats[sane], owners[sane]
            linear = mats[:, :3, :3]
            det = np.linalg.det(linear)
            size = np.abs(linear).max(axis=(1, 2), initial=0.0)
            invertible = np.abs(det) > 1e-9 * size**3
            mats, owners, linear = mats[invertible], owners[invertible], linear[invertible]
            inverse = np.linalg.inv(linear)
            small = np.all(np.abs(inverse) <= MAX_COORDINATE, axis=(1, 2))
            mats, owners, linear = mats[small], owners[small], linear[small]
            inverse = inverse[small]
            if mats.shape[0] == 0:
                continue
            local_from_world = np.concatenate(
                [inverse, -(inverse @ mats[:, :3, 3:4])], axis=2
            )  # (K, 3, 4)
            corners = np.stack(np.meshgrid(*bounds.T, indexing="ij"), axis=-1).reshape(8, 3)
            world = np.einsum("kij,cj->kci", linear, corners) + mats[:, None, :3, 3]
            wlo, whi = world.min(axis=1), world.max(axis=1)
            pad = 1e-9 * (np.abs(wlo) + np.abs(whi) + 1.0)
            boxes.append(box_rows(wlo - pad, whi + pad))
            inv.append(local_from_world)
            owner.append(owners)
            shape_of.append(np.full(mats.shape[0], len(shapes), dtype=np.intp))
            shapes.append(shape)
        self._shapes = shapes
        if boxes:
            self._boxes = np.ascontiguousarray(np.concatenate(boxes, axis=1))  # (7, instances)
            self._inv = np.concatenate(inv)
            self._owner = np.concatenate(owner)
            self._shape = np.concatenate(shape_of)
        else:
            self._boxes = box_rows(np.zeros((0, 3)), np.zeros((0, 3)))
            self._inv = np.zeros((0, 3, 4))
            self._owner = np.zeros(0, dtype=np.int32)
            self._shape = np.zeros(0, dtype=np.intp)

    @property
    def instance_count(self) -> int:
        """Instances taking part in ray tests (machines and solid fixtures)."""
        return int(self._owner.shape[0])

    def pick(self, ray: Ray, max_distance: float = math.inf) -> Hit | None:
        """The machine a ray meets first within ``max_distance``.

        None when the ray meets nothing, or meets a fixture first (an occluded machine).
        """
        hit = self.cast(ray, max_distance)
        return hit if hit is not None and hit.machine != FIXTURE else None

    def cast(self, ray: Ray, max_distance: float = math.inf) -> Hit | None:
        """The nearest surface of any machine or fixture within ``max_distance``."""
        if math.isnan(max_distance) or max_distance < 0.0:
            raise ValueError(f"max_distance must be >= 0, got {max_distance}")
        # the exact bits: -0.0 and 0.0 compare equal but can enter a slab test differently
        key = struct.pack("7d", *ray.origin, *ray.direction, max_distance)
        recent = self._recent
        if key in recent:
            return recent[key]
        hit = self._cast(ray, max_distance)
        if len(recent) >= self.RECENT:
            del recent[next(iter(recent))]  # the oldest
        recent[key] = hit
        return hit

    def _cast(self, ray: Ray, max_distance: float) -> Hit | None:
        o = np.asarray(ray.origin, dtype=np.float64)
        d = np.asarray(ray.direction, dtype=np.float64)
        enter, leave = slab(self._boxes, o, d)
        candidates = slab_hits(enter, leave, max_distance)
        best = max_distance
        found: tuple[int, float, F64 | None] | None = None
        for i in candidates.tolist():
            if enter[i] > best:
                break
            m = self._inv[i]
            lin = m[:, :3]
            local_o = lin @ o + m[:, 3]
            local_d = lin @ d
            shape = self._shapes[self._shape[i]]
            normal: F64 | None
            if isinstance(shape, TriangleSet):
                hit = shape.intersect(local_o, local_d, best)
                if hit is None:
                    continue
                t, normal = hit
            else:
                t, normal = box_hit(shape, local_o, local_d, best)
                if not t <= best:
                    continue
            best = t
            found = (i, t, normal)
        if found is None:
            return None
        i, t, local_normal = found
        return Hit(
            machine=int(self._owner[i]),
            distance=t,
            point=ray.at(t),
            normal=self._world_normal(i, local_normal, d),
        )

    def _world_normal(self, i: int, local: F64 | None, direction: F64) -> Vec3 | None:
        if local is None:
            return None
        n = self._inv[i][:, :3].T @ local  # normals transform by the inverse transpose
        length = float(np.linalg.norm(n))
        if not length > 0.0:
            return None
        n /= length
        if float(n @ direction) > 0.0:
            n = -n
        return float(n[0]), float(n[1]), float(n[2])
