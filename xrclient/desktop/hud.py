"""The desktop HUD: status, alarms, search, selection, hover label and help, in pixels.

Drawn with the same SDF text and shape batches as the world overlays, through a screen
View whose orthographic projection makes one unit one pixel (the batches' pixel-size mode
then lays everything out in pixels). The HUD is rebuilt only when its content or the
window size changes (the viewer refreshes status text a few times a second), and keeps the
rectangles people can click.

Coordinates given to and returned by this module are window pixels with the origin at the
top-left, as mouse positions are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import moderngl
import numpy as np

from xrclient.core.view import View
from xrclient.desktop.keymap import CONTROLS
from xrclient.render.font import SdfFont
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch, measure

RGBA = tuple[float, float, float, float]

WHITE: RGBA = (0.95, 0.96, 0.98, 1.0)
MUTED: RGBA = (0.70, 0.74, 0.80, 1.0)
PANEL: RGBA = (0.07, 0.09, 0.12, 0.88)
OPAQUE: RGBA = (0.05, 0.06, 0.08, 0.96)
ACCENT: RGBA = (1.0, 0.72, 0.2, 1.0)
OK: RGBA = (0.35, 0.85, 0.45, 1.0)
WARN: RGBA = (1.0, 0.75, 0.2, 1.0)
BAD: RGBA = (1.0, 0.33, 0.28, 1.0)
WARNING_FILL: RGBA = (0.75, 0.08, 0.05, 0.94)
SEVERITY: tuple[RGBA, ...] = (MUTED, WARN, BAD)

FONT_PX = 15.0
LINE_PX = 20.0
PAD_PX = 10.0
MARGIN_PX = 12.0
ALARM_ROWS = 8
SEARCH_ROWS = 6


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    color: RGBA = WHITE


@dataclass(frozen=True, slots=True)
class AlarmRow:
    machine: int
    text: str
    level: int  # 1 warning, 2 critical


@dataclass(frozen=True, slots=True)
class SearchBox:
    query: str
    matches: tuple[tuple[int, str], ...]  # (machine index, label)
    chosen: int = 0


@dataclass(frozen=True, slots=True)
class TimelineBar:
    """The history bar: ``position`` 0..1 along the recording; live or a past moment."""

    label: str
    position: float
    live: bool


@dataclass(frozen=True, slots=True)
class HudModel:
    """Everything the HUD shows; equal models draw the same HUD."""

    status: tuple[Line, ...] = ()
    alarms: tuple[AlarmRow, ...] = ()
    alarms_total: int = 0
    selection: tuple[Line, ...] = ()
    hover: tuple[str, float, float] | None = None  # label, cursor x, y
    search: SearchBox | None = None
    prompt: str | None = None  # a text being typed (a note), shown like the search box
    help: bool = False
    timeline: TimelineBar | None = None
    #: a training procedure's progress panel (top centre) and a hazard warning over it
    training: tuple[Line, ...] = ()
    warning: str = ""
    #: room for the step's image under the training panel (width, height in pixels)
    image: tuple[int, int] | None = None
    hint: str = "?  help     /  search     F12  screenshot"
    toast: str = ""  # a short message (screenshot written, no match, ...)


@dataclass(frozen=True, slots=True)
class Hit:
    """A clickable rectangle: ``action`` is e.g. ``("machine", 12)``."""

    x0: float
    y0: float
    x1: float
    y1: float
    action: tuple[str, int]


def screen_view(size: tuple[int, int]) -> View:
    """A View in which one unit is one pixel: x right, y up, origin bottom-left."""
    w, h = max(int(size[0]), 1), max(int(size[1]), 1)
    proj = np.zeros((4, 4), np.float32)
    proj[0, 0], proj[0, 3] = 2.0 / w, -1.0
    proj[1, 1], proj[1, 3] = 2.0 / h, -1.0
    proj[2, 2] = -1.0
    proj[3, 3] = 1.0
    return View(view=np.eye(4, dtype=np.float32), projection=proj, viewport=(0, 0, w, h))


@dataclass(slots=True)
class _Builder:
    text: TextBatch
    shapes: ShapeBatch
    height: int
    hits: list[Hit] = field(default_factory=list)

    def panel(self, x: float, y: float, w: float, h: float, color: RGBA = PANEL) -> None:
        """A rounded panel with its top-left corner at ``(x, y)``."""
        self.shapes.add_rect(
            (0.0, 0.0, 0.0),
            (x, self.height - y - h, w, h),
            size=1.0,
            color=color,
            radius=6.0,
            through=True,
        )

    def label(
        self,
        text: str,
        x: float,
        y: float,
        color: RGBA = WHITE,
        *,
        px: float = FONT_PX,
        align: str = "left",
    ) -> None:
        """One line whose top is at ``y``."""
        if not text:
            return
        self.text.add(
            text,
            (x, self.height - y, 0.0),
            size=px,
            color=color,
            align=align,  # type: ignore[arg-type]  # align is one of the text batch's alignments; callers pass literals
            valign="top",
            through=True,
            min_px=1.0,
        )

    def dot(self, x: float, y: float, r: float, color: RGBA) -> None:
        self.shapes.add_circle(
            (x, self.height - y, 0.0), (0.0, 0.0), r, size=1.0, color=color, through=True
        )


class Hud:
    def __init__(self, ctx: moderngl.Context, font: SdfFont, *, srgb_output: bool = True):
        self.font = font
        self.text = TextBatch(ctx, font, srgb_output=srgb_output)
        self.shapes = ShapeBatch(ctx, srgb_output=srgb_output)
        self.hits: list[Hit] = []
        self.visible = True
        #: where the step's image goes (its top-left, window pixels), when the model has one
        self.image_at: tuple[float, float] | None = None
        self._status_right = MARGIN_PX
        self._alarms_left = 0.0
        self._shown: tuple[HudModel, tuple[int, int]] | None = None
        self.rebuilds = 0

    def width(self, text: str, px: float = FONT_PX) -> float:
        return measure(self.font, text, px)

    def show(self, model: HudModel, size: tuple[int, int]) -> None:
        """Lay the HUD out for ``model`` in a window of ``size`` pixels (no work when both
        are unchanged)."""
        if self._shown == (model, size):
            return
        self._shown = (model, size)
        self.rebuilds += 1
        self.text.clear()
        self.shapes.clear()
        b = _Builder(self.text, self.shapes, size[1])
        self.image_at = None
        below_status = self._status(b, model)
        self._alarms(b, model, size)
        self._selection(b, model, size)
        self._search(b, model, below_status)
        if model.timeline is not None:
            self._timeline(b, model.timeline, size)
        self._training(b, model, size, below_status)
        if model.prompt is not None:
            w = max(self.width(model.prompt), 300.0) + 2 * PAD_PX
            b.panel(MARGIN_PX, below_status, w, LINE_PX * 2 + 2 * PAD_PX, OPAQUE)
            b.label(model.prompt, MARGIN_PX + PAD_PX, below_status + PAD_PX, ACCENT)
            b.label(
                "Enter: pin it for everyone, Esc: cancel",
                MARGIN_PX + PAD_PX,
                below_status + PAD_PX + LINE_PX,
                MUTED,
            )
        busy = model.search is not None or model.prompt is not None or model.help
        if model.hover is not None and not busy:
            text, x, y = model.hover
            w = self.width(text, 13.0) + 12.0
            b.panel(x + 14.0, y + 14.0, w, 22.0)
            b.label(text, x + 20.0, y + 18.0, px=13.0)
        if model.hint:
            y = size[1] - MARGIN_PX - 24.0
            b.panel(MARGIN_PX, y, self.width(model.hint, 13.0) + 2 * PAD_PX, 24.0)
            b.label(model.hint, MARGIN_PX + PAD_PX, y + 5.0, MUTED, px=13.0)
        if model.toast:
            w = self.width(model.toast) + 2 * PAD_PX
            b.panel((size[0] - w) / 2, size[1] - 70.0, w, 30.0)
            b.label(model.toast, size[0] / 2, size[1] - 64.0, align="center")
        if model.help:
            self._help(b, size)
        self.hits = b.hits

    def _status(self, b: _Builder, model: HudModel) -> float:
        """The status panel; returns the y just below it."""
        self._status_right = MARGIN_PX
        if not model.status:
            return MARGIN_PX
        w = max(self.width(line.text) for line in model.status) + 2 * PAD_PX
        self._status_right = MARGIN_PX + w
        h = len(model.status) * LINE_PX + 2 * PAD_PX - 4
        b.panel(MARGIN_PX, MARGIN_PX, w, h)
        for i, line in enumerate(model.status):
            b.label(line.text, MARGIN_PX + PAD_PX, MARGIN_PX + PAD_PX + i * LINE_PX, line.color)
        return MARGIN_PX + h + MARGIN_PX

    def _alarms(self, b: _Builder, model: HudModel, size: tuple[int, int]) -> None:
        self._alarms_left = float(size[0])
        if model.alarms_total == 0:
            return
        rows = model.alarms[:ALARM_ROWS]
        head = f"Alarms ({model.alarms_total})"
        more = model.alarms_total - len(rows)
        lines = [head, *(r.text for r in rows)] + ([f"+ {more} more"] if more > 0 else [])
        w = max(self.width(t) for t in lines) + 2 * PAD_PX + 16.0
        x = size[0] - MARGIN_PX - w
        self._alarms_left = x
        h = len(lines) * LINE_PX + 2 * PAD_PX - 4
        b.panel(x, MARGIN_PX, w, h)
        top = MARGIN_PX + PAD_PX
        b.label(head, x + PAD_PX, top, BAD if any(r.level >= 2 for r in rows) else WARN)
        for i, row in enumerate(rows, start=1):
            y = top + i * LINE_PX
            b.dot(x + PAD_PX + 5.0, y + 8.0, 5.0, SEVERITY[min(row.level, 2)])
            b.label(row.text, x + PAD_PX + 16.0, y)
            b.hits.append(Hit(x, y - 2.0, x + w, y + LINE_PX - 2.0, ("machine", row.machine)))
        if more > 0:
            b.label(f"+ {more} more", x + PAD_PX + 16.0, top + len(lines[:-1]) * LINE_PX, MUTED)

    def _selection(self, b: _Builder, model: HudModel, size: tuple[int, int]) -> None:
        if not model.selection:
            return
        w = max(self.width(line.text) for line in model.selection) + 2 * PAD_PX
        h = len(model.selection) * LINE_PX + 2 * PAD_PX - 4
        x, y = size[0] - MARGIN_PX - w, size[1] - MARGIN_PX - h
        b.panel(x, y, w, h)
        for i, line in enumerate(model.selection):
            b.label(line.text, x + PAD_PX, y + PAD_PX + i * LINE_PX, line.color)

    def _training(
        self, b: _Builder, model: HudModel, size: tuple[int, int], below_status: float
    ) -> None:
        """The progress panel at the top between the status and alarm panels (under the
        status where the window is too narrow), the step's image under it, and a hazard
        warning in large type at the bottom centre, over the history bar."""
        if model.warning:
            px = 22.0
            w = self.width(model.warning, px) + 4 * PAD_PX
            h = px + 2 * PAD_PX + 4
            y = size[1] - MARGIN_PX - 58.0 - MARGIN_PX - h
            b.panel((size[0] - w) / 2, y, w, h, WARNING_FILL)
            b.label(model.warning, size[0] / 2, y + PAD_PX, WHITE, px=px, align="center")
        if not model.training:
            return
        w = max(self.width(line.text) for line in model.training) + 2 * PAD_PX
        h = len(model.training) * LINE_PX + 2 * PAD_PX - 4
        left, right = self._status_right + MARGIN_PX, self._alarms_left - MARGIN_PX
        if w <= right - left:
            x, y = min(max((size[0] - w) / 2, left), right - w), MARGIN_PX
        else:
            x, y = MARGIN_PX, below_status
        b.panel(x, y, w, h)
        for i, line in enumerate(model.training):
            b.label(line.text, x + PAD_PX, y + PAD_PX + i * LINE_PX, line.color)
        if model.image is not None:
            iw, ih = model.image
            y += h + 4.0
            ix = x + (w - iw) / 2 if w >= iw else x
            b.panel(ix - PAD_PX / 2, y, iw + PAD_PX, ih + PAD_PX)
            self.image_at = (ix, y + PAD_PX / 2)

    def _search(self, b: _Builder, model: HudModel, top: float) -> None:
        box = model.search
        if box is None:
            return
        w = 420.0
        x, y = MARGIN_PX, top
        rows = box.matches[:SEARCH_ROWS]
        h = (1 + max(len(rows), 1)) * LINE_PX + 2 * PAD_PX
        b.panel(x, y, w, h, OPAQUE)
        b.label(f"Search: {box.query}_", x + PAD_PX, y + PAD_PX, ACCENT)
        if not rows:
            b.label("no machine matches", x + PAD_PX, y + PAD_PX + LINE_PX, MUTED)
        for i, (machine, label) in enumerate(rows):
            ry = y + PAD_PX + (i + 1) * LINE_PX
            chosen = i == box.chosen
            b.label(("> " if chosen else "  ") + label, x + PAD_PX, ry, WHITE if chosen else MUTED)
            b.hits.append(Hit(x, ry - 2.0, x + w, ry + LINE_PX - 2.0, ("machine", machine)))

    def _timeline(self, b: _Builder, bar: TimelineBar, size: tuple[int, int]) -> None:
        w = min(max(size[0] * 0.45, 320.0), 760.0)
        x, y = (size[0] - w) / 2, size[1] - MARGIN_PX - 58.0
        b.panel(x, y, w, 50.0)
        b.label(bar.label, x + PAD_PX, y + 6.0, OK if bar.live else ACCENT, px=13.0)
        track_x, track_w, track_y = x + PAD_PX, w - 2 * PAD_PX, y + 34.0
        b.shapes.add_rect(
            (0.0, 0.0, 0.0),
            (track_x, b.height - track_y - 3.0, track_w, 6.0),
            size=1.0,
            color=(0.35, 0.38, 0.44, 1.0),
            radius=3.0,
            through=True,
        )
        done = track_w * min(max(bar.position, 0.0), 1.0)
        b.shapes.add_rect(
            (0.0, 0.0, 0.0),
            (track_x, b.height - track_y - 3.0, max(done, 1.0), 6.0),
            size=1.0,
            color=OK if bar.live else ACCENT,
            radius=3.0,
            through=True,
        )
        b.dot(track_x + done, track_y, 7.0, WHITE)
        for k in range(100):  # click anywhere on the track to seek there
            x0 = track_x + track_w * k / 100
            b.hits.append(
                Hit(x0, track_y - 10.0, x0 + track_w / 100, track_y + 10.0, ("seek", k * 10 + 5))
            )

    def _help(self, b: _Builder, size: tuple[int, int]) -> None:
        key_w = max(self.width(c.keys) for c in CONTROLS) + 24.0
        w = key_w + max(self.width(c.does) for c in CONTROLS) + 2 * PAD_PX
        h = (len(CONTROLS) + 2) * LINE_PX + 2 * PAD_PX
        x, y = (size[0] - w) / 2, max((size[1] - h) / 2, MARGIN_PX)
        b.panel(x, y, w, h, OPAQUE)
        b.label("Controls", x + PAD_PX, y + PAD_PX, ACCENT)
        for i, c in enumerate(CONTROLS, start=2):
            ry = y + PAD_PX + i * LINE_PX
            b.label(c.keys, x + PAD_PX, ry, ACCENT)
            b.label(c.does, x + PAD_PX + key_w, ry)

    def hit(self, x: float, y: float) -> tuple[str, int] | None:
        """The action under window pixel ``(x, y)``, if the HUD has one there."""
        if not self.visible:
            return None
        for h in reversed(self.hits):
            if h.x0 <= x <= h.x1 and h.y0 <= y <= h.y1:
                return h.action
        return None

    def draw(self, size: tuple[int, int], time: float = 0.0) -> int:
        """Draw over what the window holds; returns draw calls."""
        if not self.visible:
            return 0
        views: Sequence[View] = [screen_view(size)]
        return self.shapes.draw(views, time) + self.text.draw(views)

    def release(self) -> None:
        self.text.release()
        self.shapes.release()
