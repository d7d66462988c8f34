"""The session hub: rooms of participants over WebSockets, annotations in SQLite.

Admission happens before the WebSocket upgrade (``_admit``): the path names the room; the
``Origin`` header, when present, must be on the exact allowlist (with no allowlist, any
request carrying an Origin is refused: browsers always send one); the token comes from
``Authorization: Bearer`` or, for clients that cannot set headers, from an offered
subprotocol ``xrsession.bearer.<token>`` (never echoed back). A missing, forged, expired or
malformed token is answered 401, a token for another room or a bad origin 403, a full room
or hub 503; none of them ever reaches the WebSocket layer. Tokens are never logged.

After the upgrade each connection has a receive loop (a token bucket per connection: each
refused message gets ``rate_limited``, with its request id; past twice the burst the
connection is closed with 1008), a sender task
and two outgoing slots: a bounded queue of reliable frames (a participant too far behind
is closed with 1008 and resyncs on reconnect) and one latest-value presence slot. Once per
tick the room's changed presence becomes one frame, encoded once and shared by every
receiver; a receiver whose slot still holds the last tick's frame gets the room's full
presence instead, so a slow receiver gets fewer, newer frames and never a queue.

Annotation changes are planned by the room (authorized there), committed by a single
writer task in batches on a worker thread, and only then acknowledged and broadcast.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import secrets
import ssl
import threading
import time
import urllib.parse
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from xrclient import __version__
from xrclient.core import session_schema as s
from xrclient.core.session_room import Change, Outcome, Participant, Room
from xrclient.hub import tokens
from xrclient.hub.store import HubStore
from xrclient.server.limits import TokenBucket, is_loopback

log = logging.getLogger("xrclient.hub")
#: how long a connection closed for flooding gets for what is queued for it (its refusals)
FLUSH_BEFORE_CLOSE_S = 1.0
#: client addresses whose handshake rate is tracked at once
MAX_TRACKED_ADDRESSES = 4096

SERVER_NAME = f"xrclient-hub/{__version__}"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HubConfig:
    db: Path
    secret: bytes
    host: str = "127.0.0.1"
    port: int = 8766
    #: exact Origin values allowed (scheme://host[:port]); empty: refuse any request with one
    origins: tuple[str, ...] = ()
    ssl_context: ssl.SSLContext | None = None
    tick_hz: float = 30.0
    max_frame: int = s.MAX_CLIENT_FRAME
    #: messages per second per connection, and the burst allowed
    rate: float = 60.0
    burst: int = 120
    max_participants: int = 256
    max_connections: int = 1024
    #: connection attempts per second per client address, and the burst allowed (HTTP 429
    #: beyond): bounds what a flood of handshakes (e.g. token guessing) costs the hub
    handshake_rate: float = 10.0
    handshake_burst: int = 60
    max_annotations: int = 10_000
    #: reliable frames waiting for one participant before it is cut off
    max_backlog: int = 2048
    ping_interval: float = 10.0
    ping_timeout: float = 20.0
    open_timeout: float = 10.0
    commit_batch: int = 512

    def check(self) -> None:
        if len(self.secret) < tokens.MIN_SECRET_BYTES:
            raise ValueError("the hub secret must hold at least 32 bytes")
        if not 1.0 <= self.tick_hz <= 240.0:
            raise ValueError("tick rate must be between 1 and 240 Hz")
        if not (1.0 <= self.rate <= 1e6 and 1 <= self.burst <= 1e6):
            raise ValueError("the message rate must be 1..1e6 per second, the burst 1..1e6")
        if not (0.1 <= self.handshake_rate <= 1e6 and 1 <= self.handshake_burst <= 1e6):
            raise ValueError("the handshake rate must be 0.1..1e6 per second, the burst 1..1e6")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.ssl_context is None and not is_loopback(self.host):
            raise ValueError(
                f"refusing to serve on {self.host} without TLS: tokens would cross the "
                "network in clear (give --tls-cert and --tls-key)"
            )
        for origin in self.origins:
            parts = urllib.parse.urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(f"an origin looks like https://host[:port], got {origin!r}")


@dataclass(frozen=True, slots=True)
class Admission:
    claims: tokens.Claims
    device: str


def admit(
    request: Request, secret: bytes, origins: tuple[str, ...], now: float | None = None
) -> Admission | tuple[HTTPStatus, str]:
    """Who a handshake request is, or why it is refused (status, reason without secrets)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin not in origins:
        return HTTPStatus.FORBIDDEN, "origin not allowed"
    parts = urllib.parse.urlsplit(request.path)
    room = urllib.parse.unquote(parts.path.lstrip("/"))
    try:
        s.room_name(room)
    except s.SessionError:
        return HTTPStatus.NOT_FOUND, "the path must name a room: /ROOM"
    query = urllib.parse.parse_qs(parts.query, max_num_fields=4)
    device = (query.get("device") or ["headless"])[0]
    if device not in s.DEVICES:
        return HTTPStatus.BAD_REQUEST, "device must be headset, desktop or headless"
    token = bearer_token(request)
    if token is None:
        return HTTPStatus.UNAUTHORIZED, "missing token"
    try:
        claims = tokens.verify(secret, token, now)
    except tokens.TokenError as exc:
        return HTTPStatus.UNAUTHORIZED, exc.reason
    if claims.room != room:
        return HTTPStatus.FORBIDDEN, "the token is for another room"
    return Admission(claims, device)


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get_all("Authorization")
    if len(auth) == 1 and auth[0].startswith("Bearer "):
        return auth[0][len("Bearer ") :].strip()
    if auth:
        return ""
    offered = [
        p.strip()
        for value in request.headers.get_all("Sec-WebSocket-Protocol")
        for p in value.split(",")
    ]
    found = [p[len(s.TOKEN_SUBPROTOCOL_PREFIX) :] for p in offered]
    found = [
        f for f, p in zip(found, offered, strict=True) if p.startswith(s.TOKEN_SUBPROTOCOL_PREFIX)
    ]
    if len(found) == 1:
        return found[0]
    return "" if found else None


