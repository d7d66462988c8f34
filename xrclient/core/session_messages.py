"""The session-hub protocol's client messages, sans-I/O: strict parsing into types.

Every frame is one msgpack map with a string ``t`` (its type); see docs/protocol.md,
"Session hub protocol". ``parse_client_message`` is what the hub runs on every frame a
participant sends: it either returns a typed message, every field checked (types,
lengths, finite numbers, ranges), or raises ``SessionError`` with a protocol error code;
nothing else escapes. ``action_of`` names the permission (``session_roles``) a message
needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xrclient.core.session_checks import (
    ANNOTATION_STATUSES,
    MAX_CHAT,
    MAX_MACHINE,
    MAX_REQUEST_ID,
    MAX_TEXT,
    color,
    number,
    numbers,
    person_name,
    pose7,
    ray6,
    text,
    timeline_fields,
)
from xrclient.core.session_codec import MAX_CLIENT_FRAME, SessionError, decode
from xrclient.core.session_presence import Pose
from xrclient.core.session_roles import Action


@dataclass(frozen=True, slots=True)
class AnnotationFields:
    """The parts of an annotation a participant chooses (``None``: not given)."""

    machine: str | None = None
    offset: tuple[float, ...] | None = None
    text: str | None = None
    color: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class CreateAnnotation:
    id: int | None
    fields: AnnotationFields


@dataclass(frozen=True, slots=True)
class UpdateAnnotation:
    id: int | None
    annotation: str
    fields: AnnotationFields


@dataclass(frozen=True, slots=True)
class DeleteAnnotation:
    id: int | None
    annotation: str


@dataclass(frozen=True, slots=True)
class Lead:
    id: int | None
    on: bool


@dataclass(frozen=True, slots=True)
class Follow:
    id: int | None
    leader: int | None


@dataclass(frozen=True, slots=True)
class Summon:
    id: int | None
    targets: tuple[int, ...] | None  # None: everyone else
    pose: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    id: int | None
    position: tuple[float, ...]
    machine: str


@dataclass(frozen=True, slots=True)
class Chat:
    id: int | None
    text: str


@dataclass(frozen=True, slots=True)
class SetTimeline:
    """The room's shared timeline: ``live`` (everyone back to live) or a ``past`` moment:
    recording ``time`` as the hub receives the message, playing at ``speed`` or paused."""

    id: int | None
    mode: str  # one of TIMELINE_MODES
    time: float | None  # None when live
    playing: bool
    speed: float


@dataclass(frozen=True, slots=True)
class TrainingProgress:
    """A participant's own progress through a training procedure."""

    id: int | None
    procedure: str
    step: int  # index of the current step, -1 once the run is over
    step_id: str
    status: str  # one of TRAINING_STATUSES
    completed: int
    count: int
    text: str
    score: float | None


@dataclass(frozen=True, slots=True)
class TrainingControl:
    """An expert's command to a trainee's runner."""

    id: int | None
    target: int
    action: str  # one of TRAINING_ACTIONS


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """A finished run's result (``RunResult.to_dict()``), checked by the hub."""

    id: int | None
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrainingResults:
    """An expert's query for the room's stored results."""

    id: int | None
    trainee: str | None
    limit: int


ClientMessage = (
    (Pose | CreateAnnotation | UpdateAnnotation | DeleteAnnotation | Lead | Follow | Summon | Ping)
    | Chat
    | SetTimeline
    | TrainingProgress
    | TrainingControl
    | TrainingResult
    | TrainingResults
)

TRAINING_STATUSES = ("running", "completed", "aborted")
TRAINING_ACTIONS = ("advance", "reset_step", "restart")
MAX_RESULTS = 100  # results per query
MAX_STEPS = 10_000

_ANN_KEYS = frozenset({"machine", "offset", "text", "color", "status"})


def _annotation_fields(
    doc: Mapping[str, Any], rid: int | None, *, create: bool
) -> AnnotationFields:
    try:
        got: dict[str, Any] = {}
        if "machine" in doc or create:
            got["machine"] = text(doc.get("machine"), "machine", MAX_MACHINE, empty=False)
        if "offset" in doc or create:
            got["offset"] = numbers(doc.get("offset", [0.0, 0.0, 0.0]), 3, "offset", 1000.0)
        if "text" in doc or create:
            got["text"] = text(doc.get("text", ""), "text", MAX_TEXT, multiline=True)
        if "color" in doc or create:
            got["color"] = color(doc.get("color", "#ffcc00"))
        if "status" in doc or create:
            status = doc.get("status", "")
            if status not in ANNOTATION_STATUSES:
                raise SessionError("bad_request", "'status' must be '', 'open' or 'resolved'")
            got["status"] = status
    except SessionError as exc:
        raise SessionError(exc.code, exc.message, rid) from None
    return AnnotationFields(**got)


