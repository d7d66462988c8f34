"""The twin-stream client: websockets + asyncio in a background thread (a ``ClientThread``).

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
import logging
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
from xrclient.net.client_thread import ClientThread
from xrclient.net.reconnect import Backoff as Backoff  # re-exported for TwinClient(backoff=...)
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


class TwinClient(ClientThread[ConnectionStatus]):
    """Keeps a queue fed with the state of the twin stream at ``url``."""

    thread_name = "twin-client"
    label = "twin stream"

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
        super().__init__(
            url, ConnectionStatus(url, since=time.time()), backoff=backoff, seed=seed, log=log
        )
        self.queue = queue if queue is not None else UpdateQueue()
        self.encoding = encoding
        self.token = token
        self.max_frame = max_frame
        self.open_timeout = open_timeout
        self.resync_timeout = resync_timeout
        self._latencies: deque[float] = deque(maxlen=512)
        self._ws: ClientConnection | None = None
        self._protocol: proto.TwinClientProtocol | None = None

    def control(self, action: str, **fields: Any) -> concurrent.futures.Future[str]:
        """Send a control request; the future gives the server's result or raises
        ``ControlRejected``. Fails at once when not connected."""
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()
        live = self._status.state in ("live", "resyncing")
        return self._hand_over(fut, live, self._send_control, action, fields)

    # -- the thread --------------------------------------------------------------------------

    async def _session(self) -> None:
        """One connection, until it fails; sets ``_went_live`` once a snapshot arrived."""
        self._went_live = False
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
                            self._went_live = True
                            resync_since = None
                        elif isinstance(event, proto.ResyncNeeded):
                            log.info("twin stream resync: %s", event.reason)
                            resync_since = resync_since or time.monotonic()
                            self._set(state="resyncing", last_error=event.reason)
                        elif isinstance(event, proto.Failed):
                            raise ConnectionError(f"protocol error: {event.reason}")
                        elif isinstance(event, proto.ControlAck):
                            self._resolve(event.id, result=event.result or "")
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
                self._fail_pending("connection lost")

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
        rid = self._register(fut)
        protocol.control(rid, action, **fields)
        for out in protocol.data_to_send():
            self._send_soon(ws, out)

    def _describe(self, exc: BaseException) -> str:
        return _describe(exc)


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
