"""Field checks the hub runs on participants' messages and the mirror on the hub's frames.

Each returns the checked value or raises ``SessionError("bad_request", ...)`` naming the
field: types, lengths, finite numbers, ranges, names and ids.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from xrclient.core import display_text
from xrclient.core.session_codec import SessionError

MAX_TEXT = 2000  # annotation text, characters
MAX_CHAT = 500
MAX_NAME = 64
MAX_MACHINE = 128
MAX_REQUEST_ID = 2**53
#: world coordinates beyond this many metres are refused
MAX_COORD = 1.0e5
ROOM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
COLOR_RE = re.compile(r"#[0-9a-f]{6}")
ANNOTATION_STATUSES = ("", "open", "resolved")
DEVICES = ("headset", "desktop", "headless")
#: a shared timeline: live, or a past moment of the plant's recorded history
TIMELINE_MODES = ("live", "past")
#: playback speeds a shared timeline may ask for (``xrclient.history.timeline``'s bounds)
TIMELINE_MIN_SPEED, TIMELINE_MAX_SPEED = 1 / 64, 64.0
#: recording times and hub times are seconds since the epoch, 0 up to this
MAX_TIME = 1.0e12


def number(v: object, what: str, limit: float = MAX_COORD) -> float:
    """A finite number within ``±limit``."""
    if (type(v) is not float and type(v) is not int) or not math.isfinite(v) or abs(v) > limit:
        raise SessionError("bad_request", f"'{what}' must be a finite number within ±{limit:g}")
    return float(v)


def numbers(v: object, n: int, what: str, limit: float = MAX_COORD) -> tuple[float, ...]:
    """Exactly ``n`` finite numbers within ``±limit``."""
    if type(v) is not list or len(v) != n:
        raise SessionError("bad_request", f"'{what}' must be a list of {n} numbers")
    return tuple(number(x, what, limit) for x in v)


def text(
    v: object, what: str, max_chars: int, *, empty: bool = True, multiline: bool = False
) -> str:
    """Display text under the one policy (``display_text``): NFC, at most ``max_chars``,
    no controls (tab and newline only where ``multiline``), bidirectional overrides,
    zero-width or other invisible characters."""
    try:
        return display_text.clean(v, what, max_chars, multiline=multiline, empty=empty)
    except display_text.DisplayTextError as exc:
        raise SessionError("bad_request", str(exc)) from None


def pose7(v: object, what: str) -> tuple[float, ...]:
    """Position (metres) and a unit-ish rotation quaternion (x, y, z, w)."""
    p = numbers(v, 7, what)
    if not 0.5 <= math.sqrt(p[3] ** 2 + p[4] ** 2 + p[5] ** 2 + p[6] ** 2) <= 2.0:
        raise SessionError("bad_request", f"'{what}' rotation must be a unit quaternion")
    return p


def ray6(v: object, what: str) -> tuple[float, ...]:
    """Origin and a non-zero direction."""
    r = numbers(v, 6, what)
    if math.sqrt(r[3] ** 2 + r[4] ** 2 + r[5] ** 2) < 1e-6:
        raise SessionError("bad_request", f"'{what}' direction must not be zero")
    return r


def room_name(v: object) -> str:
    if type(v) is not str or not ROOM_RE.fullmatch(v):
        raise SessionError("bad_request", "a room name is 1-64 of A-Z a-z 0-9 . _ -")
    return v


def person_name(v: object) -> str:
    """A person's name: one line, a visible character, no space at either end."""
    try:
        return display_text.name(v, "name", MAX_NAME)
    except display_text.DisplayTextError as exc:
        raise SessionError("bad_request", str(exc)) from None


def color(v: object) -> str:
    if type(v) is not str or not COLOR_RE.fullmatch(v):
        raise SessionError("bad_request", "'color' must look like #rrggbb (lower case)")
    return v


def hub_time(v: object, what: str) -> float:
    """Seconds since the epoch: finite, 0 to ``MAX_TIME``."""
    value = number(v, what, MAX_TIME)
    if value < 0:
        raise SessionError("bad_request", f"'{what}' must be 0 to {MAX_TIME:g}")
    return value


def timeline_fields(doc: Mapping[str, Any]) -> tuple[str, float | None, bool, float]:
    """``mode``, ``time``, ``playing`` and ``speed`` of a timeline map, each checked: a past
    moment needs all four (``time`` finite, 0 to ``MAX_TIME``; ``speed`` within the
    timeline's bounds); a live one has no ``time`` (absent or nil) and may leave out the
    others. Shared by the hub (client frames) and the mirror (hub frames)."""
    mode = doc.get("mode")
    if mode not in TIMELINE_MODES:
        raise SessionError("bad_request", "'mode' must be live or past")
    live = mode == "live"
    playing = doc.get("playing", False if live else None)
    if type(playing) is not bool:
        raise SessionError("bad_request", "'playing' must be true or false")
    speed = doc.get("speed", 1.0 if live else None)
    if (
        (type(speed) is not float and type(speed) is not int)
        or not math.isfinite(speed)
        or not TIMELINE_MIN_SPEED <= speed <= TIMELINE_MAX_SPEED
    ):
        raise SessionError(
            "bad_request", f"'speed' must be {TIMELINE_MIN_SPEED:g} to {TIMELINE_MAX_SPEED:g}"
        )
    t = doc.get("time")
    if live:
        if t is not None:
            raise SessionError("bad_request", "a live timeline has no 'time'")
        return "live", None, False, float(speed)
    return "past", hub_time(t, "time"), playing, float(speed)
