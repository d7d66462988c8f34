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

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.updates import TOUCH, UpdateBatch, cells_of
from xrclient.core.utc import utc_iso

F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

#: distinct free-text values interned per store; further new texts are dropped (counted)
MAX_TEXTS = 65_536
_OFFSET_WINDOW = 32
#: batches the change log keeps for ``changes_since`` (older marks read as "anything")
_LOG_BATCHES = 256


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
        # the cells each batch wrote, for readers that follow the store incrementally: the
        # log holds the batches with marks _log_start .. _log_end - 1
        self._log: list[npt.NDArray[np.intp]] = []
        self._log_cells = 0
        self._log_start = self._log_end = 0
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
        self._machine_map = np.array([index.get(m, -1) for m in schema.machines], np.intp)
        self._all_known = bool((self._machine_map >= 0).all())
        # the stream lists the scene's machines in scene order: its indices are store rows
        # (an index past the end fails and a negative one wraps either way)
        self._same_order = schema.machines == self.machine_ids
        self.version += 1

    def _reset_columns(self, props: tuple[PropertySpec, ...]) -> None:
        shape = (self.n_machines, len(props))
        self.value: F64 = np.full(shape, np.nan)
        self.source_time: F64 = np.full(shape, np.nan)
        self.recv_time: F64 = np.full(shape, np.nan)
        self._touched: F64 = np.full(self.n_machines, np.nan)
        self._forget_changes()
        self._prop_index = {p.name: i for i, p in enumerate(props)}
        self._string_cols = np.array([p.kind == "string" for p in props] + [False], bool)
        self._strings = tuple(np.flatnonzero(self._string_cols).tolist())
        self._numeric = np.array([i for i, p in enumerate(props) if p.kind == "number"], np.intp)
        self._numeric_slot = {int(c): k for k, c in enumerate(self._numeric)}
        cap = self.history_capacity
        self._hist = np.full((cap, self.n_machines, len(self._numeric)), np.nan, np.float32)
        self._hist_bucket = np.full(cap, -1, np.int64)
        self._bucket = -1
        self._machine_map = np.zeros(0, np.intp)
        self._all_known = True
        self._same_order = False

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
        found: list[float | None] = list(map(self._text_codes.get, texts))  # no step per text
        dropped = 0
        if None in found:
            for k, t in enumerate(texts):
                if found[k] is not None:
                    continue
                code = self._text_codes.get(t)  # an earlier new text of this batch
                if code is None:
                    if len(self._texts) >= MAX_TEXTS:
                        found[k] = np.nan
                        dropped += 1
                        continue
                    code = len(self._texts)
                    self._texts.append(t)
                    self._text_codes[t] = code
                found[k] = code
        return np.array(found, np.float64), dropped

    # -- ingest ----------------------------------------------------------------------------

    def apply(self, batch: UpdateBatch, now: float) -> Changes:
        """Write a decoded batch at ``now`` (this machine's clock). Receive times and the
        clock offset use ``batch.received`` when the client stamped it (a batch may wait
        in a queue before it is applied), else ``now``."""
        received = batch.received if batch.received == batch.received else now
        if batch.schema is not self.schema and batch.schema != self.schema:
            if not batch.snapshot:
                raise ValueError("a delta cannot change the stream schema; send a snapshot")
            self.set_schema(batch.schema)
        if batch.snapshot:  # a new connection may be to a server with another clock
            self._offsets.clear()
        self._track_offset(received - batch.sent)
        self.advance(now)
        if batch.snapshot:
            self.value.fill(np.nan)
            self.source_time.fill(np.nan)
            self.recv_time.fill(np.nan)
            self._touched.fill(np.nan)
            self._forget_changes()  # every cell may have changed
            self.dirty.fill(True)  # machines it leaves out lose their values
        # indices as intp: numpy gathers and scatters with them several times faster
        machine = batch.machine.astype(np.intp)
        if not self._same_order:
            machine = self._machine_map[machine]
        prop = batch.prop.astype(np.intp)
        value, time = batch.value, batch.time
        unknown = 0
        if not self._all_known:
            known = machine >= 0
            unknown = int(len(batch) - np.count_nonzero(known))
            if unknown:
                machine, prop, value, time = machine[known], prop[known], value[known], time[known]
        if len(prop) and prop.min() < 0:
            touch = prop == TOUCH
            if touch.any():
                np.fmax.at(self._touched, machine[touch], time[touch])
                keep = ~touch
                machine, prop, value, time = machine[keep], prop[keep], value[keep], time[keep]
        dropped = 0
        if batch.texts:
            codes, dropped = self._intern(batch.texts)
            strings = cells_of(prop, self._strings, self._string_cols)
            value = value.copy()
            value[strings] = codes[value[strings].astype(np.intp)]
        cell = machine * len(self.properties)
        cell += prop
        self.value.reshape(-1)[cell] = value
        self.source_time.reshape(-1)[cell] = time
        self.recv_time.reshape(-1)[cell] = received
        self.dirty[machine] = True
        self.version += 1
        self._log_change(cell)
        return Changes(len(batch) - unknown, unknown, dropped, batch.snapshot)

    # -- changes for incremental readers ---------------------------------------------------

    @property
    def change_mark(self) -> int:
        """A mark for ``changes_since``: the store as it is now."""
        return self._log_end

    def changes_since(self, mark: int) -> npt.NDArray[np.intp] | None:
        """Flat indices into ``value`` (``machine * len(properties) + property``) of every
        cell ``apply`` wrote since ``change_mark`` read ``mark`` (repeats possible); None when
        anything may have changed since (a snapshot, a new schema, a mark too old or from
        another store). Keep-alives write no cell (``last_seen`` covers them). Writes to the
        arrays other than through ``apply`` are not seen."""
        if not self._log_start <= mark <= self._log_end:
            return None
        got = self._log[mark - self._log_start :]
        if not got:
            return np.zeros(0, np.intp)
        return got[0] if len(got) == 1 else np.concatenate(got)

    def _log_change(self, cell: npt.NDArray[np.intp]) -> None:
        if 2 * len(cell) > self.value.size:  # most cells: readers had better start over
            self._forget_changes()
            return
        if len(self._log) >= _LOG_BATCHES or self._log_cells > self.value.size:
            self._forget_changes()
        self._log.append(cell)
        self._log_cells += len(cell)
        self._log_end += 1

    def _forget_changes(self) -> None:
        """Marks handed out so far read as "anything may have changed"."""
        self._log.clear()
        self._log_cells = 0
        self._log_end += 1
        self._log_start = self._log_end

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
        ordered = sorted(self._offsets)  # the median; np.median costs more on 32 numbers
        half = len(ordered) // 2
        mid = ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2.0
        self.clock_offset = float(mid)

    # -- ages ------------------------------------------------------------------------------

    def last_seen(self) -> F64:
        """Per machine, the newest source time of any update or keep-alive, on this clock."""
        if self.value.shape[1]:
            # fmax skips NaN (never reported); reducing the transposed copy along its
            # contiguous rows is several times faster than along short rows
            by_prop = np.ascontiguousarray(self.source_time.T)
            newest = np.fmax(self._touched, np.fmax.reduce(by_prop, axis=0))
        else:
            newest = self._touched.copy()
        newest += self.clock_offset
        return newest

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

    def history(self, name: str, machine: int | None = None) -> tuple[F64, F64]:
        """(times (H,), values (n_machines, H)) of a number property, oldest first; with
        ``machine``, values (1, H) of that machine only (what one panel draws: no copy of
        every machine's history).

        Closed buckets come first, stamped with their end time; the live value is last,
        stamped with the start of the current bucket. Empty arrays for other properties.
        """
        rows = slice(None) if machine is None else slice(machine, machine + 1)
        i = self._prop_index.get(name)
        if i is None or i not in self._numeric_slot:
            return np.zeros(0), np.zeros((self.value[rows].shape[0], 0))
        k = self._numeric_slot[i]
        cap = self.history_capacity
        order = np.argsort(self._hist_bucket, kind="stable")
        order = order[self._hist_bucket[order] >= 0]
        times = (self._hist_bucket[order] + 1).astype(np.float64) * self.history_interval
        values = self._hist[order, rows, k].T.astype(np.float64)
        live_t = max(self._bucket, 0) * self.history_interval
        times = np.concatenate([times, [live_t]])[-cap:]
        values = np.concatenate([values, self.value[rows, i : i + 1]], axis=1)[:, -cap:]
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
            text = utc_iso(v)
            return v if text is None else text  # beyond the calendar: the number
        return v
