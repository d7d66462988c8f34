"""glTF accessor decoding and the fast GLB path, for :mod:`xrclient.scene.loaders`.

trimesh ignores ``sparse`` and ``normalized`` on accessors, so quantized
(``KHR_mesh_quantization``), normalized and sparse vertex attributes are decoded here to
float32 in an extra buffer before trimesh reads the document. Where this trimesh offers the
GLB reader below its JSON parse (:data:`GLB_BUFFERS`), the document the guard already parsed
and validated is handed to it directly instead of letting ``trimesh.load_scene`` parse the
JSON a second time; otherwise the public reader is used.
"""

from __future__ import annotations

import inspect
import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import trimesh
from trimesh.resolvers import Resolver

from xrclient.errors import MalformedAssetError
from xrclient.scene.guards import LoadLimits
from xrclient.scene.guards_gltf import GlbContents, buffer_bytes

__all__ = ["GLB_BUFFERS", "attributes_to_decode", "scene_from_decoded", "scene_from_glb"]

_F32 = npt.NDArray[np.float32]

_NUMPY_TYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_DECODED = ("POSITION", "NORMAL", "TANGENT", "TEXCOORD_", "COLOR_")


def _glb_buffer_reader() -> Any:
    """trimesh's GLB reader below its JSON parse, if this trimesh has the expected one.

    ``trimesh.load_scene`` would parse the GLB JSON a second time; handing trimesh the
    document the guard already parsed and validated saves that (a tenth of the load time of
    typical assets) and means trimesh reads exactly what was validated. With another
    trimesh layout the public ``load_scene`` is used instead.
    """
    try:
        from trimesh.exchange.gltf import _read_buffers
        from trimesh.exchange.load import _load_kwargs
    except ImportError:
        return None
    expected = {"header", "buffers", "mesh_kwargs", "resolver"}
    if not expected <= set(inspect.signature(_read_buffers).parameters):
        return None
    return _read_buffers, _load_kwargs


GLB_BUFFERS = _glb_buffer_reader()


def scene_from_glb(glb: GlbContents, resolver: Resolver) -> Any:
    """A self-contained GLB through trimesh's reader, from the guard's parsed document."""
    assert GLB_BUFFERS is not None
    read_buffers, load_kwargs = GLB_BUFFERS
    kwargs = read_buffers(
        header=glb.document,
        buffers=[bytes(glb.binary)] if glb.binary is not None else [],
        mesh_kwargs={"process": False},
        resolver=resolver,
    )
    return load_kwargs(**kwargs)


def attributes_to_decode(doc: dict[str, Any]) -> set[int]:
    """Vertex attribute accessors trimesh would misread, to be decoded to float32 first.

    trimesh ignores ``sparse`` and ``normalized``: it reads a sparse accessor's base (or
    zeros) and quantized integers (``KHR_mesh_quantization``: int16 positions, int8
    normals, normalized texture coordinates; also 16-bit colours) as raw integers. Morph
    targets, skins and animations are not drawn, so their accessors are left alone.
    """
    accessors = doc.get("accessors", [])
    out: set[int] = set()
    for mesh in doc.get("meshes", []):
        for prim in mesh["primitives"]:
            for name, index in prim["attributes"].items():
                acc = accessors[index]
                ctype = acc["componentType"]
                if not str(name).startswith(_DECODED) or acc["type"] not in _WIDTHS:
                    continue
                integer = ctype != 5126 and not (name.startswith("COLOR_") and ctype == 5121)
                if "sparse" in acc or integer:
                    out.add(index)
    return out


