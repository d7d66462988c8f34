"""glTF files as production pipelines write them: GPU instancing and Draco compression.

Fixtures are built here following the extension specifications: ``EXT_mesh_gpu_instancing``
(per-node TRANSLATION / ROTATION / SCALE accessors) and ``KHR_draco_mesh_compression``
(streams encoded with DracoPy, the primitive's accessors keeping their counts and no
bufferView).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import DracoPy
import numpy as np
import numpy.typing as npt
import pytest
import trimesh
from interop_builders import CUBE_FACES, CUBE_POSITIONS, UINT, GltfBuilder, glb_container

from xrclient.errors import (
    AssetLimitError,
    MalformedAssetError,
    UnsupportedAssetError,
)
from xrclient.scene import gltf_draco
from xrclient.scene.loaders import LoadLimits, load_mesh

INSTANCING = "EXT_mesh_gpu_instancing"
DRACO = "KHR_draco_mesh_compression"


# --------------------------------------------------------------------------- helpers


def _quat_z(degrees: float) -> list[float]:
    half = math.radians(degrees) / 2
    return [0.0, 0.0, math.sin(half), math.cos(half)]


def _trs(t: npt.ArrayLike, q: npt.ArrayLike, s: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """glTF T x R x S with an XYZW quaternion (independent of the loader's code)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    rotation = trimesh.transformations.quaternion_matrix([w, x, y, z])
    out = trimesh.transformations.translation_matrix(t) @ rotation
    return np.asarray(out @ np.diag([*np.asarray(s, dtype=np.float64), 1.0]))


def _save(tmp_path: Path, builder: GltfBuilder, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(builder.glb())
    return path


TRANSLATIONS = np.array([[0, 0, 0], [3, 0, 0], [0, 4, 0], [1, 2, -5]], dtype=np.float32)
ROTATIONS = np.array([_quat_z(0), _quat_z(90), _quat_z(180), _quat_z(-45)], dtype=np.float32)
SCALES = np.array([[1, 1, 1], [2, 2, 2], [1, 0.5, 3], [-1, 1, 1]], dtype=np.float32)


def _instanced_file(
    tmp_path: Path,
    attributes: dict[str, tuple[npt.ArrayLike, Any, bool]] | None = None,
    required: bool = False,
    parent: dict[str, Any] | None = None,
) -> Path:
    """A cube drawn by one instanced node below a translated parent."""
    b = GltfBuilder()
    mesh = b.cube_mesh()
    attributes = attributes or {
        "TRANSLATION": (TRANSLATIONS, np.float32, False),
        "ROTATION": (ROTATIONS, np.float32, False),
        "SCALE": (SCALES, np.float32, False),
    }
    ids = {
        name: b.accessor(values, dtype, normalized=normalized, bounds=False)
        for name, (values, dtype, normalized) in attributes.items()
    }
    child = b.node(
        mesh=mesh, translation=[0.0, 0.0, 1.0], extensions={INSTANCING: {"attributes": ids}}
    )
    root = b.node(children=[child], **(parent or {"translation": [10.0, 0.0, 0.0]}))
    b.scene(root)
    b.doc["extensionsUsed"] = [INSTANCING]
    if required:
        b.doc["extensionsRequired"] = [INSTANCING]
    return _save(tmp_path, b, "instanced.glb")


def _reference_file(tmp_path: Path, matrices: list[npt.NDArray[np.float64]]) -> Path:
    """The same copies as plain nodes, one per instance (what the extension stands for)."""
    b = GltfBuilder()
    mesh = b.cube_mesh()
    kids = [b.node(mesh=mesh, matrix=m.T.reshape(-1).tolist()) for m in matrices]
    child = b.node(children=kids, translation=[0.0, 0.0, 1.0])
    root = b.node(children=[child], translation=[10.0, 0.0, 0.0])
    b.scene(root)
    return _save(tmp_path, b, "reference.glb")


def _instance_matrices() -> list[npt.NDArray[np.float64]]:
    return [_trs(t, q, s) for t, q, s in zip(TRANSLATIONS, ROTATIONS, SCALES, strict=True)]


# --------------------------------------------------------------------------- instancing


def test_every_instance_lands_where_the_file_puts_it(tmp_path: Path) -> None:
    mesh = load_mesh(_instanced_file(tmp_path))
    assert mesh.vertex_count == 4 * 8 and mesh.triangle_count == 4 * 12
    assert mesh.parts == 4
    node_world = _trs([10, 0, 1], [0, 0, 0, 1], [1, 1, 1])
    corners = np.c_[CUBE_POSITIONS, np.ones(8)]
    for k, instance in enumerate(_instance_matrices()):
        expected = (node_world @ instance @ corners.T).T[:, :3]
        np.testing.assert_allclose(mesh.positions[8 * k : 8 * k + 8], expected, atol=1e-5)


def test_instances_match_the_same_copies_written_as_nodes(tmp_path: Path) -> None:
    """Positions, normals (a mirrored copy included) and winding as plain nodes give."""
    got = _copies(load_mesh(_instanced_file(tmp_path)))
    want = _copies(load_mesh(_reference_file(tmp_path, _instance_matrices())))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _copies(mesh: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """Positions, normals and local triangles per cube copy, in a fixed order of copies."""
    positions = mesh.positions.reshape(-1, 8, 3)
    normals = mesh.normals.reshape(-1, 8, 3)
    faces = mesh.indices.reshape(-1, 12, 3) - 8 * np.arange(len(positions))[:, None, None]
    order = np.lexsort(np.round(positions.mean(axis=1), 4).T)
    return positions[order], normals[order], faces[order]


def test_rotation_as_normalized_shorts_and_partial_attributes(tmp_path: Path) -> None:
    shorts = np.round(ROTATIONS * 32767).astype(np.int16)
    path = _instanced_file(
        tmp_path,
        {"ROTATION": (shorts, np.int16, True), "TRANSLATION": (TRANSLATIONS, np.float32, False)},
        required=True,
    )
    mesh = load_mesh(path)
    node_world = _trs([10, 0, 1], [0, 0, 0, 1], [1, 1, 1])
    corners = np.c_[CUBE_POSITIONS, np.ones(8)]
    for k in range(4):
        instance = _trs(TRANSLATIONS[k], ROTATIONS[k], [1, 1, 1])
        expected = (node_world @ instance @ corners.T).T[:, :3]
        np.testing.assert_allclose(mesh.positions[8 * k : 8 * k + 8], expected, atol=1e-3)


def test_instanced_multi_primitive_mesh_and_plain_child(tmp_path: Path) -> None:
    """Every primitive of the mesh is instanced; a child node of the instanced node is not."""
    b = GltfBuilder()
    low = b.primitive(CUBE_POSITIONS, CUBE_FACES)
    high = b.primitive(CUBE_POSITIONS + np.float32(5), CUBE_FACES)
    two = b.mesh(low, high, name="two")
    single = b.cube_mesh()
    ids = {"TRANSLATION": b.accessor(TRANSLATIONS[:3] * 100)}
    plain = b.node(mesh=single, translation=[0.0, -50.0, 0.0])
    root = b.node(mesh=two, children=[plain], extensions={INSTANCING: {"attributes": ids}})
    b.scene(root)
    mesh = load_mesh(_save(tmp_path, b, "multi.glb"))
    assert mesh.triangle_count == (3 * 2 + 1) * 12
    blocks = mesh.positions.reshape(-1, 8, 3).mean(axis=1)
    centres = sorted(tuple(np.round(c, 3)) for c in blocks)
    expected = [tuple(t * 100 + o) for t in TRANSLATIONS[:3] for o in (0.0, 5.0)]
    expected.append((0.0, -50.0, 0.0))
    assert centres == sorted(expected)


def test_instances_times_triangles_checked_before_expanding(tmp_path: Path) -> None:
    path = _instanced_file(tmp_path)  # 4 copies x 12 triangles = 48
    with pytest.raises(AssetLimitError, match=r"instances add up to 48 triangles"):
        load_mesh(path, LoadLimits(max_triangles=47))
    with pytest.raises(AssetLimitError, match=r"declares 4 instances, above the limit of 3"):
        load_mesh(path, LoadLimits(max_triangles=3))
    assert load_mesh(path, LoadLimits(max_triangles=48)).triangle_count == 48


@pytest.mark.parametrize("name", ["TRANSLATION", "ROTATION", "SCALE"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_instance_values_are_malformed(tmp_path: Path, name: str, bad: float) -> None:
    values = {"TRANSLATION": TRANSLATIONS, "ROTATION": ROTATIONS, "SCALE": SCALES}[name].copy()
    values[2, 1] = bad
    path = _instanced_file(tmp_path, {name: (values, np.float32, False)})
    with pytest.raises(MalformedAssetError, match=rf"{INSTANCING}: {name} holds NaN or infinite"):
        load_mesh(path)


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"TRANSLATION": (ROTATIONS, np.float32, False)}, r"TRANSLATION accessor must be VEC3"),
        ({"SCALE": (np.ones((4, 3), np.int16), np.int16, True)}, r"SCALE accessor must be VEC3"),
        ({"ROTATION": (np.ones((4, 4), np.int8), np.int8, False)}, r"ROTATION accessor must be"),
        (
            {
                "TRANSLATION": (TRANSLATIONS, np.float32, False),
                "SCALE": (SCALES[:3], np.float32, False),
            },
            r"different counts \[3, 4\]",
        ),
        ({"ROTATION": (np.zeros((4, 4)), np.float32, False)}, r"ROTATION 0 is a zero quaternion"),
    ],
)
def test_wrong_instance_accessors_are_malformed(
    tmp_path: Path, attributes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MalformedAssetError, match=reason):
        load_mesh(_instanced_file(tmp_path, attributes))


# --------------------------------------------------------------------------- Draco


def _sphere() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=2, radius=2.0)


