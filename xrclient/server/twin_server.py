"""The twin-stream server: a thin asyncio/websockets shell around a twin source.

A source (the plant simulator, later a replay) owns the state arrays; the server ticks it
at a fixed rate and fans the changes out. Each client has its own sender task and its own
"dirty" mask of changed cells: while a slow client's socket is busy, changes pile up in
its mask (newest values win), never in a queue, so it costs bounded memory and never slows
the tick or other clients. Client frames are parsed by ``core.protocol`` and rate-limited
per connection; with a token configured the handshake itself is refused (401) without it.

Admission (``_admit``): a repeated ``Authorization`` or ``Origin`` header is a bad request
(400); an ``Origin`` (sent by every browser) must be on ``origins``, compared exactly, and
with no list every request carrying one is refused (403), so a web page cannot reach the
plant; a request without one is a native client. Control requests (``pause``, ``resume`` and
everything the source acts on) are privileged: only a client that presented
``control_token``, or any client when ``allow_control`` is set, may send them; others get
``forbidden``. Reading the stream and ``resync`` need no privilege.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import urllib.parse
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from xrclient import __version__
from xrclient.core import protocol as proto
from xrclient.core.display_text import printable
from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import TOUCH
from xrclient.core.wire import (
    encode_json,
    encode_json_list,
    encode_msgpack,
)
from xrclient.core.wire_encode import encode_updates_binary, encode_updates_json
from xrclient.server.limits import TokenBucket, is_loopback

log = logging.getLogger("xrclient.twin_server")

SERVER_NAME = f"xrclient-twin/{__version__}"
#: answers (acks, errors) one connection may have waiting; past it the server stops reading
#: that client's frames until the answers are sent (backpressure, never an abort)
MAX_PENDING_REPLIES = 64
#: the control actions the server handles itself (these, like all others, are privileged)
SERVER_ACTIONS = ("pause", "resume")


class TwinSource(Protocol):
    """What the server serves. ``control`` raises an exception with a ``code`` attribute
    (one of the protocol's error codes) and a ``message`` for requests it refuses."""

    schema: StreamSchema
    values: npt.NDArray[np.float64]
    source_time: npt.NDArray[np.float64]

    @property
    def strings(self) -> Sequence[Sequence[str]]:
        """Per property, the texts a string property's codes index (empty otherwise)."""

    def step(self, now: float) -> npt.NDArray[np.bool_]: ...

    def control(self, msg: Mapping[str, object], now: float) -> str: ...


@runtime_checkable
class ReportsOffline(Protocol):
    """A source that knows when machines cannot report (a plant connection that is down):
    the server sends no keep-alive for a machine while ``offline`` is set, so it goes stale."""

    offline: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    rate_hz: float = 10.0
    heartbeat_s: float = 1.0
    #: a machine with no changed property for this long gets a keep-alive entry, so quiet
    #: machines do not look stale to clients
    keepalive_s: float = 2.0
    token: str | None = None
    max_clients: int = 256
    #: control/resync messages per second per client, and the burst allowed
    client_rate: float = 20.0
    client_burst: int = 40
    #: exact ``Origin`` values allowed (``scheme://host[:port]``); empty: refuse any request
    #: that carries one (browsers always do; native clients send none)
    origins: tuple[str, ...] = field(default=())
    #: a second bearer token that grants control requests (and reading, like ``token``)
    control_token: str | None = None
    #: every admitted client may send control requests (otherwise only ``control_token``'s)
    allow_control: bool = False

    def check(self) -> None:
        if not 0.1 <= self.rate_hz <= 10_000:
            raise ValueError(f"rate must be between 0.1 and 10000 Hz, got {self.rate_hz}")
        if not 0.05 <= self.heartbeat_s <= 60:
            raise ValueError("heartbeat must be between 0.05 and 60 s")
        if not 0.05 <= self.keepalive_s <= 3600:
            raise ValueError("keep-alive interval must be between 0.05 and 3600 s")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"refusing to serve on {self.host} without a token: anyone on the network "
                "could read the plant and send control messages (give --token-file)"
            )
        if self.control_token is not None and self.control_token == self.token:
            raise ValueError("the control token must differ from the read token")
        if self.allow_control and not is_loopback(self.host):
            raise ValueError(
                f"refusing to let every client control the plant on {self.host}: give "
                "--control-token-file instead of --allow-control"
            )
        check_origins(self.origins)


