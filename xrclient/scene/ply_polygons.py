"""PLY polygons rewritten as triangles before trimesh reads the file.

trimesh reads binary face lists of one size only (Blender writes triangles and quads
mixed), and cuts quads along their first diagonal and larger polygons as fans, which is
wrong for concave faces. :func:`triangulated_ply` cuts every face of four or more corners
with :func:`xrclient.scene.polygons.triangulate`, in ASCII and binary files alike.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrclient.errors import AssetLimitError, MalformedAssetError
from xrclient.scene.guards import LoadLimits, PlyElement, PlyHeader
from xrclient.scene.polygons import Budget, triangulate, warn_fanned

__all__ = ["triangulated_ply"]

_PLY_CODES = {
    "char": "b", "uchar": "B", "int8": "b", "uint8": "B",
    "short": "h", "ushort": "H", "int16": "h", "uint16": "H",
    "int": "i", "uint": "I", "int32": "i", "uint32": "I",
    "float": "f", "float32": "f", "double": "d", "float64": "d",
}  # fmt: skip


def triangulated_ply(path: Path, data: bytes, header: PlyHeader, limits: LoadLimits) -> bytes:
    """A PLY file whose faces of four or more corners are cut into triangles.

    Files of triangles only, or with list properties outside the face element, are
    returned as they are. Face properties around the index list (face colours) are copied
    to every triangle of their polygon; polygons of under three corners are dropped.
    """
    face = header.element("face")
    if face is None or face.lists != 1 or not face.count:
        return data
    for element in header.elements:
        if element.name == "face":
            break
        if element.lists:
            return data
    if header.format == "ascii":
        return _ascii(path, data, header, face, limits)
    return _binary(path, data, header, face, limits)


def _binary(
    path: Path, data: bytes, header: PlyHeader, face: PlyElement, limits: LoadLimits
) -> bytes:
    order = "<" if header.format == "binary_little_endian" else ">"
    start = header.header_bytes
    vertex_start = -1
    for element in header.elements:
        if element.name == "face":
            break
        if element.name == "vertex":
            vertex_start = start
        start += element.count * element.fixed_bytes
    vertex = header.element("vertex")
    if vertex is None or vertex_start < 0 or start > len(data):
        return data
    at = next(i for i, t in enumerate(face.types) if t.startswith("list "))
    _, count_type, item_type = face.types[at].split()
    pre = sum(struct.calcsize(_PLY_CODES[t]) for t in face.types[:at])
    post = sum(struct.calcsize(_PLY_CODES[t]) for t in face.types[at + 1 :])
    count_size = struct.calcsize(_PLY_CODES[count_type])
    item = struct.calcsize(_PLY_CODES[item_type])
    read_count = struct.Struct(order + _PLY_CODES[count_type]).unpack_from
    offsets, sizes, end = _face_records(
        data, start, face.count, pre, count_size, item, post, read_count
    )
    if end > len(data) or int(sizes.min()) < 0:
        raise MalformedAssetError(path, "PLY face lists run past the end of the file")
    if int(sizes.max()) <= 3:
        return data
    _check_triangles(path, sizes, limits)
    properties = zip(vertex.properties, vertex.types, strict=True)
    fields = [(name, order + _PLY_CODES[t]) for name, t in properties]
    records = np.frombuffer(data, dtype=np.dtype(fields), count=vertex.count, offset=vertex_start)
    positions = np.stack([records[c].astype(np.float64) for c in "xyz"], axis=1)
    index_type = np.dtype(order + _PLY_CODES[item_type])
    raw = np.frombuffer(data, dtype=np.uint8)
    three = np.frombuffer(struct.pack(order + _PLY_CODES[count_type], 3), dtype=np.uint8)
    blocks = []
    fanned = over = 0
    budget = Budget()
    for n in np.unique(sizes[sizes >= 3]).tolist():
        length = pre + count_size + n * item + post
        rows = raw[offsets[sizes == n][:, None] + np.arange(length)]
        corners = rows[:, pre + count_size : length - post].reshape(len(rows), n, item)
        head, tail = rows[:, :pre], rows[:, length - post :]
        counts = np.broadcast_to(three, (len(rows), count_size))
        cut, extra, cut_over = _cut(
            positions, corners.copy().view(index_type).reshape(len(rows), n), budget
        )
        fanned += extra
        over += cut_over
        for k in range(n - 2):
            corner = [corners[np.arange(len(rows)), cut[:, k, j]] for j in range(3)]
            blocks.append(np.concatenate([head, counts, *corner, tail], axis=1))
    warn_fanned(path, fanned, "PLY", over)
    body = np.concatenate(blocks).tobytes() if blocks else b""
    triangles = int(np.maximum(sizes - 2, 0).sum())
    return _header(data, header, triangles) + data[header.header_bytes : start] + body + data[end:]


def _ascii(
    path: Path, data: bytes, header: PlyHeader, face: PlyElement, limits: LoadLimits
) -> bytes:
    """The ASCII body rewritten record by record (one record a line, as the format says)."""
    lines = [line for line in data[header.header_bytes :].split(b"\n") if line.strip()]
    row = 0
    vertex_rows = -1
    for element in header.elements:
        if element.name == "face":
            break
        if element.name == "vertex":
            vertex_rows = row
        row += element.count
    vertex = header.element("vertex")
    if vertex is None or vertex_rows < 0 or row + face.count > len(lines):
        return data
    columns = [vertex.properties.index(c) for c in "xyz"]
    at = next(i for i, t in enumerate(face.types) if t.startswith("list "))
    try:
        faces = [line.split() for line in lines[row : row + face.count]]
        sizes = np.array([int(f[at]) for f in faces], dtype=np.int64)
    except (ValueError, IndexError):
        return data  # the PLY parser says what is wrong
    if len(sizes) == 0 or int(sizes.max()) <= 3 or int(sizes.min()) < 0:
        return data
    _check_triangles(path, sizes, limits)
    # vertex records hold scalars only (checked above): one number per property
    numbers = b" ".join(lines[vertex_rows : vertex_rows + vertex.count]).split()
    if len(numbers) != vertex.count * len(vertex.properties):
        return data
    try:
        table = np.array(numbers).reshape(vertex.count, len(vertex.properties))
        positions = table[:, columns].astype(np.float64)
    except ValueError:
        return data
    out: list[bytes] = []
    fanned = over = 0
    budget = Budget()
    for n in np.unique(sizes[sizes >= 3]).tolist():
        chosen = np.flatnonzero(sizes == n).tolist()
        try:
            corners = np.array(
                [faces[i][at + 1 : at + 1 + n] for i in chosen], dtype=np.int64
            ).reshape(len(chosen), n)
        except ValueError:
            return data
        if len(chosen) and not (corners.min() >= 0 and corners.max() < len(positions)):
            return data
        cut, extra, cut_over = _cut(positions, corners, budget)
        fanned += extra
        over += cut_over
        for i, triangles in zip(chosen, cut.tolist(), strict=True):
            record = faces[i]
            head, tail = record[:at], record[at + 1 + n :]
            for triangle in triangles:
                out.append(b" ".join([*head, b"3", *(record[at + 1 + k] for k in triangle), *tail]))
    warn_fanned(path, fanned, "PLY", over)
    lines[row : row + face.count] = out
    triangles = int(np.maximum(sizes - 2, 0).sum())
    return _header(data, header, triangles) + b"\n".join(lines)


def _cut(
    positions: npt.NDArray[np.float64], corners: npt.NDArray[Any], budget: Budget
) -> tuple[Any, int, int]:
    """Corner numbers of each polygon's triangles, the polygons fanned for having no plane
    or crossing themselves, and those fanned for want of ear-clipping work left. A polygon
    with a corner out of range is fanned uncounted: the PLY parser refuses the file."""
    count, n = corners.shape
    inside = (corners >= 0).all(axis=1) & (corners < len(positions)).all(axis=1)
    points = np.zeros((count, n, 3), dtype=np.float64)
    points[inside] = positions[corners[inside].astype(np.int64)]
    cut = triangulate(points, budget)
    fanned = cut.fanned - int((~inside).sum()) if n > 3 else 0
    return cut.triangles, fanned, cut.over_budget


def _check_triangles(path: Path, sizes: npt.NDArray[np.int64], limits: LoadLimits) -> None:
    triangles = int(np.maximum(sizes - 2, 0).sum())
    if triangles > limits.max_triangles:
        raise AssetLimitError(
            path,
            f"PLY polygons make {triangles:,} triangles, above the limit of "
            f"{limits.max_triangles:,}",
        )


def _header(data: bytes, header: PlyHeader, triangles: int) -> bytes:
    text = data[: header.header_bytes].decode("ascii")
    text = re.sub(r"(?m)^element face \d+", f"element face {triangles}", text, count=1)
    return text.encode("ascii")


def _face_records(
    data: bytes, start: int, count: int, pre: int, size: int, item: int, post: int, read: Any
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Offsets and corner counts of the face records, and where they end (past the end of
    ``data`` when the lists run past it). Uniform lists are found in one vectorised check
    of the length prefixes where records of that length would put them."""
    try:
        first = read(data, start + pre)[0]
    except struct.error:
        return np.zeros(count, np.int64), np.zeros(count, np.int64), len(data) + 1
    record = pre + size + first * item + post
    if start + count * record <= len(data):
        offsets = start + record * np.arange(count, dtype=np.int64)
        raw = np.frombuffer(data, dtype=np.uint8)
        stamped = raw[offsets[:, None] + pre + np.arange(size)]
        if (stamped == stamped[:1]).all():
            return offsets, np.full(count, first, dtype=np.int64), start + count * record
    offsets = np.empty(count, dtype=np.int64)
    sizes = np.empty(count, dtype=np.int64)
    position = start
    try:
        for i in range(count):
            n = read(data, position + pre)[0]
            offsets[i], sizes[i] = position, n
            position += pre + size + n * item + post
    except struct.error:
        position = len(data) + 1
    return offsets, sizes, position
