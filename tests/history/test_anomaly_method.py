"""What tells a fault from a transient: closing deviations, the alarm's side, the recent
change, the fallback for a program not run before, and drifts that are not learnt."""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from xrclient.core import anomaly
from xrclient.core.anomaly import Predictor
from xrclient.core.anomaly_config import parse_prediction_table
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.scene.prediction_levels import scene_predictor, scene_thresholds

from .helpers import demo_scene

N = 3
MACHINES = tuple(f"M{i}" for i in range(N))
RUNNING, IDLE = 0.0, 1.0
#: value(s) at time t for every machine: (state per machine, {property: values})
Step = Callable[[int], tuple[list[float], dict[str, list[float]]]]


def run(
    schema: StreamSchema,
    step: Step,
    seconds: int,
    levels: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] | None = None,
    **settings: object,
) -> dict[int, list[float]]:
    """Feed ``step`` once a second; the times each machine was flagged (from t0 = 0)."""
    config = parse_prediction_table({"warmup_s": 600, "persist_s": 30, **settings})
    pred = Predictor(["mill"] * N, config, levels)
    store = TwinStore(MACHINES)
    names = [p.name for p in schema.properties]
    flagged: dict[int, list[float]] = {m: [] for m in range(N)}
    t0 = 1_000_000.0
    for k in range(seconds):
        states, values = step(k)
        rows = [[states[m]] + [values[name][m] for name in names[1:]] for m in range(N)]
        p = len(names)
        mi, pi = np.repeat(np.arange(N), p), np.tile(np.arange(p), N)
        values_ = np.array(rows).reshape(-1)
        batch = UpdateBatch.build(schema, mi, pi, values_, t0 + k, snapshot=True, sent=t0 + k)
        store.apply(batch, t0 + k)
        state = pred.update(store, t0 + k)
        for m in np.flatnonzero(state.flagged):
            flagged[int(m)].append(float(k))
    return flagged


def schema_of(*names: str, program: bool = False) -> StreamSchema:
    props = [PropertySpec("state", "enum", values=("RUNNING", "IDLE"))]
    if program:
        props.append(PropertySpec("program", "enum", values=("P0", "P1", "P2")))
    props += [PropertySpec(name, "number") for name in names]
    return StreamSchema(MACHINES, tuple(props))


