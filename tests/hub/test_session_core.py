"""The session protocol without sockets: parsing, every permission rule, the mirror,
presence frames and interpolation."""

from __future__ import annotations

import math

import msgpack
import numpy as np
import pytest

from xrclient.core import session_codec as codec
from xrclient.core import session_presence as presence
from xrclient.core import session_roles as roles
from xrclient.core.session_interp import PoseTrack
from xrclient.core.session_messages import (
    AnnotationFields,
    Chat,
    ClientMessage,
    CreateAnnotation,
    DeleteAnnotation,
    Follow,
    Lead,
    Ping,
    Summon,
    UpdateAnnotation,
    parse_client_message,
)
from xrclient.core.session_mirror import Notice, Reply, SessionMirror
from xrclient.core.session_room import Annotation, Participant, Room

HEAD = [1.0, 1.7, 2.0, 0.0, 0.0, 0.0, 1.0]


def frame(doc: dict[str, object]) -> bytes:
    return codec.encode(doc)


def test_pose_parses_to_a_row_and_mask() -> None:
    msg = parse_client_message(
        frame(presence.pose_message(10.0, HEAD, right=HEAD, point=[0, 1, 0, 0, 0, -1]))
    )
    assert isinstance(msg, presence.Pose)
    row, mask = msg.to_row()
    assert mask == presence.HAS_RIGHT | presence.HAS_POINT
    assert row[0:7].tolist() == pytest.approx(HEAD)
    assert row[21:27].tolist() == [0, 1, 0, 0, 0, -1]


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"t": "pose", "s": 1.0, "h": [0.0] * 6}, "'h' must be a list of 7"),
        ({"t": "pose", "s": 1.0, "h": [0, 0, 0, 0, 0, 0, 0]}, "unit quaternion"),
        ({"t": "pose", "s": 1.0, "h": [math.nan, 0, 0, 0, 0, 0, 1]}, "finite"),
        ({"t": "pose", "s": 1.0, "h": [1e9, 0, 0, 0, 0, 0, 1]}, "finite"),
        ({"t": "pose", "s": 1.0, "h": HEAD, "p": [0, 0, 0, 0, 0, 0]}, "direction"),
        ({"t": "pose", "s": 1.0, "h": HEAD, "x": 1}, "unknown field"),
        ({"t": "ann_create", "id": 1, "machine": "", "text": "x"}, "'machine'"),
        ({"t": "ann_create", "id": 1, "machine": "M1", "text": "x" * 2001}, "'text'"),
        ({"t": "ann_create", "id": 1, "machine": "M1", "color": "red"}, "'color'"),
        ({"t": "ann_create", "id": 1, "machine": "M1", "status": "done"}, "'status'"),
        ({"t": "ann_create", "id": 1, "machine": "M1", "text": "a\x00b"}, "control"),
        ({"t": "ann_create", "id": -1, "machine": "M1"}, "'id'"),
        ({"t": "ann_update", "id": 1, "ann": "a1"}, "nothing to update"),
        ({"t": "ann_delete", "id": 1, "ann": "../x"}, "annotation id"),
        ({"t": "summon", "id": 1, "pose": HEAD, "targets": []}, "targets"),
        ({"t": "lead", "id": 1, "on": 1}, "'on'"),
        ({"t": "chat", "id": 1, "text": ""}, "'text'"),
        ({"t": "nope"}, "unknown message type"),
    ],
)
def test_bad_messages_are_refused_with_bad_request(doc: dict[str, object], needle: str) -> None:
    with pytest.raises(codec.SessionError) as err:
        parse_client_message(frame(doc))
    assert err.value.code == "bad_request"
    assert needle in err.value.message
    if doc.get("id") == 1:
        assert err.value.request_id == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",
        "text frame",
        msgpack.packb([1, 2]),
        msgpack.packb({"t": 1}),
        msgpack.packb({"t": "chat", "text": b"bytes"}, use_bin_type=True),
        b"\x91" * 5000,
        b"\x80" + b"\x00" * (codec.MAX_CLIENT_FRAME + 1),
    ],
)
def test_malformed_frames_raise_only_session_errors(raw: bytes | str) -> None:
    with pytest.raises(codec.SessionError) as err:
        parse_client_message(raw)
    assert err.value.code == "bad_request"


# -- permissions ----------------------------------------------------------------------------


def room_with(*people: tuple[str, str]) -> Room:
    room = Room("plant")
    for pid, (name, role) in enumerate(people, 1):
        room.join(Participant(pid, name, roles.Role(role), "desktop", 0.0), 0.0, 30.0)
    return room


def create(room: Room, pid: int, rid: int = 1) -> str:
    out = room.handle(
        pid, CreateAnnotation(rid, AnnotationFields("M1", (0, 0, 0), "t", "#ffcc00", "")), 1.0
    )
    assert out.change is not None
    room.commit(out.change)
    return out.change.annotation_id


