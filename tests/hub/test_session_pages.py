"""The room's annotation budgets and pages, and the mirror following the paged join,
sans-I/O."""

from __future__ import annotations

import pytest

from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.core.session_messages import (
    AnnotationFields,
    CreateAnnotation,
    DeleteAnnotation,
    UpdateAnnotation,
)
from xrclient.core.session_mirror import SessionMirror
from xrclient.core.session_room import Annotation, Participant, Room, annotation_size


def _room(**budgets: int) -> Room:
    room = Room("plant", **budgets)  # type: ignore[arg-type]  # the budgets are the int keywords
    for pid, name in ((1, "eve"), (2, "bo")):
        room.join(Participant(pid, name, roles.Role.EXPERT, "desktop", 0.0), 0.0, 30.0)
    return room


def _create(room: Room, pid: int, text: str) -> str:
    out = room.handle(
        pid, CreateAnnotation(1, AnnotationFields("M1", (0, 0, 0), text, "#ffcc00", "")), 1.0
    )
    assert out.change is not None
    return room.commit(out.change).reply[0]["ann"]  # type: ignore[no-any-return]  # an ack's id


def _refused(room: Room, pid: int, msg: object) -> str:
    with pytest.raises(codec.SessionError) as err:
        room.handle(pid, msg, 1.0)  # type: ignore[arg-type]  # any client message
    assert err.value.code == "limit"
    return err.value.message


def test_budgets_count_pending_changes_and_free_on_delete() -> None:
    room = _room(max_author_annotations=2, max_author_bytes=10_000)
    msg = CreateAnnotation(1, AnnotationFields("M1", (0, 0, 0), "x", "#ffcc00", ""))
    first = room.handle(1, msg, 1.0).change
    room.handle(1, msg, 1.0)  # pending, not committed: it counts all the same
    assert "at most 2 annotations" in _refused(room, 1, msg)
    assert room.handle(2, msg, 1.0).change is not None  # bo's budget is bo's
    assert first is not None
    room.commit(first)
    room.handle(1, DeleteAnnotation(2, first.annotation_id), 1.0)
    assert room.handle(1, msg, 1.0).change is not None
    assert room.author_usage["eve"].count == 2 and room.usage.count == 3


def test_byte_budgets_and_an_update_that_grows() -> None:
    room = _room(max_author_bytes=3500, max_annotation_bytes=5000)
    aid = _create(room, 1, "short")
    grow = UpdateAnnotation(3, aid, AnnotationFields(text="y" * 3400))
    assert "an author's annotations take at most 3500 bytes" in _refused(room, 1, grow)
    bo = _create(room, 2, "z" * 1900)
    _create(room, 2, "w" * 1000)
    big = CreateAnnotation(4, AnnotationFields("M1", (0, 0, 0), "v" * 1900, "#ffcc00", ""))
    assert "a room's annotations take at most 5000 bytes" in _refused(room, 1, big)
    shrink = room.handle(2, UpdateAnnotation(5, bo, AnnotationFields(text="")), 1.0)
    assert shrink.change is not None  # shrinking is always allowed
    assert room.usage.size == sum(annotation_size(a) for a in room.annotations.values()) + (
        annotation_size(shrink.change.after) - annotation_size(room.annotations[bo])  # type: ignore[arg-type]  # an update has an after
    )


def test_pages_are_bounded_and_cover_the_room_once() -> None:
    room = _room(max_author_annotations=1000)
    ids = {_create(room, 1, "t" * 500) for _ in range(100)}
    pages = list(room.annotation_pages(4096))
    assert [p["last"] for p in pages] == [False] * (len(pages) - 1) + [True]
    assert all(len(codec.encode(p)) < 4096 + 1024 for p in pages)
    seen = [a["id"] for p in pages for a in p["anns"]]
    assert sorted(seen) == sorted(ids)
    empty = list(Room("empty").annotation_pages(4096))
    assert empty == [{"t": "ann_page", "anns": [], "last": True}]


def test_mirror_after_a_reconnect_keeps_then_drops_what_was_deleted() -> None:
    room = _room()
    keep, gone = _create(room, 1, "keep"), _create(room, 1, "gone")
    mirror = SessionMirror()
    welcome, _ = room.join(Participant(3, "c", roles.Role.OBSERVER, "desktop", 0.0), 2.0, 30.0)
    mirror.receive(codec.encode(welcome))
    for page in room.annotation_pages(4096):
        mirror.receive(codec.encode(page))
    assert set(mirror.annotations) == {keep, gone} and mirror.annotations_loaded
    out = room.handle(1, DeleteAnnotation(9, gone), 3.0)  # while c is away
    assert out.change is not None
    room.commit(out.change)
    welcome, _ = room.join(Participant(4, "c", roles.Role.OBSERVER, "desktop", 0.0), 4.0, 30.0)
    mirror.receive(codec.encode(welcome))
    assert set(mirror.annotations) == {keep, gone} and not mirror.annotations_loaded
    events = []
    for page in room.annotation_pages(4096):
        events += mirror.receive(codec.encode(page))
    assert set(mirror.annotations) == {keep} and mirror.annotations_loaded
    assert [e.kind for e in events] == ["annotations_loaded"]  # type: ignore[union-attr]  # notices only
    # an older hub's welcome, every annotation in it, still works
    old = {**welcome, "annotations": [room.annotations[keep].to_wire()]}
    del old["annotation_count"]
    fresh = SessionMirror()
    fresh.receive(codec.encode(old))
    assert set(fresh.annotations) == {keep} and fresh.annotations_loaded
    assert Annotation.from_wire(old["annotations"][0]) == room.annotations[keep]
    bad = {"t": "ann_page", "anns": [{"id": "x"}], "last": True}
    assert fresh.receive(codec.encode(bad)) == [] and fresh.invalid_messages == 1
