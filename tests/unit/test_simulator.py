"""The plant simulator: schema, plausible signals, shifts, faults, controls, determinism."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from xrclient import resources
from xrclient.scene.model import Line, Machine, Plant, Scene, Transform
from xrclient.scene.schema import load_scene
from xrclient.server.faults import (
    FAULT_KINDS,
    ControlError,
    FaultSchedule,
    ScheduledFault,
)
from xrclient.server.sim_profiles import (
    FAULT,
    IDLE,
    LOCKED_OUT,
    MAINTENANCE,
    PROFILES,
    PROPERTY_NAMES,
    RUNNING,
    SETUP,
    STATES,
    staffing,
)
from xrclient.server.simulator import PlantSimulator

MIDNIGHT = 1_760_054_400.0  # 2025-10-10 00:00 UTC
H = 3600.0
COL = {name: i for i, name in enumerate(PROPERTY_NAMES)}
TYPES = ("cnc_mill", "lathe", "press", "robot_cell", "conveyor", "storage_rack", "tank", "agv")


@cache
def demo() -> Scene:
    return load_scene(resources.scene_path(resources.DEMO_SCENE))


def synthetic_scene(n: int, types: tuple[str, ...] = TYPES) -> Scene:
    lines = tuple(Line(f"L{i:02d}", f"Line {i}") for i in range(max(1, n // 100)))
    machines = tuple(
        Machine(
            f"M-{i:05d}",
            f"M {i}",
            types[i % len(types)],
            "a",
            lines[i % len(lines)].id,
            "c",
            Transform(),
        )
        for i in range(n)
    )
    return Scene(Path("synthetic.toml"), Plant("synthetic"), {}, lines, machines)


def sim_at(hour: float, **kw: object) -> PlantSimulator:
    kw.setdefault("fault_rate_per_hour", 0.0)
    return PlantSimulator(demo(), start=MIDNIGHT + hour * H, **kw)  # type: ignore[arg-type]  # kw holds PlantSimulator options, typed by the caller


def col(sim: PlantSimulator, name: str) -> NDArray[np.float64]:
    return sim.values[:, COL[name]]


def idx(sim: PlantSimulator, machine: str) -> int:
    return sim.schema.machine_index[machine]


def cell(sim: PlantSimulator, machine: str, name: str) -> float:
    return float(sim.values[idx(sim, machine), COL[name]])


def state(sim: PlantSimulator, machine: str) -> str:
    return STATES[int(cell(sim, machine, "state"))]


def run(sim: PlantSimulator, until: float, dt: float) -> None:
    t = sim.time
    while t < until:
        t = min(t + dt, until)
        sim.step(t)


@cache
def day_trace() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The demo plant over 24 h from midnight, sampled every 60 s: times, values (T, M, P)."""
    sim = sim_at(0.0, seed=7)
    times = MIDNIGHT + np.arange(1, 1441, dtype=np.float64) * 60.0
    out = np.empty((times.size, *sim.values.shape))
    for i, t in enumerate(times):
        sim.step(float(t))
        out[i] = sim.values
    return times, out


# --- schema and encoding -----------------------------------------------------------------


def test_schema_is_the_scene_machines_and_all_properties() -> None:
    sim = sim_at(8.0)
    assert sim.schema.machines == tuple(m.id for m in demo().machines)
    assert sim.n_machines == 65 and sim.values.shape == (65, len(PROPERTY_NAMES))
    props = {p.name: p for p in sim.schema.properties}
    assert len(props) >= 20
    assert props["state"].values == STATES
    assert (props["temperature_c"].unit, props["vibration_mm_s"].unit) == ("°C", "mm/s")
    assert (props["door_open"].kind, props["last_maintenance"].kind) == ("bool", "time")
    assert props["program"].kind == props["fault_code"].kind == "string"


def test_properties_follow_the_machine_type() -> None:
    sim = sim_at(8.0)
    present = ~np.isnan(sim.values)
    np.testing.assert_array_equal(present, ~np.isnan(sim.source_time))
    for name in ("state", "power_kw", "energy_kwh", "fault_code", "last_maintenance"):
        assert present[:, COL[name]].all(), name
    cnc, conveyor, tank, agv = (idx(sim, m) for m in ("CNC-A1", "CNV-A1", "TNK-C1", "AGV-S1"))
    assert present[cnc, COL["spindle_rpm"]] and not present[conveyor, COL["spindle_rpm"]]
    assert present[conveyor, COL["belt_speed_m_s"]] and not present[cnc, COL["belt_speed_m_s"]]
    assert present[tank, COL["level_pct"]] and not present[tank, COL["program"]]
    assert present[agv, COL["battery_pct"]] and not present[agv, COL["door_open"]]
    assert (sim.source_time[present] == sim.time).all()


