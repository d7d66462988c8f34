"""World labels for what the plant's history says: predicted issues and energy per line.

``PredictionBadges`` puts an amber "predicted" label over every machine the predictor has
flagged (the metric, how abnormal it is, the estimated time to its alarm threshold);
``LineLabels`` puts each production line's power, energy and CO2 over its machines. Both
rebuild their few strings only when the text changes (refreshed once a second), and draw
in one instanced call per view, over the scene (they name what is hidden behind machines).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.anomaly import PredictionState
from xrclient.core.energy import EnergyState
from xrclient.core.view import View
from xrclient.render.font import SdfFont
from xrclient.render.text import TextBatch

AMBER = (1.0, 0.62, 0.12, 1.0)
ENERGY = (0.55, 0.95, 0.75, 1.0)
#: metres above a machine's top where its prediction label sits (above the overlays)
BADGE_LIFT_M = 1.3


def eta(seconds: float) -> str:
    """A time to threshold for people: ``~40 s``, ``~12 min``, ``~3.5 h``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "trend unclear"
    if seconds < 90:
        return f"limit in ~{seconds:.0f} s"
    if seconds < 5400:
        return f"limit in ~{seconds / 60:.0f} min"
    return f"limit in ~{seconds / 3600:.1f} h"


def badge_text(state: PredictionState, machine: int) -> str:
    name = (state.worst_name(machine) or "behaviour").replace("_", " ")
    score = float(state.score[machine])
    return f"predicted: {name} {score:.1f} sd off normal, {eta(state.time_to_threshold[machine])}"


class _Labels:
    def __init__(self, ctx: moderngl.Context, font: SdfFont, srgb_output: bool) -> None:
        self.text = TextBatch(
            ctx,
            font,
            outline_px=2.5,
            outline_color=(0.02, 0.03, 0.05, 0.95),
            srgb_output=srgb_output,
        )
        self._shown: dict[int, tuple[int, str]] = {}  # key -> (handle, text)
        self.rebuilds = 0

    def _show(
        self,
        wanted: dict[int, str],
        anchor: npt.NDArray[np.float64],
        color: Sequence[float],
    ) -> None:
        for key in [k for k in self._shown if k not in wanted]:
            self.text.remove(self._shown.pop(key)[0])
        for key, text in wanted.items():
            old = self._shown.get(key)
            if old is not None and old[1] == text:
                continue
            if old is not None:
                self.text.set_text(old[0], text)
                self._shown[key] = (old[0], text)
            else:
                handle = self.text.add(
                    text,
                    tuple(float(c) for c in anchor[key]),
                    size=0.32,
                    world=True,
                    min_px=13.0,
                    max_px=22.0,
                    color=color,
                    align="center",
                    through=True,
                )
                self._shown[key] = (handle, text)
            self.rebuilds += 1

    @property
    def shown(self) -> dict[int, str]:
        return {k: t for k, (_, t) in self._shown.items()}

    def draw(self, views: Sequence[View]) -> int:
        return self.text.draw(views) if self._shown else 0

    def release(self) -> None:
        self.text.release()


class PredictionBadges(_Labels):
    """``machine_bounds``: (machines, 2, 3) world boxes, as in ``SceneGeometry``."""

    def __init__(
        self,
        ctx: moderngl.Context,
        font: SdfFont,
        machine_bounds: npt.ArrayLike,
        *,
        srgb_output: bool = True,
    ) -> None:
        super().__init__(ctx, font, srgb_output)
        b = np.asarray(machine_bounds, np.float64)
        self.anchors = (b[:, 0] + b[:, 1]) / 2.0
        self.anchors[:, 1] = b[:, 1, 1] + BADGE_LIFT_M

    def update(self, state: PredictionState | None) -> None:
        flagged = np.flatnonzero(state.flagged) if state is not None else np.zeros(0, int)
        wanted = {int(m): badge_text(state, int(m)) for m in flagged} if state else {}
        self._show(wanted, self.anchors, AMBER)


class LineLabels(_Labels):
    """Power, energy and CO2 of each line over the middle of its machines."""

    def __init__(
        self,
        ctx: moderngl.Context,
        font: SdfFont,
        machine_lines: Sequence[str],
        line_names: dict[str, str],
        machine_bounds: npt.ArrayLike,
        *,
        srgb_output: bool = True,
    ) -> None:
        super().__init__(ctx, font, srgb_output)
        b = np.asarray(machine_bounds, np.float64)
        self.lines = tuple(dict.fromkeys(machine_lines))
        self.names = line_names
        lines = np.array(machine_lines)
        self.anchors = np.zeros((len(self.lines), 3))
        for i, line in enumerate(self.lines):
            mine = b[lines == line]
            self.anchors[i] = (mine[:, 0] + mine[:, 1]).mean(axis=0) / 2.0
            self.anchors[i, 1] = mine[:, 1, 1].max() + 2.2

    def update(self, state: EnergyState | None) -> None:
        wanted: dict[int, str] = {}
        if state is not None:
            index = {line: k for k, line in enumerate(state.lines)}
            for i, line in enumerate(self.lines):
                k = index.get(line)
                if k is None:
                    continue
                kw, kwh = float(state.line_kw[k]), float(state.line_kwh[k])
                if not math.isfinite(kw):
                    continue
                co2 = kwh * state.co2_kg_per_kwh
                wanted[i] = (
                    f"{self.names.get(line, line)}: {kw:,.0f} kW, {kwh:,.1f} kWh, {co2:,.1f} kg CO2"
                )
        self._show(wanted, self.anchors, ENERGY)
