"""Small flat-shaded meshes and screen-space thick lines, rebuilt on the CPU per update.

What the scene's renderer does not own but still needs real geometry: avatars (boxes for
heads and hands, laser and frustum lines) and training hazard zones (translucent volumes
and their outlines). A :class:`MeshBuilder` collects boxes, triangles and lines for one
update; :meth:`MeshBatch.upload` sends them in one write and :meth:`MeshBatch.draw` draws
them into every view after the scene, depth-tested against it. Lines keep a width in pixels
at any distance; their ends behind the viewer are clipped to just in front. Colours are
display (sRGB-encoded) RGBA; translucent parts blend over the scene without writing depth.
"""

from __future__ import annotations

from collections.abc import Sequence

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.view import View

F32 = npt.NDArray[np.float32]

_VERT = """
#version 330
uniform mat4 u_vp;
in vec3 in_pos;
in vec3 in_normal;
in vec4 in_color;
out vec4 v_color;
out vec3 v_normal;
void main() {
    v_color = in_color;
    v_normal = in_normal;
    gl_Position = u_vp * vec4(in_pos, 1.0);
}
"""
_FRAG = """
#version 330
uniform bool u_encoded;
in vec4 v_color;
in vec3 v_normal;
out vec4 f_color;
vec3 to_linear(vec3 c) {
    return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c));
}
void main() {
    float light = 0.65 + 0.35 * abs(dot(normalize(v_normal), normalize(vec3(0.3, 0.9, 0.4))));
    vec3 c = v_color.rgb * light;
    f_color = vec4(u_encoded ? c : to_linear(c), v_color.a);
}
"""

# screen-space thick lines (lasers, frustum edges): each segment is a quad whose corners
# are pushed sideways in pixels; ends behind the viewer are clipped to just in front
_LINE_VERT = """
#version 330
uniform mat4 u_vp;
uniform vec2 u_viewport;
in vec3 in_a;
in vec3 in_b;
in vec2 in_end_side;
in float in_width;
in vec4 in_color;
out vec4 v_color;
void main() {
    vec4 a = u_vp * vec4(in_a, 1.0);
    vec4 b = u_vp * vec4(in_b, 1.0);
    const float near = 1e-3;
    if (a.w < near && b.w < near) {
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
        v_color = vec4(0.0);
        return;
    }
    if (a.w < near) a = mix(a, b, (near - a.w) / (b.w - a.w));
    if (b.w < near) b = mix(b, a, (near - b.w) / (a.w - b.w));
    vec2 sa = a.xy / a.w * u_viewport, sb = b.xy / b.w * u_viewport;
    vec2 d = sb - sa;
    vec2 n = length(d) > 1e-6 ? normalize(vec2(-d.y, d.x)) : vec2(0.0, 1.0);
    vec4 p = in_end_side.x > 0.5 ? b : a;
    p.xy += n * in_end_side.y * in_width / u_viewport * p.w;
    gl_Position = p;
    v_color = in_color;
}
"""
_LINE_FRAG = """
#version 330
uniform bool u_encoded;
in vec4 v_color;
out vec4 f_color;
void main() {
    vec3 c = v_color.rgb;
    vec3 lin = mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c));
    f_color = vec4(u_encoded ? c : lin, v_color.a);
}
"""
# (end, side) of the six corners of a segment's two triangles
_LINE_CORNERS = np.array([[0, -1], [1, -1], [1, 1], [0, -1], [1, 1], [0, 1]], np.float64)
_LINE_STRIDE = 13  # a 3, b 3, end and side 2, half width 1, colour 4
_LINE_FORMAT = "3f 3f 2f 1f 4f"

