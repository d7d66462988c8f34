"""Scene files: good ones load, each class of bad one fails with its precise message."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import trimesh

from xrclient.core import math3d
from xrclient.errors import SceneError
from xrclient.scene.schema import load_scene

GOOD = """
format = 1

[plant]
name = "Test plant"
site = "Bay 4"
units = "m"

[assets.box]
path = "meshes/box.glb"

[assets.scan]
path = "meshes/scan.xyz"
point_budget = 1000

[[lines]]
id = "A"
name = "Line A"

[[lines]]
id = "B"

[[machines]]
id = "M-1"
name = "Mill 1"
type = "cnc_mill"
asset = "box"
line = "A"
cell = "A-1"
transform = { position = [1.0, 0.0, 2.0], rotation = [0.0, 90.0, 0.0], scale = 2.0 }

[[machines]]
id = "M-2"
type = "lathe"
asset = "box"
line = "B"
transform = { position = [4, 0, 0], quaternion = [0, 0, 0, 1], scale = [1, 2, 3] }

[[fixtures]]
id = "floor"
asset = "box"

[[viewpoints]]
name = "overview"
position = [0, 10, 10]
target = [0, 0, 0]
fov = 50

[[lights]]
type = "hemisphere"
color = [0.8, 0.9, 1.0]
ground = [0.3, 0.25, 0.2]
intensity = 0.5

