"""The session hub: rooms of participants over WebSockets, annotations in SQLite.

Admission happens before the WebSocket upgrade (``_admit``, with the checks of
``hub/admission.py``): a bad token 401, another room or origin 403, too many handshakes
429, a full room or hub 503; none of them ever reaches the WebSocket layer.

After the upgrade each connection has a receive loop (a token bucket per connection: each
refused message gets ``rate_limited``, with its request id; past twice the burst the
connection is closed with 1008), a sender task and two outgoing slots
(``hub/connection.py``): a bounded queue of reliable frames and one latest-value presence
slot. Once per tick the room's changed presence becomes one frame, encoded once and shared
by every receiver; a receiver whose slot still holds the last tick's frame gets the room's full
presence instead, so a slow receiver gets fewer, newer frames and never a queue.

Annotation changes are planned by the room (authorized there, and held to the room's and
the author's budgets), committed by a single writer task in batches on a worker thread,
and only then acknowledged and broadcast. A joiner gets a welcome without annotations,
then the room's annotations in pages (``Room.annotation_pages``), then the rest.

Budgets that keep one identity or one room to its share: at most ``max_per_name``
connections per token name in a room (HTTP 429 beyond), and a fan-out budget per room
(``FanoutBudget``: reliable frames, messages times receivers, per second): a message in
a room that spent it is answered ``rate_limited`` ("the room is busy").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from xrclient import __version__
from xrclient.core import display_text, redaction
from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.core import session_messages as messages
from xrclient.core.session_presence import Pose
from xrclient.core.session_room import Change, Outcome, Participant, Room
from xrclient.hub import tokens
from xrclient.hub.admission import HandshakeLimiter, admit, refusal, select_subprotocol
from xrclient.hub.budget import FanoutBudget
from xrclient.hub.config import HubConfig
from xrclient.hub.connection import Connection, flushed, send_loop
from xrclient.hub.store import HubStore
from xrclient.server.limits import TokenBucket

log = logging.getLogger("xrclient.hub")
#: how long a connection closed for flooding gets for what is queued for it (its refusals)
FLUSH_BEFORE_CLOSE_S = 1.0

SERVER_NAME = f"xrclient-hub/{__version__}"
TOO_MANY_FOR_NAME = "too many connections for this name in this room"


class _RoomHub:
    def __init__(self, room: Room, fanout: FanoutBudget) -> None:
        self.room = room
        self.conns: dict[int, Connection] = {}
        #: reliable frames (messages times receivers) this room may still fan out
        self.fanout = fanout


@dataclass(slots=True)
class HubStats:
    connections: int = 0
    refused_handshakes: int = 0
    closed_floods: int = 0
    invalid_messages: int = 0
    refused_messages: int = 0
    #: messages refused because their room had spent its fan-out budget
    room_busy: int = 0
    #: participants cut (1008) for being too far behind
    cut_behind: int = 0
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
        self._handshakes = HandshakeLimiter(config.handshake_rate, config.handshake_burst)
        self._store: HubStore | None = None
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hub-store")
        self._server: Server | None = None
        self._writes: asyncio.Queue[tuple[_RoomHub, Change]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._next_pid = 1
        self._conns = 0
        #: open connections per (room, token name)
        self._names: dict[tuple[str, str], int] = {}

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def start(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._io, HubStore, cfg.db, cfg.audit_key())
        self._writes = asyncio.Queue()
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            ssl=cfg.ssl_context,
            process_request=self._admit,
            select_subprotocol=select_subprotocol,
            subprotocols=[Subprotocol(codec.SUBPROTOCOL)],
            max_size=cfg.max_frame,
            max_queue=16,
            server_header=SERVER_NAME,
            logger=redaction.quiet_logger("xrclient.hub.ws"),
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
        if not self._handshakes.allow(connection):
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
        if self._names.get((got.claims.room, got.claims.name), 0) >= self.config.max_per_name:
            return self._refuse(connection, HTTPStatus.TOO_MANY_REQUESTS, TOO_MANY_FOR_NAME)
        return None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, reason: str) -> Response:
        self.stats.refused_handshakes += 1
        self.stats.refusals[status.value] = self.stats.refusals.get(status.value, 0) + 1
        log.info("refused a connection: %d %s", status.value, reason)
        return refusal(connection, status, reason, self._handshakes.retry_after())

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
                    max_annotation_bytes=cfg.max_annotation_bytes,
                    max_author_annotations=cfg.max_author_annotations,
                    max_author_bytes=cfg.max_author_bytes,
                    new_id=lambda: secrets.token_hex(8),
                )
                fanout = FanoutBudget(cfg.room_fanout, cfg.room_fanout_burst)
                hub = self.rooms[name] = _RoomHub(room, fanout)
        return hub

    # -- one participant ---------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        got = admit(ws.request, self.config.secret, self.config.origins)  # type: ignore[arg-type]  # ws.request is set once the handshake is done, as it is in a handler
        if isinstance(got, tuple):  # expired between the handshake and now
            await ws.close(codec.CLOSE_TOKEN_EXPIRED, got[1])
            return
        cfg = self.config
        hub = await self._room(got.claims.room)
        if len(hub.conns) >= cfg.max_participants:
            await ws.close(codec.CLOSE_ROOM_FULL, "room full")
            return
        claims = got.claims
        who = (claims.room, claims.name)
        if self._names.get(who, 0) >= cfg.max_per_name:  # admitted together: one too many
            await ws.close(codec.CLOSE_POLICY, TOO_MANY_FOR_NAME)
            return
        pid = self._next_pid
        self._next_pid += 1
        now = time.time()
        p = Participant(pid, claims.name, claims.role, got.device, now)
        conn = Connection(ws, p, cfg.max_backlog, cfg.max_backlog_bytes, cfg.cut_timeout)
        welcome, joined = hub.room.join(p, now, cfg.tick_hz)
        conn.intro.append(codec.encode(welcome))
        conn.pages = (codec.encode(doc) for doc in hub.room.annotation_pages(cfg.page_bytes))
        for doc in hub.room.progress_for(pid):
            conn.push(codec.encode(doc))
        self._broadcast(hub, joined)
        hub.conns[pid] = conn
        self._names[who] = self._names.get(who, 0) + 1
        self._conns += 1
        self.stats.connections += 1
        log.info(
            "%s joined room %s as %s (%s) #%d",
            display_text.printable(p.name),  # a name is checked, and still printed on one line
            hub.room.name,
            p.role.value,
            p.device,
            pid,
        )
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(
            max(0.0, claims.expires + tokens.SKEW - now),
            lambda: setattr(
                conn,
                "closing",
                asyncio.ensure_future(conn.close(codec.CLOSE_TOKEN_EXPIRED, "token expired")),
            ),
        )
        sender = asyncio.create_task(send_loop(conn))
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
            left = self._names.get(who, 0) - 1
            if left > 0:
                self._names[who] = left
            else:
                self._names.pop(who, None)
            if conn.cut:
                self.stats.cut_behind += 1
            code = ws.close_code
            lost = code not in (1000, 1001)
            for doc in hub.room.leave(pid, lost):
                self._broadcast(hub, doc)
            if not hub.conns and not hub.room.pending and self.rooms.get(hub.room.name) is hub:
                del self.rooms[hub.room.name]  # empty: its state is all in the store
            log.info("#%d left room %s (%s)", pid, hub.room.name, code)

    async def _receive_loop(self, hub: _RoomHub, conn: Connection) -> None:
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
                    await flushed(conn, FLUSH_BEFORE_CLOSE_S)  # the refusals go out first
                    await conn.ws.close(codec.CLOSE_POLICY, "rate limit exceeded")
                    return
                conn.push(
                    codec.encode(codec.error_message("rate_limited", "slow down", _id_of(frame)))
                )
                continue
            try:
                msg = messages.parse_client_message(frame)
                if not isinstance(msg, Pose) and not hub.fanout.take(max(1, len(hub.conns))):
                    self.stats.room_busy += 1
                    raise codec.SessionError("rate_limited", "the room is busy", _id_of(frame))
                outcome = room.handle(pid, msg, time.time())
            except codec.SessionError as exc:
                self.stats.invalid_messages += exc.code == "bad_request"
                self.stats.refused_messages += exc.code != "bad_request"
                conn.push(codec.encode(codec.error_message(exc.code, exc.message, exc.request_id)))
                continue
            if outcome.change is not None:
                writes.put_nowait((hub, outcome.change))
            if outcome.result is not None or outcome.query is not None:
                outcome = await self._training_io(hub, conn, outcome, _id_of(frame))
            self._deliver(hub, conn, outcome)

    def _deliver(self, hub: _RoomHub, conn: Connection | None, out: Outcome) -> None:
        if conn is not None:
            for doc in out.reply:
                conn.push(codec.encode(doc))
        for doc in out.broadcast:
            self._broadcast(hub, doc)
        for pid, doc in out.direct:
            target = hub.conns.get(pid)
            if target is not None:
                target.push(codec.encode(doc))

    def _broadcast(self, hub: _RoomHub, doc: dict[str, Any]) -> None:
        frame = codec.encode(doc)  # once for everyone
        for conn in hub.conns.values():
            conn.push(frame)

    async def _training_io(
        self, hub: _RoomHub, conn: Connection, outcome: Outcome, rid: int | None
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
            return Outcome(reply=[codec.error_message("internal", "not saved", rid)])
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
                delta = codec.encode(doc)
                full: bytes | None = None
                self.stats.presence_frames += 1
                for conn in hub.conns.values():
                    if conn.presence is None:
                        conn.presence = delta
                    else:  # the last tick's frame is still waiting: send everything, once
                        if full is None:
                            full = codec.encode(hub.room.presence_all(now))
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
                        err = codec.error_message("internal", "not saved", change.request_id)
                        conn.push(codec.encode(err))
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
        doc = codec.decode(frame, codec.MAX_CLIENT_FRAME, binary=False)
    except codec.SessionError:
        return None
    rid = doc.get("id")
    return rid if type(rid) is int and 0 <= rid < checks.MAX_REQUEST_ID else None
