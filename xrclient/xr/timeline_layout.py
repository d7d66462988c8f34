"""Where the headset's timeline panel is and what each part of it does (no GL, no I/O).

The panel is a 30 x 13 cm card above the left controller, facing the user, in panel
coordinates of metres (x right, y up, origin at its centre): a status line on top, the bar
(the recorded span, filled up to the shown moment, a cursor there), and a row of buttons.
Where the left controller is not tracked, the panel floats in front of the user.
``PanelRect`` is the card placed in the world: lasers hit it and report panel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xrclient.xr.poses import F64, Pose

HALF_W, HALF_H = 0.15, 0.065
#: the card's centre in the left grip's frame (-Z along the controller, +Y up)
ON_HAND = (0.0, 0.13, -0.03)
#: a floating card: this far in front of the head and this far below the eyes (metres)
AHEAD_M, BELOW_M = 0.6, 0.2
LABEL_AT = (-0.14, 0.038)
BAR_X = (-0.14, 0.14)
BAR_Y = (-0.004, 0.016)
#: a laser this close to the bar (metres, vertically) scrubs it
BAR_GRACE_Y = (-0.016, 0.026)
BUTTON_Y = (-0.056, -0.026)
_GAP = 0.01
_BW = (BAR_X[1] - BAR_X[0] - 3 * _GAP) / 4
#: (request, x0, x1) of each button, left to right; its text comes from the panel
BUTTONS: tuple[tuple[str, float, float], ...] = tuple(
    (req, BAR_X[0] + i * (_BW + _GAP), BAR_X[0] + i * (_BW + _GAP) + _BW)
    for i, req in enumerate(("tl_back_long", "tl_play", "tl_faster", "tl_live"))
)


def bar_fraction(x: float) -> float:
    return min(max((x - BAR_X[0]) / (BAR_X[1] - BAR_X[0]), 0.0), 1.0)


def seek_request(fraction: float) -> str:
    return f"seek:{round(min(max(fraction, 0.0), 1.0) * 1000)}"


def target_at(x: float, y: float) -> str | None:
    """The request a trigger pull at panel point ``(x, y)`` makes (None: nothing there)."""
    if BAR_GRACE_Y[0] <= y <= BAR_GRACE_Y[1] and BAR_X[0] - 0.01 <= x <= BAR_X[1] + 0.01:
        return seek_request(bar_fraction(x))
    if BUTTON_Y[0] <= y <= BUTTON_Y[1]:
        for request, x0, x1 in BUTTONS:
            if x0 <= x <= x1:
                return request
    return None


@dataclass(frozen=True, slots=True)
class PanelRect:
    """The card in world space: ``centre``, and ``ex``/``ey`` the world vectors of one panel
    metre along x and y (the rig's scale included, so the card keeps its size in the hand)."""

    centre: F64
    ex: F64
    ey: F64

    def point(self, x: float, y: float) -> F64:
        """World position of panel point ``(x, y)``."""
        return self.centre + self.ex * x + self.ey * y

    def points(self, xy: F64) -> F64:
        """World positions of (N, 2) panel points."""
        return self.centre + xy[:, :1] * self.ex + xy[:, 1:2] * self.ey

    def hit(self, origin: F64, direction: F64, length: float) -> tuple[float, float, float] | None:
        """``(distance, x, y)`` where a ray meets the card within ``length`` (None: misses)."""
        normal = np.cross(self.ex, self.ey)
        denom = float(np.dot(direction, normal))
        if abs(denom) < 1e-12:
            return None
        t = float(np.dot(self.centre - origin, normal)) / denom
        if not 0.0 < t <= length:
            return None
        rel = origin + direction * t - self.centre
        x = float(np.dot(rel, self.ex)) / float(np.dot(self.ex, self.ex))
        y = float(np.dot(rel, self.ey)) / float(np.dot(self.ey, self.ey))
        if abs(x) > HALF_W or abs(y) > HALF_H:
            return None
        return t, x, y


def _card(world_from_stage: F64, stage_from_card: F64) -> PanelRect:
    m = world_from_stage @ stage_from_card
    return PanelRect(m[:3, 3].copy(), m[:3, 0].copy(), m[:3, 1].copy())


def on_hand(world_from_stage: F64, grip: Pose) -> PanelRect:
    """The card above a controller, facing back along it."""
    m = grip.matrix()
    m[:3, 3] = m[:3, :3] @ np.asarray(ON_HAND, np.float64) + m[:3, 3]
    return _card(world_from_stage, m)


def ahead_of(world_from_stage: F64, head: Pose) -> PanelRect:
    """The card floating in front of the head, level, turned to face it."""
    h = head.matrix()
    forward = -h[:3, 2].copy()
    forward[1] = 0.0
    n = float(np.linalg.norm(forward))
    forward = forward / n if n > 1e-6 else np.array([0.0, 0.0, -1.0])
    right = np.array([-forward[2], 0.0, forward[0]])
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2] = right, (0.0, 1.0, 0.0), -forward
    m[:3, 3] = h[:3, 3] + forward * AHEAD_M - np.array([0.0, BELOW_M, 0.0])
    return _card(world_from_stage, m)
