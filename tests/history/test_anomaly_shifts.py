"""Baselines per shift: a plant whose normal level differs by shift, and their settings."""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, datetime

import numpy as np
import pytest

from xrclient.core.anomaly import Predictor
from xrclient.core.anomaly_config import (
    PredictionConfig,
    PredictionConfigError,
    fixed_offset,
    parse_prediction_table,
)
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.errors import SceneError
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.prediction_levels import scene_predictor
from xrclient.scene.schema import parse_scene
from xrclient.scene.zones import utc_offset

from .helpers import START

SCHEMA = StreamSchema(
    ("M0", "M1", "M2"),
    (
        PropertySpec("state", "enum", values=("RUNNING", "IDLE")),
        PropertySpec("load_pct", "number"),
    ),
)
ZONE = "+01:00"
MIDNIGHT = START - 3600.0  # 2026-01-01 00:00 at +01:00
HOUR = 3600.0
SHIFTS = ["06:00", "14:00", "22:00"]
STEP = 10.0  # seconds between samples (the predictors' interval)
COMMON = {"warmup_s": 1800, "half_life_s": 3600, "persist_s": 60}
DRIFT = (MIDNIGHT + 86400 + 16 * HOUR, MIDNIGHT + 86400 + 17 * HOUR)  # M1, day 2


def level(t: float) -> float:
    """The normal load by shift: 50 on days, 80 on lates, 30 on nights."""
    hour = (t - MIDNIGHT) % 86400 / HOUR
    return 50.0 if 6 <= hour < 14 else 80.0 if 14 <= hour < 22 else 30.0


def feed(store: TwinStore, t: float, loads: np.ndarray) -> None:
    n = len(SCHEMA.machines)
    m = np.repeat(np.arange(n), 2)
    p = np.tile(np.arange(2), n)
    v = np.stack([np.zeros(n), loads], 1).reshape(-1)
    store.apply(UpdateBatch.build(SCHEMA, m, p, v, t, snapshot=True, sent=t), t)


def predictor(**settings: object) -> Predictor:
    config = parse_prediction_table({**COMMON, **settings})
    return Predictor(["mill"] * 3, config, interval=STEP)


@pytest.mark.slow
def test_shift_baselines_stop_false_alarms_at_shift_changes_and_still_flag_a_drift() -> None:
    single = predictor()
    shifted = predictor(shifts=SHIFTS, shift_timezone=ZONE)
    store = TwinStore(SCHEMA.machines)
    rng = np.random.default_rng(5)
    onsets: dict[str, list[tuple[int, float]]] = {"single": [], "shifted": []}
    flagged_day2 = {"single": np.zeros(3), "shifted": np.zeros(3)}
    before = {"single": np.zeros(3, bool), "shifted": np.zeros(3, bool)}
    fallback_scores: list[float] = []
    m1_flags: list[float] = []
    day2 = MIDNIGHT + 86400
    for t in np.arange(MIDNIGHT, MIDNIGHT + 2 * 86400, STEP):
        t = float(t)
        loads = level(t) + rng.standard_normal(3)
        if DRIFT[0] <= t < DRIFT[1]:
            loads[1] += (t - DRIFT[0]) / 30.0  # 2 per minute
        feed(store, t, loads)
        for name, pred in (("single", single), ("shifted", shifted)):
            state = pred.update(store, t)
            assert state.time == t
            new = state.flagged & ~before[name]
            onsets[name] += [(int(m), t) for m in np.flatnonzero(new)]
            before[name] = state.flagged
            if t >= day2:
                flagged_day2[name] += state.flagged
        if MIDNIGHT + 6 * HOUR + 60 <= t < MIDNIGHT + 6 * HOUR + 600:
            fallback_scores.append(float(shifted.update(store, t).score[0]))
        if t >= day2 and shifted.update(store, t).flagged[1]:
            m1_flags.append(t)

    healthy = (0, 2)
    changes = [day2 + h * HOUR for h in (6, 14, 22)]
    # one baseline: the day shift's higher load is flagged as soon as it starts
    for m in healthy:
        assert any(b <= t < b + 600 for mm, t in onsets["single"] if mm == m for b in changes)
        assert flagged_day2["single"][m] > 0
    # a baseline per shift: nothing on healthy machines once each shift has been learnt
    assert flagged_day2["shifted"][list(healthy)].sum() == 0
    assert not [t for m, t in onsets["shifted"] if m in healthy and t >= day2]
    # ... and the drift within the late shift is flagged within it, minutes after it began
    assert m1_flags, "the drift was never flagged"
    assert DRIFT[0] < m1_flags[0] < DRIFT[0] + 900
    assert all(t < day2 + 22 * HOUR for t in m1_flags)
    # the first day shift had a cold baseline: it scored against the overall one meanwhile
    assert fallback_scores and all(math.isfinite(s) for s in fallback_scores)
    assert max(fallback_scores) > 5.0


