"""``scene init``: machines, lines, ids, types and viewpoints from one glTF model."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh

from xrclient.errors import AssetError
from xrclient.scene.guards import DEFAULT_LIMITS
from xrclient.scene.init import (
    InitError,
    machine_type,
    plan_scene,
    sanitize_id,
    scene_toml,
    summary,
)
from xrclient.scene.load import load_geometry
from xrclient.scene.schema import ID_PATTERN, load_scene

_T = trimesh.transformations.translation_matrix

#: line -> (machine nodes, x offset of the line)
HALL = {"Line A": (["CNC_01", "CNC_02"], 0.0), "Line B": (["PRESS_01"], 10.0)}


def hall_scene(lines: dict[str, tuple[list[str], float]] = HALL) -> trimesh.Scene:
    """Hall / Line A / CNC_01 / {CNC_01_base, CNC_01_head}, ..., and Hall / Floor."""
    scene = trimesh.Scene()
    graph = scene.graph
    graph.update(frame_from=graph.base_frame, frame_to="Hall")
    for line, (machines, x) in lines.items():
        graph.update(frame_from="Hall", frame_to=line, matrix=_T([x, 0.0, 0.0]))
        for k, machine in enumerate(machines):
            graph.update(frame_from=line, frame_to=machine, matrix=_T([0.0, 0.0, 4.0 * k]))
            for part, height in (("base", 0.0), ("head", 2.0)):
                box = trimesh.creation.box((1.0, 2.0, 1.0), transform=_T([0.0, height + 1, 0.0]))
                name = f"{machine}_{part}"
                scene.add_geometry(box, node_name=name, geom_name=name, parent_node_name=machine)
    floor = trimesh.creation.box((30.0, 0.1, 30.0))
    scene.add_geometry(floor, node_name="Floor", geom_name="Floor", parent_node_name="Hall")
    return scene


def patch_glb(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """The GLB with its JSON chunk changed by ``edit`` (re-padded, lengths fixed)."""
    (json_length,) = struct.unpack_from("<I", data, 12)
    doc = json.loads(data[20 : 20 + json_length])
    edit(doc)
    raw = json.dumps(doc).encode()
    raw += b" " * (-len(raw) % 4)
    rest = data[20 + json_length :]
    body = struct.pack("<II", len(raw), 0x4E4F534A) + raw + rest
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def node_extras(values: dict[str, dict[str, object]]) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        for node in doc["nodes"]:
            if node.get("name") in values:
                node["extras"] = values[node["name"]]

    return edit


@pytest.fixture
def hall(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "hall.glb"
    path.parent.mkdir()
    path.write_bytes(hall_scene().export(file_type="glb"))
    return path


def write_and_load(tmp_path: Path, hall: Path, **options: Any) -> tuple[Any, Any, str]:
    result = plan_scene(hall, **options)
    out = tmp_path / "scenes" / "plant.toml"
    out.parent.mkdir(exist_ok=True)
    text = scene_toml(result, out)
    out.write_text(text)
    scene = load_scene(out)
    geometry, _ = load_geometry(scene, DEFAULT_LIMITS)
    return result, (scene, geometry), text


def test_default_rule_takes_the_children_of_the_line_groups(tmp_path: Path, hall: Path) -> None:
    result, (scene, geometry), text = write_and_load(tmp_path, hall)
    assert [(m.id, m.line, m.type, m.node) for m in result.machines] == [
        ("CNC_01", "Line-A", "cnc", "Hall/Line A/CNC_01"),
        ("CNC_02", "Line-A", "cnc", "Hall/Line A/CNC_02"),
        ("PRESS_01", "Line-B", "press", "Hall/Line B/PRESS_01"),
    ]
    assert result.lines == {"Line-A": "Line A", "Line-B": "Line B"}
    assert result.unmatched == ["Floor"]
    assert "line id 'Line A' -> 'Line-A'" in result.changes
    # the written file loads, with a machine per node and the floor as static geometry
    assert [m.id for m in scene.machines] == ["CNC_01", "CNC_02", "PRESS_01"]
    assert [m.node for m in scene.machines] == [
        "/Hall/Line A/CNC_01",
        "/Hall/Line A/CNC_02",
        "/Hall/Line B/PRESS_01",
    ]
    assert [line.name for line in scene.lines] == ["Line A", "Line B"]
    assert geometry.triangle_count == 7 * 12  # six parts and the floor
    assert scene.twin.url == "ws://127.0.0.1:8765"
    assert '"../models/hall.glb"' in text  # relative to the scene file's folder
    colours = [b.color for b in scene.bindings if b.color is not None]
    assert len(colours) == 1 and colours[0].property == "state"


def test_bounds_and_viewpoints(tmp_path: Path, hall: Path) -> None:
    result, (scene, _), _ = write_and_load(tmp_path, hall)
    cnc2 = result.machines[1]
    assert cnc2.low == pytest.approx((-0.5, 0.0, 3.5))
    assert cnc2.high == pytest.approx((0.5, 4.0, 4.5))
    assert [vp.name for vp in scene.viewpoints] == ["overview", "line-Line-A", "line-Line-B"]
    views = {vp.name: vp for vp in result.viewpoints}
    # the overview looks at the middle of all machines, from above and in front (+z, y up)
    overview = views["overview"]
    assert overview.target == pytest.approx((5.0, 2.0, 2.0))
    eye = np.asarray(overview.position) - np.asarray(overview.target)
    assert eye[1] > 0 and eye[2] > 0
    # far enough that the machines' bounding sphere fits the 60 degree field of view
    radius = np.linalg.norm(np.array([10.5, 4.0, 4.5]) - np.array([-0.5, 0.0, -0.5])) / 2
    assert np.linalg.norm(eye) >= radius / np.sin(np.radians(30.0))
    line_b = views["line-Line-B"]
    assert line_b.target == pytest.approx((10.0, 2.0, 0.0))
    assert np.linalg.norm(np.asarray(line_b.position) - line_b.target) < np.linalg.norm(eye)


def test_up_z_looks_down_z_and_units_are_written(tmp_path: Path, hall: Path) -> None:
    result, (scene, _), _ = write_and_load(tmp_path, hall, units="mm", up_axis="z")
    assert scene.plant.units == "mm" and scene.plant.up_axis == "z"
    overview = result.viewpoints[0]
    eye = np.asarray(overview.position) - np.asarray(overview.target)
    assert eye[2] > 0 and eye[1] < 0


def test_globs_take_the_topmost_match(tmp_path: Path, hall: Path) -> None:
    # "CNC_*" also fits CNC_01_base etc.: those are parts of the matched machines
    result, _, _ = write_and_load(tmp_path, hall, globs=["CNC_*"])
    assert [m.id for m in result.machines] == ["CNC_01", "CNC_02"]
    assert result.unmatched == ["PRESS_01_base", "PRESS_01_head", "Floor"]
    # a group can be a machine; globs are case-sensitive
    result, _, _ = write_and_load(tmp_path, hall, globs=["Line B", "cnc_*"])
    assert [m.node for m in result.machines] == ["Hall/Line B"]
    assert result.machines[0].line == "main"  # directly under the hall
    # parts as machines, with the machine node as their line
    result, _, _ = write_and_load(tmp_path, hall, globs=["PRESS_01_*"])
    assert [(m.id, m.line, m.type) for m in result.machines] == [
        ("PRESS_01_base", "PRESS_01", "press_01_base"),
        ("PRESS_01_head", "PRESS_01", "press_01_head"),
    ]


def test_lines_from_none(tmp_path: Path, hall: Path) -> None:
    result, (scene, _), _ = write_and_load(tmp_path, hall, lines_from="none")
    assert {m.line for m in result.machines} == {"main"}
    assert [vp.name for vp in scene.viewpoints] == ["overview", "line-main"]


def test_ids_and_types_from_extras(tmp_path: Path, hall: Path) -> None:
    extras = {
        "CNC_01": {"tag": "M-100", "kind": "cnc_mill"},
        "CNC_02": {"tag": "M 101/b", "kind": "cnc_mill"},
        "PRESS_01": {"tag": "M-100", "kind": "press"},
    }
    hall.write_bytes(patch_glb(hall.read_bytes(), node_extras(extras)))
    result, (scene, _), _ = write_and_load(
        tmp_path, hall, id_from="extras.tag", type_from="extras.kind"
    )
    assert [(m.id, m.type) for m in scene.machines] == [
        ("M-100", "cnc_mill"),
        ("M-101-b", "cnc_mill"),
        ("M-100-2", "press"),
    ]
    assert "machine id 'M 101/b' -> 'M-101-b'" in result.changes
    assert "machine id 'M-100' -> 'M-100-2'" in result.changes
    assert any("M-100-2" in line for line in summary(result))


def test_missing_extras_id_is_an_error(hall: Path) -> None:
    hall.write_bytes(patch_glb(hall.read_bytes(), node_extras({"CNC_01": {"tag": "A"}})))
    with pytest.raises(InitError, match=r"CNC_02.*extras\['tag'\]"):
        plan_scene(hall, id_from="extras.tag")
    hall.write_bytes(patch_glb(hall.read_bytes(), node_extras({"CNC_02": {"tag": 7}})))
    with pytest.raises(InitError, match="no string extras"):
        plan_scene(hall, id_from="extras.tag")
    with pytest.raises(InitError, match="--id-from"):
        plan_scene(hall, id_from="tag")


def test_names_are_sanitised_and_made_unique(tmp_path: Path) -> None:
    lines = {"Line A": (["CNC 01", "CNC-01", "Röntgen #1"], 0.0)}
    path = tmp_path / "odd.glb"
    path.write_bytes(hall_scene(lines).export(file_type="glb"))
    result, (scene, _), _ = write_and_load(tmp_path, path)
    ids = [m.id for m in scene.machines]
    assert ids == ["CNC-01", "CNC-01-2", "R-ntgen--1"]
    assert all(ID_PATTERN.fullmatch(i) for i in ids)
    assert [m.name for m in scene.machines] == ["CNC 01", "CNC-01", "Röntgen #1"]
    assert "machine id 'CNC-01' -> 'CNC-01-2'" in result.changes
    assert [m.type for m in result.machines] == ["cnc", "cnc", "r-ntgen"]


def test_two_nodes_on_one_path_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "twins.glb"
    path.write_bytes(hall_scene({"Line A": (["CNC_01", "CNC_02"], 0.0)}).export(file_type="glb"))

    def rename(doc: dict[str, Any]) -> None:
        for node in doc["nodes"]:
            if node.get("name") == "CNC_02":
                node["name"] = "CNC_01"

    path.write_bytes(patch_glb(path.read_bytes(), rename))
    with pytest.raises(InitError, match="2 nodes have the path 'Hall/Line A/CNC_01'"):
        plan_scene(path)


def test_helpers() -> None:
    assert machine_type("CNC_01") == "cnc"
    assert machine_type("Press-2a") == "press-2a"
    assert machine_type("Robot cell 3") == "robot-cell"
    assert machine_type("42") == "machine"
    assert sanitize_id("x" * 80) == "x" * 64
    assert sanitize_id("") == "-"


def test_no_match_is_a_clear_error(hall: Path) -> None:
    with pytest.raises(InitError, match=r"no node with geometry matches the patterns 'Robot\*'"):
        plan_scene(hall, globs=["Robot*"])


def test_default_rule_without_groups_asks_for_globs(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), node_name="Box", geom_name="Box")
    path = tmp_path / "flat.glb"
    path.write_bytes(scene.export(file_type="glb"))
    with pytest.raises(InitError, match="--machines GLOB"):
        plan_scene(path)
    result = plan_scene(path, globs=["Box"])
    assert [(m.id, m.line) for m in result.machines] == [("Box", "main")]


def test_not_gltf_is_refused(tmp_path: Path) -> None:
    obj = tmp_path / "hall.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(InitError, match=r"glTF models .*'\.obj'"):
        plan_scene(obj)
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"not a glb file at all, really")
    with pytest.raises(AssetError, match="magic"):
        plan_scene(bad)


def test_gltf_with_side_files(tmp_path: Path) -> None:
    files = hall_scene().export(file_type="gltf")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    _, (scene, geometry), _ = write_and_load(tmp_path, tmp_path / "model.gltf")
    assert [m.id for m in scene.machines] == ["CNC_01", "CNC_02", "PRESS_01"]
    assert geometry.triangle_count == 7 * 12
