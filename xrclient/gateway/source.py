"""The gateway's twin source: what the plant connectors write, as the arrays ``TwinServer``
serves.

A connector (OPC UA, MQTT, Sparkplug B) calls :meth:`GatewaySource.put` for each value it
receives, on the event loop that runs the twin server; the server's tick calls
:meth:`GatewaySource.step`, which returns the cells written since the last tick. Nothing is
queued: a cell written twice between ticks sends its newest value once.

Every raw value is untrusted. :meth:`GatewaySource.put` converts it to the property's kind
(scale and offset for numbers, the feed's enum map, UTF-8 text of bounded length) and
refuses what does not fit, counting the reason in :attr:`GatewaySource.stats`; nothing
refused reaches a client.

Quality travels as two reserved properties after the mapped ones: ``quality`` (GOOD,
UNCERTAIN, BAD, OFFLINE: the worst of the machine's values, OFFLINE while its source is
unreachable or dead) and ``quality_note`` (which value is not good, and why). A BAD value is
not stored: the cell keeps its last good value and that value's time, so it ages, and the
machine's quality names it (the protocol has no "missing" to send); an UNCERTAIN one is
stored. The twin server sends no keep-alive for an OFFLINE machine
(:attr:`GatewaySource.offline`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from xrclient.core.display_text import DisplayTextError, clean, printable
from xrclient.core.twin_schema import MAX_STRING_CHARS, PropertySpec, StreamSchema
from xrclient.gateway.mapping import Feed, Mapping

F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

GOOD, UNCERTAIN, BAD, OFFLINE = 0, 1, 2, 3
QUALITY_NAMES = ("GOOD", "UNCERTAIN", "BAD", "OFFLINE")
QUALITY = PropertySpec("quality", "enum", values=QUALITY_NAMES)
QUALITY_NOTE = PropertySpec("quality_note", "string")
#: distinct texts kept per string property (more are refused: memory stays bounded)
MAX_TEXTS = 10_000
#: raw text accepted for conversion (a number, an enum name, an ISO time)
MAX_RAW_CHARS = 4 * MAX_STRING_CHARS
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})


class Rejected(ValueError):
    """A raw value that does not fit its property; the message is the counted reason."""


@dataclass
class SourceStats:
    """What one plant connection received and refused (shown by ``xrclient gateway``)."""

    received: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    last_error: str = ""
    connected: bool = False
    reconnects: int = 0

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def summary(self) -> str:
        link = "connected" if self.connected else "disconnected"
        parts = [f"{link}, {self.accepted:,} of {self.received:,} values accepted"]
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnects")
        if self.rejected:
            worst = ", ".join(f"{n:,} {why}" for why, n in self.rejected.most_common(4))
            more = len(self.rejected) - 4
            parts.append(f"refused: {worst}" + (f" and {more} more reasons" if more > 0 else ""))
        if self.last_error:
            parts.append(f"last error: {self.last_error}")
        return "; ".join(parts)


class GatewaySource:
    """The live state a plant connection fills in (see the module docstring)."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        props = (*mapping.properties, QUALITY, QUALITY_NOTE)
        self.schema = StreamSchema(mapping.machines, props)
        n, p = len(mapping.machines), len(mapping.properties)
        self._n_mapped = p
        self._q, self._note = p, p + 1
        self.values: F64 = np.full((n, p + 2), np.nan)
        self.source_time: F64 = np.full((n, p + 2), np.nan)
        self._changed: Mask = np.zeros((n, p + 2), np.bool_)
        self._cell_quality = np.zeros((n, p), np.int8)
        self._cell_note: dict[tuple[int, int], str] = {}
        #: machines whose source is unreachable or dead (no keep-alives, quality OFFLINE)
        self.offline: Mask = np.ones(n, np.bool_)
        self._quality_dirty: Mask = np.ones(n, np.bool_)
        self._texts: list[list[str]] = [[] for _ in props]
        self._text_index: list[dict[str, int]] = [{} for _ in props]
        self.stats = SourceStats()
        feeds = mapping.feeds
        self._feeds = feeds
        self._feed_machine = np.array([f.machine for f in feeds], np.intp)
        self._feed_prop = np.array([f.prop for f in feeds], np.intp)
        self._feed_scale = np.array([f.scale for f in feeds], np.float64)
        self._feed_offset = np.array([f.offset for f in feeds], np.float64)
        self._mapped = np.zeros((n, p), np.bool_)
        self._mapped[self._feed_machine, self._feed_prop] = True
        self._by_machine: list[list[int]] = [[] for _ in range(n)]
        for f in feeds:
            self._by_machine[f.machine].append(f.index)
        self._intern(self._note, "")

    # -- what connectors use ------------------------------------------------------------------

    @property
    def feed_count(self) -> int:
        return len(self._feeds)

    def feed(self, index: int) -> Feed:
        return self._feeds[index]

    def feeds_of(self, machine: int) -> Sequence[int]:
        """The feeds of one machine (indices into ``mapping.feeds``)."""
        return self._by_machine[machine]

    def put(
        self,
        feed: int,
        raw: object,
        source_time: float,
        quality: int = GOOD,
        *,
        status_note: str = "",
    ) -> bool:
        """Store one value of ``feed`` (see the module docstring); False if refused."""
        self.stats.received += 1
        f = self._feeds[feed]
        if not math.isfinite(source_time):
            self.stats.reject("bad source timestamp")
            return False
        m, p = f.machine, f.prop
        if quality != BAD:
            try:
                value = self._convert(f, raw)
            except Rejected as exc:
                self.stats.reject(str(exc))
                return False
            self.values[m, p] = value
            self.source_time[m, p] = source_time
            self._changed[m, p] = True
        self.stats.accepted += 1
        if quality != self._cell_quality[m, p] or (
            quality and status_note != self._cell_note.get((m, p))
        ):
            self._cell_quality[m, p] = quality
            if quality:
                self._cell_note[(m, p)] = printable(status_note[:80])[:120]
            else:
                self._cell_note.pop((m, p), None)
            self._quality_dirty[m] = True
        return True

    def put_many(self, feeds: npt.NDArray[np.intp], values: F64, times: F64) -> None:
        """Numeric values of number-kind feeds (scale and offset applied here), good quality;
        non-finite values and timestamps are refused and counted."""
        n = len(feeds)
        self.stats.received += n
        raw = values * self._feed_scale[feeds] + self._feed_offset[feeds]
        ok = np.isfinite(raw) & np.isfinite(times)
        bad = n - int(ok.sum())
        if bad:
            self.stats.rejected["not a finite number"] += bad
            feeds, raw, times = feeds[ok], raw[ok], times[ok]
        m, p = self._feed_machine[feeds], self._feed_prop[feeds]
        self.values[m, p] = raw
        self.source_time[m, p] = times
        self._changed[m, p] = True
        self.stats.accepted += len(feeds)
        if self._cell_quality[m, p].any():
            self._cell_quality[m, p] = GOOD
            for mm, pp in zip(m.tolist(), p.tolist(), strict=True):
                self._cell_note.pop((mm, pp), None)
            self._quality_dirty[m] = True

    def mark_offline(self, machines: Sequence[int] | None = None) -> None:
        """The source of ``machines`` (None: all) is unreachable or dead."""
        rows = slice(None) if machines is None else np.asarray(machines, np.intp)
        self.offline[rows] = True
        self._quality_dirty[rows] = True

    def mark_online(self, machines: Sequence[int] | None = None) -> None:
        rows = slice(None) if machines is None else np.asarray(machines, np.intp)
        self.offline[rows] = False
        self._quality_dirty[rows] = True

    def text(self, machine: int, prop: int) -> str | None:
        """A string property's current text (None when missing)."""
        v = self.values[machine, prop]
        if math.isnan(v):
            return None
        return self._texts[prop][int(v)]

    def quality(self, machine: int) -> str:
        v = self.values[machine, self._q]
        return "OFFLINE" if math.isnan(v) else QUALITY_NAMES[int(v)]

    # -- TwinSource -----------------------------------------------------------------------------

    @property
    def strings(self) -> Sequence[Sequence[str]]:
        return self._texts

    def step(self, now: float) -> Mask:
        dirty = np.flatnonzero(self._quality_dirty)
        if dirty.size:
            self._update_quality(dirty, now)
        changed = self._changed.copy()
        self._changed.fill(False)
        return changed

    def control(self, msg: MappingABC[str, object], now: float) -> str:
        raise _Unsupported("this gateway serves a plant connection read-only")

    # -- inside ---------------------------------------------------------------------------------

    def _update_quality(self, rows: npt.NDArray[np.intp], now: float) -> None:
        self._quality_dirty[rows] = False
        worst = np.where(
            self.offline[rows], OFFLINE, self._cell_quality[rows].max(axis=1, initial=GOOD)
        )
        for m, q in zip(rows.tolist(), worst.tolist(), strict=True):
            note = ""
            if q == OFFLINE:
                note = "source offline"
            elif q:
                props = np.flatnonzero(self._cell_quality[m] == q)
                names = [self.schema.properties[int(p)].name for p in props[:3]]
                first = self._cell_note.get((m, int(props[0])), "")
                note = ", ".join(names) + (" ..." if len(props) > 3 else "")
                note = printable(f"{note}: {first}" if first else note)[:MAX_STRING_CHARS]
            try:
                code = self._intern(self._note, note)
            except Rejected:  # so many different notes: keep the quality, drop the words
                code = 0
            for col, value in ((self._q, float(q)), (self._note, float(code))):
                if self.values[m, col] != value:
                    self.values[m, col] = value
                    self.source_time[m, col] = now
                    self._changed[m, col] = True

    def _intern(self, prop: int, text: str) -> int:
        index = self._text_index[prop]
        code = index.get(text)
        if code is None:
            if len(index) >= MAX_TEXTS:
                raise Rejected(f"over {MAX_TEXTS} distinct texts")
            code = index[text] = len(self._texts[prop])
            self._texts[prop].append(text)
        return code

    def _convert(self, f: Feed, raw: object) -> float:
        spec = self.schema.properties[f.prop]
        if isinstance(raw, bytes | bytearray | memoryview):
            if len(raw) > MAX_RAW_CHARS * 4:
                raise Rejected("value too long")
            try:
                raw = bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                raise Rejected("not UTF-8 text") from None
        if isinstance(raw, str) and len(raw) > (
            MAX_STRING_CHARS if spec.kind == "string" else MAX_RAW_CHARS
        ):
            raise Rejected("value too long")
        kind = spec.kind
        if kind == "number":
            value = _number(raw) * f.scale + f.offset
        elif kind == "bool":
            value = _boolean(raw)
        elif kind == "time":
            value = _time(raw)
        elif kind == "enum":
            value = _enum(raw, f.enum, spec.values)
        else:
            if not isinstance(raw, str):
                raise Rejected("not text")
            try:
                text = clean(raw, "text", MAX_STRING_CHARS, multiline=True)
            except DisplayTextError:
                raise Rejected("text the display policy refuses") from None
            value = float(self._intern(f.prop, text))
        if not math.isfinite(value):
            raise Rejected("not a finite number")
        return value


