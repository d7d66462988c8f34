"""The committed factory models (assets/*.glb) and the demo scene (scenes/demo-plant.toml)."""

from __future__ import annotations

import functools
import json
import math
import tomllib
from typing import Any

import numpy as np
import pytest
import trimesh

from plantgen import factory_models as fm
from plantgen.hall import hall_glb
from plantgen.synthetic import demo_plant_toml
from xrclient.resources import data_dir, scene_path

ASSETS = data_dir("assets")
DEMO = scene_path("demo-plant")
FIXTURE_MODELS = {"floor", "wall", "wall_door"}


def _load(name: str) -> trimesh.Scene:
    scene = trimesh.load(ASSETS / f"{name}.glb", force="scene")
    assert isinstance(scene, trimesh.Scene)
    return scene


def _demo() -> dict[str, Any]:
    with DEMO.open("rb") as f:
        return tomllib.load(f)


def test_every_model_is_committed_and_nothing_else() -> None:
    assert {p.stem for p in ASSETS.glob("*.glb")} == {*fm.MODELS, "hall"}


def _glb_document(data: bytes) -> dict[str, Any]:
    length = int.from_bytes(data[12:16], "little")
    doc: dict[str, Any] = json.loads(data[20 : 20 + length])
    return doc


def test_committed_hall_matches_its_builder() -> None:
    """The one-file hall: the demo plant's machines as named nodes with extras, Draco."""
    committed = _glb_document((ASSETS / "hall.glb").read_bytes())
    built = _glb_document(hall_glb(DEMO.read_text(encoding="utf-8"), DEMO.parent))
    assert [n.get("name") for n in committed["nodes"]] == [n.get("name") for n in built["nodes"]]
    assert committed["extensionsRequired"] == ["KHR_draco_mesh_compression"]
    extras = {n["name"]: n["extras"] for n in committed["nodes"] if "extras" in n}
    machines = _demo()["machines"]
    assert extras == {m["id"]: {"asset_id": m["id"], "type": m["type"]} for m in machines}
    # a model's parts are one mesh each, shared by every machine of that model
    assert len(committed["meshes"]) == len(built["meshes"]) < 200


def test_assets_folder_stays_small() -> None:
    total = sum(p.stat().st_size for p in ASSETS.iterdir() if p.is_file())
    assert total < 2_000_000


@pytest.mark.parametrize("name", sorted(fm.MODELS))
def test_committed_glb_is_a_multi_part_pbr_model(name: str) -> None:
    scene = _load(name)
    assert len(scene.geometry) >= 3
    colours = {}
    for geom in scene.geometry.values():
        assert np.isfinite(geom.vertices).all()
        assert len(geom.faces) > 0
        material = geom.visual.material
        colours[material.name] = tuple(np.asarray(material.baseColorFactor).tolist())
    assert len(colours) >= 2
    assert len(set(colours.values())) >= 2
    triangles = fm.triangle_count(scene)
    assert 300 <= triangles <= 6000


@pytest.mark.parametrize("name", sorted(fm.MODELS))
def test_committed_glb_has_plausible_size_and_origin(name: str) -> None:
    lo, hi = _load(name).bounds
    size = hi - lo
    assert 0.2 <= size.max() <= 70.0
    assert size.min() > 0.0
    if name == "floor":
        assert 0.0 <= hi[1] <= 0.02  # the walkable surface is y = 0
    else:
        assert lo[1] == pytest.approx(0.0, abs=1e-4)  # standing on the floor
        # origin near the footprint centre
        assert abs(lo[0] + hi[0]) / 2 < 0.25 * size[0] + 0.1
        assert abs(lo[2] + hi[2]) / 2 < 0.25 * size[2] + 0.1


@pytest.mark.parametrize("name", sorted(fm.MODELS))
def test_committed_glb_matches_its_builder(name: str) -> None:
    committed = _load(name)
    built = fm.build(name)
    assert set(committed.geometry) == set(built.geometry)
    for part, geom in built.geometry.items():
        assert len(committed.geometry[part].faces) == len(geom.faces), part
    np.testing.assert_allclose(committed.bounds, built.bounds, atol=1e-4)


def test_translucent_parts_blend() -> None:
    glass = _load("cnc_mill").geometry["window"].visual.material
    assert glass.alphaMode == "BLEND"
    assert np.asarray(glass.baseColorFactor)[3] < 255


def test_build_rejects_unknown_names() -> None:
    with pytest.raises(KeyError, match="no factory model named 'boiler'"):
        fm.build("boiler")