def scene_from_decoded(
    path: Path, glb: GlbContents, decode: set[int], resolver: Resolver, limits: LoadLimits
) -> Any:
    """Decode ``decode`` accessors into an extra float32 buffer, then let trimesh read it."""
    doc: dict[str, Any] = dict(glb.document)
    buffers: list[bytes] = buffer_bytes(path, glb, limits)
    accessors = list(doc["accessors"])
    views = list(doc.get("bufferViews", []))
    blob = bytearray()
    for index in sorted(decode):
        values = _decode_accessor(path, doc, buffers, accessors[index], index)
        views.append({"buffer": len(buffers), "byteOffset": len(blob), "byteLength": values.nbytes})
        blob += values.tobytes()
        accessors[index] = {
            "bufferView": len(views) - 1,
            "componentType": 5126,
            "count": len(values),
            "type": accessors[index]["type"],
        }
    buffers.append(bytes(blob))
    doc.update(accessors=accessors, bufferViews=views)
    doc["buffers"] = [*doc.get("buffers", []), {"byteLength": len(blob)}]
    if GLB_BUFFERS is not None:
        read_buffers, load_kwargs = GLB_BUFFERS
        kwargs = read_buffers(
            header=doc, buffers=buffers, mesh_kwargs={"process": False}, resolver=resolver
        )
        return load_kwargs(**kwargs)
    return trimesh.load_scene(
        io.BytesIO(_single_buffer_glb(doc, buffers)),
        file_type="glb",
        resolver=resolver,
        process=False,
    )


def _decode_accessor(
    path: Path, doc: dict[str, Any], buffers: list[bytes], acc: dict[str, Any], index: int
) -> _F32:
    """An accessor's elements as float32 rows, sparse substitution and normalization applied."""
    dtype = np.dtype(_NUMPY_TYPES[acc["componentType"]])
    width, count = _WIDTHS[acc["type"]], acc["count"]
    if "bufferView" in acc:
        values = _read_view(doc, buffers, acc["bufferView"], acc.get("byteOffset", 0), count,
                            dtype, width)  # fmt: skip
    else:
        values = np.zeros((count, width), dtype=dtype)
    sparse = acc.get("sparse")
    if sparse and sparse["count"]:
        n, where, what = sparse["count"], sparse["indices"], sparse["values"]
        itype = np.dtype(_NUMPY_TYPES[where["componentType"]])
        rows = _read_view(doc, buffers, where["bufferView"], where.get("byteOffset", 0), n,
                          itype, 1, tight=True)[:, 0]  # fmt: skip
        if int(rows.max()) >= count:
            raise MalformedAssetError(
                path, f"accessor {index}: sparse index {int(rows.max())} is out of range ({count})"
            )
        values[rows] = _read_view(doc, buffers, what["bufferView"], what.get("byteOffset", 0),
                                  n, dtype, width, tight=True)  # fmt: skip
    out = values.astype(np.float32)
    if acc.get("normalized") and dtype.kind in "iu":
        out *= np.float32(1.0 / np.iinfo(dtype).max)
        np.maximum(out, -1.0, out=out)
    return out


def _read_view(
    doc: dict[str, Any],
    buffers: list[bytes],
    view_index: int,
    offset: int,
    count: int,
    dtype: np.dtype[Any],
    width: int,
    tight: bool = False,
) -> npt.NDArray[Any]:
    """``count`` rows of ``width`` values from a (possibly strided) bufferView; a copy."""
    view = doc["bufferViews"][view_index]
    start = view.get("byteOffset", 0) + offset
    stride = (0 if tight else view.get("byteStride", 0)) or dtype.itemsize * width
    raw = np.frombuffer(buffers[view["buffer"]], dtype=np.uint8)
    rows = np.lib.stride_tricks.as_strided(
        raw[start:], shape=(count, width * dtype.itemsize), strides=(stride, 1), writeable=False
    )
    return np.array(rows).view(dtype).reshape(count, width)  # a writable copy


def _single_buffer_glb(doc: dict[str, Any], buffers: list[bytes]) -> bytes:
    """The document and all its buffers as one GLB (for trimesh's public reader)."""
    merged = bytearray()
    starts = []
    for data in buffers:
        merged += b"\x00" * (-len(merged) % 4)
        starts.append(len(merged))
        merged += data
    merged += b"\x00" * (-len(merged) % 4)
    doc = dict(doc)
    doc["bufferViews"] = [
        {**v, "buffer": 0, "byteOffset": starts[v["buffer"]] + v.get("byteOffset", 0)}
        for v in doc.get("bufferViews", [])
    ]
    doc["buffers"] = [{"byteLength": len(merged)}]
    text = orjson.dumps(doc)
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    chunks += struct.pack("<II", len(merged), 0x004E4942) + bytes(merged)
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks
