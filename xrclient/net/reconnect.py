"""Reconnecting, as the twin-stream and session-hub clients do (``net/client_thread.py``).

``reconnect_forever`` is a client's main coroutine: connect and serve one session until it
fails, record why, wait, again. The wait is exponential backoff with full jitter (``Backoff``),
starting over after a session that went live, and never shorter than the ``Retry-After``
of a handshake refused with HTTP 429.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
