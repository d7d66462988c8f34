"""The loop-in-a-thread pieces every client and background server stands on: one way to
start, hand work over and shut down, and no thread or pending request left behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from xrclient.net.client_thread import ClientThread
from xrclient.net.loop_thread import LoopThread
from xrclient.net.reconnect import Backoff
from xrclient.net.session_client import SessionClient
from xrclient.net.twin_client import TwinClient
from xrclient.server.background import ServerThread

from .sources import ScriptedSource, running_server


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


# -- LoopThread ------------------------------------------------------------------------------


def test_a_loop_thread_runs_work_and_its_close_finishes_what_is_left() -> None:
    loops = LoopThread("test-loop")
    loops.start()
    assert threads_named("test-loop")
    assert loops.run(lambda: asyncio.sleep(0, result=42)) == 42
    assert loops.call(threading.current_thread).name == "test-loop"
    started, cleaned = threading.Event(), threading.Event()

    async def forever() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits still runs
            cleaned.set()

    left = loops.submit(forever)
    assert started.wait(5)
    loop = loops.loop
    loops.close()
    assert cleaned.is_set() and left.cancelled()
    assert loop.is_closed() and not loops.running and not threads_named("test-loop")
    assert not loops.call_soon(print)
    with pytest.raises(RuntimeError):
        loops.submit(lambda: asyncio.sleep(0))
    loops.close()  # idempotent


# -- ClientThread ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeStatus:
    url: str
    state: str = "connecting"
    since: float = 0.0
    last_error: str = ""
    retry_in: float | None = None


class Parked(ClientThread[FakeStatus]):
    """Goes live at once and stays connected; requests wait for an answer that never comes."""

    thread_name = "parked-client"

    def __init__(self) -> None:
        super().__init__(
            "ws://127.0.0.1:9",
            FakeStatus("ws://127.0.0.1:9"),
            backoff=Backoff(),
            seed=1,
            log=logging.getLogger("test.parked"),
        )
        self.sessions = 0

    async def _session(self) -> None:
        self.sessions += 1
        self._set(state="live")
        await asyncio.Event().wait()

    def ask(self) -> concurrent.futures.Future[str]:
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()
        return self._hand_over(fut, self.status.state == "live", self._park)

    def _park(self, fut: concurrent.futures.Future[str]) -> None:
        self._register(fut)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        pause.wait(0.01)
    raise AssertionError(f"timed out waiting for {predicate}")


def test_stopping_a_client_fails_what_waits_and_leaves_no_thread() -> None:
    client = Parked()
    before = client.ask()  # not started: refused at once
    assert isinstance(before.exception(0), ConnectionError)
    with client:
        with pytest.raises(RuntimeError, match="already started"):
            client.start()
        wait_for(lambda: client.status.state == "live")
        waiting = client.ask()
        assert not waiting.done()
    error = waiting.exception(0)
    assert isinstance(error, ConnectionError) and "parked client stopped" in str(error)
    assert client.status.state == "stopped" and client.sessions == 1
    assert not threads_named("parked-client")
    client.stop()  # idempotent
    assert isinstance(client.ask().exception(0), ConnectionError)


def test_a_stopped_client_can_be_started_again() -> None:
    client = Parked()
    client.start()
    wait_for(lambda: client.status.state == "live")
    client.stop()
    client.start()
    wait_for(lambda: client.status.state == "live")
    client.stop()
    assert client.sessions == 2 and not threads_named("parked-client")


def test_both_network_clients_stop_through_the_same_path_without_a_server() -> None:
    twin = TwinClient("ws://127.0.0.1:9", backoff=Backoff(0.01, 2.0, 0.05))
    session = SessionClient("ws://127.0.0.1:9/plant", "tok", backoff=Backoff(0.01, 2.0, 0.05))
    assert isinstance(twin, ClientThread) and isinstance(session, ClientThread)
    with twin, session:
        wait_for(lambda: twin.status.connects == 0 and twin.status.last_error != "")
        wait_for(lambda: session.status.last_error != "")
        assert isinstance(twin.control("freeze").exception(0), ConnectionError)
        assert isinstance(session.request("chat", text="hi").exception(0), ConnectionError)
    assert twin.status.state == session.status.state == "stopped"
    assert not threads_named("twin-client") and not threads_named("session-client")


# -- ServerThread ----------------------------------------------------------------------------


class FakeServed:
    def __init__(self, port: int) -> None:
        self.port = port
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False


class FakeServerThread(ServerThread[FakeServed]):
    thread_name = "fake-server"

    def __init__(self, host: str, tls: bool = False) -> None:
        super().__init__(host, tls=tls)
        self.made: list[FakeServed] = []

    def _create(self, port: int | None) -> FakeServed:
        self.made.append(FakeServed(port or 4321))
        return self.made[-1]


@pytest.mark.parametrize(
    ("host", "tls", "url"),
    [
        ("127.0.0.1", False, "ws://127.0.0.1:4321"),
        ("localhost", True, "wss://localhost:4321"),
        ("0.0.0.0", False, "ws://127.0.0.1:4321"),
        ("::1", False, "ws://[::1]:4321"),
    ],
)
def test_a_server_thread_has_one_url_shape(host: str, tls: bool, url: str) -> None:
    with FakeServerThread(host, tls) as server:
        assert server.url == url and server.port == 4321
        assert server.call(lambda: server.made[0].running)


def test_a_server_thread_restarts_then_closes_for_good() -> None:
    server = FakeServerThread("127.0.0.1")
    with pytest.raises(RuntimeError, match="not started"):
        server.port  # noqa: B018 - the property raises
    assert server.start(5000) == 5000
    with pytest.raises(RuntimeError, match="already serving"):
        server.start()
    server.stop()
    assert not server.made[0].running
    assert server.start(5000) == 5000
    server.close()
    assert not server.made[1].running and not threads_named("fake-server")
    with pytest.raises(RuntimeError, match="closed"):
        server.start()
    server.close()  # idempotent


def test_the_twin_server_thread_closes_without_leaving_its_thread() -> None:
    with running_server(ScriptedSource()) as srv:
        assert srv.url == f"ws://127.0.0.1:{srv.port}"
    assert srv.server is None and not threads_named("twin-server")
