"""Fixtures of the XR tests: a private X server for the OpenGL sessions, and the plant
simulator streaming the demo plant on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.display import XServer, running_xvfb
from tests.xr.xr_runtime import ROOT
from xrclient.resources import DEMO_SCENE


@pytest.fixture(scope="session")
def xvfb() -> Iterator[XServer]:
    # room for the mirror window (three times a 320x240 eye)
    with running_xvfb((1280, 800)) as server:
        yield server


@pytest.fixture(scope="module")
def twin_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xrclient",
            "twin-sim",
            DEMO_SCENE,
            "--port",
            "0",
            "--fault-rate",
            "0",
            "--fault",
            "CNV-A1=jam",
            "--allow-control",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(ws://127\.0\.0\.1:\d+)", line)
    try:
        if not match:
            proc.kill()
            raise AssertionError(f"twin-sim did not start: {line!r} {proc.communicate()}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
