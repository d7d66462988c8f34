"""A picture in the world, placed like the billboard batches (shapes, text).

One :class:`WorldImage` shows one picture file (decoded off the frame loop by
:class:`~xrclient.render.image_file.ImageTexture`) as a rectangle in units around a world
anchor, with a world unit clamped in pixels, so it lines up with a panel of shapes and text
that shares its anchor and unit and both eyes of a stereo pair see one picture. It is drawn
through the scene, one draw call per view.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import moderngl
import numpy as np

from xrclient.core.view import View
from xrclient.render.billboards import draw_views, uniform, vec
from xrclient.render.gpu import load_program
from xrclient.render.image_file import ImageTexture


class WorldImage:
    def __init__(self, ctx: moderngl.Context, *, srgb_output: bool = True) -> None:
        self.ctx = ctx
        self._program = load_program(ctx, "image")
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], np.float32)
        self._vbo = ctx.buffer(corners.tobytes())
        self._vao = ctx.vertex_array(
            self._program, [(self._vbo, "2f", "in_corner")], mode=moderngl.TRIANGLE_STRIP
        )
        self.picture = ImageTexture(ctx)
        self.srgb_output = srgb_output
        self.anchor: tuple[float, float, float] | None = None
        self.rect = (0.0, 0.0, 0.0, 0.0)

    @property
    def srgb_output(self) -> bool:
        return self._srgb

    @srgb_output.setter
    def srgb_output(self, value: bool) -> None:
        self._srgb = bool(value)
        self._program["u_srgb"] = self._srgb

    def show(self, path: Path | None) -> None:
        """The picture to show (None: none); call every frame, it loads only a new path."""
        self.picture.show(path)

    def place(
        self,
        anchor: Sequence[float],
        rect: Sequence[float],
        *,
        size: float,
        min_px: float,
        max_px: float,
    ) -> None:
        """Put the picture at ``rect`` (x, y of its bottom-left corner, width, height, in
        units) around the world point ``anchor``; a unit is ``size`` metres, clamped to
        ``min_px..max_px`` pixels."""
        a = vec(anchor, 3, "anchor")
        r = vec(rect, 4, "rect")
        style = vec((size, min_px, max_px), 3, "size, min_px, max_px")
        self.anchor = (float(a[0]), float(a[1]), float(a[2]))
        self.rect = (float(r[0]), float(r[1]), float(r[2]), float(r[3]))
        uniform(self._program, "u_anchor").write(a.tobytes())
        uniform(self._program, "u_rect").write(r.tobytes())
        uniform(self._program, "u_style").write(style.tobytes())

    def draw(self, views: Sequence[View]) -> int:
        texture = self.picture.texture
        if texture is None or self.anchor is None:
            return 0
        texture.use(0)
        uniform(self._program, "u_image").value = 0
        return draw_views(self.ctx, self._vao, 1, views, self._program)

    def release(self) -> None:
        self.picture.release()
        for res in (self._vao, self._vbo, self._program):
            res.release()
