"""Servers on their own event loop in a background thread (demo, tests, benchmarks).

``ServerThread`` is the one helper: a ``LoopThread`` that the served object (anything with
``start``/``stop`` coroutines and a ``port``) runs on, ``run``/``call`` to reach it,
``start``/``stop`` (repeatable, to restart on the same port), ``close`` (the one shutdown
path: stop serving, then finish and close the loop and join its thread), the context
manager, ``port`` and ``url`` (``ws://host:port``, or ``wss://`` over TLS).
``BackgroundServer`` serves a twin source; the hub's ``HubThread`` is the other one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from xrclient.net.loop_thread import LoopThread
from xrclient.server.twin_server import ServerConfig, TwinServer, TwinSource

T = TypeVar("T")

#: addresses a server listens on that a client on this machine reaches through loopback
_WILDCARDS = ("", "0.0.0.0", "::")


class Served(Protocol):
    @property
    def port(self) -> int: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


V = TypeVar("V", bound=Served)


class ServerThread(Generic[V]):
    """Runs what ``_create`` makes on a daemon thread's loop (see the module)."""

    thread_name: ClassVar[str] = "server"

    def __init__(self, host: str, *, tls: bool = False) -> None:
        self.host = host
        self.tls = tls
        self._served: V | None = None
        self._loops = LoopThread(self.thread_name)
        self._loops.start()

    def _create(self, port: int | None) -> V:
        """A new server (listening on ``port`` when given, else the configured one)."""
        raise NotImplementedError

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return self._loops.run(make, timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Call ``fn()`` on the server's loop (to read its state safely) and return its value."""
        return self._loops.call(fn, timeout)

    @property
    def port(self) -> int:
        if self._served is None:
            raise RuntimeError("not started")
        return self._served.port

    @property
    def url(self) -> str:
        """``ws://host:port`` (``wss://`` over TLS); a wildcard host as loopback."""
        host = "127.0.0.1" if self.host in _WILDCARDS else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}"

    def start(self, port: int | None = None) -> int:
        """Listen (on ``port`` if given, else the configured one); returns the bound port."""
        if self._served is not None:
            raise RuntimeError("already serving")
        if not self._loops.running:
            raise RuntimeError("closed")
        served = self._create(port)
        self.run(served.start)
        self._served = served
        return served.port

    def stop(self) -> None:
        """Stop serving (``start`` may follow)."""
        served, self._served = self._served, None
        if served is not None:
            self.run(served.stop)

    def close(self) -> None:
        """Stop serving and end the thread: what is left on the loop is cancelled and
        finished, the loop closed and the thread joined (idempotent)."""
        try:
            self.stop()
        finally:
            self._loops.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BackgroundServer(ServerThread[TwinServer]):
    """Serves ``source`` from a daemon thread; ``start``/``stop`` may be called repeatedly."""

    thread_name = "twin-server"

    def __init__(self, source: TwinSource, config: ServerConfig) -> None:
        self.source = source
        self.config = config
        super().__init__(config.host)

    @property
    def server(self) -> TwinServer | None:
        """The twin server while serving."""
        return self._served

    def _create(self, port: int | None) -> TwinServer:
        if port is not None:
            self.config = replace(self.config, port=port)
        return TwinServer(self.source, self.config)
