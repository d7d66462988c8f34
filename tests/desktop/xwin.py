"""Driving a real window on the test X server: X input through xdotool, X screenshots."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import ImageGrab

Image = npt.NDArray[np.uint8]


def xdotool(display: str, *args: str) -> str:
    binary = shutil.which("xdotool")
    if binary is None:
        raise RuntimeError("xdotool is not installed (scripts/bootstrap.sh installs it)")
    run = subprocess.run(
        [binary, *args],
        env={"DISPLAY": display, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"xdotool {' '.join(args)} failed: {run.stderr.strip()}")
    return run.stdout.strip()


def find_window(display: str, title: str, pump: Callable[[], object]) -> str:
    """The X id of the window titled ``title``, pumping frames until it is mapped."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pump()
        try:
            found = xdotool(display, "search", "--name", f"^{title}$").split()
        except RuntimeError:
            found = []
        if found:
            return found[0]
    raise AssertionError(f"no window titled {title!r} appeared")


def geometry(display: str, window: str) -> tuple[int, int, int, int]:
    """x, y, width, height of ``window`` on the screen."""
    values = dict(
        line.split("=", 1)
        for line in xdotool(display, "getwindowgeometry", "--shell", window).split()
    )
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def screenshot(display: str, window: str) -> Image:
    """What the X server shows of ``window`` (height, width, 3 uint8)."""
    x, y, w, h = geometry(display, window)
    shot = ImageGrab.grab(xdisplay=display).convert("RGB")
    return np.asarray(shot.crop((x, y, x + w, y + h)))


def until(predicate: Callable[[], bool], pump: Callable[[], object], what: str) -> None:
    """Pump frames until ``predicate`` holds (X input arrives asynchronously)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pump()
        if predicate():
            return
    raise AssertionError(f"timed out waiting for {what}")
