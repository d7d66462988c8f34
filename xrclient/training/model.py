"""The validated form of a training procedure (see ``docs/training.md``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from xrclient.core.expr import Expr

Completion = Literal["select", "point_at", "confirm", "condition"]
COMPLETIONS: tuple[Completion, ...] = ("select", "point_at", "confirm", "condition")
ZoneShape = Literal["box", "cylinder"]
Vec3 = tuple[float, float, float]

#: ``on_fail`` values other than a step id
ON_FAIL_KEYWORDS = ("next", "retry", "abort")


@dataclass(frozen=True, slots=True)
class HazardZone:
    """A keep-out volume around a machine (or a fixed point when ``machine`` is None)."""

    id: str
    shape: ZoneShape
    machine: str | None
    offset: Vec3  # from the machine's position (or the world origin), metres
    size: Vec3  # box: full extent x, y, z; cylinder: (radius, height, radius)
    message: str
    when: Expr | None = None  # active only while this holds for the zone's machine


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    text: str
    complete: Completion
    machine: str | None = None
    part: str = ""
    media: Path | None = None
    condition: Expr | None = None
    time_limit_s: float | None = None
    max_errors: int | None = None  # wrong selections before the step fails
    hints: tuple[str, ...] = ()
    on_fail: str = "next"  # "next", "retry", "abort" or a step id
    hazards: tuple[str, ...] | None = None  # zone ids active in this step; None: all


@dataclass(frozen=True, slots=True)
class Scoring:
    pass_score: float = 70.0
    wrong_machine: float = 5.0
    hazard_entry: float = 15.0
    hint: float = 2.0
    timeout: float = 10.0
    failed_step: float = 20.0
    expert_advance: float = 10.0
    max_hazard_entries: int | None = None  # more than this fails the run whatever the score


@dataclass(frozen=True, slots=True)
class Procedure:
    id: str
    title: str
    description: str
    steps: tuple[Step, ...]
    hazards: tuple[HazardZone, ...] = ()
    scoring: Scoring = field(default_factory=Scoring)
    source: Path | None = None

    def step_index(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(step_id)
