"""A participant's copy of the room, sans-I/O: hub frames in, state and events out.

``SessionMirror.receive`` takes every frame from the hub (untrusted like any network
input: each field is checked) and keeps participants, annotations and the leader; it
returns the events a front end shows (presence, pings, summons, chat, joins, leaves,
acks, errors). A ``welcome`` replaces everything, so after a reconnect the copy equals the
hub's again. The welcome carries no annotations, only their count: they follow in
``ann_page`` frames (the room as of the welcome; ``annotations_loaded`` once the last one is
in), and after them the changes since. Annotation notices carry revisions and are applied
only when newer.

The room's shared timeline (``timeline``: a past moment everyone is shown, or ``None``
for live) comes with the welcome and with each ``timeline`` notice; ``timeline_version``
bumps whenever it changes, and ``timeline_age`` says how long before the frame that
brought it the hub set it (so the receiver can place it on its own clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.core import session_messages as messages
from xrclient.core import session_roles as roles
from xrclient.core.session_presence import PresenceColumns, decode_presence
from xrclient.core.session_room import Annotation, Participant, SharedTimeline

Presence = PresenceColumns


@dataclass(frozen=True, slots=True)
class Notice:
    """Something people see: ``kind`` is joined, left, lost, lead, following, summon,
    ping, chat, welcome, timeline; ``pid`` who it is about; ``data`` the message's fields
    (timeline: ``mode``, ``name`` and, for a past moment, ``time``, ``playing``,
    ``speed``; ``pid`` is who set it, ``None`` when the hub ended it)."""

    kind: str
    pid: int | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """The hub's answer to a request: ``code`` empty for an ack."""

    id: int
    code: str = ""
    message: str = ""
    annotation: str = ""
    #: extra fields of the ack: ``seq`` of a stored training result, ``results`` of a query
    #: (a list of ``{"seq": int, "result": RunResult map}``)
    data: dict[str, Any] = field(default_factory=dict)


MirrorEvent = Presence | Notice | Reply


def _pid(v: object) -> int:
    if type(v) is not int or not 0 < v < 2**31:
        raise codec.SessionError("bad_request", "bad participant id")
    return v


def _opt_pid(v: object) -> int | None:
    return None if v is None else _pid(v)


def _participant(doc: object) -> Participant:
    if not isinstance(doc, dict):
        raise codec.SessionError("bad_request", "a participant must be a map")
    try:
        role = roles.Role(doc.get("role"))
    except ValueError:
        raise codec.SessionError("bad_request", "unknown role") from None
    device = doc.get("device")
    if device not in checks.DEVICES:
        raise codec.SessionError("bad_request", "unknown device")
    return Participant(
        _pid(doc.get("pid")),
        checks.person_name(doc.get("name")),
        role,
        str(device),
        0.0,
        _opt_pid(doc.get("following")),
    )


def _list(v: object, what: str, limit: int = 100_000) -> list[Any]:
    if type(v) is not list or len(v) > limit:
        raise codec.SessionError("bad_request", f"'{what}' must be a list")
    return v


