"""One room's state on the hub, sans-I/O: participants, latest presence, annotations.

The hub feeds every parsed message to ``Room.handle`` with the sender's id; it returns an
``Outcome``: frames for the sender, for everyone, for some participants, and (for
annotation messages) a ``Change`` that must be committed to the store before anyone hears
of it. Every message is authorized here, by role, against the table in
``session_schema.PERMISSIONS``; annotation edits also by ownership (the author is the
token's name, stable across reconnects). Changes planned but not yet committed are kept
aside (``pending``), so later messages in the same commit batch see them, and late joiners
only ever get committed state.

Presence is latest-value: ``set_pose`` overwrites a participant's slot and marks it
changed; ``take_presence`` returns once per tick the slots changed since the last tick.

The room may share one timeline (a past moment of the plant's history everyone is shown,
``SharedTimeline``): set by the leader or an expert, handed to late joiners in the
welcome, and back to live when its setter says so, when the lead ends (the leader stops
leading or leaves) or when its setter leaves.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from xrclient.core import session_schema as s

if TYPE_CHECKING:
    from xrclient.training.assessment import RunResult

HUB_NAME = "xrclient-hub"


@dataclass(frozen=True, slots=True)
class Participant:
    pid: int
    name: str
    role: s.Role
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
            raise s.SessionError("bad_request", "an annotation needs exactly its fields")
        aid = doc["id"]
        rev = doc["rev"]
        if type(aid) is not str or not 1 <= len(aid) <= 64 or not aid.isalnum():
            raise s.SessionError("bad_request", "bad annotation id")
        if type(rev) is not int or rev < 1:
            raise s.SessionError("bad_request", "bad annotation revision")
        status = doc["status"]
        if status not in s.ANNOTATION_STATUSES:
            raise s.SessionError("bad_request", "bad annotation status")
        return Annotation(
            aid,
            s.text(doc["machine"], "machine", s.MAX_MACHINE, empty=False),
            s.numbers(doc["offset"], 3, "offset", 1000.0),
            s.text(doc["text"], "text", s.MAX_TEXT),
            s.person_name(doc["author"]),
            s.color(doc["color"]),
            status,
            s.numbers([doc["created"]], 1, "created", 1e12)[0],
            s.numbers([doc["updated"]], 1, "updated", 1e12)[0],
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
            raise s.SessionError("bad_request", "a timeline has only its fields")
        mode, t, playing, speed = s.timeline_fields(doc)
        if mode == "live" or t is None:
            return None
        by = doc.get("by")
        if type(by) is not int or not 0 < by < 2**31:
            raise s.SessionError("bad_request", "a shared timeline names who set it")
        return SharedTimeline(
            t,
            playing,
            speed,
            s.hub_time(doc.get("at"), "at"),
            by,
            s.text(doc.get("name", ""), "name", s.MAX_NAME),
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
    role: s.Role
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


def _refuse(code: str, message: str, rid: int | None) -> s.SessionError:
    return s.SessionError(code, message, rid)


class Room:
    def __init__(
        self,
        name: str,
        annotations: Iterable[Annotation] = (),
        *,
        max_participants: int = 256,
        max_annotations: int = 10_000,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.name = name
        self.max_participants = max_participants
        self.max_annotations = max_annotations
        self.participants: dict[int, Participant] = {}
        self.annotations: dict[str, Annotation] = {a.id: a for a in annotations}
        #: changes planned and sent to the store, not yet committed (id -> state after)
        self.pending: dict[str, Annotation | None] = {}
        self.leader: int | None = None
        #: latest presence per participant: sender's time, row and mask (see session_schema)
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
        """Add ``p``; the welcome for it (the full current state) and the join notice."""
        self.participants[p.pid] = p
        welcome = {
            "t": "welcome",
            "protocol": s.PROTOCOL_VERSION,
            "hub": HUB_NAME,
            "room": self.name,
            "you": p.pid,
            "name": p.name,
            "role": p.role.value,
            "now": now,
            "tick_hz": tick_hz,
            "participants": [q.to_wire() for q in self.participants.values()],
            "annotations": [a.to_wire() for a in self.annotations.values()],
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

    def set_pose(self, pid: int, pose: s.Pose) -> None:
        row, mask = pose.to_row()
        self.poses[pid] = (pose.sent, row, mask)
        self.changed.add(pid)

    def _presence(self, now: float, pids: list[int]) -> Doc:
        poses = self.poses
        n = len(pids)
        rows = np.zeros((n, s.POSE_WIDTH), np.float32)
        sent = np.zeros(n)
        masks = np.zeros(n, np.uint8)
        for k, pid in enumerate(pids):
            sent[k], rows[k], masks[k] = poses[pid]
        return s.encode_presence(now, np.array(pids, np.uint32), sent, rows, masks)

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

    def handle(self, pid: int, msg: s.ClientMessage, now: float) -> Outcome:
        """Authorize and apply one message from ``pid``; ``SessionError`` if refused."""
        p = self.participants[pid]
        rid = getattr(msg, "id", None)
        action = s.action_of(msg)
        if action is not None and not s.allowed(p.role, action):
            raise _refuse("forbidden", f"a {p.role.value} may not {action.value}", rid)
        if isinstance(msg, s.Pose):
            self.set_pose(pid, msg)
            return Outcome()
        if isinstance(msg, s.CreateAnnotation | s.UpdateAnnotation | s.DeleteAnnotation):
            return Outcome(change=self._plan(p, msg, now))
        if isinstance(msg, s.Chat):
            chat = {"t": "chat", "from": pid, "name": p.name, "text": msg.text, "at": now}
            return Outcome(reply=_ack(rid), broadcast=[chat])
        if isinstance(msg, s.Ping):
            ping = {"t": "ping", "from": pid, "pos": list(msg.position), "at": now}
            if msg.machine:
                ping["machine"] = msg.machine
            return Outcome(reply=_ack(rid), broadcast=[ping])
        if isinstance(msg, s.Lead):
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
        if isinstance(msg, s.SetTimeline):
            return self._set_timeline(p, msg, now)
        if isinstance(msg, s.Follow):
            if msg.leader is not None and (
                msg.leader not in self.participants or msg.leader == pid
            ):
                raise _refuse("not_found", "no such participant to follow", rid)
            self.participants[pid] = replace(p, following=msg.leader)
            notice = {"t": "following", "pid": pid, "leader": msg.leader}
            return Outcome(reply=_ack(rid), broadcast=[notice])
        if isinstance(msg, s.Summon):
            targets = msg.targets or tuple(q for q in self.participants if q != pid)
            missing = [t for t in targets if t not in self.participants]
            if missing:
                raise _refuse("not_found", f"no participant {missing[0]}", rid)
            doc = {"t": "summon", "from": pid, "pose": list(msg.pose)}
            return Outcome(reply=_ack(rid), direct=[(t, doc) for t in targets if t != pid])
        if isinstance(
            msg, s.TrainingProgress | s.TrainingControl | s.TrainingResult | s.TrainingResults
        ):
            return self._training(p, msg, now)
        raise _refuse("bad_request", "unsupported message", rid)  # pragma: no cover

    # -- shared timeline ---------------------------------------------------------------

    def _set_timeline(self, p: Participant, msg: s.SetTimeline, now: float) -> Outcome:
        rid = msg.id
        if p.role is not s.Role.EXPERT and self.leader != p.pid:
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
            q.pid for q in self.participants.values() if q.role is s.Role.EXPERT and q.pid != but
        ]

    def progress_for(self, pid: int) -> list[Doc]:
        """Everyone's latest training progress, for an expert who just joined."""
        p = self.participants.get(pid)
        if p is None or p.role is not s.Role.EXPERT:
            return []
        return [doc for q, doc in self.training.items() if q != pid]

    def _training(
        self,
        p: Participant,
        msg: s.TrainingProgress | s.TrainingControl | s.TrainingResult | s.TrainingResults,
        now: float,
    ) -> Outcome:
        rid = msg.id
        if isinstance(msg, s.TrainingProgress):
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
        if isinstance(msg, s.TrainingControl):
            if msg.target not in self.participants or msg.target == p.pid:
                raise _refuse("not_found", f"no participant {msg.target}", rid)
            doc = {"t": "tr_control", "from": p.pid, "name": p.name, "action": msg.action}
            return Outcome(reply=_ack(rid), direct=[(msg.target, doc)])
        if isinstance(msg, s.TrainingResult):
            from xrclient.training.assessment import RunResult

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
        msg: s.CreateAnnotation | s.UpdateAnnotation | s.DeleteAnnotation,
        now: float,
    ) -> Change:
        rid = msg.id
        if isinstance(msg, s.CreateAnnotation):
            live = len(self.annotations) + sum(
                (v is not None) - (k in self.annotations) for k, v in self.pending.items()
            )
            if live >= self.max_annotations:
                raise _refuse("limit", f"a room holds at most {self.max_annotations}", rid)
            f = msg.fields
            aid = self._new_id()
            assert f.machine is not None and f.offset is not None and f.text is not None
            assert f.color is not None and f.status is not None
            after = Annotation(
                aid, f.machine, f.offset, f.text, p.name, f.color, f.status, now, now, 1
            )
            change = Change("create", p.name, p.role, p.pid, rid, None, after, now)
        else:
            before = self._current(msg.annotation)
            if before is None:
                raise _refuse("not_found", "no such annotation", rid)
            own = before.author == p.name
            editing = isinstance(msg, s.UpdateAnnotation)
            need = (
                (s.Action.EDIT_OWN if own else s.Action.EDIT_ANY)
                if editing
                else (s.Action.DELETE_OWN if own else s.Action.DELETE_ANY)
            )
            if not s.allowed(p.role, need):
                raise _refuse("forbidden", f"a {p.role.value} may not {need.value}", rid)
            if isinstance(msg, s.UpdateAnnotation):
                given = {
                    k: v
                    for k in ("machine", "offset", "text", "color", "status")
                    if (v := getattr(msg.fields, k)) is not None
                }
                after = replace(before, **given, updated=now, rev=before.rev + 1)
                change = Change("update", p.name, p.role, p.pid, rid, before, after, now)
            else:
                change = Change("delete", p.name, p.role, p.pid, rid, before, None, now)
        self.pending[change.annotation_id] = change.after
        return change

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


_MISSING = object()
