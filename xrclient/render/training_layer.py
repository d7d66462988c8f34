"""A training run drawn in the world: hazard zones, the step's machine and its instruction.

:class:`TrainingLayer` takes a :class:`~xrclient.training.runner.TrainingView` each frame
and draws, after the scene:

* every hazard zone of the procedure as a translucent volume with an outline: green while
  it is not in force, red while it is (its ``when`` condition holds in the current step),
  brighter and pulsing while the trainee stands in it;
* the current step's machine outlined in cyan with a pulsing marker above it;
* the progress panel (:func:`~xrclient.training.panel.panel_lines`) in world space over that
  machine, or at an anchor the front end gives (in front of a headset user when the step
  names no machine), in the same units as the overlays so both eyes see one panel, with
  the step's picture (``media``) once decoded: above the panel over a machine, under it at
  the front end's anchor (a picture that cannot be shown says why on the panel).

Zones and the marker are rebuilt only when what they show changes; the panel's strings only
when their text does. The desktop viewer and the headset client both use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.view import View
from xrclient.render.font import SdfFont
from xrclient.render.image_billboard import WorldImage
from xrclient.render.mesh_batch import MeshBatch, MeshBuilder
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch, measure
from xrclient.training.panel import Kind, PanelLine, panel_lines
from xrclient.training.runner import TrainingView, ZoneView

F64 = npt.NDArray[np.float64]

SAFE = (0.25, 0.85, 0.4)
DANGER = (0.95, 0.18, 0.12)
TARGET = (0.2, 0.85, 1.0, 1.0)
PANEL_BACKGROUND = (0.05, 0.07, 0.09, 0.88)
KIND_RGBA: dict[Kind, tuple[float, float, float, float]] = {
    "title": (0.75, 0.9, 1.0, 1.0),
    "step": (0.2, 0.85, 1.0, 1.0),
    "text": (0.96, 0.97, 0.98, 1.0),
    "detail": (0.7, 0.74, 0.78, 1.0),
    "hint": (1.0, 0.85, 0.45, 1.0),
    "warning": (1.0, 0.3, 0.22, 1.0),
    "message": (1.0, 0.72, 0.4, 1.0),
    "done": (0.35, 0.95, 0.5, 1.0),
    "failed": (1.0, 0.4, 0.3, 1.0),
}
#: metres above the target machine's top where the panel's bottom sits
PANEL_LIFT_M = 2.4
#: the panel's unit (one text line) in metres, clamped in pixels like the overlays
UNIT_M, MIN_PX, MAX_PX = 0.22, 10.0, 20.0
ROW = 1.25  # units per row
PAD = 0.5  # units
CIRCLE_SEGMENTS = 32
#: the step's picture over or under the panel: its height, widest width and gap, in units
IMAGE_HEIGHT, IMAGE_MAX_WIDTH, IMAGE_GAP = 8.0, 14.0, 0.4


def zone_mesh(mesh: MeshBuilder, zone: ZoneView) -> None:
    """A zone's translucent volume and its outline."""
    rgb = DANGER if zone.active else SAFE
    fill_alpha = 0.32 if zone.inside else (0.2 if zone.active else 0.1)
    line_px = 4.0 if zone.inside else (3.0 if zone.active else 2.0)
    fill = (*rgb, fill_alpha)
    edge = (*rgb, 1.0)
    c = np.asarray(zone.center, np.float64)
    if zone.shape == "box":
        corners = box_corners(c, np.asarray(zone.size, np.float64))
        quads = ((0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4))
        normals = ((0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1), (-1, 0, 0))
        for (a, b, d, e), n in zip(quads, normals, strict=True):
            mesh.triangles(corners[[a, b, d, a, d, e]], n, fill)
        mesh.triangles(corners[[1, 3, 7, 1, 7, 5]], (1, 0, 0), fill)
        for a, b in BOX_EDGES:
            mesh.line(corners[a], corners[b], line_px, edge)
        return
    radius, height = float(zone.size[0]), float(zone.size[1])
    angle = np.linspace(0.0, 2.0 * np.pi, CIRCLE_SEGMENTS, endpoint=False)
    ring = np.stack([np.cos(angle) * radius, np.zeros_like(angle), np.sin(angle) * radius], 1)
    low, high = c + ring, c + ring + np.array([0.0, height, 0.0])
    nxt = np.roll(np.arange(CIRCLE_SEGMENTS), -1)
    walls = np.stack([low, low[nxt], high[nxt], low, high[nxt], high], 1).reshape(-1, 3)
    mesh.triangles(walls, (0.0, 0.0, 1.0), fill)
    floor = np.stack([np.repeat(c[None], CIRCLE_SEGMENTS, 0), low, low[nxt]], 1)
    lift = np.array([0.0, 0.01, 0.0])
    mesh.triangles(floor.reshape(-1, 3) + lift, (0.0, 1.0, 0.0), fill)
    mesh.polyline(low + lift, line_px, edge, closed=True)
    mesh.polyline(high, line_px, edge, closed=True)
    for k in range(0, CIRCLE_SEGMENTS, CIRCLE_SEGMENTS // 8):
        mesh.line(low[k], high[k], line_px * 0.75, edge)


def box_corners(center: F64, size: F64) -> F64:
    """The 8 corners, index bits (x, y, z) = (4, 2, 1)."""
    bits = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], np.float64)
    return center + (bits - 0.5) * size


