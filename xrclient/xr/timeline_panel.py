"""The headset's timeline card, drawn in the world (layout: :mod:`.timeline_layout`).

A dark card with the status line ("LIVE", "PAST 14:05:12, playing 2x"), the bar (the
recorded span, filled up to the shown moment: green when live, amber in the past; a white
cursor at the moment) and four buttons. Quads are rebuilt each frame (a few dozen
vertices); strings change only when their text does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moderngl
import numpy as np

from xrclient.core.color import srgb_to_linear
from xrclient.core.view import View
from xrclient.history.insight import Moment
from xrclient.render.font import SdfFont
from xrclient.render.text import Align, TextBatch
from xrclient.xr.markers import FLAT_FRAGMENT, FLAT_VERTEX
from xrclient.xr.poses import F64
from xrclient.xr.timeline_layout import (
    BAR_X,
    BAR_Y,
    BUTTON_Y,
    BUTTONS,
    HALF_H,
    HALF_W,
    LABEL_AT,
    PanelRect,
)

CARD = (0.06, 0.07, 0.09, 1.0)
TRACK = (0.24, 0.26, 0.30, 1.0)
LIVE_FILL = (0.30, 0.85, 0.45, 1.0)
PAST_FILL = (1.0, 0.62, 0.12, 1.0)
CURSOR = (1.0, 1.0, 1.0, 1.0)
BUTTON = (0.17, 0.19, 0.23, 1.0)
BUTTON_HOT = (0.32, 0.36, 0.44, 1.0)
TEXT = (0.95, 0.96, 0.98, 1.0)
MAX_QUADS = 16
#: panel metres in front of the card where its parts and strings sit (no depth fighting)
_LIFT = 0.002


@dataclass(frozen=True, slots=True)
class PanelModel:
    """What the card shows: the status line, the moment along the bar, the buttons' texts
    and the button under a laser."""

    label: str
    position: float
    live: bool
    buttons: tuple[str, str, str, str]
    hot: str | None = None


def panel_model(moment: Moment | None, playing: bool, speed: float, hot: str | None) -> PanelModel:
    if moment is None:
        return PanelModel("no history", 1.0, True, ("-1 min", "play", "2x", "live"), hot)
    play = "pause" if playing else "play"
    faster = f"{speed * 2 if speed < 64 else 1:g}x"
    return PanelModel(
        moment.short, moment.position, moment.live, ("-1 min", play, faster, "live"), hot
    )


def _quad(x0: float, x1: float, y0: float, y1: float, depth: float) -> F64:
    """Two triangles in panel coordinates (x, y, lift)."""
    return np.array(
        [
            [x0, y0, depth],
            [x1, y0, depth],
            [x1, y1, depth],
            [x0, y0, depth],
            [x1, y1, depth],
            [x0, y1, depth],
        ],
        np.float64,
    )


def card_quads(model: PanelModel) -> tuple[F64, F64]:
    """``(positions (N, 3) in panel metres with the lift as z, colours (N, 4))``."""
    quads: list[tuple[F64, tuple[float, ...]]] = [
        (_quad(-HALF_W, HALF_W, -HALF_H, HALF_H, 0.0), CARD),
        (_quad(BAR_X[0], BAR_X[1], BAR_Y[0], BAR_Y[1], _LIFT), TRACK),
    ]
    pos = min(max(model.position, 0.0), 1.0)
    cursor_x = BAR_X[0] + (BAR_X[1] - BAR_X[0]) * pos
    if cursor_x > BAR_X[0]:
        fill = LIVE_FILL if model.live else PAST_FILL
        quads.append((_quad(BAR_X[0], cursor_x, BAR_Y[0], BAR_Y[1], 2 * _LIFT), fill))
    quads.append(
        (
            _quad(
                cursor_x - 0.003, cursor_x + 0.003, BAR_Y[0] - 0.006, BAR_Y[1] + 0.006, 3 * _LIFT
            ),
            CURSOR,
        )
    )
    for request, x0, x1 in BUTTONS:
        color = BUTTON_HOT if request == model.hot else BUTTON
        quads.append((_quad(x0, x1, BUTTON_Y[0], BUTTON_Y[1], _LIFT), color))
    positions = np.concatenate([q for q, _ in quads])
    colors = np.concatenate([np.tile(np.asarray(c, np.float64), (6, 1)) for _, c in quads])
    return positions, colors


class TimelinePanel:
    def __init__(self, ctx: moderngl.Context, font: SdfFont, *, srgb_output: bool = True) -> None:
        self.ctx = ctx
        self.srgb_output = srgb_output
        self.program = ctx.program(vertex_shader=FLAT_VERTEX, fragment_shader=FLAT_FRAGMENT)
        self.vbo = ctx.buffer(reserve=MAX_QUADS * 6 * 7 * 4, dynamic=True)
        self.vao = ctx.vertex_array(self.program, [(self.vbo, "3f 4f", "in_position", "in_color")])
        view_proj = self.program["u_view_proj"]
        assert isinstance(view_proj, moderngl.Uniform)
        self._view_proj = view_proj
        self.text = TextBatch(ctx, font, srgb_output=srgb_output)
        self._label = self._add("left")
        self._buttons = [self._add("center") for _ in BUTTONS]
        self.count = 0
        self.rect: PanelRect | None = None
        self.model: PanelModel | None = None

    def _add(self, align: Align) -> int:
        return self.text.add(
            "",
            (0.0, 0.0, 0.0),
            size=0.014,
            world=True,
            min_px=3.0,
            max_px=64.0,
            color=TEXT,
            align=align,
            valign="middle",
            through=True,
        )

    def set_srgb_output(self, srgb: bool) -> None:
        self.srgb_output = srgb
        self.text.srgb_output = srgb

    def update(self, rect: PanelRect | None, model: PanelModel) -> None:
        """Place the card (None: hide it) and show ``model`` on it."""
        self.rect, self.model = rect, model
        if rect is None:
            self.count = 0
            return
        pos, col = card_quads(model)
        normal = np.cross(rect.ex, rect.ey)
        world = rect.points(pos[:, :2]) + pos[:, 2:3] * normal
        if not self.srgb_output:
            col = col.copy()
            col[:, :3] = srgb_to_linear(col[:, :3])
        data = np.hstack([world, col]).astype(np.float32)
        self.count = len(data)
        self.vbo.write(data.tobytes())
        lift = normal * 4 * _LIFT
        self.text.set_text(self._label, model.label)
        anchors = [rect.point(*LABEL_AT) + lift]
        for handle, (_, x0, x1), text in zip(self._buttons, BUTTONS, model.buttons, strict=True):
            self.text.set_text(handle, text)
            anchors.append(rect.point((x0 + x1) / 2, (BUTTON_Y[0] + BUTTON_Y[1]) / 2) + lift)
        self.text.set_anchors([self._label, *self._buttons], np.array(anchors))

    def bar_corners(self) -> F64 | None:
        """World corners of the bar (for tests and tools); None while hidden."""
        if self.rect is None or not self.count:
            return None
        xy = np.array(
            [[BAR_X[0], BAR_Y[0]], [BAR_X[1], BAR_Y[0]], [BAR_X[1], BAR_Y[1]], [BAR_X[0], BAR_Y[1]]]
        )
        return self.rect.points(xy)

    def draw(self, views: Sequence[View]) -> None:
        if not self.count:
            return
        ctx = self.ctx
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.BLEND | moderngl.CULL_FACE)
        for view in views:
            if view.framebuffer is not None:
                view.framebuffer.use()
            ctx.viewport = view.viewport
            self._view_proj.write(view.view_projection.T.astype(np.float32).tobytes())
            self.vao.render(moderngl.TRIANGLES, vertices=self.count)
        self.text.draw(views)

    def release(self) -> None:
        self.text.release()
        self.vao.release()
        self.vbo.release()
        self.program.release()
