"""Lines drawn in the world for the hands: lasers, the teleport arc and its target ring."""

from __future__ import annotations

import math
from collections.abc import Sequence

import moderngl
import numpy as np

from xrclient.core.color import srgb_to_linear
from xrclient.core.view import View
from xrclient.xr.controls import ControlsOutput
from xrclient.xr.poses import F64, Vec

MAX_VERTICES = 4096
LASER = (0.35, 0.85, 1.0, 1.0)
LASER_HIT = (1.0, 0.72, 0.2, 1.0)
ARC = (0.4, 1.0, 0.5, 1.0)
NO_TARGET = (1.0, 0.35, 0.3, 1.0)

#: flat-coloured world-space triangles and lines (also the timeline card)
FLAT_VERTEX = """
#version 330
uniform mat4 u_view_proj;
in vec3 in_position;
in vec4 in_color;
out vec4 v_color;
void main() {
    v_color = in_color;
    gl_Position = u_view_proj * vec4(in_position, 1.0);
}
"""
FLAT_FRAGMENT = """
#version 330
in vec4 v_color;
out vec4 f_color;
void main() { f_color = v_color; }
"""


def _segments(points: F64) -> F64:
    """A polyline (N, 3) as N-1 line segments (2N-2, 3)."""
    return np.repeat(points, 2, axis=0)[1:-1]


def ring(center: Vec, radius: float, n: int = 32) -> F64:
    a = np.linspace(0.0, 2.0 * math.pi, n + 1)
    c = np.asarray(center, np.float64)
    return np.stack(
        [c[0] + radius * np.cos(a), np.full_like(a, c[1] + 0.01), c[2] + radius * np.sin(a)], axis=1
    )


def marker_lines(out: ControlsOutput) -> tuple[F64, F64]:
    """``(positions (M, 3), colours (M, 4))`` of the line segments to draw."""
    pos: list[F64] = []
    col: list[F64] = []

    def add(points: F64, rgba: Sequence[float]) -> None:
        seg = _segments(np.asarray(points, np.float64).reshape(-1, 3))
        pos.append(seg)
        col.append(np.tile(np.asarray(rgba, np.float64), (len(seg), 1)))

    for laser in out.lasers:
        on_something = laser.machine is not None or laser.panel is not None
        add(np.stack([laser.start, laser.end]), LASER_HIT if on_something else LASER)
    if out.arc is not None and len(out.arc) > 1:
        add(out.arc, ARC if out.target is not None else NO_TARGET)
    if out.target is not None:
        add(ring(out.target, 0.35), ARC)
        add(ring(out.target, 0.15), ARC)
    if not pos:
        return np.zeros((0, 3)), np.zeros((0, 4))
    return np.concatenate(pos)[:MAX_VERTICES], np.concatenate(col)[:MAX_VERTICES]


class Markers:
    def __init__(self, ctx: moderngl.Context, *, srgb_output: bool = True) -> None:
        self.ctx = ctx
        self.srgb_output = srgb_output
        self.program = ctx.program(vertex_shader=FLAT_VERTEX, fragment_shader=FLAT_FRAGMENT)
        self.vbo = ctx.buffer(reserve=MAX_VERTICES * 7 * 4, dynamic=True)
        self.vao = ctx.vertex_array(self.program, [(self.vbo, "3f 4f", "in_position", "in_color")])
        self.count = 0
        view_proj = self.program["u_view_proj"]
        assert isinstance(view_proj, moderngl.Uniform)
        self._view_proj = view_proj

    def update(self, out: ControlsOutput) -> int:
        pos, col = marker_lines(out)
        if not self.srgb_output and len(col):
            col = col.copy()
            col[:, :3] = srgb_to_linear(col[:, :3])
        data = np.hstack([pos, col]).astype(np.float32)
        self.count = len(data)
        if self.count:
            self.vbo.write(data.tobytes())
        return self.count

    def draw(self, views: Sequence[View]) -> None:
        if not self.count:
            return
        self.ctx.enable(moderngl.DEPTH_TEST)
        for view in views:
            if view.framebuffer is not None:
                view.framebuffer.use()
            self.ctx.viewport = view.viewport
            self._view_proj.write(view.view_projection.T.tobytes())
            self.vao.render(moderngl.LINES, vertices=self.count)

    def release(self) -> None:
        self.vao.release()
        self.vbo.release()
        self.program.release()
