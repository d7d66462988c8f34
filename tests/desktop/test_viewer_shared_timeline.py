"""A moment of history shared in a session, in the viewer: a real hub on loopback, a real
window and X input, the same recording on both sides."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.display import XServer
from tests.history.helpers import record, sim_batches
from tests.hub.helpers import running_hub, token
from xrclient.desktop.viewer import Viewer
from xrclient.history.reader import Reader
from xrclient.history.timeline import TimelineState
from xrclient.resources import scene_path
from xrclient.session import Session, SessionOptions
from xrclient.settings import Settings

from .xwin import find_window, until, xdotool

SIZE = (800, 450)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, float]:
    path = tmp_path_factory.mktemp("shared") / "plant.xrrec"
    record(path, sim_batches(120.0, rate_hz=2.0))
    with Reader(path) as reader:
        return path, reader.start, reader.end


def viewer(title: str, history: Path, session: SessionOptions) -> Viewer:
    return Viewer(
        Settings(
            scene=scene_path("demo-plant"),
            size=SIZE,
            vsync=False,
            title=title,
            history=history,
            session=session,
        )
    )


def test_a_follower_goes_to_the_shared_moment_leaves_it_and_rejoins(
    display: XServer, tmp_path: Path, recording: tuple[Path, float, float]
) -> None:
    path, first, _last = recording
    with running_hub(tmp_path / "hub.sqlite") as hub:
        leader = Session(SessionOptions(hub.room_url("plant"), token(name="eddie", role="expert")))
        me = SessionOptions(hub.room_url("plant"), token(name="olga", role="operator"))
        with leader:
            v = viewer("xrclient-shared-follower", path, me)
            try:
                assert v.link is not None and v.insight is not None
                session, tl = v.link.session, v.insight.timeline
                assert tl is not None
                wid = find_window(display.display, "xrclient-shared-follower", v.step)
                until(
                    lambda: leader.status.state == session.status.state == "live",
                    v.step,
                    "both in the room",
                )
                moment = first + 30.0
                state = TimelineState("past", moment, False, 1.0, time.time())
                assert leader.share_timeline(state).result(5).code == ""
                until(lambda: abs(tl.time() - moment) < 0.01, v.step, "the shared moment")
                assert session.viewing_shared_past
                bar = v._timeline_bar()
                assert bar is not None and bar.label.startswith("SHARED by eddie: PAST")
                # scrubbing leaves the shared moment here only
                xdotool(display.display, "windowfocus", "--sync", wid)
                xdotool(display.display, "key", "Left")
                until(lambda: abs(tl.time() - (moment - 10.0)) < 0.01, v.step, "10 s back")
                assert not session.viewing_shared_past and session.timeline_detached
                assert leader.shared_timeline is None or leader.shared_timeline.state.time == moment
                # J: back at the shared moment
                xdotool(display.display, "key", "j")
                until(lambda: abs(tl.time() - moment) < 0.01, v.step, "the rejoined moment")
                assert session.viewing_shared_past
            finally:
                v.close()


def test_a_leading_expert_takes_the_room_along_with_the_keys(
    display: XServer, tmp_path: Path, recording: tuple[Path, float, float]
) -> None:
    path, _first, last = recording
    with running_hub(tmp_path / "hub.sqlite") as hub:
        other = Session(SessionOptions(hub.room_url("plant"), token(name="olga", role="observer")))
        me = SessionOptions(hub.room_url("plant"), token(name="eddie", role="expert"))
        with other:
            v = viewer("xrclient-shared-leader", path, me)
            try:
                assert v.link is not None and v.insight is not None
                tl = v.insight.timeline
                assert tl is not None
                wid = find_window(display.display, "xrclient-shared-leader", v.step)
                until(lambda: v.link.session.status.state == "live", v.step, "in the room")  # type: ignore[union-attr]  # the viewer has a session link in this test
                xdotool(display.display, "windowfocus", "--sync", wid)
                xdotool(display.display, "key", "Left")

                def shared_at_other() -> bool:
                    other.update()
                    moment = other.shared_timeline
                    return moment is not None and abs(moment.state.time - (last - 10.0)) < 0.5

                until(shared_at_other, v.step, "the moment at the other participant")
                assert other.shared_timeline is not None and other.shared_timeline.name == "eddie"
                assert abs(tl.time() - (last - 10.0)) < 0.01
            finally:
                v.close()