def check_origins(origins: Sequence[str]) -> None:
    """Each allowed origin must be exactly ``scheme://host[:port]`` as a browser sends it."""
    for origin in origins:
        parts = urllib.parse.urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or origin != f"{parts.scheme}://{parts.netloc}"
        ):
            raise ValueError(f"an origin looks like https://host[:port], got {origin!r}")


Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Body:
    data: dict[str, Any] | str  # msgpack columns, or the JSON text of the update list
    count: int


class _Client:
    def __init__(
        self, ws: ServerConnection, encoding: str, shape: tuple[int, int], control: bool
    ) -> None:
        self.ws = ws
        self.encoding = encoding
        #: whether this client may send control requests
        self.control = control
        #: set whenever the sender took replies off ``replies`` (or stopped)
        self.drained = asyncio.Event()
        self.dirty = np.zeros(shape, bool)
        self.wake = asyncio.Event()
        self.seq = 0
        self.needs_snapshot = True
        self.replies: list[dict[str, Any]] = []
        self.sent_updates = 0


class TwinServer:
    """Serves one twin source to any number of WebSocket clients."""

    def __init__(self, source: TwinSource, config: ServerConfig) -> None:
        config.check()
        self.source = source
        self.config = config
        self.clients: set[_Client] = set()
        self.ticks = 0
        self.overruns = 0
        #: connections closed for flooding the server with messages
        self.dropped_floods = 0
        #: while paused the source is not stepped (clients still get heartbeats)
        self.paused = False
        self._server: Server | None = None
        #: encoded update bodies of the current state, shared between clients
        self._bodies: dict[tuple[str, bytes], _Body] = {}
        self._epoch = 0  # bumps whenever the source's state may have changed
        self._bodies_epoch = 0
        n_machines, n_props = source.values.shape
        #: cells changed by the last tick, plus a last column of keep-alives
        self._changes = np.zeros((n_machines, n_props + 1), bool)
        started = time.time()
        self._last_report = np.full(n_machines, started)
        #: when each machine was last known alive (sent with keep-alives and snapshots)
        self._touch_time = np.full(n_machines, started)
        self._ticker: asyncio.Task[None] | None = None
        #: machines the source says cannot report (updated in place by the source)
        self._offline = source.offline if isinstance(source, ReportsOffline) else None
        #: connections admitted with the control privilege (read when their handler starts)
        self._controllers: weakref.WeakSet[ServerConnection] = weakref.WeakSet()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        sock = next(iter(self._server.sockets))
        port: int = sock.getsockname()[1]
        return port

    async def start(self) -> None:
        cfg = self.config
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            subprotocols=[Subprotocol(s) for s in proto.SUBPROTOCOLS],
            select_subprotocol=_select_subprotocol,
            process_request=self._admit,
            max_size=proto.MAX_CLIENT_FRAME,
            server_header=SERVER_NAME,
            compression=None,
            ping_interval=10,
            ping_timeout=20,
            close_timeout=2,
        )
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def serve_forever(self, ready: Callable[[int], None] | None = None) -> None:
        await self.start()
        if ready is not None:
            ready(self.port)
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    # -- handshake ---------------------------------------------------------------------------

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        cfg = self.config
        auth = request.headers.get_all("Authorization")
        origin = request.headers.get_all("Origin")
        if len(auth) > 1 or len(origin) > 1:
            return _refuse(connection, HTTPStatus.BAD_REQUEST, "repeated header")
        if origin and origin[0] not in cfg.origins:
            return _refuse(connection, HTTPStatus.FORBIDDEN, "origin not allowed")
        given = auth[0].encode("utf-8", "surrogateescape") if auth else b""
        controller = cfg.control_token is not None and _same(given, cfg.control_token)
        if not controller:
            reader = cfg.token is not None and _same(given, cfg.token)
            # a wrong credential is refused, never quietly taken as read-only access
            wrong = bool(auth) and cfg.control_token is not None
            if (cfg.token is not None or wrong) and not reader:
                return _refuse(connection, HTTPStatus.UNAUTHORIZED, "missing or wrong token")
        if len(self.clients) >= cfg.max_clients:
            return _refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "too many clients")
        if controller or cfg.allow_control:
            self._controllers.add(connection)
        return None

    # -- ticking -----------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        period = 1.0 / self.config.rate_hz
        next_at = time.monotonic()
        while True:
            now = time.time()
            changed = self._changes
            changed.fill(False)
            if not self.paused:
                changed[:, :-1] = self.source.step(now)
                self.ticks += 1
                self._epoch += 1
            self._keep_alive(now, changed)
            if changed.any():
                for client in self.clients:
                    client.dirty |= changed
                    client.wake.set()
            next_at += period
            delay = next_at - time.monotonic()
            if delay < -period:  # fell behind: skip ahead rather than burst
                self.overruns += 1
                next_at = time.monotonic()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    def _keep_alive(self, now: float, changed: Mask) -> None:
        """Mark a keep-alive (last column) for machines quiet for ``keepalive_s``."""
        reported = changed[:, :-1].any(axis=1)
        self._last_report[reported] = now
        due = now - self._last_report >= self.config.keepalive_s
        if self._offline is not None:
            due &= ~self._offline
        if due.any():
            self._touch_time[due] = now
            self._last_report[due] = now
            changed[due, -1] = True
            self._epoch += 1

    # -- one client --------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        encoding = "msgpack" if ws.subprotocol == proto.SUBPROTOCOL_MSGPACK else "json"
        client = _Client(ws, encoding, self._changes.shape, ws in self._controllers)
        self.clients.add(client)
        sender = asyncio.create_task(self._send_loop(client))
        sender.add_done_callback(lambda _task: client.drained.set())
        try:
            await self._receive_loop(client, sender)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def _receive_loop(self, client: _Client, sender: asyncio.Task[None]) -> None:
        bucket = TokenBucket(self.config.client_rate, self.config.client_burst)
        async for frame in client.ws:
            # answers still waiting: read nothing more until the sender caught up, so a
            # burst is answered in full and a client that never reads costs bounded memory
            while len(client.replies) >= MAX_PENDING_REPLIES and not sender.done():
                client.drained.clear()
                await client.drained.wait()
            if sender.done():
                return
            if not bucket.take():
                if bucket.refused > 10 * self.config.client_burst:
                    self.dropped_floods += 1
                    log.warning("closing a client that ignored rate limiting")
                    await client.ws.close(1008, "rate limit exceeded")
                    return
                self._reply(client, proto.error_message("rate_limited", "slow down", _id_of(frame)))
                continue
            try:
                msg = proto.parse_client_message(frame)
            except proto.ClientMessageError as exc:
                self._reply(client, proto.error_message(exc.code, exc.message, exc.request_id))
                continue
            if isinstance(msg, proto.ResyncRequest):
                client.needs_snapshot = True
                client.wake.set()
                continue
            action = msg.body.get("action")
            if not client.control:
                self._reply(
                    client,
                    proto.error_message(
                        "forbidden", "control requests need the control token", msg.id
                    ),
                )
                continue
            if action in SERVER_ACTIONS and set(msg.body) == {"action"}:
                self.paused = action == "pause"
                self._reply(client, {"type": "control_ack", "id": msg.id, "result": action + "d"})
                continue
            self._epoch += 1
            try:
                result = self.source.control(msg.body, time.time())
            except Exception as exc:
                code = getattr(exc, "code", None)
                if not isinstance(code, str) or code not in proto.ERROR_CODES:
                    log.exception("control message failed")
                    code, text = "internal", "the control message could not be applied"
                else:
                    text = printable(str(getattr(exc, "message", exc)))
                self._reply(client, proto.error_message(code, text[:1024], msg.id))
                continue
            self._reply(client, {"type": "control_ack", "id": msg.id, "result": result})

    def _reply(self, client: _Client, doc: dict[str, Any]) -> None:
        """Queue an answer; the receive loop keeps at most ``MAX_PENDING_REPLIES`` waiting."""
        client.replies.append(doc)
        client.wake.set()

    async def _send_loop(self, client: _Client) -> None:
        src = self.source
        hb = self.config.heartbeat_s
        await self._send(
            client, proto.welcome_message(src.schema, client.encoding, hb, SERVER_NAME)
        )
        last_sent = time.monotonic()
        while True:
            timeout = max(0.0, last_sent + hb - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.wake.wait(), timeout)
            client.wake.clear()
            while client.replies:
                await self._send(client, client.replies.pop(0))
                client.drained.set()
            if client.needs_snapshot:
                client.needs_snapshot = False
                client.dirty.fill(False)
                cells = np.ones(self._changes.shape, bool)
                cells[:, :-1] = ~np.isnan(src.values)
                await self._send_updates(client, "snapshot", cells)
            elif client.dirty.any():
                mask = client.dirty.copy()
                client.dirty.fill(False)
                client.seq += 1
                await self._send_updates(client, "delta", mask)
            elif time.monotonic() - last_sent >= hb:
                beat = {"type": "heartbeat", "seq": client.seq, "sent": time.time()}
                await self._send(client, beat)
            else:
                continue
            last_sent = time.monotonic()

    async def _send_updates(self, client: _Client, kind: str, cells: Mask) -> None:
        """Send the cells of ``cells``; the encoded body is shared by every client that
        needs the same cells of the same state, so fan-out costs one encoding per tick."""
        head = {"type": kind, "seq": client.seq, "sent": time.time()}
        body = self._body(client.encoding, cells)
        client.sent_updates += body.count
        if client.encoding == "msgpack":
            assert isinstance(body.data, dict)
            await client.ws.send(encode_msgpack({**head, **body.data}))
        else:
            assert isinstance(body.data, str)
            await client.ws.send(f'{encode_json(head)[:-1]},"updates":{body.data}}}')

    def _body(self, encoding: str, cells: Mask) -> _Body:
        if self._bodies_epoch != self._epoch:
            self._bodies.clear()
            self._bodies_epoch = self._epoch
        key = (encoding, cells.tobytes())
        body = self._bodies.get(key)
        if body is None:
            src = self.source
            m, p = np.nonzero(cells)
            touch = p == cells.shape[1] - 1
            p = np.where(touch, TOUCH, p)
            values = np.where(touch, 0.0, src.values[m, np.where(touch, 0, p)])
            times = np.where(touch, self._touch_time[m], src.source_time[m, np.where(touch, 0, p)])
            if encoding == "msgpack":
                data: dict[str, Any] | str = encode_updates_binary(
                    src.schema, m, p, values, times, src.strings
                )
            else:
                updates = encode_updates_json(src.schema, m, p, values, times, src.strings)
                data = encode_json_list(updates)
            body = _Body(data, len(m))
            if len(self._bodies) < 64:
                self._bodies[key] = body
        return body

    async def _send(self, client: _Client, doc: Mapping[str, Any]) -> None:
        if client.encoding == "msgpack":
            await client.ws.send(encode_msgpack(doc))
        else:
            await client.ws.send(encode_json(doc))


def _id_of(frame: str | bytes) -> int | None:
    """The request id of a control frame, so even a refused request gets its answer."""
    try:
        msg = proto.parse_client_message(frame)
    except proto.ClientMessageError:
        return None
    return msg.id if isinstance(msg, proto.ControlRequest) else None


def _select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The client's first choice among ours; none offered means JSON."""
    for sub in offered:
        if sub in proto.SUBPROTOCOLS:
            return sub
    return None


def _same(given: bytes, token: str) -> bool:
    """``given`` is exactly ``Bearer <token>``, compared in constant time."""
    return hmac.compare_digest(given, f"Bearer {token}".encode())


def _refuse(connection: ServerConnection, status: HTTPStatus, reason: str) -> Response:
    response = connection.respond(status, reason + "\n")
    if status is HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xrclient-twin"'
    return response
