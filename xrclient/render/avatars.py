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

from xrclient.core import math3d
from xrclient.core.session_view import (
    PingMarker,
    PlacedAnnotation,
    RemoteParticipant,
    screen_indicator,
)
from xrclient.core.view import View
from xrclient.render.font import SdfFont
from xrclient.render.mesh_batch import MeshBatch, MeshBuilder
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch

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


def _rotation(quat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return math3d.quat_matrix(np.asarray(quat, np.float64).tolist())[:3, :3].astype(np.float64)


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
        self.mesh = MeshBatch(ctx, srgb_output=srgb_output)
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

    # -- per frame -------------------------------------------------------------------------

    def update(
        self,
        participants: Sequence[RemoteParticipant],
        annotations: Sequence[PlacedAnnotation] = (),
        pings: Sequence[PingMarker] = (),
        view: View | None = None,
    ) -> None:
        """Rebuild from the session's state; with ``view``, off-screen pings get arrows."""
        mesh = MeshBuilder()
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
        self.mesh.upload(mesh)
        self._update_pins(annotations)
        self._update_pings(pings, view)

    def _participant(self, mesh: MeshBuilder, p: RemoteParticipant) -> None:
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
        mesh: MeshBuilder,
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

    # -- drawing -----------------------------------------------------------------------------

    def draw(self, views: Sequence[View], now: float = 0.0) -> int:
        """Draw into ``views`` after the scene (depth-tested against it); returns calls."""
        self.mesh.srgb_output = self.srgb_output
        calls = self.mesh.draw(views)
        calls += self.shapes.draw(views, now)
        calls += self.text.draw(views)
        self.draw_calls += calls
        return calls

    def release(self) -> None:
        self.text.release()
        self.shapes.release()
        self.mesh.release()
