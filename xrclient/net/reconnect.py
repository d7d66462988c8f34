"""Reconnecting from a background thread, as the twin-stream and session-hub clients do.

``run_loop`` runs a client's main coroutine on a new event loop owned by the calling thread,
until it ends or is cancelled, then lets the client fail what still waits and closes the loop.
``reconnect_forever`` is that main coroutine: connect and serve one session until it fails,
record why, wait, again. The wait is exponential backoff with full jitter (``Backoff``),
starting over after a session that went live, and never shorter than the ``Retry-After``
of a handshake refused with HTTP 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

#: the longest a ``Retry-After`` is followed, and the wait when it is missing or unreadable
MAX_RETRY_AFTER = 60.0
DEFAULT_RETRY_AFTER = 1.0


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 10.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(maximum, initial * factor**attempt)]."""
        cap = min(self.maximum, self.initial * self.factor ** min(attempt, 30))
        return rng.uniform(0.0, cap)


def retry_after(value: str | None) -> float:
    """Seconds from a ``Retry-After`` header (delay form), bounded to a minute; one second
    when it is missing or not a number."""
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if math.isnan(seconds):
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def refusal(exc: BaseException) -> tuple[int | None, float]:
    """The HTTP status of a refused handshake (``None`` for any other failure) and the least
    wait it asks for before the next attempt (the ``Retry-After`` of a 429, else 0)."""
    if not isinstance(exc, InvalidStatus):
        return None, 0.0
    code = exc.response.status_code
    wait = retry_after(exc.response.headers.get("Retry-After")) if code == 429 else 0.0
    return code, wait


def run_loop(
    main: Callable[[], Coroutine[Any, Any, None]],
    *,
    started: threading.Event,
    bind: Callable[[asyncio.AbstractEventLoop, asyncio.Task[None]], None],
    finish: Callable[[], None],
) -> None:
    """Run ``main()`` on a new event loop on this thread until it ends or is cancelled.

    ``bind`` gets the loop and the task before ``started`` is set, so other threads can
    cancel the task or schedule work on the loop once ``started`` is. ``started`` is set even
    if starting fails; ``finish`` runs on this thread, whatever happened, before the loop is
    closed."""
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(main())
        bind(loop, task)
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        started.set()
        finish()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def reconnect_forever(
    session: Callable[[], Awaitable[object]],
    *,
    went_live: Callable[[], bool],
    set_status: Callable[..., None],
    last_error: Callable[[], str],
    describe: Callable[[BaseException], str],
    backoff: Backoff,
    rng: random.Random,
    log: logging.Logger,
    label: str,
    report_refused: bool = False,
) -> None:
    """Run ``session()`` (one connection, until it ends) again and again, until cancelled.

    Before each attempt the status is ``state="connecting", retry_in=None``. A connection
    failure is recorded as ``last_error=describe(exc)`` (and, with ``report_refused``, a
    refused handshake's HTTP status as ``refused``); any other exception is logged and
    recorded as an internal error, so a bug never ends the loop. Then the status is
    ``state="disconnected", retry_in=delay``, the wait is logged as ``label: last error;
    retrying in ...`` and slept. ``went_live()``, asked after each attempt, says whether it
    got far enough to start the backoff over."""
    attempt = 0
    while True:
        set_status(state="connecting", retry_in=None)
        wait = 0.0  # at least this long before the next attempt (a 429's Retry-After)
        try:
            await session()
        except asyncio.CancelledError:
            raise
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
            code, wait = refusal(exc)
            if report_refused and code is not None:
                set_status(last_error=describe(exc), refused=code)
            else:
                set_status(last_error=describe(exc))
        except Exception as exc:  # never let a bug kill the thread silently
            log.exception("%s: session failed", label)
            set_status(last_error=f"internal error: {exc}")
        attempt = 0 if went_live() else attempt + 1
        delay = max(backoff.delay(attempt, rng), wait)
        set_status(state="disconnected", retry_in=delay)
        log.info("%s: %s; retrying in %.2f s", label, last_error(), delay)
        await asyncio.sleep(delay)
