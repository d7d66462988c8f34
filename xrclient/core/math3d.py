"""Poses, projections and bounds as float32 numpy arrays (column vectors, right-handed, Y up).

Matrices are 4x4 row-major numpy arrays meant to multiply column vectors (``M @ p``).
Before uploading to GLSL (column-major) transpose them, or write ``M.T`` bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def identity() -> F32:
    return np.eye(4, dtype=np.float32)


def translation(offset: Sequence[float]) -> F32:
    m = identity()
    m[:3, 3] = offset
    return m


def scaling(factors: Sequence[float]) -> F32:
    m = identity()
    m[0, 0], m[1, 1], m[2, 2] = factors
    return m


def quat_matrix(quat: Sequence[float]) -> F32:
    """Rotation matrix of a quaternion given as (x, y, z, w); it is normalised first."""
    out: F32 = compose_many(np.zeros((1, 3)), np.asarray([quat]), np.ones((1, 3)))[0]
    return out


def quat_matrices(quats: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Rotation matrices (N, 3, 3) of N quaternions (x, y, z, w), normalised first; a zero
    or non-finite quaternion raises ``ValueError``."""
    q = np.asarray(quats, dtype=np.float64).reshape(-1, 4)
    norm = np.linalg.norm(q, axis=1)
    if not np.all(np.isfinite(norm) & (norm > 1e-12)):
        raise ValueError("quaternion must be finite and non-zero")
    x, y, z, w = (q / norm[:, None]).T
    rot = np.empty((q.shape[0], 3, 3), dtype=np.float64)
    rot[:, 0, 0] = 1 - 2 * (y * y + z * z)
    rot[:, 0, 1] = 2 * (x * y - z * w)
    rot[:, 0, 2] = 2 * (x * z + y * w)
    rot[:, 1, 0] = 2 * (x * y + z * w)
    rot[:, 1, 1] = 1 - 2 * (x * x + z * z)
    rot[:, 1, 2] = 2 * (y * z - x * w)
    rot[:, 2, 0] = 2 * (x * z - y * w)
    rot[:, 2, 1] = 2 * (y * z + x * w)
    rot[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return rot


def compose_many(positions: npt.ArrayLike, quats: npt.ArrayLike, scales: npt.ArrayLike) -> F32:
    """Model matrices ``T * R * S`` for N positions (N, 3), quaternions (N, 4) as (x, y, z,
    w), normalised first, and scales (N, 3); vectorised, shape (N, 4, 4)."""
    q = np.asarray(quats, dtype=np.float64).reshape(-1, 4)
    n = q.shape[0]
    out = np.zeros((n, 4, 4), dtype=np.float32)
    if n == 0:
        return out
    rot = quat_matrices(q)
    out[:, :3, :3] = rot * np.asarray(scales, dtype=np.float64).reshape(-1, 1, 3)
    out[:, :3, 3] = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    out[:, 3, 3] = 1.0
    return out


def matrix_quat(m: F32) -> tuple[float, float, float, float]:
    """Quaternion (x, y, z, w) of the rotation part of a rigid 4x4 matrix."""
    r00, r11, r22 = float(m[0, 0]), float(m[1, 1]), float(m[2, 2])
    trace = r00 + r11 + r22
    if trace > 0:
        s = math.sqrt(trace + 1.0) * 2
        return ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    if r00 > r11 and r00 > r22:
        s = math.sqrt(1.0 + r00 - r11 - r22) * 2
        return (0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    if r11 > r22:
        s = math.sqrt(1.0 + r11 - r00 - r22) * 2
        return ((m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    s = math.sqrt(1.0 + r22 - r00 - r11) * 2
    return ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s)


def euler_quat(degrees_xyz: Sequence[float]) -> tuple[float, float, float, float]:
    """Quaternion (x, y, z, w) of rotations about the fixed X, then Y, then Z axes."""
    rx, ry, rz = (math.radians(a) / 2.0 for a in degrees_xyz)
    cx, sx = math.cos(rx), math.sin(rx)
    cy, sy = math.cos(ry), math.sin(ry)
    cz, sz = math.cos(rz), math.sin(rz)
    # q = qz * qy * qx  (extrinsic X, Y, Z)
    return (
        sx * cy * cz - cx * sy * sz,
        cx * sy * cz + sx * cy * sz,
        cx * cy * sz - sx * sy * cz,
        cx * cy * cz + sx * sy * sz,
    )


def compose(position: Sequence[float], quat: Sequence[float], scale: Sequence[float]) -> F32:
    """Model matrix T * R * S."""
    out: F32 = compose_many([position], [quat], [scale])[0]
    return out


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> F32:
    """OpenGL clip-space projection (depth -1..1) for a symmetric frustum."""
    f = 1.0 / math.tan(math.radians(fov_y_deg) / 2.0)
    m = np.zeros((4, 4), dtype=np.float32)
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def frustum_from_fov(
    angle_left: float,
    angle_right: float,
    angle_up: float,
    angle_down: float,
    near: float,
    far: float,
) -> F32:
    """Asymmetric projection from four half-angles in radians (OpenXR ``XrFovf`` order)."""
    left, right = math.tan(angle_left), math.tan(angle_right)
    up, down = math.tan(angle_up), math.tan(angle_down)
    w, h = right - left, up - down
    m = np.zeros((4, 4), dtype=np.float32)
    m[0, 0] = 2.0 / w
    m[0, 2] = (right + left) / w
    m[1, 1] = 2.0 / h
    m[1, 2] = (up + down) / h
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def look_at(
    eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0.0, 1.0, 0.0)
) -> F32:
    """World-to-view matrix of a camera at ``eye`` looking at ``target``."""
    e = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - e
    n = np.linalg.norm(forward)
    if n == 0.0:
        raise ValueError("eye and target coincide")
    forward /= n
    upv = np.asarray(up, dtype=np.float64)
    side = np.cross(forward, upv)
    if np.linalg.norm(side) < 1e-9:  # looking straight along up: pick another up
        side = np.cross(forward, (0.0, 0.0, -1.0) if abs(upv[1]) > 0.5 else (0.0, 1.0, 0.0))
    side /= np.linalg.norm(side)
    true_up = np.cross(side, forward)
    m = identity()
    m[0, :3], m[1, :3], m[2, :3] = side, true_up, -forward
    m[:3, 3] = -m[:3, :3] @ e
    return m


def transform_points(matrix: npt.NDArray[np.floating], points: npt.ArrayLike) -> F32:
    """Apply a 4x4 matrix to (N, 3) points (with perspective divide)."""
    p = np.asarray(points, dtype=np.float64)
    h = p @ matrix[:3, :3].T.astype(np.float64) + matrix[:3, 3]
    w = p @ matrix[3, :3].astype(np.float64) + matrix[3, 3]
    out: F32 = (h / w[:, None]).astype(np.float32)
    return out


def pose7(position: npt.ArrayLike, rotation: npt.ArrayLike) -> tuple[float, ...]:
    """A pose as 7 floats (position, then quaternion x, y, z, w) from a position and a 3x3
    rotation: how sessions send heads, hands and cameras."""
    m = np.eye(4, dtype=np.float32)
    m[:3, :3] = np.asarray(rotation, dtype=np.float32)
    p = np.asarray(position, dtype=np.float64).reshape(3)
    return (*(float(c) for c in p), *(float(c) for c in matrix_quat(m)))


def box_corners(bounds: npt.ArrayLike) -> F32:
    """The 8 corners of an axis-aligned box given as ((min x, y, z), (max x, y, z))."""
    b = np.asarray(bounds, dtype=np.float32)
    idx = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])
    out: F32 = np.where(idx == 0, b[0], b[1]).astype(np.float32)
    return out


def transform_bounds(matrices: npt.NDArray[np.floating], bounds: npt.ArrayLike) -> F32:
    """World AABBs (N, 2, 3) of one local box under N model matrices (N, 4, 4), vectorised."""
    corners = box_corners(bounds)  # (8, 3)
    mats = np.asarray(matrices, dtype=np.float32)
    world = np.einsum("nij,kj->nki", mats[:, :3, :3], corners) + mats[:, None, :3, 3]
    return np.stack([world.min(axis=1), world.max(axis=1)], axis=1).astype(np.float32)
