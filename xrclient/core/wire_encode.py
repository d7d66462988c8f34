"""Update columns to wire layouts (the server side of ``core.wire``).

The JSON layout groups consecutive entries of one machine and source time into one
object with readable values; the msgpack layout sends the columns as little-endian bytes.
Both are described in docs/protocol.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.wire import MACHINE_DTYPE, PROP_DTYPE, VALUE_DTYPE, WIRE_TOUCH


def encode_updates_json(
    schema: StreamSchema,
    machine: npt.NDArray[np.integer[Any]],
    prop: npt.NDArray[np.integer[Any]],
    value: npt.NDArray[np.float64],
    time: npt.NDArray[np.float64],
    text_of: Sequence[Sequence[str]],
) -> list[list[Any]]:
    """JSON update entries; consecutive entries of one machine and time share an object.

    ``text_of[p]`` lists the texts string property ``p``'s codes index.
    """
    out: list[list[Any]] = []
    names = [p.name for p in schema.properties]
    kinds = [p.kind for p in schema.properties]
    enums = [p.values for p in schema.properties]
    ids = schema.machines
    last_m, last_t = -1, math.nan
    current: dict[str, Any] = {}
    for m, p, v, t in zip(
        machine.tolist(), prop.tolist(), value.tolist(), time.tolist(), strict=True
    ):
        if m != last_m or t != last_t:
            current = {}
            out.append([ids[m], t, current])
            last_m, last_t = m, t
        if p < 0:
            continue
        kind = kinds[p]
        if kind == "number" or kind == "time":
            current[names[p]] = v
        elif kind == "enum":
            current[names[p]] = enums[p][int(v)]
        elif kind == "bool":
            current[names[p]] = v != 0.0
        else:
            current[names[p]] = text_of[p][int(v)]
    return out


def encode_updates_binary(
    schema: StreamSchema,
    machine: npt.NDArray[np.integer[Any]],
    prop: npt.NDArray[np.integer[Any]],
    value: npt.NDArray[np.float64],
    time: npt.NDArray[np.float64],
    text_of: Sequence[Sequence[str]],
) -> dict[str, Any]:
    """msgpack columns; string values are re-indexed into this message's own ``x`` list,
    which holds each distinct text once."""
    p_wire = prop.astype(PROP_DTYPE)
    p_wire[prop < 0] = WIRE_TOUCH
    v = np.asarray(value, VALUE_DTYPE)
    index: dict[str, int] = {}
    strings = [i for i, s in enumerate(schema.properties) if s.kind == "string"]
    if strings:
        sel = np.isin(prop, strings)
        if sel.any():
            v = v.copy()
            positions = np.flatnonzero(sel)
            codes = [
                index.setdefault(text_of[p][int(c)], len(index))
                for p, c in zip(prop[positions].tolist(), value[positions].tolist(), strict=True)
            ]
            v[positions] = codes
    texts = list(index)
    return {
        "m": np.asarray(machine, MACHINE_DTYPE).tobytes(),
        "p": p_wire.tobytes(),
        "v": v.tobytes(),
        "t": np.asarray(time, VALUE_DTYPE).tobytes(),
        "x": texts,
    }
