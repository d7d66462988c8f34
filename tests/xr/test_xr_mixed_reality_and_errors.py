"""``--mr`` renders over a transparent background; a missing runtime is one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.display import XServer
from tests.xr.scenes import agv_scene
from tests.xr.xr_runtime import ROOT, run_probe, runtime_env

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def mr_run(tmp_path_factory: pytest.TempPathFactory, xvfb: XServer) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("xr-mr")
    scene = agv_scene(folder / "scene")
    run_probe(["frames", str(folder), str(scene), "4", "--mr"], runtime_env(xvfb.env()))
    summary: dict[str, Any] = json.loads((folder / "frames.json").read_text())
    with np.load(folder / "frames.npz") as data:
        summary["arrays"] = {k: data[k] for k in data.files}
    return summary


def test_mixed_reality_background_is_transparent_black(mr_run: dict[str, Any]) -> None:
    # Monado's simulated headset is opaque only: the client falls back to opaque frames
    assert mr_run["blend_mode"] == 1
    assert mr_run["rendered"] >= 2
    for key in ("eye0", "eye1"):
        image = mr_run["arrays"][key]
        alpha = image[:, :, 3]
        background = alpha == 0
        assert 0.6 < background.mean() < 0.99, key
        assert (image[background][:, :3] == 0).all(), key  # black: see-through if additive
        # the machine stays opaque where it is drawn
        drawn = image[:, :, :3].max(axis=2) > 40
        assert (alpha[drawn & (image[:, :, 0] > 150)] == 255).all(), key
        assert (drawn & (alpha == 255)).sum() > 200, key


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xrclient.commands.headset", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_runtime_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["XR_RUNTIME_JSON"] = str(tmp_path / "no-such-runtime.json")
    env.pop("DISPLAY", None)
    proc = _run_cli(["xr", str(agv_scene(tmp_path / "scene")), "--frames", "2"], env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("xrclient xr:")]
    assert len(lines) == 1
    assert "no OpenXR runtime found" in lines[0]
    assert "no-such-runtime.json (does not exist)" in lines[0]


def test_cli_rejects_bad_arguments_before_touching_the_runtime(tmp_path: Path) -> None:
    proc = _run_cli(["xr", "demo-plant", "--frames", "0"], dict(os.environ))
    assert proc.returncode == 2
    assert "frames above 0" in proc.stderr
    proc = _run_cli(
        ["xr", "demo-plant", "--twin-token-file", str(tmp_path / "t")], dict(os.environ)
    )
    assert proc.returncode == 1
    assert "--twin-token-file needs --twin URL" in proc.stderr


def test_cli_runs_the_shipped_plant_on_monado(xvfb: XServer) -> None:
    proc = _run_cli(["xr", "demo-plant", "--frames", "3"], runtime_env(xvfb.env()))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 frames" in proc.stderr
    assert "the runtime ended the session" in proc.stderr
