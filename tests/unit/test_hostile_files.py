"""Malformed, truncated and hostile files: a typed AssetError, quickly, in bounded memory."""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh

from xrclient.errors import (
    AssetError,
    AssetLimitError,
    MalformedAssetError,
    UnsupportedAssetError,
)
from xrclient.scene.loaders import LoadLimits, load_asset
from xrclient.scene.mesh import MeshData

DEFAULT = LoadLimits()
TIME_BOUND_S = 10.0

# Imported up front: the time bound is for refusing a file, not for the first (lazy, and
# under tracemalloc much slower) import of open3d by the scan reader.
importlib.import_module("open3d")
MEMORY_BOUND = 64 * 2**20


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Any], Path]  # (folder, kit) -> file to load
    error: type[AssetError]
    reason: str  # regular expression the message must match
    limits: LoadLimits = DEFAULT


Edit = Callable[[dict[str, Any], bytearray], None]


def _glb(folder: Path, kit: Any, name: str, edit: Edit) -> Path:
    doc, binary = kit.quad()
    edit(doc, binary)
    path = folder / name
    path.write_bytes(kit.glb(doc, bytes(binary)))
    return path


def _raw_glb(folder: Path, kit: Any, name: str, edit: Callable[[bytearray], None]) -> Path:
    doc, binary = kit.quad()
    data = bytearray(kit.glb(doc, bytes(binary)))
    edit(data)
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def _gltf(folder: Path, name: str, uri: str, byte_length: int = 60) -> Path:
    doc = {
        "asset": {"version": "2.0"},
        "buffers": [{"uri": uri, "byteLength": byte_length}],
        "bufferViews": [{"buffer": 0, "byteLength": 48}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0}],
    }
    path = folder / name
    path.write_text(json.dumps(doc))
    return path


def _text(name: str, text: str | bytes) -> Callable[[Path, Any], Path]:
    def build(folder: Path, kit: Any) -> Path:
        path = folder / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    return build


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    target[key] = value


def _bad_indices(doc: dict[str, Any], binary: bytearray) -> None:
    binary[48:60] = np.array([0, 1, 2, 0, 2, 40000], dtype=np.uint16).tobytes()


def _nan_position(doc: dict[str, Any], binary: bytearray) -> None:
    binary[0:4] = struct.pack("<f", float("nan"))


def _node_cycle(doc: dict[str, Any], binary: bytearray) -> None:
    doc["nodes"] = [{"mesh": 0}, {"children": [2]}, {"children": [1]}]


def _instance_bomb(doc: dict[str, Any], binary: bytearray) -> None:
    doc["nodes"] = [{"children": list(range(1, 3001))}] + [{"mesh": 0}] * 3000


def _draco_garbage(doc: dict[str, Any], binary: bytearray) -> None:
    """A Draco-compressed primitive whose stream is the raw positions, not Draco data."""
    name = "KHR_draco_mesh_compression"
    doc["extensionsUsed"] = doc["extensionsRequired"] = [name]
    ext = {"bufferView": 0, "attributes": {"POSITION": 0}}
    doc["meshes"][0]["primitives"][0]["extensions"] = {name: ext}


def _meshopt_garbage(doc: dict[str, Any], binary: bytearray) -> None:
    """A meshopt-compressed bufferView whose stream is the raw positions, not meshopt data."""
    name = "EXT_meshopt_compression"
    doc["extensionsUsed"] = [name]
    ext = {"buffer": 0, "byteLength": 48, "byteStride": 12, "count": 4, "mode": "ATTRIBUTES"}
    doc["bufferViews"][0]["extensions"] = {name: ext}


