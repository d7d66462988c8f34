"""Corners of common exporters' files: concave polygons, OBJ Kd, PLY UVs, missing textures,
Z-up CAD files in a Y-up plant.

Every file is written here by hand (OBJ/MTL/PLY text and bytes, STL and glTF through the
builders in ``interop_builders``), following the format specifications.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import trimesh
from interop_builders import CUBE_FACES, CUBE_POSITIONS, GltfBuilder, ply, stl_binary

from xrclient.core.color import srgb_to_linear
from xrclient.errors import AssetError, AssetLimitError, MalformedAssetError, SceneError
from xrclient.scene.guards import LoadLimits
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import AssetWarning, load_mesh
from xrclient.scene.mesh import MeshData
from xrclient.scene.polygons import EAR_CLIP_WORK, Budget, fan, triangulate
from xrclient.scene.schema import load_scene

Write = Callable[[str, bytes | str], Path]
F64 = npt.NDArray[np.float64]

# --------------------------------------------------------------------------- polygons

# the outline of a C-frame press seen from the side (the opening on the right), and an L
C_FRAME = [(0, 0), (3, 0), (3, 1), (1, 1), (1, 2), (3, 2), (3, 3), (0, 3)]
L_SHAPE = [(2, 0), (2, 1), (1, 1), (1, 3), (0, 3), (0, 0)]
# a dart: a concave quad whose reflex corner is corner 1, where a cut along 0-2 goes outside
DART = [(0, 0), (1, 1), (2, 0), (1, 3)]

# the polygons' plane: tilted about X and Z and moved off the origin, so that none of the
# coordinate planes is the polygon's plane
_TILT = trimesh.transformations.euler_matrix(0.5, 0.0, 0.7)[:3, :3]
_OFFSET = np.array([5.0, -2.0, 1.5])


def lift(outline: Sequence[tuple[float, float]]) -> F64:
    """The 2D outline placed in the tilted 3D plane."""
    flat = np.array([[x, y, 0.0] for x, y in outline], dtype=np.float64)
    lifted: F64 = flat @ _TILT.T + _OFFSET
    return lifted


def drop(points: npt.ArrayLike) -> F64:
    """3D points in the tilted plane back to the outline's 2D coordinates (asserted planar)."""
    local = (np.asarray(points, dtype=np.float64) - _OFFSET) @ _TILT
    np.testing.assert_allclose(local[..., 2], 0.0, atol=1e-5)
    flat: F64 = local[..., :2]
    return flat


def shoelace(outline: npt.ArrayLike) -> float:
    x, y = np.asarray(outline, dtype=np.float64).T
    return 0.5 * float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum())


