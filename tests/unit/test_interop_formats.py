"""OBJ, STL, PLY, PCD and XYZ files as Blender, MeshLab, CloudCompare and PCL write them.

Each file is built by hand with the quirks those tools produce (CRLF line endings, quads
and n-gons, relative indices, binary STL headers starting with "solid", big-endian PLY,
packed PCD colours...) and loaded; the tests check concrete counts, bounds and colours.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from interop_builders import CUBE_FACES, CUBE_POSITIONS, pcd, ply, stl_ascii, stl_binary

from xrclient.core.color import srgb_to_linear
from xrclient.errors import MalformedAssetError, UnsupportedAssetError
from xrclient.scene.loaders import AssetWarning, load_asset, load_mesh, load_point_cloud
from xrclient.scene.mesh import MeshData

Write = Callable[[str, bytes | str], Path]
CUBE_BOUNDS = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]
CUBE_TRIANGLES = CUBE_POSITIONS[CUBE_FACES]


def linear(*srgb8: int) -> list[float]:
    return [float(v) for v in srgb_to_linear(np.array(srgb8, dtype=np.float32) / 255.0)]


def facing_out(mesh: MeshData, centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> bool:
    tri = mesh.positions[mesh.indices].astype(np.float64)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return bool((np.einsum("ij,ij->i", cross, tri.mean(axis=1) - np.asarray(centre)) > 0).all())


# --------------------------------------------------------------------------- OBJ

BLENDER_MTL = """# Blender 4.1 MTL File: 'None'
# www.blender.org

newmtl Orange
Ns 250.000000
Ka 1.000000 1.000000 1.000000
Kd 0.800000 0.400000 0.000000
Ks 0.500000 0.500000 0.500000
Ke 0.000000 0.000000 0.000000
Ni 1.450000
d 1.000000
illum 2