def test_unknown_machine_types_get_the_generic_profile() -> None:
    sim = PlantSimulator(synthetic_scene(4, ("laser_cutter", "cnc_mill")), start=MIDNIGHT)
    present = ~np.isnan(sim.values[0])
    assert {PROPERTY_NAMES[i] for i in np.flatnonzero(present)} == {
        "state", "power_kw", "energy_kwh", "fault_code", "last_maintenance",
        "load_pct", "temperature_c", "vibration_mm_s",
    }  # fmt: skip
    assert sim.machine_type(0) == "laser_cutter"
    assert sim.control({"action": "inject_fault", "machine": "M-00000", "fault": "overheat"}, 0)


def test_string_cells_index_the_string_tables() -> None:
    sim = sim_at(8.0)
    p_prog, p_code = COL["program"], COL["fault_code"]
    assert sim.strings[p_code][0] == ""
    assert {k.code for k in FAULT_KINDS} <= set(sim.strings[p_code])
    assert all(
        sim.strings[i] == () for i in range(len(PROPERTY_NAMES)) if i not in (p_prog, p_code)
    )
    cnc = idx(sim, "CNC-A1")
    programs = {p.name for p in PROFILES["cnc_mill"].programs}
    assert sim.text(cnc, p_prog) in programs
    assert sim.text(cnc, p_code) == ""
    assert sim.text(idx(sim, "CNV-A1"), p_prog) is None
    assert sim.text(cnc, COL["power_kw"]) is None
    codes = sim.values[:, p_prog]
    codes = codes[~np.isnan(codes)]
    assert (codes == np.floor(codes)).all() and codes.max() < len(sim.strings[p_prog])


# --- determinism ----------------------------------------------------------------------------


def _scripted(seed: int) -> PlantSimulator:
    sim = sim_at(5.9, seed=seed, fault_rate_per_hour=0.5)
    t = sim.time
    for i, dt in enumerate([0.001, 0.0, 0.5, 2.0, 0.01, 0.0, 30.0, 0.3, 7.0] * 40):
        t += dt
        sim.step(t)
        if i == 50:
            sim.control({"action": "inject_fault", "machine": "CNV-B2", "fault": "jam"}, t)
        if i == 120:
            sim.control({"action": "set_state", "machine": "PRS-B1", "state": "LOCKED_OUT"}, t)
        if i == 200:
            sim.control({"action": "clear_fault", "machine": "CNV-B2"}, t)
    return sim


def test_same_seed_and_inputs_give_identical_values() -> None:
    a, b = _scripted(11), _scripted(11)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.source_time, b.source_time)
    assert a.fault_log == b.fault_log and len(a.fault_log) >= 1


def test_different_seeds_differ() -> None:
    a, b = _scripted(11), _scripted(12)
    assert not np.array_equal(a.values, b.values, equal_nan=True)


def test_global_random_state_and_clock_do_not_matter() -> None:
    np.random.seed(1)
    a = _scripted(3)
    np.random.seed(2)
    np.random.random(100)
    time.sleep(0.01)
    b = _scripted(3)
    np.testing.assert_array_equal(a.values, b.values)


def test_states_and_faults_do_not_depend_on_the_step_times() -> None:
    # 09:45 to 10:35 UTC: the 10:00-10:30 break inside; frequent faults
    a = sim_at(9.75, seed=5, fault_rate_per_hour=0.5)
    b = sim_at(9.75, seed=5, fault_rate_per_hour=0.5)
    cols = [COL["state"], COL["program"], COL["fault_code"]]
    for k in range(1, 251):
        for _ in range(4):
            a.step(a.time + 3.0)
        b.step(MIDNIGHT + 9.75 * H + 12.0 * k)
        assert a.time == b.time
        np.testing.assert_array_equal(a.values[:, cols], b.values[:, cols])
    assert a.fault_log == b.fault_log and len(a.fault_log) >= 3


