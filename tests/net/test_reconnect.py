"""Reconnecting: backoff, Retry-After, the retry loop, and a twin client told 429 by a real
WebSocket server on loopback."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http import HTTPStatus
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from xrclient.net import twin_client
from xrclient.net.reconnect import Backoff, reconnect_forever, refusal, retry_after
from xrclient.net.twin_client import ConnectionStatus, TwinClient

from .sources import wait_until

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.1)


class Ceiling(random.Random):
    """Always draws the top of the range, so a delay shows its backoff cap."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_is_full_jitter_under_a_growing_capped_ceiling() -> None:
    backoff = Backoff(initial=0.1, factor=3.0, maximum=2.0)
    caps = [backoff.delay(a, Ceiling()) for a in range(6)]
    assert caps == pytest.approx([0.1, 0.3, 0.9, 2.0, 2.0, 2.0])
    assert backoff.delay(10**6, Ceiling()) == 2.0  # no overflow however long it failed
    rng = random.Random(7)
    draws = [backoff.delay(2, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 0.9 for d in draws)
    assert min(draws) < 0.05 and max(draws) > 0.85  # spread over the whole range
    assert backoff.delay(3, random.Random(1)) == backoff.delay(3, random.Random(1))  # seeded


def test_backoff_is_still_importable_from_the_twin_client() -> None:
    assert twin_client.Backoff is Backoff


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        (" 3 ", 3.0),
        (None, 1.0),  # missing
        ("soon", 1.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1.0),  # the date form is not followed
        ("nan", 1.0),
        ("-5", 0.0),
        ("86400", 60.0),  # bounded to a minute
        ("inf", 60.0),
    ],
)
def test_retry_after_reads_the_delay_form_within_bounds(value: str | None, seconds: float) -> None:
    assert retry_after(value) == seconds


def refused(code: int, retry: str | None = None) -> InvalidStatus:
    headers = Headers()
    if retry is not None:
        headers["Retry-After"] = retry
    return InvalidStatus(Response(code, HTTPStatus(code).phrase, headers))


def test_only_a_429_asks_for_a_wait() -> None:
    assert refusal(refused(429, "2")) == (429, 2.0)
    assert refusal(refused(429)) == (429, 1.0)
    assert refusal(refused(503, "30")) == (503, 0.0)
    assert refusal(refused(401)) == (401, 0.0)
    assert refusal(ConnectionRefusedError()) == (None, 0.0)
    assert refusal(TimeoutError()) == (None, 0.0)


def run_attempts(
    script: list[BaseException | None], *, report_refused: bool = False
) -> list[dict[str, Any]]:
    """Run ``reconnect_forever`` over a session that raises (or, for ``None``, goes live and
    ends) as scripted; return every status change it made, in order."""
    changes: list[dict[str, Any]] = []
    status: dict[str, Any] = {"last_error": ""}
    live = [False]

    def set_status(**change: Any) -> None:
        changes.append(change)
        status.update(change)

    async def main() -> None:
        done = asyncio.Event()
        steps = iter(script)

        async def session() -> None:
            live[0] = False
            step = next(steps, StopIteration)
            if step is StopIteration:
                done.set()
                await asyncio.Event().wait()  # stays connected until cancelled
            if isinstance(step, BaseException):
                raise step
            live[0] = True

        task = asyncio.create_task(
            reconnect_forever(
                session,
                went_live=lambda: live[0],
                set_status=set_status,
                last_error=lambda: str(status["last_error"]),
                describe=lambda exc: f"failed: {type(exc).__name__}",
                backoff=Backoff(initial=0.001, factor=2.0, maximum=0.016),
                rng=Ceiling(),
                log=logging.getLogger("xrclient.test_reconnect"),
                label="test",
                report_refused=report_refused,
            )
        )
        await asyncio.wait_for(done.wait(), 10)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())
    return changes


def delays(changes: list[dict[str, Any]]) -> list[float]:
    return [c["retry_in"] for c in changes if c.get("state") == "disconnected"]


