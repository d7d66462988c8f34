"""glTF 2.0 files laid out the way other tools write them, built by hand and loaded.

Each test builds a document with one feature typical of Blender, three.js, Sketchfab or the
Khronos sample models (interleaved buffers, every index width, TRS nodes, several scenes,
data: URIs, vertex colours in every encoding...) and checks concrete counts, bounds and
colours of the loaded :class:`MeshData`, or the specific error where refusing is right.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from interop_builders import (
    BYTE,
    CUBE_FACES,
    CUBE_POSITIONS,
    LINES,
    POINTS,
    SHORT,
    GltfBuilder,
    glb_container,
    matrix_columns,
    png_bytes,
)

from xrclient.errors import MalformedAssetError, UnsupportedAssetError
from xrclient.scene.loaders import load_mesh
from xrclient.scene.mesh import MeshData

FORMS = ("glb", "gltf")
CUBE_BOUNDS = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
X = np.array([1.0, 0.0, 0.0], dtype=np.float32)


def write(builder: GltfBuilder, folder: Path, form: str, stem: str = "model") -> Path:
    """Write the builder as a GLB or as a .gltf with an embedded data: URI buffer."""
    path = folder / f"{stem}.{form}"
    path.write_bytes(builder.glb() if form == "glb" else builder.gltf_embedded())
    return path


def load(builder: GltfBuilder, folder: Path, form: str = "glb") -> MeshData:
    mesh = load_mesh(write(builder, folder, form))
    assert_sound(mesh)
    return mesh


def assert_sound(mesh: MeshData) -> None:
    """Invariants of every loaded mesh: shapes, dtypes, unit normals, indices in range."""
    v = mesh.vertex_count
    assert mesh.positions.shape == (v, 3) and mesh.positions.dtype == np.float32
    assert mesh.normals.shape == (v, 3) and mesh.colors.shape == (v, 4)
    assert mesh.indices.dtype == np.uint32 and mesh.indices.shape[1] == 3
    assert int(mesh.indices.max()) < v
    np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-5)


def facing_out(mesh: MeshData, centre: Any = (0.0, 0.0, 0.0)) -> bool:
    """Whether every triangle's winding normal points away from ``centre`` (a convex body)."""
    tri = mesh.positions[mesh.indices].astype(np.float64)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    out = tri.mean(axis=1) - np.asarray(centre)
    return bool((np.einsum("ij,ij->i", cross, out) > 0).all())


def cube_scene(builder: GltfBuilder, **node: Any) -> None:
    mesh = builder.cube_mesh()
    builder.scene(builder.node(mesh=mesh, **node))


# --------------------------------------------------------------------------- buffers


@pytest.mark.parametrize("form", FORMS)
def test_interleaved_vertex_buffer_with_byte_stride(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    normals = CUBE_POSITIONS / np.linalg.norm(CUBE_POSITIONS, axis=1, keepdims=True)
    pos, nor = b.interleaved(CUBE_POSITIONS, normals)
    prim = {"attributes": {"POSITION": pos, "NORMAL": nor}, "indices": b.accessor(
        CUBE_FACES.reshape(-1), np.uint16)}  # fmt: skip
    b.scene(b.node(mesh=b.mesh(prim)))
    assert b.doc["bufferViews"][0]["byteStride"] == 24
    mesh = load(b, tmp_path, form)
    assert (mesh.vertex_count, mesh.triangle_count) == (8, 12)
    np.testing.assert_allclose(mesh.positions, CUBE_POSITIONS)
    np.testing.assert_allclose(mesh.normals, normals, atol=1e-6)
    np.testing.assert_array_equal(mesh.indices, CUBE_FACES)
    assert facing_out(mesh)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_index_component_types(tmp_path: Path, dtype: Any) -> None:
    b = GltfBuilder()
    b.scene(b.node(mesh=b.cube_mesh(index_dtype=dtype)))
    mesh = load(b, tmp_path)
    assert (
        b.doc["accessors"][1]["componentType"]
        == {1: 5121, 2: 5123, 4: 5125}[np.dtype(dtype).itemsize]
    )
    np.testing.assert_array_equal(mesh.indices, CUBE_FACES)
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)