newmtl Steel
Ns 250.000000
Kd 0.200000 0.200000 0.200000
d 1.000000
illum 2
"""

# a unit cube made of quads ('o Cube', v/vt/vn, absolute indices) and a hexagonal
# cap ('o Cap', one n-gon, negative indices relative to the end of the vertex list)
BLENDER_OBJ = """# Blender 4.1
# www.blender.org
mtllib parts.mtl
o Cube
v -0.5 -0.5 0.5
v -0.5 0.5 0.5
v -0.5 -0.5 -0.5
v -0.5 0.5 -0.5
v 0.5 -0.5 0.5
v 0.5 0.5 0.5
v 0.5 -0.5 -0.5
v 0.5 0.5 -0.5
vn -1.0000 -0.0000 -0.0000
vn -0.0000 -0.0000 -1.0000
vn 1.0000 -0.0000 -0.0000
vn -0.0000 -0.0000 1.0000
vn -0.0000 -1.0000 -0.0000
vn -0.0000 1.0000 -0.0000
vt 0.375000 0.000000
vt 0.625000 0.000000
vt 0.625000 0.250000
vt 0.375000 0.250000
s 0
usemtl Orange
f 1/1/1 2/2/1 4/3/1 3/4/1
f 3/1/2 4/2/2 8/3/2 7/4/2
f 7/1/3 8/2/3 6/3/3 5/4/3
f 5/1/4 6/2/4 2/3/4 1/4/4
f 3/1/5 7/2/5 5/3/5 1/4/5
f 8/1/6 4/2/6 2/3/6 6/4/6
o Cap
v 3.0 0.0 1.0
v 3.866 0.0 0.5
v 3.866 0.0 -0.5
v 3.0 0.0 -1.0
v 2.134 0.0 -0.5
v 2.134 0.0 0.5
vn 0.0000 1.0000 0.0000
s off
g cap_group
usemtl Steel
f -6//-1 -5//-1 -4//-1 -3//-1 -2//-1 -1//-1
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_blender_obj_with_mtl_quads_ngon_and_relative_indices(write: Write, newline: str) -> None:
    write("parts.mtl", BLENDER_MTL.replace("\n", newline))
    mesh = load_mesh(write("parts.obj", BLENDER_OBJ.replace("\n", newline)))
    # 6 quads -> 12 triangles, one hexagon -> 4 triangles
    assert mesh.triangle_count == 16
    assert sorted(mesh.materials) == ["Orange", "Steel"]
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -1.0], [3.866, 0.5, 1.0]], atol=1e-6)
    cube = mesh.positions[:, 0] < 1.0
    # Kd is the linear base colour (as Blender writes it), used as it is
    np.testing.assert_allclose(mesh.colors[cube][0], [0.8, 0.4, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(mesh.colors[~cube][0], [0.2, 0.2, 0.2, 1.0], atol=1e-6)
    # the file's normals are kept: the cap's all point up, the cube's faces point out
    np.testing.assert_allclose(mesh.normals[~cube], np.tile([0.0, 1.0, 0.0], ((~cube).sum(), 1)))
    cube_tris = mesh.indices[cube[mesh.indices].all(axis=1)]
    assert len(cube_tris) == 12
    assert facing_out(
        MeshData("c", mesh.positions, mesh.normals, mesh.colors, cube_tris.astype(np.uint32))
    )


def test_obj_with_missing_mtl_file_loads_grey(write: Write) -> None:
    with pytest.warns(AssetWarning, match=r"lonely\.obj: material library 'parts\.mtl' not found"):
        mesh = load_mesh(write("lonely.obj", BLENDER_OBJ))
    assert mesh.triangle_count == 16
    np.testing.assert_allclose(mesh.colors[0], [0.5, 0.5, 0.5, 1.0])


# --------------------------------------------------------------------------- STL


def test_ascii_stl_with_name_extra_whitespace_and_crlf(write: Write) -> None:
    text = stl_ascii(CUBE_TRIANGLES, name="Part 1 (SolidWorks)", newline="\r\n")
    text = b"  \r\n" + text.replace(b"vertex   ", b"vertex \t ")
    mesh = load_mesh(write("part.stl", text))
    assert mesh.triangle_count == 12
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)
    assert facing_out(mesh)


def test_binary_stl_whose_header_begins_with_solid(write: Write) -> None:
    data = stl_binary(CUBE_TRIANGLES + np.float32(10.0), header=b"solid part exported by CAD")
    assert data.startswith(b"solid")
    mesh = load_mesh(write("trap.stl", data))
    assert mesh.triangle_count == 12
    np.testing.assert_allclose(mesh.bounds, np.add(CUBE_BOUNDS, 10.0))
    assert facing_out(mesh, (10.0, 10.0, 10.0))


@pytest.mark.parametrize("form", ["binary", "ascii"])
def test_stl_with_no_triangles_is_refused(write: Write, form: str) -> None:
    empty = np.zeros((0, 3, 3), dtype=np.float32)
    data = stl_binary(empty) if form == "binary" else stl_ascii(empty, name="empty")
    with pytest.raises(MalformedAssetError, match="no triangle"):
        load_mesh(write(f"empty_{form}.stl", data))


# --------------------------------------------------------------------------- PLY

MESHLAB_PREAMBLE = ("comment VCGLIB generated", "obj_info num_cols 1", "comment TextureFile none")


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
@pytest.mark.parametrize(
    "face_list",
    [
        "list uchar int vertex_indices",
        "list uint8 int32 vertex_index",
        "list uchar uint vertex_indices",
    ],
)
def test_meshlab_ply_with_uchar_colours(write: Write, fmt: str, face_list: str) -> None:
    props = [("float", axis) for axis in "xyz"]
    props += [("uchar", channel) for channel in ("red", "green", "blue", "alpha")]
    rows = [[*p, 255, 128, 0, 255] for p in CUBE_POSITIONS.tolist()]
    quads = [[0, 1, 3, 2], [4, 6, 7, 5]]  # the -x and +x sides as quads
    faces = [*(f.tolist() for f in CUBE_FACES[4:]), *quads]
    data = ply(fmt, props, rows, faces, face_list, MESHLAB_PREAMBLE)
    mesh = load_mesh(write(f"scan_{fmt}.ply", data))
    assert mesh.triangle_count == 12
    np.testing.assert_allclose(mesh.bounds, CUBE_BOUNDS)
    np.testing.assert_allclose(
        mesh.colors, np.tile([*linear(255, 128, 0), 1.0], (mesh.vertex_count, 1)), atol=2e-3
    )
    assert facing_out(mesh)


def test_ply_with_float_colours(write: Write) -> None:
    props = [("float", "x"), ("float", "y"), ("float", "z"),
             ("float", "red"), ("float", "green"), ("float", "blue")]  # fmt: skip
    rows = [[*p, 0.0, 0.5, 1.0] for p in CUBE_POSITIONS.tolist()]
    data = ply("binary_little_endian", props, rows, CUBE_FACES.tolist())
    mesh = load_mesh(write("float_colours.ply", data))
    assert mesh.triangle_count == 12
    np.testing.assert_allclose(mesh.colors[0], [*linear(0, 128, 255), 1.0], atol=3e-3)


def test_cloudcompare_point_ply_big_endian_with_scalar_field(write: Write) -> None:
    props = [("double", "x"), ("double", "y"), ("double", "z"),
             ("uchar", "red"), ("uchar", "green"), ("uchar", "blue"),
             ("float", "scalar_Intensity")]  # fmt: skip
    rows = [[float(i), 2.0 * i, -1.0, 0, 0, 255, 0.5] for i in range(10)]
    preamble = ("comment Created by CloudCompare", "obj_info Generated by CloudCompare!")
    data = ply("binary_big_endian", props, rows, (), preamble=preamble)
    cloud = load_asset(write("cloud.ply", data))
    assert cloud.primitive == "points" and cloud.vertex_count == 10
    np.testing.assert_allclose(cloud.bounds, [[0.0, 0.0, -1.0], [9.0, 18.0, -1.0]])
    np.testing.assert_allclose(cloud.colors[0], [0.0, 0.0, 1.0, 1.0], atol=1e-6)


# --------------------------------------------------------------------------- PCD and XYZ

PCD_POINTS = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
PCD_RGB = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]