def test_style_changes_colour_tessellation_and_size() -> None:
    plain = fm.tank()
    styled = fm.tank(fm.Style(sections=32, accent=(0.9, 0.1, 0.1, 1.0), scale=(1.0, 1.5, 1.0)))
    assert fm.triangle_count(styled) > fm.triangle_count(plain)
    assert styled.bounds[1][1] == pytest.approx(plain.bounds[1][1] * 1.5, rel=1e-6)
    bands = styled.geometry["bands"].visual.material.baseColorFactor
    assert tuple(bands[:3]) != tuple(plain.geometry["bands"].visual.material.baseColorFactor[:3])


def test_primitives_are_closed_and_outward() -> None:
    parts = [
        fm.box((0, 0, 0), (1, 2, 3)),
        fm.cyl((0, 0, 0), (0, 1, 1), 0.2, 12),
        fm.prism([(0, 0), (1, 0), (1, 1), (0, 1)], "x", 0.0, 2.0),
        fm.beam((0, 0, 0), (1, 1, 0), 0.1, 0.2, (0.0, 0.0, 1.0)),
        fm.revolve_y([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], 16),
    ]
    for mesh in parts:
        assert mesh.is_watertight
        assert mesh.volume > 0.0
    assert fm.prism([(0, 0), (1, 0), (1, 1), (0, 1)], "x", 0.0, 2.0).volume == pytest.approx(2.0)
    np.testing.assert_allclose(fm.box((0, 0, 0), (1, 2, 3)).bounds, [[0, 0, 0], [1, 2, 3]])


# ---- demo scene --------------------------------------------------------------------------


def test_demo_scene_is_the_generated_one() -> None:
    assert DEMO.read_text(encoding="utf-8") == demo_plant_toml()


def test_demo_scene_structure() -> None:
    doc = _demo()
    assert doc["format"] == 1
    assert doc["plant"]["name"]
    lines = {line["id"] for line in doc["lines"]}
    assert len(lines) >= 3
    machines = doc["machines"]
    assert len(machines) >= 40
    ids = [m["id"] for m in machines]
    assert len(ids) == len(set(ids))
    fixture_ids = [f["id"] for f in doc["fixtures"]]
    assert len(fixture_ids) == len(set(fixture_ids))
    for m in machines:
        assert m["line"] in lines
        assert m["asset"] in doc["assets"]
    assert {f["asset"] for f in doc["fixtures"]} >= {"floor", "wall", "wall_door"}
    assert {v["name"] for v in doc["viewpoints"]} >= {
        "overview",
        "line-a",
        "line-b",
        "line-c",
        "storage",
        "entrance",
    }
    assert {light["type"] for light in doc["lights"]} >= {"hemisphere", "directional"}
    per_line = {line: sum(m["line"] == line for m in machines) for line in lines}
    assert min(per_line.values()) >= 5


def test_demo_scene_asset_paths_exist() -> None:
    doc = _demo()
    for name, asset in doc["assets"].items():
        path = (DEMO.parent / asset["path"]).resolve()
        assert path.is_file(), name
        assert path.parent == ASSETS.resolve()


@functools.cache
def _bounds(asset: str) -> np.ndarray:
    bounds: np.ndarray = fm.build(asset).bounds
    return bounds


def _footprint(asset: str, position: list[float], yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """World XZ bounds of a model placed with a yaw that is a multiple of 90 degrees."""
    lo, hi = _bounds(asset)
    corners = np.array([[x, z] for x in (lo[0], hi[0]) for z in (lo[2], hi[2])])
    a = math.radians(yaw)
    assert abs(math.sin(2 * a)) < 1e-9  # axis-aligned placements only
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # (x, z) about +Y
    world = corners @ rot.T + np.array([position[0], position[2]])
    return world.min(axis=0), world.max(axis=0)


def test_demo_layout_fits_the_hall_without_collisions() -> None:
    doc = _demo()
    boxes = []
    for m in doc["machines"]:
        t = m["transform"]
        lo, hi = _footprint(m["asset"], t["position"], t.get("rotation", [0.0, 0.0, 0.0])[1])
        assert lo[0] > -30.0 and hi[0] < 30.0 and lo[1] > -20.0 and hi[1] < 20.0, m["id"]
        boxes.append((m["id"], lo, hi))
    for i, (a, lo_a, hi_a) in enumerate(boxes):
        for b, lo_b, hi_b in boxes[i + 1 :]:
            overlap = np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b)
            assert not (overlap > 0.05).all(), f"{a} overlaps {b}"  # abutting conveyors touch
