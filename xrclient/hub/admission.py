"""Who may open a hub connection, decided before the WebSocket upgrade.

The path names the room; the ``Origin`` header, when present, must be on the exact
allowlist (with no allowlist, any request carrying an Origin is refused: browsers always
send one); the token comes from ``Authorization: Bearer`` or, for clients that cannot set
headers, from an offered subprotocol ``xrsession.bearer.<token>`` (never echoed back). A
missing, forged, expired or malformed token is answered 401, a token for another room or a
bad origin 403, too many handshakes from one address 429 (with ``Retry-After``), a request
repeating a single-valued header (``Origin``, ``Authorization``, ``Host``...) or with a bad
query 400; none of them ever reaches the WebSocket layer. Tokens are never logged.
"""

from __future__ import annotations

import math
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.hub import tokens
from xrclient.server.limits import TokenBucket

#: client addresses whose handshake rate is tracked at once
MAX_TRACKED_ADDRESSES = 4096


@dataclass(frozen=True, slots=True)
class Admission:
    claims: tokens.Claims
    device: str


def admit(
    request: Request, secret: bytes, origins: tuple[str, ...], now: float | None = None
) -> Admission | tuple[HTTPStatus, str]:
    """Who a handshake request is, or why it is refused (status, reason without secrets)."""
    odd = odd_headers(request)
    if odd is not None:
        return HTTPStatus.BAD_REQUEST, odd
    origins_sent = request.headers.get_all("Origin")
    if origins_sent and origins_sent[0] not in origins:
        return HTTPStatus.FORBIDDEN, "origin not allowed"
    offered = offered_subprotocols(request)
    if codec.SUBPROTOCOL not in offered and any(p in codec.OLD_SUBPROTOCOLS for p in offered):
        return HTTPStatus.BAD_REQUEST, f"this hub speaks {codec.SUBPROTOCOL}: update the client"
    try:
        parts = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(parts.query, max_num_fields=4, strict_parsing=False)
    except ValueError:
        return HTTPStatus.BAD_REQUEST, "bad request path or query"
    room = urllib.parse.unquote(parts.path.lstrip("/"))
    try:
        checks.room_name(room)
    except codec.SessionError:
        return HTTPStatus.NOT_FOUND, "the path must name a room: /ROOM"
    devices = query.get("device") or ["headless"]
    if len(devices) != 1 or devices[0] not in checks.DEVICES:
        return HTTPStatus.BAD_REQUEST, "device must be headset, desktop or headless (once)"
    device = devices[0]
    token = bearer_token(request)
    if token is None:
        return HTTPStatus.UNAUTHORIZED, "missing token"
    try:
        claims = tokens.verify(secret, token, now)
    except tokens.TokenError as exc:
        return HTTPStatus.UNAUTHORIZED, exc.reason
    if claims.room != room:
        return HTTPStatus.FORBIDDEN, "the token is for another room"
    return Admission(claims, device)


def offered_subprotocols(request: Request) -> list[str]:
    """The subprotocols a handshake offers (every ``Sec-WebSocket-Protocol`` header)."""
    return [
        p.strip()
        for header in request.headers.get_all("Sec-WebSocket-Protocol")
        for p in header.split(",")
        if p.strip()
    ]


#: request headers that mean one thing only once: a request repeating one is refused (400)
#: before anything reads it (each would otherwise be read one way here and another way by
#: a proxy or by the WebSocket layer)
SINGLE_HEADERS = (
    "Host",
    "Origin",
    "Authorization",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Upgrade",
)


def odd_headers(request: Request) -> str | None:
    """Why a request's headers are refused (a repeated single-valued header, an empty
    ``Origin``), or ``None``."""
    for name in SINGLE_HEADERS:
        if len(request.headers.get_all(name)) > 1:
            return f"the {name} header appears more than once"
    origin = request.headers.get_all("Origin")
    if origin and not origin[0].strip():
        return "empty Origin header"
    return None


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get_all("Authorization")
    if len(auth) == 1 and auth[0].startswith("Bearer "):
        return auth[0][len("Bearer ") :].strip()
    if auth:
        return ""
    offered = offered_subprotocols(request)
    found = [p[len(codec.TOKEN_SUBPROTOCOL_PREFIX) :] for p in offered]
    found = [
        f
        for f, p in zip(found, offered, strict=True)
        if p.startswith(codec.TOKEN_SUBPROTOCOL_PREFIX)
    ]
    if len(found) == 1:
        return found[0]
    return "" if found else None


class HandshakeLimiter:
    """A token bucket per client address (the most recent few thousand addresses kept)."""

    def __init__(self, rate: float, burst: int, max_addresses: int = MAX_TRACKED_ADDRESSES) -> None:
        self.rate = rate
        self.burst = burst
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, connection: ServerConnection) -> bool:
        """One token of the connecting address's bucket."""
        peer = connection.remote_address
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        buckets = self._buckets
        bucket = buckets.pop(address, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst)
            if len(buckets) >= self.max_addresses:
                buckets.popitem(last=False)  # the longest unseen
        buckets[address] = bucket
        return bucket.take()

    def retry_after(self) -> int:
        """Whole seconds until an address that ran out has a token again."""
        return max(1, math.ceil(1.0 / self.rate))


def refusal(
    connection: ServerConnection, status: HTTPStatus, reason: str, retry_after: int
) -> Response:
    """The HTTP answer to a refused handshake (a 401 names the scheme, a 429 the wait)."""
    response = connection.respond(status, reason + "\n")
    if status is HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xrclient-hub"'
    elif status is HTTPStatus.TOO_MANY_REQUESTS:
        response.headers["Retry-After"] = str(retry_after)
    return response


def select_subprotocol(connection: ServerConnection, offered: Any) -> Subprotocol | None:
    """Ours when offered; never a token subprotocol."""
    return Subprotocol(codec.SUBPROTOCOL) if codec.SUBPROTOCOL in offered else None
