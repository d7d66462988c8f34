"""The session-hub protocol's framing: one msgpack map per frame, its type in ``t``.

See docs/protocol.md, "Session hub protocol". ``decode`` either returns a map with a
string ``t`` or raises ``SessionError`` with a protocol error code; nothing else escapes.
Also here: the subprotocol names, the frame limit, the error and close codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

PROTOCOL_VERSION = 2  # 2: annotations paged after the welcome (`ann_page`)
#: the WebSocket subprotocol; a client that cannot set headers also offers
#: ``TOKEN_SUBPROTOCOL_PREFIX + token`` (the hub never selects that one)
SUBPROTOCOL = "xrsession.v2"
#: earlier versions: a client offering only these is refused with a reason (version 1 sent
#: every annotation in the welcome; version 2 pages them after it)
OLD_SUBPROTOCOLS = ("xrsession.v1",)
TOKEN_SUBPROTOCOL_PREFIX = "xrsession.bearer."
#: largest frame a participant may send; the hub closes the connection (1009) above it
MAX_CLIENT_FRAME = 16 * 1024

#: error codes the hub sends
ERROR_CODES = frozenset(
    {"bad_request", "forbidden", "not_found", "rate_limited", "limit", "internal"}
)
#: WebSocket close codes the hub uses (besides 1009, message too big, from websockets)
CLOSE_POLICY = 1008  # flooding beyond the rate limit, or too far behind on reliable messages
CLOSE_TOKEN_EXPIRED = 4001
CLOSE_ROOM_FULL = 4003


class SessionError(ValueError):
    """A message refused: ``code`` is one of ``ERROR_CODES``; ``request_id`` echoes the
    message's ``id`` when it had a valid one."""

    def __init__(self, code: str, message: str, request_id: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


def encode(doc: Mapping[str, Any]) -> bytes:
    out: bytes = msgpack.packb(doc, use_bin_type=True)
    return out


def decode(
    frame: str | bytes, max_bytes: int = 64 * 2**20, *, binary: bool = True
) -> dict[str, Any]:
    """One frame as a map with a string ``t``; ``SessionError('bad_request')`` otherwise."""
    if not isinstance(frame, bytes):
        raise SessionError("bad_request", "frames are msgpack binary frames")
    if len(frame) > max_bytes:
        raise SessionError("bad_request", f"frame larger than {max_bytes} bytes")
    try:
        doc = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=max_bytes,
            max_bin_len=max_bytes if binary else 0,
            max_array_len=max_bytes,
            max_map_len=max_bytes,
            max_ext_len=0,
        )
    except msgpack.StackError:
        raise SessionError("bad_request", "malformed msgpack: nested too deeply") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise SessionError("bad_request", f"malformed msgpack: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("t"), str):
        raise SessionError("bad_request", "a message must be a map with a string 't'")
    return doc


def error_message(code: str, message: str, request_id: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"t": "error", "code": code, "message": message}
    if request_id is not None:
        doc["id"] = request_id
    return doc