def test_backoff_grows_while_failing_and_starts_over_after_a_live_session() -> None:
    lost = ConnectionResetError()
    changes = run_attempts([lost, lost, lost, None, lost, lost, *[lost] * 5])
    assert delays(changes) == pytest.approx(
        [0.002, 0.004, 0.008, 0.001, 0.002, 0.004, 0.008, 0.016, 0.016, 0.016, 0.016]
    )
    assert changes[0] == {"state": "connecting", "retry_in": None}
    assert changes[1] == {"last_error": "failed: ConnectionResetError"}


def test_a_429_waits_at_least_its_retry_after_and_the_status_is_reported() -> None:
    changes = run_attempts([refused(429, "0.05"), refused(401)], report_refused=True)
    assert delays(changes) == pytest.approx([0.05, 0.004])
    refusals = [c for c in changes if "refused" in c]
    assert [c["refused"] for c in refusals] == [429, 401]
    assert refusals[0]["last_error"] == "failed: InvalidStatus"


def test_refused_is_left_out_unless_asked_for() -> None:
    changes = run_attempts([refused(429, "0.05")])
    assert not any("refused" in c for c in changes)
    assert delays(changes) == pytest.approx([0.05])  # the wait is honoured all the same


def test_a_bug_in_a_session_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    changes = run_attempts([KeyError("oops"), ConnectionResetError()])
    errors = [c["last_error"] for c in changes if "last_error" in c]
    assert errors == ["internal error: 'oops'", "failed: ConnectionResetError"]
    assert len(delays(changes)) == 2
    assert any("session failed" in r.getMessage() for r in caplog.records)


# -- a twin client refused with HTTP 429 by a real server ----------------------------------


class RefusingServer:
    """A WebSocket server on loopback that refuses every handshake with ``status`` (and a
    ``Retry-After`` when given), and notes when each attempt arrived."""

    def __init__(self, status: int, retry: str | None) -> None:
        self.attempts: list[float] = []
        self._status, self._retry = status, retry
        self._server = serve(
            self._never, "127.0.0.1", 0, process_request=self._refuse, compression=None
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _refuse(self, connection: ServerConnection, request: Request) -> Response:
        self.attempts.append(time.monotonic())
        response = connection.respond(HTTPStatus(self._status), "not now\n")
        if self._retry is not None:
            response.headers["Retry-After"] = self._retry
        return response

    def _never(self, connection: ServerConnection) -> None:
        raise AssertionError("every handshake is refused")

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@contextmanager
def refusing_server(status: int, retry: str | None = None) -> Iterator[RefusingServer]:
    server = RefusingServer(status, retry)
    try:
        yield server
    finally:
        server.close()


def waiting(client: TwinClient, timeout: float = 5.0) -> ConnectionStatus:
    """The client's status once seen waiting to retry."""
    seen: list[ConnectionStatus] = []

    def disconnected() -> bool:
        st = client.status
        if st.state == "disconnected":
            seen.append(st)
        return bool(seen)

    wait_until(disconnected, timeout, "the client waiting to retry")
    return seen[0]


def test_a_twin_client_told_429_waits_the_retry_after_before_retrying() -> None:
    with refusing_server(429, "1") as srv:
        with TwinClient(f"ws://127.0.0.1:{srv.port}", backoff=FAST, seed=3) as client:
            st = waiting(client)
            assert "HTTP 429" in st.last_error and "too many connection attempts" in st.last_error
            assert st.retry_in is not None and st.retry_in >= 1.0
            wait_until(lambda: len(srv.attempts) >= 3, 10, "three attempts")
            assert client.status.connects == 0
    gaps = [b - a for a, b in zip(srv.attempts, srv.attempts[1:], strict=False)]
    assert len(gaps) >= 2
    assert all(gap >= 1.0 for gap in gaps), gaps  # never sooner than the server asked


def test_a_twin_client_refused_otherwise_keeps_its_own_backoff() -> None:
    with refusing_server(503, "30") as srv:  # a Retry-After on a 503 is not followed
        with TwinClient(f"ws://127.0.0.1:{srv.port}", backoff=FAST, seed=3) as client:
            wait_until(lambda: len(srv.attempts) >= 3, 10, "three quick attempts")
            st = waiting(client)
            assert "HTTP 503" in st.last_error
            assert st.retry_in is not None and st.retry_in <= FAST.maximum