def high(level: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return np.full(N, level), np.ones(N)


def test_a_deviation_that_closes_is_a_transient_and_one_that_grows_is_not() -> None:
    """Back from an idle, M1 runs cool and warms up to its normal level (closing); M2 runs
    at its level and then drifts away from it (growing). Neither has an alarm level."""
    rng = np.random.default_rng(3)
    schema = schema_of("temperature_c")

    def step(k: int) -> tuple[list[float], dict[str, list[float]]]:
        noise = 0.05 * rng.standard_normal(N)
        idle = 1200 <= k < 1500
        temp = [40.0, 40.0, 40.0]
        if idle:
            temp[1] = 33.0 + 7.0 * math.exp(-(k - 1200) / 100)
        elif k >= 1500:
            temp[1] = 40.0 - 7.0 * math.exp(-(k - 1500) / 300)
            temp[2] = 40.0 + 0.01 * (k - 1500)
        states = [IDLE if idle else RUNNING] * N
        return states, {"temperature_c": list(np.array(temp) + noise)}

    flagged = run(schema, step, 2400)
    assert not flagged[0]
    assert not flagged[1], "a machine warming back up is not a fault"
    assert flagged[2] and 1500 < flagged[2][0] < 2400


def test_a_watched_property_counts_on_its_alarms_side_only() -> None:
    """vibration_mm_s > 7.1 is the alarm: M1 running smoother is not flagged, M2 running
    rougher is."""
    rng = np.random.default_rng(4)
    schema = schema_of("vibration_mm_s")

    def step(k: int) -> tuple[list[float], dict[str, list[float]]]:
        vib = np.full(N, 3.0) + 0.05 * rng.standard_normal(N)
        if k >= 1000:
            vib[1] *= 0.5
            vib[2] *= 1.6
        return [RUNNING] * N, {"vibration_mm_s": list(vib)}

    flagged = run(schema, step, 1400, {"vibration_mm_s": high(7.1)})
    assert not flagged[0] and not flagged[1]
    assert flagged[2] and 1000 < flagged[2][0] < 1200


def test_heating_while_the_value_should_fall_is_flagged_by_its_change() -> None:
    """Each idle the machines cool from 45 toward 35 °C. In M1's last idle a fault heats it
    up: its level stays within what idles show (cooling from hot), its change does not."""
    rng = np.random.default_rng(5)
    schema = schema_of("temperature_c")
    cycle, run_s = 1500, 600  # 600 s running at 45, then 900 s idle

    def step(k: int) -> tuple[list[float], dict[str, list[float]]]:
        phase = k % cycle
        idle = phase >= run_s
        temp = np.full(N, 45.0)
        if idle:
            into = phase - run_s
            temp[:] = 35.0 + 10.0 * math.exp(-into / 600)
            if k >= 4 * cycle:  # the fifth cycle's idle: extra heat, accelerating
                temp[1] += 8.0 * (into / 900) ** 3
        temp += 0.05 * rng.standard_normal(N)
        return [IDLE if idle else RUNNING] * N, {"temperature_c": list(temp)}

    flagged = run(schema, step, 5 * cycle, {"temperature_c": high(65.0)})
    assert not flagged[0] and not flagged[2]
    assert flagged[1], "the heating was never flagged"
    assert 4 * cycle + run_s < flagged[1][0] < 5 * cycle


def test_a_program_not_run_before_scores_watched_properties_on_the_states_baseline() -> None:
    """All machines change to a program they never ran (its baseline is cold): the speed
    changes with it (not scored meanwhile), M1's vibration triples (scored against the
    state's baseline over all programs, and flagged long before the program's warms up)."""
    rng = np.random.default_rng(6)
    schema = schema_of("speed_rpm", "vibration_mm_s", program=True)
    switch = 1200

    def step(k: int) -> tuple[list[float], dict[str, list[float]]]:
        program = 0.0 if k < switch else 1.0
        speed = np.full(N, 1000.0 if k < switch else 1500.0)
        vib = np.full(N, 2.0)
        if k >= switch:
            vib[1] *= 3.0
        values = {
            "program": [program] * N,
            "speed_rpm": list(speed + rng.standard_normal(N)),
            "vibration_mm_s": list(vib + 0.05 * rng.standard_normal(N)),
        }
        return [RUNNING] * N, values

    flagged = run(schema, step, switch + 400, {"vibration_mm_s": high(7.1)})
    assert not flagged[0] and not flagged[2]
    assert flagged[1] and switch < flagged[1][0] < switch + 200


def test_a_slow_drift_is_not_learnt_as_normal() -> None:
    """M1 drifts up slowly (a fault developing over half an hour): its baseline stops
    learning once the drift persists, so the score keeps growing and it is flagged."""
    rng = np.random.default_rng(7)
    schema = schema_of("pressure_bar")

    def step(k: int) -> tuple[list[float], dict[str, list[float]]]:
        p = np.full(N, 2.0) + 0.05 * rng.standard_normal(N)
        if k >= 1000:
            p[1] += 0.0004 * (k - 1000)
        return [RUNNING] * N, {"pressure_bar": list(p)}

    flagged = run(schema, step, 4000)
    assert not flagged[0] and not flagged[2]
    assert flagged[1] and 1000 < flagged[1][0] < 4000


def test_core_takes_plain_values_and_the_scene_module_reads_them() -> None:
    tree = ast.parse(inspect.getsource(anomaly))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
    assert not [m for m in imported if m.startswith("xrclient.scene")]
    scene = demo_scene()
    pred = scene_predictor(scene, slices=2)
    assert pred.machine_types == tuple(m.type for m in scene.machines) and pred.slices == 2
    assert set(scene_thresholds(scene)) >= {"vibration_mm_s", "temperature_c"}