def _png_bomb(doc: dict[str, Any], binary: bytearray, png: bytes) -> None:
    offset = len(binary)
    binary.extend(png)
    doc["bufferViews"].append({"buffer": 0, "byteOffset": offset, "byteLength": len(png)})
    doc["buffers"][0]["byteLength"] = len(binary)
    doc["images"] = [{"bufferView": 2, "mimeType": "image/png"}]
    doc["textures"] = [{"source": 0}]
    doc["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}


def _ply(header_counts: str, body: bytes, fmt: str = "binary_little_endian") -> bytes:
    return (
        f"ply\nformat {fmt} 1.0\n{header_counts}"
        "property float x\nproperty float y\nproperty float z\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode() + body


def _zip_named_glb(folder: Path, kit: Any) -> Path:
    path = folder / "model.glb"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.glb", kit.glb(*kit.quad()))
    return path


def _deep_json(folder: Path, kit: Any) -> Path:
    path = folder / "deep.gltf"
    path.write_text("[" * 200_000 + "]" * 200_000)
    return path


def _big_file(folder: Path, kit: Any) -> Path:
    path = folder / "large.stl"
    path.write_bytes(trimesh.creation.icosphere(subdivisions=3).export(file_type="stl"))
    return path


def _data_uri_short(folder: Path, kit: Any) -> Path:
    payload = base64.b64encode(b"\x00" * 24).decode()
    return _gltf(folder, "short.gltf", "data:application/octet-stream;base64," + payload)


def _obj_escape(folder: Path, kit: Any) -> Path:
    (folder / "inner").mkdir()
    (folder / "secret.mtl").write_text("newmtl stolen\nKd 1 0 0\n")
    path = folder / "inner" / "escape.obj"
    path.write_text("mtllib ../secret.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl stolen\nf 1 2 3\n")
    return path


PCD_HUGE = (
    "VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
    "WIDTH 1000000000000\nHEIGHT 1\nPOINTS 1000000000000\nDATA binary\n"
)
PCD_SHORT = (
    "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nWIDTH 500\nHEIGHT 1\nPOINTS 500\nDATA binary\n"
    + "\x00" * 12
)
PLY_NO_END = b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\n"
STL_LIAR = b"\x00" * 80 + struct.pack("<I", 1_000_000) + b"\x00" * 100

CASES = [
    Case(
        "glb-bad-magic",
        lambda f, k: _raw_glb(f, k, "magic.glb", lambda d: d.__setitem__(slice(0, 4), b"glTX")),
        MalformedAssetError,
        r"bad GLB magic",
    ),
    Case(
        "glb-length-field",
        lambda f, k: _raw_glb(f, k, "length.glb", lambda d: struct.pack_into("<I", d, 8, 99_999)),
        MalformedAssetError,
        r"declares 99,999 bytes but the file has",
    ),
    Case(
        "glb-truncated",
        lambda f, k: _raw_glb(f, k, "cut.glb", lambda d: d.__delitem__(slice(len(d) // 2, None))),
        MalformedAssetError,
        r"declares .* bytes but the file has",
    ),
    Case(
        "glb-json-garbage",
        lambda f, k: _raw_glb(
            f, k, "json.glb", lambda d: d.__setitem__(slice(20, 28), b"{not js!")
        ),
        MalformedAssetError,
        r"JSON does not parse",
    ),
    Case(
        "glb-bin-chunk-overrun",
        lambda f, k: _raw_glb(
            f, k, "binlen.glb", lambda d: struct.pack_into("<I", d, len(d) - 68, 10**6)
        ),
        MalformedAssetError,
        r"BIN chunk .* runs past the end",
    ),
    Case(
        "glb-accessor-count-2^31",
        lambda f, k: _glb(f, k, "count.glb", lambda d, b: _set(d["accessors"][0], "count", 2**31)),
        AssetLimitError,
        r"accessor 0 declares 2,147,483,648 elements",
    ),
    Case(
        "glb-accessor-past-view",
        lambda f, k: _glb(f, k, "acc.glb", lambda d, b: _set(d["accessors"][0], "count", 5)),
        MalformedAssetError,
        r"accessor 0 needs 60 bytes but bufferView 0 holds 48",
    ),
    Case(
        "glb-view-past-buffer",
        lambda f, k: _glb(
            f, k, "view.glb", lambda d, b: _set(d["bufferViews"][1], "byteLength", 4000)
        ),
        MalformedAssetError,
        r"bufferView 1 .* runs past the end of buffer 0",
    ),
    Case(
        "glb-buffer-past-bin",
        lambda f, k: _glb(f, k, "buf.glb", lambda d, b: _set(d["buffers"][0], "byteLength", 2**40)),
        MalformedAssetError,
        r"buffer 0 declares .* bytes but only 60",
    ),
    Case(
        "glb-accessor-index-ref",
        lambda f, k: _glb(
            f, k, "ref.glb", lambda d, b: _set(d["meshes"][0]["primitives"][0], "indices", 7)
        ),
        MalformedAssetError,
        r"'indices' 7 is out of range \(2 accessors\)",
    ),
    Case(
        "glb-index-values",
        lambda f, k: _glb(f, k, "idx.glb", _bad_indices),
        MalformedAssetError,
        r"triangle index 40000 is out of range \(4 vertices\)",
    ),
    Case(
        "glb-nan-position",
        lambda f, k: _glb(f, k, "nan.glb", _nan_position),
        MalformedAssetError,
        r"non-finite vertex positions \(NaN or inf",
    ),
    Case(
        "glb-node-cycle",
        lambda f, k: _glb(f, k, "cycle.glb", _node_cycle),
        MalformedAssetError,
        r"node hierarchy contains a cycle",
    ),
    Case(
        "glb-instance-bomb",
        lambda f, k: _glb(f, k, "inst.glb", _instance_bomb),
        AssetLimitError,
        r"instances add up to 6,000 triangles",
        LoadLimits(max_triangles=5_000),
    ),
    Case(
        "glb-draco-garbage-stream",
        lambda f, k: _glb(f, k, "draco.glb", _draco_garbage),
        MalformedAssetError,
        r"mesh 0 primitive 0: Draco stream does not decode",
    ),
    Case(
        "glb-meshopt-garbage-stream",
        lambda f, k: _glb(f, k, "meshopt.glb", _meshopt_garbage),
        MalformedAssetError,
        r"bufferView 0: meshopt stream does not decode",
    ),
    Case(
        "glb-khr-meshopt",
        lambda f, k: _glb(
            f, k, "meshopt.glb", lambda d, b: _set(d, "extensionsUsed", ["KHR_meshopt_compression"])
        ),
        UnsupportedAssetError,
        r"KHR_meshopt_compression \(meshopt",
    ),
    Case(
        "glb-png-bomb",
        lambda f, k: _glb(f, k, "bomb.glb", lambda d, b: _png_bomb(d, b, k.png(200_000, 200_000))),
        AssetLimitError,
        r"image 0 declares 200000x200000 pixels",
    ),
    Case(
        "glb-gltf1",
        lambda f, k: _glb(f, k, "v1.glb", lambda d, b: _set(d, "asset", {"version": "1.0"})),
        UnsupportedAssetError,
        r"glTF version '1.0'",
    ),
    Case(
        "gltf-uri-parent",
        lambda f, k: _gltf(f, "parent.gltf", "../outside.bin"),
        UnsupportedAssetError,
        r"outside the asset's folder",
    ),
    Case(
        "gltf-uri-absolute",
        lambda f, k: _gltf(f, "abs.gltf", "/etc/passwd"),
        UnsupportedAssetError,
        r"absolute path '/etc/passwd'",
    ),
    Case(
        "gltf-uri-url",
        lambda f, k: _gltf(f, "url.gltf", "https://example.com/x.bin"),
        UnsupportedAssetError,
        r"URLs .* are not fetched",
    ),
    Case(
        "gltf-uri-file-scheme",
        lambda f, k: _gltf(f, "scheme.gltf", "file:///etc/passwd"),
        UnsupportedAssetError,
        r"URLs .* are not fetched",
    ),
    Case(
        "gltf-data-uri-short",
        _data_uri_short,
        MalformedAssetError,
        r"buffer 0 declares 60 bytes but only 24",
    ),
    Case(
        "gltf-json-over-limit",
        _data_uri_short,
        AssetLimitError,
        r"above the limit of 100 bytes",
        LoadLimits(max_json_bytes=100),
    ),
    Case("gltf-deep-json", _deep_json, MalformedAssetError, r"JSON does not parse"),
    Case(
        "ply-vertex-4e9",
        _text("huge.ply", _ply("element vertex 4000000000\n", b"")),
        AssetLimitError,
        r"4,000,000,000 vertices, above the limit",
    ),
    Case(
        "ply-binary-short",
        _text("short.ply", _ply("element vertex 1000\n", b"\x00" * 100)),
        MalformedAssetError,
        r"1,000 'vertex' records needing at least 12,000 bytes",
    ),
    Case(
        "ply-ascii-short",
        _text("short_ascii.ply", _ply("element vertex 100000\n", b"0 0 0\n", "ascii")),
        MalformedAssetError,
        r"100,000 'vertex' records",
    ),
    Case("ply-bad-header", _text("hdr.ply", PLY_NO_END), MalformedAssetError, r"no 'end_header'"),
    Case(
        "stl-count-mismatch",
        _text("liar.stl", STL_LIAR),
        MalformedAssetError,
        r"declares 1,000,000 triangles .* but the file has 184 bytes",
    ),
    Case(
        "stl-ascii-garbage",
        _text("junk.stl", "solid junk\nthis is not a facet\nendsolid\n"),
        MalformedAssetError,
        r"STL|no triangle",
    ),
    Case(
        "pcd-points-huge",
        _text("huge.pcd", PCD_HUGE),
        AssetLimitError,
        r"1,000,000,000,000 points, above the limit",
    ),
    Case(
        "pcd-binary-short",
        _text("short.pcd", PCD_SHORT),
        MalformedAssetError,
        r"500 points needing at least 6,000 bytes",
    ),
    Case(
        "xyz-garbage",
        _text("noise.xyz", "hello world\nthis is not\na point cloud\n"),
        MalformedAssetError,
        r"no readable points",
    ),
    Case(
        "ply-points-garbage",
        _text("noise.ply", _ply("element vertex 3\n", b"a b c\nd e f\ng h i\n3 0 1 2\n", "ascii")),
        MalformedAssetError,
        r"no readable points|parser rejected",
    ),
    Case("zip-named-glb", _zip_named_glb, UnsupportedAssetError, r"ZIP archive"),
    Case(
        "gz-suffix",
        _text("plant.glb.gz", gzip.compress(b"glTF")),
        UnsupportedAssetError,
        r"compressed archives are not read",
    ),
    Case(
        "gzip-named-ply",
        _text("scan.ply", gzip.compress(b"ply\n" * 100)),
        UnsupportedAssetError,
        r"gzip archive",
    ),
    Case(
        "file-over-limit",
        _big_file,
        AssetLimitError,
        r"file is [\d,]+ bytes, above the limit of 1,000 bytes",
        LoadLimits(max_file_bytes=1000),
    ),
    Case("empty-file", _text("empty.obj", b""), MalformedAssetError, r"file is empty"),
    Case(
        "unknown-suffix",
        _text("model.fbx", b"Kaydara FBX Binary"),
        UnsupportedAssetError,
        r"'.fbx' is not a known mesh or scan format",
    ),
    Case("obj-mtllib-escape", _obj_escape, UnsupportedAssetError, r"outside the asset's folder"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file_is_rejected(case: Case, tmp_path: Path, kit: Any) -> None:
    folder = tmp_path / "assets"
    folder.mkdir()
    path = case.build(folder, kit)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(AssetError) as caught:
            load_asset(path, limits=case.limits)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    error = caught.value
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    assert path.name in str(error)
    assert error.file == str(path)
    assert _matches(case.reason, error.reason), error.reason
    assert elapsed < TIME_BOUND_S
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.1f} MiB"


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_case_table_covers_every_error_class() -> None:
    assert len(CASES) >= 15
    assert {c.error for c in CASES} == {MalformedAssetError, AssetLimitError, UnsupportedAssetError}


# --------------------------------------------------------------------------- fuzzing


def _variants(data: bytes, seed: int, count: int = 100) -> list[bytes]:
    """Half truncations at spread offsets, half copies with 1-4 random bytes changed."""
    rng = np.random.default_rng(seed)
    cuts = np.unique(np.linspace(1, len(data) - 1, count // 2).astype(int))
    out = [data[:cut] for cut in cuts]
    while len(out) < count:
        flipped = bytearray(data)
        for at in rng.integers(0, len(data), size=int(rng.integers(1, 5))):
            flipped[at] = int(rng.integers(0, 256))
        out.append(bytes(flipped))
    return out


def _check_loaded(mesh: MeshData) -> None:
    assert mesh.vertex_count > 0
    assert np.isfinite(mesh.positions).all()
    assert np.isfinite(mesh.normals).all() and np.isfinite(mesh.colors).all()
    if mesh.primitive == "triangles":
        assert mesh.indices.dtype == np.uint32
        assert int(mesh.indices.max()) < mesh.vertex_count


@pytest.mark.parametrize("suffix", [".glb", ".ply"])
def test_fuzzed_files_load_or_raise_asset_error(tmp_path: Path, kit: Any, suffix: str) -> None:
    source = kit.two_parts()
    if suffix == ".glb":
        data = source.export(file_type="glb")
    else:
        mesh = trimesh.creation.icosphere(subdivisions=1)
        mesh.visual.face_colors = np.tile([10, 200, 30, 255], (len(mesh.faces), 1))
        data = mesh.export(file_type="ply")
    outcomes = {"loaded": 0, "rejected": 0}
    limits = replace(LoadLimits(), max_triangles=100_000, max_vertices=100_000)
    for i, variant in enumerate(_variants(data, seed=1234 + len(suffix))):
        path = tmp_path / f"variant_{i:03d}{suffix}"
        path.write_bytes(variant)
        started = time.perf_counter()
        try:
            mesh_data = load_asset(path, limits=limits)
        except AssetError as exc:
            assert path.name in str(exc)
            outcomes["rejected"] += 1
        else:
            _check_loaded(mesh_data)
            outcomes["loaded"] += 1
        assert time.perf_counter() - started < TIME_BOUND_S
    assert outcomes["rejected"] >= 40  # every truncation at least
    assert outcomes["loaded"] >= 1  # some flips land in harmless bytes
