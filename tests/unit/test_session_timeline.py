"""The shared timeline without sockets: the ``timeline`` message's checks, who may set it,
what the room keeps and hands to late joiners, when it ends, and the client's mirror."""

from __future__ import annotations

import math
from typing import Any

import pytest

from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.core import session_messages as messages
from xrclient.core import session_roles as roles
from xrclient.core.session_mirror import Notice, SessionMirror
from xrclient.core.session_room import Participant, Room, SharedTimeline
from xrclient.history import timeline as tl

T0 = 1_767_225_600.0  # a recording time (2026-01-01)


def frame(doc: dict[str, Any]) -> bytes:
    return codec.encode(doc)


def past(rid: int | None = 1, t: float = T0, playing: bool = True, speed: float = 2.0) -> Any:
    return messages.SetTimeline(rid, "past", t, playing, speed)


LIVE = messages.SetTimeline(9, "live", None, False, 1.0)


def room_with(*people: tuple[str, str]) -> Room:
    room = Room("plant")
    for pid, (name, role) in enumerate(people, 1):
        room.join(Participant(pid, name, roles.Role(role), "desktop", 0.0), 0.0, 30.0)
    return room


# -- the message -------------------------------------------------------------------------


def test_timeline_messages_parse() -> None:
    msg = messages.parse_client_message(
        frame({"t": "timeline", "id": 4, "mode": "past", "time": T0, "playing": True, "speed": 4})
    )
    assert msg == messages.SetTimeline(4, "past", T0, True, 4.0)
    assert messages.action_of(msg) is roles.Action.TIMELINE
    live = messages.parse_client_message(frame({"t": "timeline", "mode": "live"}))
    assert live == messages.SetTimeline(None, "live", None, False, 1.0)


def test_speed_bounds_are_the_timelines() -> None:
    assert (checks.TIMELINE_MIN_SPEED, checks.TIMELINE_MAX_SPEED) == (tl.MIN_SPEED, tl.MAX_SPEED)


GOOD = {"t": "timeline", "id": 1, "mode": "past", "time": T0, "playing": False, "speed": 1.0}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"mode": "future"}, "'mode'"),
        ({"mode": None}, "'mode'"),
        ({"time": math.nan}, "'time'"),
        ({"time": math.inf}, "'time'"),
        ({"time": -1.0}, "'time'"),
        ({"time": 2e12}, "'time'"),
        ({"time": "1767225600"}, "'time'"),
        ({"time": None}, "'time'"),
        ({"time": True}, "'time'"),
        ({"speed": 0.0}, "'speed'"),
        ({"speed": 65.0}, "'speed'"),
        ({"speed": 1 / 128}, "'speed'"),
        ({"speed": math.nan}, "'speed'"),
        ({"speed": True}, "'speed'"),
        ({"playing": 1}, "'playing'"),
        ({"playing": None}, "'playing'"),
        ({"wall": 5.0}, "unknown field"),
        ({"by": 2}, "unknown field"),
        ({"mode": "live"}, "no 'time'"),  # a live timeline with a time
        ({"mode": "live", "time": None, "speed": 100.0}, "'speed'"),
    ],
)
def test_bad_timeline_messages_are_refused(change: dict[str, Any], needle: str) -> None:
    doc = GOOD | change
    with pytest.raises(codec.SessionError) as err:
        messages.parse_client_message(frame(doc))
    assert err.value.code == "bad_request"
    assert err.value.request_id == 1
    assert needle in err.value.message


def test_a_past_moment_needs_every_field() -> None:
    for key in ("time", "playing", "speed"):
        doc = {k: v for k, v in GOOD.items() if k != key}
        with pytest.raises(codec.SessionError):
            messages.parse_client_message(frame(doc))


# -- who may set it ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["expert", "operator", "trainee", "observer"])
def test_only_the_leader_or_an_expert_sets_the_timeline(role: str) -> None:
    room = room_with(("me", role), ("lead", "operator"))
    room.handle(2, messages.Lead(1, True), 1.0)  # someone else leads
    if role == "expert":
        out = room.handle(1, past(7), 2.0)
        assert out.reply == [{"t": "ack", "id": 7}]
        assert room.timeline is not None and room.timeline.by == 1
        return
    with pytest.raises(codec.SessionError) as err:
        room.handle(1, past(7), 2.0)
    assert (err.value.code, err.value.request_id) == ("forbidden", 7)
    if role == "operator":  # may lead, but does not now
        assert err.value.message == "only the leader or an expert may share the timeline"
        room.handle(1, messages.Lead(2, True), 3.0)
        room.handle(1, past(8), 4.0)
        assert room.timeline is not None and room.timeline.by == 1
    else:  # may never lead, so never set it
        assert err.value.message == f"a {role} may not {roles.Action.TIMELINE.value}"
        assert room.timeline is None
    refused = 2 if role == "operator" else 1  # the former leader, or one who never may
    with pytest.raises(codec.SessionError) as err:
        room.handle(refused, LIVE, 5.0)
    assert err.value.code == "forbidden"


def test_the_room_keeps_the_moment_and_a_late_joiner_gets_it() -> None:
    room = room_with(("lead", "operator"), ("fol", "trainee"))
    room.handle(1, messages.Lead(1, True), 1.0)
    out = room.handle(1, past(2, T0 + 5, True, 4.0), 10.0)
    notice = {
        "t": "timeline",
        "mode": "past",
        "time": T0 + 5,
        "playing": True,
        "speed": 4.0,
        "at": 10.0,
        "by": 1,
        "name": "lead",
    }
    assert out.broadcast == [notice] and out.reply == [{"t": "ack", "id": 2}]
    assert room.timeline == SharedTimeline(T0 + 5, True, 4.0, 10.0, 1, "lead")
    welcome, _ = room.join(Participant(3, "late", roles.Role.OBSERVER, "headset", 0.0), 12.5, 30.0)
    assert welcome["timeline"] == {k: v for k, v in notice.items() if k != "t"}
    assert welcome["now"] == 12.5


