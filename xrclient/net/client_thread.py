"""What the twin-stream and session-hub clients share: a connection kept on a thread.

``ClientThread`` owns a ``LoopThread`` whose one main task is ``reconnect_forever`` over
the subclass's ``_session`` (one connection, until it ends). It gives both clients the same
lifecycle: ``start``/``stop`` and the context manager; the one stop path (cancel the main
task, wait for it with a timeout, close the loop and join its thread); a status replaced
whole under a lock; and requests handed to the loop that answer with
``concurrent.futures.Future``s, every one still waiting failed with ``ConnectionError`` in
one place when the connection is lost or the client stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from websockets.asyncio.client import ClientConnection

from xrclient.net.loop_thread import LoopThread
from xrclient.net.reconnect import Backoff, reconnect_forever

R = TypeVar("R")


class ClientStatus(Protocol):
    """What every client's status has; statuses are frozen dataclasses, replaced whole."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def url(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def last_error(self) -> str: ...


S = TypeVar("S", bound=ClientStatus)


class ClientThread(Generic[S]):
    """A network client whose connection lives on its own thread (see the module)."""

    #: the thread's name, also what stopped requests are told (``twin-client`` ...)
    thread_name: ClassVar[str] = "client"
    #: how long ``stop`` waits by default
    stop_timeout: ClassVar[float] = 10.0
    #: whether a refused handshake's HTTP status goes into the status as ``refused``
    report_refused: ClassVar[bool] = False
    #: what the log calls a connection (``twin stream`` ...), before its URL
    label: ClassVar[str] = "client"

    def __init__(
        self, url: str, status: S, *, backoff: Backoff, seed: int | None, log: logging.Logger
    ) -> None:
        self.url = url
        self.backoff = backoff
        self._log = log
        self._rng = random.Random(seed)
        self._status = status
        self._status_lock = threading.Lock()
        self._loops = LoopThread(self.thread_name)
        self._task: asyncio.Task[None] | None = None
        self._ended = threading.Event()
        self._pending: dict[int, concurrent.futures.Future[Any]] = {}
        self._next_id = 1
        self._sends: set[asyncio.Task[None]] = set()
        #: set by ``_session`` when a connection got far enough to start the backoff over
        self._went_live = False

    # -- lifecycle (any thread) ------------------------------------------------------------

    @property
    def status(self) -> S:
        return self._status

    def start(self) -> Self:
        if self._loops.running:
            raise RuntimeError("already started")
        self._ended.clear()
        self._loops.start()
        self._task = self._loops.run(self._spawn)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Close the connection and end the thread (idempotent): the main task is cancelled
        and waited for, what still waits fails, the loop is closed and its thread joined."""
        if not self._loops.running:
            return
        deadline = time.monotonic() + (self.stop_timeout if timeout is None else timeout)
        task = self._task
        if task is not None and self._loops.call_soon(task.cancel):
            self._ended.wait(max(0.0, deadline - time.monotonic()))
        self._loops.close(max(0.0, deadline - time.monotonic()))
        self._task = None
        self._set(state="stopped")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for subclasses ----------------------------------------------------------------------

    async def _session(self) -> None:
        """One connection, until it ends (raises what ended it)."""
        raise NotImplementedError

    def _describe(self, exc: BaseException) -> str:
        """Why a connection failed, for ``status.last_error``."""
        return str(exc) or type(exc).__name__

    def _on_loop(self) -> None:
        """Called on the loop's thread before the main task starts."""

    def _set(self, **changes: Any) -> None:
        """Replace the status; ``since`` follows every change of ``state``."""
        with self._status_lock:
            if "state" in changes and changes["state"] != self._status.state:
                changes["since"] = time.time()
            self._status = replace(self._status, **changes)

    def _hand_over(
        self,
        fut: concurrent.futures.Future[R],
        ready: bool,
        work: Callable[..., None],
        *args: Any,
    ) -> concurrent.futures.Future[R]:
        """Run ``work(fut, *args)`` on the loop when ``ready`` (connected) and the loop runs;
        otherwise fail ``fut`` at once with ``ConnectionError``."""
        if not ready or not self._loops.call_soon(work, fut, *args):
            fut.set_exception(ConnectionError(f"not connected to {self.url}"))
        return fut

    def _register(self, fut: concurrent.futures.Future[Any]) -> int:
        """A new request id whose answer resolves ``fut`` (on the loop's thread)."""
        rid = self._next_id
        self._next_id += 1
        self._pending[rid] = fut
        return rid

    def _resolve(self, rid: int, result: Any = None, error: BaseException | None = None) -> bool:
        """Answer request ``rid``; ``False`` if nothing waits for it."""
        fut = self._pending.pop(rid, None)
        if fut is None or fut.done():
            return False
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)
        return True

    def _fail_pending(self, why: str) -> None:
        """Fail every request still waiting (the connection is gone or the client stops)."""
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(why))

    def _send_soon(self, ws: ClientConnection, data: bytes | str) -> None:
        """Send without waiting (on the loop's thread); a failure fails the pending requests
        through the connection's end, not here."""
        task = asyncio.ensure_future(ws.send(data))
        self._sends.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a lost connection is reported by the session

    # -- the loop's thread -----------------------------------------------------------------

    async def _spawn(self) -> asyncio.Task[None]:
        self._on_loop()
        return asyncio.get_running_loop().create_task(self._main())

    async def _main(self) -> None:
        try:
            await reconnect_forever(
                self._session,
                went_live=lambda: self._went_live,
                set_status=self._set,
                last_error=lambda: self._status.last_error,
                describe=self._describe,
                backoff=self.backoff,
                rng=self._rng,
                log=self._log,
                label=f"{self.label} {self.url}",
                report_refused=self.report_refused,
            )
        finally:
            self._fail_pending(f"{self.thread_name.replace('-', ' ')} stopped")
            self._ended.set()
