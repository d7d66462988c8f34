"""Scripted faults of the plant simulator: kinds, schedules and the ground-truth record.

A fault *starts* at some time and *reaches FAULT* ``duration`` seconds later (immediately for
a jam). In between it develops: vibration, temperature, level or pressure drift away from
normal while the machine keeps its ordinary state, which is what an anomaly detector should
notice. Once reached, the machine stops in state ``FAULT`` with the kind's fault code until a
``clear_fault`` control message.

Faults come from a seeded random schedule (a Poisson process per machine, generated one
hour at a time from the seed alone, so it does not depend on the tick rate), from an
explicit list of :class:`ScheduledFault`, and from ``inject_fault`` control messages. Every
fault that starts is logged as a :class:`FaultRecord`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

FaultSource = Literal["schedule", "list", "control"]


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    code: str  # the ``fault_code`` shown once the machine is in FAULT
    default_duration_s: float  # inject_fault without ``duration_s``
    schedule_duration_s: tuple[float, float]  # range for scheduled faults
    immediate: bool = False  # reaches FAULT when it starts; durations do not apply


FAULT_KINDS: tuple[FaultKind, ...] = (
    FaultKind("bearing_wear", "E-BRG-101", 900.0, (1800.0, 14400.0)),
    FaultKind("overheat", "E-TMP-201", 240.0, (300.0, 1200.0)),
    FaultKind("jam", "E-JAM-301", 0.0, (0.0, 0.0), immediate=True),
    FaultKind("leak", "E-LEK-401", 600.0, (600.0, 3600.0)),
)
FAULT_INDEX: dict[str, int] = {k.name: i for i, k in enumerate(FAULT_KINDS)}
BEARING_WEAR, OVERHEAT, JAM, LEAK = (
    FAULT_INDEX[n] for n in ("bearing_wear", "overheat", "jam", "leak")
)
#: ``fault_code`` strings; index 0 is "" (no fault), index ``k + 1`` the code of kind ``k``
FAULT_CODES: tuple[str, ...] = ("", *(k.code for k in FAULT_KINDS))
MIN_DURATION_S = 1.0
MAX_DURATION_S = 86400.0


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A fault to start at ``at`` (epoch seconds) on ``machine``; ``duration_s`` defaults to
    the kind's default."""

    machine: str
    kind: str
    at: float
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """Ground truth of one fault: when it started, when it reaches (or reached) FAULT, and when
    it was cleared (None while active). A fault cleared before ``fault_at`` never reached it."""

    machine: str
    kind: str
    code: str
    start: float
    fault_at: float
    source: FaultSource
    cleared_at: float | None = None


class ControlError(Exception):
    """A control message the simulator refuses; ``code`` is the wire error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One fault due to start, as the simulator consumes them (machine by index)."""

    at: float
    machine: int
    kind: int
    duration_s: float
    source: FaultSource


_BLOCK_S = 3600.0
_STREAM = 0x5FA17  # keeps the schedule's random stream apart from the simulator's others


class FaultSchedule:
    """The seeded random faults of a plant, generated an hour at a time on demand.

    ``kinds[m]`` lists the fault kinds (indices into :data:`FAULT_KINDS`) machine ``m`` can
    have. Each hour block uses its own generator seeded from ``(seed, block)``, so the faults
    of an hour are the same however the simulator steps through it.
    """

    def __init__(self, seed: int, rate_per_hour: float, kinds: Sequence[tuple[int, ...]]) -> None:
        self._seed = seed
        self._rate = rate_per_hour
        self._kinds = kinds
        self._n = len(kinds)
        self._cache: dict[int, list[FaultEvent]] = {}

    def block(self, index: int) -> list[FaultEvent]:
        """The faults starting in hour ``[index * 3600, (index + 1) * 3600)``, by time."""
        if self._rate <= 0.0 or self._n == 0:
            return []
        seq = np.random.SeedSequence([self._seed, _STREAM, index % (1 << 62)])
        rng = np.random.Generator(np.random.PCG64(seq))
        counts = rng.poisson(self._rate * _BLOCK_S / 3600.0, self._n)
        machines = np.repeat(np.arange(self._n, dtype=np.intp), counts)
        total = machines.size
        times = index * _BLOCK_S + rng.random(total) * _BLOCK_S
        u_kind = rng.random(total)
        u_dur = rng.random(total)
        events: list[FaultEvent] = []
        for i in np.argsort(times, kind="stable"):
            m = int(machines[i])
            options = self._kinds[m]
            if not options:
                continue
            kind = options[min(int(u_kind[i] * len(options)), len(options) - 1)]
            lo, hi = FAULT_KINDS[kind].schedule_duration_s
            events.append(
                FaultEvent(float(times[i]), m, kind, lo + (hi - lo) * float(u_dur[i]), "schedule")
            )
        return events

    def due(self, t0: float, t1: float) -> list[FaultEvent]:
        """Scheduled faults starting in ``(t0, t1]``, by time."""
        if self._rate <= 0.0 or t1 <= t0:
            return []
        first, last = math.floor(t0 / _BLOCK_S), math.floor(t1 / _BLOCK_S)
        out: list[FaultEvent] = []
        for b in range(first, last + 1):
            events = self._cache.get(b)
            if events is None:
                if len(self._cache) >= 4:
                    self._cache.pop(min(self._cache))
                events = self._cache[b] = self.block(b)
            out += [e for e in events if t0 < e.at <= t1]
        return out


