"""An image in the HUD: a procedure step's picture (``media``), drawn in window pixels.

The file is checked and decoded off the frame loop by
:class:`~xrclient.render.image_file.ImageTexture`; one that cannot be shown leaves a message
instead.
"""

from __future__ import annotations

from pathlib import Path

import moderngl
import numpy as np

from xrclient.render.image_file import ImageTexture

_VERT = """
#version 330
uniform vec4 u_rect;  // x, y (bottom-left), width, height in pixels
uniform vec2 u_size;  // window size in pixels
in vec2 in_corner;
out vec2 v_uv;
void main() {
    vec2 p = u_rect.xy + in_corner * u_rect.zw;
    gl_Position = vec4(p / u_size * 2.0 - 1.0, 0.0, 1.0);
    v_uv = vec2(in_corner.x, 1.0 - in_corner.y);
}
"""
_FRAG = """
#version 330
uniform sampler2D u_image;
uniform bool u_encoded;
in vec2 v_uv;
out vec4 f_color;
void main() {
    vec4 c = texture(u_image, v_uv);
    vec3 lin = mix(c.rgb / 12.92, pow((c.rgb + 0.055) / 1.055, vec3(2.4)), step(0.04045, c.rgb));
    f_color = vec4(u_encoded ? c.rgb : lin, c.a);
}
"""


class HudImage:
    def __init__(self, ctx: moderngl.Context, *, srgb_output: bool = True) -> None:
        self.ctx = ctx
        self.srgb_output = srgb_output
        self._program = ctx.program(vertex_shader=_VERT, fragment_shader=_FRAG)
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], np.float32)
        self._vbo = ctx.buffer(corners.tobytes())
        self._vao = ctx.vertex_array(self._program, [(self._vbo, "2f", "in_corner")])
        self._picture = ImageTexture(ctx)

    @property
    def size(self) -> tuple[int, int]:
        """Shown width, height in pixels ((0, 0) while loading or not shown)."""
        return self._picture.size

    @property
    def message(self) -> str:
        """Why the image is not shown ('' while it is or is loading)."""
        return self._picture.message

    def show(self, path: Path | None) -> None:
        """Show ``path`` (None: nothing); call every frame, it loads only a new path."""
        self._picture.show(path)

    def draw(self, x: float, y: float, window: tuple[int, int]) -> int:
        """Draw with the image's top-left corner at window pixel ``(x, y)`` (y down)."""
        texture = self._picture.texture
        if texture is None:
            return 0
        w, h = self.size
        ctx = self.ctx
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        ctx.viewport = (0, 0, *window)
        texture.use(0)
        self._program["u_image"].value = 0  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
        self._program["u_encoded"].value = self.srgb_output  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
        self._program["u_rect"].value = (x, window[1] - y - h, w, h)  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
        self._program["u_size"].value = window  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
        self._vao.render(moderngl.TRIANGLE_STRIP)
        ctx.disable(moderngl.BLEND)
        return 1

    def release(self) -> None:
        self._picture.release()
        for res in (self._vao, self._vbo, self._program):
            res.release()
