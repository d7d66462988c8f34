"""One participant's connection on the hub: what waits to be sent to it, and the sending.

Each connection has two outgoing slots: a bounded queue of reliable frames (at most
``backlog`` frames and ``backlog_bytes`` bytes: a participant too far behind is sent 1008
and, unless it takes the close within ``cut_timeout`` seconds, its socket is dropped; it
resyncs on reconnect) and one latest-value presence slot, which the tick overwrites.
``send_loop`` first writes the welcome and the room's annotations page by page (each page
built only once the one before is written, so a joiner that does not read holds one page),
then, whenever ``wake`` is set, the reliable frames and the newest presence frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator

from websockets.asyncio.server import ServerConnection

from xrclient.core import session_codec as codec
from xrclient.core.session_room import Participant

log = logging.getLogger("xrclient.hub")


class Connection:
    """A participant's socket, its reliable queue and its presence slot; ``push`` queues a
    reliable frame or cuts a participant too far behind."""

    def __init__(
        self,
        ws: ServerConnection,
        participant: Participant,
        backlog: int,
        backlog_bytes: int = 2 * 2**20,
        cut_timeout: float = 5.0,
    ) -> None:
        self.ws = ws
        self.p = participant
        self.reliable: deque[bytes] = deque()
        self.queued_bytes = 0
        self.backlog = backlog
        self.backlog_bytes = backlog_bytes
        self.cut_timeout = cut_timeout
        self.presence: bytes | None = None
        #: what goes out before anything else: the welcome, then the annotation pages
        self.intro: list[bytes] = []
        self.pages: Iterator[bytes] | None = None
        self.wake = asyncio.Event()
        self.cut = False
        self.closing: asyncio.Future[None] | None = None

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)

    def push(self, frame: bytes) -> None:
        if self.cut:
            return
        if (
            len(self.reliable) >= self.backlog
            or self.queued_bytes + len(frame) > self.backlog_bytes
        ):
            self.cut = True  # too far behind: drop the connection, it resyncs on reconnect
            log.warning("participant %d is too far behind; closing", self.p.pid)
            self.reliable.clear()
            self.queued_bytes = 0
            self.pages = None
            self.closing = asyncio.ensure_future(self._cut())
            return
        self.reliable.append(frame)
        self.queued_bytes += len(frame)
        self.wake.set()

    async def _cut(self) -> None:
        """Close with 1008; a peer that does not read cannot take the close frame (the
        close handshake waits on the socket draining), so after ``cut_timeout`` the
        socket is dropped."""
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(
                self.close(codec.CLOSE_POLICY, "too far behind"), self.cut_timeout
            )
        self.ws.transport.abort()


async def send_loop(conn: Connection) -> None:
    """Send the welcome and the annotation pages, then what is queued for ``conn``
    whenever it is woken, until cancelled."""
    ws = conn.ws
    for frame in conn.intro:
        await ws.send(frame)
    conn.intro = []
    while conn.pages is not None:
        page = next(conn.pages, None)
        if page is None:
            conn.pages = None
        else:
            await ws.send(page)
    while True:
        await conn.wake.wait()
        conn.wake.clear()
        while conn.reliable:
            frame = conn.reliable.popleft()
            conn.queued_bytes -= len(frame)
            await ws.send(frame)
        if conn.presence is not None:
            frame, conn.presence = conn.presence, None
            await ws.send(frame)


async def flushed(conn: Connection, timeout: float) -> None:
    """Wait (up to ``timeout``) until the send loop has written what is queued for ``conn``."""
    deadline = time.monotonic() + timeout
    while (conn.reliable or conn.pages is not None) and time.monotonic() < deadline:
        conn.wake.set()
        await asyncio.sleep(0.005)
