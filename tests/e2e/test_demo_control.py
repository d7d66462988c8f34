"""``xrclient demo``'s simulator takes control requests from its own viewer only."""

from __future__ import annotations

import time

import pytest

from xrclient.demo import DemoServices
from xrclient.net.twin_client import ControlRejected, TwinClient
from xrclient.resources import DEMO_SCENE, scene_path


def live(client: TwinClient) -> None:
    deadline = time.monotonic() + 10
    while client.status.state != "live":
        assert time.monotonic() < deadline, client.status.last_error
        time.sleep(0.02)


def test_the_viewers_token_controls_the_demo_plant_and_nothing_else_does() -> None:
    with DemoServices(scene_path(DEMO_SCENE), with_session=False) as services:
        with TwinClient(services.twin_url, token=services.twin_control_token) as viewer:
            live(viewer)
            done = viewer.control("set_state", machine="PRS-B3", state="LOCKED_OUT").result(10)
            assert "PRS-B3" in done
            assert viewer.control("pause").result(10) == "paused"
            assert viewer.control("resume").result(10) == "resumed"
        with TwinClient(services.twin_url) as other:  # another local process, or a page's proxy
            live(other)
            with pytest.raises(ControlRejected) as refused:
                other.control("reset").result(10)
            assert refused.value.code == "forbidden"
