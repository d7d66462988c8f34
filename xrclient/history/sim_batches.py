"""Update batches straight from a twin source's arrays (simulator runs without a network:
recordings for benchmarks and tests, evaluation of the anomaly detector)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import UpdateBatch
from xrclient.server.twin_server import TwinSource


def source_batch(
    schema: StreamSchema,
    values: npt.NDArray[np.float64],
    source_time: npt.NDArray[np.float64],
    strings: Sequence[Sequence[str]],
    cells: npt.NDArray[np.bool_],
    sent: float,
    *,
    snapshot: bool = False,
    seq: int = 0,
) -> UpdateBatch:
    """The cells ``cells`` of a source's state as a batch (string codes re-based onto the
    batch's own texts, as the decoder produces them)."""
    m, p = np.nonzero(cells & ~np.isnan(values))
    v = values[m, p].copy()
    texts: list[str] = []
    for k, table in enumerate(strings):
        if table:
            sel = p == k
            v[sel] += len(texts)
            texts.extend(table)
    return UpdateBatch.build(
        schema, m, p, v, source_time[m, p], snapshot=snapshot, seq=seq, sent=sent, texts=texts
    )


def simulate(
    sim: TwinSource, start: float, seconds: float, rate_hz: float
) -> Iterator[tuple[float, UpdateBatch]]:
    """Step a source (e.g. ``PlantSimulator``) every ``1 / rate_hz`` s from ``start``; yield
    (time, batch): a snapshot first, then the changed cells of each step."""
    every = np.ones(sim.values.shape, bool)
    yield (
        start,
        source_batch(
            sim.schema, sim.values, sim.source_time, sim.strings, every, start, snapshot=True
        ),
    )
    for k in range(1, round(seconds * rate_hz) + 1):
        t = start + k / rate_hz
        changed = sim.step(t)
        batch = source_batch(
            sim.schema, sim.values, sim.source_time, sim.strings, changed, t, seq=k
        )
        yield t, batch
