"""Discovery's matching and the mapping it writes: points pair with machines only where the
names say so, templates where every machine of a type agrees, the rest listed."""

from __future__ import annotations

from pathlib import Path

import pytest
import rtoml

from xrclient.gateway.discover import match, property_name, render
from xrclient.gateway.discovered import Found
from xrclient.gateway.mapping import OpcuaTarget, SparkplugTarget, parse_mapping
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene

ROOT = Path(__file__).resolve().parents[2]
NS = {"plc": "urn:plc"}


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene(ROOT / "scenes" / "demo-plant.toml")


def opcua_point(names: tuple[str, ...], leaf: str, node: str, kind: str = "number") -> Found:
    return Found(names, leaf, kind, "°C" if kind == "number" else "", {"node": node}, NS)  # type: ignore[arg-type]  # the kinds used here are PropKinds


@pytest.mark.parametrize(
    ("leaf", "name"),
    [
        ("SpindleSpeed", "spindle_speed"),
        ("temperature_c", "temperature_c"),
        ("Motor Temp (°C)", "motor_temp_c"),
        ("3phase", "p_3phase"),
        ("quality", None),
        ("°", None),
    ],
)
def test_property_names(leaf: str, name: str | None) -> None:
    assert property_name(leaf) == name


def test_points_match_machines_by_id_or_name_and_the_rest_is_listed(scene: Scene) -> None:
    mills = [m for m in scene.machines if m.type == "cnc_mill"]
    found = [
        opcua_point(("Plant", m.id), "Temperature", f"/plc:Plant/plc:{m.id}/plc:Temperature")
        for m in mills
    ]
    other = scene.machines[-1]
    found.append(opcua_point(("Site", other.name.upper()), "Load", "nsu=urn:plc;s=X.Load"))
    found.append(opcua_point(("Plant", "Compressor-9"), "Pressure", "nsu=urn:plc;s=C9"))
    found.append(opcua_point(("Plant", mills[0].id), "Temperature", "nsu=urn:plc;s=dup"))
    found.append(opcua_point(("Plant", mills[1].id), "Load", "nsu=urn:plc;s=L", kind="string"))
    result = match(found, scene, "opcua")
    assert len(result.matched) == len(mills) + 1
    reasons = [why for _, why in result.unmatched]
    assert reasons[0] == "no scene machine among the names above it"
    assert "mapped already" in reasons[1] and "already a number" in reasons[2]
    text = render(result, scene, "opc.tcp://plc:4840")
    doc = rtoml.loads(text)
    # every mill has the point under one pattern: one template, not one entry per mill
    assert doc["templates"]["cnc_mill"]["feeds"]["temperature"] == {
        "node": "/plc:Plant/plc:{machine}/plc:Temperature"
    }
    assert doc["machines"][other.id]["feeds"]["load"] == {"node": "nsu=urn:plc;s=X.Load"}
    assert "Compressor-9/Pressure  (no scene machine" in text
    mapping = parse_mapping(doc, "found.toml", scene)
    assert len(mapping.feeds) == len(mills) + 1
    targets = {mapping.machines[f.machine]: f.target for f in mapping.feeds}
    assert targets[mills[2].id] == OpcuaTarget(
        None, (("urn:plc", "Plant"), ("urn:plc", mills[2].id), ("urn:plc", "Temperature"))
    )


def test_a_point_some_machines_of_a_type_lack_gives_per_machine_entries(scene: Scene) -> None:
    mills = [m for m in scene.machines if m.type == "cnc_mill"]
    found = [
        Found(
            ("plant", m.line, m.id),
            "rpm",
            "number",
            "rpm",
            {"metric": "rpm", "group": "plant", "edge_node": m.line, "device": m.id},
        )
        for m in mills[:-1]
    ]
    result = match(found, scene, "sparkplug")
    doc = rtoml.loads(render(result, scene, "mqtt://b"))
    assert "templates" not in doc and len(doc["machines"]) == len(mills) - 1
    mapping = parse_mapping(doc, "found.toml", scene)
    first = mapping.feeds[0]
    assert first.target == SparkplugTarget("plant", mills[0].line, mills[0].id, "rpm")


def test_braces_in_source_names_stay_literal(scene: Scene) -> None:
    m = scene.machines[0]
    found = [opcua_point(("P", m.id), "T", "nsu=urn:plc;s={weird}.T")]
    doc = rtoml.loads(render(match(found, scene, "opcua"), scene, "opc.tcp://x"))
    mapping = parse_mapping(doc, "found.toml", scene)
    assert mapping.feeds[0].target == OpcuaTarget("nsu=urn:plc;s={weird}.T")