# a unit cube: 6 faces x 2 triangles, corners in -0.5..0.5, with face normals
_FACES = (
    np.array(
        [
            [[1, -1, -1], [1, 1, -1], [1, 1, 1], [1, -1, 1]],
            [[-1, -1, 1], [-1, 1, 1], [-1, 1, -1], [-1, -1, -1]],
            [[-1, 1, -1], [-1, 1, 1], [1, 1, 1], [1, 1, -1]],
            [[-1, -1, 1], [-1, -1, -1], [1, -1, -1], [1, -1, 1]],
            [[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
            [[1, -1, -1], [-1, -1, -1], [-1, 1, -1], [1, 1, -1]],
        ],
        np.float64,
    )
    * 0.5
)
_CUBE = _FACES[:, [0, 1, 2, 0, 2, 3]].reshape(-1, 3)
_CUBE_N = np.repeat(
    np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float64),
    6,
    axis=0,
)
_STRIDE = 10  # position 3, normal 3, colour 4


class MeshBuilder:
    """Boxes, quads and lines collected for one frame, as vertex arrays."""

    def __init__(self) -> None:
        self.parts: list[npt.NDArray[np.float64]] = []
        self.lines: list[npt.NDArray[np.float64]] = []

    def line(
        self, a: npt.ArrayLike, b: npt.ArrayLike, width_px: float, color: Sequence[float]
    ) -> None:
        out = np.empty((6, 13))
        out[:, 0:3], out[:, 3:6] = np.asarray(a, np.float64), np.asarray(b, np.float64)
        out[:, 6:8], out[:, 8], out[:, 9:13] = _LINE_CORNERS, width_px / 2, color
        self.lines.append(out)

    def line_array(self) -> F32:
        if not self.lines:
            return np.zeros((0, 13), np.float32)
        return np.concatenate(self.lines).astype(np.float32)

    def box(
        self,
        center: npt.ArrayLike,
        rot: npt.NDArray[np.float64],
        size: Sequence[float],
        color: Sequence[float],
    ) -> None:
        pos = (_CUBE * np.asarray(size)) @ rot.T + np.asarray(center)
        normals = _CUBE_N @ rot.T
        out = np.empty((36, _STRIDE))
        out[:, 0:3], out[:, 3:6], out[:, 6:10] = pos, normals, color
        self.parts.append(out)

    def triangles(
        self,
        points: npt.ArrayLike,
        normal: Sequence[float],
        color: Sequence[float],
    ) -> None:
        """Flat triangles, three points each, sharing one normal and colour."""
        pos = np.asarray(points, np.float64).reshape(-1, 3)
        out = np.empty((len(pos), _STRIDE))
        out[:, 0:3], out[:, 3:6], out[:, 6:10] = pos, normal, color
        self.parts.append(out)

    def polyline(
        self, points: npt.ArrayLike, width_px: float, color: Sequence[float], closed: bool = False
    ) -> None:
        p = np.asarray(points, np.float64).reshape(-1, 3)
        ends = np.roll(p, -1, axis=0) if closed else p[1:]
        for a, b in zip(p, ends, strict=False):
            self.line(a, b, width_px, color)

    def array(self) -> F32:
        if not self.parts:
            return np.zeros((0, _STRIDE), np.float32)
        return np.concatenate(self.parts).astype(np.float32)


class MeshBatch:
    def __init__(self, ctx: moderngl.Context, *, srgb_output: bool = True) -> None:
        self.ctx = ctx
        self.srgb_output = srgb_output
        self._program = ctx.program(vertex_shader=_VERT, fragment_shader=_FRAG)
        self._line_program = ctx.program(vertex_shader=_LINE_VERT, fragment_shader=_LINE_FRAG)
        self._line_capacity = 6 * 64
        self._line_vbo = ctx.buffer(reserve=self._line_capacity * _LINE_STRIDE * 4)
        self._line_vao = self._make_line_vao()
        self._line_vertices = 0
        self._capacity = 36 * 64
        self._vbo = ctx.buffer(reserve=self._capacity * _STRIDE * 4)
        self._vao = self._make_vao()
        self._vertices = 0
        self._translucent = False

    def _make_line_vao(self) -> moderngl.VertexArray:
        return self.ctx.vertex_array(
            self._line_program,
            [(self._line_vbo, _LINE_FORMAT, "in_a", "in_b", "in_end_side", "in_width", "in_color")],
        )

    def _make_vao(self) -> moderngl.VertexArray:
        return self.ctx.vertex_array(
            self._program, [(self._vbo, "3f 3f 4f", "in_pos", "in_normal", "in_color")]
        )

    @property
    def empty(self) -> bool:
        return not (self._vertices or self._line_vertices)

    def upload(self, mesh: MeshBuilder) -> None:
        """Replace what is drawn with ``mesh``."""
        vertices, lines = mesh.array(), mesh.line_array()
        self._translucent = bool(len(vertices)) and bool((vertices[:, 9] < 1.0).any())
        n = len(vertices)
        if n > self._capacity:
            self._capacity = max(n, self._capacity * 2)
            self._vbo.orphan(self._capacity * _STRIDE * 4)
            self._vao.release()
            self._vao = self._make_vao()
        if n:
            self._vbo.write(np.ascontiguousarray(vertices).tobytes())
        self._vertices = n
        n = len(lines)
        if n > self._line_capacity:
            self._line_capacity = max(n, self._line_capacity * 2)
            self._line_vbo.orphan(self._line_capacity * _LINE_STRIDE * 4)
            self._line_vao.release()
            self._line_vao = self._make_line_vao()
        if n:
            self._line_vbo.write(np.ascontiguousarray(lines).tobytes())
        self._line_vertices = n

    def draw(self, views: Sequence[View]) -> int:
        """Draw into ``views`` after the scene (depth-tested against it); returns calls."""
        if self.empty or not views:
            return 0
        calls = 0
        ctx = self.ctx
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        if self._translucent:
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        for program in (self._program, self._line_program):
            program["u_encoded"].value = self.srgb_output  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
        default_target = ctx.fbo
        for view in views:
            target = view.framebuffer if view.framebuffer is not None else default_target
            target.use()
            ctx.viewport = view.viewport
            vp = np.ascontiguousarray(view.view_projection.T, np.float32)
            if self._vertices:
                self._program["u_vp"].write(vp)  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
                if self._translucent:
                    target.depth_mask = False
                self._vao.render(moderngl.TRIANGLES, vertices=self._vertices)
                target.depth_mask = True
                calls += 1
            if self._line_vertices:
                self._line_program["u_vp"].write(vp)  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
                size = (view.viewport[2] / 2.0, view.viewport[3] / 2.0)
                self._line_program["u_viewport"].value = size  # type: ignore[union-attr]  # moderngl types program[name] as any member kind; this one is a uniform
                self._line_vao.render(moderngl.TRIANGLES, vertices=self._line_vertices)
                calls += 1
        if self._translucent:
            ctx.disable(moderngl.BLEND)
        return calls

    def release(self) -> None:
        for res in (
            self._vao,
            self._vbo,
            self._program,
            self._line_vao,
            self._line_vbo,
            self._line_program,
        ):
            res.release()