def _draco_file(
    tmp_path: Path,
    meshes: list[trimesh.Trimesh] | None = None,
    *,
    stream: bytes | None = None,
    count_shift: int = 0,
    name: str = "draco.glb",
    quantization_bits: int = 14,
) -> tuple[Path, list[tuple[npt.NDArray[Any], npt.NDArray[Any]]]]:
    """Each mesh Draco-compressed into one primitive; returns the file and what was encoded."""
    b = GltfBuilder()
    encoded = []
    prims = []
    for source in meshes or [_sphere()]:
        data = DracoPy.encode(
            np.asarray(source.vertices, dtype=np.float32),
            np.asarray(source.faces, dtype=np.uint32),
            quantization_bits=quantization_bits,
            normals=np.asarray(source.vertex_normals, dtype=np.float64),
            preserve_order=True,
        )
        decoded = DracoPy.decode(data)  # generators take the counts from the decoded data
        points, faces = len(decoded.points), len(decoded.faces)
        ids = {a["attribute_type"]: a["unique_id"] for a in decoded.attributes}
        view = b.view(stream if stream is not None else data)
        position = b.add(
            "accessors",
            {
                "componentType": 5126,
                "count": points + count_shift,
                "type": "VEC3",
                "min": source.vertices.min(axis=0).tolist(),
                "max": source.vertices.max(axis=0).tolist(),
            },
        )
        normal = b.add(
            "accessors", {"componentType": 5126, "count": points + count_shift, "type": "VEC3"}
        )
        indices = b.add("accessors", {"componentType": UINT, "count": 3 * faces, "type": "SCALAR"})
        ext = {
            "bufferView": view,
            "attributes": {
                "POSITION": ids[DracoPy.AttributeType.POSITION],
                "NORMAL": ids[DracoPy.AttributeType.NORMAL],
            },
        }
        prims.append(
            {
                "attributes": {"POSITION": position, "NORMAL": normal},
                "indices": indices,
                "mode": 4,
                "extensions": {DRACO: ext},
            }
        )
        encoded.append((np.asarray(source.vertices), np.asarray(source.faces)))
    nodes = [b.node(mesh=b.mesh(p, name=f"m{i}")) for i, p in enumerate(prims)]
    b.scene(*nodes)
    b.doc["extensionsUsed"] = [DRACO]
    b.doc["extensionsRequired"] = [DRACO]
    return _save(tmp_path, b, name), encoded


