"""The hand-over between the network thread and the frame loop: bounded, latest-value.

The network thread ``put``s decoded batches; the frame loop ``drain``s them once a frame.
When the frame loop falls behind, queued deltas are folded into one batch keeping only the
newest value of each cell (``core.updates.coalesce``), and a snapshot drops everything
queued before it. Memory therefore stays bounded by the number of cells however slow the
consumer is, and applying what was drained gives exactly the state the stream described.
"""

from __future__ import annotations

import threading

from xrclient.core.updates import UpdateBatch, coalesce


class UpdateQueue:
    def __init__(self, max_batches: int = 8) -> None:
        if max_batches < 1:
            raise ValueError("max_batches must be >= 1")
        self.max_batches = max_batches
        self.coalesced = 0  # batches folded into others
        self._items: list[UpdateBatch] = []
        self._cond = threading.Condition()

    def put(self, batch: UpdateBatch) -> None:
        with self._cond:
            items = self._items
            if batch.snapshot:
                self.coalesced += len(items)
                items.clear()
            items.append(batch)
            if len(items) > self.max_batches:
                merged = items[0]
                for b in items[1:]:
                    merged = coalesce(merged, b)
                self.coalesced += len(items) - 1
                self._items = [merged]
            self._cond.notify_all()

    def drain(self) -> list[UpdateBatch]:
        with self._cond:
            out, self._items = self._items, []
            return out

    def wait(self, timeout: float) -> bool:
        """Block until something is queued (True) or ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._items), timeout)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
