"""Twin binding rules as plain, frozen data: what a scene's ``[twin]`` table and
``[[bindings]]`` describe once validated.

A binding selects machines (by type, id glob or line) and maps their live values to what
the viewer sees: a colour, a label, a gauge, an alarm. The scene's schema
(:mod:`xrclient.scene.schema_bindings`) builds these from a scene file;
:mod:`xrclient.core.bindings` evaluates them every frame. They live in core so that the
evaluator, the renderer's overlays and the session code can read them without the scene
layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from xrclient.core.expr import Expr

Severity = Literal["warning", "critical"]
Direction = Literal["high", "low"]
GaugeStyle = Literal["bar", "radial"]
ColorMode = Literal["states", "thresholds", "gradient", "when"]
#: alarm level per severity (0 is "no alarm")
SEVERITY_LEVEL: dict[str, int] = {"warning": 1, "critical": 2}


class SelectableMachine(Protocol):
    """What a selector reads of a machine (the scene's ``Machine`` has these)."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def line(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TwinConfig:
    url: str = ""  # default stream, "" when the scene names none
    stale_after_s: float = 10.0  # machines silent longer than this look stale
    stale_color: str = "#8a8f96"


@dataclass(frozen=True, slots=True)
class Selector:
    """Machines a binding applies to: all keys given must match (any item of each)."""

    types: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()  # fnmatch globs, case-sensitive
    lines: tuple[str, ...] = ()

    def matches(self, machine: SelectableMachine) -> bool:
        return (
            (not self.types or machine.type in self.types)
            and (not self.lines or machine.line in self.lines)
            and (not self.ids or any(fnmatchcase(machine.id, g) for g in self.ids))
        )

    def mask(self, machines: Sequence[SelectableMachine]) -> npt.NDArray[np.bool_]:
        return np.fromiter((self.matches(m) for m in machines), np.bool_, len(machines))


@dataclass(frozen=True, slots=True)
class Gradient:
    min: float
    max: float
    colors: tuple[str, ...]  # evenly spaced stops from min to max


@dataclass(frozen=True, slots=True)
class ColorRule:
    mode: ColorMode
    value: Expr  # the property or expression read (the condition for "when")
    property: str = ""  # set when the rule reads one property directly
    states: tuple[tuple[str, str], ...] = ()  # (enum value / "true" / "false", colour)
    thresholds: tuple[tuple[float, str], ...] = ()  # ascending (from value, colour)
    below: str | None = None  # colour under the first threshold (none: rule does not apply)
    gradient: Gradient | None = None
    color: str | None = None  # "when" rules
    strength: float = 0.85


@dataclass(frozen=True, slots=True)
class LabelRule:
    value: Expr
    property: str  # "" for an expression
    title: str
    unit: str | None  # None: the stream's unit for the property
    format: str  # a format spec such as ".1f" ("" = general)


@dataclass(frozen=True, slots=True)
class GaugeRule:
    value: Expr
    property: str
    title: str
    unit: str | None
    format: str
    min: float
    max: float
    warn: float | None
    alarm: float | None
    direction: Direction  # "high": high values are bad; "low": low values are bad
    style: GaugeStyle = "bar"  # how panels draw it: a bar, or a radial (arc) gauge


@dataclass(frozen=True, slots=True)
class AlarmRule:
    when: Expr
    severity: Severity
    message: str

    @property
    def level(self) -> int:
        return SEVERITY_LEVEL[self.severity]


@dataclass(frozen=True, slots=True)
class Binding:
    select: Selector
    color: ColorRule | None = None
    label: LabelRule | None = None
    gauge: GaugeRule | None = None
    alarm: AlarmRule | None = None
    stale_after_s: float | None = None  # overrides [twin] for the selected machines
