"""The session-hub protocol's messages, sans-I/O: strict parsing, roles, permissions.

Every frame is one msgpack map with a string ``t`` (its type); see docs/protocol.md,
"Session hub protocol". ``parse_client_message`` is what the hub runs on every frame a
participant sends: it either returns a typed message, every field checked (types,
lengths, finite numbers, ranges), or raises ``SessionError`` with a protocol error code;
nothing else escapes. ``allowed`` is the one permission table: the hub asks it for every
message, the clients only to grey out what the user may not do.
"""

from __future__ import annotations

import enum
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

PROTOCOL_VERSION = 1
#: the WebSocket subprotocol; a client that cannot set headers also offers
#: ``TOKEN_SUBPROTOCOL_PREFIX + token`` (the hub never selects that one)
SUBPROTOCOL = "xrsession.v1"
TOKEN_SUBPROTOCOL_PREFIX = "xrsession.bearer."
#: largest frame a participant may send; the hub closes the connection (1009) above it
MAX_CLIENT_FRAME = 16 * 1024
MAX_TEXT = 2000  # annotation text, characters
MAX_CHAT = 500
MAX_NAME = 64
MAX_MACHINE = 128
MAX_REQUEST_ID = 2**53
#: world coordinates beyond this many metres are refused
MAX_COORD = 1.0e5
ROOM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
COLOR_RE = re.compile(r"#[0-9a-f]{6}")
ANNOTATION_STATUSES = ("", "open", "resolved")
DEVICES = ("headset", "desktop", "headless")
#: a shared timeline: live, or a past moment of the plant's recorded history
TIMELINE_MODES = ("live", "past")
#: playback speeds a shared timeline may ask for (``xrclient.history.timeline``'s bounds)
TIMELINE_MIN_SPEED, TIMELINE_MAX_SPEED = 1 / 64, 64.0
#: recording times and hub times are seconds since the epoch, 0 up to this
MAX_TIME = 1.0e12

#: error codes the hub sends
ERROR_CODES = frozenset(
    {"bad_request", "forbidden", "not_found", "rate_limited", "limit", "internal"}
)
#: WebSocket close codes the hub uses (besides 1009, message too big, from websockets)
CLOSE_POLICY = 1008  # flooding beyond the rate limit, or too far behind on reliable messages
CLOSE_TOKEN_EXPIRED = 4001
CLOSE_ROOM_FULL = 4003


class Role(enum.Enum):
    EXPERT = "expert"
    OPERATOR = "operator"
    TRAINEE = "trainee"
    OBSERVER = "observer"


class Action(enum.Enum):
    POSE = "pose"
    CHAT = "chat"
    PING = "ping"
    CREATE = "create annotations"
    EDIT_OWN = "edit own annotations"
    EDIT_ANY = "edit others' annotations"
    DELETE_OWN = "delete own annotations"
    DELETE_ANY = "delete others' annotations"
    LEAD = "lead (follow me)"
    FOLLOW = "follow"
    SUMMON = "summon"
    TIMELINE = "share the timeline (take everyone to a moment of history)"
    TRAIN_REPORT = "report training progress and results"
    TRAIN_CONTROL = "advance or reset a trainee's procedure"
    TRAIN_RESULTS = "read training results"


_E, _O, _T, _V = Role.EXPERT, Role.OPERATOR, Role.TRAINEE, Role.OBSERVER
#: who may do what; observers are spectators (no avatar, read-only)
PERMISSIONS: Mapping[Action, frozenset[Role]] = {
    Action.POSE: frozenset({_E, _O, _T}),
    Action.CHAT: frozenset({_E, _O, _T}),
    Action.PING: frozenset({_E, _O, _T}),
    Action.CREATE: frozenset({_E, _O, _T}),
    Action.EDIT_OWN: frozenset({_E, _O, _T}),
    Action.EDIT_ANY: frozenset({_E, _O}),
    Action.DELETE_OWN: frozenset({_E, _O, _T}),
    Action.DELETE_ANY: frozenset({_E}),
    Action.LEAD: frozenset({_E, _O}),
    Action.FOLLOW: frozenset({_E, _O, _T, _V}),
    Action.SUMMON: frozenset({_E}),
    #: and the room allows only experts and the current leader (see ``Room.handle``)
    Action.TIMELINE: frozenset({_E, _O}),
    Action.TRAIN_REPORT: frozenset({_E, _O, _T}),
    Action.TRAIN_CONTROL: frozenset({_E}),
    Action.TRAIN_RESULTS: frozenset({_E}),
}


def allowed(role: Role, action: Action) -> bool:
    return role in PERMISSIONS[action]