class SessionMirror:
    def __init__(self) -> None:
        self.you: int | None = None
        self.name = ""
        self.role: roles.Role | None = None
        self.room = ""
        self.tick_hz = 30.0
        self.hub_time = 0.0  # the hub's clock at the last welcome
        self.participants: dict[int, Participant] = {}
        self.annotations: dict[str, Annotation] = {}
        #: false from a welcome until its last annotation page (``annotations`` may then
        #: still hold some from before a reconnect)
        self.annotations_loaded = False
        self._stale: set[str] = set()
        self.leader: int | None = None
        #: the moment of history the room is shown; ``None``: live
        self.timeline: SharedTimeline | None = None
        #: bumps on every change of ``timeline`` (each ``timeline`` notice is one)
        self.timeline_version = 0
        #: seconds between the hub setting ``timeline`` and sending the frame that brought it
        self.timeline_age = 0.0
        #: bumps on every change of participants, annotations, leader or timeline
        self.version = 0
        self.invalid_messages = 0

    def receive(self, frame: bytes) -> list[MirrorEvent]:
        """Apply one hub frame; a malformed one is counted and skipped (``[]``)."""
        try:
            doc = codec.decode(frame)
            return self._apply(doc)
        except codec.SessionError:
            self.invalid_messages += 1
            return []

    def _apply(self, doc: dict[str, Any]) -> list[MirrorEvent]:
        kind = doc["t"]
        if kind == "poses":
            return [decode_presence(doc)]
        if kind == "welcome":
            return self._welcome(doc)
        if kind == "ann_page":
            return self._page(doc)
        if kind == "ann":
            ann = Annotation.from_wire(doc.get("ann"))
            known = self.annotations.get(ann.id)
            if known is None or ann.rev > known.rev:
                self.annotations[ann.id] = ann
                self.version += 1
            return [Notice("annotation", _opt_pid(doc.get("by")), {"ann": ann.id})]
        if kind == "ann_del":
            aid = doc.get("ann")
            if type(aid) is not str:
                raise codec.SessionError("bad_request", "bad annotation id")
            if self.annotations.pop(aid, None) is not None:
                self.version += 1
            return [Notice("annotation_deleted", _opt_pid(doc.get("by")), {"ann": aid})]
        if kind == "joined":
            p = _participant(doc.get("p"))
            self.participants[p.pid] = p
            self.version += 1
            return [Notice("joined", p.pid, {"name": p.name, "role": p.role.value})]
        if kind == "left":
            pid = _pid(doc.get("pid"))
            gone = self.participants.pop(pid, None)
            self.version += 1
            lost = doc.get("reason") == "lost"
            name = gone.name if gone else ""
            return [Notice("lost" if lost else "left", pid, {"name": name})]
        if kind == "lead":
            self.leader = _opt_pid(doc.get("pid"))
            self.version += 1
            return [Notice("lead", self.leader, {})]
        if kind == "following":
            pid = _pid(doc.get("pid"))
            leader = _opt_pid(doc.get("leader"))
            if pid in self.participants:
                self.participants[pid] = replace(self.participants[pid], following=leader)
                self.version += 1
            return [Notice("following", pid, {"leader": leader})]
        if kind == "timeline":
            return [self._timeline(SharedTimeline.from_wire(doc), doc, 0.0, force=True)]
        if kind == "summon":
            pose = checks.pose7(doc.get("pose"), "pose")
            return [Notice("summon", _pid(doc.get("from")), {"pose": pose})]
        if kind == "ping":
            pos = checks.numbers(doc.get("pos"), 3, "pos")
            machine = checks.text(doc.get("machine", ""), "machine", checks.MAX_MACHINE)
            at = checks.numbers([doc.get("at")], 1, "at", 1e12)[0]
            return [
                Notice("ping", _pid(doc.get("from")), {"pos": pos, "machine": machine, "at": at})
            ]
        if kind == "chat":
            text = checks.text(doc.get("text"), "text", checks.MAX_CHAT, multiline=True)
            name = checks.text(doc.get("name", ""), "name", checks.MAX_NAME)
            return [Notice("chat", _pid(doc.get("from")), {"text": text, "name": name})]
        if kind in ("ack", "error"):
            rid = doc.get("id")
            if kind == "error":
                code = checks.text(doc.get("code"), "code", 64)
                message = checks.text(doc.get("message", ""), "message", 1024, multiline=True)
                if type(rid) is not int:
                    return [Notice("error", None, {"code": code, "message": message})]
                return [Reply(rid, code or "internal", message)]
            if type(rid) is not int:
                raise codec.SessionError("bad_request", "an ack needs an id")
            ann = doc.get("ann", "")
            data: dict[str, Any] = {}
            if "seq" in doc:
                data["seq"] = checks.numbers([doc["seq"]], 1, "seq", 2.0**63)[0]
            if "results" in doc:
                data["results"] = [
                    r
                    for r in _list(doc["results"], "results", messages.MAX_RESULTS)
                    if isinstance(r, dict) and isinstance(r.get("result"), dict)
                ]
            return [Reply(rid, annotation=ann if type(ann) is str else "", data=data)]
        if kind in ("tr_progress", "tr_control", "tr_result"):
            return [self._training(kind, doc)]
        return []  # a newer hub's message type: skipped

    def _page(self, doc: dict[str, Any]) -> list[MirrorEvent]:
        """One page of the room's annotations after a welcome: the hub's state as of the
        welcome (newer changes come after the last page); the last page drops what the
        hub no longer has."""
        page = [Annotation.from_wire(a) for a in _list(doc.get("anns"), "anns", 1_000_000)]
        last = doc.get("last")
        if type(last) is not bool:
            raise codec.SessionError("bad_request", "'last' must be true or false")
        for ann in page:
            self.annotations[ann.id] = ann
            self._stale.discard(ann.id)
        if last:
            for aid in self._stale:
                self.annotations.pop(aid, None)
            self._stale = set()
            self.annotations_loaded = True
        self.version += 1
        return (
            [Notice("annotations_loaded", None, {"count": len(self.annotations)})] if last else []
        )

    def _training(self, kind: str, doc: dict[str, Any]) -> Notice:
        """Training notices: ``training_progress`` (about ``pid``), ``training_control``
        (from ``pid``, to you) and ``training_result`` (``pid`` stored a result)."""
        if kind == "tr_control":
            action = doc.get("action")
            if action not in messages.TRAINING_ACTIONS:
                raise codec.SessionError("bad_request", "unknown training action")
            name = checks.text(doc.get("name", ""), "name", checks.MAX_NAME)
            return Notice(
                "training_control", _pid(doc.get("from")), {"action": action, "name": name}
            )
        data: dict[str, Any] = {
            "name": checks.text(doc.get("name", ""), "name", checks.MAX_NAME),
            "procedure": checks.text(doc.get("procedure", ""), "procedure", 64),
            "status": checks.text(doc.get("status", ""), "status", 16),
        }
        if "score" in doc:
            data["score"] = checks.numbers([doc["score"]], 1, "score", 100.0)[0]
        if kind == "tr_result":
            data["passed"] = doc.get("passed") is True
            return Notice("training_result", _pid(doc.get("pid")), data)
        count = doc.get("count")
        if type(count) is not int or not 0 < count <= messages.MAX_STEPS:
            raise codec.SessionError("bad_request", "bad step count")
        for key in ("step", "completed"):
            v = doc.get(key)
            if type(v) is not int or not -1 <= v <= count:
                raise codec.SessionError("bad_request", f"bad {key}")
            data[key] = v
        data["count"] = count
        data["step_id"] = checks.text(doc.get("step_id", ""), "step_id", 64)
        data["text"] = checks.text(doc.get("text", ""), "text", checks.MAX_TEXT, multiline=True)
        return Notice("training_progress", _pid(doc.get("pid")), data)

    def _timeline(
        self, shared: SharedTimeline | None, doc: dict[str, Any], age: float, *, force: bool
    ) -> Notice:
        """Take on the room's timeline (a notice: always a change; a welcome: if it differs)."""
        if shared is not None:
            by: int | None = shared.by
            data: dict[str, Any] = {
                "mode": "past",
                "name": shared.name,
                "time": shared.time,
                "playing": shared.playing,
                "speed": shared.speed,
            }
        elif force:  # a live notice: who took everyone back (nil: the hub ended it)
            by = _opt_pid(doc.get("by"))
            data = {
                "mode": "live",
                "name": checks.text(doc.get("name", ""), "name", checks.MAX_NAME),
            }
        else:
            by, data = None, {"mode": "live", "name": ""}
        if force or shared != self.timeline:
            self.timeline_version += 1
            self.version += 1
        self.timeline, self.timeline_age = shared, max(0.0, age)
        return Notice("timeline", by, data)

    def _welcome(self, doc: dict[str, Any]) -> list[MirrorEvent]:
        if doc.get("protocol") != codec.PROTOCOL_VERSION:
            raise codec.SessionError("bad_request", "unsupported protocol version")
        you = _pid(doc.get("you"))
        role = (
            roles.Role(doc.get("role"))
            if doc.get("role") in {r.value for r in roles.Role}
            else None
        )
        if role is None:
            raise codec.SessionError("bad_request", "unknown role")
        participants = {p.pid: p for p in map(_participant, _list(doc.get("participants"), "p"))}
        annotations = {
            a.id: a for a in map(Annotation.from_wire, _list(doc.get("annotations", []), "a"))
        }
        count = doc.get("annotation_count")
        if count is not None and (type(count) is not int or not 0 <= count < 2**31):
            raise codec.SessionError("bad_request", "bad annotation count")
        poses = doc.get("poses")
        presence = decode_presence(poses) if isinstance(poses, dict) else None
        tick = checks.numbers([doc.get("tick_hz")], 1, "tick_hz", 1000.0)[0]
        now = checks.numbers([doc.get("now")], 1, "now", 1e12)[0]
        shared = None if doc.get("timeline") is None else SharedTimeline.from_wire(doc["timeline"])
        self.you, self.role = you, role
        self.name = checks.person_name(doc.get("name"))
        self.room = checks.room_name(doc.get("room"))
        self.tick_hz = max(1.0, tick)
        self.participants = participants
        if count is None:  # every annotation in the welcome (an older hub)
            self.annotations, self.annotations_loaded = annotations, True
            self._stale = set()
        else:  # pages follow: what is known stays shown until the last page says it is gone
            self.annotations.update(annotations)
            self._stale = set(self.annotations) - set(annotations)
            self.annotations_loaded = False
        self.leader = _opt_pid(doc.get("leader"))
        self.version += 1
        out: list[MirrorEvent] = [Notice("welcome", you, {"role": role.value})]
        before = self.timeline_version
        told = self._timeline(shared, doc, now - shared.at if shared else 0.0, force=False)
        if self.timeline_version != before:
            out.append(told)
        self.hub_time = now
        if presence is not None and len(presence):
            out.append(presence)
        return out
