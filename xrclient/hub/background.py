"""A hub on its own event loop in a daemon thread (tests, benchmarks, the demo)."""

from __future__ import annotations

from dataclasses import replace

from xrclient.hub.config import HubConfig
from xrclient.hub.server import Hub
from xrclient.server.background import ServerThread


class HubThread(ServerThread[Hub]):
    """Serves a hub from a daemon thread; ``url`` is the hub's, ``room_url`` a room's."""

    thread_name = "hub"

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        super().__init__(config.host, tls=config.ssl_context is not None)

    @property
    def hub(self) -> Hub | None:
        """The hub while serving."""
        return self._served

    def room_url(self, room: str) -> str:
        """Where a participant joins ``room``: ``ws[s]://host:port/ROOM``."""
        return f"{self.url}/{room}"

    def _create(self, port: int | None) -> Hub:
        if port is not None:
            self.config = replace(self.config, port=port)
        return Hub(self.config)
