from __future__ import annotations

from collections.abc import Iterator

import pytest

from xrclient.backends.headless import HeadlessBackend

SIZE = (160, 120)


@pytest.fixture(scope="module")
def headless() -> Iterator[HeadlessBackend]:
    """A 160x120 EGL backend with 4x MSAA, shared by the tests of one module."""
    with HeadlessBackend(SIZE, samples=4) as backend:
        yield backend
