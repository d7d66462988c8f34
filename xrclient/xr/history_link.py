"""History in the headset (``xrclient xr --history FILE``): the timeline card on the left
controller, driven by the controllers, and the predicted-issue and line-energy labels.

Per frame, :class:`~.scene_view.SceneView` calls ``before_controls`` (place the card where
lasers can hit it, keep the left stick from moving the user while the card is up),
``after_controls`` (controller input to timeline requests), then ``frame`` (which store and
time to render: live, or the chosen moment of the recording) and ``draw``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import moderngl

from xrclient.backends.base import View
from xrclient.core.bindings import Bindings
from xrclient.core.twin_store import TwinStore
from xrclient.history.insight import Insight
from xrclient.live import LiveTwin
from xrclient.render.font import load_font
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.model import Scene
from xrclient.session import Session
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
        live: LiveTwin | None,
        history: Path,
        *,
        keep_frames: bool = False,
    ) -> None:
        font = load_font()
        self.insight = Insight(scene, geometry, ctx, font, live, history)
        try:
            self.bindings = live.bindings if live is not None else Bindings.compile(scene)
            self.input = TimelineInput()
            self.panel = TimelinePanel(ctx, font)
        except BaseException:
            self.insight.close()
            raise
        self.report = HistoryReport()
        #: the shared session, if any: follow its shared moment, share this one when leading
        self.session: Session | None = None
        self.keep_frames = keep_frames
        self._rect: PanelRect | None = None
        self._hot: str | None = None
        self._said = ""
        self._said_until = -math.inf

    def set_srgb_output(self, srgb: bool) -> None:
        self.insight.srgb_output = srgb
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
        """Carry out one timeline request (from the controllers or a script). In a session,
        a leader or an expert takes the room along; anyone else leaves the shared moment
        to scrub on from it."""
        session = self.session
        sharing = session is not None and session.can_share_timeline
        if session is not None and not sharing and session.viewing_shared_past:
            session.leave_shared_timeline(live=False)
        said = self.insight.control(request)
        tl = self.insight.timeline
        if session is not None and sharing and tl is not None and session.status.state == "live":
            tl.update(now)
            session.share_timeline(tl.state(now))
        self.report.requests.append(request)
        log.info("timeline: %s%s", request, f" ({said})" if said else "")
        if said:
            self._said, self._said_until = said, now + SAY_S
        return said

    def frame(self, live_store: TwinStore | None, now: float) -> tuple[TwinStore | None, float]:
        """The store and time to render (the chosen moment); updates the card."""
        session = self.session
        if session is not None:  # the moment the session's leader shares, or live again
            if session.shared_timeline is not None and not session.timeline_detached:
                self.insight.open_timeline()
            if self.insight.timeline is not None:
                session.follow_timeline(self.insight.timeline, now)
        store, t = self.insight.frame(live_store, now)
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
            self.report.shown.append(t if store is not None else math.nan)
        return store, t

    def draw(self, views: Sequence[View]) -> None:
        self.insight.draw(list(views))
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
        self.insight.close()