# --- plausible signals ----------------------------------------------------------------------


def _by_type(name: str) -> NDArray[np.bool_]:
    return np.array([m.type == name for m in demo().machines])


RANGES = {  # property: (low, high) over a day, all types
    "spindle_rpm": (0.0, 12100.0),
    "load_pct": (0.0, 100.0),
    "temperature_c": (15.0, 95.0),
    "vibration_mm_s": (0.0, 12.0),
    "pressure_bar": (0.0, 240.0),
    "tonnage_t": (0.0, 250.0),
    "level_pct": (0.0, 100.0),
    "flow_l_min": (0.0, 200.0),
    "belt_speed_m_s": (0.0, 0.7),
    "speed_m_s": (0.0, 2.5),
    "battery_pct": (0.0, 100.0),
    "occupancy_pct": (0.0, 100.0),
    "door_open": (0.0, 1.0),
    "cycle_time_s": (2.0, 700.0),
}


def test_signals_stay_in_plausible_ranges() -> None:
    _, v = day_trace()
    for name, (lo, hi) in RANGES.items():
        x = v[:, :, COL[name]]
        x = x[~np.isnan(x)]
        assert x.size and lo <= x.min() and x.max() <= hi, (name, x.min(), x.max())
    for t in TYPES:
        p = PROFILES[t]
        power = v[:, _by_type(t), COL["power_kw"]]
        assert 0.0 <= power.min() and power.max() <= 1.5 * p.run_kw, t
    states = v[:, :, COL["state"]]
    run = states == RUNNING
    for t in ("cnc_mill", "lathe", "press", "robot_cell", "conveyor", "tank"):
        sel = _by_type(t)
        load = v[:, sel, COL["load_pct"] if t != "tank" else COL["flow_l_min"]]
        assert load[run[:, sel]].mean() > 4 * max(load[~run[:, sel]].mean(), 0.1), t
    rpm = v[:, _by_type("cnc_mill"), COL["spindle_rpm"]]
    assert set(np.unique(rpm[rpm > 1000].round(-3))) <= {6000.0, 8000.0, 10000.0, 12000.0}


def test_temperature_follows_load_with_a_lag() -> None:
    sim = sim_at(8.0, seed=2)
    m = idx(sim, "PRS-B2")
    sim.control({"action": "set_state", "machine": "PRS-B2", "state": "LOCKED_OUT"}, 0)
    run(sim, sim.time + 4 * H, 60.0)
    cold = cell(sim, "PRS-B2", "temperature_c")
    sim.control({"action": "set_state", "machine": "PRS-B2", "state": "RUNNING"}, 0)
    temps = []
    for _ in range(30):
        run(sim, sim.time + 60.0, 2.0)
        temps.append(sim.values[m, COL["temperature_c"]])
    assert state(sim, "PRS-B2") == "RUNNING"
    assert temps[0] < cold + 2.0  # 1 min in: barely warmer
    assert temps[-1] > cold + 5.0  # 30 min in: clearly warmer (time constant 30 min)
    assert temps[0] < temps[9] < temps[-1]


def test_counters_are_monotonic_and_count() -> None:
    _, v = day_trace()
    for name in ("energy_kwh", "cycle_count", "parts_good", "parts_scrap"):
        x = v[:, :, COL[name]]
        d = np.diff(x, axis=0)
        assert np.all(d[~np.isnan(d)] >= 0.0), name
    made = v[-1] - v[0]
    cnc = _by_type("cnc_mill")
    assert (made[cnc, COL["cycle_count"]] > 20).all()
    assert made[:, COL["energy_kwh"]].min() > 0.0
    np.testing.assert_array_equal(
        made[cnc, COL["cycle_count"]], made[cnc, COL["parts_good"]] + made[cnc, COL["parts_scrap"]]
    )
    press = _by_type("press")
    assert made[press, COL["parts_scrap"]].sum() >= 1