def test_draco_positions_equal_the_source_within_the_quantisation_step(tmp_path: Path) -> None:
    source = _sphere()
    path, _ = _draco_file(tmp_path, [source])
    mesh = load_mesh(path)
    assert mesh.vertex_count == len(source.vertices)
    assert mesh.triangle_count == len(source.faces)
    step = float(np.ptp(source.vertices, axis=0).max()) / (2**14 - 1)
    np.testing.assert_allclose(mesh.positions, source.vertices, atol=step)
    np.testing.assert_array_equal(mesh.indices, source.faces)
    # the file's normals were decoded too (outward on a sphere)
    outward = np.einsum("ij,ij->i", mesh.normals, source.vertices / 2.0)
    assert outward.min() > 0.99


def test_draco_primitives_of_a_file_decode_in_one_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = trimesh.creation.box(extents=[1, 2, 3])
    path, _ = _draco_file(tmp_path, [_sphere(), box, _sphere().apply_translation([9, 0, 0])])
    started: list[list[str]] = []
    popen = gltf_draco.subprocess.Popen

    def counted(command: list[str], **kwargs: Any) -> Any:
        started.append(command)
        return popen(command, **kwargs)

    monkeypatch.setattr(gltf_draco.subprocess, "Popen", counted)
    mesh = load_mesh(path)
    assert len(started) == 1
    assert mesh.triangle_count == 2 * len(_sphere().faces) + len(box.faces)
    assert mesh.bounds[1][0] == pytest.approx(11.0, abs=1e-2)


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    json_length = int.from_bytes(data[12:16], "little")
    return json.loads(data[20 : 20 + json_length]), bytes(data[28 + json_length :])


