"""Scoring a training run: per-step times, errors, score and pass/fail.

The score starts at 100 and loses the procedure's ``[scoring]`` penalty for each wrong
machine selected, hazard zone entered, hint requested, step timed out, step failed and step
advanced by an expert; it is clamped to 0..100. A run passes when it completed (not
aborted), its score reaches ``pass_score`` and, if ``max_hazard_entries`` is set, it entered
hazard zones no more often than that. The result is a
:class:`~xrclient.core.run_result.RunResult`, plain data that round-trips through JSON for
the hub's store, the session and exports.
"""

from __future__ import annotations

from dataclasses import dataclass

from xrclient.core.run_result import Event, RunResult, RunStatus, StepResult, StepStatus
from xrclient.training.model import Procedure


@dataclass(slots=True)
class StepRecord:
    """The runner's mutable book-keeping for one step."""

    status: StepStatus = "pending"
    attempts: int = 0
    started: float | None = None  # this attempt
    first_started: float | None = None
    ended: float | None = None
    active_s: float = 0.0  # summed over attempts
    wrong_machine: int = 0
    wrong_this_attempt: int = 0
    hazard_entries: int = 0
    hints_used: int = 0
    timeouts: int = 0
    failures: int = 0
    skipped: int = 0


def score(procedure: Procedure, records: list[StepRecord]) -> float:
    s = procedure.scoring
    penalty = sum(
        r.wrong_machine * s.wrong_machine
        + r.hazard_entries * s.hazard_entry
        + r.hints_used * s.hint
        + r.timeouts * s.timeout
        + r.failures * s.failed_step
        + r.skipped * s.expert_advance
        for r in records
    )
    return float(min(100.0, max(0.0, 100.0 - penalty)))


def assess(
    procedure: Procedure,
    records: list[StepRecord],
    events: list[Event],
    *,
    status: RunStatus,
    trainee: str,
    run_id: str,
    started: float,
    finished: float,
    restarts: int,
) -> RunResult:
    """The result of a run from the runner's records."""
    total = score(procedure, records)
    hazards = sum(r.hazard_entries for r in records)
    limit = procedure.scoring.max_hazard_entries
    passed = (
        status == "completed"
        and total >= procedure.scoring.pass_score
        and (limit is None or hazards <= limit)
    )
    steps = tuple(
        StepResult(
            id=step.id,
            status=r.status,
            attempts=r.attempts,
            duration_s=r.active_s,
            wrong_machine=r.wrong_machine,
            hazard_entries=r.hazard_entries,
            hints_used=r.hints_used,
            timeouts=r.timeouts,
            failures=r.failures,
            skipped=r.skipped,
        )
        for step, r in zip(procedure.steps, records, strict=True)
    )
    return RunResult(
        procedure_id=procedure.id,
        title=procedure.title,
        trainee=trainee,
        run_id=run_id,
        started=started,
        finished=finished,
        status=status,
        score=total,
        passed=passed,
        pass_score=procedure.scoring.pass_score,
        restarts=restarts,
        steps=steps,
        events=tuple(events),
    )
