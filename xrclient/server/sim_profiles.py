"""What the plant simulator knows about machine types: signals, parameters, programs, shifts.

Every machine type of the scene format's sample plant has a :class:`MachineProfile` naming
the properties it reports and the parameters of its behaviour; a type the simulator does not
know gets :data:`GENERIC`. The stream's schema is the union of all profiles' properties
(:data:`PROPERTIES`, each with the resolution its values are rounded to).

The shift calendar is three shifts a day (06-14, 14-22, 22-06 UTC) with a 30-minute break in
each; only the machines with a night crew run at night.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from xrclient.core.twin_schema import PropertySpec

# machine states, in the order of the ``state`` enum
RUNNING, IDLE, SETUP, FAULT, MAINTENANCE, LOCKED_OUT = range(6)
STATES: tuple[str, ...] = ("RUNNING", "IDLE", "SETUP", "FAULT", "MAINTENANCE", "LOCKED_OUT")

#: every property of the stream with the number of decimals its values are rounded to
PROPERTIES: tuple[tuple[PropertySpec, int], ...] = (
    (PropertySpec("state", "enum", values=STATES), 0),
    (PropertySpec("program", "string"), 0),
    (PropertySpec("spindle_rpm", "number", "rpm"), 0),
    (PropertySpec("load_pct", "number", "%"), 1),
    (PropertySpec("temperature_c", "number", "°C"), 1),
    (PropertySpec("vibration_mm_s", "number", "mm/s"), 2),
    (PropertySpec("power_kw", "number", "kW"), 2),
    (PropertySpec("energy_kwh", "number", "kWh"), 2),
    (PropertySpec("cycle_count", "number"), 0),
    (PropertySpec("parts_good", "number"), 0),
    (PropertySpec("parts_scrap", "number"), 0),
    (PropertySpec("cycle_time_s", "number", "s"), 1),
    (PropertySpec("pressure_bar", "number", "bar"), 1),
    (PropertySpec("tonnage_t", "number", "t"), 1),
    (PropertySpec("level_pct", "number", "%"), 1),
    (PropertySpec("flow_l_min", "number", "L/min"), 1),
    (PropertySpec("belt_speed_m_s", "number", "m/s"), 2),
    (PropertySpec("speed_m_s", "number", "m/s"), 2),
    (PropertySpec("battery_pct", "number", "%"), 1),
    (PropertySpec("occupancy_pct", "number", "%"), 1),
    (PropertySpec("door_open", "bool"), 0),
    (PropertySpec("fault_code", "string"), 0),
    (PropertySpec("last_maintenance", "time"), 0),
)
PROPERTY_NAMES: tuple[str, ...] = tuple(spec.name for spec, _ in PROPERTIES)

_COMMON = frozenset({"state", "power_kw", "energy_kwh", "fault_code", "last_maintenance"})
_MACHINING = _COMMON | {
    "program",
    "spindle_rpm",
    "load_pct",
    "temperature_c",
    "vibration_mm_s",
    "cycle_count",
    "parts_good",
    "parts_scrap",
    "cycle_time_s",
    "door_open",
}

DoorMode = Literal["none", "cycle", "guard"]


@dataclass(frozen=True, slots=True)
class Program:
    """A part program (machine tools, robots) or die set (presses)."""

    name: str
    cycle_time_s: float
    load_pct: float
    rpm: float = 0.0


@dataclass(frozen=True, slots=True)
class MachineProfile:
    """How one machine type behaves; per-machine values vary around these by a few percent."""

    type: str
    properties: frozenset[str]
    faults: tuple[str, ...]
    idle_kw: float
    run_kw: float
    programs: tuple[Program, ...] = ()  # empty: one unnamed program from the fields below
    cycle_time_s: float = float("inf")  # inf: the type counts no cycles
    load_pct: float = 50.0
    temp_rise_c: float = 20.0  # above ambient at full load
    thermal_tau_s: float = 900.0
    temp_setpoint_c: float = float("nan")  # regulated temperature (tanks), NaN: none
    vib_floor: float = 0.1  # mm/s RMS while powered and not moving
    vib_run: float = 1.0  # mm/s RMS at full motion
    batch_s: tuple[float, float] = (1800.0, 5400.0)  # running time per batch
    setup_s: tuple[float, float] = (0.0, 0.0)  # changeover between batches; 0: none
    stop_s: tuple[float, float] = (60.0, 360.0)  # short stops (waiting for material ...)
    stop_mean_s: float = 2400.0  # mean running time between short stops
    door: DoorMode = "none"
    load_s: float = 0.0  # door-open part change at the start of each cycle
    scrap_rate: float = 0.0
    pressure_bar: tuple[float, float, float] = (0.0, 0.0, 0.0)  # powered, running, per level
    flow_l_min: float = 0.0
    capacity_l: float = 1.0
    belt_m_s: float = 0.0
    speed_m_s: float = 0.0
    tonnage_t: float = 0.0
    battery: tuple[float, float] = (0.0, 1.0)  # %/s drain running, charge time constant idle
    occupancy_step_pct: float = 0.0

    @property
    def has_setup(self) -> bool:
        return self.setup_s[1] > 0.0


PROFILES: dict[str, MachineProfile] = {
    p.type: p
    for p in (
        MachineProfile(
            "cnc_mill",
            _MACHINING,
            ("bearing_wear", "overheat"),
            idle_kw=3.5,
            run_kw=22.0,
            programs=(
                Program("HSG-200-OP10", 420.0, 62.0, 8000.0),
                Program("HSG-200-OP20", 300.0, 48.0, 10000.0),
                Program("BRK-45-OP10", 540.0, 70.0, 6000.0),
                Program("PLT-12-FACE", 180.0, 40.0, 12000.0),
            ),
            temp_rise_c=28.0,
            vib_floor=0.2,
            vib_run=1.1,
            batch_s=(1800.0, 7200.0),
            setup_s=(600.0, 1800.0),
            door="cycle",
            load_s=12.0,
            scrap_rate=0.01,
        ),
        MachineProfile(
            "lathe",
            _MACHINING,
            ("bearing_wear", "overheat"),
            idle_kw=2.5,
            run_kw=15.0,
            programs=(
                Program("SHF-30-TURN", 150.0, 55.0, 2200.0),
                Program("SHF-30-THRD", 90.0, 40.0, 900.0),
                Program("FLG-80-BORE", 240.0, 65.0, 1400.0),
            ),
            temp_rise_c=24.0,
            vib_floor=0.2,
            vib_run=1.4,
            batch_s=(1200.0, 5400.0),
            setup_s=(600.0, 1200.0),
            door="cycle",
            load_s=10.0,
            scrap_rate=0.012,
        ),
        MachineProfile(
            "press",
            (_MACHINING - {"spindle_rpm"}) | {"pressure_bar", "tonnage_t"},
            ("bearing_wear", "overheat", "jam", "leak"),
            idle_kw=8.0,
            run_kw=55.0,
            programs=(
                Program("DIE-BRKT-A", 4.0, 70.0),
                Program("DIE-PNL-B", 6.0, 85.0),
                Program("DIE-CLIP-C", 2.5, 45.0),
            ),
            temp_rise_c=30.0,
            thermal_tau_s=1800.0,
            vib_floor=0.4,
            vib_run=2.8,
            setup_s=(900.0, 2400.0),
            door="guard",
            scrap_rate=0.005,
            pressure_bar=(35.0, 210.0, 0.0),
            tonnage_t=250.0,
        ),
        MachineProfile(
            "robot_cell",
            _MACHINING - {"spindle_rpm"},
            ("bearing_wear", "overheat", "jam"),
            idle_kw=1.2,
            run_kw=6.0,
            programs=(
                Program("WELD-FRAME-01", 75.0, 55.0),
                Program("PICK-PLACE-02", 18.0, 35.0),
                Program("GLUE-PNL-03", 45.0, 40.0),
            ),
            temp_rise_c=18.0,
            thermal_tau_s=600.0,
            vib_run=0.6,
            batch_s=(3600.0, 10800.0),
            setup_s=(300.0, 900.0),
            door="guard",
            scrap_rate=0.004,
        ),
        MachineProfile(
            "conveyor",
            _COMMON | {"load_pct", "temperature_c", "vibration_mm_s", "belt_speed_m_s"},
            ("bearing_wear", "overheat", "jam"),
            idle_kw=0.15,
            run_kw=1.1,
            thermal_tau_s=600.0,
            vib_run=1.2,
            batch_s=(3600.0, 14400.0),
            belt_m_s=0.5,
        ),
        MachineProfile(
            "storage_rack",
            _COMMON | {"load_pct", "cycle_count", "occupancy_pct"},
            ("jam",),
            idle_kw=0.4,
            run_kw=4.0,
            cycle_time_s=90.0,
            load_pct=45.0,
            batch_s=(900.0, 2700.0),
            occupancy_step_pct=100.0 / 480.0,
        ),
        MachineProfile(
            "tank",
            _COMMON
            | {"temperature_c", "vibration_mm_s", "pressure_bar", "level_pct", "flow_l_min"},
            ("bearing_wear", "overheat", "leak"),
            idle_kw=0.3,
            run_kw=7.5,
            thermal_tau_s=3600.0,
            temp_setpoint_c=38.0,
            vib_run=1.8,
            pressure_bar=(0.0, 3.5, 0.3),
            flow_l_min=180.0,
            capacity_l=8000.0,
        ),
        MachineProfile(
            "agv",
            _COMMON | {"load_pct", "temperature_c", "cycle_count", "speed_m_s", "battery_pct"},
            ("overheat", "jam"),
            idle_kw=0.2,
            run_kw=1.8,
            cycle_time_s=240.0,
            load_pct=60.0,
            temp_rise_c=12.0,
            thermal_tau_s=600.0,
            batch_s=(1200.0, 2400.0),
            stop_s=(300.0, 900.0),
            speed_m_s=1.2,
            battery=(100.0 / (4 * 3600.0), 3600.0),
        ),
    )
}

GENERIC = MachineProfile(
    "generic",
    _COMMON | {"load_pct", "temperature_c", "vibration_mm_s"},
    ("bearing_wear", "overheat"),
    idle_kw=1.0,
    run_kw=5.0,
)


def profile(machine_type: str) -> MachineProfile:
    """The profile of a machine type; :data:`GENERIC` for types the simulator does not know."""
    return PROFILES.get(machine_type, GENERIC)


# --- shift calendar ------------------------------------------------------------------------

DAY_S = 86400.0
_H = 3600.0
# segments of a day (UTC): night, break, night, day, break, day, break, day, night
_BOUNDS = np.array([0, 2, 2.5, 6, 10, 10.5, 18, 18.5, 22, 24], dtype=np.float64) * _H
_STAFFED = np.array(
    [
        [0, 0, 0, 1, 0, 1, 0, 1, 0],  # no night crew
        [1, 0, 1, 1, 0, 1, 0, 1, 1],  # night crew
    ],
    dtype=np.bool_,
)


def _run_ends() -> NDArray[np.float64]:
    """For each (crew, segment): the time of day the run of equal staffing ends (may wrap)."""
    n = len(_BOUNDS) - 1
    ends = np.zeros((2, n), dtype=np.float64)
    for crew in range(2):
        for seg in range(n):
            j, offset = seg, 0.0
            while True:
                j += 1
                if j == n:
                    j, offset = 0, offset + DAY_S
                if _STAFFED[crew, j] != _STAFFED[crew, seg] or offset > DAY_S:
                    break
            ends[crew, seg] = _BOUNDS[j] + offset
    return ends


_RUN_ENDS = _run_ends()


def staffing(
    t: NDArray[np.float64], crew: NDArray[np.bool_]
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Whether each machine is staffed at ``t`` and when that next changes (epoch seconds)."""
    tod = np.mod(t, DAY_S)
    seg = np.searchsorted(_BOUNDS[1:-1], tod, side="right")
    c = crew.astype(np.intp)
    return _STAFFED[c, seg], (t - tod) + _RUN_ENDS[c, seg]


