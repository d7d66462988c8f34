"""The twin-stream client: websockets + asyncio in a background thread.

The thread connects, feeds frames to the sans-I/O ``TwinClientProtocol``, and puts the
decoded batches into an ``UpdateQueue`` for the frame loop. It never touches the twin store
or the renderer. Faults are handled here, by dropping the connection and reconnecting with
exponential backoff and full jitter (``xrclient.net.reconnect``; never sooner than the
``Retry-After`` of an HTTP 429): refused or lost connections, a server silent for three
heartbeats, a resync that does not arrive, a fatal protocol error. Every new connection
starts from a fresh snapshot, and a sequence gap or invalid delta triggers a resync, so the
client always converges to the server's state. ``status`` (immutable, replaced atomically)
tells the UI the connection state, errors and update latency.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from xrclient.core import protocol as proto
from xrclient.net.reconnect import Backoff as Backoff  # re-exported for TwinClient(backoff=...)
from xrclient.net.reconnect import reconnect_forever, run_loop
from xrclient.net.update_queue import UpdateQueue

log = logging.getLogger("xrclient.twin_client")

ConnState = Literal["connecting", "live", "resyncing", "disconnected", "stopped"]


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    url: str
    state: ConnState = "connecting"
    since: float = 0.0  # time.time() of the last state change
    server: str = ""
    last_message: float | None = None  # time.time() of the last frame received
    last_error: str = ""
    connects: int = 0
    resyncs: int = 0
    invalid_messages: int = 0
    messages: int = 0  # update messages (snapshots and deltas) received
    updates: int = 0  # property updates received
    latency_p50: float | None = None  # seconds, source time -> received, recent deltas
    latency_p99: float | None = None
    retry_in: float | None = None  # seconds until the next attempt, when disconnected


class ControlRejected(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class TwinClient:
    """Keeps a queue fed with the state of the twin stream at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        queue: UpdateQueue | None = None,
        encoding: Literal["msgpack", "json"] = "msgpack",
        token: str | None = None,
        max_frame: int = 64 * 2**20,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen: one shared default is safe
        open_timeout: float = 5.0,
        resync_timeout: float = 5.0,
        seed: int | None = None,
    ) -> None:
        check_url(url)
        self.url = url
        self.queue = queue if queue is not None else UpdateQueue()
        self.encoding = encoding
        self.token = token
        self.max_frame = max_frame
        self.backoff = backoff
        self.open_timeout = open_timeout
        self.resync_timeout = resync_timeout
        self._rng = random.Random(seed)
        self._status = ConnectionStatus(url, since=time.time())
        self._latencies: deque[float] = deque(maxlen=512)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._ws: ClientConnection | None = None
        self._protocol: proto.TwinClientProtocol | None = None
        self._pending: dict[int, concurrent.futures.Future[str]] = {}
        self._next_id = 1
        self._started = threading.Event()
        self._got_live = False
        self._sends: set[asyncio.Task[None]] = set()

    # -- lifecycle (frame-loop thread) -----------------------------------------------------

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def start(self) -> TwinClient:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="twin-client", daemon=True)
        self._thread.start()
        self._started.wait()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and end the thread (idempotent)."""
        loop, task, thread = self._loop, self._task, self._thread
        if thread is None:
            return
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("twin client thread did not stop")
        self._thread = None
        self._set(state="stopped")

    def __enter__(self) -> TwinClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, action: str, **fields: Any) -> concurrent.futures.Future[str]:
        """Send a control request; the future gives the server's result or raises
        ``ControlRejected``. Fails at once when not connected."""
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()
        loop = self._loop
        if loop is None or self._status.state not in ("live", "resyncing"):
            fut.set_exception(ConnectionError(f"not connected to {self.url}"))
            return fut
        loop.call_soon_threadsafe(self._send_control, fut, action, fields)
        return fut

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        run_loop(self._main, started=self._started, bind=self._bind, finish=self._finish)

    def _bind(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
        self._loop, self._task = loop, task

    def _finish(self) -> None:
        for fut in self._pending.values():
            fut.set_exception(ConnectionError("twin client stopped"))
        self._pending.clear()

    async def _main(self) -> None:
        await reconnect_forever(
            self._session,
            went_live=lambda: self._got_live,
            set_status=self._set,
            last_error=lambda: self._status.last_error,
            describe=_describe,
            backoff=self.backoff,
            rng=self._rng,
            log=log,
            label=f"twin stream {self.url}",
        )

    async def _session(self) -> None:
        """One connection, until it fails; sets ``_got_live`` once a snapshot arrived."""
        self._got_live = False
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        order = (
            [proto.SUBPROTOCOL_MSGPACK, proto.SUBPROTOCOL_JSON]
            if self.encoding == "msgpack"
            else [proto.SUBPROTOCOL_JSON]
        )
        async with connect(
            self.url,
            subprotocols=[Subprotocol(s) for s in order],
            additional_headers=headers,
            max_size=self.max_frame,
            open_timeout=self.open_timeout,
            ping_interval=5,
            ping_timeout=10,
            compression=None,
            max_queue=64,
            close_timeout=1.0,  # bounds stop(): the handshake and the TCP close each wait this
        ) as ws:
            protocol = proto.TwinClientProtocol()
            self._ws, self._protocol = ws, protocol
            self._set(connects=self._status.connects + 1, last_error="")
            silence = self.open_timeout
            invalid_before = self._status.invalid_messages
            resyncs_before = self._status.resyncs
            resync_since: float | None = None
            try:
                while True:
                    try:
                        frame = await asyncio.wait_for(ws.recv(), silence)
                    except TimeoutError:
                        raise TimeoutError(f"no message for {silence:.1f} s") from None
                    now = time.time()
                    for event in protocol.receive(frame):
                        if isinstance(event, proto.Welcome):
                            silence = 3.0 * event.heartbeat_s + 1.0
                            self._set(server=event.server)
                        elif isinstance(event, proto.Updates):
                            self._on_updates(event, now)
                            self._got_live = True
                            resync_since = None
                        elif isinstance(event, proto.ResyncNeeded):
                            log.info("twin stream resync: %s", event.reason)
                            resync_since = resync_since or time.monotonic()
                            self._set(state="resyncing", last_error=event.reason)
                        elif isinstance(event, proto.Failed):
                            raise ConnectionError(f"protocol error: {event.reason}")
                        elif isinstance(event, proto.ControlAck):
                            self._resolve(event.id, result=event.result)
                        elif isinstance(event, proto.ServerError):
                            self._on_server_error(event)
                    for out in protocol.data_to_send():
                        await ws.send(out)
                    self._set(
                        last_message=now,
                        resyncs=resyncs_before + protocol.resyncs,
                        invalid_messages=invalid_before + protocol.invalid_messages,
                    )
                    if resync_since and time.monotonic() - resync_since > self.resync_timeout:
                        raise TimeoutError("the server did not answer a resync request")
            finally:
                self._ws = self._protocol = None
                for fut in self._pending.values():
                    fut.set_exception(ConnectionError("connection lost"))
                self._pending.clear()

    def _on_updates(self, event: proto.Updates, now: float) -> None:
        batch = replace(event.batch, received=now)
        self.queue.put(batch)
        if not batch.snapshot and len(batch):
            self._latencies.append(now - batch.newest)
        p50 = p99 = None
        if self._latencies:
            lat = np.fromiter(self._latencies, np.float64)
            p50, p99 = (float(x) for x in np.percentile(lat, [50, 99]))
        st = self._status
        self._set(
            state="live",
            latency_p50=p50,
            latency_p99=p99,
            messages=st.messages + 1,
            updates=st.updates + len(batch),
        )

    def _on_server_error(self, event: proto.ServerError) -> None:
        if event.id is not None and event.id in self._pending:
            self._resolve(event.id, error=ControlRejected(event.code, event.message))
        else:
            log.warning("twin server error %s: %s", event.code, event.message)
            self._set(last_error=f"server: {event.code}: {event.message}")

    def _send_control(
        self, fut: concurrent.futures.Future[str], action: str, fields: dict[str, Any]
    ) -> None:
        ws, protocol = self._ws, self._protocol
        if ws is None or protocol is None:
            fut.set_exception(ConnectionError(f"not connected to {self.url}"))
            return
        rid = self._next_id
        self._next_id += 1
        self._pending[rid] = fut
        protocol.control(rid, action, **fields)
        for out in protocol.data_to_send():
            task = asyncio.ensure_future(ws.send(out))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    def _resolve(self, rid: int, result: str | None = None, error: Exception | None = None) -> None:
        fut = self._pending.pop(rid, None)
        if fut is None or fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result or "")

    def _set(self, **changes: Any) -> None:
        if "state" in changes and changes["state"] != self._status.state:
            changes["since"] = time.time()
        self._status = replace(self._status, **changes)


def check_url(url: str) -> None:
    """Refuse anything but ``ws://host[:port][/path]`` or ``wss://...`` with a clear message."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad twin URL {url!r}: {exc}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"twin URL must look like ws://host:port, got {url!r}")
    if port is None and url.rstrip("/").endswith(":"):
        raise ValueError(f"twin URL {url!r} has an empty port")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        hint = {
            401: " (missing or wrong token)",
            403: " (forbidden)",
            429: " (too many connection attempts; retrying later)",
        }.get(code, "")
        return f"server refused the connection: HTTP {code}{hint}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionClosed):
        return f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
    return str(exc) or type(exc).__name__
