"""A decoded batch of twin updates, in columns, and how two batches coalesce.

A batch is what the protocol decoder produces from one snapshot or delta message and what
``TwinStore.apply`` consumes: parallel arrays with one entry per property update. Entries
refer to the stream's schema by index (machine index into ``schema.machines``, property
index into ``schema.properties``); a property index of ``TOUCH`` marks a keep-alive entry
("this machine reported, nothing changed"). Values follow the float64 encoding described in
``twin_schema``; a ``string`` property's value is an index into the batch's ``texts``.

Batches are validated when decoded; code that builds them from trusted arrays (the
simulator, tests, replays) uses ``UpdateBatch.build``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_schema import StreamSchema

#: property index of a keep-alive entry
TOUCH = -1

I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class UpdateBatch:
    schema: StreamSchema
    snapshot: bool  # True: the full state (everything not in it is missing)
    seq: int
    sent: float  # server clock, seconds since the epoch
    machine: I32
    prop: I32
    value: F64
    time: F64  # source timestamp of each entry (server clock)
    texts: tuple[str, ...] = ()
    #: when this machine received the message (this machine's clock), if known
    received: float = math.nan

    @classmethod
    def build(
        cls,
        schema: StreamSchema,
        machine: npt.ArrayLike,
        prop: npt.ArrayLike,
        value: npt.ArrayLike,
        time: npt.ArrayLike,
        *,
        snapshot: bool = False,
        seq: int = 0,
        sent: float = 0.0,
        texts: Sequence[str] = (),
    ) -> UpdateBatch:
        m = np.ascontiguousarray(machine, np.int32).reshape(-1)
        p = np.ascontiguousarray(prop, np.int32).reshape(-1)
        v = np.ascontiguousarray(value, np.float64).reshape(-1)
        t = np.broadcast_to(np.asarray(time, np.float64), m.shape).copy()
        if not (m.shape == p.shape == v.shape):
            raise ValueError(f"column lengths differ: {m.shape[0]}, {p.shape[0]}, {v.shape[0]}")
        return cls(schema, snapshot, seq, sent, m, p, v, t, tuple(texts))

    def __len__(self) -> int:
        return int(self.machine.shape[0])

    @property
    def newest(self) -> float:
        """Newest source timestamp in the batch (``sent`` when it is empty)."""
        return float(self.time.max()) if len(self) else self.sent


def coalesce(older: UpdateBatch, newer: UpdateBatch) -> UpdateBatch:
    """One batch equivalent to applying ``older`` then ``newer``, keeping one entry per cell.

    A snapshot wipes what came before it, so a newer snapshot simply wins; a delta on top of
    a snapshot stays a snapshot. Memory is bounded by the number of cells, however many
    batches are folded together.
    """
    if newer.snapshot or newer.schema is not older.schema:
        return newer
    n_props = len(older.schema.properties) + 1  # + TOUCH
    machine = np.concatenate([older.machine, newer.machine])
    prop = np.concatenate([older.prop, newer.prop])
    value = np.concatenate([older.value, newer.value])
    time = np.concatenate([older.time, newer.time])
    texts = older.texts + newer.texts
    if newer.texts:
        strings = _string_mask(newer)
        value[len(older) :][strings] += len(older.texts)
    touch = prop == TOUCH
    if touch.any():  # a keep-alive counts with its newest time, as ``TwinStore.apply`` does
        newest = np.full(len(older.schema.machines), -np.inf)
        np.maximum.at(newest, machine[touch], time[touch])
        time[touch] = newest[machine[touch]]
    cell = machine.astype(np.int64) * n_props + (prop + 1)
    # last occurrence of each cell: unique over the reversed order finds first-from-the-end
    _, first_rev = np.unique(cell[::-1], return_index=True)
    keep = np.sort(len(cell) - 1 - first_rev)
    machine, prop, value, time = machine[keep], prop[keep], value[keep], time[keep]
    if texts:  # keep only the texts still referenced, so they cannot pile up either
        strings = _string_mask_of(older.schema, prop)
        used, codes = np.unique(value[strings].astype(np.int64), return_inverse=True)
        value[strings] = codes
        texts = tuple(texts[i] for i in used)
    return UpdateBatch(
        older.schema,
        older.snapshot,
        newer.seq,
        newer.sent,
        machine,
        prop,
        value,
        time,
        texts,
        newer.received,
    )


def _string_mask(batch: UpdateBatch) -> npt.NDArray[np.bool_]:
    return _string_mask_of(batch.schema, batch.prop)


def _string_mask_of(schema: StreamSchema, prop: I32) -> npt.NDArray[np.bool_]:
    is_string = np.array([p.kind == "string" for p in schema.properties] + [False], dtype=bool)
    return is_string[prop]  # TOUCH (-1) reads the trailing False


def cells_of(
    prop: npt.NDArray[np.intp], wanted: Sequence[int], table: npt.NDArray[np.bool_]
) -> npt.NDArray[np.intp]:
    """Positions of the entries whose property is one of ``wanted`` (``table[p]`` is True
    for those): a few comparisons cost less than a lookup per entry."""
    if len(wanted) > 6:
        return np.flatnonzero(table[prop])
    if not wanted:
        return np.zeros(0, np.intp)
    mask = prop == wanted[0]
    for p in wanted[1:]:
        mask |= prop == p
    return np.flatnonzero(mask)
