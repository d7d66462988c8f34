"""An asyncio event loop on its own daemon thread, with one way to hand work over and one
way to shut down.

The network clients (``net/client_thread.py``) and the servers run in tests, benchmarks and
the demo (``server/background.py``) all sit on one of these. ``run`` waits for a coroutine's
result, ``submit`` hands one over and returns a ``concurrent.futures.Future``, ``call_soon``
schedules a plain callback, and ``close`` is the shutdown path: the loop is stopped, every
task still on it is cancelled and given ``drain`` seconds to finish (its ``finally``
clauses run), asynchronous generators and the default executor are shut down, the loop is
closed on its own thread, and the thread is joined.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("xrclient.loop_thread")


class LoopThread:
    """One event loop running forever on a daemon thread named ``name``, until ``close``."""

    def __init__(self, name: str, *, drain: float = 5.0) -> None:
        self.name = name
        self.drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Started and not closed."""
        return self._thread is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(f"{self.name}: not started")
        return self._loop

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._run, args=(loop, ready), name=self.name, daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        ready.wait()

    def submit(self, make: Callable[[], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        """Run ``make()`` on the loop; its future (``RuntimeError`` at once when closed)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError(f"{self.name}: not running")
        coro = make()
        try:
            return asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:
            coro.close()
            raise

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        """Run ``make()`` on the loop and wait (at most ``timeout`` s) for its result."""
        return self.submit(make).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Call ``fn()`` on the loop's thread (to read loop-owned state) and return its value."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped, timeout)

    def call_soon(self, fn: Callable[..., object], *args: Any) -> bool:
        """Schedule ``fn(*args)`` on the loop from any thread; ``False`` if it is closed."""
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # closed meanwhile
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop, finish what is on it, close it and join the thread (idempotent).
        ``RuntimeError`` if the thread is still alive after ``timeout`` seconds."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self.call_soon(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"{self.name} thread did not stop")
        self._thread = None

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.call_soon(ready.set)
            loop.run_forever()
        finally:
            ready.set()
            try:
                _finish_tasks(loop, self.drain)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()


def _finish_tasks(loop: asyncio.AbstractEventLoop, drain: float) -> None:
    """Cancel every task left on ``loop`` and let them run their cleanup for ``drain`` s."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=drain))
    for task in pending:
        log.warning("%r did not finish after being cancelled", task)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("a task failed while stopping", exc_info=task.exception())
    with contextlib.suppress(Exception):
        loop.run_until_complete(asyncio.sleep(0))  # callbacks the cancellations scheduled
