"""GPU-ready geometry: flat float32/uint32 arrays, one record per loaded file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Primitive = Literal["triangles", "points"]


@dataclass(frozen=True, slots=True, eq=False)
class MeshData:
    """One asset flattened into world-of-the-asset coordinates (metres, Y up).

    All parts of the file are merged: their node transforms are baked into the positions
    and each part's material base colour into the per-vertex ``colors`` (linear RGBA), so
    the renderer draws the whole asset with one instanced draw call.
    """

    name: str
    positions: npt.NDArray[np.float32]  # (V, 3)
    normals: npt.NDArray[np.float32]  # (V, 3), unit length; zeros for unlit points
    colors: npt.NDArray[np.float32]  # (V, 4) linear RGBA
    indices: npt.NDArray[np.uint32]  # (T, 3) for triangles; (0, 3) for points
    primitive: Primitive = "triangles"
    parts: int = 1
    materials: tuple[str, ...] = ()

    @property
    def vertex_count(self) -> int:
        return int(self.positions.shape[0])

    @property
    def triangle_count(self) -> int:
        return int(self.indices.shape[0]) if self.primitive == "triangles" else 0

    @property
    def bounds(self) -> npt.NDArray[np.float32]:
        """Axis-aligned bounds ((min x, y, z), (max x, y, z)); zeros when empty."""
        if self.positions.shape[0] == 0:
            return np.zeros((2, 3), dtype=np.float32)
        return np.stack([self.positions.min(axis=0), self.positions.max(axis=0)])

    def interleaved(self) -> npt.NDArray[np.float32]:
        """Vertex buffer rows ``position(3) normal(3) color(4)``, float32, C-contiguous."""
        return np.ascontiguousarray(
            np.concatenate([self.positions, self.normals, self.colors], axis=1), dtype=np.float32
        )