def test_shift_pattern_breaks_night_and_setups() -> None:
    times, v = day_trace()
    hour = (times - MIDNIGHT) / H
    states = v[:, :, COL["state"]]
    busy = (states == RUNNING) | (states == SETUP)
    in_break = ((hour > 10.05) & (hour < 10.5)) | ((hour > 18.05) & (hour < 18.5))
    assert not busy[in_break].any()
    assert (states[in_break] == IDLE).all()
    day = busy[(hour > 7) & (hour < 9.5)].mean()
    night = busy[(hour > 3) & (hour < 5.5)].mean()
    assert day > 0.6 and 0.1 < night < 0.75 * day
    machining = _by_type("cnc_mill") | _by_type("lathe") | _by_type("press")
    assert (states[:, machining] == SETUP).any(axis=0).sum() >= 8
    # short stops in the day shift: RUNNING -> IDLE -> RUNNING within minutes
    day_idle = (states[(hour > 6.5) & (hour < 9.5)] == IDLE).mean()
    assert 0.0 < day_idle < 0.3
    programs = v[:, _by_type("cnc_mill"), COL["program"]]
    assert (np.diff(programs, axis=0) != 0).any()


def test_staffing_calendar() -> None:
    t = MIDNIGHT + np.array([1.0, 2.2, 5.0, 7.0, 10.2, 12.0, 18.2, 23.0]) * H
    crew = np.ones(t.size, dtype=np.bool_)
    staffed, change = staffing(t, crew)
    assert staffed.tolist() == [True, False, True, True, False, True, False, True]
    assert ((change - MIDNIGHT) / H).tolist() == [2.0, 2.5, 10.0, 10.0, 10.5, 18.0, 18.5, 26.0]
    staffed, change = staffing(t, ~crew)
    assert staffed.tolist() == [False, False, False, True, False, True, False, False]
    assert ((change[[0, 7]] - MIDNIGHT) / H).tolist() == [6.0, 30.0]


# --- faults ---------------------------------------------------------------------------------


def test_bearing_wear_drifts_then_faults_at_the_recorded_time() -> None:
    start = MIDNIGHT + 7 * H
    fault = ScheduledFault("CNC-A2", "bearing_wear", start + 60.0, 3000.0)
    sim = PlantSimulator(demo(), start=start, seed=1, fault_rate_per_hour=0.0, faults=[fault])
    m = idx(sim, "CNC-A2")
    sim.control({"action": "set_state", "machine": "CNC-A2", "state": "RUNNING"}, 0)
    rows = []
    while sim.time < start + 3100:
        sim.step(sim.time + 5.0)
        rows.append((sim.time, *sim.values[m, [COL["state"], COL["vibration_mm_s"]]]))
    t, st, vib = np.array(rows).T
    (rec,) = sim.fault_log
    assert (rec.machine, rec.kind, rec.code, rec.source) == (
        "CNC-A2",
        "bearing_wear",
        "E-BRG-101",
        "list",
    )
    assert (rec.start, rec.fault_at, rec.cleared_at) == (start + 60.0, start + 3060.0, None)
    assert (st[t < rec.fault_at] != FAULT).all() and (st[t >= rec.fault_at] == FAULT).all()
    running = st == RUNNING
    early = vib[running & (t < start + 600)]
    late = vib[running & (t > rec.fault_at - 400) & (t < rec.fault_at)]
    assert early.size > 10 and late.size > 10
    assert late.mean() > 2.5 * early.mean() and late.max() > 4.5  # ISO 10816 zone D
    assert sim.text(m, COL["fault_code"]) == "E-BRG-101"
    run(sim, sim.time + 120, 1.0)
    assert state(sim, "CNC-A2") == "FAULT"
    assert cell(sim, "CNC-A2", "spindle_rpm") == 0.0


def test_overheat_jam_and_leak() -> None:
    sim = sim_at(8.0, seed=4)
    before = cell(sim, "LTH-A1", "temperature_c")
    msg = {"action": "inject_fault", "machine": "LTH-A1", "fault": "overheat", "duration_s": 300}
    assert "300 s" in sim.control(msg, 0)
    assert "FAULT E-JAM-301 now" in sim.control(
        {"action": "inject_fault", "machine": "CNV-A3", "fault": "jam"}, 0
    )
    sim.control(
        {"action": "inject_fault", "machine": "TNK-C2", "fault": "leak", "duration_s": 600}, 0
    )
    level = cell(sim, "TNK-C2", "level_pct")
    sim.step(sim.time + 0.1)
    assert state(sim, "CNV-A3") == "FAULT" and state(sim, "LTH-A1") != "FAULT"
    run(sim, sim.time + 300.5, 1.0)
    assert cell(sim, "LTH-A1", "temperature_c") > before + 30.0
    assert state(sim, "LTH-A1") == "FAULT" and cell(sim, "CNV-A3", "belt_speed_m_s") == 0.0
    run(sim, sim.time + 400.0, 1.0)
    assert state(sim, "TNK-C2") == "FAULT"
    assert cell(sim, "TNK-C2", "level_pct") < level - 5.0
    kinds = {(r.machine, r.kind) for r in sim.fault_log}
    assert kinds == {("LTH-A1", "overheat"), ("CNV-A3", "jam"), ("TNK-C2", "leak")}
    jam = next(r for r in sim.fault_log if r.kind == "jam")
    assert jam.fault_at == jam.start and jam.source == "control"