BOX_EDGES = tuple((a, a | bit) for a in range(8) for bit in (1, 2, 4) if not a & bit)  # 12 edges


def _border(lines: Sequence[PanelLine]) -> tuple[float, float, float, float]:
    """The panel's edge says the run's state: a warning, a result, or the step's cyan."""
    kinds = {line.kind for line in lines}
    if lines and lines[0].kind == "warning":
        return KIND_RGBA["warning"]
    for kind in ("failed", "done"):
        if kind in kinds:
            return KIND_RGBA[kind]
    return TARGET


class TrainingLayer:
    """``machine_bounds``: (machines, 2, 3) world boxes, as in ``SceneGeometry``."""

    def __init__(
        self,
        ctx: moderngl.Context,
        font: SdfFont,
        machine_bounds: npt.ArrayLike,
        *,
        srgb_output: bool = True,
    ) -> None:
        self.font = font
        self.bounds = np.asarray(machine_bounds, np.float64)
        self.mesh = MeshBatch(ctx, srgb_output=srgb_output)
        self.shapes = ShapeBatch(ctx, srgb_output=srgb_output)
        self.text = TextBatch(
            ctx, font, outline_px=1.5, outline_color=(0.0, 0.0, 0.0, 0.9), srgb_output=srgb_output
        )
        self.image = WorldImage(ctx, srgb_output=srgb_output)
        self._srgb = srgb_output
        self._scene_key: tuple[object, ...] | None = None
        self._panel_key: tuple[object, ...] | None = None
        self._marker: list[int] = []
        self._panel: list[int] = []
        self._panel_bg: list[int] = []
        #: what the panel shows now (for tests and the desktop HUD)
        self.lines: list[PanelLine] = []
        self.anchor: tuple[float, ...] | None = None

    @property
    def srgb_output(self) -> bool:
        return self._srgb

    @srgb_output.setter
    def srgb_output(self, value: bool) -> None:
        self._srgb = bool(value)
        self.mesh.srgb_output = self._srgb
        self.shapes.srgb_output = self._srgb
        self.text.srgb_output = self._srgb
        self.image.srgb_output = self._srgb

    def target_anchor(self, machine: int) -> tuple[float, float, float]:
        b = self.bounds[machine]
        mid = (b[0] + b[1]) / 2.0
        return float(mid[0]), float(b[1, 1] + PANEL_LIFT_M), float(mid[2])

    # -- per frame ---------------------------------------------------------------------------

    def update(
        self,
        view: TrainingView | None,
        anchor: Sequence[float] | npt.NDArray[np.float64] | None = None,
        *,
        panel: bool = True,
        confirm_key: str = "C",
        hint_key: str = "I",
    ) -> None:
        """Show ``view`` (None: nothing). ``anchor`` places the panel where the step names
        no machine (else it has none); ``panel=False`` leaves it and the step's picture out
        (the desktop HUD shows both)."""
        if view is None:
            self._set_scene(None)
            self._set_panel([], None)
            self.image.show(None)
            return
        self._set_scene(view)
        target = view.target_machine if 0 <= view.target_machine < len(self.bounds) else -1
        where = self.target_anchor(target) if target >= 0 else anchor
        shown = panel and where is not None
        self.image.show(view.media if shown and view.status == "running" else None)
        lines = panel_lines(view, confirm_key, hint_key) if shown else []
        if lines and self.image.picture.message:
            lines.append(PanelLine(self.image.picture.message, "message"))
        self._set_panel(lines, None if where is None else tuple(float(c) for c in where))
        picture = self._picture_units() if lines else None
        if picture is not None and self.anchor is not None:
            width, height = picture
            # over a machine above the panel; ahead of the trainee (the panel's bottom at
            # eye height) under it, in the middle of the view
            y = len(lines) * ROW + 2 * PAD + IMAGE_GAP if target >= 0 else -IMAGE_GAP - height
            rect = (-width / 2.0, y, width, height)
            if self.image.anchor != self.anchor or self.image.rect != rect:
                self.image.place(self.anchor, rect, size=UNIT_M, min_px=MIN_PX, max_px=MAX_PX)

    def _picture_units(self) -> tuple[float, float] | None:
        """The decoded picture's width and height in units: ``IMAGE_HEIGHT`` high, at most
        ``IMAGE_MAX_WIDTH`` wide, keeping its aspect; None before it is decoded."""
        w, h = self.image.picture.size
        if not w or not h:
            return None
        height = IMAGE_HEIGHT
        width = height * w / h
        if width > IMAGE_MAX_WIDTH:
            width, height = IMAGE_MAX_WIDTH, IMAGE_MAX_WIDTH * h / w
        return width, height

    def _set_scene(self, view: TrainingView | None) -> None:
        target = -1
        if view is not None and view.status == "running":
            target = view.target_machine
        key = None if view is None else (view.zones, target)
        if key == self._scene_key:
            return
        self._scene_key = key
        mesh = MeshBuilder()
        if self._marker:
            self.shapes.remove(self._marker)
            self._marker = []
        if view is not None:
            for zone in view.zones:
                zone_mesh(mesh, zone)
            if 0 <= target < len(self.bounds):
                b = self.bounds[target]
                corners = box_corners((b[0] + b[1]) / 2.0, (b[1] - b[0]) + 0.15)
                for a, c in BOX_EDGES:
                    mesh.line(corners[a], corners[c], 3.0, TARGET)
                top = ((b[0, 0] + b[1, 0]) / 2, b[1, 1] + 0.6, (b[0, 2] + b[1, 2]) / 2)
                self._marker = [
                    self.shapes.add_polyline(
                        top,
                        [(-0.6, 0.8), (0.0, 0.0), (0.6, 0.8)],
                        thickness=0.3,
                        size=22.0,
                        color=TARGET,
                        through=True,
                        pulse=True,
                    )
                ]
        self.mesh.upload(mesh)

    def _set_panel(self, lines: list[PanelLine], anchor: tuple[float, ...] | None) -> None:
        key = (tuple(lines), anchor)
        if key == self._panel_key:
            return
        self._panel_key = key
        self.lines, self.anchor = list(lines), anchor
        for h in self._panel:
            self.text.remove(h)
        if self._panel_bg:
            self.shapes.remove(self._panel_bg)
        self._panel, self._panel_bg = [], []
        if not lines or anchor is None:
            return
        place = {"size": UNIT_M, "world": True, "min_px": MIN_PX, "max_px": MAX_PX}
        width = max(measure(self.font, line.text) for line in lines) + 2 * PAD
        height = len(lines) * ROW + 2 * PAD
        left = -width / 2.0
        self._panel_bg = [
            self.shapes.add_rect(
                anchor,
                (left, 0.0, width, height),
                color=PANEL_BACKGROUND,
                radius=0.4,
                border=0.08,
                border_color=_border(lines),
                through=True,
                **place,  # type: ignore[arg-type]  # place mixes float and bool keywords; the dict's joined value type fits neither
            )
        ]
        for k, line in enumerate(lines):
            y = height - PAD - (k + 1) * ROW + 0.3
            self._panel.append(
                self.text.add(
                    line.text,
                    anchor,
                    color=KIND_RGBA[line.kind],
                    align="left",
                    offset=(left + PAD, y),
                    through=True,
                    **place,  # type: ignore[arg-type]  # place mixes float and bool keywords; the dict's joined value type fits neither
                )
            )

    def draw(self, views: Sequence[View], now: float = 0.0) -> int:
        calls = self.mesh.draw(views)
        calls += self.shapes.draw(views, now)
        calls += self.text.draw(views)
        calls += self.image.draw(views)
        return calls

    def release(self) -> None:
        self.mesh.release()
        self.shapes.release()
        self.text.release()
        self.image.release()
