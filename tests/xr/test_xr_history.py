"""History in the headset against Monado: a recording opened with ``--history`` shows the
timeline card on the left controller in the past-mode colours, and the right controller's
laser on the bar with the trigger pulled takes the plant to that moment; with a live
stream the card is live (green) and records it, and the left thumbstick goes back in time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.display import XServer
from tests.history.helpers import record, sim_batches
from tests.xr.xr_runtime import run_probe, runtime_env
from xrclient.history.reader import Reader
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.xr.timeline_panel import LIVE_FILL, PAST_FILL, TRACK

pytestmark = pytest.mark.timeout(240)
FRAMES = 9
BEFORE = 2  # a frame before the laser pulls its trigger (at frame 5)


def _probe(out: Path, env: dict[str, str], frames: int, *extra: str) -> dict[str, Any]:
    out.mkdir()
    scene = str(scene_path(DEMO_SCENE))
    run_probe(["frames", str(out), scene, str(frames), "--view", "line-a", *extra], env)
    summary: dict[str, Any] = json.loads((out / "frames.json").read_text())
    with np.load(out / "frames.npz") as data:
        summary["arrays"] = {k: data[k] for k in data.files}
    return summary


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, xvfb: XServer) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("xr-history")
    recording = folder / "plant.xrrec"
    record(recording, sim_batches(120.0, rate_hz=2.0))
    with Reader(recording) as reader:
        span = (reader.start, reader.end)
    extra = ("--history", str(recording), "--point-bar", "3:0.0", "--snapshot", str(BEFORE))
    summary = _probe(folder / "out", runtime_env(xvfb.env()), FRAMES, *extra)
    summary["span"] = span
    return summary


def _bar_box(run: dict[str, Any], frame: int | None = None) -> tuple[slice, slice]:
    """Rows and columns of the left eye covered by the bar (its corners projected) in the
    last frame, or in the snapshot ``frame`` (the simulated headset and hands move)."""
    history = run["history"]
    if frame is None:
        corners = np.asarray(history["bar"], np.float64)
        view_proj = run["arrays"]["view_proj0"]
    else:
        corners = np.asarray(history["bars"][frame], np.float64)
        view_proj = run["arrays"][f"view_proj0@{frame}"]
    clip = np.hstack([corners, np.ones((4, 1))]) @ view_proj.T
    ndc = clip[:, :2] / clip[:, 3:4]
    h, w = run["arrays"]["eye0"].shape[:2]
    x = (ndc[:, 0] + 1) / 2 * w
    y = (1 - ndc[:, 1]) / 2 * h  # top row first
    assert (clip[:, 3] > 0).all() and 0 <= x.min() and x.max() <= w and 0 <= y.min() <= h
    return slice(int(y.min()), int(np.ceil(y.max()))), slice(int(x.min()), int(np.ceil(x.max())))


def _near(image: npt.NDArray[np.uint8], rgba: tuple[float, ...], tol: int = 10) -> int:
    want = np.round(np.asarray(rgba[:3]) * 255).astype(np.int32)
    diff = np.abs(image[:, :, :3].astype(np.int32) - want).max(axis=2)
    return int((diff <= tol).sum())


def test_the_recording_opens_at_its_end_in_the_past(run: dict[str, Any]) -> None:
    _first, last = run["span"]
    shown = run["history"]["shown"]
    assert len(shown) == run["frames"]
    assert shown[0] == pytest.approx(last)
    assert "PAST" in run["history"]["line"]


def test_the_card_shows_the_past_moment_on_the_left_controller(run: dict[str, Any]) -> None:
    rows, cols = _bar_box(run, BEFORE)
    before = run["arrays"][f"eye0@{BEFORE}"][rows, cols]
    # at the end of the recording the bar is filled in the past colour, cursor at its end
    assert _near(before, PAST_FILL) > 0.5 * before.shape[0] * before.shape[1] / 2
    assert _near(run["arrays"][f"eye1@{BEFORE}"], PAST_FILL) > 100  # the right eye too


def test_the_laser_and_trigger_on_the_bar_go_to_that_moment(run: dict[str, Any]) -> None:
    first, last = run["span"]
    requests = run["history"]["requests"]
    assert requests and requests[0].startswith("seek:")
    assert int(requests[0][5:]) <= 30  # the bar's start, give or take the laser's aim
    shown = run["history"]["shown"][-1]
    assert first <= shown <= first + 0.05 * (last - first)
    # the bar now shows the track, barely filled: the moment moved in the image too
    rows, cols = _bar_box(run)
    after = run["arrays"]["eye0"][rows, cols]
    rows, cols = _bar_box(run, BEFORE)
    before = run["arrays"][f"eye0@{BEFORE}"][rows, cols]
    assert _near(after, PAST_FILL) < 0.2 * _near(before, PAST_FILL)
    assert _near(after, TRACK) > 0.5 * after.shape[0] * after.shape[1] / 2


def test_a_live_stream_is_recorded_and_the_left_stick_goes_back(
    tmp_path: Path, xvfb: XServer, twin_url: str
) -> None:
    recording = tmp_path / "live.xrrec"
    extra = ("--twin", twin_url, "--history", str(recording), "--snapshot", "2")
    run = _probe(tmp_path / "out", runtime_env(xvfb.env()), 12, *extra, "--stick", "6:-1:0")
    rows, cols = _bar_box(run, 2)
    live = run["arrays"]["eye0@2"][rows, cols]
    assert _near(live, LIVE_FILL) > 0.5 * live.shape[0] * live.shape[1] / 2
    assert _near(live, PAST_FILL) == 0
    history = run["history"]
    assert history["requests"] == ["tl_back"]  # one push, one step
    assert "PAST" in history["line"]
    rows, cols = _bar_box(run)
    past = run["arrays"]["eye0"][rows, cols]
    assert _near(past, LIVE_FILL) == 0
    shown = history["shown"]
    assert shown[-1] < shown[5]  # the moment went back from the live clock
    with Reader(recording) as reader:  # what the headset recorded is a valid recording
        assert reader.end > reader.start
        assert reader.start <= shown[-1] <= reader.end