def test_fault_persists_until_cleared_then_maintenance_then_resumes() -> None:
    sim = sim_at(7.0, seed=6)
    sim.control({"action": "inject_fault", "machine": "RBT-A1", "fault": "jam"}, 0)
    run(sim, sim.time + 0.5 * H, 30.0)
    assert state(sim, "RBT-A1") == "FAULT"
    old = cell(sim, "RBT-A1", "last_maintenance")
    out = sim.control({"action": "clear_fault", "machine": "RBT-A1"}, 0)
    assert out.startswith("RBT-A1: jam cleared, MAINTENANCE for")
    cleared = sim.time
    sim.step(sim.time + 1.0)
    assert state(sim, "RBT-A1") == "MAINTENANCE"
    assert cell(sim, "RBT-A1", "fault_code") == 0.0
    seen = set()
    for _ in range(60):
        run(sim, sim.time + 20.0, 5.0)
        seen.add(state(sim, "RBT-A1"))
    assert {"IDLE", "RUNNING"} <= seen or {"IDLE", "SETUP"} <= seen
    assert cleared <= cell(sim, "RBT-A1", "last_maintenance") <= cleared + 300 and old < cleared
    (rec,) = sim.fault_log
    assert rec.cleared_at == cleared and rec.fault_at < cleared


def test_scheduled_faults_are_seeded_and_applicable() -> None:
    a = sim_at(8.0, seed=9, fault_rate_per_hour=1.0)
    b = sim_at(8.0, seed=9, fault_rate_per_hour=1.0)
    run(a, a.time + 2 * H, 20.0)
    run(b, b.time + 2 * H, 45.0)
    assert a.fault_log == b.fault_log
    assert len(a.fault_log) >= 20
    types = {m.id: m.type for m in demo().machines}
    for r in a.fault_log:
        assert r.source == "schedule" and r.start > MIDNIGHT + 8 * H
        assert r.kind in PROFILES[types[r.machine]].faults
        assert r.fault_at >= r.start
    # one fault at a time per machine: no overlapping records
    starts: dict[str, float] = {}
    for r in a.fault_log:
        assert r.machine not in starts
        starts[r.machine] = r.start


def test_fault_schedule_blocks_do_not_depend_on_queries() -> None:
    s = FaultSchedule(3, 2.0, [(0, 1), (2,), ()])
    whole = s.due(100.0, 3 * H)
    parts = s.due(100.0, 1000.0) + s.due(1000.0, 5000.0) + s.due(5000.0, 3 * H)
    assert whole == parts and len(whole) > 3
    assert all(e.machine in (0, 1) for e in whole)
    assert all(e.kind in ((0, 1) if e.machine == 0 else (2,)) for e in whole)
    assert FaultSchedule(3, 0.0, [(0,)]).due(0.0, 1e6) == []


# --- controls -------------------------------------------------------------------------------