class _Conn:
    def __init__(self, ws: ServerConnection, participant: Participant, backlog: int) -> None:
        self.ws = ws
        self.p = participant
        self.reliable: deque[bytes] = deque()
        self.backlog = backlog
        self.presence: bytes | None = None
        self.wake = asyncio.Event()
        self.cut = False
        self.closing: asyncio.Future[None] | None = None

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)

    def push(self, frame: bytes) -> None:
        if len(self.reliable) >= self.backlog:
            if not self.cut:  # too far behind: drop the connection, it resyncs on reconnect
                self.cut = True
                log.warning("participant %d is too far behind; closing", self.p.pid)
                self.closing = asyncio.ensure_future(self.close(s.CLOSE_POLICY, "too far behind"))
            return
        self.reliable.append(frame)
        self.wake.set()


class _RoomHub:
    def __init__(self, room: Room) -> None:
        self.room = room
        self.conns: dict[int, _Conn] = {}


@dataclass(slots=True)
class HubStats:
    connections: int = 0
    refused_handshakes: int = 0
    closed_floods: int = 0
    invalid_messages: int = 0
    refused_messages: int = 0
    commits: int = 0
    committed_changes: int = 0
    ticks: int = 0
    presence_frames: int = 0
    refusals: dict[int, int] = field(default_factory=dict)