def _with_instances(data: bytes, node: int, translations: npt.NDArray[np.float32]) -> bytes:
    """A GLB with TRANSLATION instances added to ``node``, per EXT_mesh_gpu_instancing."""
    doc, binary = _split(data)
    binary += b"\x00" * (-len(binary) % 4)
    view = {"buffer": 0, "byteOffset": len(binary), "byteLength": translations.nbytes}
    binary += translations.astype(np.float32).tobytes()
    doc["bufferViews"].append(view)
    doc["buffers"][0]["byteLength"] = len(binary)
    accessor = {"bufferView": len(doc["bufferViews"]) - 1, "componentType": 5126}
    accessor.update(count=len(translations), type="VEC3")
    doc["accessors"].append(accessor)
    ext = {"attributes": {"TRANSLATION": len(doc["accessors"]) - 1}}
    doc["nodes"][node].setdefault("extensions", {})[INSTANCING] = ext
    doc["extensionsUsed"] = [*doc.get("extensionsUsed", []), INSTANCING]
    return glb_container(json.dumps(doc).encode(), binary)


def test_instancing_added_to_a_trimesh_export(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=[1.0, 2.0, 3.0])
    scene = trimesh.Scene()
    lift = trimesh.transformations.translation_matrix([0.0, 0.0, 7.0])
    scene.add_geometry(box, node_name="box", transform=lift)
    data = trimesh.exchange.gltf.export_glb(scene)
    doc, _ = _split(data)
    node = next(i for i, n in enumerate(doc["nodes"]) if "mesh" in n)
    translations = np.array([[0, 0, 0], [10, 0, 0], [0, -10, 0]], dtype=np.float32)
    path = tmp_path / "trimesh_instanced.glb"
    path.write_bytes(_with_instances(data, node, translations))
    mesh = load_mesh(path)
    assert mesh.triangle_count == 3 * len(box.faces)
    n = len(box.vertices)
    placed = np.asarray(box.vertices) + np.array([0.0, 0.0, 7.0])
    for k, t in enumerate(translations):
        np.testing.assert_allclose(mesh.positions[k * n : (k + 1) * n], placed + t, atol=1e-5)