class SessionError(ValueError):
    """A message refused: ``code`` is one of ``ERROR_CODES``; ``request_id`` echoes the
    message's ``id`` when it had a valid one."""

    def __init__(self, code: str, message: str, request_id: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


# -- logs --------------------------------------------------------------------------------

_SECRETS = (
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(re.escape(TOKEN_SUBPROTOCOL_PREFIX) + r"[^\s,]+"), "xrsession.bearer.[redacted]"),
    (re.compile(r"\bxs1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "xs1.[redacted]"),
)


def redact(text: str) -> str:
    """``text`` with bearer tokens replaced by ``[redacted]``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    """Redacts tokens from records (the WebSocket library logs handshake headers at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def quiet_logger(name: str) -> logging.Logger:
    """A logger for a WebSocket connection that never shows a token."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
    return logger


# -- encoding ----------------------------------------------------------------------------


def encode(doc: Mapping[str, Any]) -> bytes:
    out: bytes = msgpack.packb(doc, use_bin_type=True)
    return out


def decode(
    frame: str | bytes, max_bytes: int = 64 * 2**20, *, binary: bool = True
) -> dict[str, Any]:
    """One frame as a map with a string ``t``; ``SessionError('bad_request')`` otherwise."""
    if not isinstance(frame, bytes):
        raise SessionError("bad_request", "frames are msgpack binary frames")
    if len(frame) > max_bytes:
        raise SessionError("bad_request", f"frame larger than {max_bytes} bytes")
    try:
        doc = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=max_bytes,
            max_bin_len=max_bytes if binary else 0,
            max_array_len=max_bytes,
            max_map_len=max_bytes,
            max_ext_len=0,
        )
    except msgpack.StackError:
        raise SessionError("bad_request", "malformed msgpack: nested too deeply") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise SessionError("bad_request", f"malformed msgpack: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("t"), str):
        raise SessionError("bad_request", "a message must be a map with a string 't'")
    return doc


# -- field checks ------------------------------------------------------------------------


def _number(v: object, what: str, limit: float = MAX_COORD) -> float:
    if (type(v) is not float and type(v) is not int) or not math.isfinite(v) or abs(v) > limit:
        raise SessionError("bad_request", f"'{what}' must be a finite number within ±{limit:g}")
    return float(v)


def numbers(v: object, n: int, what: str, limit: float = MAX_COORD) -> tuple[float, ...]:
    """Exactly ``n`` finite numbers within ``±limit``."""
    if type(v) is not list or len(v) != n:
        raise SessionError("bad_request", f"'{what}' must be a list of {n} numbers")
    return tuple(_number(x, what, limit) for x in v)


def text(v: object, what: str, max_chars: int, *, empty: bool = True) -> str:
    if type(v) is not str or len(v) > max_chars or (not empty and not v):
        raise SessionError("bad_request", f"'{what}' must be a string of at most {max_chars}")
    if any(ord(c) < 32 and c not in "\n\t" for c in v):
        raise SessionError("bad_request", f"'{what}' holds control characters")
    return v


def pose7(v: object, what: str) -> tuple[float, ...]:
    """Position (metres) and a unit-ish rotation quaternion (x, y, z, w)."""
    p = numbers(v, 7, what)
    if not 0.5 <= math.sqrt(p[3] ** 2 + p[4] ** 2 + p[5] ** 2 + p[6] ** 2) <= 2.0:
        raise SessionError("bad_request", f"'{what}' rotation must be a unit quaternion")
    return p


def ray6(v: object, what: str) -> tuple[float, ...]:
    """Origin and a non-zero direction."""
    r = numbers(v, 6, what)
    if math.sqrt(r[3] ** 2 + r[4] ** 2 + r[5] ** 2) < 1e-6:
        raise SessionError("bad_request", f"'{what}' direction must not be zero")
    return r


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


def room_name(v: object) -> str:
    if type(v) is not str or not ROOM_RE.fullmatch(v):
        raise SessionError("bad_request", "a room name is 1-64 of A-Z a-z 0-9 . _ -")
    return v


def person_name(v: object) -> str:
    return text(v, "name", MAX_NAME, empty=False)


def color(v: object) -> str:
    if type(v) is not str or not COLOR_RE.fullmatch(v):
        raise SessionError("bad_request", "'color' must look like #rrggbb (lower case)")
    return v


# -- client messages ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pose:
    """Presence: head (or desktop camera) pose, hands and pointer; ``sent`` is the
    sender's clock (seconds), only used for interpolation and latency figures."""

    sent: float
    head: tuple[float, ...]
    left: tuple[float, ...] | None = None
    right: tuple[float, ...] | None = None
    point: tuple[float, ...] | None = None

    def to_row(self) -> tuple[npt.NDArray[np.float32], int]:
        """The presence row (``POSE_WIDTH`` float32) and its mask (``HAS_*`` bits)."""
        row = np.zeros(POSE_WIDTH, np.float32)
        row[0:7] = self.head
        mask = 0
        for bit, lo, v in ((HAS_LEFT, 7, self.left), (HAS_RIGHT, 14, self.right)):
            if v is not None:
                row[lo : lo + 7] = v
                mask |= bit
        if self.point is not None:
            row[21:27] = self.point
            mask |= HAS_POINT
        return row, mask


#: presence rows: head pose (7), left hand (7), right hand (7), pointer ray (6)
POSE_WIDTH = 27
HAS_LEFT, HAS_RIGHT, HAS_POINT = 1, 2, 4
MAX_PRESENCE = 4096


@dataclass(frozen=True, slots=True)
class PresenceColumns:
    """One presence frame: per entry the participant, its send time, row and mask."""

    at: float
    pids: npt.NDArray[np.uint32]
    sent: npt.NDArray[np.float64]
    rows: npt.NDArray[np.float32]
    masks: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.pids)


def encode_presence(
    at: float,
    pids: npt.NDArray[np.uint32],
    sent: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float32],
    masks: npt.NDArray[np.uint8],
) -> dict[str, Any]:
    """A ``poses`` frame: little-endian columns, like the twin stream's msgpack layout."""
    return {
        "t": "poses",
        "at": at,
        "pid": pids.astype("<u4").tobytes(),
        "s": sent.astype("<f8").tobytes(),
        "v": rows.astype("<f4").tobytes(),
        "m": masks.astype("u1").tobytes(),
    }


def decode_presence(doc: Mapping[str, Any]) -> PresenceColumns:
    at = _number(doc.get("at"), "at", 1e12)
    cols = []
    for key, dtype in (("pid", "<u4"), ("s", "<f8"), ("v", "<f4"), ("m", "u1")):
        raw = doc.get(key)
        size = np.dtype(dtype).itemsize
        if not isinstance(raw, bytes) or len(raw) % size:
            raise SessionError("bad_request", f"'{key}' must be bytes of {dtype} values")
        cols.append(np.frombuffer(raw, dtype))
    pids, sent, flat, masks = cols
    n = len(pids)
    if n > MAX_PRESENCE or len(sent) != n or len(masks) != n or len(flat) != n * POSE_WIDTH:
        raise SessionError("bad_request", "presence columns do not match")
    rows = flat.reshape(n, POSE_WIDTH)
    if n and (
        not np.isfinite(rows).all()
        or not np.isfinite(sent).all()
        or int(pids.min()) == 0
        or int(pids.max()) >= 2**31
        or np.abs(rows).max() > MAX_COORD
    ):
        raise SessionError("bad_request", "presence values out of range")
    return PresenceColumns(at, pids, sent, rows, (masks & 7).astype(np.uint8))


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
            got["text"] = text(doc.get("text", ""), "text", MAX_TEXT)
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
            _number(doc.get("s"), "s", 1e12),
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
        return Chat(rid, text(doc.get("text"), "text", MAX_CHAT, empty=False))
    if kind == "timeline":
        return _parse_timeline(doc, rid)
    if kind.startswith("tr_"):
        return _parse_training(kind, doc, rid)
    raise SessionError("bad_request", f"unknown message type {str(kind)[:40]!r}", rid)


def timeline_fields(doc: Mapping[str, Any]) -> tuple[str, float | None, bool, float]:
    """``mode``, ``time``, ``playing`` and ``speed`` of a timeline map, each checked: a past
    moment needs all four (``time`` finite, 0 to ``MAX_TIME``; ``speed`` within the
    timeline's bounds); a live one has no ``time`` (absent or nil) and may leave out the
    others. Shared by the hub (client frames) and the mirror (hub frames)."""
    mode = doc.get("mode")
    if mode not in TIMELINE_MODES:
        raise SessionError("bad_request", "'mode' must be live or past")
    live = mode == "live"
    playing = doc.get("playing", False if live else None)
    if type(playing) is not bool:
        raise SessionError("bad_request", "'playing' must be true or false")
    speed = doc.get("speed", 1.0 if live else None)
    if (
        (type(speed) is not float and type(speed) is not int)
        or not math.isfinite(speed)
        or not TIMELINE_MIN_SPEED <= speed <= TIMELINE_MAX_SPEED
    ):
        raise SessionError(
            "bad_request", f"'speed' must be {TIMELINE_MIN_SPEED:g} to {TIMELINE_MAX_SPEED:g}"
        )
    t = doc.get("time")
    if live:
        if t is not None:
            raise SessionError("bad_request", "a live timeline has no 'time'")
        return "live", None, False, float(speed)
    return "past", hub_time(t, "time"), playing, float(speed)


def hub_time(v: object, what: str) -> float:
    """Seconds since the epoch: finite, 0 to ``MAX_TIME``."""
    value = _number(v, what, MAX_TIME)
    if value < 0:
        raise SessionError("bad_request", f"'{what}' must be 0 to {MAX_TIME:g}")
    return value


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
    value = _number(v, "score", 100.0)
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
            text(doc.get("text", ""), "text", MAX_TEXT),
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


# -- client-side builders ----------------------------------------------------------------


def pose_message(
    sent: float,
    head: Sequence[float],
    left: Sequence[float] | None = None,
    right: Sequence[float] | None = None,
    point: Sequence[float] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"t": "pose", "s": float(sent), "h": [float(x) for x in head]}
    for key, v in (("l", left), ("r", right), ("p", point)):
        if v is not None:
            doc[key] = [float(x) for x in v]
    return doc


def error_message(code: str, message: str, request_id: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"t": "error", "code": code, "message": message}
    if request_id is not None:
        doc["id"] = request_id
    return doc
