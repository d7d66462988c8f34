"""History and foresight for any front end: the timeline (live or a past moment), predicted
issues and energy (no GL: the labels that show them are in ``render/insight_layer.py``).

Each frame ``frame`` answers which store and which time to render: the live store and the
wall clock, or the timeline's store at the chosen moment of a recording (``--history
FILE``: a recording to scrub, or, with a live stream and a new file, the live stream
recorded into it as it arrives). The predictor and the energy meter read the same store, so
badges, line energy and what the front end shows follow the chosen moment too.

Front ends send timeline requests to ``control`` (``tl_back``, ``tl_fwd``, ``tl_back_long``,
``tl_fwd_long``, ``tl_play``, ``tl_faster``, ``tl_live``, ``seek:N`` with N in 0..1000 along
the recording) and show ``moment()``: the desktop viewer as a HUD bar, the headset as a
panel in the world.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from xrclient.core.anomaly import PredictionState
from xrclient.core.energy import EnergyMeter, EnergyState
from xrclient.core.twin_store import TwinStore
from xrclient.errors import XRClientError
from xrclient.history.format import RecordingError
from xrclient.history.reader import Reader
from xrclient.history.recorder import Recorder
from xrclient.history.timeline import MAX_SPEED, Timeline
from xrclient.scene.model import Scene
from xrclient.scene.prediction_levels import scene_predictor

#: seconds a short and a long scrub step moves
STEP_S, LONG_STEP_S = 10.0, 60.0
#: the requests ``control`` understands besides ``seek:N``
REQUESTS = ("tl_back", "tl_fwd", "tl_back_long", "tl_fwd_long", "tl_play", "tl_faster", "tl_live")


@dataclass(frozen=True, slots=True)
class Moment:
    """What the timeline shows, for a bar: ``position`` 0..1 along the recording;
    ``short``: the label for a small panel ("LIVE", "PAST 14:05:12, paused")."""

    label: str
    position: float
    live: bool
    short: str = ""


def moment_of(timeline: Timeline | None, recording: bool) -> Moment | None:
    """The moment a timeline shows (None: no history at all)."""
    if timeline is None:
        return (
            Moment("LIVE (recording history)", 1.0, True, "LIVE, recording") if recording else None
        )
    first, last = timeline.range
    span = max(last - first, 1e-9)
    if timeline.mode == "live":
        return Moment(f"LIVE ({(last - first) / 60:.0f} min recorded)", 1.0, True, "LIVE")
    t = timeline.time()
    clock = time.strftime("%H:%M:%S", time.localtime(t))
    state = f"playing {timeline.speed:g}x" if timeline.playing else "paused"
    behind = last - t
    return Moment(
        f"PAST {clock} ({behind:,.0f} s before the end), {state}",
        (t - first) / span,
        False,
        f"PAST {clock}, {state}",
    )


class Insight:
    """``live``: whether a live stream feeds the front end (then a new ``history`` file
    records it: the plant frame hands ``recorder`` to the stream)."""

    def __init__(self, scene: Scene, live: bool, history: Path | None) -> None:
        self.scene = scene
        self.live = live
        self.path = history
        self.recorder: Recorder | None = None
        self.timeline: Timeline | None = None
        self.message = ""  # the last problem with the history, for the user
        if history is not None:
            if live and not history.exists():
                # the stream as it arrives; flushed per record, synced now and then
                self.recorder = Recorder(history, fsync_s=300.0)
            else:
                opened = self.open_timeline()
                if not live and opened is not None:
                    opened.seek(opened.range[1])
        self.predictor = scene_predictor(scene, scene.prediction)
        self.meter = EnergyMeter([m.line for m in scene.machines], scene.energy)
        self.prediction: PredictionState | None = None
        self.energy: EnergyState | None = None
        self._mode = "live"

    def open_timeline(self) -> Timeline | None:
        """The timeline, opened on the history file if not yet (None: nothing recorded yet)."""
        if self.timeline is not None:
            return self.timeline
        assert self.path is not None
        try:
            reader = Reader(self.path)
        except (RecordingError, OSError) as exc:
            if self.recorder is None:  # a file given to scrub must be readable
                raise XRClientError(f"--history {self.path}: {exc}") from None
            self.message = "nothing recorded yet"
            return None
        self.timeline = Timeline(reader, [m.id for m in self.scene.machines])
        return self.timeline

    # --- per frame ------------------------------------------------------------------------

    def frame(self, live_store: TwinStore | None, now: float) -> tuple[TwinStore | None, float]:
        """The store and time to render; updates the predictor and the meter on them."""
        store, t = live_store, now
        tl = self.timeline
        if tl is not None:
            if live_store is not None:
                store, t = tl.view(live_store, now)
            else:
                tl.update(now)
                store, t = tl.store, tl.time()
        if tl is not None and tl.mode != self._mode:  # live <-> past: start the baselines over
            self._mode = tl.mode
            self.predictor.reset()
            self.meter.reset()
        if store is None or not math.isfinite(t):
            return None, now
        self.prediction = self.predictor.update(store, t)
        self.energy = self.meter.update(store, t)
        return store, t

    # --- timeline controls ----------------------------------------------------------------

    def control(self, request: str) -> str:
        """Carry out a timeline request; returns what to tell the user ('' for nothing)."""
        if self.path is None:
            return "no history: start with --history FILE to record and scrub"
        tl = self.open_timeline()
        if tl is None:
            return self.message
        first, last = tl.range
        current = tl.time() if tl.mode == "past" else last
        steps = {
            "tl_back": -STEP_S,
            "tl_fwd": STEP_S,
            "tl_back_long": -LONG_STEP_S,
            "tl_fwd_long": LONG_STEP_S,
        }
        if request in steps:
            target = current + steps[request]
            if self.live and request.startswith("tl_fwd") and target >= last:
                tl.go_live()
                return "live"
            tl.seek(target)
        elif request == "tl_play":
            if tl.mode == "live":
                tl.seek(last - STEP_S)
            if tl.playing:
                tl.pause()
            else:
                tl.play()
        elif request == "tl_faster":
            tl.set_speed(tl.speed * 2.0 if tl.speed < MAX_SPEED else 1.0)
            return f"playback {tl.speed:g}x"
        elif request == "tl_live":
            if not self.live:
                return "no live stream (--twin URL) to return to"
            tl.go_live()
            return "live"
        elif request.startswith("seek:"):
            fraction = min(max(int(request[5:]) / 1000.0, 0.0), 1.0)
            tl.seek(first + (last - first) * fraction)
        return ""

    def moment(self) -> Moment | None:
        """What the timeline shows now (None without history)."""
        return moment_of(self.timeline, self.recorder is not None)

    def energy_line(self) -> str:
        e = self.energy
        if e is None or not math.isfinite(e.plant_kw):
            return ""
        return (
            f"energy: {e.plant_kw:,.0f} kW now, {e.plant_kwh:,.1f} kWh and "
            f"{e.plant_co2_kg:,.1f} kg CO2 since opened"
        )

    def predicted(self) -> int:
        return int(self.prediction.flagged.sum()) if self.prediction is not None else 0

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
        if self.timeline is not None:
            self.timeline.reader.close()