def test_draco_export_of_trimesh_matches_its_plain_export(tmp_path: Path) -> None:
    """A real writer's layout (trimesh's Draco exporter): same geometry as uncompressed."""
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(extents=[1, 2, 3]), node_name="box")
    ball = trimesh.creation.icosphere()
    aside = trimesh.transformations.translation_matrix([5.0, 0.0, 0.0])
    scene.add_geometry(ball, node_name="ball", transform=aside)
    plain, packed = tmp_path / "plain.glb", tmp_path / "packed.glb"
    plain.write_bytes(trimesh.exchange.gltf.export_glb(scene, include_normals=True))
    packed.write_bytes(
        trimesh.exchange.gltf.export_glb(scene, include_normals=True, extension_draco=True)
    )
    assert DRACO in _split(packed.read_bytes())[0]["extensionsRequired"]
    want, got = load_mesh(plain), load_mesh(packed)
    assert (got.vertex_count, got.triangle_count) == (want.vertex_count, want.triangle_count)
    step = 6.0 / (2**11 - 1)  # the coarsest quantisation a Draco writer uses by default
    np.testing.assert_allclose(got.positions, want.positions, atol=step)
    np.testing.assert_array_equal(got.indices, want.indices)


def test_draco_and_instancing_together(tmp_path: Path) -> None:
    path, _ = _draco_file(tmp_path, [_sphere()])
    translations = np.array([[0, 0, 0], [0, 10, 0]], dtype=np.float32)
    path.write_bytes(_with_instances(path.read_bytes(), 0, translations))
    mesh = load_mesh(path)
    assert mesh.triangle_count == 2 * len(_sphere().faces)
    assert mesh.bounds[1][1] == pytest.approx(12.0, abs=1e-2)


def test_corrupt_draco_stream_is_malformed(tmp_path: Path) -> None:
    path, _ = _draco_file(tmp_path, stream=b"DRACO\x02\x02" + bytes(range(200)))
    with pytest.raises(MalformedAssetError, match=r"mesh 0 primitive 0: Draco stream does not"):
        load_mesh(path)
    path, _ = _draco_file(tmp_path, stream=b"not draco at all", name="garbage.glb")
    with pytest.raises(MalformedAssetError, match=r"Draco stream does not decode"):
        load_mesh(path)


@pytest.mark.parametrize("shift", [1, -1])
def test_draco_counts_that_lie_are_refused(tmp_path: Path, shift: int) -> None:
    path, _ = _draco_file(tmp_path, count_shift=shift)
    with pytest.raises(MalformedAssetError, match=r"its accessors declare"):
        load_mesh(path)


