"""The real frame loop on Monado with an OpenGL session under Xvfb (null compositor):
frames submitted, swapchain images read back, stereo parallax, timing, clean exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.display import XServer
from tests.xr.scenes import TARGET_CENTRE, agv_scene
from tests.xr.xr_runtime import run_probe, runtime_env

pytestmark = pytest.mark.timeout(240)
FRAMES = 12
BACKGROUND = np.array([0.62, 0.70, 0.78]) * 255  # the renderer's default, sRGB


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, xvfb: XServer) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("xr-frames")
    scene = agv_scene(folder / "scene")
    run_probe(["frames", str(folder), str(scene), str(FRAMES)], runtime_env(xvfb.env()))
    summary: dict[str, Any] = json.loads((folder / "frames.json").read_text())
    with np.load(folder / "frames.npz") as data:
        summary["arrays"] = {k: data[k] for k in data.files}
    return summary


def _mask(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Pixels that are not background."""
    diff = np.abs(image[:, :, :3].astype(np.float64) - BACKGROUND).max(axis=2)
    return np.asarray(diff > 6)


def test_frames_go_through_the_loop(run: dict[str, Any]) -> None:
    assert run["frames"] == FRAMES
    assert run["rendered"] >= FRAMES - 2  # the first frames may come before VISIBLE
    assert run["hooked"] == run["rendered"]
    assert run["eye_size"] == [320, 240]
    assert run["space"] == "STAGE"


def test_both_eyes_show_the_plant(run: dict[str, Any]) -> None:
    for key in ("eye0", "eye1"):
        image = run["arrays"][key]
        assert image.shape == (240, 320, 4)
        mask = _mask(image)
        # the AGV (0.84 m wide, 2 m ahead) is drawn near the middle of each eye
        assert 0.01 < mask.mean() < 0.3, key
        rows, cols = np.nonzero(mask)
        assert 100 < np.median(cols) < 220, key
        assert 60 < np.median(rows) < 200, key
        # its yellow body (sRGB yellow: red and green high, blue low)
        rgb = image[:, :, :3].astype(np.int32)
        yellow = (rgb[:, :, 0] > 150) & (rgb[:, :, 1] > 110) & (rgb[:, :, 2] < 80)
        assert yellow.sum() > 200, key
        assert (image[:, :, 3] == 255).all()


def test_srgb_swapchain_holds_srgb_colours(run: dict[str, Any]) -> None:
    assert run["srgb"] is True and run["format"] == 0x8C43
    corner = run["arrays"]["eye0"][2, 2, :3].astype(np.float64)
    assert corner == pytest.approx(BACKGROUND, abs=1.5)


def test_eyes_differ_by_the_expected_parallax(run: dict[str, Any]) -> None:
    arrays = run["arrays"]
    left, right = _mask(arrays["eye0"]), _mask(arrays["eye1"])
    assert (left != right).any()
    # measured: the horizontal shift that best lines the right eye's image up with the left's
    shifts = range(-25, 26)
    overlap = [np.logical_and(np.roll(right, s, axis=1), left).sum() for s in shifts]
    measured = shifts[int(np.argmax(overlap))]
    # expected: where the machine's centre lands in each eye, from the real eye poses
    centre = np.array([*TARGET_CENTRE, 1.0])
    xs = []
    for i in (0, 1):
        clip = arrays[f"view_proj{i}"].astype(np.float64) @ centre
        xs.append((clip[0] / clip[3] * 0.5 + 0.5) * 320)
    expected = xs[0] - xs[1]
    # the left eye sees near things further right than the right eye does
    assert expected > 3.0
    assert measured > 2
    assert abs(measured - expected) <= 2.0
    eyes = arrays["eye_positions"]
    assert 0.05 < float(np.linalg.norm(eyes[1] - eyes[0])) < 0.08  # an IPD


def test_predicted_display_times_increase(run: dict[str, Any]) -> None:
    times = np.array(run["display_times"], dtype=np.int64)
    assert len(times) == FRAMES
    assert (np.diff(times) > 0).all()
    period = run["periods"][-1]
    assert period > 0
    assert np.median(np.diff(times)) == pytest.approx(period, rel=0.5)


def test_session_ends_cleanly_on_request(run: dict[str, Any]) -> None:
    states = run["states"]
    assert states[:5] == ["IDLE", "READY", "SYNCHRONIZED", "VISIBLE", "FOCUSED"]
    assert states[-3:] == ["STOPPING", "IDLE", "EXITING"]
    assert run["reason"] == "the runtime ended the session"


def test_laser_from_the_right_controller_hovers_the_machine(run: dict[str, Any]) -> None:
    # the simulated right controller points straight ahead (-Z) at 1.3 m: into the machine
    assert run["hovered"] == 0
    assert len(run["profiles"]) == 5


def test_our_time_per_frame_is_measured(run: dict[str, Any]) -> None:
    ours = run["ours_s"]
    assert len(ours) == FRAMES and all(t >= 0.0 for t in ours)


def test_scene_helper_writes_a_loadable_scene(tmp_path: Path) -> None:
    from xrclient.scene.schema import load_scene

    scene = load_scene(agv_scene(tmp_path))
    assert [m.id for m in scene.machines] == ["AGV-1", "AGV-2"]
