"""Mapping files: templates resolved per machine, and every error naming its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xrclient.gateway.mapping import (
    MappingError,
    MqttTarget,
    OpcuaTarget,
    SparkplugTarget,
    load_mapping,
    parse_mapping,
)
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene(ROOT / "scenes" / "demo-plant.toml")


PROPS = {
    "temperature_c": {"kind": "number", "unit": "°C"},
    "state": {"kind": "enum", "values": ["IDLE", "RUNNING", "FAULT"]},
    "program": {"kind": "string"},
}


def opcua(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "source": "opcua",
        "properties": PROPS,
        "opcua": {"namespaces": {"p": "urn:plc"}, "sampling_ms": 250},
        "templates": {
            "mills": {
                "types": ["cnc_mill"],
                "object": "/p:Plant/p:{machine}",
                "feeds": {
                    "temperature_c": {"node": "Temp", "scale": 0.1, "deadband": {"percent": 2}},
                    "state": {"node": "p:Mode", "map": {"0": "IDLE", "1": "RUNNING"}},
                },
            }
        },
    }
    doc.update(extra)
    return doc


def test_a_template_gives_every_machine_of_its_type_its_feeds(scene: Scene) -> None:
    m = parse_mapping(opcua(), "map.toml", scene)
    mills = [i for i, x in enumerate(scene.machines) if x.type == "cnc_mill"]
    assert mills and len(m.feeds) == 2 * len(mills)
    assert {f.machine for f in m.feeds} == set(mills)
    first = scene.machines[mills[0]].id
    temp = next(f for f in m.feeds if f.machine == mills[0] and f.prop == 0)
    assert temp.target == OpcuaTarget(
        None, (("urn:plc", "Plant"), ("urn:plc", first), ("urn:plc", "Temp"))
    )
    assert temp.scale == 0.1 and temp.sampling_ms == 250
    assert temp.deadband is not None and temp.deadband.kind == "percent"
    state = next(f for f in m.feeds if f.machine == mills[0] and f.prop == 1)
    assert dict(state.enum) == {"0": "IDLE", "1": "RUNNING"}
    assert m.machines == tuple(x.id for x in scene.machines)
    assert f"{first}.temperature_c <- " in m.describe(temp)


def test_a_machine_entry_overrides_and_drops_template_feeds(scene: Scene) -> None:
    mill = next(x.id for x in scene.machines if x.type == "cnc_mill")
    doc = opcua(
        machines={
            mill: {
                "vars": {"tag": "T7"},
                "feeds": {
                    "temperature_c": {"node": "nsu=p;s={tag}.{machine}"},
                    "state": False,
                    "program": {"node": "i=2258"},
                },
            }
        }
    )
    m = parse_mapping(doc, "map.toml", scene)
    i = scene.machine_index[mill]
    mine = {m.properties[f.prop].name: f.target for f in m.feeds if f.machine == i}
    assert mine == {
        "temperature_c": OpcuaTarget(f"nsu=urn:plc;s=T7.{mill}"),
        "program": OpcuaTarget("i=2258"),
    }


def test_mqtt_and_sparkplug_addresses_come_from_patterns(scene: Scene) -> None:
    doc = {
        "source": "mqtt",
        "properties": PROPS,
        "mqtt": {"topic": "plant/{line}/{machine}/{property}", "qos": 0},
        "templates": {
            "all": {
                "types": ["*"],
                "feeds": {"temperature_c": {}, "state": {"topic": "j/{machine}", "json": "/s"}},
            }
        },
    }
    m = parse_mapping(doc, "map.toml", scene)
    assert len(m.feeds) == 2 * len(scene.machines)
    x = scene.machines[0]
    assert m.feeds[0].target == MqttTarget(
        f"plant/{x.line}/{x.id}/temperature_c", "number", None, 0
    )
    assert m.feeds[1].target == MqttTarget(f"j/{x.id}", "json", "/s", 0)
    sp = {
        "source": "sparkplug",
        "properties": PROPS,
        "sparkplug": {"group": "G1", "edge_node": "line-{line}"},
        "templates": {"all": {"types": ["*"], "feeds": {"temperature_c": {"metric": "Temp"}}}},
    }
    m = parse_mapping(sp, "map.toml", scene)
    assert m.feeds[0].target == SparkplugTarget("G1", f"line-{x.line}", x.id, "Temp")


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"bogus": 1}, "bogus", "unknown key"),
        ({"source": "modbus"}, "source", "expected one of"),
        ({"machines": {"NOPE-1": {}}}, "machines.NOPE-1", "no machine"),
        (
            {"properties": {**PROPS, "quality": {"kind": "number"}}},
            "properties.quality",
            "reserved",
        ),
        ({"properties": {"Temp": {"kind": "number"}}}, "properties.Temp", "lower-case"),
        ({"mqtt": {}}, "mqtt", "a opcua mapping has no"),
        ({"opcua": {"namespaces": {"p": 3}}}, "opcua.namespaces.p", "expected a string"),
        (
            {"templates": {"x": {"types": ["laser"], "feeds": {}}}},
            "templates.x.types[0]",
            "no machine of type",
        ),
    ],
)
def test_errors_name_the_key(scene: Scene, change: dict[str, Any], where: str, words: str) -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(opcua(**change), "map.toml", scene)
    assert err.value.key_path == where, str(err.value)
    assert words in str(err.value) and str(err.value).startswith("map.toml: ")


@pytest.mark.parametrize(
    ("feed", "where", "words"),
    [
        ({"node": "ns=2;s=x"}, "node", "not by index"),
        ({"node": "q:Temp"}, "node", "unknown namespace alias 'q'"),
        ({"node": "p:{nobody}"}, "node", "unknown placeholder {nobody}"),
        ({"node": "p:T", "map": {"1": "RUN"}}, "map", "only enum properties"),
        ({"node": "p:T", "deadband": {"percent": 200}}, "deadband.percent", "0..100"),
        ({"node": "p:T", "queue_size": 0}, "queue_size", ">= 1"),
        ({"topic": "a/b"}, "topic", "unknown key"),
    ],
)
def test_feed_errors_name_the_key(
    scene: Scene, feed: dict[str, Any], where: str, words: str
) -> None:
    doc = opcua()
    doc["templates"]["mills"]["feeds"] = {"temperature_c": feed}
    with pytest.raises(MappingError) as err:
        parse_mapping(doc, "map.toml", scene)
    assert err.value.key_path == f"templates.mills.feeds.temperature_c.{where}", str(err.value)
    assert words in str(err.value)


def test_a_topic_to_read_has_no_wildcards(scene: Scene) -> None:
    doc = {
        "source": "mqtt",
        "properties": PROPS,
        "templates": {"all": {"types": ["*"], "feeds": {"temperature_c": {"topic": "a/+/b"}}}},
    }
    with pytest.raises(MappingError, match="no wildcards"):
        parse_mapping(doc, "map.toml", scene)


def test_load_mapping_reports_syntax_and_size(scene: Scene, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("source = \n")
    with pytest.raises(MappingError, match="TOML syntax error"):
        load_mapping(bad, scene)
    good = tmp_path / "good.toml"
    good.write_text(
        'source = "sparkplug"\n[properties.temperature_c]\nkind = "number"\n'
        '[templates.t]\ntypes = ["*"]\n[templates.t.feeds]\ntemperature_c = {}\n'
    )
    assert len(load_mapping(good, scene).feeds) == len(scene.machines)
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "missing.toml", scene)
