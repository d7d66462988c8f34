"""Hand-built files with the features real exporters write (glTF/GLB, OBJ, STL, PLY, PCD).

Everything is assembled byte by byte with struct, json and base64, following the format
specifications, so the loader tests exercise layouts that trimesh's own exporter never
produces: interleaved strided buffers, every index width, padded chunks, data: URIs,
big-endian PLY, packed PCD colours and so on.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Doc = dict[str, Any]

FLOAT, BYTE, UBYTE, SHORT, USHORT, UINT = 5126, 5120, 5121, 5122, 5123, 5125
POINTS, LINES, TRIANGLES = 0, 1, 4
_CTYPE = {
    np.dtype(np.float32): FLOAT,
    np.dtype(np.int8): BYTE,
    np.dtype(np.uint8): UBYTE,
    np.dtype(np.int16): SHORT,
    np.dtype(np.uint16): USHORT,
    np.dtype(np.uint32): UINT,
}
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}

# a unit cube as 8 corners and 12 counter-clockwise (outward) triangles
CUBE_POSITIONS = np.array(
    [[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], dtype=np.float32
)
CUBE_FACES = np.array(
    [
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5],  # -x, +x
        [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],  # -y, +y
        [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],  # -z, +z
    ],
    dtype=np.uint32,
)  # fmt: skip


class GltfBuilder:
    """Accumulates a glTF document and one binary buffer; writes GLB or .gltf forms."""

    def __init__(self, **asset: Any) -> None:
        self.doc: Doc = {"asset": {"version": "2.0", "generator": "interop test", **asset}}
        self.bin = bytearray()

    # ----------------------------------------------------------------- raw pieces

    def add(self, key: str, obj: Doc) -> int:
        items: list[Doc] = self.doc.setdefault(key, [])
        items.append(obj)
        return len(items) - 1

    def view(self, data: bytes, stride: int | None = None, target: int | None = None) -> int:
        """Append ``data`` (4-byte aligned) as a new bufferView; returns its index."""
        self.bin += b"\x00" * (-len(self.bin) % 4)
        view: Doc = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if stride is not None:
            view["byteStride"] = stride
        if target is not None:
            view["target"] = target
        self.bin += data
        return self.add("bufferViews", view)

    def accessor(
        self,
        values: npt.ArrayLike,
        dtype: Any = np.float32,
        normalized: bool = False,
        view: int | None = None,
        offset: int = 0,
        bounds: bool = True,
    ) -> int:
        """An accessor over ``values`` (rows = elements); a new tight bufferView unless given."""
        array = np.asarray(values).astype(dtype)
        width = 1 if array.ndim == 1 else array.shape[1]
        if view is None:
            view = self.view(array.tobytes())
        acc: Doc = {
            "bufferView": view,
            "componentType": _CTYPE[array.dtype],
            "count": len(array),
            "type": _TYPES[width],
        }
        if offset:
            acc["byteOffset"] = offset
        if normalized:
            acc["normalized"] = True
        if bounds and array.dtype == np.float32 and width == 3:
            acc["min"] = array.min(axis=0).tolist()
            acc["max"] = array.max(axis=0).tolist()
        return self.add("accessors", acc)

    def interleaved(self, positions: npt.ArrayLike, normals: npt.ArrayLike) -> tuple[int, int]:
        """POSITION and NORMAL sharing one bufferView with byteStride 24 (Blender's layout)."""
        pos = np.asarray(positions, dtype=np.float32)
        nor = np.asarray(normals, dtype=np.float32)
        rows = np.concatenate([pos, nor], axis=1)
        view = self.view(rows.tobytes(), stride=24, target=34962)
        n = len(pos)
        p = self.add(
            "accessors",
            {
                "bufferView": view,
                "componentType": FLOAT,
                "count": n,
                "type": "VEC3",
                "min": pos.min(axis=0).tolist(),
                "max": pos.max(axis=0).tolist(),
            },
        )
        q = self.add(
            "accessors",
            {"bufferView": view, "byteOffset": 12, "componentType": FLOAT, "count": n,
             "type": "VEC3"},
        )  # fmt: skip
        return p, q

    def material(self, name: str, rgba: Sequence[float], **extra: Any) -> int:
        pbr: Doc = {"baseColorFactor": list(rgba), "metallicFactor": 0.0}
        pbr.update(extra.pop("pbr", {}))
        return self.add("materials", {"name": name, "pbrMetallicRoughness": pbr, **extra})

    def primitive(
        self,
        positions: npt.ArrayLike,
        faces: npt.ArrayLike | None = None,
        index_dtype: Any = np.uint16,
        material: int | None = None,
        mode: int | None = None,
        **attributes: int,
    ) -> Doc:
        prim: Doc = {"attributes": {"POSITION": self.accessor(positions), **attributes}}
        if faces is not None:
            flat = np.asarray(faces).reshape(-1)
            prim["indices"] = self.accessor(flat, index_dtype)
        if material is not None:
            prim["material"] = material
        if mode is not None:
            prim["mode"] = mode
        return prim

    def mesh(self, *primitives: Doc, name: str = "mesh") -> int:
        return self.add("meshes", {"name": name, "primitives": list(primitives)})

    def cube_mesh(self, material: int | None = None, index_dtype: Any = np.uint16) -> int:
        prim = self.primitive(CUBE_POSITIONS, CUBE_FACES, index_dtype, material)
        return self.mesh(prim, name="cube")

    def node(self, **fields: Any) -> int:
        return self.add("nodes", fields)

    def scene(self, *roots: int, default: bool = True) -> int:
        index = self.add("scenes", {"nodes": list(roots)})
        if default:
            self.doc["scene"] = index
        return index

    # ----------------------------------------------------------------- containers

    def finish(self) -> Doc:
        if self.bin:
            self.doc["buffers"] = [{"byteLength": len(self.bin)}]
        return self.doc

    def glb(self, bin_padding: int = 0) -> bytes:
        """GLB: JSON chunk padded with spaces, BIN chunk with zeros (+ ``bin_padding`` extra)."""
        doc = self.finish()
        binary = bytes(self.bin)
        binary += b"\x00" * (-len(binary) % 4 + bin_padding)
        return glb_container(json.dumps(doc, indent=1).encode(), binary if self.bin else None)

    def gltf_embedded(self) -> bytes:
        """.gltf with the buffer as a base64 data: URI (the 'glTF Embedded' form)."""
        doc = self.finish()
        if self.bin:
            payload = base64.b64encode(bytes(self.bin)).decode()
            doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + payload
        return json.dumps(doc, indent=2).encode()

    def gltf_separate(self, folder: Path, stem: str) -> Path:
        """.gltf plus a side ``<stem>.bin`` (the 'glTF Separate' form); returns the .gltf."""
        doc = self.finish()
        if self.bin:
            (folder / f"{stem}.bin").write_bytes(bytes(self.bin))
            doc["buffers"][0]["uri"] = f"{stem}.bin"
        path = folder / f"{stem}.gltf"
        path.write_text(json.dumps(doc, indent=2))
        return path


def glb_container(json_bytes: bytes, binary: bytes | None) -> bytes:
    """GLB header and chunks; JSON padded with spaces (0x20) as the specification says."""
    json_bytes += b" " * (-len(json_bytes) % 4)
    chunks = struct.pack("<II", len(json_bytes), 0x4E4F534A) + json_bytes
    if binary is not None:
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def png_bytes(rgba: npt.NDArray[np.uint8]) -> bytes:
    """A real, decodable 8-bit RGBA PNG of the (H, W, 4) array."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    height, width = rgba.shape[:2]
    rows = b"".join(b"\x00" + rgba[y].tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def matrix_columns(matrix: npt.ArrayLike) -> list[float]:
    """A row-major 4x4 as glTF's column-major 16-number list."""
    return [float(v) for v in np.asarray(matrix, dtype=np.float64).T.reshape(-1)]


# --------------------------------------------------------------------------- STL


def stl_binary(triangles: npt.ArrayLike, header: bytes = b"") -> bytes:
    tris = np.asarray(triangles, dtype=np.float32).reshape(-1, 3, 3)
    out = bytearray(header.ljust(80, b" ")[:80])
    out += struct.pack("<I", len(tris))
    for tri in tris:
        normal = np.cross(tri[1] - tri[0], tri[2] - tri[0])
        out += struct.pack("<3f", *normal) + tri.astype("<f4").tobytes() + b"\x00\x00"
    return bytes(out)


def stl_ascii(triangles: npt.ArrayLike, name: str = "part", newline: str = "\n") -> bytes:
    tris = np.asarray(triangles, dtype=np.float64).reshape(-1, 3, 3)
    lines = [f"solid {name}"]
    for tri in tris:
        n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
        lines.append(f"  facet normal {n[0]:e} {n[1]:e} {n[2]:e}")
        lines.append("    outer loop")
        lines.extend(f"      vertex   {v[0]:e}  {v[1]:e}  {v[2]:e}" for v in tri)
        lines.append("    endloop")
        lines.append("  endfacet")
    lines.append(f"endsolid {name}")
    return (newline.join(lines) + newline).encode()


# --------------------------------------------------------------------------- PLY


def ply(
    fmt: str,
    vertex_props: Sequence[tuple[str, str]],
    vertices: Sequence[Sequence[float]],
    faces: Sequence[Sequence[int]] = (),
    face_list: str = "list uchar int vertex_indices",
    preamble: Sequence[str] = (),
) -> bytes:
    """A PLY file: ``vertex_props`` as (type, name); faces as index lists."""
    head = ["ply", f"format {fmt} 1.0", *preamble, f"element vertex {len(vertices)}"]
    head += [f"property {t} {n}" for t, n in vertex_props]
    if faces:
        head += [f"element face {len(faces)}", f"property {face_list}"]
    head.append("end_header")
    header = ("\n".join(head) + "\n").encode()
    if fmt == "ascii":
        body = "".join(" ".join(_num(v) for v in row) + "\n" for row in vertices)
        body += "".join(f"{len(f)} " + " ".join(map(str, f)) + "\n" for f in faces)
        return header + body.encode()
    order = "<" if fmt == "binary_little_endian" else ">"
    codes = {"float": "f", "float32": "f", "double": "d", "uchar": "B", "uint8": "B",
             "char": "b", "int": "i", "int32": "i", "uint": "I", "uint32": "I",
             "ushort": "H", "short": "h"}  # fmt: skip
    vcode = order + "".join(codes[t] for t, _ in vertex_props)
    body_b = b"".join(struct.pack(vcode, *row) for row in vertices)
    _, count_t, item_t, _ = face_list.split()
    for f in faces:
        body_b += struct.pack(order + codes[count_t] + codes[item_t] * len(f), len(f), *f)
    return header + body_b


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# --------------------------------------------------------------------------- PCD


def pack_rgb_float(r: int, g: int, b: int) -> float:
    """PCL's packed colour: 0x00RRGGBB reinterpreted as a float32."""
    value: float = struct.unpack("<f", struct.pack("<I", (r << 16) | (g << 8) | b))[0]
    return value


def pcd(points: npt.ArrayLike, rgb: Sequence[tuple[int, int, int]] | None, data: str) -> bytes:
    pts = np.asarray(points, dtype=np.float32)
    fields = "x y z" + (" rgb" if rgb is not None else "")
    n_fields = 4 if rgb is not None else 3
    head = [
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        f"FIELDS {fields}",
        "SIZE " + " ".join(["4"] * n_fields),
        "TYPE " + " ".join(["F"] * n_fields),
        "COUNT " + " ".join(["1"] * n_fields),
        f"WIDTH {len(pts)}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {len(pts)}",
        f"DATA {data}",
    ]
    header = ("\n".join(head) + "\n").encode()
    packed = [pack_rgb_float(*c) for c in rgb] if rgb is not None else None
    if data == "ascii":
        rows = []
        for i, p in enumerate(pts):
            cols = [repr(float(v)) for v in p]
            if packed is not None:
                cols.append(f"{packed[i]:.9e}")
            rows.append(" ".join(cols))
        return header + ("\n".join(rows) + "\n").encode()
    body = bytearray()
    for i, p in enumerate(pts):
        body += struct.pack("<3f", *p)
        if packed is not None:
            body += struct.pack("<f", packed[i])
    return header + bytes(body)
