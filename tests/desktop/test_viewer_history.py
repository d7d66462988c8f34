"""History in the viewer: scrubbing a recording, recording the live stream, insight labels."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from tests.display import XServer
from tests.history.helpers import record, sim_batches
from xrclient.core.energy import EnergyState
from xrclient.desktop.viewer import Viewer
from xrclient.history.reader import Reader
from xrclient.live import TwinOptions
from xrclient.render.insight_labels import eta
from xrclient.resources import scene_path
from xrclient.settings import Settings

from .xwin import find_window, until, xdotool

SIZE = (800, 450)


def open_viewer(title: str, **extra: object) -> Viewer:
    options = Settings(
        scene=scene_path("demo-plant"),
        size=SIZE,
        vsync=False,
        title=title,
        **extra,  # type: ignore[arg-type]  # extra holds the per-test Settings fields, typed by the caller
    )
    return Viewer(options)


def test_a_recording_is_scrubbed_with_keys_and_the_bar(display: XServer, tmp_path: Path) -> None:
    path = tmp_path / "plant.xrrec"
    record(path, sim_batches(120.0, rate_hz=2.0))
    with Reader(path) as reader:
        first, last = reader.start, reader.end
    v = open_viewer("xrclient-history-test", history=path)
    try:
        wid = find_window(display.display, "xrclient-history-test", v.step)
        assert v.insight is not None and v.insight.timeline is not None
        tl = v.insight.timeline
        # without a live stream it opens at the end of the recording, in the past
        assert tl.mode == "past" and tl.time() == pytest.approx(last)
        for _ in range(2):
            v.step()
        assert v.bindings is not None and int(v.bindings.state.seen.sum()) == len(v.scene.machines)
        xdotool(display.display, "windowfocus", "--sync", wid)
        xdotool(display.display, "key", "Left")
        until(lambda: tl.time() == pytest.approx(last - 10.0), v.step, "10 s back")
        xdotool(display.display, "key", "shift+Left")
        until(lambda: tl.time() == pytest.approx(last - 70.0), v.step, "60 s more back")
        # the bar: click its start
        bar = [h for h in v.hud.hits if h.action[0] == "seek"]
        assert len(bar) == 100
        start = bar[0]
        xdotool(
            display.display,
            "mousemove",
            "--window",
            wid,
            str(int((start.x0 + start.x1) / 2)),
            str(int((start.y0 + start.y1) / 2)),
        )
        xdotool(display.display, "click", "1")
        until(lambda: tl.time() < first + 0.02 * (last - first), v.step, "a seek to the start")
        # play it back faster: time moves forward by itself
        xdotool(display.display, "key", "Up")
        xdotool(display.display, "key", "Down")
        until(lambda: tl.playing, v.step, "playback")
        t0 = tl.time()
        until(lambda: tl.time() > t0 + 0.5, v.step, "time to advance")
        # End has no live stream to return to: it says so
        xdotool(display.display, "key", "End")
        until(lambda: "no live stream" in v.ui.state.toast, v.step, "the no-live message")
    finally:
        v.close()


def test_the_live_stream_is_recorded_and_can_be_scrubbed_back(
    display: XServer, tmp_path: Path, plant_sim: str
) -> None:
    path = tmp_path / "live.xrrec"
    v = open_viewer("xrclient-live-history", twin=TwinOptions(plant_sim), history=path)
    try:
        wid = find_window(display.display, "xrclient-live-history", v.step)
        assert v.insight is not None and v.insight.recorder is not None
        until(lambda: v.live is not None and v.live.batches > 20, v.step, "live batches")
        assert v.insight.recorder.records > 0
        bar = v.insight.bar()
        assert bar is not None and bar.live
        xdotool(display.display, "windowfocus", "--sync", wid)
        xdotool(display.display, "key", "Left")
        until(
            lambda: (
                v.insight is not None
                and v.insight.timeline is not None
                and v.insight.timeline.mode == "past"
            ),
            v.step,
            "the past",
        )
        tl = v.insight.timeline
        assert tl is not None
        first, last = tl.range
        assert first <= tl.time() <= last
        xdotool(display.display, "key", "End")
        until(lambda: tl.mode == "live", v.step, "back to live")
        # energy from the live store reaches the HUD
        until(lambda: v.insight is not None and v.insight.energy_line() != "", v.step, "energy")
    finally:
        v.close()
    with Reader(path) as reader:  # what the viewer recorded is a valid recording
        assert reader.end > reader.start


def test_eta_and_line_labels_read_well(display: XServer, tmp_path: Path) -> None:
    assert eta(math.nan) == "trend unclear"
    assert eta(42) == "limit in ~42 s"
    assert eta(720) == "limit in ~12 min"
    assert eta(3 * 3600) == "limit in ~3.0 h"
    v = open_viewer("xrclient-labels", history=None, frames=1)
    try:
        from xrclient.render.insight_labels import LineLabels

        scene = v.scene
        labels = LineLabels(
            v.window.ctx,
            v.font,
            [m.line for m in scene.machines],
            {ln.id: ln.name for ln in scene.lines},
            v.geometry.machine_bounds,
        )
        try:
            lines = tuple(dict.fromkeys(m.line for m in scene.machines))
            state = EnergyState(
                time.time(),
                np.zeros(len(scene.machines)),
                np.zeros(len(scene.machines)),
                lines,
                np.arange(len(lines), dtype=float) * 10.0,
                np.full(len(lines), 42.0),
                0.0,
                0.0,
                0.5,
            )
            labels.update(state)
            shown = labels.shown
            assert len(shown) == len(lines)
            assert any(t.startswith("Machining: 42 kW, 0.0 kWh") for t in shown.values())
            assert labels.draw([v.last_view]) == 1
        finally:
            labels.release()
    finally:
        v.close()
