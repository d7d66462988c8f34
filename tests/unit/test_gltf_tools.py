"""Round trips through the glTF tools real pipelines use: gltf-transform and gltfpack.

A plant file is written here (named nodes, one mesh shared by four machines, a second
mesh, a floor); the tools (installed from ``tools/gltf/package-lock.json`` by
``scripts/install_gltf_tools.sh``) compress, quantize and instance it; each output must
decode to the same geometry as the plain file, within the quantisation step of the tool's
position grid, and its node machines must still split out. The Khronos validator (run
through ``gltf-transform validate``) checks that the plain file, the tools' outputs and the
corner-case files the specification allows are valid, so these tests also say that what
the validator accepts, we open.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import trimesh
from gltf_tools import glb_document, run_tool, used_extensions, validator_errors
from interop_builders import GltfBuilder
from scipy.spatial import cKDTree

from xrclient.errors import MalformedAssetError
from xrclient.scene.loaders import load_mesh, load_nodes
from xrclient.scene.mesh import MeshData

#: gltf-transform's and gltfpack's default position quantisation: 14 bits per axis
POSITION_BITS = 14
MACHINES = ("CNC_01", "CNC_02", "CNC_03", "CNC_04", "Press_01")


# --------------------------------------------------------------------------- the plant


def _quat_y(degrees: float) -> list[float]:
    half = math.radians(degrees) / 2
    return [0.0, math.sin(half), 0.0, math.cos(half)]


def _shape(b: GltfBuilder, tm: trimesh.Trimesh, material: int, name: str) -> int:
    tm = tm.copy()
    tm.unmerge_vertices()  # flat normals, one vertex per corner, as CAD exports write
    normals = b.accessor(np.repeat(tm.face_normals, 3, axis=0).astype(np.float32))
    prim = b.primitive(
        np.asarray(tm.vertices, np.float32),
        np.asarray(tm.faces),
        np.uint32,
        material,
        NORMAL=normals,
    )
    return b.mesh(prim, name=name)


def write_plant(folder: Path) -> Path:
    """Hall > Line A (four CNCs sharing one mesh), Line B (a press), Floor; GLB."""
    b = GltfBuilder()
    steel = b.material("steel", [0.55, 0.57, 0.60, 1.0])
    paint = b.material("paint", [0.8, 0.25, 0.1, 1.0])
    floor = b.material("floor", [0.3, 0.3, 0.32, 1.0])
    cnc = _shape(b, trimesh.creation.icosphere(subdivisions=2, radius=0.8), steel, "cnc")
    press = _shape(
        b, trimesh.creation.cylinder(radius=0.6, height=2.0, sections=24), paint, "press"
    )
    slab = _shape(b, trimesh.creation.box(extents=(20.0, 0.2, 12.0)), floor, "slab")
    cncs = [
        b.node(name=f"CNC_0{i + 1}", mesh=cnc, translation=[3.0 * i, 1.0, 0.0],
               rotation=_quat_y(30.0 * i), scale=[1.0, 1.0 + 0.25 * i, 1.0])
        for i in range(4)
    ]  # fmt: skip
    line_a = b.node(name="Line A", children=cncs, translation=[-4.0, 0.0, -2.0])
    press_node = b.node(name="Press_01", mesh=press, translation=[0.0, 1.0, 0.0])
    line_b = b.node(name="Line B", children=[press_node], translation=[2.0, 0.0, 3.5])
    floor_node = b.node(name="Floor", mesh=slab, translation=[0.0, -0.1, 0.0])
    hall = b.node(name="Hall", children=[line_a, line_b, floor_node])
    b.scene(hall)
    path = folder / "plant.glb"
    path.write_bytes(b.glb())
    return path


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plant(tmp_path_factory.mktemp("tools"))


# --------------------------------------------------------------------------- comparison


def _step(mesh: MeshData) -> float:
    """The largest position quantisation step of a 14-bit grid over the file's bounds."""
    extent = float(np.max(mesh.bounds[1] - mesh.bounds[0]))
    return extent / (2**POSITION_BITS - 1)


def _triangle_corners(mesh: MeshData) -> npt.NDArray[np.float64]:
    return mesh.positions[mesh.indices].astype(np.float64)  # (T, 3, 3)


def _area(mesh: MeshData) -> float:
    tri = _triangle_corners(mesh)
    return float(
        np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum() / 2
    )


