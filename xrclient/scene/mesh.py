"""GPU-ready geometry: flat float32/uint32 arrays, one record per loaded file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from xrclient.scene.textures import Texture

Primitive = Literal["triangles", "points"]


@dataclass(frozen=True, slots=True, eq=False)
class MeshData:
    """One asset flattened into world-of-the-asset coordinates (metres, Y up).

    All parts of the file are merged: their node transforms are baked into the positions
    and each part's material base colour into the per-vertex ``colors`` (linear RGBA), so
    the renderer draws the whole asset with one instanced draw call.

    Textured parts add ``uvs`` (one row per vertex; zeros on untextured parts),
    ``textures`` and ``texture_ranges``: rows ``(first triangle, triangle count, texture
    index or -1)`` covering the triangles in order, each texture's triangles contiguous;
    the renderer draws one range per call. A mesh without textures has ``uvs`` None and no
    ranges, and is drawn with one call.
    """

    name: str
    positions: npt.NDArray[np.float32]  # (V, 3)
    normals: npt.NDArray[np.float32]  # (V, 3), unit length; zeros for unlit points
    colors: npt.NDArray[np.float32]  # (V, 4) linear RGBA
    indices: npt.NDArray[np.uint32]  # (T, 3) for triangles; (0, 3) for points
    primitive: Primitive = "triangles"
    parts: int = 1
    materials: tuple[str, ...] = ()
    uvs: npt.NDArray[np.float32] | None = None  # (V, 2), glTF convention (v = 0 at the top)
    textures: tuple[Texture, ...] = ()
    texture_ranges: npt.NDArray[np.int32] = field(
        default_factory=lambda: np.zeros((0, 3), dtype=np.int32)
    )

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

    @property
    def textured(self) -> bool:
        """Whether some triangles draw a texture (then ``uvs`` is set)."""
        return self.uvs is not None and bool(self.textures)

    def interleaved(self) -> npt.NDArray[np.float32]:
        """Vertex buffer rows ``position(3) normal(3) color(4)``, then ``uv(2)`` when
        :attr:`textured`; float32, C-contiguous."""
        columns = [self.positions, self.normals, self.colors]
        if self.textured and self.uvs is not None:
            columns.append(self.uvs)
        return np.ascontiguousarray(np.concatenate(columns, axis=1), dtype=np.float32)