# --- per-machine parameters ----------------------------------------------------------------

I64 = NDArray[np.intp]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class MachineParams:
    """Every machine's profile parameters as arrays (one row per machine, scene order).

    Programs of all types share one table (``prog_*``); machine ``m`` uses rows
    ``first[m] .. first[m] + count[m] - 1``. Named programs come first, in ``program_names``
    order, so a row index is also the ``program`` string index.
    """

    types: tuple[str, ...]
    faults: tuple[tuple[str, ...], ...]
    has: B  # (machines, properties): the type reports the property
    program_names: tuple[str, ...]
    prog_ct: F64
    prog_load: F64
    prog_rpm: F64
    first: I64
    count: I64
    counts_cycles: B
    parts: B
    crew: B  # runs at night
    idle_kw: F64
    run_kw: F64
    rise: F64
    ambient: F64
    tau_th: F64
    regulated: B
    setpoint: F64
    vib_floor: F64
    vib_run: F64
    ct_scale: F64
    stop_mean: F64
    load_s: F64
    scrap_rate: F64
    flow: F64
    capacity: F64
    belt: F64
    speed: F64
    tonnage: F64
    occ_step: F64
    batch_s: F64  # (machines, 2)
    setup_s: F64  # (machines, 2)
    stop_s: F64  # (machines, 2)
    pressure: F64  # (machines, 3)
    battery: F64  # (machines, 2)
    has_setup: B
    door_cycle: B
    door_guard: B