def inside(outline: npt.ArrayLike, points: F64) -> npt.NDArray[np.bool_]:
    """Even-odd point-in-polygon test, for points well away from the edges."""
    poly = np.asarray(outline, dtype=np.float64)
    a, b = poly, np.roll(poly, -1, axis=0)
    px, py = points[:, None, 0], points[:, None, 1]
    crosses = (a[:, 1] > py) != (b[:, 1] > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    odd: npt.NDArray[np.bool_] = ((crosses & (px < at)).sum(axis=1) % 2) == 1
    return odd


def assert_covers(outline: Sequence[tuple[float, float]], triangles_2d: F64) -> None:
    """The triangles' areas add up to the polygon's and none reaches outside it: points
    spread over each triangle's inside all lie in the polygon."""
    a, b, c = triangles_2d[:, 0], triangles_2d[:, 1], triangles_2d[:, 2]
    signed = 0.5 * ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    assert signed.sum() == pytest.approx(shoelace(outline), rel=1e-6)
    assert (signed > 0).all()  # same winding as the polygon: nothing folded over
    weights = np.array(
        [(i, j, 12 - i - j) for i in range(1, 11) for j in range(1, 12 - i)], dtype=np.float64
    )
    weights /= 12.0
    samples = np.einsum("sk,tkd->tsd", weights, triangles_2d).reshape(-1, 2)
    assert inside(outline, samples).all()


def triangles_of(mesh: MeshData) -> F64:
    tris: F64 = mesh.positions[mesh.indices].astype(np.float64)
    return tris


def test_the_check_catches_a_fan() -> None:
    """The coverage check above fails for the fan that used to be drawn."""
    for outline in (C_FRAME, L_SHAPE, DART):
        fanned = np.asarray(outline, dtype=np.float64)[fan(len(outline))]
        with pytest.raises(AssertionError):
            assert_covers(outline, fanned)


@pytest.mark.parametrize("outline", [C_FRAME, L_SHAPE, DART], ids=["c-frame", "l", "dart"])
def test_triangulate_cuts_concave_polygons_in_their_plane(
    outline: list[tuple[float, float]],
) -> None:
    points = lift(outline)
    for polygon in (points, points[::-1]):
        cut = triangulate(polygon[None])
        assert cut.fanned == 0
        tris = polygon[cut.triangles[0]]
        flat = drop(tris)
        if polygon is points:
            assert_covers(outline, flat)
        else:  # the reversed polygon keeps its own (reversed) winding
            assert_covers(outline, flat[:, ::-1])


def test_ear_clipping_work_is_bounded_per_file() -> None:
    """Ear clipping costs up to corners^2 a polygon: past the budget, concave polygons are
    fanned and counted, so a hostile file cannot make the load take forever."""
    polygons = np.stack([lift(C_FRAME), lift(C_FRAME), lift(C_FRAME)])
    budget = Budget(left=2 * 8 * 8)
    cut = triangulate(polygons, budget)
    assert (cut.fanned, cut.over_budget, budget.left) == (0, 1, 0)
    assert_covers(C_FRAME, drop(polygons[0][cut.triangles[0]]))
    np.testing.assert_array_equal(cut.triangles[2], fan(8))
    later = triangulate(polygons[:1], budget)  # the budget is shared by a file's calls
    assert later.over_budget == 1
    assert EAR_CLIP_WORK >= 10**8  # room for a million concave quads and large CAD faces


def obj_text(outlines: Sequence[Sequence[tuple[float, float]]], relative: bool = False) -> str:
    lines = ["# polygons as a CAD exporter writes them, one n-gon each", "o Frame"]
    count = 0
    for outline in outlines:
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in lift(outline)]
        n = len(outline)
        refs = range(-n, 0) if relative else range(count + 1, count + n + 1)
        lines.append("f " + " ".join(f"{i}//1" for i in refs))
        count += n
    lines.insert(1, "vn 0 0 1")
    return "\n".join(lines) + "\n"


def split_by_polygon(mesh: MeshData, outlines: Sequence[Sequence[tuple[float, float]]]) -> None:
    """Each loaded triangle belongs to one of the outlines (laid side by side in x)."""
    tris = drop(triangles_of(mesh))
    assert mesh.triangle_count == sum(len(o) - 2 for o in outlines)
    start = 0.0
    for outline in outlines:
        width = max(x for x, _ in outline)
        mine = (tris[:, :, 0] >= start - 1e-6).all(axis=1) & (
            tris[:, :, 0] <= start + width + 1e-6
        ).all(axis=1)
        assert_covers([(x + start, y) for x, y in outline], tris[mine])
        start += width + 1.0