ROLES = ("expert", "operator", "trainee", "observer")
# who may do what to an annotation authored by someone else ("other") or by themselves
EXPECTED = {
    ("expert", "create"): True,
    ("operator", "create"): True,
    ("trainee", "create"): True,
    ("observer", "create"): False,
    ("expert", "edit_other"): True,
    ("operator", "edit_other"): True,
    ("trainee", "edit_other"): False,
    ("observer", "edit_other"): False,
    ("expert", "delete_other"): True,
    ("operator", "delete_other"): False,
    ("trainee", "delete_other"): False,
    ("observer", "delete_other"): False,
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("what", ["create", "edit_other", "delete_other"])
def test_annotation_permissions(role: str, what: str) -> None:
    room = room_with(("author", "expert"), ("who", role))
    theirs = create(room, 1)
    fields = AnnotationFields(text="changed")
    msg: ClientMessage = {
        "create": CreateAnnotation(7, AnnotationFields("M2", (0, 0, 0), "", "#ffcc00", "")),
        "edit_other": UpdateAnnotation(7, theirs, fields),
        "delete_other": DeleteAnnotation(7, theirs),
    }[what]
    if EXPECTED[(role, what)]:
        out = room.handle(2, msg, 2.0)
        assert out.change is not None and out.change.actor == "who"
    else:
        with pytest.raises(codec.SessionError) as err:
            room.handle(2, msg, 2.0)
        assert (err.value.code, err.value.request_id) == ("forbidden", 7)
        assert not room.pending


@pytest.mark.parametrize("role", ["expert", "operator", "trainee"])
def test_everyone_who_may_annotate_may_edit_and_delete_their_own(role: str) -> None:
    room = room_with(("me", role))
    mine = create(room, 1)
    out = room.handle(1, UpdateAnnotation(2, mine, AnnotationFields(status="resolved")), 2.0)
    assert out.change is not None and out.change.after is not None
    assert out.change.after.status == "resolved" and out.change.after.rev == 2
    room.commit(out.change)
    out = room.handle(1, DeleteAnnotation(3, mine), 3.0)
    assert out.change is not None
    assert room.commit(out.change).broadcast == [{"t": "ann_del", "ann": mine, "by": 1}]
    assert room.annotations == {}


def test_ownership_follows_the_name_across_reconnects() -> None:
    room = room_with(("tina", "trainee"))
    mine = create(room, 1)
    room.leave(1, lost=True)
    room.join(Participant(5, "tina", roles.Role.TRAINEE, "headset", 0.0), 0.0, 30.0)
    out = room.handle(5, UpdateAnnotation(1, mine, AnnotationFields(text="again")), 1.0)
    assert out.change is not None


@pytest.mark.parametrize("role", ROLES)
def test_session_action_permissions(role: str) -> None:
    room = room_with(("me", role), ("other", "trainee"))
    cases: list[tuple[ClientMessage, bool]] = [
        (presence.Pose(1.0, tuple(HEAD)), role != "observer"),
        (Chat(1, "hello"), role != "observer"),
        (Ping(1, (0.0, 0.0, 0.0), "M1"), role != "observer"),
        (Lead(1, True), role in ("expert", "operator")),
        (Summon(1, None, tuple(HEAD)), role == "expert"),
        (Follow(1, 2), True),
    ]
    for msg, ok in cases:
        if ok:
            room.handle(1, msg, 1.0)
        else:
            with pytest.raises(codec.SessionError) as err:
                room.handle(1, msg, 1.0)
            assert err.value.code == "forbidden", msg


def test_unknown_annotation_and_participant_are_not_found() -> None:
    room = room_with(("me", "expert"))
    for msg in (
        UpdateAnnotation(1, "nope", AnnotationFields(text="x")),
        DeleteAnnotation(1, "nope"),
        Follow(1, 99),
        Follow(1, 1),
        Summon(1, (99,), tuple(HEAD)),
    ):
        with pytest.raises(codec.SessionError) as err:
            room.handle(1, msg, 1.0)
        assert err.value.code == "not_found"


def test_annotation_limit_counts_pending_changes() -> None:
    room = room_with(("me", "expert"))
    room.max_annotations = 2
    msg = CreateAnnotation(1, AnnotationFields("M1", (0, 0, 0), "", "#ffcc00", ""))
    room.handle(1, msg, 1.0)
    room.handle(1, msg, 1.0)
    with pytest.raises(codec.SessionError) as err:
        room.handle(1, msg, 1.0)
    assert err.value.code == "limit"


def test_follow_lead_summon_and_leaving() -> None:
    room = room_with(("e", "expert"), ("t", "trainee"), ("o", "observer"))
    out = room.handle(1, Lead(1, True), 1.0)
    assert out.broadcast == [{"t": "lead", "pid": 1}]
    out = room.handle(2, Follow(2, 1), 1.0)
    assert out.broadcast == [{"t": "following", "pid": 2, "leader": 1}]
    out = room.handle(1, Summon(3, None, tuple(HEAD)), 1.0)
    assert [pid for pid, _ in out.direct] == [2, 3]
    assert out.reply == [{"t": "ack", "id": 3}]
    notices = room.leave(1, lost=True)
    assert {"t": "left", "pid": 1, "reason": "lost"} in notices
    assert {"t": "lead", "pid": None} in notices
    assert {"t": "following", "pid": 2, "leader": None} in notices
    assert room.participants[2].following is None


# -- presence ------------------------------------------------------------------------------


def test_presence_frames_carry_only_changes_and_decode_strictly() -> None:
    room = room_with(("a", "expert"), ("b", "trainee"))
    room.handle(1, presence.Pose(5.0, tuple(HEAD), point=(0, 0, 0, 1, 0, 0)), 5.0)
    doc = room.take_presence(6.0)
    assert doc is not None and room.take_presence(6.1) is None
    cols = presence.decode_presence(codec.decode(codec.encode(doc)))
    assert cols.pids.tolist() == [1] and cols.sent.tolist() == [5.0]
    assert cols.masks.tolist() == [presence.HAS_POINT]
    room.handle(2, presence.Pose(5.5, tuple(HEAD)), 5.0)
    full = presence.decode_presence(room.presence_all(7.0))
    assert sorted(full.pids.tolist()) == [1, 2]
    bad = dict(doc)
    bad["v"] = np.full(27, np.nan, "<f4").tobytes()
    with pytest.raises(codec.SessionError):
        presence.decode_presence(bad)
    bad["v"] = b"\x00" * 7
    with pytest.raises(codec.SessionError):
        presence.decode_presence(bad)


def test_interpolation_between_samples_and_hold_after_the_last() -> None:
    track = PoseTrack(delay=0.1)
    a = np.zeros(27, np.float32)
    a[6] = 1.0  # identity
    b = a.copy()
    b[0] = 2.0
    half = math.sqrt(0.5)
    b[3:7] = [0.0, half, 0.0, half]  # 90 degrees about y
    track.push(100.0, a, 0, received=200.0)
    track.push(100.1, b, presence.HAS_POINT, received=200.1)
    mid = track.sample(200.15)  # renders at 200.05: half way
    assert mid is not None
    assert mid.head[0] == pytest.approx(1.0)
    q = mid.head[3:7]
    assert np.linalg.norm(q) == pytest.approx(1.0)
    assert 2 * math.degrees(math.atan2(q[1], q[3])) == pytest.approx(45.0, abs=0.01)
    late = track.sample(300.0)
    assert late is not None and late.head[0] == pytest.approx(2.0) and late.point is not None
    track.push(100.05, b, 0, received=200.3)  # older than the newest: dropped
    assert len(track) == 2


def test_interpolation_memory_is_bounded() -> None:
    track = PoseTrack(capacity=8)
    row = np.zeros(27, np.float32)
    row[6] = 1
    for k in range(100):
        track.push(float(k), row, 0, float(k))
    assert len(track) == 8


# -- the mirror ----------------------------------------------------------------------------


def test_mirror_follows_the_room_and_ignores_stale_revisions() -> None:
    room = room_with(("a", "expert"))
    aid = create(room, 1)
    welcome, _ = room.join(Participant(2, "b", roles.Role.OBSERVER, "headset", 0.0), 2.0, 30.0)
    mirror = SessionMirror()
    events = mirror.receive(codec.encode(welcome))
    assert isinstance(events[0], Notice) and mirror.you == 2 and mirror.role is roles.Role.OBSERVER
    assert welcome["annotations"] == [] and welcome["annotation_count"] == 1
    assert not mirror.annotations_loaded
    pages = list(room.annotation_pages(64 * 1024))
    for page in pages:
        mirror.receive(codec.encode(page))
    assert mirror.annotations_loaded
    assert set(mirror.annotations) == {aid} and set(mirror.participants) == {1, 2}
    out = room.handle(1, UpdateAnnotation(4, aid, AnnotationFields(text="v2")), 3.0)
    assert out.change is not None
    committed = room.commit(out.change)
    newer = committed.broadcast[0]
    older = {"t": "ann", "ann": Annotation.from_wire(pages[0]["anns"][0]).to_wire(), "by": 1}
    mirror.receive(codec.encode(newer))
    mirror.receive(codec.encode(older))
    assert mirror.annotations[aid].text == "v2"
    assert mirror.receive(codec.encode(committed.reply[0])) == [Reply(4, annotation=aid)]
    assert mirror.receive(codec.encode({"t": "ann", "ann": {"id": "x"}})) == []
    assert mirror.invalid_messages == 1
    assert mirror.receive(codec.encode({"t": "from-the-future"})) == []


def test_annotation_from_wire_is_strict() -> None:
    good = Annotation("a1", "M1", (0.0, 0.0, 0.0), "t", "ann", "#ffcc00", "", 1.0, 1.0, 1)
    assert Annotation.from_wire(good.to_wire()) == good
    for key, value in (("rev", 0), ("color", "red"), ("offset", [0, 0]), ("author", "")):
        with pytest.raises(codec.SessionError):
            Annotation.from_wire({**good.to_wire(), key: value})
