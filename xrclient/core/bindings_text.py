"""Values as people read them: label and gauge texts of one machine.

Enum and string values show their text, booleans ``yes``/``no``, times as UTC
``YYYY-MM-DD HH:MM:SSZ``, numbers with the rule's format and unit; a missing value is ``—``.
"""

from __future__ import annotations

import math
from typing import Protocol

from xrclient.core.expr import StoreView
from xrclient.core.twin_schema import PropertySpec
from xrclient.core.utc import utc_text

MISSING = "—"
#: longest number text before falling back to the general format
MAX_NUMBER_CHARS = 24


class TextStore(StoreView, Protocol):
    """A store that can also turn enum and string codes back into text."""

    def text(self, name: str, code: float) -> str | None: ...


def format_number(value: float, spec: str = "", unit: str = "") -> str:
    """``value`` with a format spec (e.g. ``".1f"``) and a unit; ``—`` if missing."""
    if math.isnan(value):
        return MISSING
    try:
        text = format(value, spec or "g")
    except ValueError:
        text = format(value, "g")
    if len(text) > MAX_NUMBER_CHARS:
        text = format(value, ".6g")
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def format_time(value: float) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SSZ`` (UTC); ``—`` if missing or out of range."""
    text = utc_text(value)
    return MISSING if text is None else text


def format_value(
    store: TextStore,
    spec: PropertySpec | None,
    value: float,
    fmt: str = "",
    unit: str | None = None,
) -> str:
    """A stored value of property ``spec`` (None: a computed number) as text.

    ``unit`` None means the property's own unit from the stream.
    """
    if math.isnan(value):
        return MISSING
    if spec is None:
        return format_number(value, fmt, unit or "")
    if spec.kind in ("enum", "string"):
        text = store.text(spec.name, value)
        return MISSING if text is None else text
    if spec.kind == "bool":
        return "yes" if value != 0.0 else "no"
    if spec.kind == "time":
        return format_time(value)
    return format_number(value, fmt, spec.unit if unit is None else unit)
