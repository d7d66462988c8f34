"""Per-machine visual state (tint, emissive, highlight) in one float32 array.

The array is laid out exactly as the renderer's RGBA32F visuals texture, so a frame uploads
it with a single write and no copy:

* the texture is ``TEXTURE_WIDTH`` (= ``ROW * TEXELS``) texels wide and ``rows`` tall;
* machine ``m`` lives in row ``m // ROW``, texels ``2 * (m % ROW)`` and ``2 * (m % ROW) + 1``;
* texel 0 is the tint: linear RGB and a strength 0..1 that mixes the base colour toward it;
* texel 1 is the emissive linear RGB (added after lighting) and the highlight 0..1 in alpha.

``data`` has shape ``(rows * ROW, TEXELS, 4)``; ``tint``, ``emissive`` and ``highlight``
are views into it, so writing them (vectorised, by machine index) writes the upload buffer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: machines per texture row
ROW = 1024
#: RGBA texels per machine
TEXELS = 2
#: texture width in texels
TEXTURE_WIDTH = ROW * TEXELS

Indices = int | Sequence[int] | npt.NDArray[np.integer] | npt.NDArray[np.bool_] | slice


def rows_for(count: int) -> int:
    """Texture rows needed for ``count`` machines (at least one)."""
    if count < 0:
        raise ValueError(f"machine count must be >= 0, got {count}")
    return max(1, -(-count // ROW))


class MachineVisuals:
    """Tint, emissive and highlight of ``count`` machines, indexed like ``scene.machines``."""

    __slots__ = ("count", "data", "emissive", "highlight", "rows", "tint")

    def __init__(self, count: int) -> None:
        self.count = count
        self.rows = rows_for(count)
        self.data: npt.NDArray[np.float32] = np.zeros((self.rows * ROW, TEXELS, 4), np.float32)
        #: (count, 4) view: linear RGB + strength 0..1
        self.tint: npt.NDArray[np.float32] = self.data[:count, 0, :]
        #: (count, 3) view: linear RGB added after lighting
        self.emissive: npt.NDArray[np.float32] = self.data[:count, 1, :3]
        #: (count,) view: selection highlight 0..1
        self.highlight: npt.NDArray[np.float32] = self.data[:count, 1, 3]

    @property
    def texture_size(self) -> tuple[int, int]:
        """(width, height) in texels of the texture ``data`` uploads into."""
        return TEXTURE_WIDTH, self.rows

    def reset(self) -> None:
        """Back to no tint, no emissive, no highlight."""
        self.data.fill(0.0)

    def set_tint(
        self, machines: Indices, rgb: Sequence[float], strength: float | npt.ArrayLike = 1.0
    ) -> None:
        """Tint ``machines`` (an index, indices, a mask or a slice) toward linear ``rgb``."""
        self.tint[machines, :3] = rgb
        self.tint[machines, 3] = strength
