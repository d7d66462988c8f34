"""Point-cloud scans (.ply without faces, .pcd, .xyz) read with open3d and voxel down-sampled.

open3d is optional (``pip install 'xrclient[scan]'``) and imported on first use. Headers
are pre-validated by :mod:`xrclient.scene.guards` before open3d reads a byte, because
open3d allocates what a header declares and answers garbage with an empty cloud and a
console warning rather than an error; an empty result is reported as
:class:`MalformedAssetError`. Points with NaN or infinite coordinates (invalid returns in
organised scans) are dropped.

The result is a ``primitive="points"`` :class:`MeshData` with at most ``budget`` points:
a voxel size is estimated from the bounds and refined from the counts it gives (the
local dimension of the scan, surface-like or volume-like, is measured between steps), and
the closest result not above the budget is kept. Colours are the file's (8-bit sRGB,
converted to linear) or a neutral light grey; normals are zeros (points are drawn unlit).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from xrclient.core.color import srgb_to_linear
from xrclient.errors import (
    AssetError,
    AssetLimitError,
    MalformedAssetError,
    MissingDependencyError,
    UnsupportedAssetError,
)
from xrclient.scene.guards import (
    DEFAULT_LIMITS,
    MAX_HEADER_BYTES,
    LoadLimits,
    check_file,
    check_pcd,
    check_ply,
    check_xyz,
    parse_ply_header,
    read_bytes,
)
from xrclient.scene.mesh import MeshData

SCAN_SUFFIXES = (".ply", ".pcd", ".xyz")

_NEUTRAL = np.array([0.6, 0.6, 0.6, 1.0], dtype=np.float32)
_REFINE_STEPS = 6


def load_point_cloud(
    path: Path, limits: LoadLimits = DEFAULT_LIMITS, budget: int = 500_000, scale: float = 1.0
) -> MeshData:
    """Read a scan into a point :class:`MeshData` of at most ``budget`` points."""
    return read_scan(path, limits, budget, scale)[0]


def read_scan(path: Path, limits: LoadLimits, budget: int, scale: float) -> tuple[MeshData, int]:
    """The down-sampled scan and the number of finite points the file held."""
    path = Path(path)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"point budget must be a positive integer, got {budget!r}")
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite positive number, got {scale!r}")
    size = check_file(path, limits)
    suffix = path.suffix.lower()
    if suffix not in SCAN_SUFFIXES:
        raise UnsupportedAssetError(
            path, f"'{suffix}' is not a scan format (expected one of {', '.join(SCAN_SUFFIXES)})"
        )
    # guards first: a hostile file is refused before open3d is even imported
    if suffix == ".xyz":
        data = read_bytes(path, limits)
        check_xyz(path, data, limits)
        data = _xyz_whitespace(path, data)
        o3d = _open3d()
        cloud = _call(path, o3d.io.read_point_cloud_from_bytes, data, format="mem::xyz")
    else:
        head = read_bytes(path, limits, MAX_HEADER_BYTES)
        if suffix == ".ply":
            check_ply(path, parse_ply_header(path, head), size, limits, as_points=True)
        else:
            check_pcd(path, head, size, limits)
        o3d = _open3d()
        cloud = _call(path, o3d.io.read_point_cloud, str(path), format=suffix[1:])
    count = len(cloud.points)
    if count == 0:
        raise MalformedAssetError(
            path, "no readable points: the scan does not parse, or every point is NaN/inf"
        )
    if count > limits.max_points:
        raise AssetLimitError(
            path, f"scan holds {count:,} points, above the limit of {limits.max_points:,}"
        )
    if count > budget:
        cloud = _call(path, _downsample, cloud, budget)
    positions = np.asarray(cloud.points, dtype=np.float32)
    if scale != 1.0:
        positions *= np.float32(scale)
    if not np.isfinite(positions).all():
        raise MalformedAssetError(path, "scan positions are not finite after scaling")
    n = len(positions)
    if cloud.has_colors():
        rgb = srgb_to_linear(np.clip(np.asarray(cloud.colors), 0.0, 1.0))
        colors = np.concatenate([rgb, np.ones((n, 1), dtype=np.float32)], axis=1)
    else:
        colors = np.tile(_NEUTRAL, (n, 1))
    mesh = MeshData(
        name=path.stem,
        positions=np.ascontiguousarray(positions),
        normals=np.zeros((n, 3), dtype=np.float32),
        colors=np.ascontiguousarray(colors, dtype=np.float32),
        indices=np.zeros((0, 3), dtype=np.uint32),
        primitive="points",
        parts=1,
        materials=(),
    )
    return mesh, count


def _xyz_whitespace(path: Path, data: bytes) -> bytes:
    """XYZ exports separate values by spaces, tabs, commas or semicolons (CloudCompare's
    ASCII export); open3d splits on whitespace only, so ',' and ';' become spaces. A file
    where a comma could be a decimal separator (commas next to whitespace-separated values,
    or commas and semicolons together) is refused rather than misread."""
    if b"," not in data and b";" not in data:
        return data
    sample = [line for line in data[:65536].splitlines()[:50] if _DIGIT.search(line)]
    for line in sample:
        joined = _SEPARATOR.sub(b",", line.strip())
        if (b"," in line and b";" in line) or (b"," in joined and len(joined.split()) > 1):
            raise UnsupportedAssetError(
                path,
                "XYZ values look like they use ',' as the decimal separator; "
                "export with '.' decimals",
            )
    return data.replace(b",", b" ").replace(b";", b" ")


_DIGIT = re.compile(rb"\d")
_SEPARATOR = re.compile(rb"\s*[,;]\s*")


def _open3d() -> ModuleType:
    try:
        import open3d as o3d
    except ImportError:
        raise MissingDependencyError("open3d-cpu", "scan", "Reading point cloud scans") from None
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    return o3d


def _call(path: Path, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an open3d step; anything it raises becomes a MalformedAssetError."""
    try:
        if func is _downsample:
            return func(*args, **kwargs)
        return func(*args, remove_nan_points=True, remove_infinite_points=True, **kwargs)
    except AssetError:
        raise
    except MemoryError:
        raise AssetLimitError(path, "ran out of memory while reading the scan") from None
    except Exception as exc:
        raise MalformedAssetError(
            path, f"scan reader rejected the file: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def _downsample(cloud: Any, budget: int) -> Any:
    """Voxel down-sample to at most ``budget`` points, as close to it as a few steps get."""
    extent = np.asarray(cloud.get_max_bound()) - np.asarray(cloud.get_min_bound())
    largest = float(extent.max())
    if not math.isfinite(largest) or largest <= 0.0:
        return cloud.uniform_down_sample(math.ceil(len(cloud.points) / budget))
    spans = np.sort(extent)[::-1]
    # first guess: the points cover the two largest extents of the box like a surface
    area = float(spans[0] * max(spans[1], largest * 1e-3))
    voxel = math.sqrt(area / budget)
    target = 0.9 * budget
    best: Any = None
    last: Any = None
    previous: tuple[float, int] | None = None
    for _ in range(_REFINE_STEPS):
        if voxel < largest * 1e-6:  # open3d refuses voxel grids this fine
            break
        last = cloud.voxel_down_sample(voxel)
        count = len(last.points)
        if count <= budget and (best is None or count > len(best.points)):
            best = last
        if 0.75 * budget <= count <= budget:
            break
        dimension = 2.0
        if previous is not None and previous[1] != count:
            dimension = math.log(previous[1] / count) / math.log(voxel / previous[0])
            dimension = min(max(dimension, 0.5), 3.0)
        previous = (voxel, count)
        voxel *= (count / target) ** (1.0 / dimension)
    if best is not None:
        return best
    source = last if last is not None else cloud
    return source.uniform_down_sample(math.ceil(len(source.points) / budget))
