"""Fixtures of the XR tests: a private X server for the OpenGL sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.display import XServer, running_xvfb


@pytest.fixture(scope="session")
def xvfb() -> Iterator[XServer]:
    # room for the mirror window (three times a 320x240 eye)
    with running_xvfb((1280, 800)) as server:
        yield server