class Hub:
    def __init__(self, config: HubConfig) -> None:
        config.check()
        self.config = config
        self.stats = HubStats()
        self.rooms: dict[str, _RoomHub] = {}
        self._handshakes: OrderedDict[str, TokenBucket] = OrderedDict()
        self._store: HubStore | None = None
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hub-store")
        self._server: Server | None = None
        self._writes: asyncio.Queue[tuple[_RoomHub, Change]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._next_pid = 1
        self._conns = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._io, HubStore, cfg.db)
        self._writes = asyncio.Queue()
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            ssl=cfg.ssl_context,
            process_request=self._admit,
            select_subprotocol=_select_subprotocol,
            subprotocols=[Subprotocol(s.SUBPROTOCOL)],
            max_size=cfg.max_frame,
            max_queue=16,
            server_header=SERVER_NAME,
            logger=s.quiet_logger("xrclient.hub.ws"),
            compression=None,
            ping_interval=cfg.ping_interval,
            ping_timeout=cfg.ping_timeout,
            open_timeout=cfg.open_timeout,
            close_timeout=2,
        )
        self._tasks = [
            asyncio.create_task(self._tick_loop()),
            asyncio.create_task(self._write_loop()),
        ]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._store is not None:
            store, self._store = self._store, None
            await asyncio.get_running_loop().run_in_executor(self._io, store.close)
        self._io.shutdown(wait=True)

    async def serve_forever(self, ready: Callable[[int], None] | None = None) -> None:
        await self.start()
        if ready is not None:
            ready(self.port)
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    # -- admission -----------------------------------------------------------------------

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        if not self._handshake_allowed(connection):
            return self._refuse(
                connection,
                HTTPStatus.TOO_MANY_REQUESTS,
                "too many connection attempts from this address; retry later",
            )
        got = admit(request, self.config.secret, self.config.origins)
        if isinstance(got, tuple):
            return self._refuse(connection, *got)
        if self._conns >= self.config.max_connections:
            return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "hub full")
        hub = self.rooms.get(got.claims.room)
        if hub is not None and len(hub.conns) >= self.config.max_participants:
            return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "room full")
        return None

    def _handshake_allowed(self, connection: ServerConnection) -> bool:
        """One token of the address's bucket (addresses kept: the most recent few thousand)."""
        peer = connection.remote_address
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        buckets = self._handshakes
        bucket = buckets.pop(address, None)
        if bucket is None:
            bucket = TokenBucket(self.config.handshake_rate, self.config.handshake_burst)
            if len(buckets) >= MAX_TRACKED_ADDRESSES:
                buckets.popitem(last=False)  # the longest unseen
        buckets[address] = bucket
        return bucket.take()

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, reason: str) -> Response:
        self.stats.refused_handshakes += 1
        self.stats.refusals[status.value] = self.stats.refusals.get(status.value, 0) + 1
        log.info("refused a connection: %d %s", status.value, reason)
        response = connection.respond(status, reason + "\n")
        if status is HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="xrclient-hub"'
        elif status is HTTPStatus.TOO_MANY_REQUESTS:
            response.headers["Retry-After"] = str(
                max(1, math.ceil(1.0 / self.config.handshake_rate))
            )
        return response

    async def _room(self, name: str) -> _RoomHub:
        hub = self.rooms.get(name)
        if hub is None:
            assert self._store is not None
            loop = asyncio.get_running_loop()
            annotations = await loop.run_in_executor(self._io, self._store.load, name)
            hub = self.rooms.get(name)  # another connection may have loaded it meanwhile
            if hub is None:
                cfg = self.config
                room = Room(
                    name,
                    annotations,
                    max_participants=cfg.max_participants,
                    max_annotations=cfg.max_annotations,
                    new_id=lambda: secrets.token_hex(8),
                )
                hub = self.rooms[name] = _RoomHub(room)
        return hub

    # -- one participant ---------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        got = admit(ws.request, self.config.secret, self.config.origins)  # type: ignore[arg-type]
        if isinstance(got, tuple):  # expired between the handshake and now
            await ws.close(s.CLOSE_TOKEN_EXPIRED, got[1])
            return
        hub = await self._room(got.claims.room)
        if len(hub.conns) >= self.config.max_participants:
            await ws.close(s.CLOSE_ROOM_FULL, "room full")
            return
        pid = self._next_pid
        self._next_pid += 1
        now = time.time()
        claims = got.claims
        p = Participant(pid, claims.name, claims.role, got.device, now)
        conn = _Conn(ws, p, self.config.max_backlog)
        welcome, joined = hub.room.join(p, now, self.config.tick_hz)
        conn.push(s.encode(welcome))
        for doc in hub.room.progress_for(pid):
            conn.push(s.encode(doc))
        self._broadcast(hub, joined)
        hub.conns[pid] = conn
        self._conns += 1
        self.stats.connections += 1
        log.info(
            "%s joined room %s as %s (%s) #%d", p.name, hub.room.name, p.role.value, p.device, pid
        )
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(
            max(0.0, claims.expires + tokens.SKEW - now),
            lambda: setattr(
                conn,
                "closing",
                asyncio.ensure_future(conn.close(s.CLOSE_TOKEN_EXPIRED, "token expired")),
            ),
        )
        sender = asyncio.create_task(self._send_loop(conn))
        try:
            await self._receive_loop(hub, conn)
        except ConnectionClosed:
            pass
        finally:
            expiry.cancel()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            hub.conns.pop(pid, None)
            self._conns -= 1
            code = ws.close_code
            lost = code not in (1000, 1001)
            for doc in hub.room.leave(pid, lost):
                self._broadcast(hub, doc)
            if not hub.conns and not hub.room.pending and self.rooms.get(hub.room.name) is hub:
                del self.rooms[hub.room.name]  # empty: its state is all in the store
            log.info("#%d left room %s (%s)", pid, hub.room.name, code)

    async def _receive_loop(self, hub: _RoomHub, conn: _Conn) -> None:
        cfg = self.config
        bucket = TokenBucket(cfg.rate, cfg.burst, forgive=0.5)
        writes = self._writes
        assert writes is not None
        room, pid = hub.room, conn.p.pid
        async for frame in conn.ws:
            if not bucket.take():
                self.stats.refused_messages += 1
                if bucket.refused > 2 * cfg.burst:
                    self.stats.closed_floods += 1
                    log.warning("closing #%d: it ignored the rate limit", pid)
                    await _sent(conn, FLUSH_BEFORE_CLOSE_S)  # the refusals go out first
                    await conn.ws.close(s.CLOSE_POLICY, "rate limit exceeded")
                    return
                conn.push(s.encode(s.error_message("rate_limited", "slow down", _id_of(frame))))
                continue
            try:
                msg = s.parse_client_message(frame)
                outcome = room.handle(pid, msg, time.time())
            except s.SessionError as exc:
                self.stats.invalid_messages += exc.code == "bad_request"
                self.stats.refused_messages += exc.code != "bad_request"
                conn.push(s.encode(s.error_message(exc.code, exc.message, exc.request_id)))
                continue
            if outcome.change is not None:
                writes.put_nowait((hub, outcome.change))
            if outcome.result is not None or outcome.query is not None:
                outcome = await self._training_io(hub, conn, outcome, _id_of(frame))
            self._deliver(hub, conn, outcome)

    async def _send_loop(self, conn: _Conn) -> None:
        ws = conn.ws
        while True:
            await conn.wake.wait()
            conn.wake.clear()
            while conn.reliable:
                await ws.send(conn.reliable.popleft())
            if conn.presence is not None:
                frame, conn.presence = conn.presence, None
                await ws.send(frame)

    def _deliver(self, hub: _RoomHub, conn: _Conn | None, out: Outcome) -> None:
        if conn is not None:
            for doc in out.reply:
                conn.push(s.encode(doc))
        for doc in out.broadcast:
            self._broadcast(hub, doc)
        for pid, doc in out.direct:
            target = hub.conns.get(pid)
            if target is not None:
                target.push(s.encode(doc))

    def _broadcast(self, hub: _RoomHub, doc: dict[str, Any]) -> None:
        frame = s.encode(doc)  # once for everyone
        for conn in hub.conns.values():
            conn.push(frame)

    async def _training_io(
        self, hub: _RoomHub, conn: _Conn, outcome: Outcome, rid: int | None
    ) -> Outcome:
        """Store a training result (acknowledged after the commit) or answer a query; this
        participant's later messages wait, so its messages stay in order."""
        store = self._store
        assert store is not None
        loop = asyncio.get_running_loop()
        room = hub.room.name
        try:
            if outcome.result is not None:
                result = outcome.result
                seq = await loop.run_in_executor(self._io, store.add_result, room, result)
                return hub.room.result_stored(conn.p.pid, rid, seq, result)
            assert outcome.query is not None
            trainee, limit = outcome.query
            rows = await loop.run_in_executor(self._io, store.results, room, trainee, limit)
        except Exception:
            log.exception("training results in room %s: store failed", room)
            return Outcome(reply=[s.error_message("internal", "not saved", rid)])
        found = [{"seq": r.seq, "result": r.result.to_dict()} for r in rows]
        return Outcome(reply=[{"t": "ack", "id": rid, "results": found}] if rid is not None else [])

    # -- presence ----------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        period = 1.0 / self.config.tick_hz
        next_at = time.monotonic()
        while True:
            now = time.time()
            for hub in self.rooms.values():
                doc = hub.room.take_presence(now)
                if doc is None:
                    continue
                delta = s.encode(doc)
                full: bytes | None = None
                self.stats.presence_frames += 1
                for conn in hub.conns.values():
                    if conn.presence is None:
                        conn.presence = delta
                    else:  # the last tick's frame is still waiting: send everything, once
                        if full is None:
                            full = s.encode(hub.room.presence_all(now))
                        conn.presence = full
                    conn.wake.set()
            self.stats.ticks += 1
            next_at += period
            delay = next_at - time.monotonic()
            if delay < -period:
                next_at = time.monotonic()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    # -- annotations -------------------------------------------------------------------

    async def _write_loop(self) -> None:
        writes, store = self._writes, self._store
        assert writes is not None and store is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await writes.get()]
            while not writes.empty() and len(batch) < self.config.commit_batch:
                batch.append(writes.get_nowait())
            pairs = [(hub.room.name, change) for hub, change in batch]
            try:
                await loop.run_in_executor(self._io, store.commit, pairs)
            except Exception:
                log.exception("committing %d annotation changes failed", len(batch))
                for hub in {id(h): h for h, _ in batch}.values():
                    annotations = await loop.run_in_executor(self._io, store.load, hub.room.name)
                    hub.room.reset_annotations(annotations)
                for hub, change in batch:
                    conn = hub.conns.get(change.pid)
                    if conn is not None:
                        err = s.error_message("internal", "not saved", change.request_id)
                        conn.push(s.encode(err))
                continue
            self.stats.commits += 1
            self.stats.committed_changes += len(batch)
            for hub, change in batch:
                self._deliver(hub, hub.conns.get(change.pid), hub.room.commit(change))
            for hub, _ in batch:  # everyone left while their changes were being written
                if not hub.conns and not hub.room.pending and self.rooms.get(hub.room.name) is hub:
                    del self.rooms[hub.room.name]