def spaced(outlines: Sequence[Sequence[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
    out, start = [], 0.0
    for outline in outlines:
        out.append([(x + start, y) for x, y in outline])
        start += max(x for x, _ in outline) + 1.0
    return out


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_obj_concave_faces_are_cut_inside_the_polygon(
    write: Write, relative: bool, newline: str
) -> None:
    outlines = [C_FRAME, L_SHAPE, DART]
    text = obj_text(spaced(outlines), relative).replace("\n", newline)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssetWarning)  # nothing here needs a fan
        mesh = load_mesh(write("press.obj", text))
    split_by_polygon(mesh, outlines)


def test_obj_relative_references_count_back_from_the_face(write: Write) -> None:
    """``-1`` is the last vertex defined before the face, not the file's last vertex."""
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\nv 5 0 0\nv 6 0 0\nv 5 1 0\nf -3 -2 -1\n"
    mesh = load_mesh(write("relative.obj", text))
    tris = triangles_of(mesh)
    np.testing.assert_allclose(sorted(tris[:, :, 0].min(axis=1)), [0.0, 5.0])


def test_obj_faces_keep_their_texture_and_normal_references(write: Write) -> None:
    """The cut keeps each corner's v/vt/vn: UVs and normals land on the right corners."""
    points = lift(C_FRAME)
    text = ["mtllib frame.mtl", *(f"v {x} {y} {z}" for x, y, z in points)]
    text += [f"vt {x / 3:.6f} {y / 3:.6f}" for x, y in C_FRAME]
    text += ["vn 0 1 0", "usemtl Red", "f " + " ".join(f"{i}/{i}/1" for i in range(1, 9))]
    write("frame.mtl", "newmtl Red\nKd 0.8 0.1 0.1\n")
    mesh = load_mesh(write("frame.obj", "\n".join(text) + "\n"))
    assert mesh.materials == ("Red",)
    np.testing.assert_allclose(mesh.normals, np.tile([0.0, 1.0, 0.0], (mesh.vertex_count, 1)))
    np.testing.assert_allclose(mesh.colors[:, :3], np.tile([0.8, 0.1, 0.1], (mesh.vertex_count, 1)))
    assert_covers(C_FRAME, drop(triangles_of(mesh)))


PLY_PROPS = [("float", "x"), ("float", "y"), ("float", "z")]


def ply_polygons(
    outlines: Sequence[Sequence[tuple[float, float]]],
) -> tuple[list[list[float]], list[list[int]]]:
    rows: list[list[float]] = []
    faces: list[list[int]] = []
    for outline in outlines:
        faces.append(list(range(len(rows), len(rows) + len(outline))))
        rows += lift(outline).tolist()
    return rows, faces


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
@pytest.mark.parametrize(
    "outlines",
    [[C_FRAME, L_SHAPE, DART], [DART, DART]],
    ids=["mixed-sizes", "only-quads"],
)
def test_ply_concave_faces_are_cut_inside_the_polygon(
    write: Write, fmt: str, outlines: list[list[tuple[float, float]]]
) -> None:
    rows, faces = ply_polygons(spaced(outlines))
    mesh = load_mesh(write("press.ply", ply(fmt, PLY_PROPS, rows, faces)))
    split_by_polygon(mesh, outlines)


def test_binary_ply_face_colours_ride_along_with_the_cut(write: Write) -> None:
    rows, faces = ply_polygons(spaced([C_FRAME, L_SHAPE]))
    plain, body = ply("binary_little_endian", PLY_PROPS, rows).split(b"end_header\n", 1)
    head = plain.decode() + "element face 2\nproperty list uchar int vertex_indices\n"
    head += "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    for face, rgb in zip(faces, [(255, 0, 0), (0, 0, 255)], strict=True):
        body += struct.pack(f"<B{len(face)}i3B", len(face), *face, *rgb)
    mesh = load_mesh(write("coloured.ply", head.encode() + body))
    split_by_polygon(mesh, [C_FRAME, L_SHAPE])
    red = mesh.colors[:, 0] > 0.9
    assert red.sum() == 3 * (len(C_FRAME) - 2)  # every triangle of the C is red
    assert (drop(mesh.positions[red])[:, 0] <= 3.0 + 1e-6).all()


def test_degenerate_and_self_crossing_faces_are_fanned_and_counted(write: Write) -> None:
    bow_tie = [(0, 0), (2, 2), (2, 0), (0, 2), (1, 3)]
    on_a_line = [(0, 0), (1, 0), (2, 0), (3, 0)]
    text = obj_text(spaced([bow_tie, on_a_line, C_FRAME]))
    with pytest.warns(AssetWarning, match=r"broken\.obj: 2 OBJ polygon\(s\).*fans"):
        mesh = load_mesh(write("broken.obj", text))
    assert mesh.triangle_count == 3 + 2 + 6
    rows, faces = ply_polygons(spaced([bow_tie, on_a_line, C_FRAME]))
    for fmt in ("ascii", "binary_little_endian"):
        with pytest.warns(AssetWarning, match=r"broken\.ply: 2 PLY polygon\(s\)"):
            mesh = load_mesh(write("broken.ply", ply(fmt, PLY_PROPS, rows, faces)))
        assert mesh.triangle_count == 3 + 2 + 6


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("past-the-end.obj", "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4 99\n"),
        ("before-defined.obj", "f -1 -2 -3 -4\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"),
        ("words.obj", "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 x 4\n"),
    ],
)
def test_broken_obj_polygons_fail_with_a_typed_error_or_load(
    write: Write, name: str, body: str
) -> None:
    """Faces the cut cannot place are left to the parser: an AssetError or a mesh."""
    path = write(name, body)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AssetWarning)
            mesh = load_mesh(path)
    except AssetError as error:
        assert error.file == str(path)
    else:
        assert mesh.triangle_count > 0