@pytest.mark.parametrize("form", FORMS)
def test_non_indexed_primitive_gets_computed_normals(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    soup = CUBE_POSITIONS[CUBE_FACES].reshape(-1, 3)  # 36 vertices, no "indices"
    b.scene(b.node(mesh=b.mesh(b.primitive(soup))))
    assert "indices" not in b.doc["meshes"][0]["primitives"][0]
    mesh = load(b, tmp_path, form)
    assert (mesh.vertex_count, mesh.triangle_count) == (36, 12)
    np.testing.assert_array_equal(mesh.indices.reshape(-1), np.arange(36))
    # flat faces: each vertex normal is its face's axis, pointing out of the cube
    centres = mesh.positions[mesh.indices].mean(axis=1)
    axis = np.repeat(np.sign(centres) * (np.abs(centres) > 0.4), 3, axis=0)
    np.testing.assert_allclose(mesh.normals, axis, atol=1e-6)
    assert facing_out(mesh)


# --------------------------------------------------------------------------- meshes and nodes


def test_several_primitives_with_their_own_materials(tmp_path: Path) -> None:
    b = GltfBuilder()
    red = b.material("red", [1.0, 0.0, 0.0, 1.0])
    blue = b.material("blue", [0.0, 0.0, 1.0, 0.5])
    first = b.primitive(CUBE_POSITIONS, CUBE_FACES, material=red)
    second = b.primitive(CUBE_POSITIONS + np.float32(3.0) * X, CUBE_FACES, material=blue)
    b.scene(b.node(mesh=b.mesh(first, second, name="two_materials")))
    mesh = load(b, tmp_path)
    assert (mesh.vertex_count, mesh.triangle_count, mesh.parts) == (16, 24, 2)
    assert sorted(mesh.materials) == ["blue", "red"]
    left = mesh.positions[:, 0] < 1.0
    np.testing.assert_allclose(mesh.colors[left], np.tile([1.0, 0.0, 0.0, 1.0], (8, 1)))
    # trimesh keeps material factors as 8-bit values: 0.5 comes back as 128 / 255
    np.testing.assert_allclose(
        mesh.colors[~left], np.tile([0.0, 0.0, 1.0, 0.5], (8, 1)), atol=0.5 / 255
    )
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [3.5, 0.5, 0.5]])


def test_one_mesh_instanced_by_several_nodes(tmp_path: Path) -> None:
    b = GltfBuilder()
    cube = b.cube_mesh(b.material("steel", [0.5, 0.5, 0.5, 1.0]))
    nodes = [b.node(mesh=cube, translation=[2.0 * i, 0.0, 0.0], name=f"c{i}") for i in range(3)]
    b.scene(*nodes)
    assert len(b.doc["meshes"]) == 1
    mesh = load(b, tmp_path)
    assert (mesh.vertex_count, mesh.triangle_count, mesh.parts) == (24, 36, 3)
    assert mesh.materials == ("steel",)
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [4.5, 0.5, 0.5]])
    centres = sorted(float(mesh.positions[8 * i : 8 * i + 8, 0].mean()) for i in range(3))
    np.testing.assert_allclose(centres, [0.0, 2.0, 4.0], atol=1e-6)


@pytest.mark.parametrize("form", FORMS)
def test_hierarchy_with_matrix_parent_and_trs_child(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    half = math.sqrt(0.5)
    child = b.node(
        mesh=b.cube_mesh(),
        translation=[0.0, 5.0, 0.0],
        rotation=[0.0, 0.0, half, half],  # 90 degrees about +Z, (x, y, z, w)
        scale=[2.0, 1.0, 1.0],
    )
    parent_matrix = np.eye(4)
    parent_matrix[:3, 3] = [10.0, 0.0, 0.0]
    b.scene(b.node(children=[child], matrix=matrix_columns(parent_matrix)))
    mesh = load(b, tmp_path, form)
    # T * R * S: x scaled to [-1, 1], turned onto y, lifted to y 4..6, then moved to x 10
    np.testing.assert_allclose(mesh.bounds, [[9.5, 4.0, -0.5], [10.5, 6.0, 0.5]], atol=1e-6)
    assert facing_out(mesh, centre=(10.0, 5.0, 0.0))


def test_non_uniform_scale_transforms_normals_by_inverse_transpose(tmp_path: Path) -> None:
    b = GltfBuilder()
    tri = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]], dtype=np.float32)  # plane x + y = 1
    normal = np.tile(np.array([1.0, 1.0, 0.0], dtype=np.float32) / math.sqrt(2.0), (3, 1))
    prim = b.primitive(tri, [0, 2, 1], NORMAL=b.accessor(normal))
    b.scene(b.node(mesh=b.mesh(prim), scale=[2.0, 1.0, 1.0]))
    mesh = load(b, tmp_path)
    # the plane becomes x / 2 + y = 1, whose normal is (0.5, 1, 0) normalised
    expected = np.array([0.5, 1.0, 0.0]) / math.hypot(0.5, 1.0)
    np.testing.assert_allclose(mesh.normals, np.tile(expected, (3, 1)), atol=1e-6)
    np.testing.assert_allclose(mesh.bounds, [[0.0, 0.0, 0.0], [2.0, 1.0, 1.0]])