class _Unsupported(Exception):
    code = "unsupported"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _number(raw: object) -> float:
    if isinstance(raw, bool):
        raise Rejected("a boolean where a number is expected")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            raise Rejected("not a number") from None
    raise Rejected(f"{type(raw).__name__} where a number is expected")


def _boolean(raw: object) -> float:
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int) and raw in (0, 1):
        return float(raw)
    if isinstance(raw, str):
        t = raw.strip().lower()
        if t in _TRUE:
            return 1.0
        if t in _FALSE:
            return 0.0
    raise Rejected("not a boolean")


def _time(raw: object) -> float:
    if isinstance(raw, dt.datetime):
        stamp = raw if raw.tzinfo is not None else raw.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(raw, str):
        try:
            return _time(dt.datetime.fromisoformat(raw.strip()))
        except ValueError:
            pass
    if isinstance(raw, bool):
        raise Rejected("a boolean where a time is expected")
    try:
        return _number(raw)
    except Rejected:
        raise Rejected("not a time") from None


def _enum(raw: object, table: MappingABC[str, str], values: tuple[str, ...]) -> float:
    if isinstance(raw, bool):
        raw = int(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    key = raw.strip() if isinstance(raw, str) else str(raw) if isinstance(raw, int) else None
    if key is None:
        raise Rejected("not an enum value")
    if table:
        name = table.get(key)
        if name is None:
            raise Rejected("a value the enum map lacks")
        return float(values.index(name))
    if key in values:
        return float(values.index(key))
    if isinstance(raw, int) and 0 <= raw < len(values):
        return float(raw)
    raise Rejected("not a value of the enum")
