"""``xrclient scene init`` as a user runs it: a model in, a scene that inspect accepts out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import trimesh

_T = trimesh.transformations.translation_matrix


def hall_scene() -> trimesh.Scene:
    """Hall / Line A / CNC_01, CNC_02 and Hall / Line B / PRESS_01 (two parts each), and
    Hall / Floor."""
    scene = trimesh.Scene()
    graph = scene.graph
    graph.update(frame_from=graph.base_frame, frame_to="Hall")
    lines = {"Line A": ["CNC_01", "CNC_02"], "Line B": ["PRESS_01"]}
    for x, (line, machines) in enumerate(lines.items()):
        graph.update(frame_from="Hall", frame_to=line, matrix=_T([10.0 * x, 0.0, 0.0]))
        for k, machine in enumerate(machines):
            graph.update(frame_from=line, frame_to=machine, matrix=_T([0.0, 0.0, 4.0 * k]))
            for part in ("base", "head"):
                name = f"{machine}_{part}"
                box = trimesh.creation.box((1.0, 2.0, 1.0))
                scene.add_geometry(box, node_name=name, geom_name=name, parent_node_name=machine)
    floor = trimesh.creation.box((30.0, 0.1, 30.0))
    scene.add_geometry(floor, node_name="Floor", geom_name="Floor", parent_node_name="Hall")
    return scene


def xrclient(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "xrclient", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_scene_init_then_inspect(tmp_path: Path) -> None:
    model = tmp_path / "hall.glb"
    model.write_bytes(hall_scene().export(file_type="glb"))
    out = tmp_path / "scenes" / "plant.toml"
    run = xrclient("scene", "init", str(model), "--out", str(out), "--machines", "CNC_*")
    assert run.returncode == 0, run.stderr
    assert "2 machines on 1 line: CNC_01 (Hall/Line A/CNC_01)" in run.stdout
    static = "3 mesh nodes left static (no machine holds them): 'PRESS_01_base', 'PRESS_01_head'"
    assert f"{static}, 'Floor'" in run.stdout
    run = xrclient("inspect", "--json", str(out))
    assert run.returncode == 0, run.stdout
    record = json.loads(run.stdout)
    assert record["node_machines"] == {
        "CNC_01": "/Hall/Line A/CNC_01",
        "CNC_02": "/Hall/Line A/CNC_02",
    }
    assert record["viewpoints"] == ["overview", "line-Line-A"]
    assert record["machine_types"] == {"cnc": 2}
    # not overwritten without --force; a file that is not glTF is named in the error
    again = xrclient("scene", "init", str(model), "--out", str(out))
    assert again.returncode == 1 and "--force" in again.stderr
    assert xrclient("scene", "init", str(model), "--out", str(out), "--force").returncode == 0
    obj = tmp_path / "hall.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    bad = xrclient("scene", "init", str(obj), "--out", str(tmp_path / "x.toml"))
    assert bad.returncode == 1
    assert "hall.obj: scene init reads glTF models" in bad.stderr
    assert not (tmp_path / "x.toml").exists()
