"""Live twin state in numpy arrays, indexed like ``scene.machines``.

The store holds, per machine and property, the latest value, its source timestamp (the
server's clock) and the time it was received (this machine's clock), plus a history ring
of numeric properties sampled once per ``history_interval`` for trends. Applying a batch is
a handful of vectorised scatters, however many entries it has.

Ages and staleness are measured against source timestamps mapped onto this machine's
clock: ``clock_offset`` (receive time minus the server's send time, the median of recent
batches) absorbs clock skew between server and client, so a machine that went silent an
hour before a snapshot is stale at once, and a wrong server clock does not make everything
stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.updates import TOUCH, UpdateBatch

F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

#: distinct free-text values interned per store; further new texts are dropped (counted)
MAX_TEXTS = 65_536
_OFFSET_WINDOW = 32


@dataclass(frozen=True, slots=True)
class Changes:
    applied: int  # entries written (values and keep-alives)
    unknown: int  # entries for machines this scene does not have
    dropped_texts: int  # string values not stored because the intern table is full
    snapshot: bool


class TwinStore:
    """Latest values, timestamps and short histories of every machine's properties."""

    def __init__(
        self,
        machine_ids: Sequence[str],
        *,
        history_capacity: int = 300,
        history_interval: float = 1.0,
    ) -> None:
        if history_capacity < 1 or not history_interval > 0:
            raise ValueError("history needs a capacity >= 1 and an interval > 0")
        self.machine_ids = tuple(machine_ids)
        self.n_machines = len(self.machine_ids)
        self.machine_index = {m: i for i, m in enumerate(self.machine_ids)}
        self.history_capacity = history_capacity
        self.history_interval = history_interval
        self.schema: StreamSchema | None = None
        self.properties: tuple[PropertySpec, ...] = ()
        self.version = 0
        #: receive time minus server send time (median of recent batches)
        self.clock_offset = 0.0
        #: machines written since the last ``take_dirty``
        self.dirty: Mask = np.zeros(self.n_machines, bool)
        self._offsets: list[float] = []
        self._texts: list[str] = []
        self._text_codes: dict[str, int] = {}
        self._reset_columns(())

    # -- schema ----------------------------------------------------------------------------

    def set_schema(self, schema: StreamSchema) -> None:
        """Adopt a stream's schema; a different one starts empty (values, times, history)."""
        if schema == self.schema:
            self.schema = schema  # same content: keep values, refresh identity
            return
        self.schema = schema
        self.properties = schema.properties
        self._reset_columns(schema.properties)
        index = self.machine_index
        self._machine_map = np.array([index.get(m, -1) for m in schema.machines], np.int32)
        self.version += 1

    def _reset_columns(self, props: tuple[PropertySpec, ...]) -> None:
        shape = (self.n_machines, len(props))
        self.value: F64 = np.full(shape, np.nan)
        self.source_time: F64 = np.full(shape, np.nan)
        self.recv_time: F64 = np.full(shape, np.nan)
        self._touched: F64 = np.full(self.n_machines, np.nan)
        self._prop_index = {p.name: i for i, p in enumerate(props)}
        self._string_cols = np.array([p.kind == "string" for p in props] + [False], bool)
        self._numeric = np.array([i for i, p in enumerate(props) if p.kind == "number"], np.intp)
        self._numeric_slot = {int(c): k for k, c in enumerate(self._numeric)}
        cap = self.history_capacity
        self._hist = np.full((cap, self.n_machines, len(self._numeric)), np.nan, np.float32)
        self._hist_bucket = np.full(cap, -1, np.int64)
        self._bucket = -1
        self._machine_map = np.zeros(0, np.int32)

    def prop(self, name: str) -> PropertySpec | None:
        i = self._prop_index.get(name)
        return None if i is None else self.properties[i]

    def prop_index(self, name: str) -> int | None:
        return self._prop_index.get(name)

    def column(self, name: str) -> F64 | None:
        """Latest values of one property for all machines (a view), or None if unknown."""
        i = self._prop_index.get(name)
        return None if i is None else self.value[:, i]

    # -- texts -----------------------------------------------------------------------------

    def code(self, name: str, text: str) -> float | None:
        """The stored value that stands for ``text`` in an enum or string property."""
        spec = self.prop(name)
        if spec is None:
            return None
        if spec.kind == "enum":
            return float(spec.values.index(text)) if text in spec.values else None
        if spec.kind == "string":
            code = self._text_codes.get(text)
            return None if code is None else float(code)
        return None

    def text(self, name: str, code: float) -> str | None:
        """Inverse of ``code``: the text a stored enum or string value stands for."""
        spec = self.prop(name)
        if spec is None or not np.isfinite(code):
            return None
        i = int(code)
        if spec.kind == "enum":
            return spec.values[i] if 0 <= i < len(spec.values) else None
        if spec.kind == "string":
            return self._texts[i] if 0 <= i < len(self._texts) else None
        return None

    def _intern(self, texts: tuple[str, ...]) -> tuple[F64, int]:
        codes = np.empty(len(texts), np.float64)
        dropped = 0
        for k, t in enumerate(texts):
            code = self._text_codes.get(t)
            if code is None:
                if len(self._texts) >= MAX_TEXTS:
                    codes[k] = np.nan
                    dropped += 1
                    continue
                code = len(self._texts)
                self._texts.append(t)
                self._text_codes[t] = code
            codes[k] = code
        return codes, dropped

    # -- ingest ----------------------------------------------------------------------------

    def apply(self, batch: UpdateBatch, now: float) -> Changes:
        """Write a decoded batch; ``now`` is this machine's clock at receipt."""
        if batch.schema is not self.schema and batch.schema != self.schema:
            if not batch.snapshot:
                raise ValueError("a delta cannot change the stream schema; send a snapshot")
            self.set_schema(batch.schema)
        if batch.snapshot:  # a new connection may be to a server with another clock
            self._offsets.clear()
        self._track_offset(now - batch.sent)
        self.advance(now)
        if batch.snapshot:
            self.value.fill(np.nan)
            self.source_time.fill(np.nan)
            self.recv_time.fill(np.nan)
            self._touched.fill(np.nan)
            self.dirty.fill(True)  # machines it leaves out lose their values
        machine = self._machine_map[batch.machine]
        prop, value, time = batch.prop, batch.value, batch.time
        known = machine >= 0
        unknown = int(len(batch) - np.count_nonzero(known))
        if unknown:
            machine, prop, value, time = machine[known], prop[known], value[known], time[known]
        touch = prop == TOUCH
        if touch.any():
            np.fmax.at(self._touched, machine[touch], time[touch])
            keep = ~touch
            machine, prop, value, time = machine[keep], prop[keep], value[keep], time[keep]
        dropped = 0
        if batch.texts:
            codes, dropped = self._intern(batch.texts)
            strings = self._string_cols[prop]
            value = value.copy()
            value[strings] = codes[value[strings].astype(np.intp)]
        cell = machine.astype(np.intp) * len(self.properties) + prop
        self.value.reshape(-1)[cell] = value
        self.source_time.reshape(-1)[cell] = time
        self.recv_time.reshape(-1)[cell] = now
        self.dirty[machine] = True
        self.version += 1
        return Changes(len(batch) - unknown, unknown, dropped, batch.snapshot)

    def take_dirty(self) -> Mask:
        """Machines written since the last call (and clear the mark)."""
        out = self.dirty.copy()
        self.dirty.fill(False)
        return out

    def _track_offset(self, offset: float) -> None:
        if not np.isfinite(offset):
            return
        self._offsets.append(offset)
        if len(self._offsets) > _OFFSET_WINDOW:
            del self._offsets[0]
        self.clock_offset = float(np.median(self._offsets))

    # -- ages ------------------------------------------------------------------------------

    def last_seen(self) -> F64:
        """Per machine, the newest source time of any update or keep-alive, on this clock."""
        with np.errstate(invalid="ignore"):
            if self.value.shape[1]:
                newest = np.fmax(self._touched, _nanmax_rows(self.source_time))
            else:
                newest = self._touched.copy()
        return newest + self.clock_offset

    def age(self, now: float, name: str | None = None) -> F64:
        """Seconds since each machine (or one property of it) last reported; inf if never."""
        if name is None:
            seen = self.last_seen()
        else:
            i = self._prop_index.get(name)
            if i is None:
                return np.full(self.n_machines, np.inf)
            seen = self.source_time[:, i] + self.clock_offset
        age = now - seen
        age[np.isnan(age)] = np.inf
        return age

    def stale(self, now: float, ttl: float | F64) -> Mask:
        """Machines silent for longer than ``ttl`` seconds (never-seen ones included)."""
        result: Mask = self.age(now) > ttl
        return result

    # -- history ---------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Close history buckets up to ``now`` (each keeps the values at its end)."""
        bucket = int(now // self.history_interval)
        if self._bucket < 0:
            self._bucket = bucket
            return
        if bucket <= self._bucket:
            return
        current = self.value[:, self._numeric].astype(np.float32)
        first = max(self._bucket, bucket - self.history_capacity)
        for b in range(first, bucket):
            slot = b % self.history_capacity
            self._hist[slot] = current
            self._hist_bucket[slot] = b
        self._bucket = bucket

    def history(self, name: str) -> tuple[F64, F64]:
        """(times (H,), values (n_machines, H)) of a number property, oldest first.

        Closed buckets come first, stamped with their end time; the live value is last,
        stamped with the start of the current bucket. Empty arrays for other properties.
        """
        i = self._prop_index.get(name)
        if i is None or i not in self._numeric_slot:
            return np.zeros(0), np.zeros((self.n_machines, 0))
        k = self._numeric_slot[i]
        cap = self.history_capacity
        order = np.argsort(self._hist_bucket, kind="stable")
        order = order[self._hist_bucket[order] >= 0]
        times = (self._hist_bucket[order] + 1).astype(np.float64) * self.history_interval
        values = self._hist[order, :, k].T.astype(np.float64)
        live_t = max(self._bucket, 0) * self.history_interval
        times = np.concatenate([times, [live_t]])[-cap:]
        values = np.concatenate([values, self.value[:, i : i + 1]], axis=1)[:, -cap:]
        return times, values

    # -- reading for people ------------------------------------------------------------------

    def display(self, machine: int, name: str) -> float | bool | str | None:
        """A value as a Python object: float, bool, text (enum/string/ISO time), or None."""
        i = self._prop_index.get(name)
        if i is None:
            return None
        v = float(self.value[machine, i])
        if np.isnan(v):
            return None
        kind = self.properties[i].kind
        if kind == "bool":
            return v != 0.0
        if kind in ("enum", "string"):
            return self.text(name, v)
        if kind == "time":
            try:
                return datetime.fromtimestamp(v, UTC).isoformat()
            except (OverflowError, OSError, ValueError):  # beyond the calendar
                return v
        return v


def _nanmax_rows(a: F64) -> F64:
    """Row-wise max ignoring NaN, NaN for all-NaN rows, without a RuntimeWarning."""
    filled = np.where(np.isnan(a), -np.inf, a)
    out: F64 = filled.max(axis=1)
    out[out == -np.inf] = np.nan
    return out
