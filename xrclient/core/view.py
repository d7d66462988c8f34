"""What every backend hands the renderer: views (pose, projection, viewport, target).

A plain value (no GL): picking, overlay layout and cameras read it as well as the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xrclient.core.math3d import F32


@dataclass(frozen=True, slots=True, eq=False)
class View:
    """One eye or one window: where to draw and from where.

    ``view`` maps world to view space and ``projection`` view to OpenGL clip space (depth
    -1..1); both are row-major float32 4x4 for column vectors, as in :mod:`math3d`.
    ``viewport`` is ``(x, y, width, height)`` in the target framebuffer, origin bottom-left.
    ``framebuffer`` is a ``moderngl.Framebuffer``; ``None`` draws into the framebuffer bound
    when the renderer's ``draw`` starts (the backend's target).
    """

    view: F32
    projection: F32
    viewport: tuple[int, int, int, int]
    #: a ``moderngl.Framebuffer``; typed loosely because core imports no GL
    framebuffer: Any = None

    def __post_init__(self) -> None:
        for name in ("view", "projection"):
            m = getattr(self, name)
            if not isinstance(m, np.ndarray) or m.shape != (4, 4):
                raise ValueError(f"View.{name} must be a 4x4 array")
        if self.viewport[2] <= 0 or self.viewport[3] <= 0:
            raise ValueError(f"View.viewport must have a positive size, got {self.viewport}")

    @property
    def view_projection(self) -> F32:
        """Clip-from-world matrix ``projection @ view`` (float32)."""
        return (self.projection @ self.view).astype(np.float32)

    @property
    def eye_position(self) -> tuple[float, float, float]:
        """The camera position in world space (from the rigid ``view`` matrix)."""
        rot = self.view[:3, :3].astype(np.float64)
        eye = -rot.T @ self.view[:3, 3].astype(np.float64)
        return float(eye[0]), float(eye[1]), float(eye[2])

    @property
    def aspect(self) -> float:
        return self.viewport[2] / self.viewport[3]
