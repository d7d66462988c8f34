"""`xrclient demo` and `xrclient view` as a user runs them: real processes, real windows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.display import XServer
from xrclient.resources import scene_path

from .xwin import find_window, screenshot


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "xrclient", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_stderr_until(proc: subprocess.Popen[str], marker: str, lines: list[str]) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return
    raise AssertionError(f"never saw {marker!r}; stderr so far:\n{''.join(lines)}")


def test_demo_opens_a_live_window_and_exits_cleanly_on_ctrl_c(
    xserver: XServer, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**xserver.env(), "TMPDIR": str(tmp)}
    proc = start(["demo", "--size", "800x450", "--no-vsync"], env, tmp_path)
    lines: list[str] = []
    try:
        read_stderr_until(proc, "window open", lines)
        hub_dbs = list(tmp.glob("xrclient-demo-*/hub.sqlite"))
        wid = find_window(xserver.display, "xrclient - Demo Plant", lambda: time.sleep(0.1))
        # live data: the jammed machines' alarm list appears in the top-right corner
        deadline = time.monotonic() + 60
        red = 0
        while red <= 20 and time.monotonic() < deadline:
            time.sleep(0.5)
            shot = screenshot(xserver.display, wid)
            assert shot.shape == (450, 800, 3)
            corner = shot[12:80, 520:790].reshape(-1, 3).astype(int)
            red = int(((corner[:, 0] > 200) & (corner[:, 1] < 120) & (corner[:, 2] < 120)).sum())
        assert red > 20, "no red alarm entries in the HUD"
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _out, rest = proc.communicate(timeout=30)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, "".join(lines)
    assert "plant simulator serving live state on ws://127.0.0.1:" in "".join(lines)
    assert "session hub on ws://127.0.0.1:" in "".join(lines)
    # the hub's database lived in a temporary folder that went with it
    assert hub_dbs and not list(tmp.glob("xrclient-demo-*"))
    assert "closed after" in "".join(lines)
    # nothing left behind: no child process of the demo survives it
    survivors = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert survivors == []


def test_view_runs_for_a_set_number_of_frames_and_says_so(xserver: XServer, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xrclient",
            "view",
            str(scene_path("demo-plant")),
            "--frames",
            "5",
            "--size",
            "320x200",
            "--record",
            "frames",
            "--no-vsync",
        ],
        env=xserver.env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "recorded 5 frames into frames" in run.stdout
    assert len(list((tmp_path / "frames").glob("frame-*.png"))) == 5


def test_without_a_display_view_says_why_and_demo_falls_back(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    view = subprocess.run(
        [sys.executable, "-m", "xrclient", "view", "demo-plant"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert view.returncode == 1
    assert "no display" in view.stderr and "xrclient snapshot" in view.stderr
    assert "Traceback" not in view.stderr
    demo = subprocess.run(
        [sys.executable, "-m", "xrclient", "demo", "--size", "320x180", "--out", "d.png"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert "no display found" in demo.stderr
    png = tmp_path / "d.png"
    assert png.is_file() and png.stat().st_size > 1000
    assert np.frombuffer(png.read_bytes()[:8], np.uint8).tolist() == [
        137,
        80,
        78,
        71,
        13,
        10,
        26,
        10,
    ]
