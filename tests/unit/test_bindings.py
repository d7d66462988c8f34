"""Scene bindings: validation with exact key paths, and vectorised evaluation over a store."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from xrclient.core.bindings import ALARM_GLOW, STALE_STRENGTH, Bindings, linear
from xrclient.core.color import srgb_to_linear
from xrclient.core.rules import Selector, TwinConfig
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.visuals import MachineVisuals
from xrclient.errors import SceneError
from xrclient.resources import scene_path
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene, parse_scene

NAN = np.nan
NOW = 10_000.0
STATES = ("RUNNING", "IDLE", "FAULT")
MACHINES = (
    ("CNC-A1", "cnc_mill", "A"),
    ("CNC-A2", "cnc_mill", "A"),
    ("LTH-A1", "lathe", "A"),
    ("PRS-B1", "press", "B"),
    ("TNK-B1", "tank", "B"),
)
IDS = tuple(m[0] for m in MACHINES)
RED, AMBER, GREEN, BLUE = "#c62828", "#f9a825", "#2e7d32", "#1565c0"


def document(bindings: list[dict[str, Any]], twin: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": 1,
        "plant": {"name": "Test"},
        "assets": {"box": {"path": "box.glb"}},
        "lines": [{"id": "A"}, {"id": "B"}],
        "machines": [{"id": i, "type": t, "asset": "box", "line": line} for i, t, line in MACHINES],
        "bindings": bindings,
    }
    if twin is not None:
        doc["twin"] = twin
    return doc


@pytest.fixture()
def base(tmp_path: Path) -> Path:
    (tmp_path / "box.glb").write_bytes(b"glTF")  # only its existence is checked on load
    return tmp_path


def scene(base: Path, bindings: list[dict[str, Any]], twin: dict[str, Any] | None = None) -> Scene:
    return parse_scene(document(bindings, twin), base, "scene.toml")


def make_store(t: float = NOW - 1.0) -> TwinStore:
    props = (
        PropertySpec("state", "enum", values=STATES),
        PropertySpec("temp", "number", "°C"),
        PropertySpec("load", "number", "%"),
        PropertySpec("door", "bool"),
        PropertySpec("since", "time"),
    )
    store = TwinStore(IDS)
    store.set_schema(StreamSchema(IDS, props))
    store.value[:, 0] = [0, 1, 2, 0, NAN]
    store.value[:, 1] = [20, 60, 85, NAN, 70]
    store.value[:, 2] = [10, 50, 90, 99.5, NAN]
    store.value[:, 3] = [1, 0, NAN, NAN, NAN]
    store.value[:, 4] = [1_700_000_000.0, NAN, NAN, NAN, NAN]
    store.source_time[:, :] = t
    return store


# ---- validation --------------------------------------------------------------------------

COLOR: dict[str, Any] = {"color": {"property": "state", "states": {"FAULT": RED}}}


def with_(path: str, value: object) -> list[dict[str, Any]]:
    """One colour binding with ``value`` set at ``path`` (dotted, under bindings[0])."""
    item = copy.deepcopy(COLOR)
    keys = path.split(".")
    target: dict[str, Any] = item
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return [item]


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        (
            with_("color.states.FAULT", "red"),
            "bindings[0].color.states.FAULT: expected a colour \"#rrggbb\", got 'red'",
        ),
        (with_("color.colour", 1), "bindings[0].color.colour: unknown key (allowed here: below,"),
        (with_("colour", {}), "bindings[0].colour: unknown key (allowed here: alarm, color,"),
        ([{}], "bindings[0]: expected at least one of alarm, color, gauge, label, stale_after_s"),
        (
            [{"color": {"states": {"FAULT": RED}}}],
            "bindings[0].color: give exactly one of property, expr or when",
        ),
        (
            [{"color": {"property": "state", "expr": "1", "states": {}}}],
            "bindings[0].color.expr: give exactly one of property, expr or when",
        ),
        (
            [{"color": {"property": "Bad Name", "states": {"A": RED}}}],
            "bindings[0].color.property: expected a property name, got 'Bad Name'",
        ),
        (
            [{"color": {"property": "state"}}],
            "bindings[0].color: give exactly one of gradient, states, thresholds",
        ),
        (
            [{"color": {"expr": "temp * 2", "states": {"A": RED}}}],
            "bindings[0].color.states: not used with expr (use: ",
        ),
        (
            [{"color": {"when": "temp > 1", "color": RED, "states": {"A": RED}}}],
            "bindings[0].color.states: not used with when (use: color)",
        ),
        ([{"color": {"when": "temp > 1"}}], "bindings[0].color.color: required key is missing"),
        (
            [{"color": {"when": "temp + 1", "color": RED}}],
            "bindings[0].color.when: expected a condition (a comparison, and/or/not), got a number",
        ),
        (
            [{"color": {"expr": "temp > 1", "thresholds": [[1, RED]]}}],
            "bindings[0].color.expr: expected a number, got a condition",
        ),
        (
            [{"color": {"property": "t", "thresholds": [[5, RED], [5, AMBER]]}}],
            "bindings[0].color.thresholds[1][0]: expected a value above 5 (ascending)",
        ),
        (
            [{"color": {"property": "t", "thresholds": [5, RED]}}],
            "bindings[0].color.thresholds[0]: expected a [value, colour] pair, got a number",
        ),
        (
            [{"color": {"property": "t", "gradient": {"min": 1, "max": 1, "colors": [RED]}}}],
            "bindings[0].color.gradient.max: expected a number above min (1), got 1",
        ),
        (
            [{"color": {"property": "t", "gradient": {"min": 0, "max": 1, "colors": [RED]}}}],
            "bindings[0].color.gradient.colors: expected 2 to 32 colours, got a list of 1",
        ),
        (
            [{"color": {"property": "t", "states": {"A": RED}, "below": RED}}],
            "bindings[0].color.below: only used with thresholds",
        ),
        (
            [{"color": {"property": "t", "states": {"A": RED}, "strength": 2}}],
            "bindings[0].color.strength: expected a number in 0..1, got 2",
        ),
        (
            [{"alarm": {"when": "vibration > 7.1 and age() < 30)"}}],
            "bindings[0].alarm.when: unexpected ')' at column 31",
        ),
        (
            [{"alarm": {"when": 'machine("CNC-Z9").temp > 3'}}],
            'bindings[0].alarm.when: machine("CNC-Z9"): no such machine in this scene',
        ),
        ([{"alarm": {"message": "x"}}], "bindings[0].alarm.when: required key is missing"),
        (
            [{"alarm": {"when": "temp > 1", "severity": "fatal"}}],
            "bindings[0].alarm.severity: expected one of warning, critical, got 'fatal'",
        ),
        (
            [{"label": {"property": "temp", "format": "{0.__class__}"}}],
            'bindings[0].label.format: expected a number format such as "{:.1f}", got',
        ),
        (
            [{"label": {"property": "temp", "format": "{:999999999}"}}],
            "bindings[0].label.format: expected a number format",
        ),
        (
            [{"gauge": {"property": "load", "max": 100, "warn": 90, "alarm": 80}}],
            "bindings[0].gauge.alarm: expected a value above warn (90), got 80",
        ),
        (
            [{"gauge": {"property": "x", "max": 9, "warn": 2, "alarm": 3, "direction": "low"}}],
            "bindings[0].gauge.alarm: expected a value below warn (2), got 3",
        ),
        ([{"gauge": {"property": "load"}}], "bindings[0].gauge.max: required key is missing"),
        (
            [{"gauge": {"property": "load", "max": 100, "style": "dial"}}],
            "bindings[0].gauge.style: expected one of bar, radial, got 'dial'",
        ),
        (
            [{"select": {"types": ["cnc_mil"]}, **COLOR}],
            "bindings[0].select.types[0]: no machine has type 'cnc_mil' (types here: cnc_mill, "
            "lathe, press, tank)",
        ),
        (
            [{"select": {"lines": ["C"]}, **COLOR}],
            "bindings[0].select.lines[0]: unknown line 'C' (declared: A, B)",
        ),
        (
            [{"select": {"ids": ["CNC-*", "RBT-*"]}, **COLOR}],
            "bindings[0].select.ids[1]: 'RBT-*' matches no machine",
        ),
        (
            [{"select": {"types": ["lathe"], "lines": ["B"]}, **COLOR}],
            "bindings[0].select: matches no machine (its keys together exclude every machine)",
        ),
        (
            [{"select": {"types": "lathe"}, **COLOR}],
            "bindings[0].select.types: expected a non-empty list of strings, got a string",
        ),
        ([{"select": {}, **COLOR}], "bindings[0].select: expected at least one of ids, lines"),
        ({"color": {}}, "bindings: expected an array of tables ([[bindings]]), got a table"),
    ],
)
def test_bad_bindings_have_precise_errors(base: Path, bindings: Any, message: str) -> None:
    with pytest.raises(SceneError) as info:
        scene(base, bindings)
    assert str(info.value).startswith("scene.toml: " + message), str(info.value)


@pytest.mark.parametrize(
    ("twin", "message"),
    [
        ({"url": "http://x"}, "twin.url: expected a ws:// or wss:// URL, got 'http://x'"),
        ({"url": "ws://"}, "twin.url: expected a ws:// or wss:// URL, got 'ws://'"),
        ({"url": "ws://[::1"}, "twin.url: expected a ws:// or wss:// URL, got 'ws://[::1'"),
        ({"url": "ws://h:99999"}, "twin.url: expected a ws:// or wss:// URL, got 'ws://h:99999'"),
        ({"stale_after_s": 0}, "twin.stale_after_s: expected a number > 0, got 0"),
        ({"stale_color": "grey"}, "twin.stale_color: expected a colour \"#rrggbb\", got 'grey'"),
        ({"ttl": 3}, "twin.ttl: unknown key (allowed here: stale_after_s, stale_color, url)"),
    ],
)
def test_bad_twin_table_has_precise_errors(base: Path, twin: Any, message: str) -> None:
    with pytest.raises(SceneError) as info:
        scene(base, [], twin)
    assert str(info.value) == "scene.toml: " + message


def test_twin_table_and_defaults(base: Path) -> None:
    plain = scene(base, [])
    assert plain.twin == TwinConfig() and plain.bindings == ()
    s = scene(base, [], {"url": "wss://twin.example:9443/plant", "stale_after_s": 2.5})
    assert s.twin.url == "wss://twin.example:9443/plant"
    assert s.twin.stale_after_s == 2.5


def test_selectors_match_types_ids_and_lines(base: Path) -> None:
    s = scene(base, [])
    assert Selector().mask(s.machines).all()
    assert Selector(types=("cnc_mill", "tank")).mask(s.machines).tolist() == [1, 1, 0, 0, 1]
    assert Selector(ids=("*-A?",)).mask(s.machines).tolist() == [1, 1, 1, 0, 0]
    assert Selector(ids=("CNC-A",)).mask(s.machines).tolist() == [0] * 5  # a glob, not a prefix
    assert Selector(ids=("*-A[2-9]", "PRS-*")).mask(s.machines).tolist() == [0, 1, 0, 1, 0]
    assert Selector(ids=("cnc-*",)).mask(s.machines).tolist() == [0] * 5  # case-sensitive
    sel = Selector(types=("cnc_mill", "press"), lines=("B",))
    assert sel.mask(s.machines).tolist() == [0, 0, 0, 1, 0]


# ---- evaluation --------------------------------------------------------------------------


def rgb(colour: str) -> list[float]:
    return [float(c) for c in linear(colour)]


def test_linear_colours_use_the_srgb_transfer() -> None:
    assert np.allclose(linear("#ff8000"), srgb_to_linear([1.0, 128 / 255, 0.0]))
    assert np.allclose(linear("#000000"), 0.0)


def test_state_colours_and_later_rules_override(base: Path) -> None:
    s = scene(
        base,
        [
            {"color": {"property": "state", "states": {"RUNNING": GREEN, "IDLE": AMBER}}},
            {"color": {"property": "state", "states": {"FAULT": RED}, "strength": 0.5}},
            {"select": {"ids": ["CNC-A1"]}, "color": {"when": "temp > 100", "color": BLUE}},
        ],
    )
    b = Bindings.compile(s)
    st = b.evaluate(make_store(), NOW)
    assert st.colored.tolist() == [True, True, True, True, False]
    assert np.allclose(st.color[:4], [rgb(GREEN), rgb(AMBER), rgb(RED), rgb(GREEN)])
    assert st.color[4].tolist() == [0, 0, 0]
    assert np.allclose(st.strength, [0.85, 0.85, 0.5, 0.85, 0.0])


def test_bool_states_and_when_rules(base: Path) -> None:
    s = scene(
        base,
        [
            {"color": {"property": "door", "states": {"true": RED, "false": GREEN}}},
            {"select": {"types": ["lathe"]}, "color": {"when": 'state == "FAULT"', "color": BLUE}},
        ],
    )
    st = Bindings.compile(s).evaluate(make_store(), NOW)
    assert st.colored.tolist() == [True, True, True, False, False]
    assert np.allclose(st.color[:3], [rgb(RED), rgb(GREEN), rgb(BLUE)])


def test_thresholds_with_and_without_below(base: Path) -> None:
    steps = [[60, AMBER], [80, RED]]
    b = Bindings.compile(scene(base, [{"color": {"property": "temp", "thresholds": steps}}]))
    st = b.evaluate(make_store(), NOW)  # temp 20, 60, 85, missing, 70
    assert st.colored.tolist() == [False, True, True, False, True]
    assert np.allclose(st.color[[1, 2, 4]], [rgb(AMBER), rgb(RED), rgb(AMBER)])
    rule = {"property": "temp", "thresholds": steps, "below": GREEN}
    st = Bindings.compile(scene(base, [{"color": rule}])).evaluate(make_store(), NOW)
    assert st.colored.tolist() == [True, True, True, False, True]
    assert np.allclose(st.color[0], rgb(GREEN))


def test_gradient_interpolates_in_linear_space(base: Path) -> None:
    grad = {"min": 0, "max": 100, "colors": ["#000000", "#ffffff", "#ff0000"]}
    b = Bindings.compile(scene(base, [{"color": {"expr": "load", "gradient": grad}}]))
    st = b.evaluate(make_store(), NOW)  # load 10, 50, 90, 99.5, missing
    assert st.colored.tolist() == [True, True, True, True, False]
    assert np.allclose(st.color[0], [0.2, 0.2, 0.2])
    assert np.allclose(st.color[1], [1.0, 1.0, 1.0])
    assert np.allclose(st.color[2], [1.0, 0.2, 0.2])
    assert np.allclose(st.color[3], [1.0, 0.01, 0.01])
    store = make_store()
    store.value[:, 2] = [-50, 150, 0, 100, 25]  # clamped to the ends
    st = b.evaluate(store, NOW)
    assert np.allclose(st.color[:, 0], [0.0, 1.0, 0.0, 1.0, 0.5])
    assert np.allclose(st.color[:, 1], [0.0, 0.0, 0.0, 0.0, 0.5])


def test_stale_machines_turn_grey_and_never_seen_ones_stay_untinted(base: Path) -> None:
    s = scene(
        base,
        [
            {"color": {"property": "state", "states": {"RUNNING": GREEN}}},
            {"select": {"types": ["tank"]}, "stale_after_s": 120},
        ],
        {"stale_after_s": 30, "stale_color": "#808080"},
    )
    b = Bindings.compile(s)
    assert b.ttl.tolist() == [30, 30, 30, 30, 120]
    store = make_store(t=NOW - 60.0)
    store.source_time[3, :] = NAN  # PRS-B1 never reported
    st = b.evaluate(store, NOW)
    assert st.stale.tolist() == [True, True, True, True, False]
    assert st.seen.tolist() == [True, True, True, False, True]
    grey = rgb("#808080")
    assert np.allclose(st.color[:3], [grey] * 3)
    assert np.allclose(st.strength, [STALE_STRENGTH] * 3 + [0.85, 0.0])  # PRS-B1 keeps its rule
    fresh = b.evaluate(make_store(t=NOW - 5.0), NOW)
    assert not fresh.stale.any()
    assert np.allclose(fresh.color[0], rgb(GREEN))


def test_alarm_levels_and_active_matrix(base: Path) -> None:
    s = scene(
        base,
        [
            {"alarm": {"when": "temp > 50", "message": "Hot"}},
            {"alarm": {"when": 'state == "FAULT"', "severity": "critical"}},
            {"select": {"types": ["cnc_mill"]}, "alarm": {"when": "door", "severity": "critical"}},
        ],
    )
    b = Bindings.compile(s)
    assert [a.message for a in b.alarms] == ["Hot", 'state == "FAULT"', "door"]
    st = b.evaluate(make_store(), NOW)  # temp 20 60 85 - 70; state R I F R -; door 1 0 - - -
    assert st.alarms.tolist() == [
        [False, False, True],
        [True, False, False],
        [True, True, False],
        [False, False, False],
        [True, False, False],
    ]
    assert st.alarm_level.tolist() == [2, 1, 2, 0, 1]
    store = make_store()
    store.value[:, 1] = 0.0
    store.value[:, 3] = 0.0
    assert b.evaluate(store, NOW).alarm_level.tolist() == [0, 0, 2, 0, 0]


def test_gauges_fraction_and_bands(base: Path) -> None:
    s = scene(
        base,
        [
            {"gauge": {"property": "load", "max": 100, "warn": 50, "alarm": 90}},
            {
                "select": {"types": ["cnc_mill", "lathe"]},
                "gauge": {
                    "expr": "temp",
                    "min": 20,
                    "max": 120,
                    "warn": 60,
                    "alarm": 30,
                    "direction": "low",
                },
            },
        ],
    )
    b = Bindings.compile(s)
    st = b.evaluate(make_store(), NOW)
    assert np.allclose(st.gauge_fraction[:, 0], [0.1, 0.5, 0.9, 0.995, NAN], equal_nan=True)
    assert st.gauge_band[:, 0].tolist() == [0, 1, 2, 2, -1]
    assert np.allclose(st.gauge_fraction[:, 1], [0.0, 0.4, 0.65, NAN, NAN], equal_nan=True)
    assert st.gauge_band[:, 1].tolist() == [2, 1, 0, -1, -1]
    assert b.gauge_mask.tolist() == [[1, 1], [1, 1], [1, 1], [1, 0], [1, 0]]
    assert b.gauge_text(make_store(), 0, 1) == "50%"
    assert b.gauge_text(make_store(), 0, 4) == "—"


def test_labels_format_values_for_people(base: Path) -> None:
    s = scene(
        base,
        [
            {"label": {"property": "state"}},
            {"label": {"property": "temp", "format": "{:.1f}", "title": "Temperature"}},
            {"label": {"property": "load", "format": "{:>6.0f}", "unit": "pct"}},
            {"label": {"property": "door"}},
            {"label": {"property": "since"}},
            {"select": {"ids": ["CNC-A2"]}, "label": {"expr": "temp * 2", "format": "{:,.2f}"}},
            {"label": {"property": "nothing"}},
        ],
    )
    b = Bindings.compile(s)
    store = make_store()
    assert [lb.title for lb in b.labels][:3] == ["state", "Temperature", "load"]
    assert b.labels[5].title == "temp * 2"

    def text(label: int, machine: int) -> str:
        return b.label_text(store, label, machine, NOW)

    assert [text(0, m) for m in range(5)] == ["RUNNING", "IDLE", "FAULT", "RUNNING", "—"]
    assert [text(1, m) for m in range(4)] == ["20.0 °C", "60.0 °C", "85.0 °C", "—"]
    assert text(2, 2) == "    90 pct"
    assert [text(3, m) for m in range(3)] == ["yes", "no", "—"]
    assert text(4, 0) == "2023-11-14 22:13:20Z"
    assert text(5, 1) == "120.00" and text(5, 0) == "—"  # not selected
    assert text(6, 0) == "—"
    assert b.missing_properties(store) == ("nothing",)


def test_visuals_get_tint_and_alarm_glow(base: Path) -> None:
    s = scene(
        base,
        [
            {"color": {"property": "state", "states": {"RUNNING": GREEN, "FAULT": RED}}},
            {"alarm": {"when": 'state == "FAULT"', "severity": "critical"}},
            {"alarm": {"when": "temp > 65"}},
        ],
    )
    b = Bindings.compile(s)
    visuals = MachineVisuals(5)
    visuals.highlight[:] = 0.25
    b.evaluate(make_store(), NOW)
    b.apply(visuals)
    assert np.allclose(
        visuals.tint[:, :3], [rgb(GREEN), [0.0] * 3, rgb(RED), rgb(GREEN), [0.0] * 3]
    )
    assert np.allclose(visuals.tint[:, 3], [0.85, 0.0, 0.85, 0.85, 0.0])
    assert np.allclose(visuals.emissive, ALARM_GLOW[[0, 0, 2, 0, 1]])
    assert visuals.highlight.tolist() == [0.25] * 5  # selection is not the bindings' business


def test_evaluation_reuses_its_arrays_between_frames(base: Path) -> None:
    s = scene(base, [{"color": {"property": "temp", "thresholds": [[50, RED]]}}])
    b = Bindings.compile(s)
    first = b.evaluate(make_store(), NOW)
    colour = first.color
    store = make_store()
    store.value[:, 1] = [99, 0, 0, 0, 0]
    second = b.evaluate(store, NOW)
    assert second is first and second.color is colour
    assert second.colored.tolist() == [True, False, False, False, False]
    assert np.allclose(second.color[1:], 0.0)


# ---- the demo plant ------------------------------------------------------------------------


def test_demo_scene_binds_the_simulated_stream() -> None:
    demo = load_scene(scene_path("demo-plant"))
    assert demo.twin.url == "ws://127.0.0.1:8765"
    assert len(demo.bindings) >= 10
    b = Bindings.compile(demo)
    assert {"state", "temperature_c", "vibration_mm_s", "load_pct"} <= b.properties
    ids = tuple(m.id for m in demo.machines)
    numbers = sorted(b.properties - {"state", "program"})
    props = (
        *(PropertySpec(p, "number") for p in numbers),
        PropertySpec("state", "enum", values=("RUNNING", "FAULT")),
        PropertySpec("program", "string"),
    )
    store = TwinStore(ids)
    store.set_schema(StreamSchema(ids, props))
    state = store.prop_index("state")
    assert state is not None
    store.value[:, state] = 0.0
    store.value[ids.index("CNC-A1"), state] = 1.0
    store.source_time[:, :] = NOW - 1.0
    st = b.evaluate(store, NOW)
    assert st.alarm_level[ids.index("CNC-A1")] == 2
    assert np.count_nonzero(st.alarm_level) == 1
    assert st.colored.all()
    assert b.missing_properties(store) == ()
