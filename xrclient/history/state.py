"""The full state of a stream as a recording sees it: values, source times, keep-alives and
the texts of string properties, built by applying batches; turned back into a snapshot."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import TOUCH, UpdateBatch

#: distinct texts kept for string properties; later new texts are dropped
MAX_TEXTS = 65_536


class StreamState:
    """Applies batches in stream order (by schema index) and can emit a keyframe batch."""

    def __init__(self, schema: StreamSchema) -> None:
        self.schema = schema
        shape = (len(schema.machines), len(schema.properties))
        self.value = np.full(shape, np.nan)
        self.time = np.full(shape, np.nan)
        self.touched = np.full(shape[0], np.nan)
        self.texts: list[str] = []
        self._codes: dict[str, int] = {}
        self._string = np.array([p.kind == "string" for p in schema.properties] + [False], bool)
        self.sent = 0.0

    def apply(self, batch: UpdateBatch) -> npt.NDArray[np.bool_]:
        """Apply a batch of this schema; return the changed ``(machines, properties)`` cells."""
        if batch.snapshot:
            self.value.fill(np.nan)
            self.time.fill(np.nan)
            self.touched.fill(np.nan)
        self.sent = batch.sent
        m = batch.machine.astype(np.intp)
        p = batch.prop.astype(np.intp)
        v, t = batch.value, batch.time
        touch = p == TOUCH
        if touch.any():
            np.fmax.at(self.touched, m[touch], t[touch])
            keep = ~touch
            m, p, v, t = m[keep], p[keep], v[keep], t[keep]
        if batch.texts:
            strings = self._string[p]
            if strings.any():
                table = np.array([self._code(x) for x in batch.texts], np.float64)
                v = v.copy()
                codes = v[strings]
                ok = ~np.isnan(codes)
                codes[ok] = table[codes[ok].astype(np.intp)]
                v[strings] = codes
        changed = np.zeros(self.value.shape, bool)
        if batch.snapshot:
            changed.fill(True)
        self.value[m, p] = v
        self.time[m, p] = t
        changed[m, p] = True
        return changed

    def _code(self, text: str) -> float:
        code = self._codes.get(text)
        if code is None:
            if len(self.texts) >= MAX_TEXTS:
                return np.nan
            code = self._codes[text] = len(self.texts)
            self.texts.append(text)
        return float(code)

    def keyframe(self) -> UpdateBatch:
        """The whole state as one snapshot batch (texts: the full table)."""
        m, p = np.nonzero(~np.isnan(self.value))
        tm = np.flatnonzero(~np.isnan(self.touched))
        machine = np.concatenate([m, tm]).astype(np.int32)
        prop = np.concatenate([p, np.full(len(tm), TOUCH)]).astype(np.int32)
        value = np.concatenate([self.value[m, p], np.zeros(len(tm))])
        time = np.concatenate([self.time[m, p], self.touched[tm]])
        return UpdateBatch(
            self.schema, True, 0, self.sent, machine, prop, value, time, tuple(self.texts)
        )
