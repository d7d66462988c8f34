"""The viewer's history and foresight: :class:`~xrclient.history.insight.Insight` with the
HUD's timeline bar.

The plant frame asks it each frame which store and time to render (live, or the chosen
moment of a ``--history FILE`` recording); badges, line energy and the HUD follow it.
"""

from __future__ import annotations

from xrclient.desktop.hud import TimelineBar
from xrclient.history.insight import LONG_STEP_S, STEP_S, Insight

__all__ = ["LONG_STEP_S", "STEP_S", "InsightLink"]


class InsightLink(Insight):
    def bar(self) -> TimelineBar | None:
        m = self.moment()
        return None if m is None else TimelineBar(m.label, m.position, m.live)
