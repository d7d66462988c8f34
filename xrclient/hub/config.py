"""The hub's settings, checked before it listens."""

from __future__ import annotations

import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from xrclient.core import session_codec as codec
from xrclient.hub import audit, tokens
from xrclient.server.limits import is_loopback


@dataclass(frozen=True, slots=True)
class HubConfig:
    db: Path
    secret: bytes
    host: str = "127.0.0.1"
    port: int = 8766
    #: exact Origin values allowed (scheme://host[:port]); empty: refuse any request with one
    origins: tuple[str, ...] = ()
    ssl_context: ssl.SSLContext | None = None
    tick_hz: float = 30.0
    max_frame: int = codec.MAX_CLIENT_FRAME
    #: messages per second per connection, and the burst allowed
    rate: float = 60.0
    burst: int = 120
    max_participants: int = 256
    max_connections: int = 1024
    #: connection attempts per second per client address, and the burst allowed (HTTP 429
    #: beyond): bounds what a flood of handshakes (e.g. token guessing) costs the hub
    handshake_rate: float = 10.0
    handshake_burst: int = 60
    #: annotation budgets: per room and per author (the token's name), in annotations and
    #: in bytes (an annotation's size is its encoded size on the wire); a change that would
    #: go over one is refused with the error ``limit``
    max_annotations: int = 10_000
    max_annotation_bytes: int = 8 * 2**20
    max_author_annotations: int = 1000
    max_author_bytes: int = 2**20
    #: a joiner gets the room's annotations after its welcome, in pages of about this size
    page_bytes: int = 64 * 1024
    #: reliable frames (and their bytes) waiting for one participant before it is cut off
    #: (1008); it then has ``cut_timeout`` seconds to take the close before its socket goes
    max_backlog: int = 2048
    max_backlog_bytes: int = 2 * 2**20
    cut_timeout: float = 5.0
    #: connections at once per token name in one room (the same person on several devices)
    max_per_name: int = 4
    #: reliable frames per second a room may fan out (messages times receivers), and the
    #: burst: one busy room cannot take the hub from the others; beyond it ``rate_limited``
    room_fanout: float = 20_000.0
    room_fanout_burst: int = 40_000
    ping_interval: float = 10.0
    ping_timeout: float = 20.0
    open_timeout: float = 10.0
    commit_batch: int = 512
    #: the secret the audit chain's key is derived from (``--audit-key-file``); ``None``:
    #: the token secret. Either way the database never holds it
    audit_secret: bytes | None = None

    def audit_key(self) -> bytes:
        """The key of the audit chain's HMAC."""
        return audit.derive_key(self.secret if self.audit_secret is None else self.audit_secret)

    def check(self) -> None:
        if len(self.secret) < tokens.MIN_SECRET_BYTES:
            raise ValueError("the hub secret must hold at least 32 bytes")
        if not 1.0 <= self.tick_hz <= 240.0:
            raise ValueError("tick rate must be between 1 and 240 Hz")
        if not (1.0 <= self.rate <= 1e6 and 1 <= self.burst <= 1e6):
            raise ValueError("the message rate must be 1..1e6 per second, the burst 1..1e6")
        if not (0.1 <= self.handshake_rate <= 1e6 and 1 <= self.handshake_burst <= 1e6):
            raise ValueError("the handshake rate must be 0.1..1e6 per second, the burst 1..1e6")
        if not (1 <= self.max_per_name <= 1_000_000 and self.room_fanout > 0):
            raise ValueError("the per-name limit must be at least 1, the room fan-out positive")
        if not 1024 <= self.page_bytes <= 4 * 2**20:
            raise ValueError("annotation pages must be 1 KiB to 4 MiB")
        if (
            min(self.max_annotations, self.max_annotation_bytes) < 0
            or min(self.max_author_annotations, self.max_author_bytes) < 0
        ):
            raise ValueError("annotation budgets must not be negative")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.ssl_context is None and not is_loopback(self.host):
            raise ValueError(
                f"refusing to serve on {self.host} without TLS: tokens would cross the "
                "network in clear (give --tls-cert and --tls-key)"
            )
        for origin in self.origins:
            parts = urllib.parse.urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(f"an origin looks like https://host[:port], got {origin!r}")
