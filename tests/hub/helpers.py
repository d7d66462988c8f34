"""A hub on a loopback thread, tokens, raw connections and waiting, for the hub tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.hub import audit, tokens
from xrclient.hub.background import HubThread
from xrclient.hub.config import HubConfig
from xrclient.net.session_client import SessionClient
from xrclient.net.twin_client import Backoff

SECRET = bytes(range(32))
#: the key of the audit chain of a hub started with ``SECRET``
AUDIT_KEY = audit.derive_key(SECRET)
FAST = Backoff(initial=0.05, factor=2.0, maximum=0.3)


def token(room: str = "plant", name: str = "ana", role: str = "expert", ttl: float = 3600) -> str:
    return tokens.mint(SECRET, room, name, roles.Role(role), ttl)


@contextmanager
def running_hub(db: Path, **config: Any) -> Iterator[HubThread]:
    hub = HubThread(HubConfig(db=db, secret=SECRET, port=0, **config))
    hub.start()
    try:
        yield hub
    finally:
        hub.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def raw(hub: HubThread, tok: str | None, room: str = "plant", **kw: Any) -> ClientConnection:
    """A plain WebSocket to the hub (the token in the header), for protocol-level tests."""
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else None
    return connect(
        hub.room_url(room),
        additional_headers=headers,
        subprotocols=[codec.SUBPROTOCOL],  # type: ignore[list-item]  # a plain str where websockets types a Subprotocol (a NewType of str)
        open_timeout=5,
        close_timeout=1,
        **kw,
    )


def recv_until(
    ws: ClientConnection,
    kind: str,
    timeout: float = 5.0,
    skipped: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Frames until one of type ``kind``; the others are skipped (kept in ``skipped``)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = ws.recv(max(0.01, deadline - time.monotonic()))
        assert isinstance(frame, bytes)
        doc = codec.decode(frame)
        if doc["t"] == kind:
            return doc
        if skipped is not None:
            skipped.append(doc)


def send(ws: ClientConnection, doc: dict[str, Any]) -> None:
    ws.send(codec.encode(doc))


def client(hub: HubThread, tok: str, room: str = "plant", **kw: Any) -> SessionClient:
    kw.setdefault("backoff", FAST)
    return SessionClient(hub.room_url(room), tok, **kw)


IDENTITY = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
HEAD_POSE = [0.0, 1.7, 0.0, 0.0, 0.0, 0.0, 1.0]
