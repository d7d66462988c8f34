"""A twin server on its own event loop in a background thread (demo and embedding)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from xrclient.server.twin_server import ServerConfig, TwinServer, TwinSource

T = TypeVar("T")


class BackgroundServer:
    """Serves ``source`` from a daemon thread; ``start``/``stop`` may be called repeatedly."""

    def __init__(self, source: TwinSource, config: ServerConfig) -> None:
        self.source = source
        self.config = config
        self.server: TwinServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="twin-server", daemon=True
        )
        self._thread.start()

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout)

    @property
    def port(self) -> int:
        assert self.server is not None, "not started"
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    def start(self, port: int | None = None) -> int:
        """Listen (on ``port`` if given, else the configured one); returns the bound port."""
        if self.server is not None:
            raise RuntimeError("already serving")
        if port is not None:
            from dataclasses import replace

            self.config = replace(self.config, port=port)
        server = TwinServer(self.source, self.config)
        self.run(server.start)
        self.server = server
        return server.port

    def stop(self) -> None:
        if self.server is not None:
            self.run(self.server.stop)
            self.server = None

    def close(self) -> None:
        """Stop serving and end the thread."""
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