def test_back_to_live_by_message_and_when_nothing_is_shared() -> None:
    room = room_with(("exp", "expert"), ("fol", "trainee"))
    assert room.handle(1, LIVE, 1.0).broadcast == []  # nothing shared: only the ack
    room.handle(1, past(), 2.0)
    out = room.handle(1, LIVE, 3.0)
    assert out.reply == [{"t": "ack", "id": 9}]
    assert out.broadcast == [{"t": "timeline", "mode": "live", "by": 1, "name": "exp"}]
    assert room.timeline is None
    assert room.join(Participant(3, "x", roles.Role.TRAINEE, "desktop", 0.0), 4.0, 30.0)[0][
        "timeline"
    ] is None  # fmt: skip


ENDED = {"t": "timeline", "mode": "live", "by": None, "name": ""}


def test_the_moment_ends_when_the_leader_leaves_or_stops_leading() -> None:
    room = room_with(("lead", "operator"), ("fol", "trainee"), ("other", "operator"))
    room.handle(1, messages.Lead(1, True), 1.0)
    room.handle(1, past(), 2.0)
    assert ENDED not in room.leave(2, lost=False)  # someone else leaving changes nothing
    assert room.timeline is not None
    notices = room.leave(1, lost=True)
    assert notices[-1] == ENDED and {"t": "lead", "pid": None} in notices
    assert room.timeline is None

    room.handle(3, messages.Lead(1, True), 3.0)
    room.handle(3, past(), 4.0)
    out = room.handle(3, messages.Lead(2, False), 5.0)
    assert out.broadcast == [{"t": "lead", "pid": None}, ENDED]
    assert room.timeline is None


def test_a_new_leader_takes_the_moment_over_and_an_expert_setter_ends_it_by_leaving() -> None:
    room = room_with(("a", "operator"), ("b", "operator"), ("exp", "expert"))
    room.handle(1, messages.Lead(1, True), 1.0)
    room.handle(1, past(), 2.0)
    out = room.handle(2, messages.Lead(2, True), 3.0)  # the lead passes on; the moment stays
    assert out.broadcast == [{"t": "lead", "pid": 2}]
    with pytest.raises(codec.SessionError):
        room.handle(1, past(t=T0 + 9), 4.0)
    room.handle(2, past(t=T0 + 9), 4.0)
    assert room.timeline is not None and room.timeline.by == 2
    room.handle(3, past(t=T0 + 20), 5.0)  # an expert without the lead
    assert ENDED not in room.leave(1, lost=False)
    assert room.leave(3, lost=False)[-1] == ENDED  # its setter left


# -- the mirror --------------------------------------------------------------------------


def test_the_mirror_follows_the_shared_timeline() -> None:
    room = room_with(("lead", "expert"))
    room.handle(1, past(2, T0, True, 2.0), 100.0)
    welcome, _ = room.join(Participant(2, "late", roles.Role.TRAINEE, "desktop", 0.0), 103.0, 30.0)
    mirror = SessionMirror()
    events = mirror.receive(frame(welcome))
    assert mirror.timeline == SharedTimeline(T0, True, 2.0, 100.0, 1, "lead")
    assert mirror.timeline_version == 1 and mirror.timeline_age == 3.0
    told = [e for e in events if isinstance(e, Notice) and e.kind == "timeline"]
    assert told[0].pid == 1 and told[0].data["time"] == T0 and told[0].data["playing"]
    mirror.receive(frame(welcome))  # the same room again (a reconnect): no change
    assert mirror.timeline_version == 1
    out = room.handle(1, past(3, T0 + 50, False, 1.0), 104.0)
    (notice,) = mirror.receive(frame(out.broadcast[0]))
    assert isinstance(notice, Notice) and notice.data["mode"] == "past"
    assert mirror.timeline is not None and mirror.timeline.time == T0 + 50
    assert mirror.timeline_version == 2 and mirror.timeline_age == 0.0
    (live,) = mirror.receive(frame(room.handle(1, LIVE, 105.0).broadcast[0]))
    assert live == Notice("timeline", 1, {"mode": "live", "name": "lead"})
    assert mirror.timeline is None and mirror.timeline_version == 3


@pytest.mark.parametrize(
    "doc",
    [
        {"t": "timeline", "mode": "past", "time": T0, "playing": True, "speed": 1.0, "at": 1.0},
        {"t": "timeline", "mode": "past", "time": T0, "playing": True, "speed": 99.0, "at": 1.0,
         "by": 1},
        {"t": "timeline", "mode": "past", "time": -5.0, "playing": True, "speed": 1.0, "at": 1.0,
         "by": 1},
        {"t": "timeline", "mode": "past", "time": T0, "playing": True, "speed": 1.0,
         "at": math.nan, "by": 1},
        {"t": "timeline", "mode": "past", "time": T0, "playing": True, "speed": 1.0, "at": 1.0,
         "by": 1, "extra": 1},
        {"t": "timeline", "mode": "then"},
        {"t": "timeline", "mode": "live", "by": "someone"},
    ],
)  # fmt: skip
def test_the_mirror_refuses_bad_timeline_notices(doc: dict[str, Any]) -> None:
    mirror = SessionMirror()
    assert mirror.receive(frame(doc)) == []
    assert mirror.invalid_messages == 1 and mirror.timeline_version == 0