def assert_same_geometry(got: MeshData, want: MeshData, tolerance: float) -> None:
    """Same triangles (as sets of corners, in any order) within ``tolerance`` metres."""
    assert got.triangle_count == want.triangle_count
    a = _triangle_corners(got)
    b = _triangle_corners(want)
    # a triangle is its sorted corners: matching centroids first, then every corner
    ta, tb = cKDTree(a.mean(axis=1)), cKDTree(b.mean(axis=1))
    dist_ab, near_ab = tb.query(a.mean(axis=1))
    dist_ba, _ = ta.query(b.mean(axis=1))
    assert float(dist_ab.max()) <= tolerance
    assert float(dist_ba.max()) <= tolerance
    corners = cKDTree(b.reshape(-1, 3)).query(a.reshape(-1, 3))[0]
    assert float(corners.max()) <= tolerance * math.sqrt(3)
    assert _area(got) == pytest.approx(_area(want), rel=1e-3)
    np.testing.assert_allclose(got.bounds, want.bounds, atol=tolerance * 2)
    # every triangle keeps its part's colour
    colour = got.colors[got.indices[:, 0]]
    # (within one 8-bit step: gltfpack rounds material factors)
    np.testing.assert_allclose(colour, want.colors[want.indices[near_ab, 0]], atol=1.01 / 255)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("tool", "args", "extensions"),
    [
        ("gltf-transform", ("draco",), {"KHR_draco_mesh_compression"}),
        ("gltf-transform", ("meshopt",), {"EXT_meshopt_compression", "KHR_mesh_quantization"}),
        ("gltf-transform", ("quantize",), {"KHR_mesh_quantization"}),
        ("gltf-transform", ("instance", "--min", "2"), {"EXT_mesh_gpu_instancing"}),
        ("gltfpack", ("-cc",), {"EXT_meshopt_compression", "KHR_mesh_quantization"}),
        ("gltfpack", ("-c", "-mi"), {"EXT_mesh_gpu_instancing", "EXT_meshopt_compression"}),
        ("gltfpack", ("-kn",), {"KHR_mesh_quantization"}),
    ],
    ids=["draco", "meshopt", "quantize", "instance", "gltfpack-cc", "gltfpack-mi", "gltfpack-q"],
)
def test_tool_output_decodes_to_the_plain_geometry(
    plant: Path, tmp_path: Path, tool: str, args: Sequence[str], extensions: set[str]
) -> None:
    out = tmp_path / "out.glb"
    if tool == "gltfpack":
        run_tool(tool, "-i", plant, "-o", out, *args)
    else:
        run_tool(tool, args[0], plant, out, *args[1:])
    # the tool really used what this case is about
    assert extensions <= used_extensions(out)
    assert validator_errors(out) == []
    want = load_mesh(plant)
    got = load_mesh(out)
    assert_same_geometry(got, want, _step(want))


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("gltf-transform", ("draco",)),
        ("gltf-transform", ("meshopt",)),
        ("gltfpack", ("-cc", "-kn")),
    ],
    ids=["draco", "meshopt", "gltfpack-kn"],
)
def test_node_machines_split_out_of_compressed_files(
    plant: Path, tmp_path: Path, tool: str, args: Sequence[str]
) -> None:
    out = tmp_path / "out.glb"
    if tool == "gltfpack":
        run_tool(tool, "-i", plant, "-o", out, *args)
    else:
        run_tool(tool, args[0], plant, out, *args[1:])
    want = load_nodes(plant, MACHINES)
    got = load_nodes(out, MACHINES)
    tolerance = _step(load_mesh(plant))
    for mine, theirs in zip(got.machines, want.machines, strict=True):
        assert_same_geometry(mine, theirs, tolerance)
    assert got.rest is not None and want.rest is not None
    assert_same_geometry(got.rest, want.rest, tolerance)