def test_a_cold_shift_baseline_learns_while_flagged_and_takes_over() -> None:
    pred = predictor(shifts=SHIFTS, shift_timezone=ZONE)
    store = TwinStore(SCHEMA.machines)
    rng = np.random.default_rng(1)
    start = MIDNIGHT + 2 * HOUR
    flagged_at: list[float] = []
    for t in np.arange(start, MIDNIGHT + 9 * HOUR, STEP):
        t = float(t)
        feed(store, t, level(t) + rng.standard_normal(3))
        state = pred.update(store, t)
        if state.flagged[0]:
            flagged_at.append(t)
    six = MIDNIGHT + 6 * HOUR
    assert flagged_at and six <= flagged_at[0] < six + 300  # night's 30 -> day's 50
    assert flagged_at[-1] < six + 1800 + 600  # the day baseline warmed up: cleared
    assert not state.flagged.any() and (state.score < 5).all()


def test_shift_at_follows_the_zone() -> None:
    config = parse_prediction_table({"shifts": SHIFTS, "shift_timezone": "+01:00"})
    assert config.shifts == (6 * HOUR, 14 * HOUR, 22 * HOUR)
    assert config.shift_at(MIDNIGHT + 5.99 * HOUR) == 2  # the night shift, from 22:00
    assert config.shift_at(MIDNIGHT + 6 * HOUR) == 0
    assert config.shift_at(MIDNIGHT + 13.99 * HOUR) == 0
    assert config.shift_at(MIDNIGHT + 14 * HOUR) == 1
    assert config.shift_at(MIDNIGHT + 22 * HOUR) == 2
    assert config.shift_at(MIDNIGHT + 23.99 * HOUR) == 2
    utc = parse_prediction_table({"shifts": SHIFTS, "shift_timezone": "UTC"})
    assert utc.shift_at(START + 6 * HOUR) == 0 and utc.shift_at(START + 5.5 * HOUR) == 2
    india = parse_prediction_table({"shifts": SHIFTS, "shift_timezone": "+05:30"})
    assert india.shift_at(START + 0.5 * HOUR) == 0  # 06:00 there
    # a named zone keeps the wall clock through daylight saving
    berlin = parse_prediction_table(
        {"shifts": SHIFTS, "shift_timezone": "Europe/Berlin"}, zones=utc_offset
    )
    winter = datetime(2026, 1, 15, 5, 0, tzinfo=UTC).timestamp()  # 06:00 CET
    summer = datetime(2026, 7, 15, 4, 0, tzinfo=UTC).timestamp()  # 06:00 CEST
    for t in (winter, summer):
        assert berlin.shift_at(t - 1) == 2 and berlin.shift_at(t) == 0
    assert PredictionConfig().shift_at(winter) == 0
    local = parse_prediction_table({"shifts": SHIFTS}, zones=utc_offset)
    assert local.shift_timezone == "local" and local.shift_at(winter) in (0, 1, 2)
    for config in (local, berlin):  # a time the platform cannot convert: UTC
        assert config.shift_at(1e20) in (0, 1, 2)
    # without a zone converter (core reads no zone database) a zone name counts as UTC
    plain = parse_prediction_table({"shifts": SHIFTS, "shift_timezone": "Europe/Berlin"})
    assert plain.shift_at(winter) == 2 and plain.shift_at(winter + HOUR) == 0
    assert fixed_offset("-03:30") == -3.5 * HOUR and fixed_offset("Europe/Berlin") is None


