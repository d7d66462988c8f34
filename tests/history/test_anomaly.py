"""Anomaly detection: the simulator's scripted bearing wear is flagged before it faults."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xrclient.core.anomaly import Predictor
from xrclient.core.anomaly_config import (
    PredictionConfig,
    PredictionConfigError,
    parse_prediction_table,
)
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.history.sim_batches import simulate
from xrclient.scene.prediction_levels import scene_predictor, scene_thresholds
from xrclient.server.faults import ScheduledFault
from xrclient.server.simulator import PlantSimulator

from .helpers import START, demo_scene

#: a Monday 10:30 UTC: the day shift is on for hours
SHIFT = START + 4 * 86400 + 10.5 * 3600
#: false alarms per healthy machine-hour allowed on the demo plant
FALSE_ALARM_BOUND = 0.25
VICTIMS = ("CNV-C5", "PRS-B1", "CNC-A2", "RBT-C1", "CNV-C2", "CNV-A1", "CNV-B7", "PRS-B3")


@pytest.mark.slow
@pytest.mark.parametrize("slices", [1, 4])
def test_bearing_wear_is_flagged_before_it_faults_with_few_false_alarms(slices: int) -> None:
    scene = demo_scene()
    faults = [
        ScheduledFault(v, "bearing_wear", SHIFT + 2400 + 300 * i, 1800.0)
        for i, v in enumerate(VICTIMS)
    ]
    sim = PlantSimulator(scene, seed=7, start=SHIFT, fault_rate_per_hour=0.0, faults=faults)
    store = TwinStore([m.id for m in scene.machines])
    predictor = scene_predictor(scene, slices=slices)
    first_flag: dict[int, float] = {}
    onsets = np.zeros(len(scene.machines))
    before = np.zeros(len(scene.machines), bool)
    hours = 1.75
    for t, batch in simulate(sim, SHIFT, hours * 3600, 1.0):
        store.apply(batch, t)
        state = predictor.update(store, t)
        new = state.flagged & ~before
        for m in np.flatnonzero(new):
            first_flag.setdefault(int(m), t)
            assert state.worst_name(int(m)) is not None
        onsets += new
        before = state.flagged
    log = sim.fault_log
    assert sorted(r.machine for r in log) == sorted(VICTIMS)
    index = {m.id: i for i, m in enumerate(scene.machines)}
    leads = []
    for r in log:
        flagged_at = first_flag.get(index[r.machine])
        assert flagged_at is not None, f"{r.machine}: never flagged"
        assert r.start < flagged_at < r.fault_at, f"{r.machine}: flagged at {flagged_at}"
        leads.append(r.fault_at - flagged_at)
    assert min(leads) > 0
    healthy = [index[m.id] for m in scene.machines if m.id not in VICTIMS]
    rate = onsets[healthy].sum() / (len(healthy) * hours)
    assert rate <= FALSE_ALARM_BOUND


SCHEMA = StreamSchema(
    ("M0", "M1", "M2"),
    (
        PropertySpec("state", "enum", values=("RUNNING", "IDLE")),
        PropertySpec("vibration_mm_s", "number"),
        PropertySpec("energy_kwh", "number"),
    ),
)


def feed(store: TwinStore, t: float, vib: list[float], energy: float = 0.0) -> None:
    n = len(SCHEMA.machines)
    m = np.repeat(np.arange(n), 3)
    p = np.tile(np.arange(3), n)
    v = np.array([[0.0, x, energy] for x in vib]).reshape(-1)
    store.apply(UpdateBatch.build(SCHEMA, m, p, v, t, snapshot=True, sent=t), t)


def small_predictor(slices: int = 1, feature_s: float = 5.0, **settings: object) -> Predictor:
    config = parse_prediction_table({"warmup_s": 60, "persist_s": 5, "window_s": 120, **settings})
    levels = {"vibration_mm_s": (np.full(3, 7.1), np.ones(3))}
    return Predictor(["mill"] * 3, config, levels, feature_s=feature_s, slices=slices)


@pytest.mark.parametrize("slices", [1, 3])
def test_cold_start_missing_data_drift_and_time_to_threshold(slices: int) -> None:
    rng = np.random.default_rng(0)
    store = TwinStore(SCHEMA.machines)
    pred = small_predictor(slices)
    t0 = 1000.0
    for k in range(400):
        t = t0 + k
        base = 2.0 + 0.05 * rng.standard_normal(3)
        drift = 0.0 if k < 250 else 0.02 * (k - 250)  # M1 drifts up from 250 s
        vib = [base[0], base[1] + drift, math.nan if k > 100 else base[2]]
        feed(store, t, vib, energy=float(k))  # energy is a counter: ignored by default
        state = pred.update(store, t)
        if k < 60:  # warming up: no score yet
            assert np.isnan(state.score).all() and not state.flagged.any()
        if k == 240:
            assert not state.flagged.any()
            tts = state.time_to_threshold[1]  # noise only: no near estimate
            assert np.isnan(tts) or tts > 3600
    assert state.flagged[1] and not state.flagged[0]
    assert state.worst_name(1) == "vibration_mm_s"
    assert np.isnan(state.score[2]) and not state.flagged[2]  # silent since 100 s
    # 0.02 mm/s per s, at about 2 + 0.02 * 150 = 5: 7.1 in about 105 s
    assert 60 < state.time_to_threshold[1] < 160
    tts = state.time_to_threshold[0]
    assert np.isnan(tts) or tts > 3600


def test_time_to_threshold_is_the_least_squares_line_of_the_points_in_the_state() -> None:
    """The running sums give the fit of the points in the current state, through several
    turns of the ring and state changes (feature_s ~0: the feature is the value)."""
    rng = np.random.default_rng(2)
    store = TwinStore(SCHEMA.machines)
    pred = small_predictor(feature_s=1e-6)
    points: list[tuple[float, float, int]] = []  # time, M1's value, M1's state
    checked = 0
    for k in range(1500):
        t = 5000.0 + k
        idle = 1 if 600 <= k < 700 or 1100 <= k < 1130 else 0
        vib = 2.0 + 0.002 * k + (1.0 if idle else 0.0) + 0.05 * rng.standard_normal()
        n = len(SCHEMA.machines)
        m, p = np.repeat(np.arange(n), 2), np.tile(np.arange(2), n)
        v = np.array([[idle, vib]] * n).reshape(-1)
        store.apply(UpdateBatch.build(SCHEMA, m, p, v, t, snapshot=True, sent=t), t)
        state = pred.update(store, t)
        if k % 4 == 0:  # window 120 s / 30 points: a point every 4 s
            points.append((t, float(np.float32(vib)), idle))
            recent = [(tp, y) for tp, y, s in points[-30:] if s == idle]
            if len(recent) < 6:
                assert np.isnan(state.time_to_threshold[1])
                continue
            tt, yy = np.array(recent).T
            slope, at_zero = np.polyfit(tt - t, yy, 1)
            expected = (7.1 - at_zero) / slope if slope > 0 else math.nan
            assert state.time_to_threshold[1] == pytest.approx(expected, rel=1e-3, nan_ok=True)
            checked += 1
    assert checked > 300


def test_huge_and_infinite_values_count_as_missing() -> None:
    store = TwinStore(SCHEMA.machines)
    pred = small_predictor(ignore=[])  # energy_kwh scores too
    for k in range(200):
        t = 100.0 + k
        energy = [1e20, math.inf, -math.inf, math.nan][k % 4] if 100 <= k < 150 else 5.0
        feed(store, t, [2.0, 2.0, 2.0], energy=energy)
        state = pred.update(store, t)
        if k > 70:
            assert np.isfinite(state.score).all() and not state.flagged.any()
    assert state.worst_name(0) is not None


def test_updates_between_samples_are_free_and_time_going_back_resets() -> None:
    store = TwinStore(SCHEMA.machines)
    pred = small_predictor()
    feed(store, 10.0, [1.0, 1.0, 1.0])
    a = pred.update(store, 10.0)
    assert pred.update(store, 10.5) is a
    b = pred.update(store, 11.0)
    assert b is not a and b.time == 11.0
    c = pred.update(store, 5.0)
    assert c.time == 5.0


def test_disabled_type_is_never_scored() -> None:
    config = parse_prediction_table({"types": {"mill": {"enabled": False}}})
    pred = Predictor(["mill"] * 3, config)
    store = TwinStore(SCHEMA.machines)
    for k in range(5):
        feed(store, 100.0 + k, [1.0 * k, 2.0, 3.0])
        state = pred.update(store, 100.0 + k)
    assert np.isnan(state.score).all()


def test_scene_thresholds_come_from_gauges_and_simple_alarms() -> None:
    scene = demo_scene()
    levels = scene_thresholds(scene)
    i = next(k for k, m in enumerate(scene.machines) if m.type == "cnc_mill")
    a = next(k for k, m in enumerate(scene.machines) if m.type == "agv")
    limit, sign = levels["vibration_mm_s"]
    assert limit[i] == 4.5 and sign[i] == 1.0  # the first alarm reached
    assert np.isnan(limit[a])
    limit, sign = levels["battery_pct"]
    assert limit[a] == 15.0 and sign[a] == -1.0


def test_prediction_table_parses_and_overrides_per_type() -> None:
    config = parse_prediction_table(
        {
            "score_threshold": 4,
            "ignore": ["energy_kwh"],
            "types": {"press": {"score_threshold": 8.5, "persist_s": 0}},
            "thresholds": {"vibration_mm_s": 7.1, "level_pct": {"value": 10, "direction": "low"}},
        }
    )
    assert config.for_type("lathe").score_threshold == 4.0
    assert config.for_type("press").score_threshold == 8.5
    assert config.for_type("press").ignore == ("energy_kwh",)  # inherits the defaults
    assert config.thresholds["level_pct"].direction == "low"
    assert PredictionConfig().for_type("x").enabled


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"bogus": 1}, "prediction.bogus"),
        ({"score_threshold": "high"}, "prediction.score_threshold"),
        ({"score_threshold": math.inf}, "prediction.score_threshold"),
        ({"persist_s": -1}, "prediction.persist_s"),
        ({"enabled": 1}, "prediction.enabled"),
        ({"ignore": "energy_kwh"}, "prediction.ignore"),
        ({"ignore": ["bad name"]}, "prediction.ignore[0]"),
        ({"types": {"press": {"types": {}}}}, "prediction.types.press.types"),
        ({"types": {"press": 3}}, "prediction.types.press"),
        ({"thresholds": {"vib": {"value": 1, "direction": "up"}}}, "prediction.thresholds.vib"),
        ({"thresholds": {"vib": {"direction": "low"}}}, "prediction.thresholds.vib.value"),
        ({"thresholds": {"vib": True}}, "prediction.thresholds.vib"),
    ],
)
def test_prediction_table_errors_name_the_key(doc: dict[str, object], where: str) -> None:
    with pytest.raises(PredictionConfigError) as info:
        parse_prediction_table(doc)
    assert info.value.path.startswith(where)