@pytest.mark.parametrize("data", ["ascii", "binary"])
def test_pcd_with_packed_float_rgb(write: Write, data: str) -> None:
    cloud = load_point_cloud(write(f"scan_{data}.pcd", pcd(PCD_POINTS, PCD_RGB, data)))
    assert cloud.vertex_count == 4
    np.testing.assert_allclose(cloud.bounds, [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    order = np.lexsort(cloud.positions.T[::-1])
    expected = np.array([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 1, 1], [0, 1, 0, 1]], dtype=float)
    np.testing.assert_allclose(cloud.colors[order], expected, atol=1e-5)


def test_pcd_without_colour_is_neutral_grey(write: Write) -> None:
    cloud = load_point_cloud(write("plain.pcd", pcd(PCD_POINTS, None, "binary")))
    assert cloud.vertex_count == 4
    np.testing.assert_allclose(cloud.colors[:, :3], 0.6)


XYZ_ROWS = [(0.0, 0.0, 0.0), (1.5, 0.0, 0.0), (0.0, 2.5, 0.0), (0.0, 0.0, -3.0)]


@pytest.mark.parametrize(
    ("separator", "header"),
    [(" ", ""), ("\t", ""), (",", ""), (", ", ""), (" ", "X Y Z\n"), (",", "//X,Y,Z\n"),
     (";", "x;y;z\r\n")],
    ids=["space", "tab", "comma", "comma-space", "header", "cloudcompare", "semicolon-crlf"],
)  # fmt: skip
def test_xyz_separators_and_header_line(write: Write, separator: str, header: str) -> None:
    newline = "\r\n" if header.endswith("\r\n") else "\n"
    body = newline.join(separator.join(f"{v:.3f}" for v in row) for row in XYZ_ROWS)
    cloud = load_point_cloud(write("scan.xyz", header + body + newline))
    assert cloud.vertex_count == 4
    np.testing.assert_allclose(cloud.bounds, [[0.0, 0.0, -3.0], [1.5, 2.5, 0.0]])


def test_xyz_with_extra_colour_columns_keeps_positions(write: Write) -> None:
    body = "".join(f"{x} {y} {z} 255 0 0\n" for x, y, z in XYZ_ROWS)
    cloud = load_point_cloud(write("coloured.xyz", body))
    assert cloud.vertex_count == 4
    np.testing.assert_allclose(cloud.bounds, [[0.0, 0.0, -3.0], [1.5, 2.5, 0.0]])


def test_xyz_without_any_numeric_line_is_refused(write: Write) -> None:
    with pytest.raises(MalformedAssetError, match="no readable points"):
        load_point_cloud(write("words.xyz", "X Y Z\nnot a number\n"))


@pytest.mark.parametrize(
    "text",
    ["1,5 2,5 0,0\n3,0 1,0 0,5\n", "1,5;2,5;0,0\n3,0;1,0;0,5\n"],
    ids=["decimal-comma-spaces", "decimal-comma-semicolons"],
)
def test_xyz_with_decimal_commas_is_refused(write: Write, text: str) -> None:
    with pytest.raises(UnsupportedAssetError, match="decimal separator"):
        load_point_cloud(write("european.xyz", text))


def test_blender_binary_ply_mixing_triangles_quads_and_ngons(write: Write) -> None:
    """Blender writes polygons as they are; a face colour after the list rides along."""
    props = [("float", "x"), ("float", "y"), ("float", "z")]
    rows: list[list[float]] = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [-1, 0.5, 0]]
    rows += [[0.5, 2, 0], [2, 0.5, 0]]
    polygons = [[0, 1, 2, 3], [0, 3, 4], [3, 2, 5], [1, 6, 2], [0, 1, 6, 2, 5, 3]]
    for fmt in ("binary_little_endian", "binary_big_endian"):
        head = ply(fmt, props, rows, polygons, "list uchar uint vertex_indices")
        mesh = load_mesh(write(f"blender_{fmt}.ply", head))
        assert mesh.triangle_count == 2 + 1 + 1 + 1 + 4
        np.testing.assert_allclose(mesh.bounds, [[-1.0, 0.0, 0.0], [2.0, 2.0, 0.0]])
        normals = mesh.normals[np.unique(mesh.indices)]
        np.testing.assert_allclose(normals, np.tile([0.0, 0.0, 1.0], (len(normals), 1)), atol=1e-6)