def severity(
    kind: NDArray[np.int8], start: NDArray[np.float64], fault_at: NDArray[np.float64], now: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """How far each machine's fault has developed at ``now``, per effect.

    Returns ``(bearing, overheat, leak, heat_c)``: bearing wear (accelerating, 0..1), overheat
    (0..1), leak (0..1) and the extra temperature in degrees C, which decays once the machine
    has stopped in FAULT. Machines without a fault (``kind`` -1) get zeros; their ``start``
    and ``fault_at`` must be finite (0 will do).
    """
    active = kind >= 0
    span = np.maximum(fault_at - start, 1e-9)
    w = np.where(active, np.clip((now - start) / span, 0.0, 1.0), 0.0)
    bearing = np.where(kind == BEARING_WEAR, np.expm1(4.0 * w) / math.expm1(4.0), 0.0)
    overheat = np.where(kind == OVERHEAT, w * np.sqrt(w), 0.0)
    leak = np.where(kind == LEAK, w, 0.0)
    cooling = np.where(active, np.exp(-np.maximum(now - fault_at, 0.0) / 600.0), 1.0)
    heat = (12.0 * bearing + 45.0 * overheat + 6.0 * leak) * cooling
    return bearing, overheat, leak, heat


# --- control messages ----------------------------------------------------------------------

#: action -> (required fields, optional fields)
ACTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "inject_fault": (frozenset({"machine", "fault"}), frozenset({"duration_s"})),
    "clear_fault": (frozenset({"machine"}), frozenset()),
    "set_state": (frozenset({"machine", "state"}), frozenset()),
    "reset": (frozenset(), frozenset()),
}
SETTABLE_STATES: tuple[str, ...] = ("RUNNING", "IDLE", "SETUP", "MAINTENANCE", "LOCKED_OUT")
MAX_TEXT = 64


def _shown(value: str) -> str:
    return repr(value[:MAX_TEXT]) + ("..." if len(value) > MAX_TEXT else "")


def parse_control(msg: object) -> tuple[str, Mapping[str, object]]:
    """Check a control message's shape: a known action and exactly its fields."""
    if not isinstance(msg, Mapping):
        raise ControlError("bad_request", "a control message must be a JSON object")
    for key in msg:
        if not isinstance(key, str):
            raise ControlError("bad_request", "field names must be strings")
    action = msg.get("action")
    if action is None:
        raise ControlError("bad_request", "missing field 'action'")
    if not isinstance(action, str):
        raise ControlError("bad_request", "'action' must be a string")
    spec = ACTIONS.get(action)
    if spec is None:
        known = ", ".join(ACTIONS)
        raise ControlError("unknown_action", f"unknown action {_shown(action)} (known: {known})")
    required, optional = spec
    for key in msg:
        if key != "action" and key not in required and key not in optional:
            raise ControlError("bad_request", f"unknown field {_shown(key)} for {action}")
    for key in sorted(required):
        if key not in msg:
            raise ControlError("bad_request", f"{action} needs field '{key}'")
    return action, msg


def text_arg(args: Mapping[str, object], key: str) -> str:
    """A required string field, 1 to 64 characters."""
    value = args.get(key)
    if not isinstance(value, str):
        raise ControlError("bad_request", f"'{key}' must be a string")
    if not 1 <= len(value) <= MAX_TEXT:
        raise ControlError("bad_request", f"'{key}' must be 1 to {MAX_TEXT} characters")
    return value


def duration_arg(args: Mapping[str, object], default: float) -> float:
    """The optional ``duration_s``: a finite number of seconds in [1, 86400]."""
    value = args.get("duration_s")
    if value is None and "duration_s" not in args:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError("bad_request", "'duration_s' must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ControlError("bad_request", "'duration_s' must be finite")
    if not MIN_DURATION_S <= value <= MAX_DURATION_S:
        raise ControlError(
            "bad_request", f"'duration_s' must be {MIN_DURATION_S:g} to {MAX_DURATION_S:g} seconds"
        )
    return float(value)
