"""One room's state on the hub, sans-I/O: participants, latest presence, annotations.

The hub feeds every parsed message to ``Room.handle`` with the sender's id; it returns an
``Outcome``: frames for the sender, for everyone, for some participants, and (for
annotation messages) a ``Change`` that must be committed to the store before anyone hears
of it. Every message is authorized here, by role, against the table in
``session_roles.PERMISSIONS``; annotation edits also by ownership (the author is the
token's name, stable across reconnects). Changes planned but not yet committed are kept
aside (``pending``), so later messages in the same commit batch see them, and late joiners
only ever get committed state.

Annotations are held to budgets, per room and per author (the token's name), in counts
and in bytes (an annotation's encoded size): ``usage`` and ``author_usage`` count the
committed and pending state together, and a change beyond a budget is refused with
``limit``. A joiner's welcome carries no annotation; ``annotation_pages`` yields them,
as of the join, in bounded pages.

Presence is latest-value: ``set_pose`` overwrites a participant's slot and marks it
changed; ``take_presence`` returns once per tick the slots changed since the last tick.

The room may share one timeline (a past moment of the plant's history everyone is shown,
``SharedTimeline``): set by the leader or an expert, handed to late joiners in the
welcome, and back to live when its setter says so, when the lead ends (the leader stops
leading or leaves) or when its setter leaves.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.core import session_presence as presence
from xrclient.core import session_roles as roles
from xrclient.core.run_result import RunResult
from xrclient.core.session_messages import (
    Chat,
    ClientMessage,
    CreateAnnotation,
    DeleteAnnotation,
    Follow,
    Lead,
    Ping,
    SetTimeline,
    Summon,
    TrainingControl,
    TrainingProgress,
    TrainingResult,
    TrainingResults,
    UpdateAnnotation,
    action_of,
)

HUB_NAME = "xrclient-hub"


@dataclass(frozen=True, slots=True)
class Participant:
    pid: int
    name: str
    role: roles.Role
    device: str
    joined: float
    following: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "name": self.name,
            "role": self.role.value,
            "device": self.device,
            "following": self.following,
        }


@dataclass(frozen=True, slots=True)
class Annotation:
    id: str
    machine: str
    offset: tuple[float, ...]
    text: str
    author: str
    color: str
    status: str
    created: float
    updated: float
    rev: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "machine": self.machine,
            "offset": list(self.offset),
            "text": self.text,
            "author": self.author,
            "color": self.color,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "rev": self.rev,
        }

    @staticmethod
    def from_wire(doc: object) -> Annotation:
        """Strict: an annotation as the hub (or the store) sends it."""
        if not isinstance(doc, dict) or set(doc) != _ANNOTATION_KEYS:
            raise codec.SessionError("bad_request", "an annotation needs exactly its fields")
        aid = doc["id"]
        rev = doc["rev"]
        if type(aid) is not str or not 1 <= len(aid) <= 64 or not aid.isalnum():
            raise codec.SessionError("bad_request", "bad annotation id")
        if type(rev) is not int or rev < 1:
            raise codec.SessionError("bad_request", "bad annotation revision")
        status = doc["status"]
        if status not in checks.ANNOTATION_STATUSES:
            raise codec.SessionError("bad_request", "bad annotation status")
        return Annotation(
            aid,
            checks.text(doc["machine"], "machine", checks.MAX_MACHINE, empty=False),
            checks.numbers(doc["offset"], 3, "offset", 1000.0),
            checks.text(doc["text"], "text", checks.MAX_TEXT, multiline=True),
            checks.person_name(doc["author"]),
            checks.color(doc["color"]),
            status,
            checks.numbers([doc["created"]], 1, "created", 1e12)[0],
            checks.numbers([doc["updated"]], 1, "updated", 1e12)[0],
            rev,
        )


_ANNOTATION_KEYS = frozenset(
    {"id", "machine", "offset", "text", "author", "color", "status", "created", "updated", "rev"}
)


@dataclass(frozen=True, slots=True)
class SharedTimeline:
    """The past moment the room is shown: recording ``time`` at hub time ``at``, playing
    at ``speed`` (from then on) or paused; set by participant ``by`` (``name``)."""

    time: float
    playing: bool
    speed: float
    at: float
    by: int
    name: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "mode": "past",
            "time": self.time,
            "playing": self.playing,
            "speed": self.speed,
            "at": self.at,
            "by": self.by,
            "name": self.name,
        }

    @staticmethod
    def from_wire(doc: object) -> SharedTimeline | None:
        """Strict: a ``timeline`` map as the hub sends it; ``None`` for live."""
        if not isinstance(doc, dict) or not set(doc) <= _TIMELINE_KEYS:
            raise codec.SessionError("bad_request", "a timeline has only its fields")
        mode, t, playing, speed = checks.timeline_fields(doc)
        if mode == "live" or t is None:
            return None
        by = doc.get("by")
        if type(by) is not int or not 0 < by < 2**31:
            raise codec.SessionError("bad_request", "a shared timeline names who set it")
        return SharedTimeline(
            t,
            playing,
            speed,
            checks.hub_time(doc.get("at"), "at"),
            by,
            checks.text(doc.get("name", ""), "name", checks.MAX_NAME),
        )


_TIMELINE_KEYS = frozenset({"t", "mode", "time", "playing", "speed", "at", "by", "name"})


def timeline_live(by: int | None, name: str) -> dict[str, Any]:
    """The notice that takes everyone back to live (``by`` ``None``: the hub ended it)."""
    return {"t": "timeline", "mode": "live", "by": by, "name": name}


@dataclass(frozen=True, slots=True)
class Change:
    """An annotation change to commit: ``before``/``after`` ``None`` for create/delete."""

    action: str  # "create", "update" or "delete"
    actor: str
    role: roles.Role
    pid: int
    request_id: int | None
    before: Annotation | None
    after: Annotation | None
    at: float

    @property
    def annotation_id(self) -> str:
        ann = self.after or self.before
        assert ann is not None
        return ann.id


Doc = dict[str, Any]


@dataclass(slots=True)
class Outcome:
    reply: list[Doc] = field(default_factory=list)
    broadcast: list[Doc] = field(default_factory=list)
    direct: list[tuple[int, Doc]] = field(default_factory=list)
    change: Change | None = None
    #: a training result to store (already checked; the trainee is the sender)
    result: RunResult | None = None
    #: a query of stored training results: (trainee or None, limit)
    query: tuple[str | None, int] | None = None


def _ack(rid: int | None, **extra: Any) -> list[Doc]:
    return [] if rid is None else [{"t": "ack", "id": rid, **extra}]


def _refuse(code: str, message: str, rid: int | None) -> codec.SessionError:
    return codec.SessionError(code, message, rid)


class Room:
    def __init__(
        self,
        name: str,
        annotations: Iterable[Annotation] = (),
        *,
        max_participants: int = 256,
        max_annotations: int = 10_000,
        max_annotation_bytes: int = 8 * 2**20,
        max_author_annotations: int = 1000,
        max_author_bytes: int = 2**20,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.name = name
        self.max_participants = max_participants
        self.max_annotations = max_annotations
        self.max_annotation_bytes = max_annotation_bytes
        self.max_author_annotations = max_author_annotations
        self.max_author_bytes = max_author_bytes
        self.participants: dict[int, Participant] = {}
        self.annotations: dict[str, Annotation] = {a.id: a for a in annotations}
        #: what the annotations take, committed and pending together: (count, bytes) in
        #: all and per author
        self.usage: Usage = Usage()
        self.author_usage: dict[str, Usage] = {}
        #: changes planned and sent to the store, not yet committed (id -> state after)
        self.pending: dict[str, Annotation | None] = {}
        self._recount()
        self.leader: int | None = None
        #: latest presence per participant: sender's time, row and mask (session_presence)
        self.poses: dict[int, tuple[float, npt.NDArray[np.float32], int]] = {}
        self.changed: set[int] = set()
        #: each participant's latest training progress (a ``tr_progress`` frame)
        self.training: dict[int, Doc] = {}
        #: the moment of history everyone is shown; ``None``: live
        self.timeline: SharedTimeline | None = None
        counter = itertools.count(1)
        self._new_id = new_id or (lambda: f"a{next(counter)}")

    # -- membership --------------------------------------------------------------------

    def full(self) -> bool:
        return len(self.participants) >= self.max_participants

    def join(self, p: Participant, now: float, tick_hz: float) -> tuple[Doc, Doc]:
        """Add ``p``; the welcome for it and the join notice. The welcome is bounded however
        large the room's history: it carries no annotation, only how many there are; the
        joiner gets them next, from ``annotation_pages``."""
        self.participants[p.pid] = p
        welcome = {
            "t": "welcome",
            "protocol": codec.PROTOCOL_VERSION,
            "hub": HUB_NAME,
            "room": self.name,
            "you": p.pid,
            "name": p.name,
            "role": p.role.value,
            "now": now,
            "tick_hz": tick_hz,
            "participants": [q.to_wire() for q in self.participants.values()],
            "annotations": [],
            "annotation_count": len(self.annotations),
            "leader": self.leader,
            "timeline": None if self.timeline is None else self.timeline.to_wire(),
            "poses": self.presence_all(now),
        }
        return welcome, {"t": "joined", "p": p.to_wire()}

    def leave(self, pid: int, lost: bool) -> list[Doc]:
        """Remove ``pid``; notices for everyone left (its leadership and followers end)."""
        if self.participants.pop(pid, None) is None:
            return []
        self.poses.pop(pid, None)
        self.training.pop(pid, None)
        self.changed.discard(pid)
        out: list[Doc] = [{"t": "left", "pid": pid, "reason": "lost" if lost else "left"}]
        # the shared moment ends with the lead, and when whoever set it leaves
        ends = self.timeline is not None and pid in (self.leader, self.timeline.by)
        if self.leader == pid:
            self.leader = None
            out.append({"t": "lead", "pid": None})
        for q in list(self.participants.values()):
            if q.following == pid:
                self.participants[q.pid] = replace(q, following=None)
                out.append({"t": "following", "pid": q.pid, "leader": None})
        if ends:
            self.timeline = None
            out.append(timeline_live(None, ""))
        return out

    # -- presence ----------------------------------------------------------------------

    def set_pose(self, pid: int, pose: presence.Pose) -> None:
        row, mask = pose.to_row()
        self.poses[pid] = (pose.sent, row, mask)
        self.changed.add(pid)

    def _presence(self, now: float, pids: list[int]) -> Doc:
        poses = self.poses
        n = len(pids)
        rows = np.zeros((n, presence.POSE_WIDTH), np.float32)
        sent = np.zeros(n)
        masks = np.zeros(n, np.uint8)
        for k, pid in enumerate(pids):
            sent[k], rows[k], masks[k] = poses[pid]
        return presence.encode_presence(now, np.array(pids, np.uint32), sent, rows, masks)

    def take_presence(self, now: float) -> Doc | None:
        """The presence frame of this tick (slots changed since the last), or ``None``."""
        if not self.changed:
            return None
        pids = [pid for pid in self.changed if pid in self.poses]
        self.changed.clear()
        return self._presence(now, pids)

    def presence_all(self, now: float) -> Doc:
        """Every participant's latest presence (for a receiver that fell behind)."""
        return self._presence(now, list(self.poses))

    # -- messages ----------------------------------------------------------------------

    def handle(self, pid: int, msg: ClientMessage, now: float) -> Outcome:
        """Authorize and apply one message from ``pid``; ``SessionError`` if refused."""
        p = self.participants[pid]
        rid = getattr(msg, "id", None)
        action = action_of(msg)
        if action is not None and not roles.allowed(p.role, action):
            raise _refuse("forbidden", f"a {p.role.value} may not {action.value}", rid)
        if isinstance(msg, presence.Pose):
            self.set_pose(pid, msg)
            return Outcome()
        if isinstance(msg, CreateAnnotation | UpdateAnnotation | DeleteAnnotation):
            return Outcome(change=self._plan(p, msg, now))
        if isinstance(msg, Chat):
            chat = {"t": "chat", "from": pid, "name": p.name, "text": msg.text, "at": now}
            return Outcome(reply=_ack(rid), broadcast=[chat])
        if isinstance(msg, Ping):
            ping = {"t": "ping", "from": pid, "pos": list(msg.position), "at": now}
            if msg.machine:
                ping["machine"] = msg.machine
            return Outcome(reply=_ack(rid), broadcast=[ping])
        if isinstance(msg, Lead):
            if msg.on:
                self.leader = pid
            elif self.leader != pid:
                return Outcome(reply=_ack(rid))
            else:
                self.leader = None
            out = Outcome(reply=_ack(rid), broadcast=[{"t": "lead", "pid": self.leader}])
            if self.leader is None and self.timeline is not None:  # the lead ended
                self.timeline = None
                out.broadcast.append(timeline_live(None, ""))
            return out
        if isinstance(msg, SetTimeline):
            return self._set_timeline(p, msg, now)
        if isinstance(msg, Follow):
            if msg.leader is not None and (
                msg.leader not in self.participants or msg.leader == pid
            ):
                raise _refuse("not_found", "no such participant to follow", rid)
            self.participants[pid] = replace(p, following=msg.leader)
            notice = {"t": "following", "pid": pid, "leader": msg.leader}
            return Outcome(reply=_ack(rid), broadcast=[notice])
        if isinstance(msg, Summon):
            targets = msg.targets or tuple(q for q in self.participants if q != pid)
            missing = [t for t in targets if t not in self.participants]
            if missing:
                raise _refuse("not_found", f"no participant {missing[0]}", rid)
            doc = {"t": "summon", "from": pid, "pose": list(msg.pose)}
            return Outcome(reply=_ack(rid), direct=[(t, doc) for t in targets if t != pid])
        if isinstance(msg, TrainingProgress | TrainingControl | TrainingResult | TrainingResults):
            return self._training(p, msg, now)
        raise _refuse("bad_request", "unsupported message", rid)  # pragma: no cover

    # -- shared timeline ---------------------------------------------------------------

    def _set_timeline(self, p: Participant, msg: SetTimeline, now: float) -> Outcome:
        rid = msg.id
        if p.role is not roles.Role.EXPERT and self.leader != p.pid:
            raise _refuse("forbidden", "only the leader or an expert may share the timeline", rid)
        if msg.mode == "live" or msg.time is None:
            if self.timeline is None:
                return Outcome(reply=_ack(rid))
            self.timeline = None
            return Outcome(reply=_ack(rid), broadcast=[timeline_live(p.pid, p.name)])
        self.timeline = SharedTimeline(msg.time, msg.playing, msg.speed, now, p.pid, p.name)
        notice = {"t": "timeline", **self.timeline.to_wire()}
        return Outcome(reply=_ack(rid), broadcast=[notice])

    # -- training ----------------------------------------------------------------------

    def experts(self, but: int | None = None) -> list[int]:
        return [
            q.pid
            for q in self.participants.values()
            if q.role is roles.Role.EXPERT and q.pid != but
        ]

    def progress_for(self, pid: int) -> list[Doc]:
        """Everyone's latest training progress, for an expert who just joined."""
        p = self.participants.get(pid)
        if p is None or p.role is not roles.Role.EXPERT:
            return []
        return [doc for q, doc in self.training.items() if q != pid]

    def _training(
        self,
        p: Participant,
        msg: TrainingProgress | TrainingControl | TrainingResult | TrainingResults,
        now: float,
    ) -> Outcome:
        rid = msg.id
        if isinstance(msg, TrainingProgress):
            doc: Doc = {
                "t": "tr_progress",
                "pid": p.pid,
                "name": p.name,
                "procedure": msg.procedure,
                "step": msg.step,
                "step_id": msg.step_id,
                "status": msg.status,
                "completed": msg.completed,
                "count": msg.count,
                "text": msg.text,
                "at": now,
            }
            if msg.score is not None:
                doc["score"] = msg.score
            self.training[p.pid] = doc
            return Outcome(reply=_ack(rid), direct=[(e, doc) for e in self.experts(p.pid)])
        if isinstance(msg, TrainingControl):
            if msg.target not in self.participants or msg.target == p.pid:
                raise _refuse("not_found", f"no participant {msg.target}", rid)
            doc = {"t": "tr_control", "from": p.pid, "name": p.name, "action": msg.action}
            return Outcome(reply=_ack(rid), direct=[(msg.target, doc)])
        if isinstance(msg, TrainingResult):
            try:
                result = RunResult.from_dict(msg.result)
            except (ValueError, TypeError) as exc:
                raise _refuse("bad_request", str(exc)[:200], rid) from None
            return Outcome(result=replace(result, trainee=p.name))
        return Outcome(query=(msg.trainee, msg.limit))

    def result_stored(self, pid: int, rid: int | None, seq: int, result: RunResult) -> Outcome:
        """A result is in the store: the ack for its sender, a notice for the experts."""
        notice: Doc = {
            "t": "tr_result",
            "pid": pid,
            "name": result.trainee,
            "procedure": result.procedure_id,
            "status": result.status,
            "score": result.score,
            "passed": result.passed,
            "seq": seq,
        }
        return Outcome(reply=_ack(rid, seq=seq), direct=[(e, notice) for e in self.experts(pid)])

    def _current(self, aid: str) -> Annotation | None:
        if aid in self.pending:
            return self.pending[aid]
        return self.annotations.get(aid)

    def _plan(
        self,
        p: Participant,
        msg: CreateAnnotation | UpdateAnnotation | DeleteAnnotation,
        now: float,
    ) -> Change:
        rid = msg.id
        if isinstance(msg, CreateAnnotation):
            f = msg.fields
            aid = self._new_id()
            assert f.machine is not None and f.offset is not None and f.text is not None
            assert f.color is not None and f.status is not None
            after = Annotation(
                aid, f.machine, f.offset, f.text, p.name, f.color, f.status, now, now, 1
            )
            self._check_budget(after.author, 1, annotation_size(after), rid)
            change = Change("create", p.name, p.role, p.pid, rid, None, after, now)
        else:
            before = self._current(msg.annotation)
            if before is None:
                raise _refuse("not_found", "no such annotation", rid)
            own = before.author == p.name
            editing = isinstance(msg, UpdateAnnotation)
            need = (
                (roles.Action.EDIT_OWN if own else roles.Action.EDIT_ANY)
                if editing
                else (roles.Action.DELETE_OWN if own else roles.Action.DELETE_ANY)
            )
            if not roles.allowed(p.role, need):
                raise _refuse("forbidden", f"a {p.role.value} may not {need.value}", rid)
            if isinstance(msg, UpdateAnnotation):
                given = {
                    k: v
                    for k in ("machine", "offset", "text", "color", "status")
                    if (v := getattr(msg.fields, k)) is not None
                }
                after = replace(before, **given, updated=now, rev=before.rev + 1)
                grows = annotation_size(after) - annotation_size(before)
                if grows > 0:
                    self._check_budget(before.author, 0, grows, rid)
                change = Change("update", p.name, p.role, p.pid, rid, before, after, now)
            else:
                change = Change("delete", p.name, p.role, p.pid, rid, before, None, now)
        self._account(change.before, -1)
        self._account(change.after, +1)
        self.pending[change.annotation_id] = change.after
        return change

    # -- annotation budgets and pages --------------------------------------------------

    def _check_budget(self, author: str, count: int, size: int, rid: int | None) -> None:
        """Refuse (``limit``) a change that adds ``count`` annotations and ``size`` bytes
        by ``author`` beyond the room's or the author's budget."""
        mine = self.author_usage.get(author, Usage())
        if count and self.usage.count + count > self.max_annotations:
            raise _refuse("limit", f"a room holds at most {self.max_annotations} annotations", rid)
        if self.usage.size + size > self.max_annotation_bytes:
            raise _refuse(
                "limit", f"a room's annotations take at most {self.max_annotation_bytes} bytes", rid
            )
        if count and mine.count + count > self.max_author_annotations:
            raise _refuse(
                "limit",
                f"an author has at most {self.max_author_annotations} annotations in a room",
                rid,
            )
        if mine.size + size > self.max_author_bytes:
            raise _refuse(
                "limit",
                f"an author's annotations take at most {self.max_author_bytes} bytes in a room",
                rid,
            )

    def _account(self, ann: Annotation | None, sign: int) -> None:
        if ann is None:
            return
        size = annotation_size(ann)
        self.usage = self.usage.add(sign, sign * size)
        mine = self.author_usage.get(ann.author, Usage()).add(sign, sign * size)
        if mine.count <= 0:
            self.author_usage.pop(ann.author, None)
        else:
            self.author_usage[ann.author] = mine

    def _recount(self) -> None:
        self.usage, self.author_usage = Usage(), {}
        current = {**self.annotations, **self.pending}
        for ann in current.values():
            self._account(ann, +1)

    def annotation_pages(self, page_bytes: int) -> Iterator[Doc]:
        """The room's committed annotations as they stand now, as ``ann_page`` frames of
        about ``page_bytes`` each (one annotation more at most); the last one (there is
        always one, maybe empty) says ``last``. The snapshot is taken now; each page is built
        as it is taken, so a joiner that does not read holds one page, not the room."""
        snapshot = list(self.annotations.values())  # immutable annotations: a cheap copy
        return _pages(snapshot, page_bytes)

    def commit(self, change: Change) -> Outcome:
        """``change`` is in the store: apply it; the ack and the notice for everyone."""
        aid = change.annotation_id
        if self.pending.get(aid, _MISSING) is change.after:
            del self.pending[aid]
        if change.after is None:
            self.annotations.pop(aid, None)
            notice: Doc = {"t": "ann_del", "ann": aid, "by": change.pid}
        else:
            self.annotations[aid] = change.after
            notice = {"t": "ann", "ann": change.after.to_wire(), "by": change.pid}
        return Outcome(reply=_ack(change.request_id, ann=aid), broadcast=[notice])

    def reset_annotations(self, annotations: Iterable[Annotation]) -> None:
        """After a failed commit: the store's state is the truth again."""
        self.pending.clear()
        self.annotations = {a.id: a for a in annotations}
        self._recount()


def _pages(snapshot: list[Annotation], page_bytes: int) -> Iterator[Doc]:
    """``ann_page`` frames of ``snapshot``, each built when it is taken."""
    page: list[Doc] = []
    size = 0
    for ann in snapshot:
        wire = ann.to_wire()
        page.append(wire)
        size += annotation_size(ann)
        if size >= page_bytes:
            yield {"t": "ann_page", "anns": page, "last": False}
            page, size = [], 0
    yield {"t": "ann_page", "anns": page, "last": True}


_MISSING = object()


@dataclass(frozen=True, slots=True)
class Usage:
    """How many annotations, and how many bytes they take."""

    count: int = 0
    size: int = 0

    def add(self, count: int, size: int) -> Usage:
        return Usage(self.count + count, self.size + size)


def annotation_size(ann: Annotation) -> int:
    """What an annotation costs a budget: its encoded size on the wire, in bytes."""
    return len(codec.encode(ann.to_wire()))
