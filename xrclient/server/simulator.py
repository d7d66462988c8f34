"""A deterministic plant simulator: the live state of every machine of a scene, as arrays.

:class:`PlantSimulator` is sans-I/O: it never reads a clock. ``step(now)`` advances it to
``now`` (epoch seconds) and returns which cells of ``values`` changed. Each machine follows
its type's profile (:mod:`xrclient.server.sim_profiles`): batches of RUNNING separated by
SETUP changeovers and short IDLE stops, IDLE off shift and in breaks, and FAULT when a
scripted fault (:mod:`xrclient.server.faults`) reaches it.

Determinism: the same scene, seed, start, step times and control messages give bit-identical
values. The machine states and the fault ground truth do not depend on the step times at all
(state changes happen at exact event times, drawn from per-machine counter-based random
streams); the continuous signals carry noise from one seeded generator drawn once per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from xrclient.core.twin_schema import StreamSchema
from xrclient.scene.model import Scene
from xrclient.server.faults import (
    FAULT_CODES,
    FAULT_INDEX,
    FAULT_KINDS,
    MAX_DURATION_S,
    MIN_DURATION_S,
    SETTABLE_STATES,
    ControlError,
    FaultEvent,
    FaultRecord,
    FaultSchedule,
    FaultSource,
    ScheduledFault,
    duration_arg,
    parse_control,
    severity,
    text_arg,
)
from xrclient.server.sim_profiles import (
    FAULT,
    IDLE,
    LOCKED_OUT,
    MAINTENANCE,
    PROPERTIES,
    PROPERTY_NAMES,
    RUNNING,
    SETUP,
    STATES,
    machine_params,
    staffing,
)

F64 = NDArray[np.float64]
_NORMAL, _OFF_SHIFT, _SHORT, _REPAIR = range(4)  # why an automatic phase began
_EPS = 1e-6
_MAX_ROUNDS = 100_000  # phase changes per machine within one step
_REPAIR_S = (120.0, 300.0)
_MECH_TAU_S = 1.5  # spin-up / spin-down
_NOISE_TAU_S = np.array([6.0, 30.0, 4.0, 4.0, 8.0, 10.0])  # load, temp, vib, power, process, speed
_STATE_KW = np.array([1.0, 1.0, 1.1, 0.6, 0.3, 0.0])  # idle power factor per state
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S11, _S27, _S30, _S31 = (np.uint64(k) for k in (11, 27, 30, 31))
_COL = {name: i for i, name in enumerate(PROPERTY_NAMES)}


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 finaliser: a bijective scramble of 64-bit counters."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _lerp(bounds: F64, u: F64) -> F64:
    return bounds[..., 0] + (bounds[..., 1] - bounds[..., 0]) * u


class PlantSimulator:
    """Simulated live state of the machines of ``scene`` (see the module docstring).

    Public state, updated in place by :meth:`step` (copy what you keep):

    * ``schema``: machines in scene order and every property of :data:`PROPERTIES`;
    * ``values``: float64 ``(machines, properties)``, encoded as ``twin_schema`` says, NaN
      where a machine's type lacks the property; string properties hold an index into
      ``strings[property]`` (see :meth:`text`);
    * ``source_time``: when each cell last changed (NaN where the property is absent).
    """

    def __init__(
        self,
        scene: Scene,
        *,
        seed: int = 0,
        start: float,
        fault_rate_per_hour: float = 0.01,
        faults: Sequence[ScheduledFault] = (),
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
        if not math.isfinite(start):
            raise ValueError(f"start must be finite, got {start!r}")
        rate = fault_rate_per_hour
        if not (math.isfinite(rate) and 0.0 <= rate <= 3600.0):
            raise ValueError(f"fault_rate_per_hour must be in [0, 3600], got {rate!r}")
        if not scene.machines:
            raise ValueError(f"{scene.source}: the scene has no machines to simulate")
        n = self.n_machines = len(scene.machines)
        self.schema = StreamSchema(
            tuple(m.id for m in scene.machines), tuple(spec for spec, _ in PROPERTIES)
        )
        self._t = float(start)
        init = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 1])))
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0])))
        p = self._p = machine_params(
            [m.type for m in scene.machines], [m.line for m in scene.machines], init
        )
        strings: list[tuple[str, ...]] = [()] * len(PROPERTIES)
        strings[_COL["program"]] = p.program_names
        strings[_COL["fault_code"]] = FAULT_CODES
        self.strings: tuple[tuple[str, ...], ...] = tuple(strings)
        self._nanmask = np.where(p.has, 1.0, np.nan)
        self._scale = np.array([10.0**d for _, d in PROPERTIES], dtype=np.float64)
        key = _mix(np.array([seed], dtype=np.uint64) * _GOLDEN)
        self._key = _mix(np.arange(n, dtype=np.uint64) * _GOLDEN + key)
        self._counter = np.zeros(n, dtype=np.uint64)

        # continuous state
        self._z = init.standard_normal((n, _NOISE_TAU_S.size))
        self._progress = init.random(n)
        self._cycles = np.floor(init.uniform(1e4, 2e5, n)) * p.counts_cycles
        self._scrap = np.floor(self._cycles * p.scrap_rate * init.uniform(0.8, 1.2, n)) * p.parts
        self._good = (self._cycles - self._scrap) * p.parts
        self._energy = init.uniform(1e4, 5e5, n) * p.run_kw / 20.0
        self._level = init.uniform(40.0, 80.0, n)
        self._refill = np.zeros(n, dtype=np.bool_)
        self._battery = init.uniform(50.0, 95.0, n)
        self._occupancy = init.uniform(40.0, 90.0, n)
        self._last_maint = np.floor(start - init.uniform(1.0, 90.0, n) * 86400.0)

        # discrete state: the automatic phase, manual overrides, faults
        self._phase = np.full(n, IDLE, dtype=np.int8)
        self._reason = np.zeros(n, dtype=np.int8)
        self._phase_start = np.full(n, self._t)
        self._phase_end = np.full(n, self._t)
        self._batch_left, self._setup_left = np.zeros(n), np.zeros(n)
        self._prog = p.first.copy()
        self._override = np.full(n, -1, dtype=np.int8)
        self._f_kind = np.full(n, -1, dtype=np.int8)
        self._f_start, self._f_at = np.zeros(n), np.zeros(n)
        self._f_rec = np.full(n, -1, dtype=np.intp)
        self._log: list[FaultRecord] = []
        kinds = [tuple(FAULT_INDEX[f] for f in fs) for fs in p.faults]
        self._schedule = FaultSchedule(seed, rate, kinds)
        # sorted by time; list order breaks ties
        self._explicit = sorted((self._check_fault(f) for f in faults), key=lambda e: e.at)
        self._next_explicit = 0
        self._initial_phases(init)

        state = self._effective(self._t)
        self._act = (state == RUNNING).astype(np.float64)
        self._temp = self._temperature_target(state, self._load(self._act, 0.0))
        self._ct_last = p.prog_ct[self._prog] * p.ct_scale
        self._ton_last = p.tonnage * p.prog_load[self._prog] / 100.0
        self._start_faults(self._t)
        self._out = np.empty(p.has.shape, dtype=np.float64)
        self._zeros = np.zeros(n)
        self._has_door = p.door_cycle | p.door_guard
        self.values = self._render(self._t, 0.0).copy()
        self.source_time = np.where(p.has, self._t, np.nan)

    # --- public API --------------------------------------------------------------------

    @property
    def time(self) -> float:
        """The simulator's current time (epoch seconds)."""
        return self._t

    @property
    def fault_log(self) -> tuple[FaultRecord, ...]:
        """Ground truth: every fault that started, in start order."""
        return tuple(self._log)

    def text(self, machine: int, prop: int) -> str | None:
        """The text of a string property's cell (None if absent or not a string)."""
        table, v = self.strings[prop], self.values[machine, prop]
        return table[int(v)] if table and math.isfinite(v) else None

    def machine_type(self, machine: int) -> str:
        """The scene type of a machine (its profile is the generic one if unknown)."""
        return self._p.types[machine]

    def step(self, now: float) -> NDArray[np.bool_]:
        """Advance to ``now``; return the ``(machines, properties)`` mask of changed cells.

        A ``now`` not after the current time changes nothing (all-False mask).
        """
        if not math.isfinite(now):
            raise ValueError(f"step time must be finite, got {now!r}")
        if now <= self._t:
            return np.zeros(self.values.shape, dtype=np.bool_)
        dt, t0 = now - self._t, self._t
        self._start_faults(now, t0)
        self._advance_phases(now)
        new = self._render(now, dt)
        changed: NDArray[np.bool_] = np.not_equal(new, self.values)
        changed &= self._p.has
        np.copyto(self.values, new)
        np.copyto(self.source_time, now, where=changed)
        self._t = now
        return changed

    def control(self, msg: Mapping[str, object], now: float) -> str:
        """Apply a control message (its ``type`` and ``id`` already removed); return a short
        result. Raises :class:`ControlError` for anything refused.

        It takes effect at the simulator's current time (that of the last :meth:`step`, which
        keeps every event in time order; ``now`` is the caller's clock and only informative),
        and the next :meth:`step` reports the cells it changed."""
        action, args = parse_control(msg)
        t = self._t
        if action == "reset":
            return self._reset(t)
        name = text_arg(args, "machine")
        m = self.schema.machine_index.get(name)
        if m is None:
            raise ControlError("unknown_machine", f"no machine {name!r}")
        if action == "inject_fault":
            return self._inject(m, args, t)
        if action == "clear_fault":
            return self._clear(m, t)
        return self._set_state(m, text_arg(args, "state"), t)

    # --- faults ------------------------------------------------------------------------

    def _check_fault(self, f: ScheduledFault) -> FaultEvent:
        m = self.schema.machine_index.get(f.machine)
        if m is None:
            raise ValueError(f"scheduled fault: no machine {f.machine!r}")
        try:
            kind = self._fault_kind(m, f.kind)
        except ControlError as exc:
            raise ValueError(f"scheduled fault: {exc.message}") from None
        if not (math.isfinite(f.at) and f.at >= self._t):
            raise ValueError(f"scheduled fault on {f.machine}: time {f.at!r} is before start")
        fk = FAULT_KINDS[kind]
        d = fk.default_duration_s if f.duration_s is None or fk.immediate else f.duration_s
        if not (fk.immediate or (math.isfinite(d) and MIN_DURATION_S <= d <= MAX_DURATION_S)):
            raise ValueError(f"scheduled fault on {f.machine}: duration {d!r} out of range")
        return FaultEvent(float(f.at), m, kind, float(d), "list")

    def _fault_kind(self, m: int, name: str) -> int:
        """The index of fault kind ``name`` if machine ``m`` can have it."""
        kind = FAULT_INDEX.get(name)
        if kind is None or FAULT_KINDS[kind].name not in self._p.faults[m]:
            what = f"unknown fault {name[:64]!r}" if kind is None else f"fault {name!r}"
            allowed = ", ".join(self._p.faults[m])
            where = f"{self.schema.machines[m]} ({self._p.types[m]} takes: {allowed})"
            raise ControlError("unknown_fault", f"{what} for {where}")
        return kind

    def _start_faults(self, now: float, t0: float | None = None) -> None:
        events = [] if t0 is None else self._schedule.due(t0, now)
        while self._next_explicit < len(self._explicit):
            e = self._explicit[self._next_explicit]
            if e.at > now:
                break
            events.append(e)
            self._next_explicit += 1
        for e in sorted(events, key=lambda e: e.at):
            self._start_fault(e.machine, e.kind, e.at, e.duration_s, e.source)

    def _start_fault(self, m: int, kind: int, at: float, duration: float, src: FaultSource) -> None:
        """Start a fault unless the machine has one already or is locked out."""
        if self._f_kind[m] >= 0 or self._override[m] == LOCKED_OUT:
            return
        fk = FAULT_KINDS[kind]
        fault_at = at if fk.immediate else at + duration
        self._f_kind[m], self._f_start[m], self._f_at[m] = kind, at, fault_at
        self._f_rec[m] = len(self._log)
        self._log.append(FaultRecord(self.schema.machines[m], fk.name, fk.code, at, fault_at, src))

    def _end_fault(self, m: int, t: float) -> None:
        rec = int(self._f_rec[m])
        self._log[rec] = replace(self._log[rec], cleared_at=t)
        self._f_kind[m], self._f_start[m], self._f_at[m], self._f_rec[m] = -1, 0.0, 0.0, -1

    def _reached(self, m: int, t: float) -> bool:
        return bool(self._f_kind[m] >= 0 and self._f_at[m] <= t)

    # --- controls ----------------------------------------------------------------------

    def _inject(self, m: int, args: Mapping[str, object], t: float) -> str:
        kind = self._fault_kind(m, text_arg(args, "fault"))
        fk = FAULT_KINDS[kind]
        duration = duration_arg(args, fk.default_duration_s)
        name = self.schema.machines[m]
        if self._override[m] == LOCKED_OUT:
            raise ControlError("invalid_state", f"{name} is LOCKED_OUT")
        if self._f_kind[m] >= 0:
            active = FAULT_KINDS[int(self._f_kind[m])].name
            raise ControlError("invalid_state", f"{name} already has an active fault ({active})")
        self._start_fault(m, kind, t, duration, "control")
        if fk.immediate:
            return f"{name}: {fk.name}, FAULT {fk.code} now"
        return f"{name}: {fk.name} started, FAULT {fk.code} in {duration:g} s"

    def _clear(self, m: int, t: float) -> str:
        name = self.schema.machines[m]
        if self._f_kind[m] < 0:
            raise ControlError("invalid_state", f"{name} has no active fault")
        kind = FAULT_KINDS[int(self._f_kind[m])].name
        self._end_fault(m, t)
        idx = np.array([m], dtype=np.intp)
        self._restart(idx, t, MAINTENANCE, _REPAIR)
        return f"{name}: {kind} cleared, MAINTENANCE for {self._phase_end[m] - t:.0f} s"

    def _set_state(self, m: int, state: str, t: float) -> str:
        name = self.schema.machines[m]
        if state not in SETTABLE_STATES:
            allowed = ", ".join(SETTABLE_STATES)
            raise ControlError("bad_request", f"state {state!r} cannot be set (allowed: {allowed})")
        code = STATES.index(state)
        if code in (MAINTENANCE, LOCKED_OUT):
            self._override[m] = code
            return f"{name}: {state} until another set_state"
        if self._reached(m, t):
            raise ControlError("invalid_state", f"{name} is in FAULT; clear_fault first")
        if self._override[m] == MAINTENANCE:
            self._last_maint[m] = math.floor(t)
        self._override[m] = -1
        self._restart(np.array([m], dtype=np.intp), t, code, _SHORT if code == IDLE else _NORMAL)
        return f"{name}: {state}"

    def _reset(self, t: float) -> str:
        cleared = 0
        for m in np.flatnonzero(self._f_kind >= 0).tolist():
            self._end_fault(m, t)
            cleared += 1
        released = int(np.count_nonzero(self._override >= 0))
        self._override[:] = -1
        idx = np.arange(self.n_machines, dtype=np.intp)
        self._restart(idx, t, IDLE, _SHORT)
        return f"reset: {cleared} faults cleared, {released} machines released"

    # --- automatic phases --------------------------------------------------------------

    def _draws(self, idx: NDArray[np.intp], k: int) -> F64:
        """``k`` uniforms per machine of ``idx`` from its own counter; bumps the counters."""
        c = self._counter[idx] * _GOLDEN
        out = np.empty((k, idx.size))
        for j in range(k):
            x = _mix(self._key[idx] ^ (c + np.uint64(j)))
            out[j] = (x >> _S11).astype(np.float64) * 2.0**-53
        self._counter[idx] += np.uint64(1)
        return out

    def _initial_phases(self, init: np.random.Generator) -> None:
        p, n = self._p, self.n_machines
        u = init.random((4, n))
        staffed, _ = staffing(np.full(n, self._t), p.crew)
        self._prog = p.first + np.minimum((u[0] * p.count).astype(np.intp), p.count - 1)
        self._batch_left = _lerp(p.batch_s, u[1]) * u[2]
        self._setup_left = _lerp(p.setup_s, u[1]) * u[2]
        run = (u[3] < 0.7) | ((u[3] < 0.8) & ~p.has_setup)
        phase = np.where(staffed, np.where(run, RUNNING, np.where(u[3] < 0.8, SETUP, IDLE)), IDLE)
        reason = np.where(staffed, np.where(phase == IDLE, _SHORT, _NORMAL), _OFF_SHIFT)
        idx = np.arange(n, dtype=np.intp)
        self._begin(idx, np.full(n, self._t), phase.astype(np.int8), reason.astype(np.int8))

    def _restart(self, idx: NDArray[np.intp], t: float, phase: int, reason: int) -> None:
        """End the machines' current automatic phase at ``t`` and begin ``phase``."""
        tt = np.full(idx.size, t)
        self._close(idx, tt)
        k = idx.size
        self._begin(idx, tt, np.full(k, phase, dtype=np.int8), np.full(k, reason, dtype=np.int8))

    def _close(self, idx: NDArray[np.intp], t: F64) -> None:
        prev = self._phase[idx]
        elapsed = np.minimum(t, self._phase_end[idx]) - self._phase_start[idx]
        self._batch_left[idx] -= np.where(prev == RUNNING, elapsed, 0.0)
        self._setup_left[idx] -= np.where(prev == SETUP, elapsed, 0.0)
        repaired = (prev == MAINTENANCE) & (self._reason[idx] == _REPAIR)
        self._last_maint[idx[repaired]] = np.floor(t[repaired])

    def _begin(
        self, idx: NDArray[np.intp], t: F64, phase: NDArray[np.int8], reason: NDArray[np.int8]
    ) -> None:
        """Begin ``phase`` at ``t`` for machines ``idx``: draw its duration (a new batch,
        changeover and program where needed), cut short where the shift ends."""
        p = self._p
        u = self._draws(idx, 3)
        staffed, change = staffing(t, p.crew[idx])
        until_off = np.where(staffed, change - t, np.inf)
        run, setup = phase == RUNNING, phase == SETUP
        new_batch = run & (self._batch_left[idx] <= _EPS)
        self._batch_left[idx[new_batch]] = _lerp(p.batch_s[idx], u[0])[new_batch]
        new_setup = setup & (self._setup_left[idx] <= _EPS)
        self._setup_left[idx[new_setup]] = _lerp(p.setup_s[idx], u[0])[new_setup]
        # a new changeover loads another of the type's programs
        count, first, prog = p.count[idx], p.first[idx], self._prog[idx]
        skip = 1 + np.minimum((u[2] * (count - 1)).astype(np.intp), np.maximum(count - 2, 0))
        self._prog[idx] = np.where(new_setup, first + (prog - first + skip) % count, prog)
        stop = -p.stop_mean[idx] * np.log1p(-u[1])
        dur = np.select(
            [run, setup, reason == _OFF_SHIFT, reason == _REPAIR],
            [
                np.minimum(np.minimum(self._batch_left[idx], stop), until_off),
                np.minimum(self._setup_left[idx], until_off),
                change - t,
                _REPAIR_S[0] + (_REPAIR_S[1] - _REPAIR_S[0]) * u[0],
            ],
            _lerp(p.stop_s[idx], u[0]),
        )
        self._phase[idx], self._reason[idx] = phase, reason
        self._phase_start[idx] = t
        self._phase_end[idx] = t + np.maximum(dur, 1e-3)

    def _advance_phases(self, now: float) -> None:
        """Run every automatic phase change due by ``now``, each at its own time."""
        p = self._p
        for _ in range(_MAX_ROUNDS):
            end = self._phase_end
            # frozen while overridden or once a fault has stopped the machine
            faulted = (self._f_kind >= 0) & (self._f_at <= end)
            due = np.flatnonzero((end <= now) & (self._override < 0) & ~faulted)
            if due.size == 0:
                return
            te = self._phase_end[due]
            self._close(due, te)
            staffed, _ = staffing(te, p.crew[due])
            prev = self._phase[due]
            more_batch = (self._batch_left[due] > _EPS) | ~p.has_setup[due]
            new = np.select(
                [~staffed, prev == RUNNING, prev == SETUP, prev == IDLE],
                [
                    IDLE,
                    np.where(more_batch, IDLE, SETUP),
                    np.where(self._setup_left[due] > _EPS, SETUP, RUNNING),
                    np.where(more_batch, RUNNING, SETUP),
                ],
                IDLE,
            ).astype(np.int8)
            reason = np.where(~staffed, _OFF_SHIFT, np.where(new == IDLE, _SHORT, _NORMAL))
            self._begin(due, te, new, reason.astype(np.int8))

    # --- signals -----------------------------------------------------------------------

    def _effective(self, now: float) -> NDArray[np.int8]:
        """The shown state: an override, else FAULT once reached, else the automatic phase."""
        reached = (self._f_kind >= 0) & (self._f_at <= now)
        auto = np.where(reached, np.int8(FAULT), self._phase)
        return np.where(self._override >= 0, self._override, auto).astype(np.int8)

    def _load(self, act: F64, bearing: F64 | float) -> F64:
        nominal = self._p.prog_load[self._prog]
        return act * nominal * (1.0 + 0.05 * self._z[:, 0]) * (1.0 + 0.1 * bearing)

    def _temperature_target(self, state: NDArray[np.int8], load: F64) -> F64:
        p = self._p
        powered = state != LOCKED_OUT
        machine = p.ambient + p.rise * (0.1 * powered + 0.9 * load / 100.0)
        return np.where(p.regulated & powered, p.setpoint, machine)

    def _complete(self, done: F64, ct: F64, bearing: F64, leak: F64) -> None:
        """Count finished cycles: parts (scrap more likely with worn bearings), the measured
        cycle time, the press's peak tonnage, rack moves."""
        idx = np.flatnonzero(done)
        if idx.size == 0:
            return
        p, k = self._p, done[idx]
        self._cycles[idx] += k
        rate = np.clip(p.scrap_rate[idx] * (1.0 + 8.0 * bearing[idx]), 0.0, 1.0)
        scrap = self._rng.binomial(k.astype(np.int64), rate) * p.parts[idx]
        self._scrap[idx] += scrap
        self._good[idx] += (k - scrap) * p.parts[idx]
        eps = self._rng.standard_normal(idx.size)
        self._ct_last[idx] = ct[idx] * (1.0 + 0.01 * eps)
        nominal = p.tonnage[idx] * p.prog_load[self._prog[idx]] / 100.0
        self._ton_last[idx] = nominal * (1.0 + 0.02 * eps) * (1.0 - 0.3 * leak[idx])
        occ = self._occupancy[idx]
        put = self._rng.random(idx.size) < 0.5 + (70.0 - occ) / 200.0
        moved = np.where(put, 1.0, -1.0) * p.occ_step[idx] * k
        self._occupancy[idx] = np.clip(occ + moved, 0.0, 100.0)

    def _render(self, now: float, dt: float) -> F64:
        """Advance the continuous signals by ``dt`` and return the quantised value matrix
        (a buffer reused by the next call)."""
        p, z = self._p, self._z
        state = self._effective(now)
        run = state == RUNNING
        powered = state != LOCKED_OUT
        working = state <= SETUP  # RUNNING, IDLE, SETUP: auxiliaries on
        faulty = self._f_kind >= 0
        if faulty.any():
            bearing, overheat, leak, heat = severity(self._f_kind, self._f_start, self._f_at, now)
            ct = p.prog_ct[self._prog] * p.ct_scale * (1.0 + 0.25 * bearing)
        else:
            bearing = overheat = leak = heat = self._zeros
            ct = p.prog_ct[self._prog] * p.ct_scale
        if dt > 0.0:
            z *= np.exp(-dt / _NOISE_TAU_S)
            z += np.sqrt(-np.expm1(-2.0 * dt / _NOISE_TAU_S)) * self._rng.standard_normal(z.shape)
            self._progress += np.where(run & p.counts_cycles, dt / ct, 0.0)
            done = np.floor(self._progress)
            self._progress -= done
            self._complete(done, ct, bearing, leak)
        loading = p.door_cycle & run & (self._progress * ct < p.load_s)
        target = (run & ~loading).astype(np.float64)
        if dt > 0.0:
            self._act = target + (self._act - target) * math.exp(-dt / _MECH_TAU_S)
        act = self._act
        load = np.minimum(self._load(act, bearing) + 3.0 * (state == SETUP), 100.0)
        np.maximum(load, 0.0, out=load)
        mix = (0.3 * act + 0.7 * load / 100.0) * (1.0 + 0.1 * bearing + 0.2 * overheat)
        power = p.idle_kw * _STATE_KW[state] + (p.run_kw - p.idle_kw) * mix
        power = np.where(powered, np.maximum(power * (1.0 + 0.015 * z[:, 3]), 0.0), 0.0)
        flow = np.maximum(p.flow * act * (1.0 + 0.02 * z[:, 4]) * (1.0 - 0.3 * leak), 0.0)
        if dt > 0.0:
            target_c = self._temperature_target(state, load)
            self._temp = target_c + (self._temp - target_c) * np.exp(-dt / p.tau_th)
            self._energy += power * (dt / 3600.0)
            self._refill = (self._level < 30.0) | (self._refill & (self._level < 85.0))
            inflow = np.where(self._refill & working, 1.7 * p.flow, 0.0)
            net = inflow - flow - 0.5 * p.flow * leak  # L/min
            self._level = np.minimum(self._level + net * (dt / 0.6) / p.capacity, 100.0)
            np.maximum(self._level, 0.0, out=self._level)
            # drains while running, charges towards full (slowing down) while idle
            drain = np.maximum(self._battery - p.battery[:, 0] * (0.4 + 0.6 * act) * dt, 0.0)
            charged = 100.0 - (100.0 - self._battery) * np.exp(-dt / p.battery[:, 1])
            self._battery = np.where(run, drain, np.where(state == IDLE, charged, self._battery))
        wear = p.vib_run * (1.0 + 0.05 * z[:, 2]) * (1.0 + 3.5 * bearing) + 0.6 * bearing
        vibration = np.where(working, p.vib_floor, 0.0) + act * np.maximum(wear, 0.0)
        pr = p.pressure
        pressure = np.where(working, pr[:, 0] + (pr[:, 1] - pr[:, 0]) * act, 0.0)
        pressure = pressure * (1.0 - 0.6 * leak) * (1.0 + 0.01 * z[:, 4])
        pressure = np.maximum(pressure, 0.0) + pr[:, 2] * self._level / 100.0
        open_door = (state == SETUP) | (state == MAINTENANCE) | (state == LOCKED_OUT)
        reached = faulty & (self._f_at <= now)

        out = self._out
        c = _COL
        out[:, c["state"]] = state
        out[:, c["program"]] = self._prog
        out[:, c["spindle_rpm"]] = p.prog_rpm[self._prog] * act * (1.0 + 0.0008 * z[:, 5])
        out[:, c["load_pct"]] = load
        out[:, c["temperature_c"]] = self._temp + heat + 0.1 * z[:, 1]
        out[:, c["vibration_mm_s"]] = vibration
        out[:, c["power_kw"]] = power
        out[:, c["energy_kwh"]] = self._energy
        out[:, c["cycle_count"]] = self._cycles
        out[:, c["parts_good"]] = self._good
        out[:, c["parts_scrap"]] = self._scrap
        out[:, c["cycle_time_s"]] = self._ct_last
        out[:, c["pressure_bar"]] = pressure
        out[:, c["tonnage_t"]] = self._ton_last
        out[:, c["level_pct"]] = self._level
        out[:, c["flow_l_min"]] = flow
        out[:, c["belt_speed_m_s"]] = p.belt * act * (1.0 + 0.004 * z[:, 5])
        out[:, c["speed_m_s"]] = np.maximum(p.speed * act * (1.0 + 0.12 * z[:, 5]), 0.0)
        out[:, c["battery_pct"]] = self._battery
        out[:, c["occupancy_pct"]] = self._occupancy
        out[:, c["door_open"]] = (loading | open_door) & self._has_door
        out[:, c["fault_code"]] = np.where(reached, self._f_kind + 1, 0)
        out[:, c["last_maintenance"]] = self._last_maint
        out *= self._scale
        np.rint(out, out=out)
        out /= self._scale
        out *= self._nanmask
        out += 0.0  # no negative zeros
        return out