@pytest.mark.parametrize("faces", ["f 1 2 3 4", "f 1 2 3"], ids=["quad", "triangle"])
def test_obj_vertex_with_two_coordinates_is_refused(write: Write, faces: str) -> None:
    text = f"# two-dimensional export\nv 0 0 0\nv 1 0\nv 1 1 0\nv 0 1 0\n{faces}\n"
    with pytest.raises(MalformedAssetError, match=r"OBJ line 3: vertex 'v 1 0' has fewer than"):
        load_mesh(write("flat.obj", text))


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_polygon_corner_out_of_range_is_refused(write: Write, fmt: str) -> None:
    rows, faces = ply_polygons([C_FRAME])
    faces[0][3] = 40
    with pytest.raises(AssetError, match=r"out of range|rejected"):
        load_mesh(write("bad.ply", ply(fmt, PLY_PROPS, rows, faces)))


def test_polygons_making_too_many_triangles_are_refused(write: Write) -> None:
    limits = LoadLimits(max_triangles=5)
    with pytest.raises(AssetLimitError, match="OBJ faces make 6 triangles"):
        load_mesh(write("big.obj", obj_text([C_FRAME])), limits)
    rows, faces = ply_polygons([C_FRAME])
    for fmt in ("ascii", "binary_little_endian"):
        with pytest.raises(AssetLimitError, match="PLY polygons make 6 triangles"):
            load_mesh(write("big.ply", ply(fmt, PLY_PROPS, rows, faces)), limits)


# --------------------------------------------------------------------------- colours

CUBE_OBJ = "\n".join(
    ["mtllib cube.mtl", *(f"v {x} {y} {z}" for x, y, z in CUBE_POSITIONS), "usemtl Paint"]
    + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in CUBE_FACES]
)


def cube_gltf(folder: Path, rgba: Sequence[float], texture: str | None = None) -> Path:
    b = GltfBuilder()
    pbr: dict[str, object] = {}
    attributes: dict[str, int] = {}
    if texture is not None:
        b.doc["images"] = [{"uri": texture}]
        b.doc["textures"] = [{"source": 0}]
        pbr = {"baseColorTexture": {"index": 0}}
        attributes["TEXCOORD_0"] = b.accessor(np.zeros((8, 2), dtype=np.float32))
    material = b.material("Paint", rgba, pbr=pbr)
    prim = b.primitive(CUBE_POSITIONS, CUBE_FACES, material=material, **attributes)
    b.scene(b.node(mesh=b.mesh(prim)))
    return b.gltf_separate(folder, "cube")


