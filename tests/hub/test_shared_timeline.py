"""A shared timeline over a real hub: a leader takes the room to a moment of a recording and
plays it; each participant's own ``Timeline`` (over its own reader of the same recording
file) follows; late joiners get the moment, others are refused, live comes back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.history.helpers import START, demo_scene, record, same_store, sim_batches
from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.core.session_room import SharedTimeline
from xrclient.core.twin_store import TwinStore
from xrclient.history.reader import Reader
from xrclient.history.timeline import Timeline, TimelineState
from xrclient.hub.background import HubThread
from xrclient.net.session_client import RequestRefused
from xrclient.session import Session, SessionOptions

from .helpers import client, raw, recv_until, running_hub, send, token, wait_until

IDS = [m.id for m in demo_scene().machines]
SECONDS = 30.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shared") / "plant.xrrec"
    record(path, sim_batches(SECONDS), keyframe_s=5.0)
    return path


@contextmanager
def timelines(recording: Path, n: int) -> Iterator[list[Timeline]]:
    readers = [Reader(recording) for _ in range(n)]
    try:
        yield [Timeline(r, IDS, history_capacity=20) for r in readers]
    finally:
        for r in readers:
            r.close()


def session(hub: HubThread, name: str, role: str, spectator: bool = False) -> Session:
    c = client(hub, token(name=name, role=role))
    return Session(SessionOptions(hub.room_url("plant"), "unused", spectator=spectator), client=c)


def settle(*sessions: Session, until: Callable[[], bool], timeout: float = 5.0) -> None:
    def done() -> bool:
        for x in sessions:
            x.update()
        return bool(until())

    wait_until(done, timeout)


def live_all(*sessions: Session) -> None:
    settle(*sessions, until=lambda: all(x.status.state == "live" for x in sessions))


def share(leader: Session, tl: Timeline, *others: Session) -> float:
    """The leader shares its timeline as it stands now and waits until every other session
    has it; returns the wall clock the state was taken at."""
    version = {id(x): x.timeline_version for x in others}
    wall = time.time()
    tl.update(wall)
    leader.share_timeline(tl.state(wall)).result(5)
    settle(*others, until=lambda: all(x.timeline_version > version[id(x)] for x in others))
    return wall


def hub_timeline(hub: HubThread) -> object:
    assert hub.hub is not None
    return hub.call(lambda: hub.hub.rooms["plant"].room.timeline)  # type: ignore[union-attr]  # the hub is running inside this block


def test_leader_and_follower_end_up_at_the_same_replay_time(
    tmp_path: Path, recording: Path
) -> None:
    live = TwinStore(IDS)
    with running_hub(tmp_path / "hub.sqlite") as hub, timelines(recording, 2) as (mine, theirs):
        olga, tom = session(hub, "olga", "operator"), session(hub, "tom", "trainee")
        with olga, tom:
            live_all(olga, tom)
            assert not olga.can_share_timeline
            olga.lead(True).result(5)
            settle(olga, until=lambda: olga.can_share_timeline)
            speed = 4.0
            mine.seek(START + 5.0)
            mine.play(speed)
            before = share(olga, mine, tom)
            after = time.time()
            shared = tom.shared_timeline
            assert shared is not None and shared.by == olga.you and shared.name == "olga"
            assert shared.state.playing and shared.state.speed == speed
            assert tom.follow_timeline(theirs) and not tom.follow_timeline(theirs)
            assert tom.viewing_shared_past
            assert not olga.follow_timeline(mine)  # its own moment: left alone
            wall = time.time()
            a, ta = mine.view(live, wall)
            b, tb = theirs.view(live, wall)
            # the follower places the moment at its arrival: behind by the time in transit
            assert theirs.mode == "past" and theirs.playing and theirs.speed == speed
            assert 0.0 <= ta - tb <= speed * (after - before) + 1e-6
            assert START + 5.0 <= tb < START + SECONDS

            # paused: exactly the same moment, the same plant state
            wall = time.time()
            mine.update(wall)
            mine.pause()
            share(olga, mine, tom)
            assert tom.follow_timeline(theirs)
            wall = time.time()
            a, ta = mine.view(live, wall)
            b, tb = theirs.view(live, wall)
            assert ta == tb and not theirs.playing
            assert same_store(a, b)
            assert any(n.kind == "timeline" for n in tom.notices)


def test_a_late_joiner_receives_the_shared_moment(tmp_path: Path, recording: Path) -> None:
    live = TwinStore(IDS)
    with (
        running_hub(tmp_path / "hub.sqlite") as hub,
        timelines(recording, 2) as (mine, late_tl),
        session(hub, "ana", "expert") as ana,
    ):
        live_all(ana)
        assert ana.can_share_timeline  # an expert, without leading
        speed = 2.0
        mine.seek(START + 3.0)
        mine.play(speed)
        wall = time.time()
        mine.update(wall)
        before = time.time()
        ana.share_timeline(mine.state(wall)).result(5)
        acked = time.time()
        # the moment has been playing for a while when the late joiner arrives
        wait_until(lambda: time.time() > acked + 0.5)
        joining = time.time()
        with session(hub, "vic", "observer", spectator=True) as vic:
            settle(vic, until=lambda: vic.shared_timeline is not None)
            after = time.time()
            assert vic.follow_timeline(late_tl)
            wall = time.time()
            _, ta = mine.view(live, wall)
            _, tb = late_tl.view(live, wall)
            assert late_tl.playing and late_tl.speed == speed
            # behind by the time in transit to the hub, and from the hub to the joiner
            in_transit = (acked - before) + (after - joining)
            assert 0.0 <= ta - tb <= speed * in_transit + 1e-6
            assert not vic.can_share_timeline


def test_only_the_leader_or_an_expert_may_share(tmp_path: Path, recording: Path) -> None:
    with (
        running_hub(tmp_path / "hub.sqlite") as hub,
        timelines(recording, 1) as (tl,),
    ):
        tl.seek(START + 10.0)
        state = tl.state(time.time())
        what = roles.Action.TIMELINE.value
        people = {
            "trainee": (session(hub, "tom", "trainee"), f"a trainee may not {what}"),
            "observer": (session(hub, "vic", "observer"), f"a observer may not {what}"),
            "operator": (
                session(hub, "oli", "operator"),
                "only the leader or an expert may share the timeline",
            ),
        }
        sessions = [x for x, _ in people.values()]
        with sessions[0], sessions[1], sessions[2]:
            live_all(*sessions)
            lead = session(hub, "lea", "operator")
            with lead:  # someone else leads: leading is what lets an operator share
                live_all(lead)
                lead.lead(True).result(5)
                for who, message in people.values():
                    with pytest.raises(RequestRefused) as err:
                        who.share_timeline(state).result(5)
                    assert (err.value.code, err.value.message) == ("forbidden", message)
                    assert not who.can_share_timeline
                with pytest.raises(RequestRefused, match="forbidden"):
                    people["trainee"][0].share_timeline(tl.state(time.time())).result(5)
                assert hub_timeline(hub) is None
            assert all(x.shared_timeline is None for x in sessions)


def test_back_to_live_locally_by_the_leader_and_when_the_leader_leaves(
    tmp_path: Path, recording: Path
) -> None:
    with (
        running_hub(tmp_path / "hub.sqlite") as hub,
        timelines(recording, 2) as (mine, theirs),
        session(hub, "tom", "trainee") as tom,
    ):
        olga = session(hub, "olga", "operator")
        with olga:
            live_all(olga, tom)
            olga.lead(True).result(5)
            settle(olga, until=lambda: olga.can_share_timeline)
            mine.seek(START + 8.0)
            share(olga, mine, tom)
            assert tom.follow_timeline(theirs) and theirs.mode == "past"

            # the leader takes everyone back to live
            mine.go_live()
            share(olga, mine, tom)
            assert tom.shared_timeline is None
            assert tom.follow_timeline(theirs) and theirs.mode == "live"
            assert not tom.viewing_shared_past
            assert hub_timeline(hub) is None

            # break away locally: live here, the moment stays for the others
            mine.seek(START + 12.0)
            share(olga, mine, tom)
            assert tom.follow_timeline(theirs) and theirs.time() == START + 12.0
            tom.leave_shared_timeline()
            assert tom.follow_timeline(theirs) and theirs.mode == "live"
            mine.seek(START + 14.0)
            share(olga, mine, tom)  # a new moment does not pull it back
            assert not tom.follow_timeline(theirs) and theirs.mode == "live"
            tom.rejoin_shared_timeline()
            assert tom.follow_timeline(theirs) and theirs.time() == START + 14.0
            version = tom.timeline_version
        # the leader left: the shared moment ended with the lead
        settle(tom, until=lambda: tom.timeline_version > version)
        assert tom.shared_timeline is None and hub_timeline(hub) is None
        assert tom.follow_timeline(theirs) and theirs.mode == "live"
        ended = [n for n in tom.notices if n.kind == "timeline"][-1]
        assert ended.pid is None and ended.data["mode"] == "live"


def test_timeline_messages_count_against_the_rate_limit(tmp_path: Path) -> None:
    with (
        running_hub(tmp_path / "hub.sqlite", rate=1.0, burst=4) as hub,
        raw(hub, token(name="ana", role="expert")) as ws,
    ):
        recv_until(ws, "welcome")
        doc = {"t": "timeline", "mode": "past", "time": START, "playing": False, "speed": 1.0}
        for rid in range(8):
            send(ws, doc | {"id": rid})
        answers: dict[int, str] = {}
        while len(answers) < 8:
            frame = ws.recv(5)
            assert isinstance(frame, bytes)
            got = codec.decode(frame)
            if got["t"] in ("ack", "error") and "id" in got:
                answers[got["id"]] = got.get("code", "ok")
        assert [answers[k] for k in range(4)] == ["ok"] * 4
        assert "rate_limited" in answers.values()


def test_a_playing_moment_is_sent_as_it_stands_when_sent(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub, session(hub, "ana", "expert") as ana:
        live_all(ana)
        taken = time.time() - 10.0  # a state taken ten seconds ago, playing at 2x
        before = time.time()
        ana.share_timeline(TimelineState("past", START, True, 2.0, taken)).result(5)
        after = time.time()
        shared = hub_timeline(hub)
        assert isinstance(shared, SharedTimeline) and shared.playing and shared.speed == 2.0
        assert START + 2.0 * (before - taken) <= shared.time <= START + 2.0 * (after - taken)
        with pytest.raises(ValueError, match="speed"):
            ana.share_timeline(TimelineState("past", START, False, 100.0, taken))
        ana.share_timeline(TimelineState("live", math.nan, False, 1.0, taken)).result(5)
        assert hub_timeline(hub) is None
