"""The shared moment of a session's timeline, as plain wire data.

A shared session sends a :class:`TimelineState` so that every participant shows the same
moment of a recording; :class:`xrclient.history.timeline.Timeline` produces and follows
it. It lives in core so that the session client and the room carry it without the history
package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Mode = Literal["live", "past"]
MIN_SPEED, MAX_SPEED = 1 / 64, 64.0


@dataclass(frozen=True, slots=True)
class TimelineState:
    """What a shared session sends so every participant shows the same moment."""

    mode: Mode
    time: float  # the recording time shown at ``wall`` (NaN when live)
    playing: bool
    speed: float
    wall: float  # the sender's wall clock when this was taken

    def to_wire(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "time": self.time,
            "playing": self.playing,
            "speed": self.speed,
            "wall": self.wall,
        }

    @classmethod
    def from_wire(cls, doc: Mapping[str, object]) -> TimelineState:
        mode, t, playing, speed, wall = (
            doc.get(k) for k in ("mode", "time", "playing", "speed", "wall")
        )
        if mode not in ("live", "past") or not isinstance(playing, bool):
            raise ValueError("timeline state: bad mode or playing")
        if not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in (t, speed, wall)
        ):
            raise ValueError("timeline state: time, speed and wall must be numbers")
        speed_f, wall_f, t_f = float(speed), float(wall), float(t)  # type: ignore[arg-type]  # the isinstance check above makes these numbers; mypy cannot narrow through all()
        if not (MIN_SPEED <= speed_f <= MAX_SPEED and math.isfinite(wall_f)):
            raise ValueError("timeline state: speed or wall out of range")
        if mode == "past" and not math.isfinite(t_f):
            raise ValueError("timeline state: a past time must be finite")
        return cls(mode, t_f, playing, speed_f, wall_f)