@pytest.mark.parametrize("form", FORMS)
def test_mirrored_node_keeps_winding_and_normals_outward(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    normals = CUBE_POSITIONS / np.linalg.norm(CUBE_POSITIONS, axis=1, keepdims=True)
    prim = b.primitive(CUBE_POSITIONS + X, CUBE_FACES, NORMAL=b.accessor(normals))
    b.scene(b.node(mesh=b.mesh(prim), scale=[-1.0, 1.0, 1.0]))
    mesh = load(b, tmp_path, form)
    np.testing.assert_allclose(mesh.bounds, [[-1.5, -0.5, -0.5], [-0.5, 0.5, 0.5]])
    centre = np.array([-1.0, 0.0, 0.0])
    assert facing_out(mesh, centre)
    outward = mesh.positions - centre
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    np.testing.assert_allclose(mesh.normals, outward, atol=1e-6)


def test_only_the_default_scene_is_drawn(tmp_path: Path) -> None:
    b = GltfBuilder()
    cube = b.cube_mesh()
    first = b.scene(b.node(mesh=cube, translation=[0.0, 0.0, 0.0]))
    b.node(mesh=cube, translation=[50.0, 0.0, 0.0])  # in no scene: never drawn
    second = b.scene(b.node(mesh=cube, translation=[100.0, 0.0, 0.0]))
    b.doc["scene"] = second
    mesh = load(b, tmp_path)
    assert (mesh.triangle_count, mesh.parts) == (12, 1)
    np.testing.assert_allclose(mesh.bounds, [[99.5, -0.5, -0.5], [100.5, 0.5, 0.5]])
    # without "scene", the first scene is the one shown
    b.doc.pop("scene")
    mesh = load(b, tmp_path)
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)
    assert first == 0


def test_camera_and_punctual_light_nodes_are_ignored(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.doc["extensionsUsed"] = ["KHR_lights_punctual"]
    b.doc["extensions"] = {
        "KHR_lights_punctual": {
            "lights": [{"type": "point", "color": [1.0, 0.9, 0.8], "intensity": 500.0}]
        }
    }
    b.add("cameras", {"type": "perspective",
                      "perspective": {"yfov": 0.8, "znear": 0.1, "aspectRatio": 1.5}})  # fmt: skip
    camera = b.node(camera=0, translation=[0.0, 2.0, 8.0], name="Camera")
    light = b.node(
        extensions={"KHR_lights_punctual": {"light": 0}}, translation=[4.0, 6.0, 2.0], name="Lamp"
    )
    b.scene(b.node(mesh=b.cube_mesh(), name="Cube"), camera, light)
    mesh = load(b, tmp_path)
    assert (mesh.vertex_count, mesh.triangle_count, mesh.parts) == (8, 12, 1)
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)


def test_skin_and_animation_are_ignored_and_the_bind_pose_drawn(tmp_path: Path) -> None:
    b = GltfBuilder()
    joints = b.accessor(np.zeros((8, 4)), np.uint8)
    weights = b.accessor(np.tile([1.0, 0.0, 0.0, 0.0], (8, 1)))
    prim = b.primitive(CUBE_POSITIONS, CUBE_FACES, JOINTS_0=joints, WEIGHTS_0=weights)
    bone = b.node(name="Bone", translation=[0.0, 1.0, 0.0])
    b.add("skins", {"joints": [bone], "inverseBindMatrices": b.accessor(
        np.eye(4, dtype=np.float32).reshape(1, 16))})  # fmt: skip
    skinned = b.node(mesh=b.mesh(prim), skin=0, name="Body")
    times = b.accessor(np.array([0.0, 1.0], dtype=np.float32))
    moves = b.accessor(np.array([[0.0, 1.0, 0.0], [0.0, 3.0, 0.0]], dtype=np.float32))
    b.add("animations", {
        "name": "Lift",
        "samplers": [{"input": times, "output": moves, "interpolation": "LINEAR"}],
        "channels": [{"sampler": 0, "target": {"node": bone, "path": "translation"}}],
    })  # fmt: skip
    b.scene(skinned, bone)
    mesh = load(b, tmp_path)
    assert (mesh.vertex_count, mesh.triangle_count) == (8, 12)
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)