def _annotation_id(v: object, rid: int | None) -> str:
    if type(v) is not str or not 1 <= len(v) <= 64 or not v.isascii() or not v.isalnum():
        raise SessionError("bad_request", "'ann' must be an annotation id", rid)
    return v


def _participant(v: object, what: str, rid: int | None) -> int:
    if type(v) is not int or not 0 < v < 2**31:
        raise SessionError("bad_request", f"'{what}' must be a participant id", rid)
    return v


def parse_client_message(frame: str | bytes) -> ClientMessage:
    """A participant's frame, fully checked, or ``SessionError``."""
    doc = decode(frame, MAX_CLIENT_FRAME, binary=False)
    kind = doc.pop("t")
    if kind == "pose":  # the hot path: no request id, tuples straight from the lists
        _only(doc, frozenset({"s", "h", "l", "r", "p"}), None)
        left, right, point = doc.get("l"), doc.get("r"), doc.get("p")
        return Pose(
            number(doc.get("s"), "s", 1e12),
            pose7(doc.get("h"), "h"),
            None if left is None else pose7(left, "l"),
            None if right is None else pose7(right, "r"),
            None if point is None else ray6(point, "p"),
        )
    rid = _request_id(doc)
    doc.pop("id", None)
    try:
        return _parse_reliable(kind, doc, rid)
    except SessionError as exc:
        raise SessionError(exc.code, exc.message, rid) from None


def _parse_reliable(kind: str, doc: dict[str, Any], rid: int | None) -> ClientMessage:
    if kind == "ann_create":
        _only(doc, _ANN_KEYS, rid)
        return CreateAnnotation(rid, _annotation_fields(doc, rid, create=True))
    if kind == "ann_update":
        _only(doc, _ANN_KEYS | {"ann"}, rid)
        aid = _annotation_id(doc.get("ann"), rid)
        fields = _annotation_fields(doc, rid, create=False)
        if fields == AnnotationFields():
            raise SessionError("bad_request", "nothing to update", rid)
        return UpdateAnnotation(rid, aid, fields)
    if kind == "ann_delete":
        _only(doc, frozenset({"ann"}), rid)
        return DeleteAnnotation(rid, _annotation_id(doc.get("ann"), rid))
    if kind == "lead":
        _only(doc, frozenset({"on"}), rid)
        on = doc.get("on")
        if type(on) is not bool:
            raise SessionError("bad_request", "'on' must be true or false", rid)
        return Lead(rid, on)
    if kind == "follow":
        _only(doc, frozenset({"leader"}), rid)
        leader = doc.get("leader")
        return Follow(rid, None if leader is None else _participant(leader, "leader", rid))
    if kind == "summon":
        _only(doc, frozenset({"targets", "pose"}), rid)
        targets = doc.get("targets")
        if targets is not None:
            if type(targets) is not list or not 0 < len(targets) <= 256:
                raise SessionError("bad_request", "'targets' must be 1-256 participant ids", rid)
            targets = tuple(_participant(x, "targets", rid) for x in targets)
        return Summon(rid, targets, pose7(doc.get("pose"), "pose"))
    if kind == "ping":
        _only(doc, frozenset({"pos", "machine"}), rid)
        machine = text(doc.get("machine", ""), "machine", MAX_MACHINE)
        return Ping(rid, numbers(doc.get("pos"), 3, "pos"), machine)
    if kind == "chat":
        _only(doc, frozenset({"text"}), rid)
        return Chat(rid, text(doc.get("text"), "text", MAX_CHAT, empty=False, multiline=True))
    if kind == "timeline":
        return _parse_timeline(doc, rid)
    if kind.startswith("tr_"):
        return _parse_training(kind, doc, rid)
    raise SessionError("bad_request", f"unknown message type {str(kind)[:40]!r}", rid)


