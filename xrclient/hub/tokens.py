"""Join tokens: HMAC-SHA256 signed claims (room, name, role, expiry).

A token is ``xs1.<claims>.<signature>``: the claims a compact JSON object, both parts
base64url without padding; the signature is HMAC-SHA256 with the hub's secret over
``xs1.<claims>``. Verification recomputes it and compares in constant time before it
reads a single claim, then checks expiry (with a small allowance for clock skew). Only
characters valid in a WebSocket subprotocol name appear in a token, so a client that
cannot set an ``Authorization`` header may offer it as a subprotocol instead.

The secret file holds at least 32 random bytes (hex); it must not be readable by group or
others. Nothing here logs a token or the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles

PREFIX = "xs1"
MAX_TOKEN = 2048
MAX_TTL = 30 * 24 * 3600.0
#: seconds a token is still accepted after its expiry, for clocks slightly apart
SKEW = 30.0
MIN_SECRET_BYTES = 32
_TTL_RE = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class TokenError(ValueError):
    """A token refused; ``reason`` is safe to show and log (it never holds the token)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Claims:
    room: str
    name: str
    role: roles.Role
    expires: float
    issued: float


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise TokenError("malformed token")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise TokenError("malformed token") from None


def _sign(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())


def parse_ttl(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``8h``, ``2d`` as seconds (at most 30 days)."""
    m = _TTL_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"a duration looks like 90s, 15m, 8h or 2d, got {text!r}")
    ttl = float(m.group(1)) * _UNITS[m.group(2)]
    if not 0 < ttl <= MAX_TTL:
        raise ValueError("a token lives between 1 second and 30 days")
    return ttl


def mint(
    secret: bytes, room: str, name: str, role: roles.Role, ttl: float, now: float | None = None
) -> str:
    """A signed token for ``name`` in ``room`` with ``role``, valid for ``ttl`` seconds."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the secret must hold at least {MIN_SECRET_BYTES} bytes")
    checks.room_name(room)
    checks.person_name(name)
    if not 0 < ttl <= MAX_TTL:
        raise ValueError("a token lives between 1 second and 30 days")
    now = time.time() if now is None else now
    claims = {"r": room, "n": name, "o": role.value, "e": round(now + ttl, 3), "i": round(now, 3)}
    body = f"{PREFIX}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{body}.{_sign(secret, body)}"


def verify(secret: bytes, token: str, now: float | None = None) -> Claims:
    """The claims of a genuine, unexpired token; ``TokenError`` (401) otherwise."""
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        raise TokenError("malformed token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("malformed token")
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(secret, body), parts[2]):
        raise TokenError("bad token signature")
    try:
        doc = json.loads(_unb64(parts[1]))
        room = checks.room_name(doc["r"])
        name = checks.person_name(doc["n"])
        role = roles.Role(doc["o"])
        expires, issued = float(doc["e"]), float(doc["i"])
    except (ValueError, KeyError, TypeError, codec.SessionError):
        raise TokenError("malformed token claims") from None
    now = time.time() if now is None else now
    if now > expires + SKEW:
        raise TokenError("token expired")
    if issued > now + SKEW:
        raise TokenError("token not valid yet")
    return Claims(room, name, role, expires, issued)


def unverified_claims(token: str) -> Claims:
    """What a token says, without checking its signature or expiry: for a client to show
    whom it will join as and to catch a mix-up early. Only the hub's ``verify`` decides."""
    parts = token.split(".") if token and len(token) <= MAX_TOKEN and token.isascii() else []
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("malformed token")
    try:
        doc = json.loads(_unb64(parts[1]))
        return Claims(
            checks.room_name(doc["r"]),
            checks.person_name(doc["n"]),
            roles.Role(doc["o"]),
            float(doc["e"]),
            float(doc["i"]),
        )
    except (ValueError, KeyError, TypeError, codec.SessionError):
        raise TokenError("malformed token claims") from None


def load_secret(path: Path) -> bytes:
    """The secret from ``path``: hex text of at least 32 bytes, private to its owner."""
    try:
        st = path.stat()
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        raise ValueError(f"no secret file at {path} (start the hub once to create one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the secret file {path}: {type(exc).__name__}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others; run: chmod 600 {path}")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path} must hold the secret as hex") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{path} must hold at least {MIN_SECRET_BYTES} bytes")
    return secret


def create_secret(path: Path) -> bytes:
    """Write a new random secret to ``path`` (owner-only), refusing to overwrite one."""
    secret = secrets.token_bytes(MIN_SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    return secret