def test_obj_kd_is_linear_like_gltf_base_colour(write: Write, tmp_path: Path) -> None:
    """Blender writes the Principled BSDF base colour (linear) as Kd, and the same value as
    glTF baseColorFactor: the two files of one model look the same."""
    write("cube.mtl", "newmtl Paint\nKd 0.5 0.25 0.125\nd 1.0\n")
    obj = load_mesh(write("cube.obj", CUBE_OBJ))
    np.testing.assert_allclose(obj.colors, np.tile([0.5, 0.25, 0.125, 1.0], (8, 1)), atol=1e-6)
    gltf = load_mesh(cube_gltf(tmp_path, [0.5, 0.25, 0.125, 1.0]))
    # trimesh keeps baseColorFactor in 8 bits: equal to that precision
    np.testing.assert_allclose(gltf.colors[0], obj.colors[0], atol=0.5 / 255)
    assert obj.colors[0, 0] > float(srgb_to_linear(np.float32(0.5))) + 0.1  # not darkened


def test_eight_bit_vertex_colours_stay_srgb(write: Write) -> None:
    rows = [[*p, 128, 64, 255] for p in CUBE_POSITIONS.tolist()]
    props = [*PLY_PROPS, ("uchar", "red"), ("uchar", "green"), ("uchar", "blue")]
    mesh = load_mesh(write("painted.ply", ply("ascii", props, rows, CUBE_FACES.tolist())))
    expected = srgb_to_linear(np.array([128, 64, 255], dtype=np.float32) / 255.0)
    np.testing.assert_allclose(mesh.colors[:, :3], np.tile(expected, (8, 1)), atol=1e-6)


@pytest.mark.parametrize("fmt", ["ascii", "binary_little_endian"])
def test_ply_with_uvs_and_no_colour_or_texture_is_default_grey(write: Write, fmt: str) -> None:
    rows = [[*p, p[0] + 0.5, p[1] + 0.5] for p in CUBE_POSITIONS.tolist()]
    props = [*PLY_PROPS, ("float", "s"), ("float", "t")]
    mesh = load_mesh(write("scanned.ply", ply(fmt, props, rows, CUBE_FACES.tolist())))
    plain = load_mesh(write("plain.ply", ply(fmt, PLY_PROPS, CUBE_POSITIONS.tolist(), [[0, 1, 3]])))
    np.testing.assert_allclose(mesh.colors, np.tile(plain.colors[0], (8, 1)))
    np.testing.assert_allclose(mesh.colors[0], [0.5, 0.5, 0.5, 1.0])


def test_missing_texture_warns_and_shows_the_material_colour(write: Write, tmp_path: Path) -> None:
    write("cube.mtl", "newmtl Paint\nKd 0.2 0.4 0.6\nmap_Kd paint_albedo.png\n")
    text = "\n".join(
        [
            "mtllib cube.mtl",
            *(f"v {x} {y} {z}" for x, y, z in CUBE_POSITIONS),
            "vt 0.5 0.5",
            "usemtl Paint",
            *(f"f {a + 1}/1 {b + 1}/1 {c + 1}/1" for a, b, c in CUBE_FACES),
        ]
    )
    with pytest.warns(AssetWarning, match=r"cube\.obj: texture 'paint_albedo\.png' not found"):
        obj = load_mesh(write("cube.obj", text))
    np.testing.assert_allclose(obj.colors[0], [0.2, 0.4, 0.6, 1.0], atol=1e-6)
    with pytest.warns(AssetWarning, match=r"cube\.gltf: texture 'paint_albedo\.png' not found"):
        gltf = load_mesh(cube_gltf(tmp_path, [0.2, 0.4, 0.6, 1.0], "paint_albedo.png"))
    np.testing.assert_allclose(gltf.colors[0], obj.colors[0], atol=0.5 / 255)


