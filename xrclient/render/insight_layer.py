"""What history and foresight look like in the world: the predicted-issue badges over
machines and the energy labels over lines, for the desktop viewer and the headset.

``update`` reads what :class:`~xrclient.history.insight.Insight` computed this frame and
refreshes the few strings at most once a second; ``draw`` draws them for every view.
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
from xrclient.render.insight_labels import LineLabels, PredictionBadges
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.model import Scene

#: seconds between refreshes of the labels' texts
REFRESH_S = 1.0


class InsightLayer:
    def __init__(
        self,
        ctx: moderngl.Context,
        font: SdfFont,
        machine_lines: Sequence[str],
        line_names: dict[str, str],
        machine_bounds: npt.NDArray[np.float32],
        *,
        srgb_output: bool = True,
    ) -> None:
        self.badges = PredictionBadges(ctx, font, machine_bounds, srgb_output=srgb_output)
        try:
            self.lines = LineLabels(
                ctx, font, machine_lines, line_names, machine_bounds, srgb_output=srgb_output
            )
        except BaseException:
            self.badges.release()
            raise
        self._at = -math.inf

    @classmethod
    def for_scene(
        cls,
        ctx: moderngl.Context,
        font: SdfFont,
        scene: Scene,
        geometry: SceneGeometry,
        *,
        srgb_output: bool = True,
    ) -> InsightLayer:
        names = {line.id: line.name for line in scene.lines}
        lines = [m.line for m in scene.machines]
        return cls(ctx, font, lines, names, geometry.machine_bounds, srgb_output=srgb_output)

    @property
    def srgb_output(self) -> bool:
        return self.badges.text.srgb_output

    @srgb_output.setter
    def srgb_output(self, value: bool) -> None:
        """The labels' colour encoding (follows the target: sRGB image or linear)."""
        self.badges.text.srgb_output = value
        self.lines.text.srgb_output = value

    def update(
        self, prediction: PredictionState | None, energy: EnergyState | None, now: float
    ) -> None:
        if prediction is None or energy is None or abs(now - self._at) < REFRESH_S:
            return
        self._at = now
        self.badges.update(prediction)
        self.lines.update(energy)

    def draw(self, views: Sequence[View]) -> None:
        self.lines.draw(list(views))
        self.badges.draw(list(views))

    def release(self) -> None:
        self.badges.release()
        self.lines.release()