def test_points_and_lines_primitives_are_skipped_next_to_triangles(tmp_path: Path) -> None:
    b = GltfBuilder()
    tris = b.primitive(CUBE_POSITIONS, CUBE_FACES)
    points = b.primitive(np.array([[9.0, 9.0, 9.0], [8.0, 8.0, 8.0]]), mode=POINTS)
    lines = b.primitive(np.array([[-9.0, 0.0, 0.0], [-8.0, 0.0, 0.0]]), [0, 1], mode=LINES)
    b.scene(b.node(mesh=b.mesh(points, tris, lines)))
    mesh = load(b, tmp_path)
    assert (mesh.vertex_count, mesh.triangle_count, mesh.parts) == (8, 12, 1)
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)


def test_only_points_and_lines_is_refused_as_no_triangles(tmp_path: Path) -> None:
    b = GltfBuilder()
    points = b.primitive(np.array([[9.0, 9.0, 9.0], [8.0, 8.0, 8.0]]), mode=POINTS)
    lines = b.primitive(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), mode=LINES)
    b.scene(b.node(mesh=b.mesh(points, lines)))
    with pytest.raises(MalformedAssetError, match="no triangle geometry"):
        load_mesh(write(b, tmp_path, "glb"))


@pytest.mark.parametrize("form", FORMS)
def test_empty_scene_is_refused_as_no_triangles(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    b.scene(b.node(name="Empty"))
    with pytest.raises(MalformedAssetError, match="no triangle geometry"):
        load_mesh(write(b, tmp_path, form))
    bare = GltfBuilder()  # no scenes, nodes or buffers at all
    with pytest.raises(MalformedAssetError, match="no triangle geometry"):
        load_mesh(write(bare, tmp_path, form, stem="bare"))


# --------------------------------------------------------------------------- colours


@pytest.mark.parametrize(
    ("values", "dtype", "normalized", "expected"),
    [
        ([255, 128, 0, 255], np.uint8, True, [1.0, 128 / 255, 0.0, 1.0]),
        ([65535, 32768, 0, 32768], np.uint16, True, [1.0, 32768 / 65535, 0.0, 32768 / 65535]),
        ([0.25, 0.5, 0.75], np.float32, False, [0.25, 0.5, 0.75, 1.0]),
        ([0.25, 0.5, 0.75, 0.5], np.float32, False, [0.25, 0.5, 0.75, 0.5]),
    ],
    ids=["ubyte-vec4", "ushort-vec4", "float-vec3", "float-vec4"],
)
@pytest.mark.parametrize("with_material", [False, True], ids=["bare", "material"])
def test_color_0_encodings_are_linear(
    tmp_path: Path,
    values: list[float],
    dtype: Any,
    normalized: bool,
    expected: list[float],
    with_material: bool,
) -> None:
    b = GltfBuilder()
    color = b.accessor(np.tile(values, (8, 1)), dtype, normalized=normalized)
    factor = [1.0, 1.0, 1.0, 1.0]
    material = None
    if with_material:
        factor = [0.5, 1.0, 1.0, 1.0]
        material = b.material("tint", factor)
    prim = b.primitive(CUBE_POSITIONS, CUBE_FACES, material=material, COLOR_0=color)
    b.scene(b.node(mesh=b.mesh(prim)))
    mesh = load(b, tmp_path)
    want = np.array(expected) * factor
    np.testing.assert_allclose(mesh.colors, np.tile(want, (8, 1)), atol=1 / 255)


def _textured_cube(b: GltfBuilder, image: dict[str, Any]) -> None:
    b.add("images", image)
    b.add("samplers", {"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497})
    b.add("textures", {"source": 0, "sampler": 0})
    material = b.material("painted", [1.0, 0.5, 1.0, 1.0], pbr={"baseColorTexture": {"index": 0}})
    uv = b.accessor(np.clip(CUBE_POSITIONS[:, :2] + 0.5, 0.0, 1.0))
    prim = b.primitive(CUBE_POSITIONS, CUBE_FACES, material=material, TEXCOORD_0=uv)
    b.scene(b.node(mesh=b.mesh(prim)))


CHECKER = np.array(
    [[[255, 255, 255, 255], [0, 0, 0, 255]], [[0, 0, 0, 255], [255, 255, 255, 255]]],
    dtype=np.uint8,
)


@pytest.mark.parametrize("form", FORMS)
def test_data_uri_png_texture_is_drawn_with_its_factor(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(CHECKER)).decode()
    _textured_cube(b, {"uri": uri, "mimeType": "image/png"})
    mesh = load(b, tmp_path, form)
    # the factor (1, 0.5, 1) in the vertex colours, the texture drawn with the UVs
    np.testing.assert_allclose(mesh.colors, np.tile([1.0, 0.5, 1.0, 1.0], (8, 1)), atol=0.01)
    assert mesh.textured and (mesh.textures[0].pixels == CHECKER).all()


def test_buffer_view_png_texture_in_glb(tmp_path: Path) -> None:
    b = GltfBuilder()
    view = b.view(png_bytes(CHECKER))
    _textured_cube(b, {"bufferView": view, "mimeType": "image/png"})
    mesh = load(b, tmp_path)
    np.testing.assert_allclose(mesh.colors[0], [1.0, 0.5, 1.0, 1.0], atol=0.01)
    assert mesh.textured and (mesh.textures[0].pixels == CHECKER).all()


# --------------------------------------------------------------------------- containers


def test_gltf_with_side_bin_file(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.scene(b.node(mesh=b.cube_mesh(b.material("grey", [0.2, 0.2, 0.2, 1.0]))))
    path = b.gltf_separate(tmp_path, "Separate")
    assert (tmp_path / "Separate.bin").is_file()
    mesh = load_mesh(path)
    assert (mesh.vertex_count, mesh.triangle_count) == (8, 12)
    np.testing.assert_allclose(mesh.colors[0], [0.2, 0.2, 0.2, 1.0])


def test_gltf_with_embedded_data_uri_buffer(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.scene(b.node(mesh=b.cube_mesh()))
    raw = b.gltf_embedded()
    assert b"data:application/octet-stream;base64," in raw
    mesh = load(b, tmp_path, "gltf")
    np.testing.assert_array_equal(mesh.indices, CUBE_FACES)


def test_glb_with_padded_bin_chunk_and_space_padded_json(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.scene(b.node(mesh=b.cube_mesh(index_dtype=np.uint16)))  # 72 index bytes, 4-aligned
    b.bin += b"\x01\x02"  # an odd tail so the BIN chunk needs padding
    for extra in range(4):  # make sure the JSON chunk needs space padding too
        b.doc["asset"]["generator"] = "pad" + "x" * extra
        data = b.glb(bin_padding=8)
        json_len = struct.unpack_from("<I", data, 12)[0]
        if len(json.dumps(b.doc, indent=1).encode()) % 4:
            break
    assert data[20 + json_len - 1 : 20 + json_len] == b" "
    bin_len = struct.unpack_from("<I", data, 20 + json_len)[0]
    assert bin_len > b.doc["buffers"][0]["byteLength"]
    path = tmp_path / "padded.glb"
    path.write_bytes(data)
    mesh = load_mesh(path)
    assert (mesh.vertex_count, mesh.triangle_count) == (8, 12)


def test_glb_without_bin_chunk_using_data_uri_buffer(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.scene(b.node(mesh=b.cube_mesh()))
    doc = json.loads(b.gltf_embedded())
    path = tmp_path / "no_bin.glb"
    path.write_bytes(glb_container(json.dumps(doc).encode(), None))
    mesh = load_mesh(path)
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)


def test_asset_min_version_20_loads_and_newer_min_version_is_refused(tmp_path: Path) -> None:
    b = GltfBuilder(minVersion="2.0", copyright="CC-BY 4.0")
    cube_scene(b)
    assert load(b, tmp_path).triangle_count == 12
    b.doc["asset"].update(version="2.1", minVersion="2.1")
    with pytest.raises(UnsupportedAssetError, match=r"minVersion '2\.1'"):
        load_mesh(write(b, tmp_path, "glb"))


# --------------------------------------------------------------------------- extensions


def test_texture_transform_and_emissive_strength_load(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.doc["extensionsUsed"] = ["KHR_texture_transform", "KHR_materials_emissive_strength"]
    b.add("images", {"uri": "data:image/png;base64,"
                     + base64.b64encode(png_bytes(CHECKER)).decode()})  # fmt: skip
    b.add("textures", {"source": 0})
    transform = {"KHR_texture_transform": {"offset": [0.5, 0.0], "scale": [2.0, 2.0]}}
    material = b.material(
        "glow",
        [0.0, 1.0, 0.0, 1.0],
        emissiveFactor=[1.0, 0.5, 0.0],
        emissiveTexture={"index": 0, "extensions": transform},
        extensions={"KHR_materials_emissive_strength": {"emissiveStrength": 5.0}},
    )
    uv = b.accessor(np.zeros((8, 2)))
    prim = b.primitive(CUBE_POSITIONS, CUBE_FACES, material=material, TEXCOORD_0=uv)
    b.scene(b.node(mesh=b.mesh(prim)))
    mesh = load(b, tmp_path)
    assert mesh.triangle_count == 12
    np.testing.assert_allclose(mesh.colors[0], [0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize("form", FORMS)
def test_unknown_required_extension_is_refused_by_name(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    cube_scene(b)
    b.doc["extensionsUsed"] = ["VENDOR_fancy_geometry"]
    assert load(b, tmp_path, form).triangle_count == 12  # merely used: ignored
    b.doc["extensionsRequired"] = ["VENDOR_fancy_geometry"]
    with pytest.raises(UnsupportedAssetError, match=r"VENDOR_fancy_geometry.*export"):
        load_mesh(write(b, tmp_path, form))


@pytest.mark.parametrize(
    ("extension", "command"),
    [("KHR_texture_basisu", "ktxdecompress"), ("EXT_texture_avif", "gltf-transform png")],
)
def test_required_texture_formats_not_read_say_how_to_convert(
    tmp_path: Path, extension: str, command: str
) -> None:
    b = GltfBuilder()
    cube_scene(b)
    b.doc["extensionsUsed"] = [extension]
    b.doc["extensionsRequired"] = [extension]
    with pytest.raises(UnsupportedAssetError, match=rf"{extension}.*{command}"):
        load_mesh(write(b, tmp_path, "glb"))


@pytest.mark.parametrize("form", FORMS)
def test_mesh_quantization_attributes_are_dequantized(tmp_path: Path, form: str) -> None:
    """gltfpack-style: normalized int16 positions scaled back by the node, int8 normals,
    normalized uint16 texture coordinates (trimesh alone would read the raw integers)."""
    b = GltfBuilder()
    b.doc["extensionsUsed"] = b.doc["extensionsRequired"] = ["KHR_mesh_quantization"]
    positions = b.accessor(np.round(CUBE_POSITIONS * 2 * 32767), np.int16, normalized=True)
    b.doc["accessors"][positions].update(min=[-32767] * 3, max=[32767] * 3)
    normals = b.accessor(np.round(np.sign(CUBE_POSITIONS) * 73), np.int8, normalized=True)
    uv = b.accessor(np.full((8, 2), 65535), np.uint16, normalized=True)
    assert b.doc["accessors"][positions]["componentType"] == SHORT
    assert b.doc["accessors"][normals]["componentType"] == BYTE
    indices = b.accessor(CUBE_FACES.reshape(-1), np.uint16)
    attributes = {"POSITION": positions, "NORMAL": normals, "TEXCOORD_0": uv}
    prim = {"attributes": attributes, "indices": indices}
    b.scene(b.node(mesh=b.mesh(prim), scale=[0.5, 0.5, 0.5]))
    mesh = load(b, tmp_path, form)
    np.testing.assert_allclose(mesh.positions, CUBE_POSITIONS, atol=1e-4)
    np.testing.assert_allclose(mesh.normals, np.sign(CUBE_POSITIONS) / math.sqrt(3.0), atol=1e-6)
    np.testing.assert_array_equal(mesh.indices, CUBE_FACES)


def test_integer_positions_without_normalization_keep_their_values(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.doc["extensionsUsed"] = b.doc["extensionsRequired"] = ["KHR_mesh_quantization"]
    grid = np.array([[0, 0, 0], [200, 0, 0], [0, 100, 0]])
    prim = {"attributes": {"POSITION": b.accessor(grid, np.uint8, bounds=False)}}
    b.doc["accessors"][0].update(min=[0, 0, 0], max=[200, 100, 0])
    b.scene(b.node(mesh=b.mesh(prim), scale=[0.01, 0.01, 0.01]))
    mesh = load(b, tmp_path)
    np.testing.assert_allclose(mesh.bounds, [[0.0, 0.0, 0.0], [2.0, 1.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("form", FORMS)
def test_sparse_position_accessor_is_applied(tmp_path: Path, form: str) -> None:
    b = GltfBuilder()
    moved = np.array([[0.5, 2.0, 0.5]], dtype=np.float32)  # corner 3 pulled up to y = 2
    sparse_idx = b.view(np.array([3], dtype=np.uint16).tobytes() + b"\x00\x00")
    sparse_val = b.view(moved.tobytes())
    positions = b.accessor(CUBE_POSITIONS)
    b.doc["accessors"][positions]["sparse"] = {
        "count": 1,
        "indices": {"bufferView": sparse_idx, "componentType": 5123},
        "values": {"bufferView": sparse_val},
    }
    b.doc["accessors"][positions]["max"] = [0.5, 2.0, 0.5]
    indices = b.accessor(CUBE_FACES.reshape(-1), np.uint16)
    b.scene(b.node(mesh=b.mesh({"attributes": {"POSITION": positions}, "indices": indices})))
    mesh = load(b, tmp_path, form)
    expected = CUBE_POSITIONS.copy()
    expected[3] = moved[0]
    np.testing.assert_allclose(mesh.positions, expected)
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [0.5, 2.0, 0.5]])


def test_sparse_accessor_without_buffer_view_starts_from_zeros(tmp_path: Path) -> None:
    b = GltfBuilder()
    tri = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    sparse_idx = b.view(np.array([1, 2], dtype=np.uint8).tobytes())
    sparse_val = b.view(tri[1:].tobytes())
    positions = b.add("accessors", {
        "componentType": 5126, "count": 3, "type": "VEC3",
        "min": [0, 0, 0], "max": [1, 1, 0],
        "sparse": {"count": 2, "indices": {"bufferView": sparse_idx, "componentType": 5121},
                   "values": {"bufferView": sparse_val}},
    })  # fmt: skip
    b.scene(b.node(mesh=b.mesh({"attributes": {"POSITION": positions}})))
    mesh = load(b, tmp_path)
    np.testing.assert_allclose(mesh.positions, tri)
    assert mesh.triangle_count == 1


def _sparse_cube(b: GltfBuilder, row: int) -> None:
    sparse_idx = b.view(np.array([row], dtype=np.uint32).tobytes())
    sparse_val = b.view(np.array([[0.5, 2.0, 0.5]], dtype=np.float32).tobytes())
    positions = b.accessor(CUBE_POSITIONS)
    b.doc["accessors"][positions]["sparse"] = {
        "count": 1,
        "indices": {"bufferView": sparse_idx, "componentType": 5125},
        "values": {"bufferView": sparse_val},
    }
    indices = b.accessor(CUBE_FACES.reshape(-1), np.uint16)
    b.scene(b.node(mesh=b.mesh({"attributes": {"POSITION": positions}, "indices": indices})))


@pytest.mark.parametrize("form", FORMS)
def test_decoded_accessors_through_public_trimesh_reader(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xrclient.scene import gltf_decode

    b = GltfBuilder()
    _sparse_cube(b, 3)
    fast = load(b, tmp_path, form)
    monkeypatch.setattr(gltf_decode, "GLB_BUFFERS", None)
    public = load(b, tmp_path, form)
    np.testing.assert_array_equal(fast.positions, public.positions)
    np.testing.assert_array_equal(fast.indices, public.indices)
    assert float(public.bounds[1, 1]) == 2.0


def test_sparse_index_out_of_range_is_refused(tmp_path: Path) -> None:
    b = GltfBuilder()
    _sparse_cube(b, 8)
    with pytest.raises(MalformedAssetError, match="sparse index 8 is out of range"):
        load_mesh(write(b, tmp_path, "glb"))
