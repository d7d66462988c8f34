"""Binary PLY files with polygons of mixed sizes, rewritten as triangles for trimesh.

trimesh reads binary face lists of one size only; Blender writes triangles and quads mixed.
:func:`triangulated_ply` rewrites such a file with fan triangles before trimesh sees it.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from xrclient.errors import AssetLimitError, MalformedAssetError
from xrclient.scene.guards import LoadLimits, PlyHeader

__all__ = ["triangulated_ply"]

_PLY_CODES = {
    "char": "b", "uchar": "B", "int8": "b", "uint8": "B",
    "short": "h", "ushort": "H", "int16": "h", "uint16": "H",
    "int": "i", "uint": "I", "int32": "i", "uint32": "I",
    "float": "f", "float32": "f", "double": "d", "float64": "d",
}  # fmt: skip


def triangulated_ply(path: Path, data: bytes, header: PlyHeader, limits: LoadLimits) -> bytes:
    """A binary PLY whose polygons differ in size (triangles and quads, as Blender writes),
    rewritten with fan triangles: trimesh reads binary face lists of one size only.

    Other PLY files are returned as they are. Face properties around the index list (face
    colours) are copied to every triangle of their polygon; polygons of under three
    vertices are dropped.
    """
    face = header.element("face")
    if header.format == "ascii" or face is None or face.lists != 1 or not face.count:
        return data
    start = header.header_bytes
    for element in header.elements:
        if element.name == "face":
            break
        if element.lists:
            return data
        start += element.count * element.fixed_bytes
    at = next(i for i, t in enumerate(face.types) if t.startswith("list "))
    _, count_type, item_type = face.types[at].split()
    order = "<" if header.format == "binary_little_endian" else ">"
    pre = sum(struct.calcsize(_PLY_CODES[t]) for t in face.types[:at])
    post = sum(struct.calcsize(_PLY_CODES[t]) for t in face.types[at + 1 :])
    count_size = struct.calcsize(_PLY_CODES[count_type])
    item = struct.calcsize(_PLY_CODES[item_type])
    read_count = struct.Struct(order + _PLY_CODES[count_type]).unpack_from
    if _uniform_polygons(data, start, face.count, pre, count_size, item, post, read_count):
        return data
    offsets = np.empty(face.count, dtype=np.int64)
    sizes = np.empty(face.count, dtype=np.int64)
    position = start
    try:
        for i in range(face.count):
            n = read_count(data, position + pre)[0]
            offsets[i], sizes[i] = position, n
            position += pre + count_size + n * item + post
    except struct.error:
        position = len(data) + 1
    if position > len(data) or int(sizes.min()) < 0:
        raise MalformedAssetError(path, "PLY face lists run past the end of the file")
    if (sizes == sizes[0]).all():
        return data
    triangles = int(np.maximum(sizes - 2, 0).sum())
    if triangles > limits.max_triangles:
        raise AssetLimitError(
            path,
            f"PLY polygons make {triangles:,} triangles, above the limit of "
            f"{limits.max_triangles:,}",
        )
    raw = np.frombuffer(data, dtype=np.uint8)
    three = np.frombuffer(struct.pack(order + _PLY_CODES[count_type], 3), dtype=np.uint8)
    blocks = []
    for n in np.unique(sizes[sizes >= 3]).tolist():
        length = pre + count_size + n * item + post
        rows = raw[offsets[sizes == n][:, None] + np.arange(length)]
        corners = rows[:, pre + count_size : length - post].reshape(len(rows), n, item)
        head, tail = rows[:, :pre], rows[:, length - post :]
        counts = np.broadcast_to(three, (len(rows), count_size))
        for k in range(1, n - 1):
            fan = [corners[:, 0], corners[:, k], corners[:, k + 1]]
            blocks.append(np.concatenate([head, counts, *fan, tail], axis=1))
    text = data[: header.header_bytes].decode("ascii")
    text = re.sub(r"(?m)^element face \d+", f"element face {triangles}", text, count=1)
    body = np.concatenate(blocks).tobytes() if blocks else b""
    return text.encode("ascii") + data[header.header_bytes : start] + body + data[position:]


def _uniform_polygons(
    data: bytes, start: int, count: int, pre: int, size: int, item: int, post: int, read: Any
) -> bool:
    """Whether every face list has the first one's length (one vectorised check of the
    length prefixes where records of that length would put them)."""
    try:
        first = read(data, start + pre)[0]
    except struct.error:
        return False
    record = pre + size + first * item + post
    if start + count * record > len(data):
        return False
    at = start + pre + record * np.arange(count, dtype=np.int64)
    raw = np.frombuffer(data, dtype=np.uint8)
    stamped = raw[at[:, None] + np.arange(size)]
    return bool((stamped == stamped[:1]).all())