def test_draco_counts_checked_against_limits_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_child(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a decoder was started for a file over the limits")

    monkeypatch.setattr(gltf_draco.subprocess, "Popen", no_child)
    path, _ = _draco_file(tmp_path)
    with pytest.raises(AssetLimitError, match=r"declares 162 vertices, above the limit of 100"):
        load_mesh(path, LoadLimits(max_vertices=100))
    with pytest.raises(AssetLimitError, match=r"320 triangles, above the limit of 300"):
        load_mesh(path, LoadLimits(max_triangles=300))


def _worker(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(gltf_draco, "worker_command", lambda: [sys.executable, "-c", code])


def test_killed_decoder_child_is_a_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _draco_file(tmp_path)
    die = "import os, signal, sys; sys.stdin.buffer.read(); os.kill(os.getpid(), signal.SIGKILL)"
    _worker(monkeypatch, die)
    with pytest.raises(MalformedAssetError, match=r"Draco decoder failed \(signal 9\)"):
        load_mesh(path)


def test_hung_decoder_child_is_stopped_at_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _draco_file(tmp_path)
    monkeypatch.setattr(gltf_draco, "BASE_TIMEOUT_S", 0.5)
    _worker(monkeypatch, "import time; time.sleep(120)")
    with pytest.raises(AssetLimitError, match=r"Draco decoding took longer than"):
        load_mesh(path)


def test_decoder_over_its_memory_allowance_is_a_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real worker with no address space to spare: out of memory, not a dead viewer."""
    big = trimesh.creation.icosphere(subdivisions=6)
    path, _ = _draco_file(tmp_path, [big])
    monkeypatch.setattr(gltf_draco, "BASE_MEMORY_BYTES", -16 * 2**40)  # clamps to none spare
    with pytest.raises(AssetLimitError, match=r"Draco decoding ran out of its memory"):
        load_mesh(path)
    monkeypatch.setattr(gltf_draco, "BASE_MEMORY_BYTES", 0)  # the allowance for its size
    assert load_mesh(path).vertex_count == len(big.vertices)


def test_decoder_reply_that_lies_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _draco_file(tmp_path)
    _worker(monkeypatch, "import sys; sys.stdin.buffer.read(); sys.stdout.buffer.write(b'x' * 64)")
    with pytest.raises(MalformedAssetError, match=r"malformed reply"):
        load_mesh(path)
    huge = "import sys; sys.stdin.buffer.read(); sys.stdout.buffer.write(b'x' * (64 << 20))"
    _worker(monkeypatch, huge)
    with pytest.raises(AssetLimitError, match=r"replied with over"):
        load_mesh(path)


def test_draco_without_the_decoder_installed_is_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _draco_file(tmp_path)
    monkeypatch.setattr(gltf_draco, "available", lambda: False)
    with pytest.raises(UnsupportedAssetError, match=r"needs the DracoPy package"):
        load_mesh(path)


def test_draco_mode_and_attribute_checks(tmp_path: Path) -> None:
    path, _ = _draco_file(tmp_path)
    doc, binary = _split(path.read_bytes())
    strip = json.loads(json.dumps(doc))
    strip["meshes"][0]["primitives"][0]["mode"] = 5
    path.write_bytes(glb_container(json.dumps(strip).encode(), binary))
    with pytest.raises(UnsupportedAssetError, match=r"only triangles"):
        load_mesh(path)
    extra = json.loads(json.dumps(doc))
    extra["meshes"][0]["primitives"][0]["extensions"][DRACO]["attributes"]["TEXCOORD_0"] = 2
    path.write_bytes(glb_container(json.dumps(extra).encode(), binary))
    with pytest.raises(MalformedAssetError, match=r"not an attribute of the primitive"):
        load_mesh(path)


# --------------------------------------------------------------------------- meshopt

MESHOPT = "EXT_meshopt_compression"


def _meshopt_file(tmp_path: Path, name: str = "meshopt.glb", stream: bytes | None = None) -> Path:
    """The cube with positions (ATTRIBUTES) and indices (TRIANGLES) meshopt-compressed.

    Compressed bytes live in the BIN chunk (buffer 0); the views decode into a placeholder
    buffer 1 without data, marked as the fallback, as the extension specifies.
    """
    import meshopt

    positions = CUBE_POSITIONS.astype(np.float32)
    indices = CUBE_FACES.reshape(-1).astype(np.uint16)
    b = GltfBuilder()
    packed = [
        (meshopt.encode_gltf_buffer(positions, "ATTRIBUTES"), 12, 8, "ATTRIBUTES"),
        (meshopt.encode_gltf_buffer(indices, "TRIANGLES"), 2, 36, "TRIANGLES"),
    ]
    views = []
    placeholder = 0
    for data, stride, count, mode in packed:
        b.bin += b"\x00" * (-len(b.bin) % 4)
        ext: dict[str, Any] = {"buffer": 0, "byteOffset": len(b.bin), "byteLength": len(data)}
        ext.update(byteStride=stride, count=count, mode=mode)
        if stream is not None:
            data = stream
            ext["byteLength"] = len(stream)
        b.bin += data
        view: dict[str, Any] = {"buffer": 1, "byteOffset": placeholder}
        view.update(byteLength=stride * count, extensions={MESHOPT: ext})
        if mode == "ATTRIBUTES":
            view["byteStride"] = stride
        views.append(b.add("bufferViews", view))
        placeholder += -(-stride * count // 4) * 4
    position = b.add(
        "accessors",
        {"bufferView": views[0], "componentType": 5126, "count": 8, "type": "VEC3",
         "min": [-0.5] * 3, "max": [0.5] * 3},
    )  # fmt: skip
    index = b.add(
        "accessors", {"bufferView": views[1], "componentType": 5123, "count": 36, "type": "SCALAR"}
    )
    mesh = b.mesh({"attributes": {"POSITION": position}, "indices": index})
    b.scene(b.node(mesh=mesh))
    b.doc["extensionsUsed"] = b.doc["extensionsRequired"] = [MESHOPT]
    doc = b.finish()
    doc["buffers"].append({"byteLength": placeholder, "extensions": {MESHOPT: {"fallback": True}}})
    binary = bytes(b.bin) + b"\x00" * (-len(b.bin) % 4)
    path = tmp_path / name
    path.write_bytes(glb_container(json.dumps(doc).encode(), binary))
    return path


def test_meshopt_views_decode_to_the_original_data(tmp_path: Path) -> None:
    """Exact positions; the same triangles and winding (the index codec may rotate corners)."""
    mesh = load_mesh(_meshopt_file(tmp_path))
    np.testing.assert_array_equal(mesh.positions, CUBE_POSITIONS)
    np.testing.assert_array_equal(_rotated_first_min(mesh.indices), CUBE_FACES)


def _rotated_first_min(faces: npt.NDArray[Any]) -> npt.NDArray[Any]:
    shift = np.argmin(faces, axis=1)
    rows = np.arange(len(faces))[:, None]
    return faces[rows, (shift[:, None] + np.arange(3)) % 3]


def test_meshopt_octahedral_normals_and_quantized_attributes(tmp_path: Path) -> None:
    """As gltfpack -c writes: int8 octahedral-filtered normals under KHR_mesh_quantization."""
    import meshopt

    sphere = trimesh.creation.icosphere(subdivisions=2)
    positions = np.asarray(sphere.vertices, dtype=np.float32)
    normals = np.asarray(sphere.vertex_normals, dtype=np.float32)
    indices = np.asarray(sphere.faces, dtype=np.uint32).reshape(-1)
    octa = meshopt.encode_filter_oct(np.c_[normals, np.ones(len(normals))], 4, 8)
    streams = [
        (meshopt.encode_gltf_buffer(positions, "ATTRIBUTES"), 12, len(positions), "ATTRIBUTES",
         "NONE", {"componentType": 5126, "type": "VEC3", "min": [-1.0] * 3, "max": [1.0] * 3}),
        (meshopt.encode_gltf_buffer(np.ascontiguousarray(octa), "ATTRIBUTES"), 4, len(normals),
         "ATTRIBUTES", "OCTAHEDRAL", {"componentType": 5120, "type": "VEC3", "normalized": True}),
        (meshopt.encode_gltf_buffer(indices, "TRIANGLES"), 4, len(indices), "TRIANGLES", "NONE",
         {"componentType": 5125, "type": "SCALAR"}),
    ]  # fmt: skip
    b = GltfBuilder()
    accessors = []
    placeholder = 0
    for data, stride, count, mode, filt, acc in streams:
        b.bin += b"\x00" * (-len(b.bin) % 4)
        ext = {"buffer": 0, "byteOffset": len(b.bin), "byteLength": len(data)}
        ext.update(byteStride=stride, count=count, mode=mode, filter=filt)
        b.bin += data
        view: dict[str, Any] = {"buffer": 1, "byteOffset": placeholder}
        view.update(byteLength=stride * count, extensions={MESHOPT: ext})
        if mode == "ATTRIBUTES":
            view["byteStride"] = stride
        placeholder += stride * count
        index = b.add("bufferViews", view)
        accessors.append(b.add("accessors", {"bufferView": index, "count": count, **acc}))
    prim = {"attributes": {"POSITION": accessors[0], "NORMAL": accessors[1]}}
    prim["indices"] = accessors[2]
    b.scene(b.node(mesh=b.mesh(prim)))
    b.doc["extensionsUsed"] = [MESHOPT, "KHR_mesh_quantization"]
    b.doc["extensionsRequired"] = [MESHOPT, "KHR_mesh_quantization"]
    doc = b.finish()
    doc["buffers"].append({"byteLength": placeholder, "extensions": {MESHOPT: {"fallback": True}}})
    path = tmp_path / "packed.glb"
    path.write_bytes(glb_container(json.dumps(doc).encode(), bytes(b.bin)))
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.positions, positions)
    np.testing.assert_allclose(mesh.normals, normals, atol=0.03)
    assert sorted(map(tuple, _rotated_first_min(mesh.indices))) == sorted(
        map(tuple, _rotated_first_min(sphere.faces))
    )


def test_meshopt_corrupt_stream_is_malformed(tmp_path: Path) -> None:
    path = _meshopt_file(tmp_path, stream=b"\xa0" + bytes(40))
    with pytest.raises(MalformedAssetError, match=r"bufferView \d: meshopt stream does not"):
        load_mesh(path)


def test_meshopt_decoded_size_checked_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_child(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a decoder was started for a file over the limits")

    path = _meshopt_file(tmp_path)
    doc, binary = _split(path.read_bytes())
    doc["bufferViews"][0]["extensions"][MESHOPT]["count"] = 1_000_000
    doc["bufferViews"][0]["byteLength"] = 12_000_000
    doc["buffers"][1]["byteLength"] = 13_000_000
    path.write_bytes(glb_container(json.dumps(doc).encode(), binary))
    monkeypatch.setattr(gltf_draco.subprocess, "Popen", no_child)
    with pytest.raises(AssetLimitError, match=r"meshopt-compressed views decode to over"):
        load_mesh(path, LoadLimits(max_file_bytes=2**20))


def test_meshopt_layout_that_does_not_fill_its_view_is_malformed(tmp_path: Path) -> None:
    path = _meshopt_file(tmp_path)
    doc, binary = _split(path.read_bytes())
    doc["bufferViews"][0]["extensions"][MESHOPT]["count"] = 7
    path.write_bytes(glb_container(json.dumps(doc).encode(), binary))
    with pytest.raises(MalformedAssetError, match=r"7 x 12 bytes does not fill the bufferView"):
        load_mesh(path)


def test_meshopt_refusal_names_a_conversion_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xrclient.scene import gltf_meshopt

    monkeypatch.setattr(gltf_meshopt, "available", lambda: False)
    with pytest.raises(UnsupportedAssetError, match=r"gltfpack -i in.glb -o out.glb -noq"):
        load_mesh(_meshopt_file(tmp_path))


def test_instances_through_the_public_reader_and_a_separate_gltf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same copies without the fast GLB path, and from a .gltf with a side .bin file."""
    from xrclient.scene import gltf_decode

    want = _copies(load_mesh(_instanced_file(tmp_path)))
    b = GltfBuilder()
    mesh = b.cube_mesh()
    ids = {
        "TRANSLATION": b.accessor(TRANSLATIONS, bounds=False),
        "ROTATION": b.accessor(ROTATIONS),
        "SCALE": b.accessor(SCALES, bounds=False),
    }
    child = b.node(
        mesh=mesh, translation=[0.0, 0.0, 1.0], extensions={INSTANCING: {"attributes": ids}}
    )
    b.scene(b.node(children=[child], translation=[10.0, 0.0, 0.0]))
    separate = b.gltf_separate(tmp_path, "separate")
    monkeypatch.setattr(gltf_decode, "GLB_BUFFERS", None)
    for path in (_instanced_file(tmp_path), separate):
        for a, c in zip(_copies(load_mesh(path)), want, strict=True):
            np.testing.assert_allclose(a, c, atol=1e-5)


def test_instances_of_all_nodes_count_together(tmp_path: Path) -> None:
    b = GltfBuilder()
    mesh = b.cube_mesh()
    nodes = []
    for _ in range(2):
        ids = {"TRANSLATION": b.accessor(TRANSLATIONS[:3], bounds=False)}
        nodes.append(b.node(mesh=mesh, extensions={INSTANCING: {"attributes": ids}}))
    b.scene(*nodes)
    path = _save(tmp_path, b, "two.glb")
    with pytest.raises(AssetLimitError, match=r"nodes add up to 6 instances, above the limit of 5"):
        load_mesh(path, LoadLimits(max_triangles=5))
    assert load_mesh(path).parts == 6


@pytest.mark.parametrize("value", [[], {}, 5126.0, "5126"])
def test_accessor_component_type_of_the_wrong_json_type_is_malformed(
    tmp_path: Path, value: Any
) -> None:
    b = GltfBuilder()
    b.scene(b.node(mesh=b.cube_mesh()))
    b.doc["accessors"][0]["componentType"] = value
    with pytest.raises(MalformedAssetError, match=r"accessor 0: bad componentType/type"):
        load_mesh(_save(tmp_path, b, "ctype.glb"))
