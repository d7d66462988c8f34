"""A private X server for the window tests (started once per test session)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.display import XServer, running_xvfb
from xrclient.resources import scene_path
from xrclient.scene.schema import load_scene
from xrclient.server.background import BackgroundServer
from xrclient.server.sim_service import build_simulator
from xrclient.server.twin_server import ServerConfig


@pytest.fixture(scope="session")
def xserver() -> Iterator[XServer]:
    with running_xvfb((1280, 720)) as server:
        yield server


@pytest.fixture
def display(xserver: XServer) -> Iterator[XServer]:
    """DISPLAY set for this process while a test opens windows in it."""
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    os.environ["DISPLAY"] = xserver.display
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        yield xserver
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def plant_sim() -> Iterator[str]:
    """The demo plant's simulator on a loopback port, two machines jammed; yields its URL."""
    sim = build_simulator(
        load_scene(scene_path("demo-plant")), 0, 0.0, ("CNV-A3=jam", "RBT-B2=jam"), time.time()
    )
    with BackgroundServer(sim, ServerConfig(port=0, rate_hz=10.0, allow_control=True)) as server:
        yield server.url