def test_locked_out_stays_off_until_released() -> None:
    sim = sim_at(8.0, seed=1, fault_rate_per_hour=5.0)
    out = sim.control({"action": "set_state", "machine": "PRS-B1", "state": "LOCKED_OUT"}, 0)
    assert out == "PRS-B1: LOCKED_OUT until another set_state"
    run(sim, sim.time + 30.0, 0.5)
    assert state(sim, "PRS-B1") == "LOCKED_OUT"
    assert cell(sim, "PRS-B1", "power_kw") < 0.05
    assert cell(sim, "PRS-B1", "load_pct") == 0.0 and cell(sim, "PRS-B1", "pressure_bar") == 0.0
    sim.control({"action": "set_state", "machine": "CNC-A1", "state": "LOCKED_OUT"}, 0)
    run(sim, sim.time + 14 * H, 60.0)  # across shift changes, breaks and scheduled faults
    for m in ("PRS-B1", "CNC-A1"):
        assert state(sim, m) == "LOCKED_OUT"
        assert cell(sim, m, "power_kw") < 0.05 and cell(sim, "CNC-A1", "spindle_rpm") == 0.0
    assert "CNC-A1" not in {r.machine for r in sim.fault_log}
    assert "PRS-B1" not in {r.machine for r in sim.fault_log}
    sim.control({"action": "set_state", "machine": "PRS-B1", "state": "IDLE"}, 0)
    sim.step(sim.time + 1.0)
    assert state(sim, "PRS-B1") == "IDLE" and cell(sim, "PRS-B1", "power_kw") > 1.0


def test_maintenance_holds_and_records_the_date() -> None:
    sim = sim_at(8.0)
    sim.control({"action": "set_state", "machine": "LTH-A2", "state": "MAINTENANCE"}, 0)
    run(sim, sim.time + 3 * H, 30.0)
    assert state(sim, "LTH-A2") == "MAINTENANCE"
    done = sim.time
    assert sim.control({"action": "set_state", "machine": "LTH-A2", "state": "SETUP"}, 0)
    sim.step(sim.time + 1.0)
    assert state(sim, "LTH-A2") == "SETUP"
    assert cell(sim, "LTH-A2", "last_maintenance") == math.floor(done)
    assert cell(sim, "LTH-A2", "door_open") == 1.0


def test_running_is_refused_while_in_fault() -> None:
    sim = sim_at(8.0)
    sim.control({"action": "inject_fault", "machine": "CNV-A1", "fault": "jam"}, 0)
    sim.step(sim.time + 1.0)
    for target in ("RUNNING", "IDLE", "SETUP"):
        with pytest.raises(ControlError) as err:
            sim.control({"action": "set_state", "machine": "CNV-A1", "state": target}, 0)
        assert err.value.code == "invalid_state" and "clear_fault" in err.value.message
    assert sim.control({"action": "set_state", "machine": "CNV-A1", "state": "LOCKED_OUT"}, 0)
    with pytest.raises(ControlError) as err:
        sim.control({"action": "inject_fault", "machine": "CNV-A1", "fault": "jam"}, 0)
    assert err.value.code == "invalid_state"
    assert sim.control({"action": "clear_fault", "machine": "CNV-A1"}, 0)
    sim.step(sim.time + 1.0)
    assert state(sim, "CNV-A1") == "LOCKED_OUT"  # the override still holds
    assert sim.control({"action": "set_state", "machine": "CNV-A1", "state": "RUNNING"}, 0)
    sim.step(sim.time + 1.0)
    assert state(sim, "CNV-A1") == "RUNNING"


def test_reset_clears_everything() -> None:
    sim = sim_at(8.0)
    sim.control({"action": "inject_fault", "machine": "CNV-A1", "fault": "jam"}, 0)
    sim.control({"action": "inject_fault", "machine": "CNC-A1", "fault": "bearing_wear"}, 0)
    sim.control({"action": "set_state", "machine": "PRS-B1", "state": "LOCKED_OUT"}, 0)
    sim.step(sim.time + 1.0)
    assert sim.control({"action": "reset"}, 0) == "reset: 2 faults cleared, 1 machines released"
    sim.step(sim.time + 1.0)
    states = col(sim, "state")
    assert not np.isin(states, [FAULT, LOCKED_OUT, MAINTENANCE]).any()
    assert all(r.cleared_at is not None for r in sim.fault_log)
    bearing = sim.fault_log[1]
    assert bearing.cleared_at is not None and bearing.cleared_at < bearing.fault_at  # never reached


