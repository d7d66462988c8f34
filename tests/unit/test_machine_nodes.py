"""Machines taken from named nodes of one plant model (``node =`` on ``[[machines]]``)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import trimesh
from interop_builders import glb_container
from trimesh.exchange.gltf import export_glb

from xrclient.errors import AssetLimitError, SceneError
from xrclient.inspection import describe
from xrclient.scene import nodes
from xrclient.scene.geometry import FIXTURE, SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import AssetCache, LoadLimits
from xrclient.scene.model import Scene
from xrclient.scene.picking import Picker, Ray
from xrclient.scene.schema import load_scene

F64 = npt.NDArray[np.float64]
Write = Callable[[str, str | bytes], Path]

#: triangles of one trimesh box
BOX = 12


def _at(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> F64:
    matrix: F64 = trimesh.transformations.translation_matrix([x, y, z])
    return matrix


def hall_scene() -> trimesh.Scene:
    """Hall / {Line A / {CNC_01 / {base, spindle}, Robot}, Line B / Press_01, Line C, Floor}.

    Line A sits at x = 10, its CNC_01 at z = 2 inside it (a 2 x 1 x 1 base and a 0.5 m
    spindle 1 m above it); Line B at x = -10 with a 1 x 3 x 1 press; Line C empty; a
    30 x 0.1 x 30 floor.
    """
    s = trimesh.Scene()
    g = s.graph
    g.update(frame_from=g.base_frame, frame_to="Hall", matrix=_at())
    g.update(frame_from="Hall", frame_to="Line A", matrix=_at(10.0))
    g.update(frame_from="Hall", frame_to="Line B", matrix=_at(-10.0))
    g.update(frame_from="Hall", frame_to="Line C", matrix=_at(0.0, 0.0, 9.0))
    g.update(frame_from="Line A", frame_to="CNC_01", matrix=_at(0.0, 0.0, 2.0))
    parts = [
        ("base", (2, 1, 1), _at(), "CNC_01"),
        ("spindle", (0.5, 0.5, 0.5), _at(0.0, 1.0, 0.0), "CNC_01"),
        ("Robot", (1, 2, 1), _at(0.0, 1.0, -3.0), "Line A"),
        ("Press_01", (1, 3, 1), _at(0.0, 1.5, 0.0), "Line B"),
        ("Floor", (30, 0.1, 30), _at(0.0, -0.05, 0.0), "Hall"),
    ]
    for name, size, matrix, parent in parts:
        s.add_geometry(
            trimesh.creation.box(size),
            node_name=name if parent != "CNC_01" else f"CNC_01 {name}",
            geom_name=name.lower(),
            parent_node_name=parent,
            transform=matrix,
        )
    return s


def glb_bytes(rename: dict[str, str] | None = None, instanced: str = "") -> bytes:
    """The hall as GLB (trimesh's exporter); ``rename`` changes glTF node names afterwards
    (trimesh's own scene graph cannot hold two nodes of one name, real files can), and node
    ``instanced`` gets three copies 3 m apart in x (``EXT_mesh_gpu_instancing``, TRANSLATION)."""
    data = export_glb(hall_scene())
    if not rename and not instanced:
        return data
    size = struct.unpack_from("<I", data, 12)[0]
    doc: dict[str, Any] = json.loads(data[20 : 20 + size])
    binary = bytes(data[28 + size :])
    if instanced:
        index = next(i for i, n in enumerate(doc["nodes"]) if n.get("name") == instanced)
        moves = np.array([[0, 0, 0], [3, 0, 0], [6, 0, 0]], dtype=np.float32)
        binary += b"\x00" * (-len(binary) % 4)
        doc["bufferViews"].append(
            {"buffer": 0, "byteOffset": len(binary), "byteLength": moves.nbytes}
        )
        binary += moves.tobytes()
        doc["buffers"][0]["byteLength"] = len(binary)
        view = len(doc["bufferViews"]) - 1
        doc["accessors"].append(
            {"bufferView": view, "componentType": 5126, "count": 3, "type": "VEC3"}
        )
        ext = {"attributes": {"TRANSLATION": len(doc["accessors"]) - 1}}
        doc["nodes"][index]["extensions"] = {"EXT_mesh_gpu_instancing": ext}
        doc["extensionsUsed"] = [*doc.get("extensionsUsed", []), "EXT_mesh_gpu_instancing"]
    for node in doc["nodes"]:
        node["name"] = (rename or {}).get(node.get("name"), node.get("name"))
    return glb_container(json.dumps(doc).encode(), binary)


SCENE = """
format = 1

[plant]
name = "Hall"

[assets.plant]
path = "hall.glb"
{asset}

[assets.box]
path = "box.stl"

[[lines]]
id = "A"

{machines}
"""


def machine(machine_id: str, node: str, extra: str = "", asset: str = "plant") -> str:
    return (
        f'[[machines]]\nid = "{machine_id}"\ntype = "t"\nasset = "{asset}"\nline = "A"\n'
        f"node = {json.dumps(node)}\n{extra}\n"
    )


@pytest.fixture
def plant(tmp_path: Path) -> Callable[..., Scene]:
    box = trimesh.creation.box((1, 1, 1))
    box.export(tmp_path / "box.stl")

    def make(
        *machines: str, rename: dict[str, str] | None = None, asset: str = "", instanced: str = ""
    ) -> Scene:
        (tmp_path / "hall.glb").write_bytes(glb_bytes(rename, instanced))
        text = SCENE.format(asset=asset, machines="".join(machines))
        (tmp_path / "plant.toml").write_text(text)
        return load_scene(tmp_path / "plant.toml")

    return make


def bounds(geometry: SceneGeometry, i: int) -> F64:
    out: F64 = geometry.machine_bounds[i].astype(np.float64)
    return out


def two_machines(plant: Callable[..., Scene]) -> tuple[Scene, SceneGeometry]:
    scene = plant(machine("CNC-01", "Line A/CNC_01"), machine("PRESS", "Press_01"))
    geometry, _ = load_geometry(scene, LoadLimits())
    return scene, geometry


# --------------------------------------------------------------------------- the split


def test_node_machines_get_their_subtrees_where_the_file_puts_them(
    plant: Callable[..., Scene],
) -> None:
    scene, geometry = two_machines(plant)
    assert [m.node for m in scene.machines] == ["Line A/CNC_01", "Press_01"]
    by_asset = {b.asset: b for b in geometry.batches}
    assert set(by_asset) == {"plant#Line A/CNC_01", "plant#Press_01", "plant#rest"}
    cnc, press, rest = (
        by_asset[k] for k in ("plant#Line A/CNC_01", "plant#Press_01", "plant#rest")
    )
    assert cnc.mesh.triangle_count == 2 * BOX  # base and spindle, not the robot next to it
    assert press.mesh.triangle_count == BOX
    assert rest.mesh.triangle_count == 2 * BOX  # the robot and the floor
    assert cnc.machine.tolist() == [0] and press.machine.tolist() == [1]
    assert rest.machine.tolist() == [FIXTURE]
    # world bounds: their places in the file
    np.testing.assert_allclose(bounds(geometry, 0), [[9, -0.5, 1.5], [11, 1.25, 2.5]], atol=1e-5)
    np.testing.assert_allclose(bounds(geometry, 1), [[-10.5, 0, -0.5], [-9.5, 3, 0.5]], atol=1e-5)
    np.testing.assert_allclose(rest.mesh.bounds, [[-15, -1e-1, -15], [15, 2, 15]], atol=1e-5)
    assert geometry.triangle_count == 5 * BOX  # every triangle of the file drawn exactly once


def test_the_file_is_read_once_and_a_second_load_reuses_it(
    plant: Callable[..., Scene],
) -> None:
    scene = plant(machine("CNC-01", "Line A/CNC_01"), machine("PRESS", "Press_01"))
    cache = AssetCache(LoadLimits())
    asset = scene.assets["plant"]
    first = cache.get_nodes(asset.path, ("Line A/CNC_01", "Press_01"))
    again = cache.get_nodes(asset.path, ("Line A/CNC_01", "Press_01"))
    assert again is first and cache.loads == 1
    _, loader = load_geometry(scene, LoadLimits())
    assert loader.loads == 1


def test_units_and_up_axis_apply_to_node_machines(plant: Callable[..., Scene]) -> None:
    scene = plant(machine("CNC-01", "Line A/CNC_01"), asset='units = "cm"\nup_axis = "z"')
    geometry, _ = load_geometry(scene, LoadLimits())
    # centimetres; the file's Z up turned to the plant's Y up: (x, y, z) -> (x, z, -y)
    expected = np.array([[9, 1.5, -1.25], [11, 2.5, 0.5]]) * 0.01
    np.testing.assert_allclose(bounds(geometry, 0), expected, atol=1e-6)


def test_a_picked_ray_on_a_node_machine_returns_that_machine(
    plant: Callable[..., Scene],
) -> None:
    _, geometry = two_machines(plant)
    picker = Picker(geometry)
    down = (0.0, -1.0, 0.0)
    hit = picker.pick(Ray((10.0, 20.0, 2.0), down))
    assert hit is not None and hit.machine == 0
    assert hit.distance == pytest.approx(20.0 - 1.25, abs=1e-4)  # the spindle's top
    hit = picker.pick(Ray((-10.0, 20.0, 0.0), down))
    assert hit is not None and hit.machine == 1
    # the robot belongs to the rest of the file: static, hit but never picked
    assert picker.pick(Ray((10.0, 20.0, -3.0), down)) is None
    surface = picker.cast(Ray((10.0, 20.0, -3.0), down))
    assert surface is not None and surface.machine == FIXTURE


def test_the_same_file_may_still_be_used_whole(plant: Callable[..., Scene]) -> None:
    whole = (
        '[[machines]]\nid = "WHOLE"\ntype = "t"\nasset = "plant"\nline = "A"\n'
        "transform = { position = [0.0, 100.0, 0.0] }\n"
    )
    scene = plant(machine("CNC-01", "CNC_01"), whole)
    geometry, _ = load_geometry(scene, LoadLimits())
    assert bounds(geometry, 0)[0, 0] == pytest.approx(9.0)
    assert bounds(geometry, 1)[0, 1] == pytest.approx(99.5, abs=1e-4)
    assert geometry.triangle_count == 5 * BOX + 5 * BOX


def test_a_path_picks_one_of_two_nodes_of_one_name(plant: Callable[..., Scene]) -> None:
    scene = plant(machine("PRESS", "Line B/CNC_01"), rename={"Press_01": "CNC_01"})
    geometry, _ = load_geometry(scene, LoadLimits())
    np.testing.assert_allclose(bounds(geometry, 0)[0], [-10.5, 0.0, -0.5], atol=1e-5)
    assert geometry.batches[0].mesh.triangle_count == BOX


def test_instanced_copies_go_with_their_claimed_ancestor(plant: Callable[..., Scene]) -> None:
    scene = plant(
        machine("CNC-01", "CNC_01"), machine("SPARE", "Robot"), instanced="CNC_01 spindle"
    )
    geometry, _ = load_geometry(scene, LoadLimits())
    cnc = geometry.batches[0]
    assert cnc.asset == "plant#CNC_01"
    assert cnc.mesh.triangle_count == BOX + 3 * BOX  # the base and three spindles
    assert bounds(geometry, 0)[1, 0] == pytest.approx(16.25)  # the last spindle, 6 m on
    assert geometry.triangle_count == 7 * BOX
    # the instanced node itself, claimed: its three copies
    scene = plant(machine("SPINDLES", "CNC_01 spindle"), instanced="CNC_01 spindle")
    geometry, _ = load_geometry(scene, LoadLimits())
    assert geometry.batches[0].mesh.triangle_count == 3 * BOX
    np.testing.assert_allclose(bounds(geometry, 0)[:, 0], [9.75, 16.25], atol=1e-5)


def test_inspect_counts_claimed_nodes_and_the_rest(
    plant: Callable[..., Scene], tmp_path: Path
) -> None:
    plant(machine("CNC-01", "Line A/CNC_01"), machine("PRESS", "Press_01"))
    report = describe(tmp_path / "plant.toml", LoadLimits())
    assert report["ok"] is True
    assert report["node_assets"] == {"plant": {"nodes_claimed": 2, "rest_triangles": 2 * BOX}}
    assert report["triangles"] == 5 * BOX
    assert report["asset_files_loaded"] == 1


def test_a_gltf_with_a_side_buffer_and_a_rooted_path(tmp_path: Path) -> None:
    files = trimesh.exchange.gltf.export_gltf(hall_scene())
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "hall.glb").unlink(missing_ok=True)
    text = SCENE.format(asset="", machines=machine("ROBOT", "/Hall/Line A/Robot"))
    text = text.replace('"hall.glb"', '"model.gltf"').replace('[assets.box]\npath = "box.stl"', "")
    (tmp_path / "plant.toml").write_text(text)
    geometry, _ = load_geometry(load_scene(tmp_path / "plant.toml"), LoadLimits())
    np.testing.assert_allclose(bounds(geometry, 0), [[9.5, 0, -3.5], [10.5, 2, -2.5]], atol=1e-5)
    assert any(p.suffix == ".bin" for p in tmp_path.iterdir())


def test_a_rooted_path_must_start_at_a_root(plant: Callable[..., Scene]) -> None:
    err = scene_error(plant, machine("ROBOT", "/Line A/Robot"))
    assert err.message.startswith("no node '/Line A/Robot' in hall.glb (did you mean:")


# --------------------------------------------------------------------------- errors


def scene_error(plant: Callable[..., Scene], *machines: str, **kw: Any) -> SceneError:
    with pytest.raises(SceneError) as info:
        load_geometry(plant(*machines, **kw), LoadLimits())
    return info.value


def test_an_unknown_node_lists_near_matches(plant: Callable[..., Scene]) -> None:
    err = scene_error(plant, machine("OK", "Press_01"), machine("CNC-01", "Line A/CNC_1"))
    assert err.key_path == "machines[1].node"
    assert "no node 'Line A/CNC_1' in hall.glb (did you mean: 'Hall/Line A/CNC_01'" in err.message
    assert str(err).startswith(str(err.file))
    err = scene_error(plant, machine("X", "Conveyor"))
    assert err.message == "no node 'Conveyor' in hall.glb"


def test_a_name_matching_two_nodes_asks_for_its_path(plant: Callable[..., Scene]) -> None:
    err = scene_error(plant, machine("CNC-01", "CNC_01"), rename={"Press_01": "CNC_01"})
    assert err.key_path == "machines[0].node"
    assert err.message == (
        "'CNC_01' matches 2 nodes: 'Hall/Line A/CNC_01', 'Hall/Line B/CNC_01'; give its path"
    )


def test_a_claim_inside_another_names_both_keys(plant: Callable[..., Scene]) -> None:
    err = scene_error(plant, machine("LINE", "Line A"), machine("CNC-01", "CNC_01"))
    assert err.key_path == "machines[1].node"
    assert "'Hall/Line A/CNC_01' lies inside claimed node 'Hall/Line A'" in err.message
    assert "machines[0].node" in err.message
    err = scene_error(plant, machine("A", "CNC_01"), machine("B", "Hall/Line A/CNC_01"))
    assert err.key_path == "machines[1].node" and "claimed twice" in err.message


def test_a_node_without_triangles_is_refused(plant: Callable[..., Scene]) -> None:
    err = scene_error(plant, machine("C", "Line C"))
    assert err.key_path == "machines[0].node"
    assert err.message == "node 'Hall/Line C' holds no triangle geometry"


def test_claiming_the_whole_file_leaves_no_rest(plant: Callable[..., Scene]) -> None:
    geometry, _ = load_geometry(plant(machine("HALL", "Hall")), LoadLimits())
    assert [b.asset for b in geometry.batches] == ["plant#Hall"]
    assert geometry.triangle_count == 5 * BOX


def test_node_needs_a_gltf_asset(plant: Callable[..., Scene]) -> None:
    with pytest.raises(SceneError) as info:
        plant(machine("BOX", "Box", asset="box"))
    assert info.value.key_path == "machines[0].node"
    assert "node = needs a glTF/GLB asset" in info.value.message


@pytest.mark.parametrize("key", ["position", "rotation", "scale"])
def test_node_with_a_placement_is_refused(plant: Callable[..., Scene], key: str) -> None:
    value = "[1.0, 2.0, 3.0]" if key != "scale" else "2.0"
    with pytest.raises(SceneError) as info:
        plant(machine("CNC-01", "CNC_01", f"transform = {{ {key} = {value} }}"))
    assert info.value.key_path == f"machines[0].transform.{key}"
    assert "placed where the file puts that node" in info.value.message


def test_node_paths_are_bounded_before_lookup(
    plant: Callable[..., Scene], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nodes, "MAX_PATH_CHARS", 40)
    with pytest.raises(AssetLimitError, match=r"hall\.glb: node paths add up to over 40 char"):
        load_geometry(plant(machine("CNC-01", "CNC_01")), LoadLimits())
