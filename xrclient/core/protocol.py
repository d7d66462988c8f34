"""The twin-stream protocol, sans-I/O: frames in, events and frames to send out.

``TwinClientProtocol`` is one connection's client side. Feed it every frame received
(``receive``) and it returns events; whatever it wants sent (resync requests) waits in
``data_to_send``. It owns the sequence rules, so the I/O layer never reasons about them.

Client states and transitions (every transition lives in ``_TRANSITIONS``):

==============  ============================  ==============
state           on                            next state
==============  ============================  ==============
AWAIT_WELCOME   welcome                       AWAIT_SNAPSHOT
AWAIT_SNAPSHOT  snapshot                      LIVE
LIVE            delta in sequence             LIVE
LIVE            gap, bad delta, stale beat    RESYNC (a resync request is queued)
RESYNC          snapshot                      LIVE
any             welcome again, fatal error    FAILED (the connection must be dropped)
==============  ============================  ==============

Rules: a delta's ``seq`` must be exactly one more than the last applied; an older or equal
one is a duplicate and is dropped; a newer one means updates were lost. A heartbeat
carries the last ``seq`` sent, so a gap shows even when the stream is quiet. Any invalid
delta counts as lost, so it too leads to a resync: after any fault, state converges to
the server's. Malformed welcome or snapshot messages are fatal for the connection.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import UpdateBatch
from xrclient.core.wire import (
    UpdateDecoder,
    WireError,
    decode_frame,
    decode_schema,
    encode_json,
    field_int,
    field_number,
    field_str,
)

PROTOCOL_VERSION = 1
#: WebSocket subprotocols; a server takes the first of them the client offers
SUBPROTOCOL_MSGPACK = "xrtwin.v1.msgpack"
SUBPROTOCOL_JSON = "xrtwin.v1.json"
SUBPROTOCOLS = (SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON)
#: largest frame a client sends (control messages are small)
MAX_CLIENT_FRAME = 64 * 1024
#: error codes a server may send
ERROR_CODES = frozenset(
    {
        "bad_request",
        "unknown_action",
        "unknown_machine",
        "unknown_fault",
        "invalid_state",
        "rate_limited",
        "forbidden",
        "internal",
    }
)


class State(enum.Enum):
    AWAIT_WELCOME = "await_welcome"
    AWAIT_SNAPSHOT = "await_snapshot"
    LIVE = "live"
    RESYNC = "resync"
    FAILED = "failed"


# -- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    schema: StreamSchema
    encoding: str
    heartbeat_s: float
    server: str


@dataclass(frozen=True, slots=True)
class Updates:
    batch: UpdateBatch


@dataclass(frozen=True, slots=True)
class Heartbeat:
    seq: int
    sent: float


@dataclass(frozen=True, slots=True)
class ControlAck:
    id: int
    result: str


@dataclass(frozen=True, slots=True)
class ServerError:
    code: str
    message: str
    id: int | None


@dataclass(frozen=True, slots=True)
class Dropped:
    """A message ignored: a duplicate or an out-of-date delta."""

    reason: str


@dataclass(frozen=True, slots=True)
class ResyncNeeded:
    """Updates were lost or invalid; a resync request has been queued."""

    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The connection is unusable and must be closed (then reconnected)."""

    reason: str


Event = Welcome | Updates | Heartbeat | ControlAck | ServerError | Dropped | ResyncNeeded | Failed

# (state, message type) -> handler name; absent pairs are protocol violations
_TRANSITIONS: dict[tuple[State, str], str] = {
    (State.AWAIT_WELCOME, "welcome"): "_on_welcome",
    (State.AWAIT_SNAPSHOT, "snapshot"): "_on_snapshot",
    (State.LIVE, "snapshot"): "_on_snapshot",
    (State.RESYNC, "snapshot"): "_on_snapshot",
    (State.LIVE, "delta"): "_on_delta",
    (State.RESYNC, "delta"): "_on_delta_while_resyncing",
    (State.AWAIT_SNAPSHOT, "heartbeat"): "_on_heartbeat",
    (State.LIVE, "heartbeat"): "_on_heartbeat",
    (State.RESYNC, "heartbeat"): "_on_heartbeat",
}
#: messages valid in any state but FAILED
_ANY_STATE = {"error": "_on_error", "control_ack": "_on_ack"}


