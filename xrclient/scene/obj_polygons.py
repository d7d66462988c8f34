"""OBJ faces of four or more corners, rewritten as triangles before trimesh reads the file.

trimesh cuts an OBJ quad along its first diagonal and fans larger polygons, which is wrong
for concave faces. :func:`triangulated_obj` cuts every face with
:func:`xrclient.scene.polygons.triangulate` and writes the triangles of the faces where a
fan would be wrong as face lines with the face's own ``v/vt/vn`` references, so materials,
texture coordinates and normals stay as they were. Convex faces are left as written (the
parser's fan is right for them).

trimesh also counts a negative (relative) reference from the end of the whole file rather
than from the face, as the format says, which puts faces on the wrong vertices when more
vertices follow; such references are made absolute here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrclient.errors import AssetLimitError, MalformedAssetError
from xrclient.scene.guards import LoadLimits
from xrclient.scene.polygons import Budget, fan, triangulate, warn_fanned

__all__ = ["check_obj_vertices", "triangulated_obj"]

_POLYGON = re.compile(rb"(?m)^[ \t]*f[ \t]+(\S+(?:[ \t]+\S+){3,})")
_RELATIVE = re.compile(rb"(?m)^[ \t]*f[ \t][^\n]*[ \t/]-[0-9]")
_VERTEX_LINE = re.compile(rb"(?m)^[ \t]*v[ \t]")
_VERTEX = re.compile(rb"(?m)^[ \t]*v[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)")
_LEADING = re.compile(rb"(?:^|\s)(-?[0-9]+)")
_COUNTED = {b"v": 0, b"vt": 1, b"vn": 2}
_SHORT_VERTEX = re.compile(rb"(?m)^[ \t]*v(?:[ \t]+\S+){0,2}[ \t]*\r?$")

#: a polygon to cut: its line number, its corner tokens and its 0-based vertex indices
_Polygon = tuple[int, list[bytes], list[int]]


def triangulated_obj(path: Path, data: bytes, limits: LoadLimits) -> bytes:
    """``data`` with the faces a fan would draw wrong replaced by their triangles, and
    relative references made absolute.

    A face that refers to a vertex that does not exist, or a file whose vertex lines do not
    parse, is left for the OBJ parser to judge (see :func:`check_obj_vertices`).
    """
    relative = _RELATIVE.search(data) is not None
    if not relative and _POLYGON.search(data) is None:
        return data
    if relative or b"\\\n" in data or b"\\\r\n" in data:
        return _line_by_line(path, data, limits)
    spans = [m.span(1) for m in _POLYGON.finditer(data)]
    bodies = b"\n".join(data[a:b] for a, b in spans)
    tokens = bodies.split()
    # corners per polygon: whitespace runs between tokens, counted per line in one pass
    raw = np.frombuffer(re.sub(rb"[ \t]+", b" ", bodies), dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    sizes = np.diff(np.searchsorted(np.flatnonzero(raw == 32), ends, side="left"), prepend=0)
    sizes = np.append(sizes, int((raw == 32).sum()) - int(sizes.sum())) + 1
    faces = data.count(b"\nf ") + data.count(b"\nf\t") + data.startswith((b"f ", b"f\t"))
    _check_triangles(path, max(faces, len(spans)) + int((sizes - 3).sum()), limits)
    rows = _VERTEX.findall(data)
    if len(rows) != len(_VERTEX_LINE.findall(data)):
        return data  # a vertex line without three coordinates: the parser says what
    try:
        positions = np.array(rows).astype(np.float64).reshape(-1, 3)
    except ValueError:
        return data
    numbers = _LEADING.findall(bodies)
    if len(numbers) != len(tokens):
        return data  # a reference that is not a number: the parser says what
    vertex = np.array(numbers).astype(np.int64) - 1 if numbers else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out: list[bytes] = []
    at = 0
    fanned = over = 0
    budget = Budget()
    cuts: list[tuple[int, bytes]] = []  # polygon number, its new corner lists
    for n in np.unique(sizes).tolist():
        chosen = np.flatnonzero(sizes == n)
        indices = vertex[starts[chosen][:, None] + np.arange(n)]
        valid = ((indices >= 0) & (indices < len(positions))).all(axis=1)
        chosen, indices = chosen[valid], indices[valid]
        cut = triangulate(positions[indices], budget)
        fanned += cut.fanned
        over += cut.over_budget
        changed = np.flatnonzero((cut.triangles != fan(n)).any(axis=(1, 2)))
        for p, triangles in zip(changed.tolist(), cut.triangles[changed].tolist(), strict=True):
            first = int(starts[chosen[p]])
            corners = tokens[first : first + n]
            text = b"\nf ".join(b" ".join(corners[k] for k in t) for t in triangles)
            cuts.append((int(chosen[p]), text))
    warn_fanned(path, fanned, "OBJ", over)
    if not cuts:
        return data
    for number, text in sorted(cuts):
        start, end = spans[number]
        out += [data[at:start], text]
        at = end
    out.append(data[at:])
    return b"".join(out)


def check_obj_vertices(path: Path, data: bytes, scene: Any) -> None:
    """Refuse a parsed OBJ whose vertices are not points in 3D: trimesh reads a file with a
    vertex line of one or two coordinates as 1D or 2D vertices. The message names the
    first such line."""
    geometry = getattr(scene, "geometry", {}).values()
    if all(np.shape(getattr(g, "vertices", np.zeros((0, 3))))[1:] == (3,) for g in geometry):
        return
    short = _SHORT_VERTEX.search(data)
    if short is None:
        raise MalformedAssetError(path, "OBJ vertices do not all have three coordinates")
    line = data.count(b"\n", 0, short.start()) + 1
    shown = short.group(0).strip().decode("ascii", "replace")[:40]
    raise MalformedAssetError(
        path, f"OBJ line {line}: vertex {shown!r} has fewer than three coordinates"
    )


def _line_by_line(path: Path, data: bytes, limits: LoadLimits) -> bytes:
    """The slow path: relative references (counted from each face back) or continued
    lines, one line at a time."""
    lines = data.replace(b"\r\n", b"\n").replace(b"\\\n", b"").split(b"\n")
    vertex_lines: list[bytes] = []
    counts = [0, 0, 0]  # v, vt, vn defined so far
    polygons: list[_Polygon] = []
    triangles = 0
    for number, line in enumerate(lines):
        words = line.split(None, 1)
        if not words:
            continue
        kind = _COUNTED.get(words[0])
        if kind is not None:
            counts[kind] += 1
            if kind == 0:
                vertex_lines.append(line)
        elif words[0] == b"f":
            tokens = [_absolute(token, counts) for token in line.split()[1:]]
            lines[number] = b"f " + b" ".join(tokens)
            triangles += max(len(tokens) - 2, 0)
            if len(tokens) > 3:
                corners = _corners(tokens, counts[0])
                if corners is not None:
                    polygons.append((number, tokens, corners))
    _check_triangles(path, triangles, limits)
    try:
        positions = np.array([v.split()[1:4] for v in vertex_lines], dtype=np.float64)
    except ValueError:
        return data
    if positions.ndim != 2 or positions.shape[1] != 3:
        return data
    for number, text in _cut(path, positions, polygons).items():
        lines[number] = b"f " + text
    return b"\n".join(lines)


def _check_triangles(path: Path, triangles: int, limits: LoadLimits) -> None:
    if triangles > limits.max_triangles:
        raise AssetLimitError(
            path,
            f"OBJ faces make {triangles:,} triangles, above the limit of {limits.max_triangles:,}",
        )


def _absolute(token: bytes, counts: list[int]) -> bytes:
    """A ``v/vt/vn`` reference with its negative parts counted from the face back."""
    if b"-" not in token:
        return token
    parts = token.split(b"/")
    for k, part in enumerate(parts[:3]):
        if part.startswith(b"-") and part[1:].isdigit():
            index = counts[k] + int(part) + 1
            if index > 0:
                parts[k] = str(index).encode()
    return b"/".join(parts)


def _corners(tokens: list[bytes], defined: int) -> list[int] | None:
    """0-based vertex indices of absolute references; None if one is not a vertex."""
    corners = []
    for token in tokens:
        head = token.split(b"/", 1)[0]
        if not head.isdigit() or not 0 < int(head) <= defined:
            return None
        corners.append(int(head) - 1)
    return corners


def _cut(
    path: Path, positions: npt.NDArray[np.float64], polygons: list[_Polygon]
) -> dict[int, bytes]:
    """The new corner lists (``a b c\\nf c d a ...``) of each polygon a fan would draw
    wrong, by line number."""
    by_size: dict[int, list[_Polygon]] = {}
    for polygon in polygons:
        by_size.setdefault(len(polygon[1]), []).append(polygon)
    cuts: dict[int, bytes] = {}
    fanned = over = 0
    budget = Budget()
    for n, group in by_size.items():
        indices = np.array([g[2] for g in group], dtype=np.int64).reshape(-1, n)
        cut = triangulate(positions[indices], budget)
        fanned += cut.fanned
        over += cut.over_budget
        changed = np.flatnonzero((cut.triangles != fan(n)).any(axis=(1, 2)))
        for p, triangles in zip(changed.tolist(), cut.triangles[changed].tolist(), strict=True):
            number, tokens, _ = group[p]
            cuts[number] = b"\nf ".join(b" ".join(tokens[k] for k in t) for t in triangles)
    warn_fanned(path, fanned, "OBJ", over)
    return cuts
