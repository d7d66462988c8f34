"""The hub in a background thread: one URL shape, and nothing left running after close."""

from __future__ import annotations

import threading
from pathlib import Path

from xrclient.core.session_roles import Role
from xrclient.server.background import ServerThread

from .helpers import client, running_hub, token, wait_until


def test_the_hub_thread_has_the_base_url_and_a_url_per_room(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        assert isinstance(hub, ServerThread) and hub.hub is not None
        assert hub.url == f"ws://127.0.0.1:{hub.port}"
        assert hub.room_url("plant") == f"{hub.url}/plant"
        with client(hub, token(role=Role.OPERATOR.value)) as c:
            wait_until(lambda: c.status.state == "live", 10, "joined through room_url")
    assert hub.hub is None


def test_closing_the_hub_thread_leaves_no_thread_behind(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with running_hub(tmp_path / "hub.sqlite") as hub:
        with client(hub, token()) as c:
            wait_until(lambda: c.status.state == "live", 10, "joined")
            assert any(t.name == "hub" for t in threading.enumerate())
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert left == []
