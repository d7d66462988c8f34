"""Which instances of the renderer's batches a frame draws, and when to rewrite them (no GL).

Every instance has a world box, computed once. Per frame each view's frustum is tested
against all boxes in one numpy pass (:func:`xrclient.core.frustum.boxes_in_frustum`). The
views of one frame are culled together: a batch that no view sees is skipped in every
view, a batch that some view sees draws, in each view that sees it, the instances any view
of the frame sees. Instance buffers are shared by all views, so this union keeps one
instance set per batch and frame (the two eyes of a headset see nearly the same set), and
each view still skips the batches it does not see.

An instanced batch with only part of its instances visible draws them compacted to the
front of its instance buffers, in their original order (so depth ties resolve as without
culling). :meth:`InstanceCulling.writes` says which batches need their buffers rewritten:
only those whose visible set differs from what their buffers hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core.frustum import boxes_in_frustum, frustum_planes

Mask = npt.NDArray[np.bool_]
Counts = npt.NDArray[np.int64]

#: world boxes are widened by this fraction of their size plus magnitude before the test
PAD = 1e-6


@dataclass(frozen=True, slots=True)
class FramePlan:
    """What one frame draws: per view and batch whether to draw, and per batch how many."""

    seen: npt.NDArray[np.bool_]  # (views, batches): does the view see any of the batch
    counts: Counts  # (batches,) instances drawn, the visible set of the frame
    visible: Mask  # (instances,) that set, batch after batch
    culled: int  # instances skipped, summed over views


class InstanceCulling:
    """Instance boxes of a renderer's batches and the instance set each batch's buffers hold.

    ``boxes[b]`` are the ``(K, 2, 3)`` world boxes of batch ``b``'s instances; batches
    with ``cullable[b]`` false (points, whose sprites reach past their centres) are always
    drawn whole.
    """

    def __init__(self, boxes: Sequence[npt.ArrayLike], cullable: Sequence[bool]) -> None:
        sizes = [int(np.asarray(b).reshape(-1, 2, 3).shape[0]) for b in boxes]
        self.sizes: Counts = np.asarray(sizes, dtype=np.int64)
        self.starts: Counts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        stacked = (
            np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1, 2, 3) for b in boxes])
            if boxes
            else np.zeros((0, 2, 3))
        )
        with np.errstate(invalid="ignore", over="ignore"):
            pad = PAD * (np.abs(stacked).max(axis=1) + np.abs(stacked[:, 1] - stacked[:, 0]))
        self._boxes = np.stack([stacked[:, 0] - pad, stacked[:, 1] + pad], axis=1)
        self._always = ~np.repeat(np.asarray(cullable, dtype=bool), self.sizes)
        # what each batch's instance buffers hold: None = every instance in order
        self._held: list[Mask | None] = [None] * len(sizes)
        self._batch_of = np.repeat(np.arange(len(sizes)), self.sizes)
        self._instanced = np.flatnonzero(self.sizes > 1)  # the only ones ever compacted

    @property
    def instance_count(self) -> int:
        return int(self._boxes.shape[0])

    def in_view(self, view_projection: npt.ArrayLike) -> Mask:
        """Per instance: may the view with this clip-from-world matrix see it?"""
        seen = boxes_in_frustum(frustum_planes(view_projection), self._boxes)
        seen |= self._always
        return seen

    def plan(self, view_projections: Sequence[npt.ArrayLike], enabled: bool = True) -> FramePlan:
        """The frame's visible sets for these views; everything when not ``enabled``."""
        n, views = self.instance_count, len(view_projections)
        if not enabled or n == 0:
            return FramePlan(
                seen=np.ones((views, len(self.sizes)), dtype=bool),
                counts=self.sizes.copy(),
                visible=np.ones(n, dtype=bool),
                culled=0,
            )
        per_view = [self.in_view(vp) for vp in view_projections]
        visible = np.logical_or.reduce(per_view) if per_view else np.zeros(n, dtype=bool)
        seen = np.zeros((views, len(self.sizes)), dtype=bool)
        for v, mask in enumerate(per_view):
            seen[v] = self._per_batch(mask) > 0
        counts = self._per_batch(visible)
        drawn = int((seen * counts).sum())
        return FramePlan(seen=seen, counts=counts, visible=visible, culled=views * n - drawn)

    def _per_batch(self, mask: Mask) -> Counts:
        counts: Counts = np.bincount(self._batch_of[mask], minlength=len(self.sizes))
        return counts.astype(np.int64)

    def writes(self, plan: FramePlan) -> list[tuple[int, npt.NDArray[np.intp] | None]]:
        """Batches whose instance buffers must be rewritten for ``plan``, with the instance
        indices to write (``None``: all, in order), and records them as held.

        A batch none of whose instances is drawn keeps what it holds."""
        out: list[tuple[int, npt.NDArray[np.intp] | None]] = []
        for b in self._instanced[plan.counts[self._instanced] > 0].tolist():
            held = self._held[b]
            size = int(self.sizes[b])
            if int(plan.counts[b]) == size:
                if held is not None:
                    self._held[b] = None
                    out.append((b, None))
                continue
            start = int(self.starts[b])
            mask = plan.visible[start : start + size]
            if held is not None and np.array_equal(held, mask):
                continue
            self._held[b] = mask.copy()
            out.append((b, np.flatnonzero(mask)))
        return out
