"""The gateway's twin source: conversions, refusals counted, quality, and offline machines
going stale at once for a real client through a real twin server."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from tests.net.sources import drain_into, running_server, wait_until
from xrclient.core.bindings import Bindings
from xrclient.core.twin_store import TwinStore
from xrclient.gateway.mapping import Mapping, parse_mapping
from xrclient.gateway.source import BAD, MAX_TEXTS, UNCERTAIN, GatewaySource
from xrclient.net.twin_client import TwinClient
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene(ROOT / "scenes" / "demo-plant.toml")


def mapping(scene: Scene) -> Mapping:
    doc = {
        "source": "mqtt",
        "properties": {
            "temperature_c": {"kind": "number", "unit": "°C"},
            "state": {"kind": "enum", "values": ["IDLE", "RUNNING", "FAULT"]},
            "door_open": {"kind": "bool"},
            "program": {"kind": "string"},
            "last_maintenance": {"kind": "time"},
        },
        "mqtt": {"topic": "p/{machine}/{property}"},
        "templates": {
            "all": {
                "types": ["*"],
                "feeds": {
                    "temperature_c": {"scale": 0.1, "offset": -5},
                    "state": {"map": {"0": "IDLE", "1": "RUNNING", "9": "FAULT"}},
                    "door_open": {},
                    "program": {},
                    "last_maintenance": {},
                },
            }
        },
    }
    return parse_mapping(doc, "map.toml", scene)


def feed(src: GatewaySource, machine: int, prop: str) -> int:
    p = src.schema.property_index[prop]
    return next(f for f in src.feeds_of(machine) if src.feed(f).prop == p)


def test_values_are_converted_as_their_property_needs(scene: Scene) -> None:
    src = GatewaySource(mapping(scene))
    names = [p.name for p in src.schema.properties]
    assert names[-2:] == ["quality", "quality_note"]
    t = 1.7e9
    assert src.put(feed(src, 0, "temperature_c"), "512", t)
    assert src.put(feed(src, 0, "state"), 9, t)
    assert src.put(feed(src, 0, "door_open"), b"true", t)
    assert src.put(feed(src, 0, "program"), "O1000", t)
    assert src.put(feed(src, 0, "last_maintenance"), "2026-01-02T03:04:05+00:00", t)
    src.mark_online()
    changed = src.step(t)
    v = src.values[0]
    assert v[0] == pytest.approx(46.2) and v[1] == 2.0 and v[2] == 1.0
    assert src.text(0, 3) == "O1000" and v[4] == 1767323045.0
    assert changed[0, :5].all() and src.source_time[0, 0] == t
    assert src.quality(0) == "GOOD" and src.stats.accepted == 5
    assert not src.step(t).any()  # nothing new: nothing changed


@pytest.mark.parametrize(
    ("prop", "raw", "reason"),
    [
        ("temperature_c", "hot", "not a number"),
        ("temperature_c", "nan", "not a finite number"),
        ("temperature_c", True, "a boolean where a number is expected"),
        ("temperature_c", b"\xff\xfe", "not UTF-8 text"),
        ("temperature_c", "1" * 5000, "value too long"),
        ("state", 5, "a value the enum map lacks"),
        ("door_open", "maybe", "not a boolean"),
        ("program", 12, "not text"),
        ("program", "a\x1b[2Jb", "text the display policy refuses"),
        ("last_maintenance", "yesterday", "not a time"),
    ],
)
def test_what_does_not_fit_is_refused_and_counted(
    scene: Scene, prop: str, raw: object, reason: str
) -> None:
    src = GatewaySource(mapping(scene))
    assert not src.put(feed(src, 1, prop), raw, 1.7e9)
    assert src.stats.rejected == {reason: 1}
    assert math.isnan(src.values[1, src.schema.property_index[prop]])
    assert not src.step(1.7e9)[:, :-2].any()
    assert reason in src.stats.summary()


def test_distinct_texts_are_bounded(scene: Scene) -> None:
    src = GatewaySource(mapping(scene))
    f = feed(src, 0, "program")
    for i in range(MAX_TEXTS + 5):
        src.put(f, f"P{i}", 1.7e9)
    assert len(src.strings[3]) == MAX_TEXTS
    assert src.stats.rejected[f"over {MAX_TEXTS} distinct texts"] == 5


def test_a_bad_value_is_missing_and_quality_says_why(scene: Scene) -> None:
    src = GatewaySource(mapping(scene))
    src.mark_online()
    f = feed(src, 2, "temperature_c")
    src.put(f, 300, 1.0)
    src.step(1.0)
    src.put(f, 999, 2.0, BAD, status_note="BadSensorFailure")
    changed = src.step(2.0)
    assert not changed[2, 0], "a bad value is not sent"
    assert src.values[2, 0] == pytest.approx(25.0) and src.source_time[2, 0] == 1.0
    assert src.quality(2) == "BAD"
    note = src.text(2, src.schema.property_index["quality_note"])
    assert note == "temperature_c: BadSensorFailure"
    src.put(f, 310, 3.0, UNCERTAIN, status_note="UncertainLastUsableValue")
    src.step(3.0)
    assert src.values[2, 0] == pytest.approx(26.0) and src.quality(2) == "UNCERTAIN"
    src.put_many(np.array([f]), np.array([320.0]), np.array([4.0]))
    src.step(4.0)
    assert src.quality(2) == "GOOD" and src.values[2, 0] == pytest.approx(27.0)
    src.mark_offline([2])
    src.step(5.0)
    assert src.quality(2) == "OFFLINE" and src.quality(3) == "GOOD"


def test_put_many_refuses_non_finite_values(scene: Scene) -> None:
    src = GatewaySource(mapping(scene))
    fs = np.array([feed(src, m, "temperature_c") for m in range(3)])
    src.put_many(fs, np.array([1.0, np.inf, np.nan]), np.full(3, 7.0))
    assert src.stats.accepted == 1 and src.stats.rejected["not a finite number"] == 2
    assert src.values[0, 0] == pytest.approx(-4.9) and np.isnan(src.values[1:3, 0]).all()


def test_an_offline_machine_is_stale_at_once_for_a_real_client(scene: Scene) -> None:
    """Through a real twin server and client: quality reaches the store, OFFLINE machines
    are stale at once in the scene's bindings, and get no keep-alives."""
    src = GatewaySource(mapping(scene))
    n = len(scene.machines)
    with running_server(src, keepalive_s=0.2, allow_control=False) as srv:

        def fill() -> None:
            now = time.time()
            for m in range(n):
                src.put(feed(src, m, "temperature_c"), 250 + m, now)
            src.mark_online()

        srv.call(fill)
        store = TwinStore(tuple(x.id for x in scene.machines))
        bindings = Bindings.compile(scene)
        q = src.schema.property_index["quality"]
        with TwinClient(f"ws://127.0.0.1:{srv.server.port}") as client:

            def quality_is(code: float, rows: slice) -> bool:
                drain_into(store, client.queue)
                col = store.column("quality")
                return col is not None and bool((col[rows] == code).all())

            wait_until(lambda: quality_is(0.0, slice(None)), 10, "every machine GOOD")
            state = bindings.evaluate(store, time.time())
            assert not state.stale.any()
            assert store.value[5, 0] == pytest.approx(255 * 0.1 - 5)
            srv.call(lambda: src.mark_offline(list(range(10))))
            wait_until(lambda: quality_is(3.0, slice(0, 10)), 10, "ten machines OFFLINE")
            state = bindings.evaluate(store, time.time())
            assert state.stale[:10].all() and not state.stale[10:].any()
            assert src.values[0, q] == 3.0
            time.sleep(0.6)  # keep-alives go on for the others only
            drain_into(store, client.queue)
            now = time.time()
            age = store.age(now)
            assert (age[:10] > 0.5).all() and (age[10:] < 0.5).all()
