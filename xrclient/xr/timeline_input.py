"""From the controllers to timeline requests, as a sans-I/O state machine.

Fed the hand states and the lasers (from :class:`~.controls.Controls`) once per frame, with
the wall clock; answers the requests for :meth:`xrclient.history.insight.Insight.control`:

- the timeline button (Touch: Y or B; Index: A; Windows MR: trackpad click) shows or hides
  the panel;
- while the panel is shown, the left thumbstick drives the timeline instead of moving the
  user: right / left steps 10 s forward / back (held: a minute every quarter second), up
  plays or pauses, down goes back to live;
- the trigger, with a laser on the panel: on the bar, go to that moment (hold and sweep to
  scrub); on a button, what the button says (a minute back, play/pause, faster, live).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from xrclient.xr.controls import Laser
from xrclient.xr.input import ButtonEdges, HandState
from xrclient.xr.timeline_layout import BAR_X, bar_fraction, seek_request, target_at

LEFT = 0


@dataclass(frozen=True, slots=True)
class TimelineInputConfig:
    stick_on: float = 0.7
    stick_off: float = 0.3
    repeat_after_s: float = 0.5  # a step held this long starts repeating long steps
    repeat_every_s: float = 0.25


@dataclass(slots=True)
class TimelineInput:
    shown: bool = True
    hand: int = LEFT  # the hand carrying the panel; its stick drives the timeline
    config: TimelineInputConfig = field(default_factory=TimelineInputConfig)
    _buttons: ButtonEdges = field(default_factory=lambda: ButtonEdges("timeline"))
    _latched: str | None = None  # the stick request being held
    _repeat_at: float = 0.0
    _drag: int | None = None  # the hand scrubbing the bar with its trigger held
    _last_seek: str = ""

    def mask(self, hands: Sequence[HandState]) -> tuple[HandState, ...]:
        """The hand states locomotion gets: without the panel hand's stick while shown."""
        if not self.shown or len(hands) <= self.hand:
            return tuple(hands)
        out = list(hands)
        out[self.hand] = dataclasses.replace(out[self.hand], stick=(0.0, 0.0))
        return tuple(out)

    def step(self, hands: Sequence[HandState], lasers: Sequence[Laser], now: float) -> list[str]:
        """Requests made this frame (the panel's visibility is ``shown``)."""
        for _ in self._buttons.update(hands)["timeline"]:
            self.shown = not self.shown
        if not self.shown:
            self._latched, self._drag = None, None
            return []
        requests: list[str] = []
        if len(hands) > self.hand:
            requests += self._stick(hands[self.hand].stick, now)
        requests += self._lasers(lasers)
        return requests

    def _stick(self, stick: tuple[float, float], now: float) -> list[str]:
        cfg = self.config
        sx, sy = stick
        if self._latched is not None:
            axis = sx if self._latched in ("tl_fwd", "tl_back") else sy
            if abs(axis) < cfg.stick_off:
                self._latched = None
                return []
            if self._latched in ("tl_fwd", "tl_back") and now >= self._repeat_at:
                self._repeat_at = now + cfg.repeat_every_s
                return [f"{self._latched}_long"]
            return []
        if abs(sx) > cfg.stick_on and abs(sx) > abs(sy):
            self._latched = "tl_fwd" if sx > 0 else "tl_back"
        elif abs(sy) > cfg.stick_on:
            self._latched = "tl_play" if sy > 0 else "tl_live"
        else:
            return []
        self._repeat_at = now + cfg.repeat_after_s
        return [self._latched]

    def _lasers(self, lasers: Sequence[Laser]) -> list[str]:
        requests: list[str] = []
        for laser in lasers:
            if self._drag == laser.hand and not laser.held:
                self._drag = None
            if laser.panel is None:
                continue
            x, y = laser.panel
            if laser.pressed:
                target = target_at(x, y)
                if target is None:
                    continue
                requests.append(target)
                if target.startswith("seek:"):
                    self._drag, self._last_seek = laser.hand, target
            elif self._drag == laser.hand and BAR_X[0] - 0.03 <= x <= BAR_X[1] + 0.03:
                target = seek_request(bar_fraction(x))
                if target != self._last_seek:
                    self._last_seek = target
                    requests.append(target)
        return requests
