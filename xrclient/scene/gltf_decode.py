"""glTF accessor decoding and the fast GLB path, for :mod:`xrclient.scene.loaders`.

trimesh ignores ``sparse`` and ``normalized`` on accessors, so quantized
(``KHR_mesh_quantization``), normalized and sparse vertex attributes are decoded here to
float32 in an extra buffer before trimesh reads the document. In the same rewrite,
meshopt-compressed bufferViews (:mod:`xrclient.scene.gltf_meshopt`) and Draco-compressed
primitives (:mod:`xrclient.scene.gltf_draco`) are decoded, and nodes with
``EXT_mesh_gpu_instancing`` are marked for expansion (:mod:`xrclient.scene.gltf_instancing`);
a material that has ``KHR_materials_pbrSpecularGlossiness`` next to its metallic-roughness
values (as assimp writes) keeps only the latter, which trimesh would otherwise replace by an
approximate conversion. Documents that need none of this skip the rewrite. Where this
trimesh offers the GLB reader below its JSON parse (:data:`GLB_BUFFERS`), the document the
guard already parsed and validated is handed to it directly instead of letting
``trimesh.load_scene`` parse the JSON a second time; otherwise the public reader is used.
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
from xrclient.scene import gltf_draco, gltf_instancing, gltf_meshopt
from xrclient.scene.gltf_accessors import append_accessors, read_accessor
from xrclient.scene.guards import LoadLimits
from xrclient.scene.guards_gltf import GlbContents, buffer_bytes

__all__ = [
    "GLB_BUFFERS",
    "attributes_to_decode",
    "needs_rewrite",
    "scene_from_glb",
    "scene_from_rewritten",
]

_F32 = npt.NDArray[np.float32]

_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_SPEC_GLOSS = "KHR_materials_pbrSpecularGlossiness"
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


def needs_rewrite(doc: dict[str, Any], binary: bool = True) -> bool:
    """Whether the document must be rewritten before trimesh reads it (see module doc).

    ``binary``: the file has a BIN chunk. A buffer without data (no uri, and not a GLB's
    first buffer), which nothing but compressed views may refer to, is one more reason.
    """
    buffers = doc.get("buffers", [])
    dataless = any("uri" not in b for b in buffers[1:]) or (
        bool(buffers) and not binary and "uri" not in buffers[0]
    )
    return bool(
        dataless
        or _glossy_with_fallback(doc)
        or gltf_meshopt.compressed_views(doc)
        or gltf_draco.draco_primitives(doc)
        or gltf_instancing.instanced_nodes(doc)
        or attributes_to_decode(doc)
    )


def _glossy_with_fallback(doc: dict[str, Any]) -> list[int]:
    """Materials with ``KHR_materials_pbrSpecularGlossiness`` and a metallic-roughness
    fallback (assimp and older exporters write both)."""
    out = []
    for i, material in enumerate(doc.get("materials", [])):
        ext = material.get("extensions")
        if isinstance(ext, dict) and _SPEC_GLOSS in ext and "pbrMetallicRoughness" in material:
            out.append(i)
    return out


def _prefer_metallic_roughness(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with the specular-glossiness extension dropped where a material has
    the core metallic-roughness values too: those are what the file's author wrote for
    metallic-roughness renderers, while converting specular-glossiness only approximates."""
    glossy = _glossy_with_fallback(doc)
    if not glossy:
        return doc
    materials = list(doc["materials"])
    for i in glossy:
        material = dict(materials[i])
        material["extensions"] = {
            k: v for k, v in material["extensions"].items() if k != _SPEC_GLOSS
        }
        materials[i] = material
    return {**doc, "materials": materials}


def scene_from_rewritten(
    path: Path, glb: GlbContents, resolver: Resolver, limits: LoadLimits
) -> tuple[Any, dict[str, npt.NDArray[np.float64]]]:
    """Decode meshopt views, Draco primitives and integer attributes, mark instanced nodes,
    and prefer metallic-roughness values to specular-glossiness where a material has both.

    Returns the trimesh scene and the instance transforms of the marked nodes by scene node
    name (see :func:`xrclient.scene.gltf_instancing.mark_instanced_nodes`).
    """
    doc: dict[str, Any] = _prefer_metallic_roughness(dict(glb.document))
    buffers: list[bytes] = buffer_bytes(path, glb, limits)
    doc = gltf_meshopt.decode_views(path, doc, buffers, limits)
    doc = gltf_draco.decode_primitives(path, doc, buffers, limits)
    doc, batches = gltf_instancing.mark_instanced_nodes(path, doc, buffers)
    decode = attributes_to_decode(doc)
    if decode:
        accessors = doc["accessors"]
        decoded = [_decode_accessor(path, doc, buffers, accessors[i], i) for i in sorted(decode)]
        doc = append_accessors(doc, buffers, dict(zip(sorted(decode), decoded, strict=True)))
    if GLB_BUFFERS is not None:
        read_buffers, load_kwargs = GLB_BUFFERS
        kwargs = read_buffers(
            header=doc, buffers=buffers, mesh_kwargs={"process": False}, resolver=resolver
        )
        return load_kwargs(**kwargs), batches
    scene = trimesh.load_scene(
        io.BytesIO(_single_buffer_glb(doc, buffers)),
        file_type="glb",
        resolver=resolver,
        process=False,
    )
    return scene, batches


def _decode_accessor(
    path: Path, doc: dict[str, Any], buffers: list[bytes], acc: dict[str, Any], index: int
) -> _F32:
    """An accessor's elements as float32 rows, sparse substitution and normalization applied."""
    try:
        values = read_accessor(doc, buffers, acc)
    except ValueError as exc:
        raise MalformedAssetError(path, f"accessor {index}: {exc}") from None
    out = values.astype(np.float32)
    if acc.get("normalized") and values.dtype.kind in "iu":
        out *= np.float32(1.0 / np.iinfo(values.dtype).max)
        np.maximum(out, -1.0, out=out)
    return out


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
