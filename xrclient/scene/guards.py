"""Cheap pre-validation of untrusted mesh and scan files, before any parser sees their bytes.

Every check here is arithmetic on a header (or a C-speed byte count): declared element
counts are compared with the configured limits first (:class:`AssetLimitError`) and then
with the number of bytes actually present (:class:`MalformedAssetError`), so a parser is
never asked to allocate what a file merely claims to contain. glTF has its own module,
:mod:`xrclient.scene.guards_gltf`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from xrclient.errors import (
    AssetError,
    AssetLimitError,
    MalformedAssetError,
    UnsupportedAssetError,
)


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Upper bounds applied to every untrusted mesh or scan file."""

    max_file_bytes: int = 256 * 2**20
    max_triangles: int = 5_000_000
    max_vertices: int = 10_000_000
    max_points: int = 50_000_000  # declared points in a scan before down-sampling
    max_image_pixels: int = 64 * 2**20  # embedded textures
    #: one file's base colour textures on the GPU (RGBA8 + mipmaps); past it they are halved
    max_texture_bytes: int = 512 * 2**20
    max_json_bytes: int = 32 * 2**20  # glTF JSON chunk / .gltf file


#: the limits used when a caller gives none (frozen, so safe to share)
DEFAULT_LIMITS = LoadLimits()

#: a header this long without its terminator is not a header
MAX_HEADER_BYTES = 64 * 1024

_ARCHIVE_SUFFIXES = frozenset(
    {".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".zst", ".tar", ".rar", ".lz4", ".z"}
)
_ARCHIVE_MAGIC = (
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"\x04\x22\x4d\x18", "LZ4"),
)


def check_file(path: Path, limits: LoadLimits) -> int:
    """The size of ``path`` after checking it is a regular, non-empty file within the limit."""
    if path.suffix.lower() in _ARCHIVE_SUFFIXES:
        raise UnsupportedAssetError(
            path, "compressed archives are not read; extract the mesh or scan file first"
        )
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise AssetError(path, "no such file") from None
    except OSError as exc:
        raise AssetError(path, f"cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnsupportedAssetError(path, "not a regular file")
    if info.st_size > limits.max_file_bytes:
        raise AssetLimitError(
            path,
            f"file is {info.st_size:,} bytes, above the limit of {limits.max_file_bytes:,} bytes",
        )
    if info.st_size == 0:
        raise MalformedAssetError(path, "file is empty")
    return info.st_size


def read_bytes(path: Path, limits: LoadLimits, count: int | None = None) -> bytes:
    """Up to ``count`` bytes (default: the whole file, bounded by ``max_file_bytes``)."""
    try:
        with open(path, "rb") as handle:
            # never ask for more than the file holds: read(n) allocates n bytes up front
            size = min(os.fstat(handle.fileno()).st_size, limits.max_file_bytes)
            data = handle.read(size + 1 if count is None else min(count, size + 1))
    except OSError as exc:
        raise AssetError(path, f"cannot be read: {exc.strerror or exc}") from None
    if count is None and len(data) > limits.max_file_bytes:
        raise AssetLimitError(path, f"file grew above the limit of {limits.max_file_bytes:,} bytes")
    check_not_archive(path, data)
    return data


def check_not_archive(path: Path, head: bytes) -> None:
    for magic, name in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            raise UnsupportedAssetError(
                path, f"file is a {name} archive; extract the mesh or scan file first"
            )


# --------------------------------------------------------------------------- PLY

_PLY_TYPES = {
    "char": 1, "uchar": 1, "int8": 1, "uint8": 1,
    "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
    "int": 4, "uint": 4, "int32": 4, "uint32": 4,
    "float": 4, "float32": 4, "double": 8, "float64": 8,
}  # fmt: skip
_PLY_FLOATS = frozenset({"float", "float32", "double", "float64"})
_PLY_FORMATS = frozenset({"ascii", "binary_little_endian", "binary_big_endian"})


@dataclass(frozen=True, slots=True)
class PlyElement:
    name: str
    count: int
    properties: tuple[str, ...]
    fixed_bytes: int  # bytes of the scalar properties of one record
    list_count_bytes: int  # bytes of the length prefixes of the list properties
    lists: int
    #: each property's type, in order; a list as "list <count type> <item type>"
    types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlyHeader:
    format: str
    header_bytes: int
    elements: tuple[PlyElement, ...]

    def element(self, name: str) -> PlyElement | None:
        return next((e for e in self.elements if e.name == name), None)

    @property
    def vertex_count(self) -> int:
        element = self.element("vertex")
        return element.count if element else 0

    @property
    def face_count(self) -> int:
        element = self.element("face")
        return element.count if element else 0


@dataclass(slots=True)
class _ElementBuilder:
    name: str
    count: int
    properties: list[str] = field(default_factory=list)
    fixed_bytes: int = 0
    list_count_bytes: int = 0
    lists: int = 0
    types: list[str] = field(default_factory=list)

    def add(self, path: Path, where: str, words: list[str]) -> None:
        if len(words) == 5 and words[1] == "list":
            count_type, item_type = words[2], words[3]
            if count_type not in _PLY_TYPES or count_type in _PLY_FLOATS:
                raise MalformedAssetError(path, f"{where}: bad list count type {count_type!r}")
            if item_type not in _PLY_TYPES:
                raise MalformedAssetError(path, f"{where}: unknown type {item_type!r}")
            self.list_count_bytes += _PLY_TYPES[count_type]
            self.lists += 1
            self.types.append(f"list {count_type} {item_type}")
        elif len(words) == 3 and words[1] in _PLY_TYPES:
            self.fixed_bytes += _PLY_TYPES[words[1]]
            self.types.append(words[1])
        else:
            raise MalformedAssetError(path, f"{where}: bad property line {' '.join(words)[:60]!r}")
        self.properties.append(words[-1])

    def build(self) -> PlyElement:
        return PlyElement(
            self.name,
            self.count,
            tuple(self.properties),
            self.fixed_bytes,
            self.list_count_bytes,
            self.lists,
            tuple(self.types),
        )


def _header_end(path: Path, head: bytes, what: str, marker: bytes) -> int:
    at = head.find(marker)
    if at < 0:
        raise MalformedAssetError(
            path, f"{what} header has no '{marker.decode()}' within {MAX_HEADER_BYTES} bytes"
        )
    newline = head.find(b"\n", at)
    if newline < 0:
        raise MalformedAssetError(path, f"{what} header ends without a newline")
    return newline + 1


def _decimal(path: Path, text: str, where: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise MalformedAssetError(path, f"{where}: {text[:40]!r} is not a valid count")
    return int(text)


def parse_ply_header(path: Path, head: bytes) -> PlyHeader:
    """Parse the text header of a PLY file (``head``: at least its first 64 KiB)."""
    if not (head.startswith(b"ply\n") or head.startswith(b"ply\r\n")):
        raise MalformedAssetError(path, "missing 'ply' magic line")
    end = _header_end(path, head[:MAX_HEADER_BYTES], "PLY", b"end_header")
    try:
        lines = head[:end].decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise MalformedAssetError(path, "PLY header is not ASCII text") from None
    fmt = ""
    elements: list[PlyElement] = []
    current: _ElementBuilder | None = None
    for number, line in enumerate(lines[1:], start=2):
        words = line.split()
        if not words or words[0] in ("comment", "obj_info", "end_header"):
            continue
        where = f"PLY header line {number}"
        if words[0] == "format":
            if len(words) != 3 or words[1] not in _PLY_FORMATS:
                raise MalformedAssetError(path, f"{where}: unknown format {line[:60]!r}")
            fmt = words[1]
        elif words[0] == "element":
            if len(words) != 3:
                raise MalformedAssetError(path, f"{where}: bad element line {line[:60]!r}")
            if current is not None:
                elements.append(current.build())
            current = _ElementBuilder(words[1], _decimal(path, words[2], where))
        elif words[0] == "property":
            if current is None:
                raise MalformedAssetError(path, f"{where}: property before any element")
            current.add(path, where, words)
        else:
            raise MalformedAssetError(path, f"{where}: unexpected keyword {words[0][:20]!r}")
    if current is not None:
        elements.append(current.build())
    if not fmt:
        raise MalformedAssetError(path, "PLY header has no 'format' line")
    return PlyHeader(format=fmt, header_bytes=end, elements=tuple(elements))


def check_ply(
    path: Path, header: PlyHeader, file_size: int, limits: LoadLimits, as_points: bool
) -> None:
    """Declared PLY element counts against the limits and against the bytes present."""
    vertex = header.element("vertex")
    if vertex is None or vertex.count == 0:
        raise MalformedAssetError(path, "PLY file declares no vertices")
    if not {"x", "y", "z"} <= set(vertex.properties):
        raise MalformedAssetError(path, "PLY vertex element lacks x, y, z properties")
    cap, noun = (limits.max_points, "points") if as_points else (limits.max_vertices, "vertices")
    if vertex.count > cap:
        raise AssetLimitError(
            path,
            f"PLY header declares {vertex.count:,} vertices, above the limit of {cap:,} {noun}",
        )
    if not as_points and header.face_count > limits.max_triangles:
        raise AssetLimitError(
            path,
            f"PLY header declares {header.face_count:,} faces, above the limit of "
            f"{limits.max_triangles:,} triangles",
        )
    body = file_size - header.header_bytes
    for element in header.elements:
        if header.format == "ascii":
            # every value needs at least one character and one separator
            per_record = 2 * (len(element.properties))
        else:
            # polygon lists hold at least three indices; other lists may be empty
            min_items = 3 if element.name == "face" else 0
            per_record = element.fixed_bytes + element.list_count_bytes + min_items * element.lists
        need = element.count * per_record
        if need > body:
            raise MalformedAssetError(
                path,
                f"PLY header declares {element.count:,} '{element.name}' records "
                f"needing at least {need:,} bytes, but only {body:,} bytes follow the header",
            )
        body -= need


# --------------------------------------------------------------------------- STL


def check_stl(path: Path, data: bytes, limits: LoadLimits) -> None:
    """Binary STL: declared triangle count must match the file size; ASCII: facet count."""
    size = len(data)
    declared = int.from_bytes(data[80:84], "little") if size >= 84 else -1
    if declared >= 0 and 84 + 50 * declared == size:
        if declared == 0:
            raise MalformedAssetError(path, "binary STL holds no triangles")
        if declared > limits.max_triangles:
            raise AssetLimitError(
                path,
                f"binary STL declares {declared:,} triangles, above the limit of "
                f"{limits.max_triangles:,}",
            )
        return
    if data.lstrip()[:5].lower() == b"solid" and b"\x00" not in data[:1024]:
        facets = data.count(b"endloop")
        if facets > limits.max_triangles:
            raise AssetLimitError(
                path,
                f"ASCII STL holds {facets:,} facets, above the limit of "
                f"{limits.max_triangles:,} triangles",
            )
        return
    if declared < 0:
        raise MalformedAssetError(path, f"{size} bytes is too short for a binary STL header")
    raise MalformedAssetError(
        path,
        f"binary STL declares {declared:,} triangles ({84 + 50 * declared:,} bytes) "
        f"but the file has {size:,} bytes",
    )


# --------------------------------------------------------------------------- OBJ


def check_obj(path: Path, data: bytes, limits: LoadLimits) -> None:
    """Count vertex and face records (C-speed byte counts) before the text parser runs."""
    if b"\x00" in data[:4096]:
        raise MalformedAssetError(path, "OBJ file contains binary data")
    vertices = data.count(b"\nv ") + data.startswith(b"v ")
    if vertices > limits.max_vertices:
        raise AssetLimitError(
            path,
            f"OBJ file holds {vertices:,} vertices, above the limit of {limits.max_vertices:,}",
        )
    faces = data.count(b"\nf ") + data.startswith(b"f ")
    if faces > limits.max_triangles:
        raise AssetLimitError(
            path,
            f"OBJ file holds {faces:,} faces, above the limit of "
            f"{limits.max_triangles:,} triangles",
        )


# --------------------------------------------------------------------------- PCD / XYZ

_PCD_SIZES = {"I": (1, 2, 4, 8), "U": (1, 2, 4, 8), "F": (4, 8)}


def check_pcd(path: Path, head: bytes, file_size: int, limits: LoadLimits) -> int:
    """Validate a PCD header; returns the declared point count."""
    end = _header_end(path, head[:MAX_HEADER_BYTES], "PCD", b"DATA")
    try:
        lines = head[:end].decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise MalformedAssetError(path, "PCD header is not ASCII text") from None
    fields: dict[str, list[str]] = {}
    for line in lines:
        words = line.split()
        if words and not words[0].startswith("#"):
            fields[words[0].upper()] = words[1:]
    for key in ("FIELDS", "SIZE", "TYPE", "POINTS", "DATA"):
        if not fields.get(key):
            raise MalformedAssetError(path, f"PCD header has no {key} line")
    names, sizes_s, types = fields["FIELDS"], fields["SIZE"], fields["TYPE"]
    counts_s = fields.get("COUNT") or ["1"] * len(names)
    if not len(names) == len(sizes_s) == len(types) == len(counts_s):
        raise MalformedAssetError(path, "PCD FIELDS, SIZE, TYPE and COUNT lengths differ")
    record = 0
    for name, size_s, kind, count_s in zip(names, sizes_s, types, counts_s, strict=True):
        size = _decimal(path, size_s, f"PCD SIZE of {name[:20]!r}")
        count = _decimal(path, count_s, f"PCD COUNT of {name[:20]!r}")
        if size not in _PCD_SIZES.get(kind.upper(), ()) or not 1 <= count <= 4096:
            raise MalformedAssetError(path, f"PCD field {name[:20]!r} has bad SIZE/TYPE/COUNT")
        record += size * count
    if not {"x", "y", "z"} <= set(names):
        raise MalformedAssetError(path, "PCD FIELDS lack x, y, z")
    points = _decimal(path, fields["POINTS"][0], "PCD POINTS")
    if points > limits.max_points:
        raise AssetLimitError(
            path, f"PCD header declares {points:,} points, above the limit of {limits.max_points:,}"
        )
    if points == 0:
        raise MalformedAssetError(path, "PCD header declares no points")
    if "WIDTH" in fields and "HEIGHT" in fields:
        width = _decimal(path, fields["WIDTH"][0], "PCD WIDTH")
        height = _decimal(path, fields["HEIGHT"][0], "PCD HEIGHT")
        if width * height != points:
            raise MalformedAssetError(
                path, f"PCD WIDTH x HEIGHT ({width} x {height}) does not match POINTS {points}"
            )
    mode = fields["DATA"][0].lower()
    body = file_size - end
    if mode == "ascii":
        need = points * 2 * len(names)
    elif mode == "binary":
        need = points * record
    elif mode == "binary_compressed":
        sizes = head[end : end + 8]
        if len(sizes) < 8:
            raise MalformedAssetError(path, "PCD compressed data has no size header")
        packed = int.from_bytes(sizes[:4], "little")
        unpacked = int.from_bytes(sizes[4:], "little")
        if unpacked != points * record:
            raise MalformedAssetError(
                path,
                f"PCD compressed block unpacks to {unpacked:,} bytes but "
                f"{points:,} points of {record} bytes need {points * record:,}",
            )
        need = 8 + packed
    else:
        raise UnsupportedAssetError(path, f"PCD DATA {mode[:20]!r} is not read")
    if need > body:
        raise MalformedAssetError(
            path,
            f"PCD header declares {points:,} points needing at least {need:,} bytes, "
            f"but only {body:,} bytes follow the header",
        )
    return points


def check_xyz(path: Path, data: bytes, limits: LoadLimits) -> int:
    """An XYZ scan is text, one point a line; returns the line count."""
    if b"\x00" in data[:4096]:
        raise MalformedAssetError(path, "XYZ file contains binary data")
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if lines > limits.max_points:
        raise AssetLimitError(
            path, f"XYZ file holds {lines:,} lines, above the limit of {limits.max_points:,} points"
        )
    return lines