class TwinClientProtocol:
    """One connection's client side of the twin stream."""

    def __init__(self) -> None:
        self.state = State.AWAIT_WELCOME
        self.schema: StreamSchema | None = None
        self.last_seq = -1
        self.invalid_messages = 0
        self.resyncs = 0
        self._decoder: UpdateDecoder | None = None
        self._outbox: list[str] = []

    def data_to_send(self) -> list[str]:
        out, self._outbox = self._outbox, []
        return out

    def control(self, request_id: int, action: str, **fields: Any) -> None:
        """Queue a control request (answered by a ``ControlAck`` or ``ServerError``)."""
        self._outbox.append(
            encode_json({"type": "control", "id": request_id, "action": action, **fields})
        )

    def request_resync(self, reason: str) -> ResyncNeeded:
        """Ask for a snapshot once per episode; only a live stream has one to ask for."""
        if self.state is State.LIVE:
            self.state = State.RESYNC
            self.resyncs += 1
            self._outbox.append(encode_json({"type": "resync"}))
        return ResyncNeeded(reason)

    def receive(self, frame: str | bytes) -> list[Event]:
        if self.state is State.FAILED:
            return []
        try:
            doc = decode_frame(frame)
        except WireError as exc:
            return [self._invalid(str(exc))]
        kind = doc["type"]
        name = _TRANSITIONS.get((self.state, kind)) or _ANY_STATE.get(kind)
        if name is None:
            if kind in ("welcome", "snapshot", "delta", "heartbeat"):
                return [self._fail(f"unexpected '{kind}' in state {self.state.value}")]
            # a newer server may send types this client does not know: skip them
            return [Dropped(f"unknown message type {kind[:40]!r}")]
        try:
            event: Event = getattr(self, name)(doc)
        except WireError as exc:
            if kind in ("welcome", "snapshot") or self.state is State.AWAIT_SNAPSHOT:
                return [self._fail(f"bad '{kind}': {exc}")]
            return [self._invalid(f"bad '{kind}': {exc}")]
        return [event]

    # -- handlers --------------------------------------------------------------------------

    def _invalid(self, reason: str) -> Event:
        self.invalid_messages += 1
        if self.state in (State.LIVE, State.RESYNC):
            return self.request_resync(reason)
        return self._fail(reason)

    def _fail(self, reason: str) -> Failed:
        self.state = State.FAILED
        return Failed(reason)

    def _on_welcome(self, doc: Mapping[str, Any]) -> Event:
        version = field_int(doc, "protocol", 1)
        if version != PROTOCOL_VERSION:
            return self._fail(f"server speaks protocol {version}, this client {PROTOCOL_VERSION}")
        schema = decode_schema(doc.get("schema"))
        heartbeat = field_number(doc, "heartbeat_s")
        encoding = field_str(doc, "encoding", 16)
        server = field_str(doc, "server", 128) if "server" in doc else ""
        self.schema = schema
        self._decoder = UpdateDecoder(schema)
        self.state = State.AWAIT_SNAPSHOT
        return Welcome(schema, encoding, max(0.05, heartbeat), server)

    def _on_snapshot(self, doc: Mapping[str, Any]) -> Event:
        assert self._decoder is not None
        batch = self._decoder.decode(doc, snapshot=True)
        self.last_seq = batch.seq
        self.state = State.LIVE
        return Updates(batch)

    def _on_delta(self, doc: Mapping[str, Any]) -> Event:
        assert self._decoder is not None
        seq = field_int(doc, "seq")
        if seq <= self.last_seq:
            return Dropped(f"delta {seq} already applied (last {self.last_seq})")
        if seq != self.last_seq + 1:
            return self.request_resync(f"sequence gap: expected {self.last_seq + 1}, got {seq}")
        batch = self._decoder.decode(doc, snapshot=False)
        self.last_seq = seq
        return Updates(batch)

    def _on_delta_while_resyncing(self, doc: Mapping[str, Any]) -> Event:
        return Dropped("delta while waiting for a resync snapshot")

    def _on_heartbeat(self, doc: Mapping[str, Any]) -> Event:
        seq = field_int(doc, "seq")
        sent = field_number(doc, "sent")
        if self.state is State.LIVE and seq > self.last_seq:
            return self.request_resync(f"heartbeat at seq {seq}, last applied {self.last_seq}")
        return Heartbeat(seq, sent)

    def _on_error(self, doc: Mapping[str, Any]) -> Event:
        code = field_str(doc, "code", 64)
        message = field_str(doc, "message", 1024)
        rid = doc.get("id")
        return ServerError(code, message, rid if type(rid) is int else None)

    def _on_ack(self, doc: Mapping[str, Any]) -> Event:
        return ControlAck(field_int(doc, "id"), field_str(doc, "result", 1024))


# -- server side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResyncRequest:
    pass


@dataclass(frozen=True, slots=True)
class ControlRequest:
    id: int
    body: dict[str, Any]  # the message without "type" and "id"; untrusted


ClientMessage = ResyncRequest | ControlRequest


class ClientMessageError(ValueError):
    def __init__(self, code: str, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


def parse_client_message(frame: str | bytes) -> ClientMessage:
    """A frame from a client, or ``ClientMessageError`` (code ``bad_request``)."""
    if not isinstance(frame, str):
        raise ClientMessageError("bad_request", "clients send JSON text frames")
    if len(frame) > MAX_CLIENT_FRAME:
        raise ClientMessageError("bad_request", f"frame larger than {MAX_CLIENT_FRAME} bytes")
    try:
        doc = decode_frame(frame)
    except WireError as exc:
        raise ClientMessageError("bad_request", str(exc)) from None
    kind = doc.pop("type")
    if kind == "resync":
        return ResyncRequest()
    if kind == "control":
        rid = doc.pop("id", None)
        if type(rid) is not int or not 0 <= rid < 2**53:
            raise ClientMessageError("bad_request", "'id' must be a non-negative integer")
        return ControlRequest(rid, doc)
    raise ClientMessageError("bad_request", f"unknown message type {kind[:40]!r}")


def welcome_message(
    schema: StreamSchema, encoding: str, heartbeat_s: float, server: str
) -> dict[str, Any]:
    return {
        "type": "welcome",
        "protocol": PROTOCOL_VERSION,
        "encoding": encoding,
        "heartbeat_s": heartbeat_s,
        "server": server,
        "schema": schema.to_wire(),
    }


def error_message(code: str, message: str, request_id: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        doc["id"] = request_id
    return doc