OVERHEAT = {"action": "inject_fault", "machine": "CNC-A1", "fault": "overheat"}
HOSTILE: list[tuple[object, str]] = [
    ([], "bad_request"),
    ("inject_fault", "bad_request"),
    ({}, "bad_request"),
    ({1: "x", "action": "reset"}, "bad_request"),
    ({"action": None}, "bad_request"),
    ({"action": 3}, "bad_request"),
    ({"action": ["reset"]}, "bad_request"),
    ({"action": "explode"}, "unknown_action"),
    ({"action": "x" * 1_000_000}, "unknown_action"),
    ({"action": "reset", "machine": "CNC-A1"}, "bad_request"),
    ({"action": "clear_fault"}, "bad_request"),
    ({"action": "clear_fault", "machine": 7}, "bad_request"),
    ({"action": "clear_fault", "machine": True}, "bad_request"),
    ({"action": "clear_fault", "machine": ""}, "bad_request"),
    ({"action": "clear_fault", "machine": "C" * 100_000}, "bad_request"),
    ({"action": "clear_fault", "machine": "CNC-Z9"}, "unknown_machine"),
    ({"action": "clear_fault", "machine": "CNC-A1\x00"}, "unknown_machine"),
    ({"action": "clear_fault", "machine": "CNC-A1"}, "invalid_state"),
    ({"action": "clear_fault", "machine": "CNC-A1", "force": True}, "bad_request"),
    ({"action": "inject_fault", "machine": "CNC-A1"}, "bad_request"),
    ({"action": "inject_fault", "machine": "CNC-A1", "fault": "gremlins"}, "unknown_fault"),
    ({"action": "inject_fault", "machine": "CNC-A1", "fault": "jam"}, "unknown_fault"),
    ({"action": "inject_fault", "machine": "CNC-A1", "fault": {"k": 1}}, "bad_request"),
    (OVERHEAT | {"duration_s": math.nan}, "bad_request"),
    (OVERHEAT | {"duration_s": math.inf}, "bad_request"),
    (OVERHEAT | {"duration_s": True}, "bad_request"),
    (OVERHEAT | {"duration_s": "60"}, "bad_request"),
    (OVERHEAT | {"duration_s": None}, "bad_request"),
    (OVERHEAT | {"duration_s": 0}, "bad_request"),
    (OVERHEAT | {"duration_s": 86401}, "bad_request"),
    (OVERHEAT | {"duration_s": 10**400}, "bad_request"),
    ({"action": "set_state", "machine": "CNC-A1"}, "bad_request"),
    ({"action": "set_state", "machine": "CNC-A1", "state": "FAULT"}, "bad_request"),
    ({"action": "set_state", "machine": "CNC-A1", "state": "running"}, "bad_request"),
    ({"action": "set_state", "machine": "CNC-A1", "state": 1}, "bad_request"),
]  # fmt: skip


@pytest.mark.parametrize(("msg", "code"), HOSTILE)
def test_control_errors(msg: object, code: str) -> None:
    sim = sim_at(8.0)
    before = sim.values.copy()
    with pytest.raises(ControlError) as err:
        sim.control(msg, 0.0)  # type: ignore[arg-type]  # a malformed control on purpose
    assert err.value.code == code
    assert 0 < len(err.value.message) < 300 and str(err.value) == err.value.message
    assert sim.fault_log == ()
    np.testing.assert_array_equal(sim.values, before)


def test_control_happy_paths() -> None:
    sim = sim_at(8.0)
    msg: Mapping[str, object] = {
        "action": "inject_fault",
        "machine": "CNC-A3",
        "fault": "bearing_wear",
    }
    assert sim.control(msg, 0) == "CNC-A3: bearing_wear started, FAULT E-BRG-101 in 900 s"
    msg = {"action": "inject_fault", "machine": "TNK-C1", "fault": "leak", "duration_s": 90.5}
    assert sim.control(msg, 0) == "TNK-C1: leak started, FAULT E-LEK-401 in 90.5 s"
    assert sim.fault_log[1].fault_at == sim.time + 90.5
    assert sim.control({"action": "clear_fault", "machine": "CNC-A3"}, 0).startswith("CNC-A3: ")
    for st in ("SETUP", "RUNNING", "IDLE", "MAINTENANCE", "LOCKED_OUT"):
        assert sim.control({"action": "set_state", "machine": "RBT-C1", "state": st}, 0)
        sim.step(sim.time + 0.5)
        assert state(sim, "RBT-C1") == st


# --- change mask and time ---------------------------------------------------------------------