def test_instanced_copies_land_where_the_file_puts_them(plant: Path, tmp_path: Path) -> None:
    out = tmp_path / "instanced.glb"
    run_tool("gltf-transform", "instance", plant, out, "--min", "2")
    doc = glb_document(out)
    instanced = [n for n in doc["nodes"] if "EXT_mesh_gpu_instancing" in n.get("extensions", {})]
    assert len(instanced) == 1  # the four CNCs became one node of four instances
    got = load_mesh(out)
    # each CNC copy sits at its own node's place: around each node's world position lie
    # exactly one icosphere's triangles of the CNC material (its rotation and scale kept)
    colour = got.colors[got.indices[:, 0], :3]
    is_cnc = np.all(np.abs(colour - np.array([0.55, 0.57, 0.60])) < 0.01, axis=1)
    centroids = _triangle_corners(got).mean(axis=1)
    cnc_triangles = 320  # icosphere, subdivisions=2
    for i in range(4):
        where = np.array([-4.0 + 3.0 * i, 1.0, -2.0])
        near = np.linalg.norm(centroids - where, axis=1) < 1.45
        assert int(np.count_nonzero(near & is_cnc)) == cnc_triangles
        assert np.allclose(centroids[near & is_cnc].mean(axis=0), where, atol=0.02)


# --------------------------------------------------------------------------- validator


def test_the_plain_plant_is_valid(plant: Path) -> None:
    assert validator_errors(plant) == []


def test_the_validator_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF" + b"\x02\x00\x00\x00" + b"\x10\x00\x00\x00" + b"\x00" * 4)
    assert validator_errors(bad) != []


def _corner_accessor_without_view(b: GltfBuilder) -> None:
    """A quad whose second triangle's extra attribute accessor has no bufferView (zeros)."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    pos = b.accessor(positions)
    zeros = b.add("accessors", {"componentType": 5126, "count": 4, "type": "VEC2"})
    idx = b.accessor(np.array([0, 1, 2, 0, 2, 3], np.uint16), np.uint16)
    prim = {"attributes": {"POSITION": pos, "TEXCOORD_0": zeros}, "indices": idx}
    b.scene(b.node(mesh=b.mesh(prim)))


def _corner_sparse_on_zeros(b: GltfBuilder) -> None:
    """Positions that are only a sparse accessor over zeros (no bufferView)."""
    rows = np.array([[0, 0, 0], [2, 0, 0], [2, 3, 0]], np.float32)
    indices = b.view(np.array([1, 2], np.uint16).tobytes())
    values = b.view(rows[1:].tobytes())
    pos = b.add(
        "accessors",
        {
            "componentType": 5126,
            "count": 3,
            "type": "VEC3",
            "min": [0, 0, 0],
            "max": [2, 3, 0],
            "sparse": {
                "count": 2,
                "indices": {"bufferView": indices, "componentType": 5123},
                "values": {"bufferView": values},
            },
        },
    )
    b.scene(b.node(mesh=b.mesh({"attributes": {"POSITION": pos}})))


def _corner_unreferenced_buffer(b: GltfBuilder) -> None:
    """A second buffer without a uri that nothing references (allowed in a .gltf)."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    b.scene(b.node(mesh=b.mesh(b.primitive(positions))))


@pytest.mark.parametrize(
    ("build", "triangles", "area"),
    [
        (_corner_accessor_without_view, 2, 1.0),
        (_corner_sparse_on_zeros, 1, 3.0),
        (_corner_unreferenced_buffer, 1, 0.5),
    ],
    ids=["accessor-without-bufferview", "sparse-on-zeros", "unreferenced-buffer"],
)
def test_validator_valid_corners_open(
    tmp_path: Path, build: Any, triangles: int, area: float
) -> None:
    b = GltfBuilder()
    build(b)
    if build is _corner_unreferenced_buffer:
        doc = json.loads(b.gltf_embedded())
        doc["buffers"].append({"byteLength": 16})  # no uri, and nothing refers to it
        file = tmp_path / "corner.gltf"
        file.write_text(json.dumps(doc))
    else:
        file = tmp_path / "corner.glb"
        file.write_bytes(b.glb())
    assert validator_errors(file) == []
    mesh = load_mesh(file)
    assert mesh.triangle_count == triangles
    assert _area(mesh) == pytest.approx(area, rel=1e-6)


def test_a_view_of_a_buffer_without_data_is_refused(tmp_path: Path) -> None:
    b = GltfBuilder()
    _corner_unreferenced_buffer(b)
    doc = json.loads(b.gltf_embedded())
    doc["buffers"].append({"byteLength": 36})
    doc["bufferViews"][0]["buffer"] = 1  # the positions now point into the empty buffer
    file = tmp_path / "dataless.gltf"
    file.write_text(json.dumps(doc))
    with pytest.raises(MalformedAssetError, match="buffer 1, which has no uri"):
        load_mesh(file)