def machine_params(
    types: Sequence[str], lines: Sequence[str], rng: np.random.Generator
) -> MachineParams:
    """Parameters of machines of ``types`` on ``lines``, varied by a few percent with ``rng``.

    Half the lines (rounded up, chosen with ``rng``) have a night crew, which runs 85% of
    their machines at night.
    """
    n = len(types)
    kinds = list(dict.fromkeys(types))
    profs = [profile(t) for t in kinds]
    tix = np.array([kinds.index(t) for t in types], dtype=np.intp).reshape(n)

    def per_type(field: str) -> F64:
        rows = np.array([getattr(p, field) for p in profs], dtype=np.float64)
        return rows[tix]

    def flag(test: Callable[[MachineProfile], bool]) -> B:
        return np.array([test(p) for p in profs], dtype=np.bool_)[tix]

    rows: list[Program] = [q for p in profs for q in p.programs]
    names = tuple(q.name for q in rows)
    first, count = [], []
    for p in profs:
        first.append(len(rows) if not p.programs else names.index(p.programs[0].name))
        count.append(max(1, len(p.programs)))
        if not p.programs:
            rows.append(Program("", p.cycle_time_s, p.load_pct))
    ct = np.array([q.cycle_time_s for q in rows], dtype=np.float64)
    p0 = np.array(first, dtype=np.intp)[tix]
    has = np.array(
        [[nm in p.properties for nm in PROPERTY_NAMES] for p in profs], dtype=np.bool_
    ).reshape(len(profs), len(PROPERTY_NAMES))[tix]

    kw = rng.uniform(0.9, 1.1, n)
    vib = rng.uniform(0.85, 1.15, n)
    motion = rng.uniform(0.8, 1.2, n)
    setpoint = per_type("temp_setpoint_c")
    line_ids = list(dict.fromkeys(lines))
    crewed = set(rng.permutation(len(line_ids))[: (len(line_ids) + 1) // 2].tolist())
    line_crew = np.array([line_ids.index(x) in crewed for x in lines], dtype=np.bool_)
    setup_s = per_type("setup_s")
    return MachineParams(
        types=tuple(types),
        faults=tuple(profs[i].faults for i in tix.tolist()),
        has=has,
        program_names=names,
        prog_ct=np.where(np.isfinite(ct), ct, 1.0),
        prog_load=np.array([q.load_pct for q in rows], dtype=np.float64),
        prog_rpm=np.array([q.rpm for q in rows], dtype=np.float64),
        first=p0,
        count=np.array(count, dtype=np.intp)[tix],
        counts_cycles=np.isfinite(ct)[p0],
        parts=has[:, PROPERTY_NAMES.index("parts_good")],
        crew=line_crew.reshape(n) & (rng.random(n) < 0.85),
        idle_kw=per_type("idle_kw") * kw,
        run_kw=per_type("run_kw") * kw,
        rise=per_type("temp_rise_c") * rng.uniform(0.9, 1.1, n),
        ambient=21.0 + rng.uniform(-1.0, 1.5, n),
        tau_th=per_type("thermal_tau_s"),
        regulated=np.isfinite(setpoint),
        setpoint=np.where(np.isfinite(setpoint), setpoint, 0.0),
        vib_floor=per_type("vib_floor") * vib,
        vib_run=per_type("vib_run") * vib,
        ct_scale=rng.uniform(0.97, 1.03, n),
        stop_mean=per_type("stop_mean_s"),
        load_s=per_type("load_s"),
        scrap_rate=per_type("scrap_rate"),
        flow=per_type("flow_l_min"),
        capacity=per_type("capacity_l"),
        belt=per_type("belt_m_s") * motion,
        speed=per_type("speed_m_s") * motion,
        tonnage=per_type("tonnage_t"),
        occ_step=per_type("occupancy_step_pct"),
        batch_s=per_type("batch_s"),
        setup_s=setup_s,
        stop_s=per_type("stop_s"),
        pressure=per_type("pressure_bar"),
        battery=per_type("battery"),
        has_setup=setup_s[:, 1] > 0.0,
        door_cycle=flag(lambda p: p.door == "cycle"),
        door_guard=flag(lambda p: p.door == "guard"),
    )