# --------------------------------------------------------------------------- up axis

SCENE = """
format = 1

[plant]
name = "CAD import"
{plant_up}

[assets.column]
path = "column.{suffix}"
{asset_up}

[[lines]]
id = "A"

[[machines]]
id = "COL-1"
type = "column"
asset = "column"
line = "A"
transform = {{ position = [1.0, 0.0, 0.0], scale = {scale} }}
"""


def tall_box(up: str) -> trimesh.Trimesh:
    """A 0.4 x 0.6 box 2 m tall along ``up``, standing on its base (from 0 to 2)."""
    extents = (0.4, 0.6, 2.0) if up == "z" else (0.4, 2.0, 0.6)
    box = trimesh.creation.box(extents=extents)
    box.apply_translation([0.0, 0.0, 1.0] if up == "z" else [0.0, 1.0, 0.0])
    return box


def column_bounds(
    write: Write, file_up: str, plant_up: str = "", asset_up: str = "", scale: str = "1.0"
) -> F64:
    box = tall_box(file_up)
    write("column.stl", stl_binary(box.vertices[box.faces]))
    text = SCENE.format(plant_up=plant_up, asset_up=asset_up, suffix="stl", scale=scale)
    scene = load_scene(write("plant.toml", text))
    geometry, _ = load_geometry(scene, LoadLimits())
    bounds: F64 = geometry.machine_bounds[0].astype(np.float64)
    return bounds


def test_z_up_stl_stands_up_in_a_y_up_plant(write: Write) -> None:
    lying = column_bounds(write, "z")  # without the key: lying on its side, 2 m along -Z
    np.testing.assert_allclose(lying[1] - lying[0], [0.4, 0.6, 2.0], atol=1e-5)
    standing = column_bounds(write, "z", asset_up='up_axis = "z"')
    np.testing.assert_allclose(standing, [[0.8, 0.0, -0.3], [1.2, 2.0, 0.3]], atol=1e-5)


def test_asset_up_axis_turns_the_placement_scale_with_it(write: Write) -> None:
    """Scale is the machine's, in the plant's axes: [1, 2, 1] doubles the height."""
    bounds = column_bounds(write, "z", asset_up='up_axis = "z"', scale="[1, 2, 1]")
    np.testing.assert_allclose(bounds[1] - bounds[0], [0.4, 4.0, 0.6], atol=1e-5)


def test_assets_follow_the_plant_up_axis_unless_told(write: Write) -> None:
    # Z-up plant, Z-up file: the whole plant turns, the column stands
    both = column_bounds(write, "z", plant_up='up_axis = "z"')
    np.testing.assert_allclose(both[1] - both[0], [0.4, 2.0, 0.6], atol=1e-5)
    # Z-up plant, one Y-up file among them: it stands too
    mixed = column_bounds(write, "y", plant_up='up_axis = "z"', asset_up='up_axis = "y"')
    np.testing.assert_allclose(mixed[1] - mixed[0], [0.4, 2.0, 0.6], atol=1e-5)
    assert mixed[0, 1] == pytest.approx(0.0, abs=1e-5)
    scene = load_scene(
        write(
            "check.toml",
            SCENE.format(plant_up="", asset_up='up_axis = "z"', suffix="stl", scale="1.0"),
        )
    )
    assert scene.assets["column"].up_axis == "z"


def test_bad_asset_up_axis_names_the_key(write: Write) -> None:
    write("column.stl", stl_binary(CUBE_POSITIONS[CUBE_FACES]))
    text = SCENE.format(plant_up="", asset_up='up_axis = "x"', suffix="stl", scale="1.0")
    with pytest.raises(SceneError, match=r"assets\.column\.up_axis: expected one of y, z, got 'x'"):
        load_scene(write("plant.toml", text))
