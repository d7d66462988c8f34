"""Training in the headset against Monado: the lockout procedure over the simulator's live
stream, driven by the right controller's laser and trigger through the real frame loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.display import XServer
from tests.xr.xr_runtime import ROOT, run_probe, runtime_env
from xrclient.net.twin_client import TwinClient
from xrclient.render.training_layer import TARGET
from xrclient.resources import DEMO_SCENE, scene_path

pytestmark = pytest.mark.timeout(240)
FRAMES = 24
SNAPSHOT = 2  # before any input


def _near(image: np.ndarray, rgba: tuple[float, ...], tol: int = 12) -> int:
    want = np.round(np.asarray(rgba[:3]) * 255).astype(np.int32)
    diff = np.abs(image[:, :, :3].astype(np.int32) - want).max(axis=2)
    return int((diff <= tol).sum())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, xvfb: XServer, twin_url: str) -> dict[str, Any]:
    with TwinClient(twin_url) as client:  # the press is already isolated at its disconnect
        deadline = 0
        while client.status.state != "live" and deadline < 100:
            client.queue.wait(0.1)
            deadline += 1
        client.control("set_state", machine="PRS-B3", state="LOCKED_OUT").result(10)
    out = tmp_path_factory.mktemp("xr-training")
    scene = str(scene_path(DEMO_SCENE))
    args = ["frames", str(out), scene, str(FRAMES), "--view", "line-b", "--twin", twin_url]
    args += ["--procedure", "lockout-press-b3", "--aim", "PRS-B3:5,11"]
    args += ["--snapshot", str(SNAPSHOT)]
    run_probe(args, runtime_env(xvfb.env()))
    summary: dict[str, Any] = json.loads((out / "frames.json").read_text())
    with np.load(out / "frames.npz") as data:
        summary["arrays"] = {k: data[k] for k in data.files}
    return summary


def test_the_laser_and_trigger_run_the_procedure_to_the_end(run: dict[str, Any]) -> None:
    result = run["training"]
    assert result is not None, run
    steps = [(s["id"], s["status"]) for s in result["steps"]]
    assert steps == [
        ("find-press", "done"),  # trigger on the press: select
        ("notify", "done"),  # trigger on it again: confirm (no confirm button on Monado's)
        ("lock-out", "done"),  # the live state: LOCKED_OUT, no power
        ("verify", "done"),  # the laser resting on it: point at
        ("zero-energy", "done"),
    ]
    assert result["status"] == "completed" and result["passed"] and result["score"] == 100.0
    assert run["training_view"]["status"] == "completed"


def test_the_steps_machine_is_outlined_in_both_eyes_before_anything_is_done(
    run: dict[str, Any],
) -> None:
    for eye in (0, 1):
        before = run["arrays"][f"eye{eye}@{SNAPSHOT}"]
        assert _near(before, TARGET) > 40, f"no target outline in eye {eye}"
    # once the procedure is over nothing is outlined any more
    assert _near(run["arrays"]["eye0"], TARGET) < 0.2 * _near(
        run["arrays"][f"eye0@{SNAPSHOT}"], TARGET
    )


PICTURE_STEP = """
format = 1
[procedure]
id = "look"
title = "Look at the switch"
[[steps]]
id = "look"
text = "Find this switch, then confirm."
media = "switch.png"
complete = "confirm"
"""


def test_the_steps_picture_floats_under_the_panel_in_both_eyes(
    tmp_path: Path, xvfb: XServer
) -> None:
    Image.new("RGB", (300, 200), (255, 0, 255)).save(tmp_path / "switch.png")
    procedure = tmp_path / "look.toml"
    procedure.write_text(PICTURE_STEP, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    scene = str(scene_path(DEMO_SCENE))
    run_probe(
        ["frames", str(out), scene, "12", "--view", "line-b", "--procedure", str(procedure)],
        runtime_env(xvfb.env()),
    )
    summary = json.loads((out / "frames.json").read_text())
    assert summary["training_view"]["step_id"] == "look"  # nothing confirmed it
    with np.load(out / "frames.npz") as data:
        eyes = [
            (data[f"eye{i}"], data[f"view_proj{i}"] @ np.linalg.inv(data[f"view{i}"]))
            for i in (0, 1)
        ]
    for eye, (image, proj) in enumerate(eyes):
        c = image[:, :, :3].astype(np.int32)
        magenta = (c[..., 0] > 200) & (c[..., 2] > 200) & (c[..., 1] < 60)
        assert magenta.sum() > 1000, f"no picture in eye {eye}"
        ys, xs = np.nonzero(magenta)
        width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        # 3:2, as the eye's projection stretches it (its pixels need not be square)
        h, w = image.shape[:2]
        aspect = 1.5 * (w * proj[0, 0]) / (h * proj[1, 1])
        assert abs(width / height - aspect) < 0.1 * aspect, f"eye {eye}: {width}x{height}"
        # ahead of the trainee the panel (dark, bright text) is over the picture
        above = c[max(ys.min() - 40, 0) : ys.min() - 2, xs.min() : xs.max() + 1]
        bright = above.max(axis=2)
        assert (bright < 70).mean() > 0.6, f"eye {eye}: no dark panel over the picture"
        assert (bright > 150).sum() > 20, f"eye {eye}: no text over the picture"


def test_a_bad_procedure_is_refused_before_the_runtime_is_touched(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('format = 1\n[procedure]\nid = "x"\ntitle = "X"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "xrclient", "xr", "demo-plant", "--procedure", str(bad)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "XR_RUNTIME_JSON": str(tmp_path / "none.json")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "bad.toml" in proc.stderr and "steps" in proc.stderr
    assert "OpenXR" not in proc.stderr