def test_zone_offsets_come_from_the_platform_outside_core() -> None:
    winter = datetime(2026, 1, 15, 5, 0, tzinfo=UTC).timestamp()
    assert utc_offset("Europe/Berlin", winter) == HOUR
    assert utc_offset("Europe/Berlin", winter + 182 * 86400) == 2 * HOUR
    assert utc_offset("+05:30", winter) == 5.5 * HOUR and utc_offset("UTC", winter) == 0.0
    assert utc_offset("Europe/Berlin", 1e20) == 0.0  # beyond the platform: UTC
    with pytest.raises(KeyError):
        utc_offset("Mars/Olympus", winter)


@pytest.mark.parametrize(
    ("doc", "where", "says"),
    [
        ({"shifts": "06:00"}, "prediction.shifts", "list of 2 to 12"),
        ({"shifts": ["06:00"]}, "prediction.shifts", "list of 2 to 12"),
        ({"shifts": ["06:00", 14]}, "prediction.shifts[1]", "HH:MM"),
        ({"shifts": ["6am", "14:00"]}, "prediction.shifts[0]", "HH:MM"),
        ({"shifts": ["06:00", "24:00"]}, "prediction.shifts[1]", "HH:MM"),
        ({"shifts": ["06:00", "14:60"]}, "prediction.shifts[1]", "HH:MM"),
        ({"shifts": ["14:00", "06:00"]}, "prediction.shifts[1]", "not after 14:00"),
        ({"shifts": ["06:00", "06:00"]}, "prediction.shifts[1]", "not after"),
        ({"shift_timezone": "UTC"}, "prediction.shift_timezone", "set shifts too"),
        ({"shifts": SHIFTS, "shift_timezone": 1}, "prediction.shift_timezone", "expected"),
        ({"shifts": SHIFTS, "shift_timezone": "+15:00"}, "prediction.shift_timezone", "14:00"),
        ({"shifts": SHIFTS, "shift_timezone": "+01:75"}, "prediction.shift_timezone", "14:00"),
        (
            {"shifts": SHIFTS, "shift_timezone": "Mars/Olympus"},
            "prediction.shift_timezone",
            "unknown",
        ),
        (
            {"shifts": SHIFTS, "shift_timezone": "../etc/passwd"},
            "prediction.shift_timezone",
            "zone",
        ),
        (
            {"shifts": SHIFTS, "shift_timezone": "/etc/localtime"},
            "prediction.shift_timezone",
            "zone",
        ),
        (
            {"types": {"press": {"shifts": SHIFTS}}},
            "prediction.types.press.shifts",
            "whole plant",
        ),
    ],
)
def test_shift_settings_errors_name_the_key(doc: dict[str, object], where: str, says: str) -> None:
    with pytest.raises(PredictionConfigError) as info:
        parse_prediction_table(doc, zones=utc_offset)
    assert info.value.path == where
    assert says in info.value.message


def test_scene_file_carries_the_shift_settings() -> None:
    path = scene_path(DEMO_SCENE)
    doc = tomllib.loads(path.read_text())
    doc["prediction"] = {"shifts": SHIFTS, "shift_timezone": "UTC"}
    scene = parse_scene(doc, path.parent, "plant.toml")
    assert scene.prediction.shifts == (6 * HOUR, 14 * HOUR, 22 * HOUR)
    pred = scene_predictor(scene, scene.prediction)
    assert pred.config.shift_at(START + 15 * HOUR) == 1
    doc["prediction"] = {"shifts": ["22:00", "06:00"]}
    with pytest.raises(SceneError) as info:
        parse_scene(doc, path.parent, "plant.toml")
    assert "prediction.shifts[1]" in str(info.value)
