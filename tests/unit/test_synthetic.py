"""Large synthetic plants and the scene TOML writer."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trimesh

from plantgen import synthetic
from plantgen.synthetic import SceneWriter, generate_large_plant, write_large_plant


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def test_small_plant_is_complete(tmp_path: Path) -> None:
    scene = write_large_plant(tmp_path / "plant", machines=60, variants=10, seed=3)
    assert scene.is_file() and scene.parent == tmp_path / "plant"
    doc = _read(scene)
    machines = doc["machines"]
    assert len(machines) == 60
    assert len({m["id"] for m in machines}) == 60
    lines = {line["id"] for line in doc["lines"]}
    assert len(lines) >= 3
    assert {m["line"] for m in machines} == lines
    glbs = {p.name for p in (scene.parent / "assets").glob("*.glb")}
    assert len(glbs) == 10 + 3  # variants + floor, wall, wall_door
    for name, asset in doc["assets"].items():
        path = scene.parent / asset["path"]
        assert path.is_file(), name
    used = {m["asset"] for m in machines} | {f["asset"] for f in doc["fixtures"]}
    assert used <= set(doc["assets"])
    assert {f["asset"] for f in doc["fixtures"]} >= {"floor", "wall", "wall_door"}
    assert len(doc["viewpoints"]) >= 3
    assert {light["type"] for light in doc["lights"]} >= {"hemisphere", "directional"}


def test_plant_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = write_large_plant(tmp_path / "a", machines=40, variants=8, seed=5)
    b = write_large_plant(tmp_path / "b", machines=40, variants=8, seed=5)
    c = write_large_plant(tmp_path / "c", machines=40, variants=8, seed=6)
    assert a.read_text() == b.read_text()
    for glb in (a.parent / "assets").glob("*.glb"):
        assert glb.read_bytes() == (b.parent / "assets" / glb.name).read_bytes()
    assert a.read_text() != c.read_text()


def test_default_plant_reaches_a_million_instanced_triangles(tmp_path: Path) -> None:
    plant = generate_large_plant(tmp_path)
    assert plant.machines == 2000
    doc = _read(plant.scene)
    assert len(doc["machines"]) == 2000
    assert plant.lines == len(doc["lines"]) == 20
    per_file: dict[str, int] = {}
    for name, asset in doc["assets"].items():
        loaded = trimesh.load(plant.scene.parent / asset["path"], force="scene")
        assert isinstance(loaded, trimesh.Scene)
        per_file[name] = sum(len(g.faces) for g in loaded.geometry.values())
    variants = [n for n in per_file if n.startswith("v")]
    assert len(variants) == 24
    assert len({per_file[n] for n in variants}) > 4  # tessellation varies between variants
    machine_uses = Counter(m["asset"] for m in doc["machines"])
    instanced = sum(per_file[a] * k for a, k in machine_uses.items())
    assert instanced >= 1_000_000
    fixture_uses = Counter(f["asset"] for f in doc["fixtures"])
    assert instanced + sum(per_file[a] * k for a, k in fixture_uses.items()) == plant.triangles


def test_main_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert synthetic.main([str(tmp_path), "--machines", "25", "--variants", "4"]) == 0
    out = capsys.readouterr().out
    assert "25 machines" in out and "7 GLB files" in out and "instanced triangles" in out
    assert len(_read(tmp_path / "large-plant.toml")["machines"]) == 25


def test_rejects_empty_plants(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="machines and variants"):
        write_large_plant(tmp_path, machines=0)


def test_writer_output_round_trips() -> None:
    w = SceneWriter('Plant "Nord" \u00e9 Halle 2', site="Back\\slash")
    w.asset("m", "../assets/m.glb")
    w.line("L1", "Line one")
    w.machine("M-1", "press", "L1", (1.0, 0.0, -2.5), yaw=90.0, asset="m", cell="L1-1")
    w.machine("M-2", "press", "L1", (0.1 + 0.2, 0.0, 0.0), asset="m")
    w.fixture("floor", "m", (0.0, 0.0, 0.0))
    w.viewpoint("top", (0.0, 10.0, 0.0), (0.0, 0.0, 0.1), fov=50.0)
    w.default_lights()
    doc = tomllib.loads(w.toml("# header\n"))
    assert doc["plant"]["name"] == 'Plant "Nord" \u00e9 Halle 2'
    assert doc["plant"]["site"] == "Back\\slash"
    m1, m2 = doc["machines"]
    assert m1["transform"] == {"position": [1.0, 0.0, -2.5], "rotation": [0.0, 90.0, 0.0]}
    assert m2["transform"] == {"position": [0.3, 0.0, 0.0]}
    assert "cell" not in m2 and m2["asset"] == "m"
    assert doc["viewpoints"][0]["fov"] == 50.0
    assert [light["type"] for light in doc["lights"]] == ["hemisphere", "directional", "ambient"]


def test_walls_enclose_the_floor_with_requested_doors() -> None:
    w = SceneWriter("walls")
    w.walls(60.0, 40.0, doors=(("front", -5.0),))
    fixtures = w.fixtures
    assert len(fixtures) == 2 * 6 + 2 * 4
    doors = [f for f in fixtures if f["asset"] == "wall_door"]
    assert len(doors) == 1
    placed = tomllib.loads(w.toml())["fixtures"]
    door = next(f for f in placed if f["asset"] == "wall_door")
    assert door["transform"] == {"position": [-5.0, 0.0, 20.1], "rotation": [0.0, 180.0, 0.0]}
