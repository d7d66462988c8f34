"""History in the headset (``xrclient xr --history FILE``): the timeline card on the left
controller, driven by the controllers, and the predicted-issue and line-energy labels.

Per frame, :class:`~.scene_view.SceneView` calls ``before_controls`` (place the card where
lasers can hit it, keep the left stick from moving the user while the card is up),
``after_controls`` (controller input to timeline requests), then, after the plant frame
chose the store and time to render (live, or the chosen moment of the recording),
``frame`` (the card and the labels follow it) and ``draw``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import moderngl

from xrclient.core.view import View
from xrclient.frame import PlantFrame
from xrclient.render.font import load_font
from xrclient.render.insight_layer import InsightLayer
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.model import Scene
from xrclient.xr.controls import Controls, ControlsOutput
from xrclient.xr.input import HandState
from xrclient.xr.poses import Pose
from xrclient.xr.timeline_input import TimelineInput
from xrclient.xr.timeline_layout import PanelRect, ahead_of, on_hand, target_at
from xrclient.xr.timeline_panel import TimelinePanel, panel_model

log = logging.getLogger(__name__)
#: seconds a message ("no live stream to return to") stays on the card
SAY_S = 3.0


@dataclass(slots=True)
class HistoryReport:
    line: str = ""  # one line on the timeline at the end
    requests: list[str] = field(default_factory=list)  # timeline requests carried out
    shown: list[float] = field(default_factory=list)  # per frame: the time shown (kept frames)
    #: the bar's world corners (4, 3) when the card was last drawn
    bar: list[list[float]] | None = None
    #: with kept frames: the bar's corners at each draw (None: the card was hidden)
    bars: list[list[list[float]] | None] = field(default_factory=list)


class XrHistoryLink:
    def __init__(
        self,
        scene: Scene,
        geometry: SceneGeometry,
        ctx: moderngl.Context,
        plant: PlantFrame,
        *,
        keep_frames: bool = False,
    ) -> None:
        if plant.insight is None:
            raise ValueError("the plant frame has no history")
        font = load_font()
        self.plant = plant
        self.insight = plant.insight
        self.labels = InsightLayer.for_scene(ctx, font, scene, geometry)
        try:
            self.input = TimelineInput()
            self.panel = TimelinePanel(ctx, font)
        except BaseException:
            self.labels.release()
            raise
        self.report = HistoryReport()
        self.keep_frames = keep_frames
        self._rect: PanelRect | None = None
        self._hot: str | None = None
        self._said = ""
        self._said_until = -math.inf

    def set_srgb_output(self, srgb: bool) -> None:
        self.labels.srgb_output = srgb
        self.panel.set_srgb_output(srgb)

    # --- per frame ------------------------------------------------------------------------

    def before_controls(
        self, controls: Controls, hands: Sequence[HandState], head: Pose | None
    ) -> tuple[HandState, ...]:
        """Place the card for this frame; returns the hand states locomotion gets."""
        rect = None
        if self.input.shown:
            grip = hands[self.input.hand].grip if len(hands) > self.input.hand else None
            if grip is not None:
                rect = on_hand(controls.rig, grip)
            elif head is not None:
                rect = ahead_of(controls.rig, head)
        self._rect = controls.panel = rect
        return self.input.mask(hands)

    def after_controls(
        self, hands: Sequence[HandState], output: ControlsOutput, now: float
    ) -> None:
        """Timeline requests from the buttons, the left stick and lasers on the card."""
        for request in self.input.step(hands, output.lasers, now):
            self.control(request, now)
        self._hot = next(
            (
                t
                for la in output.lasers
                if la.panel is not None
                and (t := target_at(*la.panel)) is not None
                and not t.startswith("seek:")
            ),
            None,
        )

    def control(self, request: str, now: float) -> str:
        """Carry out one timeline request (from the controllers or a script); see
        ``PlantFrame.timeline_request``."""
        said, _shared = self.plant.timeline_request(request, now)
        self.report.requests.append(request)
        log.info("timeline: %s%s", request, f" ({said})" if said else "")
        if said:
            self._said, self._said_until = said, now + SAY_S
        return said

    def frame(self, now: float) -> None:
        """After the plant frame: the card and the labels show the moment it chose."""
        plant = self.plant
        if plant.store is not None:
            self.labels.update(self.insight.prediction, self.insight.energy, now)
        tl = self.insight.timeline
        model = panel_model(
            self.insight.moment(),
            tl is not None and tl.playing,
            tl.speed if tl is not None else 1.0,
            self._hot,
        )
        if now < self._said_until:
            model = dataclasses.replace(model, label=self._said)
        self.panel.update(self._rect if self.input.shown else None, model)
        if self.keep_frames:
            self.report.shown.append(plant.t if plant.store is not None else math.nan)

    def draw(self, views: Sequence[View]) -> None:
        self.labels.draw(views)
        self.panel.draw(views)
        bar = self.panel.bar_corners()
        if bar is not None:
            self.report.bar = bar.tolist()
        if self.keep_frames:
            self.report.bars.append(None if bar is None else bar.tolist())

    def close(self) -> None:
        m = self.insight.moment()
        self.report.line = f"history: {m.label if m is not None else 'none'}"
        self.panel.release()
        self.labels.release()
