"""Mixed reality: choose an environment blend mode and make the background transparent."""

from __future__ import annotations

from collections.abc import Sequence

import moderngl

from xrclient.core.view import View

OPAQUE, ADDITIVE, ALPHA_BLEND = 1, 2, 3  # XrEnvironmentBlendMode

_VERTEX = """
#version 330
const vec2 corners[3] = vec2[3](vec2(-1.0, -1.0), vec2(3.0, -1.0), vec2(-1.0, 3.0));
void main() { gl_Position = vec4(corners[gl_VertexID], 1.0, 1.0); }
"""
_FRAGMENT = """
#version 330
out vec4 f_color;
void main() { f_color = vec4(0.0); }
"""


def choose_blend_mode(offered: Sequence[int], mixed_reality: bool) -> int:
    """The blend mode to submit frames with: for mixed reality the runtime's alpha-blend or
    additive mode (in that order), else opaque (the runtime's first if it lacks opaque)."""
    if mixed_reality:
        for mode in (ALPHA_BLEND, ADDITIVE):
            if mode in offered:
                return mode
    if OPAQUE in offered or not offered:
        return OPAQUE
    return int(offered[0])


class TransparentBackground:
    """After the scene is drawn: set alpha to 0 wherever nothing was drawn (depth still at
    the far plane), so an alpha-blend compositor shows the real world there; the clear
    colour is black, which an additive display shows as see-through."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.vao = ctx.vertex_array(self.program, [])

    def apply(self, views: Sequence[View]) -> None:
        ctx = self.ctx
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.depth_func = "=="
        try:
            for view in views:
                fbo = view.framebuffer if view.framebuffer is not None else ctx.fbo
                fbo.use()
                ctx.viewport = view.viewport
                fbo.color_mask = (False, False, False, True)
                fbo.depth_mask = False
                try:
                    self.vao.render(moderngl.TRIANGLES, vertices=3)
                finally:
                    fbo.color_mask = (True, True, True, True)
                    fbo.depth_mask = True
        finally:
            ctx.depth_func = "<"

    def release(self) -> None:
        self.vao.release()
        self.program.release()