def test_binary_ply_polygons_with_face_colours(write: Write) -> None:
    header = (
        b"ply\nformat binary_little_endian 1.0\ncomment MeshLab\nelement vertex 5\n"
        b"property float x\nproperty float y\nproperty float z\nelement face 2\n"
        b"property list uint8 int32 vertex_index\nproperty uchar red\nproperty uchar green\n"
        b"property uchar blue\nend_header\n"
    )
    body = b"".join(
        struct.pack("<3f", *p) for p in [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0]]
    )
    body += struct.pack("<B4i3B", 4, 0, 1, 2, 3, 255, 0, 0)
    body += struct.pack("<B3i3B", 3, 1, 4, 2, 0, 0, 255)
    mesh = load_mesh(write("coloured_faces.ply", header + body))
    assert mesh.triangle_count == 3
    tri_colours = mesh.colors[mesh.indices[:, 0]]
    red = (tri_colours == [1, 0, 0, 1]).all(axis=1).sum()
    blue = (tri_colours == [0, 0, 1, 1]).all(axis=1).sum()
    assert (red, blue) == (2, 1)


def test_binary_ply_with_truncated_polygon_lists_is_refused(write: Write) -> None:
    props = [("float", "x"), ("float", "y"), ("float", "z")]
    data = ply("binary_little_endian", props, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]],
               [[0, 1, 2], [0, 1, 2, 3]])  # fmt: skip
    with pytest.raises(MalformedAssetError):
        load_mesh(write("cut.ply", data[:-6]))
