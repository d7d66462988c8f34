"""Live twin state and overlays in both eyes, a selected machine, and the mirror window,
with the plant simulator streaming on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.display import XServer
from tests.xr.xr_runtime import run_probe, runtime_env
from xrclient.resources import DEMO_SCENE, scene_path

pytestmark = pytest.mark.timeout(240)
FRAMES = 6


def _probe(folder: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    scene = scene_path(DEMO_SCENE)
    run_probe(["frames", str(folder), str(scene), str(FRAMES), "--view", "line-a", *extra], env)
    summary: dict[str, Any] = json.loads((folder / "frames.json").read_text())
    with np.load(folder / "frames.npz") as data:
        summary["arrays"] = {k: data[k] for k in data.files}
    return summary


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, xvfb: XServer, twin_url: str
) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("xr-twin")
    env = runtime_env(xvfb.env())
    twin = ("--twin", twin_url, "--select", "CNC-A1")
    return {
        "overlays": _probe(folder / "overlays", env, *twin, "--mirror"),
        "plain": _probe(folder / "plain", env, *twin, "--no-overlays"),
    }


def _panel_pixels(image: npt.NDArray[np.uint8]) -> int:
    """Pixels of overlay pills and panels (near-black backgrounds) and their text (white)."""
    rgb = image[:, :, :3].astype(np.int32)
    dark = rgb.max(axis=2) < 40
    white = rgb.min(axis=2) > 235
    return int((dark | white).sum())


def test_twin_state_reaches_the_headset(runs: dict[str, dict[str, Any]]) -> None:
    r = runs["overlays"]
    assert r["twin_batches"] > 0
    assert "65/65 machines reporting" in r["twin"]
    alarms = re.search(r"(\d+) in alarm", r["twin"])
    assert alarms is not None and int(alarms.group(1)) >= 1  # the jammed conveyor
    assert r["selected"] == 0  # CNC-A1 from --select


def test_overlays_are_drawn_in_both_eyes(runs: dict[str, dict[str, Any]]) -> None:
    _far, mid, near, _hidden = runs["overlays"]["overlays"]
    assert mid + near > 0
    assert runs["plain"]["overlays"] is None
    for key in ("eye0", "eye1"):
        with_overlays = _panel_pixels(runs["overlays"]["arrays"][key])
        without = _panel_pixels(runs["plain"]["arrays"][key])
        assert with_overlays > without + 2000, key


def test_mirror_window_shows_the_left_eye(runs: dict[str, dict[str, Any]]) -> None:
    arrays = runs["overlays"]["arrays"]
    mirror, eye = arrays["mirror"], arrays["eye0"]
    assert mirror.shape == (720, 960, 4)  # 3x the 320x240 eye
    # the centre of every 3x3 block is the eye's pixel (linear filtering at an exact 3x)
    sampled = mirror[1::3, 1::3, :3].astype(np.int32)
    diff = np.abs(sampled - eye[:, :, :3].astype(np.int32))
    assert diff.mean() < 2.0
    assert np.percentile(diff, 99) <= 8
