"""Metric overlays over every machine: status dots, name pills, alarm badges, full panels.

Every overlay element is a billboard anchored just above its machine (``TextBatch`` and
``ShapeBatch``, one instanced draw call each per view, however many machines). What is
shown depends on distance, decided per frame with numpy over all machines:

* far: a status dot in the machine's state colour (grey when stale, pulsing when alarmed);
* mid: a pill with the machine's name;
* near: a full panel (name, state, the bindings' labels and gauges, a sparkline of the
  first numeric label's history, the highest alarm's message) for the ``max_panels``
  nearest machines. Panels come from a fixed pool of slots; only slots whose machine or
  values changed are rewritten, so Python work per frame is bounded by the pool, not by
  the number of machines.

Declutter: near and mid elements compete for screen cells; in each cell the nearest
machine keeps its level and the others fall back to a dot. The selected machine always
gets a panel listing all of its properties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.bindings import Bindings, BindingState
from xrclient.core.color import linear_to_srgb
from xrclient.core.twin_store import TwinStore
from xrclient.core.view import View
from xrclient.render.font import SdfFont
from xrclient.render.overlay_layout import (
    DETAIL_W,
    FAR,
    HIDDEN,
    MID,
    NEAR,
    Rect,
    distance_levels,
    place_panels,
    place_pills,
    screen_placement,
)
from xrclient.render.overlay_panels import (
    ALARM_RGBA,
    BACKGROUND,
    DIM,
    TEXT,
    PanelBuilder,
    Place,
)
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.model import OverlayOptions, Scene

MAX_NAMES = 160  # name pills shown at once (the nearest); farther machines show dots
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OverlayStats:
    far: int
    mid: int
    near: int
    hidden: int
    text_updates: int


class Overlays:
    """All machine overlays of a scene; ``update`` once per frame, then ``draw``."""

    def __init__(
        self,
        ctx: moderngl.Context,
        scene: Scene,
        geometry: SceneGeometry,
        bindings: Bindings,
        font: SdfFont,
        options: OverlayOptions | None = None,
        *,
        srgb_output: bool = True,
    ) -> None:
        self.scene = scene
        self.bindings = bindings
        self.options = opt = options if options is not None else scene.overlays
        self.n = n = len(scene.machines)
        bounds = geometry.machine_bounds.astype(np.float64)
        self.anchors = np.empty((n, 3))
        self.anchors[:, 0] = bounds[:, :, 0].mean(axis=1)
        self.anchors[:, 1] = bounds[:, 1, 1] + 0.3
        self.anchors[:, 2] = bounds[:, :, 2].mean(axis=1)
        # pools and levels of detail keep most elements hidden: only visible ones are drawn
        self.text = TextBatch(ctx, font, outline_px=1.5, srgb_output=srgb_output, skip_hidden=True)
        self.shapes = ShapeBatch(ctx, srgb_output=srgb_output, skip_hidden=True)
        self.level = np.full(n, HIDDEN, np.int8)
        self.text_updates = 0
        self.layouts = 0  # updates done (see ``due``)
        self._layout: tuple[float, int | None] | None = None  # time and selection of the last
        self._through = opt.depth == "through"
        place = self._placement()
        self._name_w = np.array(self._name_widths(font))
        # far: one dot per machine; mid: a pill and a name per machine; badges for both
        self.dots = np.array(
            [
                self.shapes.add_circle(a, (0.0, 0.0), 0.45, color=DIM, **place)
                for a in self.anchors.tolist()
            ]
        )
        anchors, widths = self.anchors.tolist(), self._name_w.tolist()
        self.pills = np.array(
            [
                self.shapes.add_rect(
                    a, (-w / 2 - 1.3, -0.55, w + 1.8, 1.3), radius=0.55, color=BACKGROUND, **place
                )
                for a, w in zip(anchors, widths, strict=True)
            ]
        )
        # a pill shows its machine's state as a dot in the state colour
        self.pill_dots = np.array(
            [
                self.shapes.add_circle(a, (-w / 2 - 0.65, 0.1), 0.32, color=DIM, **place)
                for a, w in zip(anchors, widths, strict=True)
            ]
        )
        # names come from a pool: glyph instances stay bounded however many machines
        self._name_pool = min(self.n, MAX_NAMES)
        self.names = np.array(
            [
                self.text.add(
                    "",
                    (0.0, 0.0, 0.0),
                    color=TEXT,
                    align="center",
                    valign="middle",
                    em=0.8,
                    offset=(0.0, 0.1),
                    **place,
                )
                for _ in range(self._name_pool)
            ],
            dtype=np.int64,
        )
        self._name_of = np.full(self._name_pool, -1, np.int64)  # machine shown by each name
        self.badges = np.array(
            [
                self.shapes.add_circle(
                    a, (0.0, 1.3), 0.5, color=ALARM_RGBA[2], pulse=True, icon_color=TEXT, **place
                )
                for a in anchors
            ]
        )
        # every machine's coloured shapes and shapes shown by level, in one array each; the
        # values last written to them, so a layout writes only what changed
        self._colored = np.concatenate([self.dots, self.pill_dots, self.badges])
        self._leveled = np.concatenate([self.dots, self.pills, self.pill_dots, self.badges])
        self._colors_written: F32 | None = None
        self._visible_written: npt.NDArray[np.bool_] | None = None
        self._names_written: npt.NDArray[np.int64] | None = None
        self.panels = PanelBuilder(self.shapes, self.text, scene, bindings, self.anchors, place)
        self._slots = [self.panels.make() for _ in range(opt.max_panels)]
        self._detail = self.panels.make(detail=True)
        self._hide_all()

    # -- construction ------------------------------------------------------------------------

    def _placement(self) -> Place:
        o = self.options
        return {
            "size": o.unit_m,
            "world": True,
            "min_px": o.min_px,
            "max_px": o.max_px,
            "through": self._through,
        }

    def _name_widths(self, font: SdfFont) -> list[float]:
        from xrclient.render.text import measure

        return [measure(font, m.name, 0.8) for m in self.scene.machines]

    def _hide_all(self) -> None:
        every = [self.dots, self.pills, self.pill_dots, self.badges]
        self.shapes.set_visible(np.concatenate(every), False)
        self.text.set_colors(self.names, np.zeros((self._name_pool, 4), np.float32))
        for slot in [*self._slots, self._detail]:
            self.panels.show(slot, False)

    # -- per frame ---------------------------------------------------------------------------

    def due(self, now: float, selected: int | None, interval: float = 1.0 / 30.0) -> bool:
        """Whether an ``update`` is worth its cost now: ``interval`` seconds after the last
        one, or at once when the selection changed. Between layouts every billboard still
        follows the view (the shaders place them per view and frame); only levels of detail,
        declutter and value texts wait, and values change at the stream's rate anyway."""
        last = self._layout
        return last is None or selected != last[1] or not 0.0 <= now - last[0] < interval

    def update(
        self,
        store: TwinStore,
        state: BindingState,
        view: View,
        now: float,
        selected: int | None = None,
    ) -> OverlayStats:
        """Decide levels for ``view`` (the primary view; stereo pairs share one decision)."""
        opt = self.options
        place = screen_placement(self.anchors, view, opt)
        level = distance_levels(place, opt)
        has_detail = selected is not None and 0 <= selected < self.n
        taken: list[Rect] = []  # screen rectangles already covered by panels
        if has_detail:
            assert selected is not None
            level[selected] = HIDDEN  # its detail panel stands in for dot, pill or panel
            x, y = place.px[selected]
            u = place.unit_px[selected]
            taken.append((x + u, y - self.panels.detail_h * u, x + (1 + DETAIL_W) * u, y))
        level = place_panels(
            level, place, taken, self.panels.panel_h, opt.max_panels, opt.declutter
        )
        if opt.declutter:
            level = place_pills(level, place, self._name_w, np.array(taken).reshape(-1, 4))
        dist = place.dist
        mid = np.flatnonzero(level == MID)
        if mid.size > self._name_pool:  # the nearest pills keep their names
            level[mid[np.argsort(dist[mid], kind="stable")[self._name_pool :]]] = FAR
        self.level = level
        status = self._status_rgba(state)
        self._update_far_mid(state, level, status)
        updates = self._update_slots(store, state, level, dist, now, status)
        updates += self._update_detail(store, state, selected, now, status)
        self.text_updates = updates
        self.layouts += 1
        self._layout = (now, selected)
        counts = np.bincount(level, minlength=4)
        return OverlayStats(
            int(counts[FAR]), int(counts[MID]), int(counts[NEAR]), int(counts[HIDDEN]), updates
        )

    def _status_rgba(self, state: BindingState) -> F32:
        rgba = np.empty((self.n, 4), np.float32)
        rgba[:, :3] = linear_to_srgb(state.color)
        rgba[:, 3] = 1.0
        rgba[~state.colored & ~state.stale] = DIM
        return rgba

    def _update_far_mid(
        self, state: BindingState, level: npt.NDArray[np.int8], status: F32
    ) -> None:
        s = self.shapes
        far, mid = level == FAR, level == MID
        badged = (state.alarm_level > 0) & (far | mid)
        # one write each for every machine's dot, pill, pill dot and badge whose colour or
        # visibility changed since the last layout
        colors = np.concatenate([status, status, ALARM_RGBA[state.alarm_level]])
        last = self._colors_written
        if last is None:
            s.set_colors(self._colored, colors)
        else:
            changed = np.flatnonzero((colors != last).any(axis=1))
            if changed.shape[0]:
                s.set_colors(self._colored[changed], colors[changed])
        self._colors_written = colors
        visible = np.concatenate([far, mid, mid, badged])
        was = self._visible_written
        if was is None:
            s.set_visible(self._leveled, visible)
        else:
            flipped = np.flatnonzero(visible != was)
            if flipped.shape[0]:
                s.set_visible(self._leveled[flipped], visible[flipped])
        self._visible_written = visible
        self._assign_names(np.flatnonzero(mid))

    def _assign_names(self, mid: npt.NDArray[np.intp]) -> None:
        """Give each pill's machine a name from the pool; names keep their machine while it
        stays a pill, so only newcomers are laid out."""
        shown = self._name_of
        # masks over the machines plus one last entry that stands for -1 (no machine)
        is_mid = np.zeros(self.n + 1, bool)
        is_mid[mid] = True
        keep = is_mid[shown]
        held = np.zeros(self.n + 1, bool)
        held[shown[keep]] = True
        newcomers = mid[~held[mid]]
        free = np.flatnonzero(~keep)
        t = self.text
        for slot, m in zip(free.tolist(), newcomers.tolist(), strict=False):
            t.set_text(int(self.names[slot]), self.scene.machines[m].name)
            shown[slot] = m
        rest = shown[~keep]
        shown[~keep] = np.where(is_mid[rest], rest, -1)
        if self._names_written is not None and np.array_equal(shown, self._names_written):
            return  # the same machines in the same names: anchors and colours stand
        self._names_written = shown.copy()
        on = shown >= 0
        if on.any():
            t.set_anchors(self.names[on], self.anchors[shown[on]])
        colors = np.zeros((self._name_pool, 4), np.float32)
        colors[on] = TEXT
        t.set_colors(self.names, colors)

    def _update_slots(
        self,
        store: TwinStore,
        state: BindingState,
        level: npt.NDArray[np.int8],
        dist: F64,
        now: float,
        status: F32,
    ) -> int:
        wanted = np.flatnonzero(level == NEAR)
        wanted = wanted[np.argsort(dist[wanted], kind="stable")]
        keep = set(wanted.tolist())
        free = []
        for slot in self._slots:
            if slot.machine not in keep:
                if slot.machine >= 0:
                    self.panels.show(slot, False)
                free.append(slot)
            else:
                keep.discard(slot.machine)
        for m, slot in zip(sorted(keep, key=lambda i: dist[i]), free, strict=False):
            slot.machine = m
            self.panels.show(slot, True)
        updates = 0
        for slot in self._slots:
            if slot.machine >= 0:
                updates += self.panels.fill(slot, store, state, status, now)
        return updates

    def _update_detail(
        self,
        store: TwinStore,
        state: BindingState,
        selected: int | None,
        now: float,
        status: F32,
    ) -> int:
        slot = self._detail
        if selected is None or not 0 <= selected < self.n:
            if slot.machine >= 0:
                self.panels.show(slot, False)
            return 0
        if slot.machine != selected:
            slot.machine = selected
            self.panels.show(slot, True)
        return self.panels.fill(slot, store, state, status, now)

    # -- drawing -----------------------------------------------------------------------------

    def draw(self, views: Sequence[View], now: float = 0.0) -> int:
        """Draw shapes then text over the scene already in the views' targets."""
        return self.shapes.draw(views, time=now) + self.text.draw(views)

    def release(self) -> None:
        self.shapes.release()
        self.text.release()
