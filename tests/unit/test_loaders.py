"""Round trips of real files through the asset loaders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial

from xrclient.errors import UnsupportedAssetError
from xrclient.scene.loaders import (
    AssetCache,
    AssetWarning,
    LoadLimits,
    describe_file,
    load_asset,
    load_mesh,
    load_point_cloud,
)
from xrclient.scene.mesh import MeshData

Write = Callable[[str, bytes | str], Path]

RED = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)
BLUE = np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32)


def srgb8_to_linear(value: int) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def assert_well_formed(mesh: MeshData) -> None:
    v = mesh.vertex_count
    assert mesh.positions.dtype == np.float32 and mesh.positions.shape == (v, 3)
    assert mesh.normals.dtype == np.float32 and mesh.normals.shape == (v, 3)
    assert mesh.colors.dtype == np.float32 and mesh.colors.shape == (v, 4)
    assert mesh.indices.dtype == np.uint32 and mesh.indices.shape[1] == 3
    assert np.isfinite(mesh.positions).all() and np.isfinite(mesh.colors).all()
    assert ((mesh.colors >= 0) & (mesh.colors <= 1)).all()
    if mesh.primitive == "triangles":
        assert mesh.indices.size and int(mesh.indices.max()) < v
        np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-4)
    else:
        assert mesh.indices.shape == (0, 3)


def colors_of(mesh: MeshData, inside: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    lo, hi = inside
    mask = np.all((mesh.positions >= lo) & (mesh.positions <= hi), axis=1)
    assert mask.any()
    return mesh.colors[mask]


# --------------------------------------------------------------------------- glTF


def test_glb_two_parts_with_materials_and_node_transform(scene_glb: Path) -> None:
    mesh = load_mesh(scene_glb)
    assert_well_formed(mesh)
    box, ball = trimesh.creation.box(), trimesh.creation.icosphere(subdivisions=2)
    assert mesh.triangle_count == len(box.faces) + len(ball.faces)
    assert mesh.vertex_count == len(box.vertices) + len(ball.vertices)
    assert mesh.parts == 2
    assert sorted(mesh.materials) == ["blue", "red"]
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -1.0], [4.0, 3.0, 1.0]], atol=1e-5)
    near_box = (np.array([-0.6] * 3), np.array([0.6] * 3))
    near_ball = (np.array([1.9, 0.9, -1.1]), np.array([4.1, 3.1, 1.1]))
    np.testing.assert_array_equal(colors_of(mesh, near_box), np.tile(RED, (8, 1)))
    assert (colors_of(mesh, near_ball) == BLUE).all()
    assert mesh.name == "plant_part"


def test_scale_multiplies_positions(scene_glb: Path) -> None:
    mesh = load_mesh(scene_glb, scale=0.001)
    np.testing.assert_allclose(mesh.bounds, [[-5e-4, -5e-4, -1e-3], [4e-3, 3e-3, 1e-3]], atol=1e-8)
    with pytest.raises(ValueError, match="scale"):
        load_mesh(scene_glb, scale=0.0)


def test_gltf_with_bin_side_files(tmp_path: Path, kit: Any) -> None:
    files = kit.two_parts().export(file_type="gltf")
    assert any(name.endswith(".bin") for name in files)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    mesh = load_mesh(tmp_path / "model.gltf")
    assert_well_formed(mesh)
    assert mesh.triangle_count == 12 + 320
    assert sorted(mesh.materials) == ["blue", "red"]
    np.testing.assert_allclose(mesh.bounds[1], [4.0, 3.0, 1.0], atol=1e-5)


def test_mirroring_node_keeps_triangles_facing_out(write: Write) -> None:
    scene = trimesh.Scene()
    scene.add_geometry(
        trimesh.creation.icosphere(subdivisions=1), transform=np.diag([-1.0, 1.0, 1.0, 1.0])
    )
    mesh = load_mesh(write("mirrored.glb", scene.export(file_type="glb")))
    tri = mesh.positions[mesh.indices]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centres = tri.mean(axis=1)
    assert (np.einsum("ij,ij->i", face_normals, centres) > 0).all()
    # per-vertex normals of a sphere point away from its centre
    assert (np.einsum("ij,ij->i", mesh.normals, mesh.positions) > 0.9).all()


def test_gltf_vertex_colors_are_linear_and_factor_defaults(write: Write) -> None:
    box = trimesh.creation.box()
    box.visual.vertex_colors = np.tile([128, 64, 255, 255], (8, 1)).astype(np.uint8)
    mesh = load_mesh(write("painted.glb", box.export(file_type="glb")))
    np.testing.assert_allclose(mesh.colors[0], [128 / 255, 64 / 255, 1.0, 1.0], atol=1e-6)


def test_texture_only_material_draws_its_texture(write: Write) -> None:
    box = trimesh.creation.box()
    texture = Image.new("RGB", (32, 32), (255, 0, 0))
    texture.paste((0, 0, 255), (0, 0, 32, 16))  # top half blue
    box.visual = trimesh.visual.TextureVisuals(
        uv=np.zeros((8, 2)), material=PBRMaterial(name="painted", baseColorTexture=texture)
    )
    mesh = load_mesh(write("textured.glb", box.export(file_type="glb")))
    np.testing.assert_allclose(mesh.colors[0], [1.0, 1.0, 1.0, 1.0], atol=0.02)
    (drawn,) = mesh.textures
    assert drawn.pixels[0, 0].tolist() == [0, 0, 255, 255]  # row 0: the image's top
    assert drawn.pixels[-1, 0].tolist() == [255, 0, 0, 255]


def test_glb_handmade_quad(write: Write, kit: Any) -> None:
    doc, binary = kit.quad()
    mesh = load_mesh(write("quad.glb", kit.glb(doc, bytes(binary))))
    assert mesh.triangle_count == 2 and mesh.vertex_count == 4
    assert (mesh.colors == RED).all()
    np.testing.assert_allclose(np.abs(mesh.normals[:, 2]), 1.0)


def test_glb_nested_nodes_and_file_normals(write: Write, kit: Any) -> None:
    doc, binary = kit.quad()
    offset = len(binary)
    binary.extend(np.tile([0.0, 0.0, 2.0], (4, 1)).astype(np.float32).tobytes())
    doc["bufferViews"].append({"buffer": 0, "byteOffset": offset, "byteLength": 48})
    doc["accessors"].append({"bufferView": 2, "componentType": 5126, "count": 4, "type": "VEC3"})
    doc["buffers"][0]["byteLength"] = len(binary)
    doc["meshes"][0]["primitives"][0]["attributes"]["NORMAL"] = 2
    half = float(np.sqrt(0.5))
    doc["nodes"] = [
        {"translation": [10.0, 0.0, 0.0], "children": [1]},
        {"mesh": 0, "scale": [2.0, 2.0, 2.0], "rotation": [0.0, half, 0.0, half]},
    ]
    mesh = load_mesh(write("nested.glb", kit.glb(doc, bytes(binary))))
    np.testing.assert_allclose(mesh.bounds, [[10, 0, -2], [10, 2, 0]], atol=1e-5)
    # the file's normals (+Z, not unit length) are kept, rotated with the node, normalised
    np.testing.assert_allclose(mesh.normals, np.tile([1.0, 0.0, 0.0], (4, 1)), atol=1e-6)


# --------------------------------------------------------------------------- OBJ / STL / PLY


OBJ = """\
mtllib parts.mtl
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
usemtl paint_red
f 1 2 3
f 1 3 4
usemtl paint_grey
f 1 2 6 5
"""

MTL = """\
newmtl paint_red
Kd 1.0 0.0 0.0
newmtl paint_grey
Kd 0.50196 0.50196 0.50196
"""


def test_obj_with_materials(write: Write) -> None:
    write("parts.mtl", MTL)
    mesh = load_mesh(write("parts.obj", OBJ))
    assert_well_formed(mesh)
    assert mesh.triangle_count == 4
    assert sorted(mesh.materials) == ["paint_grey", "paint_red"]
    np.testing.assert_allclose(mesh.bounds, [[0, 0, 0], [1, 1, 1]])
    top = colors_of(mesh, (np.array([-0.1, 0.5, -0.1]), np.array([1.1, 1.1, 0.1])))
    assert (top == RED).all()
    grey = colors_of(mesh, (np.array([-0.1, -0.1, 0.5]), np.array([1.1, 0.1, 1.1])))
    np.testing.assert_allclose(grey[:, :3], 0.50196, atol=2e-3)  # Kd is linear, as in glTF


def test_obj_without_mtl_file_is_grey(write: Write) -> None:
    with pytest.warns(AssetWarning, match="material library 'parts.mtl' not found"):
        mesh = load_mesh(write("bare.obj", OBJ))
    assert mesh.triangle_count == 4
    assert np.ptp(mesh.colors[:, :3]) == 0


@pytest.mark.parametrize("file_type", ["stl", "stl_ascii"])
def test_stl_binary_and_ascii(write: Write, file_type: str) -> None:
    box = trimesh.creation.box(extents=(2.0, 4.0, 6.0))
    mesh = load_mesh(write("box.stl", box.export(file_type=file_type)), scale=2.0)
    assert_well_formed(mesh)
    assert mesh.triangle_count == 12
    np.testing.assert_allclose(mesh.bounds, [[-2, -4, -6], [2, 4, 6]], atol=1e-5)
    # hard edges: every normal is one of the six axis directions
    np.testing.assert_allclose(np.abs(mesh.normals).max(axis=1), 1.0, atol=1e-6)
    assert (np.ptp(mesh.colors, axis=0) == 0).all()  # default grey


def test_ply_face_colors_are_srgb_and_per_face(write: Write) -> None:
    box = trimesh.creation.box()
    colors = np.tile([200, 30, 30, 255], (12, 1)).astype(np.uint8)
    colors[:2] = [30, 200, 30, 255]
    box.visual.face_colors = colors
    mesh = load_mesh(write("faces.ply", box.export(file_type="ply")))
    assert_well_formed(mesh)
    assert mesh.triangle_count == 12
    expected = np.array([srgb8_to_linear(200), srgb8_to_linear(30), srgb8_to_linear(30), 1])
    per_triangle = mesh.colors[mesh.indices[:, 0]]
    assert np.isclose(per_triangle, expected, atol=1e-5).all(axis=1).sum() == 10
    assert np.isclose(per_triangle[:, 1], srgb8_to_linear(200), atol=1e-5).sum() == 2


def test_ply_vertex_colors(write: Write) -> None:
    ball = trimesh.creation.icosphere(subdivisions=1)
    ball.visual.vertex_colors = np.tile([128, 128, 128, 255], (len(ball.vertices), 1))
    mesh = load_asset(write("ball.ply", ball.export(file_type="ply")))
    assert mesh.primitive == "triangles"
    assert mesh.vertex_count == len(ball.vertices)
    np.testing.assert_allclose(mesh.colors[:, 0], srgb8_to_linear(128), atol=1e-5)


# --------------------------------------------------------------------------- point clouds


def _write_cloud(path: Path, points: np.ndarray, colors: np.ndarray | None) -> Path:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    if colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(colors)
    assert o3d.io.write_point_cloud(str(path), cloud)
    return path


@pytest.mark.parametrize("suffix", [".ply", ".pcd", ".xyz"])
def test_point_cloud_budget_and_colours(
    tmp_path: Path, surface_points: tuple[np.ndarray, np.ndarray], suffix: str
) -> None:
    points, colors = surface_points
    path = _write_cloud(tmp_path / f"scan{suffix}", points, colors)
    cloud = load_point_cloud(path, budget=10_000, scale=0.5)
    assert cloud.primitive == "points"
    assert_well_formed(cloud)
    assert 2_000 < cloud.vertex_count <= 10_000
    np.testing.assert_allclose(cloud.bounds[1, :2], [5.0, 2.0], atol=0.1)
    assert (cloud.normals == 0).all()
    if suffix == ".xyz":  # positions only: neutral colour
        assert np.ptp(cloud.colors, axis=0).max() == 0
    else:
        np.testing.assert_allclose(cloud.colors[:, 0], 1.0, atol=1e-5)
        assert cloud.colors[:, 1].min() < 0.05 < 0.8 < cloud.colors[:, 1].max()


def test_point_cloud_under_budget_is_kept_whole(tmp_path: Path) -> None:
    points = np.random.default_rng(1).random((500, 3))
    cloud = load_point_cloud(_write_cloud(tmp_path / "small.ply", points, None), budget=1000)
    assert cloud.vertex_count == 500


def test_point_cloud_of_a_volume_still_respects_budget(tmp_path: Path) -> None:
    points = np.random.default_rng(2).random((100_000, 3))
    cloud = load_point_cloud(_write_cloud(tmp_path / "cube.pcd", points, None), budget=5_000)
    assert 1_000 < cloud.vertex_count <= 5_000


def test_load_asset_decides_ply_kind_by_faces(tmp_path: Path, write: Write) -> None:
    points = _write_cloud(tmp_path / "points.ply", np.random.default_rng(3).random((50, 3)), None)
    assert load_asset(points).primitive == "points"
    solid = write("solid.ply", trimesh.creation.box().export(file_type="ply"))
    assert load_asset(solid).primitive == "triangles"
    assert load_asset(solid, kind="pointcloud").vertex_count == 8
    with pytest.raises(UnsupportedAssetError, match="point cloud"):
        load_mesh(points)
    scan = _write_cloud(tmp_path / "scan.pcd", np.zeros((3, 3)), None)
    with pytest.raises(UnsupportedAssetError, match="not a mesh format"):
        load_asset(scan, kind="mesh")


# --------------------------------------------------------------------------- cache, describe


def test_asset_cache_loads_each_file_once(scene_glb: Path, tmp_path: Path) -> None:
    cache = AssetCache(LoadLimits())
    first = cache.get(scene_glb)
    for _ in range(20):
        assert cache.get(scene_glb) is first
    assert cache.get(tmp_path / ".." / tmp_path.name / scene_glb.name, kind="mesh") is first
    assert cache.loads == 1
    scaled = cache.get(scene_glb, scale=2.0)
    assert scaled is not first and cache.loads == 2
    np.testing.assert_allclose(scaled.bounds, first.bounds * 2)


def test_describe_file_reports_counts(scene_glb: Path, tmp_path: Path) -> None:
    info = describe_file(scene_glb)
    assert info["ok"] is True and info["kind"] == "mesh" and info["file"] == str(scene_glb)
    assert info["triangles"] == 332 and info["vertices"] == 170 and info["points"] == 0
    assert info["parts"] == 2
    materials = info["materials"]
    assert isinstance(materials, list) and sorted(materials) == ["blue", "red"]
    assert info["bounds"] == [[-0.5, -0.5, -1.0], [4.0, 3.0, 1.0]]
    scan = _write_cloud(tmp_path / "few.pcd", np.random.default_rng(4).random((300, 3)), None)
    info = describe_file(scan)
    assert info["kind"] == "pointcloud" and info["points"] == 300 and info["triangles"] == 0


def test_glb_fast_path_matches_public_trimesh_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GLB reader that reuses the guard's parsed JSON gives what trimesh.load_scene gives."""
    from xrclient.resources import data_dir
    from xrclient.scene import gltf_decode, loaders

    assert gltf_decode.GLB_BUFFERS is not None, "this trimesh no longer offers the fast GLB path"
    path = data_dir("assets") / "robot_cell.glb"
    calls: list[int] = []
    fast_reader = gltf_decode.scene_from_glb

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return fast_reader(*args, **kwargs)

    monkeypatch.setattr(gltf_decode, "scene_from_glb", counted)
    fast = loaders.load_mesh(path)
    assert calls, "the fast GLB path was not used by default"
    monkeypatch.setattr(gltf_decode, "GLB_BUFFERS", None)
    public = loaders.load_mesh(path)
    assert len(calls) == 1, "the fast GLB path was used although GLB_BUFFERS is None"
    assert fast.materials == public.materials and fast.parts == public.parts
    for name in ("positions", "normals", "colors", "indices"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(public, name), err_msg=name)
