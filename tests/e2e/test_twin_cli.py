"""`xrclient twin-sim` and `xrclient snapshot --twin` as a user runs them."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cli import xrclient

from xrclient.core import math3d
from xrclient.render.camera import view_for_viewpoint
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.schema import load_scene

JAMMED = ("CNV-A1", "RBT-B1", "RBT-C2")
SIZE = (960, 540)


def start_sim(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "xrclient", "twin-sim", DEMO_SCENE, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(ws://127\.0\.0\.1:\d+)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"twin-sim did not start: {line!r} {proc.communicate()}")
    return proc, match.group(1)


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[subprocess.Popen[str], str]]:
    faults = [arg for m in JAMMED for arg in ("--fault", f"{m}=jam")]
    proc, url = start_sim("--fault-rate", "0", "--seed", "3", *faults)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def screen_boxes(machines: tuple[str, ...]) -> dict[str, tuple[slice, slice]]:
    """Where each machine's world bounds land in a snapshot from the first viewpoint."""
    scene = load_scene(scene_path(DEMO_SCENE))
    geometry, _ = load_geometry(scene, LoadLimits())
    view = view_for_viewpoint(scene.viewpoints[0], SIZE, geometry.bounds)
    boxes = {}
    for machine in machines:
        corners = math3d.box_corners(geometry.machine_bounds[scene.machine_index[machine]])
        ndc = math3d.transform_points(view.view_projection, corners)
        xs = (ndc[:, 0] + 1) / 2 * SIZE[0]
        ys = (1 - (ndc[:, 1] + 1) / 2) * SIZE[1]
        boxes[machine] = (
            slice(max(0, int(ys.min())), int(np.ceil(ys.max()))),
            slice(max(0, int(xs.min())), int(np.ceil(xs.max()))),
        )
    return boxes


def red(image: np.ndarray) -> np.ndarray:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 150) & (r > g + 70) & (r > b + 70)


def test_snapshot_is_coloured_by_live_state(
    sim: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    _, url = sim
    size = f"{SIZE[0]}x{SIZE[1]}"
    live = xrclient(
        "snapshot", DEMO_SCENE, "--size", size, "--twin", url, "--out", str(tmp_path / "live.png")
    )
    assert live.returncode == 0, live.stderr
    assert f"65/65 machines reporting, 0 stale, {len(JAMMED)} in alarm" in live.stdout
    plain = xrclient("snapshot", DEMO_SCENE, "--size", size, "--out", str(tmp_path / "plain.png"))
    assert plain.returncode == 0, plain.stderr
    with_state = np.asarray(Image.open(tmp_path / "live.png").convert("RGB"))
    without = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB"))
    for machine, box in screen_boxes(JAMMED).items():
        reds, before = red(with_state[box]).sum(), red(without[box]).sum()
        assert reds > 3 * before + 30, f"{machine} in FAULT must turn red ({before} -> {reds})"
    # running machines turn green somewhere in the plant; nothing is green without state
    green = lambda im: (im[..., 1].astype(int) > im[..., 0] + 40) & (im[..., 1] > im[..., 2] + 30)  # noqa: E731
    assert green(with_state).sum() > green(without).sum() + 500


def test_snapshot_waits_then_fails_clearly_without_a_stream(tmp_path: Path) -> None:
    run = xrclient(
        "snapshot", DEMO_SCENE, "--twin", "ws://127.0.0.1:9", "--wait", "1",
        "--out", str(tmp_path / "x.png"),
    )  # fmt: skip
    assert run.returncode == 1
    assert (
        "no state from twin stream ws://127.0.0.1:9 within 1 s (connection refused)" in run.stderr
    )
    assert not (tmp_path / "x.png").exists()


def test_token_protected_stream(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("correct-horse-battery-staple\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("incorrect-horse-battery-staple\n")
    proc, url = start_sim("--token-file", str(token), "--fault-rate", "0")
    try:
        out = str(tmp_path / "t.png")
        ok = xrclient("snapshot", DEMO_SCENE, "--size", "320x180", "--twin", url,
                      "--twin-token-file", str(token), "--out", out)  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        refused = xrclient("snapshot", DEMO_SCENE, "--twin", url, "--wait", "1",
                           "--twin-token-file", str(wrong), "--out", out)  # fmt: skip
        assert refused.returncode == 1
        assert "HTTP 401 (missing or wrong token)" in refused.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "twin-sim: stopped after" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "NOPE=jam"], "--fault: no machine 'NOPE'"),
        (["--fault", "CNV-A1=melt"], "unknown fault 'melt'"),
        (["--fault", "CNC-A1=jam"], "cnc_mill takes: bearing_wear, overheat"),
        (["--fault", "CNV-A1"], "expected MACHINE=KIND"),
        (["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0 without a token"),
        (["--rate", "0"], "rate must be between 0.1 and 10000 Hz"),
    ],
)
def test_twin_sim_rejects_bad_arguments(args: list[str], message: str) -> None:
    run = xrclient("twin-sim", DEMO_SCENE, "--port", "0", *args)
    assert run.returncode == 1, run.stdout
    assert message in run.stderr


def test_bad_twin_urls_and_token_files_are_refused(tmp_path: Path) -> None:
    out = str(tmp_path / "x.png")
    bad = xrclient("snapshot", DEMO_SCENE, "--twin", "http://127.0.0.1:1", "--out", out)
    assert bad.returncode == 1 and "twin URL must look like ws://host:port" in bad.stderr
    short = tmp_path / "short"
    short.write_text("abc")
    run = xrclient("twin-sim", DEMO_SCENE, "--token-file", str(short))
    assert run.returncode == 1 and "16 to 4096 printable ASCII" in run.stderr
    missing = xrclient("snapshot", DEMO_SCENE, "--twin-token-file", str(short), "--out", out)
    assert missing.returncode == 1 and "--twin-token-file needs --twin URL" in missing.stderr


def test_overlays_can_be_turned_off_and_a_machine_selected(
    sim: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    _, url = sim
    common = ["snapshot", DEMO_SCENE, "--size", "480x270", "--twin", url, "--view", "line-a"]
    runs = {
        name: xrclient(*common, *extra, "--out", str(tmp_path / f"{name}.png"))
        for name, extra in {
            "plain": ["--no-overlays"],
            "overlays": [],
            "selected": ["--select", "LTH-A1"],
        }.items()
    }
    for run in runs.values():
        assert run.returncode == 0, run.stderr
    images = {k: np.asarray(Image.open(tmp_path / f"{k}.png")).astype(int) for k in runs}
    changed = lambda a, b: (np.abs(images[a] - images[b]).sum(axis=2) > 40).sum()  # noqa: E731
    assert changed("plain", "overlays") > 2000  # panels and pills
    assert changed("overlays", "selected") > 1000  # the detail panel and the highlight
    unknown = xrclient(*common, "--select", "NOPE", "--out", str(tmp_path / "x.png"))
    assert unknown.returncode == 1 and "--select: no machine 'NOPE'" in unknown.stderr
    alone = xrclient("snapshot", DEMO_SCENE, "--select", "LTH-A1", "--out", str(tmp_path / "y.png"))
    assert alone.returncode == 1 and "--select needs --twin URL" in alone.stderr