def _id_of(frame: str | bytes) -> int | None:
    """The request id of a refused frame, so a request still gets its answer."""
    try:
        doc = s.decode(frame, s.MAX_CLIENT_FRAME, binary=False)
    except s.SessionError:
        return None
    rid = doc.get("id")
    return rid if type(rid) is int and 0 <= rid < s.MAX_REQUEST_ID else None


def _select_subprotocol(connection: ServerConnection, offered: Any) -> Subprotocol | None:
    """Ours when offered; never a token subprotocol."""
    return Subprotocol(s.SUBPROTOCOL) if s.SUBPROTOCOL in offered else None


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


class HubThread:
    """A hub on its own event loop in a daemon thread (tests, benchmarks, embedding)."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.hub: Hub | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hub", daemon=True)
        self._thread.start()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped, timeout)

    @property
    def port(self) -> int:
        assert self.hub is not None, "not started"
        return self.hub.port

    def url(self, room: str) -> str:
        scheme = "wss" if self.config.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/{room}"

    def start(self, port: int | None = None) -> int:
        if self.hub is not None:
            raise RuntimeError("already serving")
        if port is not None:
            self.config = replace(self.config, port=port)
        hub = Hub(self.config)
        self.run(hub.start)
        self.hub = hub
        return hub.port

    def stop(self) -> None:
        if self.hub is not None:
            hub, self.hub = self.hub, None
            self.run(hub.stop)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> HubThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _sent(conn: _Conn, timeout: float) -> None:
    """Wait (up to ``timeout``) until the send loop has written what is queued for ``conn``."""
    deadline = time.monotonic() + timeout
    while conn.reliable and time.monotonic() < deadline:
        conn.wake.set()
        await asyncio.sleep(0.005)
