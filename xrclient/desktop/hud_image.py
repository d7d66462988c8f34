"""An image in the HUD: a procedure step's picture (``media``), drawn in window pixels.

The file is untrusted: it must be at most ``MAX_BYTES`` and ``MAX_SIDE`` pixels a side, and
Pillow decodes it (PNG or JPEG) under its own decompression-bomb guard; it is scaled to fit
``FIT_PX`` and uploaded once. A file that cannot be shown leaves a message instead, never
an exception in the frame loop.
"""

from __future__ import annotations

from pathlib import Path

import moderngl
import numpy as np
import numpy.typing as npt

MAX_BYTES = 8 * 1024 * 1024
MAX_SIDE = 8192
FIT_PX = 320

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


def load_image(path: Path, fit: int = FIT_PX) -> npt.NDArray[np.uint8]:
    """RGBA pixels (height, width, 4; top row first) of ``path`` scaled to fit ``fit``
    pixels; raises ``ValueError`` saying why a file cannot be shown."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if size > MAX_BYTES:
        raise ValueError(f"{path.name} is {size} bytes, over the {MAX_BYTES} limit")
    try:
        with Image.open(path) as img:
            if img.format not in ("PNG", "JPEG"):
                raise ValueError(f"{path.name}: expected a PNG or JPEG image, got {img.format}")
            if max(img.size) > MAX_SIDE:
                raise ValueError(f"{path.name}: {img.size[0]}x{img.size[1]} is over {MAX_SIDE}")
            img.thumbnail((fit, fit))
            rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path.name}: not a readable image ({exc})") from None
    return np.ascontiguousarray(rgba)


class HudImage:
    def __init__(self, ctx: moderngl.Context, *, srgb_output: bool = True) -> None:
        self.ctx = ctx
        self.srgb_output = srgb_output
        self._program = ctx.program(vertex_shader=_VERT, fragment_shader=_FRAG)
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], np.float32)
        self._vbo = ctx.buffer(corners.tobytes())
        self._vao = ctx.vertex_array(self._program, [(self._vbo, "2f", "in_corner")])
        self._texture: moderngl.Texture | None = None
        self.path: Path | None = None
        self.size = (0, 0)  # shown width, height in pixels
        self.message = ""  # why the image is not shown

    def show(self, path: Path | None) -> None:
        """Show ``path`` (None: nothing); loads only when the path changes."""
        if path == self.path:
            return
        self.path, self.message, self.size = path, "", (0, 0)
        if self._texture is not None:
            self._texture.release()
            self._texture = None
        if path is None:
            return
        try:
            pixels = load_image(path)
        except ValueError as exc:
            self.message = f"image not shown: {exc}"
            return
        h, w = pixels.shape[:2]
        self._texture = self.ctx.texture((w, h), 4, pixels.tobytes())
        self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.size = (w, h)

    def draw(self, x: float, y: float, window: tuple[int, int]) -> int:
        """Draw with the image's top-left corner at window pixel ``(x, y)`` (y down)."""
        if self._texture is None:
            return 0
        w, h = self.size
        ctx = self.ctx
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        ctx.viewport = (0, 0, *window)
        self._texture.use(0)
        self._program["u_image"].value = 0  # type: ignore[union-attr]
        self._program["u_encoded"].value = self.srgb_output  # type: ignore[union-attr]
        self._program["u_rect"].value = (x, window[1] - y - h, w, h)  # type: ignore[union-attr]
        self._program["u_size"].value = window  # type: ignore[union-attr]
        self._vao.render(moderngl.TRIANGLE_STRIP)
        ctx.disable(moderngl.BLEND)
        return 1

    def release(self) -> None:
        if self._texture is not None:
            self._texture.release()
        for res in (self._vao, self._vbo, self._program):
            res.release()
