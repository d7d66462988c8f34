"""The twin-stream server: a thin asyncio/websockets shell around a twin source.

A source (the plant simulator, later a replay) owns the state arrays; the server ticks it
at a fixed rate and fans the changes out. Each client has its own sender task and its own
"dirty" mask of changed cells: while a slow client's socket is busy, changes pile up in
its mask (newest values win), never in a queue, so it costs bounded memory and never slows
the tick or other clients. Client frames are parsed by ``core.protocol`` and rate-limited
per connection; with a token configured the handshake itself is refused (401) without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Origin, Subprotocol

from xrclient import __version__
from xrclient.core import protocol as proto
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
    origins: tuple[str, ...] = field(default=())

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


Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Body:
    data: dict[str, Any] | str  # msgpack columns, or the JSON text of the update list
    count: int


class _Client:
    def __init__(self, ws: ServerConnection, encoding: str, shape: tuple[int, int]) -> None:
        self.ws = ws
        self.encoding = encoding
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
            origins=[Origin(o) for o in cfg.origins] or None,
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
        token = self.config.token
        if token is not None:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return _refuse(connection, HTTPStatus.UNAUTHORIZED, "missing or wrong token")
        if len(self.clients) >= self.config.max_clients:
            return _refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "too many clients")
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
        if due.any():
            self._touch_time[due] = now
            self._last_report[due] = now
            changed[due, -1] = True
            self._epoch += 1

    # -- one client --------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        encoding = "msgpack" if ws.subprotocol == proto.SUBPROTOCOL_MSGPACK else "json"
        client = _Client(ws, encoding, self._changes.shape)
        self.clients.add(client)
        sender = asyncio.create_task(self._send_loop(client))
        try:
            await self._receive_loop(client)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def _receive_loop(self, client: _Client) -> None:
        bucket = TokenBucket(self.config.client_rate, self.config.client_burst)
        async for frame in client.ws:
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
            if action in ("pause", "resume") and set(msg.body) == {"action"}:
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
                    text = getattr(exc, "message", str(exc))
                self._reply(client, proto.error_message(code, text, msg.id))
                continue
            self._reply(client, {"type": "control_ack", "id": msg.id, "result": result})

    def _reply(self, client: _Client, doc: dict[str, Any]) -> None:
        if len(client.replies) >= 64:  # a client that does not read its replies
            client.ws.transport.abort()
            return
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


def _refuse(connection: ServerConnection, status: HTTPStatus, reason: str) -> Response:
    response = connection.respond(status, reason + "\n")
    if status is HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xrclient-twin"'
    return response