[[lights]]
type = "directional"
direction = [-1, -2, -1]
intensity = 3
"""


@pytest.fixture()
def scene_dir(tmp_path: Path) -> Path:
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box().export(meshes / "box.glb")
    (meshes / "scan.xyz").write_text("0 0 0\n1 0 0\n0 1 0\n")
    return tmp_path


def write(scene_dir: Path, text: str, name: str = "plant.toml") -> Path:
    path = scene_dir / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_scene_loads(scene_dir: Path) -> None:
    scene = load_scene(write(scene_dir, GOOD))
    assert scene.plant.name == "Test plant"
    assert [m.id for m in scene.machines] == ["M-1", "M-2"]
    assert scene.machine_index == {"M-1": 0, "M-2": 1}
    assert scene.machines[0].name == "Mill 1" and scene.machines[1].name == "M-2"
    assert scene.machines[0].line == "A" and scene.machines[0].cell == "A-1"
    assert scene.lines[1].name == "B"
    assert scene.assets["box"].path == (scene_dir / "meshes/box.glb").resolve()
    assert scene.assets["box"].kind == "mesh"
    assert scene.assets["scan"].kind == "pointcloud"
    assert scene.assets["scan"].point_budget == 1000
    assert scene.viewpoint("overview").fov_deg == 50
    assert [light.kind for light in scene.lights] == ["hemisphere", "directional"]
    # rotation 90 degrees about Y, scale 2: local +X maps to world -Z, doubled
    m = scene.machines[0].transform.matrix()
    x_axis = m[:3, :3] @ np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(x_axis, [0.0, 0.0, -2.0], atol=1e-5)
    np.testing.assert_allclose(m[:3, 3], [1.0, 0.0, 2.0])
    assert scene.machines[1].transform.scale == (1.0, 2.0, 3.0)
    assert scene.machine_matrices().shape == (2, 4, 4)


def test_units_scale_positions(scene_dir: Path) -> None:
    text = GOOD.replace('units = "m"', 'units = "mm"')
    scene = load_scene(write(scene_dir, text))
    assert scene.machines[0].transform.position == pytest.approx((0.001, 0.0, 0.002))
    assert scene.viewpoints[0].position == pytest.approx((0.0, 0.01, 0.01))


def test_z_up_scene_is_converted_to_y_up(scene_dir: Path) -> None:
    text = GOOD.replace('units = "m"', 'units = "m"\nup_axis = "z"')
    scene = load_scene(write(scene_dir, text))
    # Z-up (x, y, z) becomes Y-up (x, z, -y): height 2 m stays height, north becomes -Z
    assert scene.machines[0].transform.position == pytest.approx((1.0, 2.0, 0.0), abs=1e-6)
    assert scene.viewpoints[0].position == pytest.approx((0.0, 10.0, -10.0), abs=1e-6)
    up = scene.machines[1].transform.matrix()[:3, :3] @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(up, [0.0, 3.0, 0.0], atol=1e-6)  # scale z = 3


def test_euler_and_quaternion_agree() -> None:
    q = math3d.euler_quat((30.0, 45.0, 60.0))
    rx = math3d.quat_matrix(math3d.euler_quat((30.0, 0.0, 0.0)))
    ry = math3d.quat_matrix(math3d.euler_quat((0.0, 45.0, 0.0)))
    rz = math3d.quat_matrix(math3d.euler_quat((0.0, 0.0, 60.0)))
    np.testing.assert_allclose(math3d.quat_matrix(q), rz @ ry @ rx, atol=1e-6)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    np.testing.assert_allclose(rx[1:3, 1:3], [[c, -s], [s, c]], atol=1e-6)


BAD_CASES: list[tuple[str, str, str]] = [
    # (name, transformation of GOOD as "old=>new", expected message tail)
    (
        "position two numbers",
        "position = [1.0, 0.0, 2.0]=>position = [1.0, 0.0]",
        "machines[0].transform.position: expected 3 numbers, got 2",
    ),
    (
        "position not a list",
        'position = [4, 0, 0]=>position = "here"',
        "machines[1].transform.position: expected 3 numbers, got a string",
    ),
    (
        "number is a string",
        'position = [0, 10, 10]=>position = [0, "10", 10]',
        "viewpoints[0].position[1]: expected a number, got a string",
    ),
    (
        "unknown top key",
        "format = 1=>format = 1\ncolour = 3",
        "colour: unknown key (allowed here: assets, bindings, energy, fixtures, format, lights, "
        "lines, machines, overlays, plant, prediction, twin, viewpoints)",
    ),
    (
        "unknown machine key",
        'cell = "A-1"=>cell = "A-1"\nspeed = 3',
        "machines[0].speed: unknown key",
    ),
    (
        "unknown transform key",
        "scale = 2.0 }=>scale = 2.0, skew = 1 }",
        "machines[0].transform.skew: unknown key",
    ),
    (
        "missing machine type",
        'type = "lathe"\n=>',
        "machines[1].type: required key is missing",
    ),
    (
        "missing plant",
        '[plant]\nname = "Test plant"\nsite = "Bay 4"\nunits = "m"\n=>',
        "plant: required key is missing",
    ),
    (
        "unknown asset reference",
        'asset = "box"\nline = "B"=>asset = "boxx"\nline = "B"',
        "machines[1].asset: unknown asset 'boxx' (declared: box, scan)",
    ),
    (
        "unknown line reference",
        'line = "B"=>line = "C"',
        "machines[1].line: unknown line 'C' (declared: A, B)",
    ),
    (
        "duplicate machine id",
        'id = "M-2"=>id = "M-1"',
        "machines[1].id: duplicate id 'M-1' (first at machines[0])",
    ),
    ("bad id characters", 'id = "M-2"=>id = "M 2/x"', "machines[1].id: expected an id"),
    ("asset file missing", "meshes/box.glb=>meshes/nope.glb", "assets.box.path: file not found"),
    ("asset bad extension", "meshes/box.glb=>meshes/box.fbx", "assets.box.path: expected a file"),
    (
        "mesh kind on a scan file",
        'point_budget = 1000=>kind = "mesh"',
        "assets.scan.kind: a .xyz file holds points, not a mesh",
    ),
    (
        "negative scale",
        "scale = 2.0 }=>scale = -2.0 }",
        "machines[0].transform.scale: expected a number > 0, got -2.0",
    ),
    (
        "rotation and quaternion",
        "quaternion = [0, 0, 0, 1]=>quaternion = [0, 0, 0, 1], rotation = [0, 0, 0]",
        "machines[1].transform.quaternion: give either rotation or quaternion, not both",
    ),
    (
        "zero quaternion",
        "quaternion = [0, 0, 0, 1]=>quaternion = [0, 0, 0, 0]",
        "machines[1].transform.quaternion: expected a non-zero quaternion",
    ),
    ("nan", "fov = 50=>fov = nan", "viewpoints[0].fov: expected a finite number, got nan"),
    ("bad units", 'units = "m"=>units = "furlong"', "plant.units: expected one of m, cm, mm"),
    ("bad format version", "format = 1=>format = 7", "format: expected 1"),
    (
        "light colour range",
        "color = [0.8, 0.9, 1.0]=>color = [0.8, 0.9, 2.0]",
        "lights[0].color[2]: expected a colour component in 0..1, got 2",
    ),
    ("bad light type", 'type = "directional"=>type = "spot"', "lights[1].type: expected one of"),
    (
        "direction on a hemisphere",
        "ground = [0.3, 0.25, 0.2]=>direction = [0, -1, 0]",
        "lights[0].direction: not used by a hemisphere light",
    ),
    (
        "fixtures not an array",
        "[[fixtures]]=>[fixtures]",
        "fixtures: expected an array of tables",
    ),
    ("target equals position", "target = [0, 0, 0]=>target = [0, 10, 10]", "viewpoints[0].target"),
    ("toml syntax", "fov = 50=>fov = = 50", "TOML syntax error"),
    (
        "boolean as number",
        "intensity = 3\n=>intensity = true\n",
        "lights[1].intensity: expected a number, got a boolean",
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_scene_has_precise_error(
    scene_dir: Path, name: str, change: str, expected: str
) -> None:
    old, new = change.split("=>")
    assert old in GOOD, f"test case {name!r} does not apply"
    path = write(scene_dir, GOOD.replace(old, new, 1), "x.toml")
    with pytest.raises(SceneError) as info:
        load_scene(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_error_names_the_file_as_given(scene_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(scene_dir, GOOD.replace("[1.0, 0.0, 2.0]", "[1.0, 0.0]"), "x.toml")
    monkeypatch.chdir(scene_dir)
    with pytest.raises(SceneError) as info:
        load_scene("x.toml")
    assert str(info.value) == "x.toml: machines[0].transform.position: expected 3 numbers, got 2"


def test_missing_file_and_binary_garbage(scene_dir: Path) -> None:
    with pytest.raises(SceneError, match="cannot read"):
        load_scene(scene_dir / "absent.toml")
    garbage = scene_dir / "garbage.toml"
    garbage.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(SceneError, match="not UTF-8"):
        load_scene(garbage)


def test_oversized_scene_file_is_refused(scene_dir: Path) -> None:
    path = write(scene_dir, GOOD + "\n# " + "x" * 5000)
    with pytest.raises(SceneError, match="over the 4096-byte limit"):
        load_scene(path, max_bytes=4096)


@pytest.mark.parametrize(
    "degrees", [(0, 0, 0), (30, 45, 60), (179, -20, 5), (0, 180, 0), (90, 0, 0), (-45, 10, 170)]
)
def test_matrix_quat_inverts_quat_matrix(degrees: tuple[float, float, float]) -> None:
    q = math3d.euler_quat(degrees)
    back = math3d.matrix_quat(math3d.quat_matrix(q))
    np.testing.assert_allclose(math3d.quat_matrix(back), math3d.quat_matrix(q), atol=1e-5)


def test_prediction_and_energy_tables_are_read_and_checked(scene_dir: Path) -> None:
    text = GOOD + "\n[energy]\nco2_kg_per_kwh = 0.2\n"
    scene = load_scene(write(scene_dir, text, "ok.toml"))
    assert scene.energy.co2_kg_per_kwh == pytest.approx(0.2)
    with pytest.raises(SceneError) as info:
        load_scene(write(scene_dir, GOOD + "\n[energy]\nco2_kg_per_kwh = -1\n", "bad.toml"))
    assert "energy.co2_kg_per_kwh" in str(info.value)
    with pytest.raises(SceneError) as info:
        load_scene(write(scene_dir, GOOD + "\n[prediction]\nbogus = 1\n", "bad2.toml"))
    assert "prediction.bogus" in str(info.value)
