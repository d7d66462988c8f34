"""The plant frame: the one per-tick update of the plant that every front end runs.

Once per rendered frame a front end calls :meth:`PlantFrame.update`: the twin stream's
queue is drained into the store (never waiting on the network), the history picks the
store and moment to show (live, or a moment of a recording, following a session's shared
moment), and the scene's bindings write colours, alarms and stale looks into the machine
visuals. The front end then runs what is its own (input, training with the shown store),
and :meth:`PlantFrame.mark` writes the highlights: the training step's machine pulses,
the hovered machine glows, the selected one is lit. The desktop viewer, the headset, the
headless snapshot and the web server all read the result (``store``, ``t``,
``visuals``, ``bindings.state``) and only differ in how they draw it.

No GL and no drawing here: the plant frame is arrays in, arrays out.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from xrclient.core.visuals import MachineVisuals
from xrclient.progress import Progress, quiet

if TYPE_CHECKING:
    from concurrent.futures import Future

    from xrclient.core.bindings import Bindings, BindingState
    from xrclient.core.session_mirror import Reply
    from xrclient.core.twin_store import TwinStore
    from xrclient.history.insight import Insight
    from xrclient.live import LiveTwin, TwinOptions
    from xrclient.scene.model import Scene
    from xrclient.session import Session

#: highlight of the machine under the cursor or a laser
HOVER_HIGHLIGHT = 0.45
#: the training step's machine pulses between LOW and LOW + DEPTH, PULSE_RATE radians/s
PULSE_LOW, PULSE_DEPTH, PULSE_RATE = 0.35, 0.35, 5.0


def step_pulse(now: float) -> float:
    """The highlight of the training step's machine at ``now`` (a slow pulse)."""
    return PULSE_LOW + PULSE_DEPTH * (0.5 + 0.5 * math.sin(now * PULSE_RATE))


class StepTarget(Protocol):
    """Where the running training step points (a scene machine index, or None)."""

    def target(self) -> int | None: ...


class PlantFrame:
    """Live state, history and bindings turned into what to draw, once per tick.

    ``live``: the twin stream (None: no live state); ``insight``: history and foresight
    (``--history``; None: live only); ``bindings``: the scene's rules over the shown store
    (None: plain geometry). ``session`` (set once joined) lets the history follow a
    session's shared moment; ``training`` (set with ``--procedure``) makes its step's
    machine pulse.
    """

    def __init__(
        self,
        n_machines: int,
        *,
        live: LiveTwin | None = None,
        insight: Insight | None = None,
        bindings: Bindings | None = None,
    ) -> None:
        self.live = live
        self.insight = insight
        self.bindings = bindings if bindings is not None or live is None else live.bindings
        self.visuals = MachineVisuals(n_machines)
        self.session: Session | None = None
        self.training: StepTarget | None = None
        #: the store shown this tick (None: nothing to show yet) and its moment
        self.store: TwinStore | None = None
        self.t = 0.0
        self.now = 0.0
        if insight is not None and live is not None and insight.recorder is not None:
            live.recorder = insight.recorder  # the stream recorded as it arrives

    @property
    def state(self) -> BindingState | None:
        """The bindings' result for the shown store (None without bindings)."""
        return self.bindings.state if self.bindings is not None else None

    @property
    def shown(self) -> bool:
        """Whether there is live or recorded state to show (bindings over a store)."""
        return self.store is not None and self.bindings is not None

    # --- per tick -------------------------------------------------------------------------

    def update(self, now: float | None = None) -> TwinStore | None:
        """Drain the stream, choose the moment, evaluate the bindings; returns the store shown."""
        now = time.time() if now is None else now
        self.now = now
        store: TwinStore | None = None
        if self.live is not None:
            self.live.update(now)  # drains the network queue; never waits
            store = self.live.store
        t = now
        insight = self.insight
        if insight is not None:
            self._follow_shared_timeline(now)
            store, t = insight.frame(store, now)
        self.store, self.t = store, t
        bindings = self.bindings
        if bindings is not None and store is not None:
            bindings.update(store, t)  # only what this tick's writes can change
            bindings.apply(self.visuals)
        else:
            self.visuals.reset()
        return store

    def mark(
        self,
        selected: int | None = None,
        hovered: int | None = None,
        now: float | None = None,
    ) -> None:
        """Highlights of this tick: the training step's machine, hovered, selected."""
        highlight = self.visuals.highlight
        highlight[:] = 0.0
        training = self.training
        if training is not None:
            target = training.target()
            if target is not None:
                highlight[target] = step_pulse(self.now if now is None else now)
        if hovered is not None:
            highlight[hovered] = HOVER_HIGHLIGHT
        if selected is not None:
            highlight[selected] = 1.0

    # --- history in a session -------------------------------------------------------------

    def _follow_shared_timeline(self, now: float) -> None:
        """Go to the moment of history the session's leader shares (or back to live)."""
        session, insight = self.session, self.insight
        if session is None or insight is None:
            return
        if session.shared_timeline is not None and not session.timeline_detached:
            insight.open_timeline()
        if insight.timeline is not None:
            session.follow_timeline(insight.timeline, now)

    def timeline_request(self, request: str, now: float) -> tuple[str, Future[Reply] | None]:
        """Carry out a timeline request (keys, the bar, the headset's card); returns what to
        tell the user and, when this moment was shared with the room, the hub's answer to
        come. In a session a leader or an expert takes everyone along; anyone else leaves
        the shared moment to scrub on from it."""
        insight = self.insight
        if insight is None:
            return "no history without live state (--twin URL) or --history FILE", None
        session = self.session
        sharing = session is not None and session.can_share_timeline
        if session is not None and not sharing and session.viewing_shared_past:
            session.leave_shared_timeline(live=False)  # scrub on from the shared moment
        said = insight.control(request)
        tl = insight.timeline
        shared = None
        if session is not None and sharing and tl is not None and session.status.state == "live":
            tl.update(now)
            shared = session.share_timeline(tl.state(now))
        return said, shared

    def rejoin_shared_timeline(self) -> str:
        session = self.session
        if session is None or session.shared_timeline is None:
            return "no shared moment to rejoin"
        session.rejoin_shared_timeline()
        return f"back at the moment {session.shared_timeline.name} shares"

    def close(self) -> None:
        """Stop the stream's thread and close the history (recording flushed)."""
        if self.live is not None:
            self.live.recorder = None
            self.live.stop()
        if self.insight is not None:
            self.insight.close()


def compose_plant(
    scene: Scene,
    twin: TwinOptions | None,
    history: Path | None,
    progress: Progress = quiet,
    insight_type: type[Insight] | None = None,
    *,
    foresight: bool = False,
) -> PlantFrame:
    """The plant frame a front end runs: the twin stream started (``twin``), the history
    (``history``: a recording to scrub, or where the live stream is recorded), and the
    scene's bindings over either. ``foresight``: predictions and energy over live state
    even without a history file. ``insight_type``: the front end's own history class."""
    from xrclient.core.bindings import Bindings
    from xrclient.history.insight import Insight
    from xrclient.live import LiveTwin

    live = None
    if twin is not None:
        progress(f"connecting to twin stream {twin.url}")
        live = LiveTwin(scene, twin).start()
    try:
        insight = None
        if history is not None or (foresight and live is not None):
            insight = (insight_type or Insight)(scene, live is not None, history)
        bindings = None
        if live is None and insight is not None:
            bindings = Bindings.compile(scene)
        return PlantFrame(len(scene.machines), live=live, insight=insight, bindings=bindings)
    except BaseException:
        if live is not None:
            live.stop()
        raise
