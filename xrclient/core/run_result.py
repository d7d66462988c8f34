"""The result of a training run as plain data: per-step figures, events, score, pass/fail.

``RunResult`` round-trips through JSON (:meth:`RunResult.to_dict` /
:meth:`RunResult.from_dict`) for the hub's store, the session protocol and exports. It
lives in core because the session room, the hub and the session client carry results
without the training package; :mod:`xrclient.training.assessment` computes them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StepStatus = Literal["pending", "active", "done", "failed", "timed_out", "skipped"]
RunStatus = Literal["running", "completed", "aborted"]
STEP_STATUSES: tuple[StepStatus, ...] = (
    "pending",
    "active",
    "done",
    "failed",
    "timed_out",
    "skipped",
)
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "completed", "aborted")
#: event kinds that are trainee errors
ERROR_KINDS = ("wrong_machine", "hazard_entered")
EVENT_KINDS = (
    "step_started",
    "step_done",
    "step_failed",
    "step_timed_out",
    "step_skipped",
    "step_reset",
    "wrong_machine",
    "hazard_entered",
    "hint",
    "completed",
    "aborted",
)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a run, at ``t`` (the runner's clock, seconds)."""

    t: float
    kind: str  # one of EVENT_KINDS
    step: str  # the step id ("" for run-level events)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StepResult:
    id: str
    status: StepStatus
    attempts: int
    duration_s: float
    wrong_machine: int
    hazard_entries: int
    hints_used: int
    timeouts: int
    failures: int
    skipped: int


@dataclass(frozen=True, slots=True)
class RunResult:
    procedure_id: str
    title: str
    trainee: str
    run_id: str
    started: float  # wall-clock (epoch seconds) when the run started
    finished: float
    status: RunStatus
    score: float
    passed: bool
    pass_score: float
    restarts: int
    steps: tuple[StepResult, ...]
    events: tuple[Event, ...] = field(default=())

    @property
    def duration_s(self) -> float:
        return max(0.0, self.finished - self.started)

    @property
    def errors(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind in ERROR_KINDS)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/msgpack types (lists, not tuples)."""
        out = asdict(self)
        out["steps"] = [asdict(x) for x in self.steps]
        out["events"] = [asdict(x) for x in self.events]
        return out

    @classmethod
    def from_dict(cls, data: object) -> RunResult:
        """Rebuild a result from :meth:`to_dict` output (untrusted: every field is checked);
        raises ``ValueError`` if malformed."""
        d = _fields(data, _RESULT_TYPES, "result")
        steps = _list(d.get("steps"), "steps", 10_000)
        events = _list(d.get("events"), "events", 100_000)
        result = cls(
            **{k: d[k] for k in _RESULT_TYPES},
            steps=tuple(StepResult(**_fields(x, _STEP_TYPES, "step")) for x in steps),
            events=tuple(Event(**_fields(x, _EVENT_TYPES, "event")) for x in events),
        )
        if result.status not in RUN_STATUSES or any(
            s.status not in STEP_STATUSES for s in result.steps
        ):
            raise ValueError("malformed result: unknown status")
        if any(e.kind not in EVENT_KINDS for e in result.events):
            raise ValueError("malformed result: unknown event kind")
        if not (0.0 <= result.score <= 100.0 and 0.0 <= result.pass_score <= 100.0):
            raise ValueError("malformed result: score outside 0..100")
        return result


_RESULT_TYPES: dict[str, type] = {
    "procedure_id": str,
    "title": str,
    "trainee": str,
    "run_id": str,
    "started": float,
    "finished": float,
    "status": str,
    "score": float,
    "passed": bool,
    "pass_score": float,
    "restarts": int,
}
_STEP_TYPES: dict[str, type] = {
    "id": str,
    "status": str,
    "attempts": int,
    "duration_s": float,
    "wrong_machine": int,
    "hazard_entries": int,
    "hints_used": int,
    "timeouts": int,
    "failures": int,
    "skipped": int,
}
_EVENT_TYPES: dict[str, type] = {"t": float, "kind": str, "step": str, "detail": str}
_MAX_TEXT = 2000


def _list(v: object, what: str, limit: int) -> list[object]:
    if not isinstance(v, list) or len(v) > limit:
        raise ValueError(f"malformed result: '{what}' must be a list of at most {limit}")
    return v


def _fields(v: object, types: dict[str, type], what: str) -> dict[str, Any]:
    """``v`` as a map with exactly the keys of ``types`` (a result also has steps, events)."""
    if not isinstance(v, dict):
        raise ValueError(f"malformed result: a {what} must be a map")
    extra = {"steps", "events"} if what == "result" else set()
    if set(v) != set(types) | extra:
        raise ValueError(f"malformed result: a {what} needs exactly {', '.join(sorted(types))}")
    out: dict[str, Any] = {}
    for key, kind in types.items():
        x = v[key]
        if kind is float:
            ok = type(x) in (int, float) and math.isfinite(x) and abs(x) < 1e13
            x = float(x) if ok else x
        elif kind is int:
            ok = type(x) is int and 0 <= x < 2**31
        elif kind is bool:
            ok = type(x) is bool
        else:
            ok = type(x) is str and len(x) <= _MAX_TEXT
        if not ok:
            raise ValueError(f"malformed result: {what} '{key}' must be a {kind.__name__}")
        out[key] = x
    if what == "result":
        out.update({k: v[k] for k in extra})
    return out