def test_changed_mask_is_exactly_the_changed_cells() -> None:
    sim = sim_at(7.95, seed=8, fault_rate_per_hour=2.0)
    rng = np.random.default_rng(0)
    seen = np.zeros(sim.values.shape, dtype=np.bool_)
    for i in range(600):
        old, old_t = sim.values.copy(), sim.source_time.copy()
        dt = float(rng.choice([0.0, 0.001, 0.01, 0.1, 1.0, 5.0]))
        changed = sim.step(sim.time + dt)
        new = sim.values
        expect = (old != new) & ~(np.isnan(old) & np.isnan(new))
        np.testing.assert_array_equal(changed, expect)
        np.testing.assert_array_equal(sim.source_time[changed], sim.time)
        np.testing.assert_array_equal(sim.source_time[~changed], old_t[~changed])
        if dt == 0.0:
            assert not changed.any()
        seen |= changed
        if i == 100:
            sim.control({"action": "inject_fault", "machine": "AGV-S2", "fault": "jam"}, 0)
    present = ~np.isnan(sim.values)
    assert seen[present].mean() > 0.7
    assert not seen[~present].any()


def test_quantised_values_and_high_rate_deadband() -> None:
    sim = sim_at(8.0, seed=3)
    changes = np.zeros(sim.values.shape)
    for _ in range(1000):
        changes += sim.step(sim.time + 0.001)
    present = ~np.isnan(sim.values)
    assert changes[present].mean() < 0.2 * 1000  # 1 kHz: most cells do not change each tick
    for name, decimals in (("temperature_c", 1), ("vibration_mm_s", 2), ("spindle_rpm", 0)):
        x = col(sim, name)
        x = x[~np.isnan(x)]
        np.testing.assert_array_equal(x, np.round(x, decimals))


def test_time_never_goes_back() -> None:
    sim = sim_at(8.0)
    sim.step(sim.time + 10.0)
    before, t = sim.values.copy(), sim.time
    assert not sim.step(t - 5.0).any() and not sim.step(t).any()
    assert sim.time == t
    np.testing.assert_array_equal(sim.values, before)
    with pytest.raises(ValueError, match="finite"):
        sim.step(math.nan)


def test_constructor_rejects_bad_arguments() -> None:
    scene, t = demo(), MIDNIGHT
    bad: list[dict[str, object]] = [
        {"seed": -1},
        {"seed": True},
        {"seed": 1.5},
        {"start": math.nan},
        {"fault_rate_per_hour": -0.1},
        {"fault_rate_per_hour": math.inf},
        {"faults": [ScheduledFault("NOPE", "jam", t)]},
        {"faults": [ScheduledFault("CNC-A1", "jam", t)]},  # not a mill fault
        {"faults": [ScheduledFault("CNC-A1", "overheat", t - 1.0)]},
        {"faults": [ScheduledFault("CNC-A1", "overheat", t, 0.5)]},
    ]
    for kw in bad:
        kw.setdefault("start", t)
        with pytest.raises(ValueError):
            PlantSimulator(scene, **kw)  # type: ignore[arg-type]  # invalid options on purpose
    empty = Scene(Path("e.toml"), Plant("e"), {}, (), ())
    with pytest.raises(ValueError, match="no machines"):
        PlantSimulator(empty, start=t)
    # a fault at the start time starts at once; a jam ignores its duration
    jam = ScheduledFault("CNV-A1", "jam", t, 0.0)
    sim = PlantSimulator(scene, start=t, faults=[jam])
    assert state(sim, "CNV-A1") == "FAULT"


# --- scale ---------------------------------------------------------------------------------------


def test_two_thousand_machines_step_at_a_high_rate() -> None:
    """The large plant at 100 Hz: every step reports changes, values stay finite and counters
    never run backwards. (Step time is a figure for benchmarks, not a test.)"""
    sim = PlantSimulator(synthetic_scene(2000), start=MIDNIGHT + 8 * H, fault_rate_per_hour=0.05)
    counters = [COL[name] for name in ("cycle_count", "energy_kwh")]
    before = sim.values[:, counters].copy()
    changed = 0
    for _ in range(200):
        mask = sim.step(sim.time + 0.01)
        changed += int(mask.sum())
        present = ~np.isnan(sim.values)
        assert np.isfinite(sim.values[present]).all()
    after = sim.values[:, counters]
    known = ~np.isnan(before) & ~np.isnan(after)
    assert (after[known] >= before[known]).all()
    assert changed > 200 * 100  # many cells change every step at this scale
