"""A sans-I/O timeline for front ends: live or a past moment of a recording, played back.

The front end keeps its live ``TwinStore`` as before and asks the timeline, once per frame,
which store and which time to render::

    store, now = timeline.view(live.store, time.time())
    bindings.evaluate(store, now)            # overlays, sparklines follow the chosen time

In live mode that is the live store and the wall clock. In past mode it is the timeline's
own store, rebuilt from the recording at the chosen time (with ``history_s`` seconds of
history behind it, so sparklines show the minutes before that moment) and advanced
incrementally while playing. ``reader.refresh()`` is called as needed, so a recording that
is still being written (the viewer's own recorder) can be scrubbed up to now.

``state()`` / ``follow()`` carry the timeline as a small dict, so a shared session can
take everyone to the same moment: the leader sends ``state()``, others ``follow`` it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xrclient.core.timeline_state import MAX_SPEED, MIN_SPEED, Mode, TimelineState
from xrclient.core.twin_store import TwinStore
from xrclient.history.reader import Reader

# TimelineState and its limits live in xrclient.core.timeline_state; re-exported here.
__all__ = ["MAX_SPEED", "MIN_SPEED", "Mode", "Timeline", "TimelineState"]


class Timeline:
    def __init__(
        self,
        reader: Reader,
        machine_ids: Sequence[str],
        *,
        history_capacity: int = 300,
        history_interval: float = 1.0,
    ) -> None:
        self.reader = reader
        self.machine_ids = tuple(machine_ids)
        self.history_capacity = history_capacity
        self.history_interval = history_interval
        self.mode: Mode = "live"
        self.playing = False
        self.speed = 1.0
        self._t = math.nan  # the chosen recording time (past mode)
        self._wall: float | None = None  # wall clock of the last update
        self.store: TwinStore | None = None  # the past store
        self._applied_t = math.nan  # the store holds the state at this time
        self._next = 0  # first entry not yet applied to the store

    # -- controls ---------------------------------------------------------------------------

    @property
    def range(self) -> tuple[float, float]:
        """(first, last) recorded time, after picking up appended records."""
        self.reader.refresh()
        return self.reader.start, self.reader.end

    def seek(self, t: float) -> None:
        """Show the plant at recording time ``t`` (clamped to the recording); past mode."""
        if not math.isfinite(t):
            raise ValueError(f"seek time must be finite, got {t!r}")
        first, last = self.range
        self.mode = "past"
        self._t = min(max(t, first), last)
        self._wall = None

    def go_live(self) -> None:
        self.mode = "live"
        self.playing = False
        self.store = None
        self._applied_t = math.nan

    def play(self, speed: float | None = None) -> None:
        if speed is not None:
            self.set_speed(speed)
        if self.mode == "live":
            return
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    def set_speed(self, speed: float) -> None:
        if not (math.isfinite(speed) and MIN_SPEED <= speed <= MAX_SPEED):
            raise ValueError(f"speed must be {MIN_SPEED:g} to {MAX_SPEED:g}")
        self.speed = speed

    def time(self) -> float:
        """The chosen recording time (NaN when live)."""
        return self._t if self.mode == "past" else math.nan

    # -- per frame --------------------------------------------------------------------------

    def update(self, wall: float) -> None:
        """Advance playback to wall-clock ``wall`` and bring the past store to the time."""
        if self.mode == "live":
            return
        if self.playing and self._wall is not None:
            t = self._t + (wall - self._wall) * self.speed
            first, last = self.range
            if t >= last or t <= first:
                self.playing = False  # stop at either end
            self._t = min(max(t, first), last)
        self._wall = wall
        self._bring_to(self._t)

    def view(self, live: TwinStore, wall: float) -> tuple[TwinStore, float]:
        """The store and the time to render this frame (see the module docstring)."""
        self.update(wall)
        if self.mode == "live" or self.store is None:
            return live, wall
        return self.store, self._t

    def apply_to(self, store: TwinStore) -> None:
        """Write the chosen moment's values and source times into ``store`` as a snapshot
        (e.g. a store the front end keeps for the past); its history ring is not rewound:
        ``view`` gives a store whose sparklines follow the chosen time too."""
        if self.mode == "live":
            return
        found = self.reader.state_at(self._t)
        if found is not None:
            store.apply(found[0], self._t)

    # -- shared sessions --------------------------------------------------------------------

    def state(self, wall: float) -> TimelineState:
        return TimelineState(self.mode, self.time(), self.playing, self.speed, wall)

    def follow(self, state: TimelineState, wall: float) -> None:
        """Take on a leader's timeline (the time it shows now, given when it was sent)."""
        if state.mode == "live":
            self.go_live()
            return
        t = state.time
        if state.playing:
            t += max(0.0, wall - state.wall) * state.speed
        self.speed = state.speed
        self.seek(t)
        self.playing = state.playing
        self._wall = wall

    # -- rebuilding -------------------------------------------------------------------------

    def _bring_to(self, t: float) -> None:
        if self.store is not None and self._applied_t <= t and self._next > 0:
            self._apply_range(t)  # forward: only what came after
            return
        window = self.history_capacity * self.history_interval
        self.store = TwinStore(
            self.machine_ids,
            history_capacity=self.history_capacity,
            history_interval=self.history_interval,
        )
        found = self.reader.state_at(t - window)
        if found is None:
            self._next = 0
            self._applied_t = -math.inf
        else:
            batch, last = found
            self.store.apply(batch, self.reader.entries[last].time)
            self._next = last + 1
            self._applied_t = t - window
        self._apply_range(t)

    def _apply_range(self, t: float) -> None:
        store = self.store
        assert store is not None
        for i, batch in self.reader.iter_batches(self._next, t):
            store.apply(batch, self.reader.entries[i].time)
            self._next = i + 1
        if self._next > 0 or store.schema is not None:
            store.advance(t)
        self._applied_t = t
