"""The training runner: a sans-I/O state machine over a procedure.

A front end builds one :class:`TrainingRun` per trainee and calls, every frame::

    view = run.update(store, now, head_position)

and, on input, :meth:`TrainingRun.select`, :meth:`~TrainingRun.point_at`,
:meth:`~TrainingRun.confirm` or :meth:`~TrainingRun.hint`. ``now`` is the clock the twin
store uses (``time.time()`` in the viewers); tests inject it. The run never reads a clock,
never blocks and never does I/O. Each step goes ``pending -> active -> done`` (or
``failed`` / ``timed_out`` / ``skipped``); on failure the step's ``on_fail`` decides what
comes next (the next step, a retry, a jump to another step, or abort). An expert can
:meth:`~TrainingRun.advance` or :meth:`~TrainingRun.reset_step` the run; every change is an
:class:`~xrclient.training.assessment.Event`, drained with :meth:`~TrainingRun.take_events`
to report progress.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrclient.core.expr import Expr, StoreView
from xrclient.core.run_result import Event, RunResult, RunStatus, StepStatus
from xrclient.scene.model import Scene
from xrclient.training.assessment import StepRecord, assess
from xrclient.training.model import Completion, Procedure, Step, Vec3, ZoneShape
from xrclient.training.zones import ZoneGeometry

#: a step activated more often than this (retries, branches, expert resets) aborts the run
MAX_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class ZoneView:
    """A hazard zone to draw: ``center``/``size`` as in :class:`ZoneGeometry`."""

    id: str
    shape: ZoneShape
    center: Vec3
    size: Vec3  # box: x, y, z extents; cylinder: (radius, height, radius)
    active: bool  # part of the current step and its ``when`` condition holds
    inside: bool  # the trainee's head is in it (and it is active)
    message: str


@dataclass(frozen=True, slots=True)
class TrainingView:
    """What a front end shows this frame (immutable)."""

    procedure_id: str
    title: str
    status: RunStatus
    step_index: int  # -1 once the run is over
    step_count: int
    completed: int  # steps done or skipped: progress is ``completed`` of ``step_count``
    step_id: str
    text: str
    part: str
    media: Path | None
    complete: Completion | None  # how the current step completes
    target_machine: int  # index into the machine ids the run was built with, or -1
    time_left_s: float | None
    hints: tuple[str, ...]  # hints revealed for the current step
    zones: tuple[ZoneView, ...]
    warnings: tuple[str, ...]  # hazard messages while inside an active zone
    message: str  # the latest feedback ("Wrong machine: ...", "Step timed out")
    step_states: tuple[StepStatus, ...]


class TrainingRun:
    """One trainee's run of one procedure."""

    def __init__(
        self,
        procedure: Procedure,
        machine_ids: Sequence[str],
        positions: Mapping[str, Vec3] | None = None,
        *,
        trainee: str = "",
        run_id: str | None = None,
    ) -> None:
        self.procedure = procedure
        self.machine_ids = tuple(machine_ids)
        self._index = {m: i for i, m in enumerate(self.machine_ids)}
        self.trainee = trainee
        self.run_id = run_id or str(uuid.uuid4())
        self._zones = ZoneGeometry(procedure.hazards, positions or {})
        self._zone_ids = [z.id for z in procedure.hazards]
        self.restarts = 0
        self._reset_state()

    @classmethod
    def for_scene(cls, procedure: Procedure, scene: Scene, **kw: str | None) -> TrainingRun:
        """A run over ``scene``'s machines (target indices are scene machine indices)."""
        positions = {m.id: m.transform.position for m in scene.machines}
        return cls(procedure, [m.id for m in scene.machines], positions, **kw)  # type: ignore[arg-type]  # kw is trainee (str) and run_id (str | None); one annotation covers both

    def _reset_state(self) -> None:
        self.status: RunStatus = "running"
        self.records = [StepRecord() for _ in self.procedure.steps]
        self.events: list[Event] = []
        self._pending_events: list[Event] = []
        self.current = -1
        self.started: float | None = None
        self.finished: float | None = None
        self._now = 0.0
        self._inside = np.zeros(len(self._zone_ids), dtype=np.bool_)
        self._message = ""
        self._hints_shown = 0
        self._row_cache: tuple[tuple[str, ...] | None, dict[str, int]] = (None, {})

    # -- inputs ----------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Activate the first step (done by the first :meth:`update` if not called)."""
        if self.started is None:
            self.started = self._now = now
            self._activate(0, now)

    def select(self, machine: str | int, now: float | None = None) -> bool:
        """The trainee selected ``machine`` (id or index). True if it completed the step; a
        wrong machine on a select or point-at step is recorded as an error."""
        return self._pick(machine, now, "select")

    def point_at(self, machine: str | int | None, now: float | None = None) -> bool:
        """The trainee points at ``machine`` (call as the pointer moves). Completes a
        point-at step on its target; pointing elsewhere is not an error."""
        if machine is None:
            return False
        return self._pick(machine, now, "point_at")

    def confirm(self, now: float | None = None) -> bool:
        """The trainee confirmed; completes a confirm step."""
        t = self._time(now)
        step = self._step()
        if step is None or step.complete != "confirm":
            return False
        self._done(t)
        return True

    def hint(self, now: float | None = None) -> str | None:
        """Reveal the current step's next hint (costs ``scoring.hint`` points)."""
        t = self._time(now)
        step = self._step()
        if step is None or self._hints_shown >= len(step.hints):
            return None
        text = step.hints[self._hints_shown]
        self._hints_shown += 1
        self.records[self.current].hints_used += 1
        self._event(t, "hint", step.id, text)
        return text

    def restart(self, now: float) -> None:
        """Start again from the first step; the result keeps only the new attempt."""
        self.restarts += 1
        self._reset_state()
        self.start(now)

    def advance(self, now: float | None = None, by: str = "expert") -> bool:
        """Expert control: mark the current step skipped and go on."""
        t = self._time(now)
        step = self._step()
        if step is None:
            return False
        rec = self.records[self.current]
        rec.skipped += 1
        self._close(rec, "skipped", t)
        self._event(t, "step_skipped", step.id, by)
        self._goto(self.current + 1, t)
        return True

    def reset_step(self, now: float | None = None, by: str = "expert") -> bool:
        """Expert control: restart the current step (its timer too)."""
        t = self._time(now)
        step = self._step()
        if step is None:
            return False
        self._event(t, "step_reset", step.id, by)
        self._close(self.records[self.current], "pending", t)
        self._activate(self.current, t)
        return True

    def apply_control(self, action: str, now: float | None = None, by: str = "expert") -> bool:
        """An expert's command from the hub: ``advance``, ``reset_step`` or ``restart``."""
        if action == "advance":
            return self.advance(now, by)
        if action == "reset_step":
            return self.reset_step(now, by)
        if action == "restart":
            self.restart(self._time(now))
            return True
        return False

    # -- per frame -------------------------------------------------------------------------

    def update(self, store: StoreView | None, now: float, head: Vec3 | None = None) -> TrainingView:
        """Check conditions, time limits and hazard zones; return what to show."""
        self.start(now)
        self._now = max(self._now, now)
        step = self._step()
        if step is not None and step.condition is not None and store is not None:
            if self._holds(step.condition, step.machine, store, now):
                self._done(now)
        step = self._step()
        if step is not None and step.time_limit_s is not None:
            rec = self.records[self.current]
            if rec.started is not None and now - rec.started >= step.time_limit_s:
                rec.timeouts += 1
                self._message = f"Time is up for: {step.text}"
                self._fail(now, "timed_out")
        active = self._active_zones(store, now)
        inside = self._zones.inside(head) & active
        step = self._step()
        if step is not None:
            for i in np.flatnonzero(inside & ~self._inside).tolist():
                self.records[self.current].hazard_entries += 1
                self._event(now, "hazard_entered", step.id, self._zone_ids[i])
        self._inside = inside
        return self._view(now, active, inside)

    def take_events(self) -> list[Event]:
        """Events since the last call (to report progress to the hub)."""
        out, self._pending_events = self._pending_events, []
        return out

    def result(self) -> RunResult:
        """The assessment of the run so far (final once ``status`` is not running)."""
        started = self.started if self.started is not None else self._now
        return assess(
            self.procedure,
            self.records,
            self.events,
            status=self.status,
            trainee=self.trainee,
            run_id=self.run_id,
            started=started,
            finished=self.finished if self.finished is not None else self._now,
            restarts=self.restarts,
        )

    # -- internals -------------------------------------------------------------------------

    def _time(self, now: float | None) -> float:
        if now is not None:
            self._now = max(self._now, now)
        return self._now

    def _step(self) -> Step | None:
        if self.status != "running" or self.current < 0:
            return None
        return self.procedure.steps[self.current]

    def _pick(self, machine: str | int, now: float | None, how: str) -> bool:
        t = self._time(now)
        step = self._step()
        if step is None:
            return False
        if isinstance(machine, int):
            if not 0 <= machine < len(self.machine_ids):
                return False
            mid = self.machine_ids[machine]
        else:
            mid = machine
        if step.complete == how and mid == step.machine:
            self._done(t)
            return True
        if how == "select" and step.complete in ("select", "point_at") and mid != step.machine:
            rec = self.records[self.current]
            rec.wrong_machine += 1
            rec.wrong_this_attempt += 1
            self._event(t, "wrong_machine", step.id, mid)
            self._message = f"Wrong machine: {mid}"
            if step.max_errors is not None and rec.wrong_this_attempt >= step.max_errors:
                rec.failures += 1
                self._fail(t, "failed")
        return False

    def _event(self, t: float, kind: str, step: str, detail: str = "") -> None:
        event = Event(t, kind, step, detail)
        self.events.append(event)
        self._pending_events.append(event)

    def _activate(self, index: int, t: float) -> None:
        step = self.procedure.steps[index]
        rec = self.records[index]
        if rec.attempts >= MAX_ATTEMPTS:
            self._end(t, "aborted", f"step {step.id} tried {MAX_ATTEMPTS} times")
            return
        self.current = index
        rec.status = "active"
        rec.attempts += 1
        rec.started = t
        rec.wrong_this_attempt = 0
        if rec.first_started is None:
            rec.first_started = t
        self._hints_shown = 0
        self._event(t, "step_started", step.id, f"attempt {rec.attempts}")

    def _close(self, rec: StepRecord, status: StepStatus, t: float) -> None:
        if rec.started is not None:
            rec.active_s += max(0.0, t - rec.started)
        rec.started = None
        rec.ended = t
        rec.status = status

    def _done(self, t: float) -> None:
        step = self.procedure.steps[self.current]
        self._close(self.records[self.current], "done", t)
        self._event(t, "step_done", step.id)
        self._message = f"Done: {step.text}"
        self._goto(self.current + 1, t)

    def _fail(self, t: float, status: StepStatus) -> None:
        step = self.procedure.steps[self.current]
        self._close(self.records[self.current], status, t)
        self._event(t, "step_timed_out" if status == "timed_out" else "step_failed", step.id)
        if status == "failed":
            self._message = f"Step failed: {step.text}"
        if step.on_fail == "abort":
            self._end(t, "aborted", f"step {step.id} {status}")
        elif step.on_fail == "retry":
            self._activate(self.current, t)
        elif step.on_fail == "next":
            self._goto(self.current + 1, t)
        else:
            self._goto(self.procedure.step_index(step.on_fail), t)

    def _goto(self, index: int, t: float) -> None:
        if index >= len(self.procedure.steps):
            self._end(t, "completed", "")
        else:
            self._activate(index, t)

    def _end(self, t: float, status: RunStatus, detail: str) -> None:
        self.status = status
        self.finished = t
        self.current = -1
        self._event(t, status, "", detail)
        if status == "completed":
            self._message = f"Procedure complete: {self.procedure.title}"
        else:
            self._message = f"Procedure aborted ({detail})"

    def _row(self, store: StoreView, machine: str) -> int:
        ids = store.machine_ids
        cached, rows = self._row_cache
        if cached is not ids:
            rows = {m: i for i, m in enumerate(ids)}
            self._row_cache = (ids, rows)
        return rows.get(machine, -1)

    def _holds(self, expr: Expr, machine: str | None, store: StoreView, now: float) -> bool:
        """``expr`` for ``machine``'s row; without one, for every machine (``machine("ID")``
        references are the same on every row)."""
        if store.n_machines == 0:
            return False
        truth = expr.truth(store, now)
        if machine is None:
            return bool(truth.all())
        row = self._row(store, machine)
        return row >= 0 and bool(truth[row])

    def _active_zones(self, store: StoreView | None, now: float) -> np.ndarray:
        n = len(self._zone_ids)
        step = self._step()
        if step is None or n == 0:
            return np.zeros(n, dtype=np.bool_)
        allowed = step.hazards
        active = np.array([allowed is None or z in allowed for z in self._zone_ids], dtype=np.bool_)
        for i, zone in enumerate(self.procedure.hazards):
            if active[i] and zone.when is not None and store is not None:
                active[i] = self._holds(zone.when, zone.machine, store, now)
        return active

    def _view(self, now: float, active: np.ndarray, inside: np.ndarray) -> TrainingView:
        p = self.procedure
        step = self._step()
        zones = tuple(
            ZoneView(
                z.id,
                z.shape,
                (float(c[0]), float(c[1]), float(c[2])),
                z.size,
                bool(active[i]),
                bool(inside[i]),
                z.message,
            )
            for i, (z, c) in enumerate(zip(p.hazards, self._zones.centers, strict=True))
        )
        warnings = tuple(z.message for z in zones if z.inside)
        completed = sum(r.status in ("done", "skipped") for r in self.records)
        states = tuple(r.status for r in self.records)
        if step is None:
            return TrainingView(
                p.id, p.title, self.status, -1, len(p.steps), completed, "", "", "", None,
                None, -1, None, (), zones, warnings, self._message, states,
            )  # fmt: skip
        rec = self.records[self.current]
        left = None
        if step.time_limit_s is not None and rec.started is not None:
            left = max(0.0, step.time_limit_s - (now - rec.started))
        return TrainingView(
            procedure_id=p.id,
            title=p.title,
            status=self.status,
            step_index=self.current,
            step_count=len(p.steps),
            completed=completed,
            step_id=step.id,
            text=step.text,
            part=step.part,
            media=step.media,
            complete=step.complete,
            target_machine=self._index.get(step.machine, -1) if step.machine else -1,
            time_left_s=left,
            hints=step.hints[: self._hints_shown],
            zones=zones,
            warnings=warnings,
            message=self._message,
            step_states=states,
        )
