"""Remote participants, annotation pins and pings, drawn over the scene.

``Avatars`` owns a small flat-shaded mesh (rebuilt on the CPU each ``update``: a few boxes
per participant, so a few hundred triangles for a full room) and the billboard batches
for name tags, pins and ping markers. A headset (or headless) participant is a head with
a visor, hands when tracked, and a laser along its pointer ray while pointing; a desktop
participant is a camera-frustum avatar at its camera pose. Everything takes the
participant's role colour. Pins are pixel-sized dots in the annotation's colour with a
short label; pings pulse, drawn through the scene, and when a view is given to
``update`` and a ping is off screen an arrow on the screen border points toward it.

Use: build once with the context and font, ``update(participants, annotations, pings)``
once per frame (e.g. from ``xrclient.session.Session``), then ``draw(views)`` after the
scene, like ``Overlays.draw``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.backends.base import View
from xrclient.core import math3d
from xrclient.render.font import SdfFont
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch
from xrclient.session import PingMarker, PlacedAnnotation, RemoteParticipant, screen_indicator

F32 = npt.NDArray[np.float32]

LASER_LENGTH = 8.0  # metres
LASER_PX = 3.0  # lasers and frustum edges keep a width in pixels at any distance
EDGE_PX = 2.0
HEAD = (0.18, 0.22, 0.2)  # width, height, depth (metres)
HAND = (0.07, 0.05, 0.1)
VISOR = (0.005, 0.06, 0.0)  # thickness, height, forward offset
FRUSTUM_DEPTH = 0.35
FRUSTUM_HALF = (0.2, 0.12)
DARK = (0.08, 0.08, 0.1, 1.0)
MAX_LABEL = 40

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


def _rotation(quat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return math3d.quat_matrix(np.asarray(quat, np.float64).tolist())[:3, :3].astype(np.float64)


class _Mesh:
    """Boxes and lines collected for one frame, as vertex arrays."""

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

    def array(self) -> F32:
        if not self.parts:
            return np.zeros((0, _STRIDE), np.float32)
        return np.concatenate(self.parts).astype(np.float32)


def _lighter(color: Sequence[float], by: float = 0.45) -> tuple[float, float, float, float]:
    r, g, b = (c + (1.0 - c) * by for c in color[:3])
    return r, g, b, 1.0


def _hex_rgba(text: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    return int(text[1:3], 16) / 255, int(text[3:5], 16) / 255, int(text[5:7], 16) / 255, alpha


class Avatars:
    def __init__(self, ctx: moderngl.Context, font: SdfFont, *, srgb_output: bool = True) -> None:
        self.ctx = ctx
        self.text = TextBatch(ctx, font, outline_px=1.5, srgb_output=srgb_output)
        self.shapes = ShapeBatch(ctx, srgb_output=srgb_output)
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
        self.srgb_output = srgb_output
        self._tags: dict[int, tuple[int, str]] = {}  # pid -> (text handle, text)
        self._pins: list[int] = []
        self._pins_of: Sequence[PlacedAnnotation] | None = None
        self._pin_labels: list[int] = []
        self._pings: list[int] = []
        self._arrows: list[int] = []
        #: what the last update drew, for tests and HUDs
        self.lasers: list[tuple[tuple[float, ...], tuple[float, ...]]] = []
        self.draw_calls = 0

    def _make_line_vao(self) -> moderngl.VertexArray:
        return self.ctx.vertex_array(
            self._line_program,
            [(self._line_vbo, _LINE_FORMAT, "in_a", "in_b", "in_end_side", "in_width", "in_color")],
        )

    def _make_vao(self) -> moderngl.VertexArray:
        return self.ctx.vertex_array(
            self._program, [(self._vbo, "3f 3f 4f", "in_pos", "in_normal", "in_color")]
        )

    # -- per frame -------------------------------------------------------------------------

    def update(
        self,
        participants: Sequence[RemoteParticipant],
        annotations: Sequence[PlacedAnnotation] = (),
        pings: Sequence[PingMarker] = (),
        view: View | None = None,
    ) -> None:
        """Rebuild from the session's state; with ``view``, off-screen pings get arrows."""
        mesh = _Mesh()
        self.lasers = []
        seen: set[int] = set()
        for p in participants:
            if p.pose is None:
                continue
            seen.add(p.pid)
            self._participant(mesh, p)
            top = p.pose.head[:3] + np.array([0.0, HEAD[1] * 0.5 + 0.12, 0.0])
            self._tag(p.pid, p.name, top, p.color)
        for pid in list(self._tags):
            if pid not in seen:
                self.text.remove(self._tags.pop(pid)[0])
        self._upload(mesh.array())
        self._upload_lines(mesh.line_array())
        self._update_pins(annotations)
        self._update_pings(pings, view)

    def _participant(self, mesh: _Mesh, p: RemoteParticipant) -> None:
        assert p.pose is not None
        head = p.pose.head
        rot = _rotation(head[3:7])
        pos = head[:3]
        if p.device == "desktop":
            self._frustum(mesh, pos, rot, p.color)
        else:
            mesh.box(pos, rot, HEAD, p.color)
            visor = pos + rot @ np.array([0.0, 0.02, -HEAD[2] / 2 - VISOR[0]])
            mesh.box(visor, rot, (HEAD[0] * 0.85, VISOR[1], VISOR[0] * 2), DARK)
        for hand in (p.pose.left, p.pose.right):
            if hand is not None:
                mesh.box(hand[:3], _rotation(hand[3:7]), HAND, p.color)
        if p.pose.point is not None:
            origin = p.pose.point[:3].astype(np.float64)
            d = p.pose.point[3:6].astype(np.float64)
            d /= max(float(np.linalg.norm(d)), 1e-9)
            end = origin + d * LASER_LENGTH
            mesh.line(origin, end, LASER_PX, _lighter(p.color))
            self.lasers.append((tuple(origin.tolist()), tuple(end.tolist())))

    def _frustum(
        self,
        mesh: _Mesh,
        pos: npt.NDArray[np.float64],
        rot: npt.NDArray[np.float64],
        color: Sequence[float],
    ) -> None:
        """A camera: a small body at the eye and the edges of its view pyramid (-z)."""
        mesh.box(pos, rot, (0.12, 0.09, 0.09), color)
        hx, hy = FRUSTUM_HALF
        corners = [
            pos + rot @ np.array([sx * hx, sy * hy, -FRUSTUM_DEPTH])
            for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
        ]
        for k, c in enumerate(corners):
            mesh.line(pos, c, EDGE_PX, color)
            mesh.line(c, corners[(k + 1) % 4], EDGE_PX, color)

    def _tag(
        self, pid: int, name: str, at: npt.NDArray[np.float64], color: Sequence[float]
    ) -> None:
        anchor = [float(x) for x in at]
        handle, shown = self._tags.get(pid, (-1, ""))
        if handle < 0:
            handle = self.text.add(
                name, anchor, size=14.0, color=_lighter(color, 0.3), align="center", valign="bottom"
            )
            self._tags[pid] = (handle, name)
            return
        if shown != name:
            self.text.set_text(handle, name)
            self._tags[pid] = (handle, name)
        self.text.set_anchors([handle], [anchor])

    def _update_pins(self, annotations: Sequence[PlacedAnnotation]) -> None:
        if annotations is self._pins_of:  # ``Session`` makes a new list only on a change
            return
        self._pins_of = annotations
        if self._pins:
            self.shapes.remove(self._pins)
        for h in self._pin_labels:
            self.text.remove(h)
        self._pins, self._pin_labels = [], []
        for placed in annotations:
            if placed.position is None:
                continue
            a = placed.annotation
            alpha = 0.5 if a.status == "resolved" else 1.0
            self._pins.append(
                self.shapes.add_circle(
                    placed.position,
                    (0.0, 0.0),
                    0.5,
                    size=16.0,
                    color=_hex_rgba(a.color, alpha),
                    border=0.12,
                    border_color=(0.05, 0.05, 0.05, alpha),
                )
            )
            label = a.text if len(a.text) <= MAX_LABEL else a.text[: MAX_LABEL - 1] + "…"
            if label:
                self._pin_labels.append(
                    self.text.add(
                        label.replace("\n", " "),
                        placed.position,
                        size=12.0,
                        color=(1.0, 1.0, 1.0, alpha),
                        align="left",
                        valign="middle",
                        offset=(0.9, 0.0),
                    )
                )

    def _update_pings(self, pings: Sequence[PingMarker], view: View | None) -> None:
        if self._pings or self._arrows:
            self.shapes.remove(self._pings + self._arrows)
        self._pings, self._arrows = [], []
        for ping in pings:
            self._pings.append(
                self.shapes.add_circle(
                    ping.position,
                    (0.0, 0.0),
                    0.5,
                    size=28.0,
                    color=ping.color,
                    pulse=True,
                    through=True,
                    border=0.15,
                    border_color=(1.0, 1.0, 1.0, 1.0),
                )
            )
            if view is not None:
                self._arrow(view, ping)

    def _arrow(self, view: View, ping: PingMarker) -> None:
        vp = view.view_projection.astype(np.float64)
        x, y, angle, on_screen = screen_indicator(vp, view.viewport, ping.position)
        if on_screen:
            return
        x0, y0, w, h = view.viewport
        ndc = np.array([(x - x0) / w * 2 - 1, (y - y0) / h * 2 - 1, 0.0, 1.0])
        world = np.linalg.inv(vp) @ ndc
        anchor = (world[:3] / world[3]).tolist()
        ux, uy = math.cos(angle), math.sin(angle)
        tip = np.array([ux, uy])
        back = np.array([-uy, ux]) * 0.6
        points = [tip * 0.2 - tip + back, tip * 0.2, tip * 0.2 - tip - back]
        self._arrows.append(
            self.shapes.add_polyline(
                anchor, points, thickness=0.35, size=20.0, color=ping.color, through=True
            )
        )

    def _upload(self, vertices: F32) -> None:
        n = len(vertices)
        if n > self._capacity:
            self._capacity = max(n, self._capacity * 2)
            self._vbo.orphan(self._capacity * _STRIDE * 4)
            self._vao.release()
            self._vao = self._make_vao()
        if n:
            self._vbo.write(np.ascontiguousarray(vertices).tobytes())
        self._vertices = n

    def _upload_lines(self, vertices: F32) -> None:
        n = len(vertices)
        if n > self._line_capacity:
            self._line_capacity = max(n, self._line_capacity * 2)
            self._line_vbo.orphan(self._line_capacity * _LINE_STRIDE * 4)
            self._line_vao.release()
            self._line_vao = self._make_line_vao()
        if n:
            self._line_vbo.write(np.ascontiguousarray(vertices).tobytes())
        self._line_vertices = n

    # -- drawing -----------------------------------------------------------------------------

    def draw(self, views: Sequence[View], now: float = 0.0) -> int:
        """Draw into ``views`` after the scene (depth-tested against it); returns calls."""
        calls = 0
        if (self._vertices or self._line_vertices) and views:
            ctx = self.ctx
            ctx.enable(moderngl.DEPTH_TEST)
            ctx.disable(moderngl.CULL_FACE)
            for program in (self._program, self._line_program):
                program["u_encoded"].value = self.srgb_output  # type: ignore[union-attr]
            default_target = ctx.fbo
            for view in views:
                target = view.framebuffer if view.framebuffer is not None else default_target
                target.use()
                ctx.viewport = view.viewport
                vp = np.ascontiguousarray(view.view_projection.T, np.float32)
                if self._vertices:
                    self._program["u_vp"].write(vp)  # type: ignore[union-attr]
                    self._vao.render(moderngl.TRIANGLES, vertices=self._vertices)
                    calls += 1
                if self._line_vertices:
                    self._line_program["u_vp"].write(vp)  # type: ignore[union-attr]
                    size = (view.viewport[2] / 2.0, view.viewport[3] / 2.0)
                    self._line_program["u_viewport"].value = size  # type: ignore[union-attr]
                    self._line_vao.render(moderngl.TRIANGLES, vertices=self._line_vertices)
                    calls += 1
        calls += self.shapes.draw(views, now)
        calls += self.text.draw(views)
        self.draw_calls += calls
        return calls

    def release(self) -> None:
        self.text.release()
        self.shapes.release()
        for res in (
            self._vao,
            self._vbo,
            self._program,
            self._line_vao,
            self._line_vbo,
            self._line_program,
        ):
            res.release()