def _request_id(doc: Mapping[str, Any]) -> int | None:
    rid = doc.get("id")
    if rid is None:
        return None
    if type(rid) is not int or not 0 <= rid < MAX_REQUEST_ID:
        raise SessionError("bad_request", "'id' must be a non-negative integer")
    return rid


def _only(doc: Mapping[str, Any], keys: frozenset[str], rid: int | None) -> None:
    extra = set(doc) - keys
    if extra:
        name = sorted(map(str, extra))[0][:40]
        raise SessionError("bad_request", f"unknown field {name!r}", rid)


def _parse_timeline(doc: dict[str, Any], rid: int | None) -> SetTimeline:
    _only(doc, frozenset({"mode", "time", "playing", "speed"}), rid)
    mode, t, playing, speed = timeline_fields(doc)
    return SetTimeline(rid, mode, t, playing, speed)


def _count(v: object, what: str, low: int, high: int, rid: int | None) -> int:
    if type(v) is not int or not low <= v <= high:
        raise SessionError("bad_request", f"'{what}' must be an integer {low}..{high}", rid)
    return v


def _ident(v: object, what: str, rid: int | None) -> str:
    value = text(v, what, 64, empty=False)
    if not value.isascii() or any(not (c.isalnum() or c in "._:-") for c in value):
        raise SessionError("bad_request", f"'{what}' must be an id (letters, digits, . _ : -)", rid)
    return value


def _score(v: object, rid: int | None) -> float:
    value = number(v, "score", 100.0)
    if value < 0:
        raise SessionError("bad_request", "'score' must be 0..100", rid)
    return value


def _parse_training(kind: str, doc: dict[str, Any], rid: int | None) -> ClientMessage:
    if kind == "tr_progress":
        _only(
            doc,
            frozenset({"procedure", "step", "step_id", "status", "completed", "count", "text"})
            | {"score"},
            rid,
        )
        status = doc.get("status")
        if status not in TRAINING_STATUSES:
            raise SessionError("bad_request", "'status' must be running, completed or aborted")
        count = _count(doc.get("count"), "count", 1, MAX_STEPS, rid)
        score = doc.get("score")
        return TrainingProgress(
            rid,
            _ident(doc.get("procedure"), "procedure", rid),
            _count(doc.get("step"), "step", -1, count - 1, rid),
            text(doc.get("step_id", ""), "step_id", 64),
            str(status),
            _count(doc.get("completed"), "completed", 0, count, rid),
            count,
            text(doc.get("text", ""), "text", MAX_TEXT, multiline=True),
            None if score is None else _score(score, rid),
        )
    if kind == "tr_control":
        _only(doc, frozenset({"target", "action"}), rid)
        action = doc.get("action")
        if action not in TRAINING_ACTIONS:
            raise SessionError("bad_request", "'action' must be advance, reset_step or restart")
        return TrainingControl(rid, _participant(doc.get("target"), "target", rid), str(action))
    if kind == "tr_result":
        _only(doc, frozenset({"result"}), rid)
        result = doc.get("result")
        if not isinstance(result, dict):
            raise SessionError("bad_request", "'result' must be a map", rid)
        return TrainingResult(rid, result)
    if kind == "tr_results":
        _only(doc, frozenset({"trainee", "limit"}), rid)
        trainee = doc.get("trainee")
        return TrainingResults(
            rid,
            None if trainee is None else person_name(trainee),
            _count(doc.get("limit", MAX_RESULTS), "limit", 1, MAX_RESULTS, rid),
        )
    raise SessionError("bad_request", f"unknown message type {str(kind)[:40]!r}", rid)


def action_of(msg: ClientMessage) -> Action | None:
    """The permission a message needs (annotation edits: decided with the annotation)."""
    return _ACTION_OF.get(type(msg))


_ACTION_OF: dict[type, Action] = {
    Pose: Action.POSE,
    Chat: Action.CHAT,
    Ping: Action.PING,
    CreateAnnotation: Action.CREATE,
    Lead: Action.LEAD,
    Follow: Action.FOLLOW,
    Summon: Action.SUMMON,
    SetTimeline: Action.TIMELINE,
    TrainingProgress: Action.TRAIN_REPORT,
    TrainingResult: Action.TRAIN_REPORT,
    TrainingControl: Action.TRAIN_CONTROL,
    TrainingResults: Action.TRAIN_RESULTS,
}
