"""``xrclient.session.Session`` as a front end uses it, against a real hub: follow me,
break away, summon, pings, spectators, machine-anchored annotations."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from xrclient.core import math3d
from xrclient.session import ROLE_COLORS, Session, SessionOptions, machine_anchors, screen_indicator

from .helpers import FAST, client, running_hub, token, wait_until

FUTURE = 1e6  # seconds ahead: interpolation is past every sample, poses are the newest


def session(hub, name: str, role: str, **kw) -> Session:  # type: ignore[no-untyped-def]  # a test helper over the hub fixture; arguments untyped for brevity
    c = client(hub, token(name=name, role=role), backoff=FAST)
    return Session(SessionOptions(hub.room_url("plant"), "unused", **kw), client=c, **_anchors())


def _anchors() -> dict[str, object]:
    return {"anchors": machine_anchors({"M1": math3d.translation((5.0, 0.0, 0.0))})}


def settle(*sessions: Session, until=lambda: True, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]  # until is a zero-argument predicate; untyped for brevity
    def done() -> bool:
        for s in sessions:
            s.update(time.time() + FUTURE)
        return bool(until())

    wait_until(done, timeout)


def test_follow_me_break_away_and_smooth_camera(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        exp, tr = session(hub, "exp", "expert"), session(hub, "tr", "trainee")
        with exp, tr:
            settle(exp, tr, until=lambda: exp.status.state == tr.status.state == "live")
            exp.send_pose([0.0, 1.7, 0.0, 0, 0, 0, 1])
            exp.lead(True).result(5)
            settle(exp, tr, until=lambda: tr.follow == exp.you)
            settle(exp, tr, until=lambda: any(p.pose is not None for p in tr.participants))
            leader = next(p for p in exp.participants if p.pid == tr.you)
            settle(exp, until=lambda: exp.client.room().participants[tr.you].following == exp.you)  # type: ignore[index]  # both have joined, so the pid is in the room
            assert leader.color == ROLE_COLORS[leader.role]
            t0 = 1000.0
            start = tr.camera_pose(t0)
            assert start is not None and start[0] == pytest.approx(0.0)
            exp.send_pose([4.0, 1.7, 0.0, 0, 0, 0, 1])
            settle(tr, until=lambda: next(p for p in tr.participants).pose.head[0] == 4.0)  # type: ignore[union-attr]  # the participant has sent a pose by then
            step = tr.camera_pose(t0 + tr.follow_time_constant)  # one time constant later
            assert step is not None
            assert step[0] == pytest.approx(4.0 * (1 - math.exp(-1)), rel=1e-6)
            late = tr.camera_pose(t0 + 10.0)
            assert late is not None and late[0] == pytest.approx(4.0, abs=1e-3)
            tr.break_away().result(5)
            settle(exp, tr)
            assert tr.follow is None and tr.camera_pose(t0 + 11) is None
            settle(exp, until=lambda: exp.client.room().participants[tr.you].following is None)  # type: ignore[index]  # both have joined, so the pid is in the room
            exp.lead(True).result(5)  # asking again brings the follower back
            settle(exp, tr, until=lambda: tr.follow == exp.you)


def test_summon_ping_chat_and_notices(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        exp, op = session(hub, "exp", "expert"), session(hub, "op", "operator", auto_follow=False)
        with exp, op:
            settle(exp, op, until=lambda: exp.status.state == op.status.state == "live")
            exp.summon([3.0, 1.7, -2.0, 0, 0, 0, 1]).result(5)
            exp.ping([1.0, 2.0, 3.0], "M1").result(5)
            op.chat("coming").result(5)
            settle(exp, op, until=lambda: op.pings and any(n.kind == "chat" for n in exp.notices))
            assert op.take_summon() == (3.0, 1.7, -2.0, 0.0, 0.0, 0.0, 1.0)
            assert op.take_summon() is None
            (ping,) = op.pings
            assert ping.position == (1.0, 2.0, 3.0) and ping.name == "exp"
            assert ping.color == ROLE_COLORS[exp.client.room().role]  # type: ignore[index]  # the expert has joined, so its role is known
            op.update(time.time() + FUTURE + 60)  # pings are transient
            assert op.pings == []
            with pytest.raises(Exception, match="forbidden"):
                op.summon([0, 0, 0, 0, 0, 0, 1]).result(5)
            assert op.follow is None  # auto-follow off: nothing to follow anyway


def test_spectators_send_no_presence(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        ob = session(hub, "ob", "observer")
        spec = session(hub, "sp", "trainee", spectator=True)
        watcher = session(hub, "w", "expert")
        with ob, spec, watcher:
            settle(
                ob,
                spec,
                watcher,
                until=lambda: (
                    len(watcher.participants) == 2
                    and ob.status.state == spec.status.state == "live"
                ),
            )
            for _ in range(5):
                ob.send_pose([0, 1, 0, 0, 0, 0, 1])
                spec.send_pose([0, 1, 0, 0, 0, 0, 1])
                time.sleep(0.02)
            time.sleep(0.2)
            settle(watcher)
            assert all(p.pose is None for p in watcher.participants)
            assert ob.status.invalid_messages == 0  # nothing was refused: nothing was sent


def test_annotations_are_placed_on_their_machines(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        a = session(hub, "a", "operator")
        with a:
            settle(a, until=lambda: a.status.state == "live")
            aid = a.create_annotation("M1", (0.0, 1.0, 0.5), "leak").result(5).annotation
            ghost = a.create_annotation("GONE", (0, 0, 0), "no such machine").result(5).annotation
            settle(a, until=lambda: len(a.annotations) == 2)
            placed = {p.annotation.id: p for p in a.annotations}
            assert placed[aid].position == (5.0, 1.0, 0.5)
            assert placed[aid].annotation.status == "open" and placed[aid].annotation.author == "a"
            assert placed[ghost].position is None


def test_screen_indicator() -> None:
    vp = math3d.perspective(60.0, 4 / 3, 0.1, 100.0) @ math3d.look_at((0, 0, 4), (0, 0, 0))
    viewport = (0, 0, 160, 120)
    x, y, _, on = screen_indicator(vp, viewport, (0.0, 0.0, 0.0))
    assert on and (x, y) == pytest.approx((80.0, 60.0))
    x, y, angle, on = screen_indicator(vp, viewport, (50.0, 0.0, 0.0), margin=10)
    assert not on and x == pytest.approx(150.0) and y == pytest.approx(60.0) and angle == 0.0
    x, y, angle, on = screen_indicator(vp, viewport, (0.0, -1.0, 10.0), margin=10)  # behind
    assert not on and y == pytest.approx(10.0) and angle == pytest.approx(-np.pi / 2)
