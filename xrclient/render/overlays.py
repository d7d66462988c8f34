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
from typing import TypedDict

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.backends.base import View
from xrclient.core.bindings import Bindings, BindingState
from xrclient.core.bindings_text import format_value
from xrclient.core.color import linear_to_srgb
from xrclient.core.twin_store import TwinStore
from xrclient.render.font import SdfFont
from xrclient.render.overlay_layout import (
    BAND_RGBA,
    DETAIL_W,
    FAR,
    HIDDEN,
    MID,
    NEAR,
    PANEL_W,
    Rect,
    band_layers,
    distance_levels,
    place_panels,
    place_pills,
    screen_placement,
)
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.model import OverlayOptions, Scene

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

ROW = 1.25  # row height in units
SPARK_POINTS = 48
DETAIL_ROWS = 18
MAX_NAMES = 160  # name pills shown at once (the nearest); farther machines show dots
BACKGROUND = (0.06, 0.08, 0.10, 0.82)
STALE_BACKGROUND = (0.30, 0.31, 0.33, 0.82)
TEXT = (0.95, 0.96, 0.97, 1.0)
MESSAGE = (1.0, 0.8, 0.6, 1.0)
SPARK = (0.55, 0.8, 1.0, 1.0)
DIM = (0.70, 0.74, 0.78, 1.0)
ALARM_RGBA = np.array([[0, 0, 0, 0], [1.0, 0.72, 0.1, 1.0], [0.95, 0.2, 0.15, 1.0]], np.float32)


class _Place(TypedDict):
    """Placement shared by every element: anchor units, clamps, depth mode."""

    size: float
    world: bool
    min_px: float
    max_px: float
    through: bool


@dataclass(frozen=True, slots=True)
class _GaugeWidget:
    """Handles of one gauge row: a bar and a radial gauge (one shown, by the rule's style),
    each over three stacked band layers that colour the warn and alarm zones."""

    bar: int
    bar_bands: tuple[int, int, int]
    arc: int
    arc_bands: tuple[int, int, int]
    radial_value: int  # value text beside the radial gauge

    @property
    def shapes(self) -> list[int]:
        return [*self.bar_bands, self.bar, *self.arc_bands, self.arc]


@dataclass(slots=True, eq=False)
class _Slot:
    """One full panel of the pool: the handles of its elements."""

    machine: int
    shapes: list[int]  # background, state strip, badge, gauge bars...
    background: int
    strip: int
    badge: int
    widgets: list[_GaugeWidget]
    spark: int
    title: int
    state: int
    message: int
    rows: list[tuple[int, int]]  # (title, value) strings
    gauges: list[tuple[int, int]]
    detail: bool = False


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
        self.text = TextBatch(ctx, font, outline_px=1.5, srgb_output=srgb_output)
        self.shapes = ShapeBatch(ctx, srgb_output=srgb_output)
        self.level = np.full(n, HIDDEN, np.int8)
        self.text_updates = 0
        self._through = opt.depth == "through"
        place = self._placement()
        self._name_w = np.array(self._name_widths(font))
        self._panel_h = self._detail_h = 0.0  # set by _make_slot
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
        self._slots = [self._make_slot(place) for _ in range(opt.max_panels)]
        self._detail = self._make_slot(place, detail=True)
        self._hide_all()

    # -- construction ------------------------------------------------------------------------

    def _placement(self) -> _Place:
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

    def _make_slot(self, place: _Place, detail: bool = False) -> _Slot:
        """A pooled panel. Rows from the top: name; state and alarm message; labels (or, for
        the detail panel, every property); gauges with bars; a sparkline at the bottom."""
        s, t = self.shapes, self.text
        origin = (0.0, 0.0, 0.0)
        b = self.bindings
        if detail:
            rows, n_gauges, spark_h = DETAIL_ROWS, 0, 0.0
        else:
            rows = int(min(3, b.label_mask.sum(axis=1).max(initial=0)))
            n_gauges = int(min(2, b.gauge_mask.sum(axis=1).max(initial=0)))
            spark_h = 2.0 if rows else 0.0
        height = ROW * (2 + rows + n_gauges) + spark_h + 0.7
        if detail:
            self._detail_h = height
        else:
            self._panel_h = height
        # the detail panel stands beside its machine, the others above it
        width = DETAIL_W if detail else PANEL_W
        x0 = 1.0 if detail else -width / 2
        x1 = x0 + width
        background = s.add_rect(
            origin, (x0, 0.0, width, height), radius=0.4, color=BACKGROUND, **place
        )
        strip = s.add_rect(
            origin, (x0, height - 0.35, width, 0.35), radius=0.15, color=DIM, **place
        )
        badge = s.add_circle(
            origin,
            (x1 - 0.2, height - 0.2),
            0.55,
            color=ALARM_RGBA[2],
            pulse=True,
            icon_color=TEXT,
            **place,
        )
        y = height - 0.6 - ROW + 0.3
        title = t.add("", origin, color=TEXT, align="left", em=1.0, offset=(x0 + 0.5, y), **place)
        y -= ROW
        state = t.add("", origin, color=DIM, align="left", em=0.8, offset=(x0 + 0.5, y), **place)
        message = t.add(
            "", origin, color=MESSAGE, align="right", em=0.75, offset=(x1 - 0.5, y), **place
        )
        row_handles = []
        for _ in range(rows):
            y -= ROW
            row_handles.append(
                (
                    t.add(
                        "", origin, color=DIM, align="left", em=0.8, offset=(x0 + 0.5, y), **place
                    ),
                    t.add(
                        "", origin, color=TEXT, align="right", em=0.8, offset=(x1 - 0.5, y), **place
                    ),
                )
            )
        widgets, gauge_handles = [], []
        for _ in range(n_gauges):
            y -= ROW
            gauge_handles.append(
                (
                    t.add(
                        "", origin, color=DIM, align="left", em=0.7, offset=(x0 + 0.5, y), **place
                    ),
                    t.add(
                        "", origin, color=TEXT, align="right", em=0.7, offset=(x1 - 0.5, y), **place
                    ),
                )
            )
            widgets.append(self._make_gauge(place, x0 + 0.5, x1 - 0.5, y))
        spark = s.add_polyline(
            origin, np.full((SPARK_POINTS, 2), np.nan), thickness=0.12, color=SPARK, **place
        )
        shapes = [background, strip, badge, *(h for w in widgets for h in w.shapes), spark]
        return _Slot(
            -1,
            shapes,
            background,
            strip,
            badge,
            widgets,
            spark,
            title,
            state,
            message,
            row_handles,
            gauge_handles,
            detail,
        )

    def _make_gauge(self, place: _Place, left: float, right: float, y: float) -> _GaugeWidget:
        s, origin = self.shapes, (0.0, 0.0, 0.0)
        track = (1.0, 1.0, 1.0, 0.15)
        bar_rect = (left, y - 0.52, right - left, 0.26)
        band_rect = (left, y - 0.66, right - left, 0.1)
        bar_bands = tuple(
            s.add_bar(origin, band_rect, 1.0, color=DIM, track_color=(0, 0, 0, 0), **place)
            for _ in range(3)
        )
        bar = s.add_bar(origin, bar_rect, 0.0, color=BAND_RGBA[0], track_color=track, **place)
        centre = (right - 0.55, y + 0.2)
        arc_bands = tuple(
            s.add_arc(
                origin,
                centre,
                0.62,
                0.1,
                225.0,
                -45.0,
                fraction=1.0,
                color=DIM,
                track_color=(0, 0, 0, 0),
                **place,
            )
            for _ in range(3)
        )
        arc = s.add_arc(origin, centre, 0.42, 0.2, 225.0, -45.0, fraction=0.0,
                        color=BAND_RGBA[0], track_color=track, **place)  # fmt: skip
        value = self.text.add("", origin, color=TEXT, align="right", em=0.7,
                              offset=(right - 1.4, y), **place)  # fmt: skip
        return _GaugeWidget(bar, bar_bands, arc, arc_bands, value)  # type: ignore[arg-type]

    def _slot_texts(self, slot: _Slot) -> list[int]:
        out = [slot.title, slot.state, slot.message]
        for a, b in slot.rows + slot.gauges:
            out += [a, b]
        return out + [w.radial_value for w in slot.widgets]

    def _hide_all(self) -> None:
        every = [self.dots, self.pills, self.pill_dots, self.badges]
        self.shapes.set_visible(np.concatenate(every), False)
        self.text.set_colors(self.names, np.zeros((self._name_pool, 4), np.float32))
        for slot in [*self._slots, self._detail]:
            self._show_slot(slot, False)

    def _show_slot(self, slot: _Slot, on: bool) -> None:
        self.shapes.set_visible(np.array(slot.shapes), on)
        if not on:
            handles = np.array(self._slot_texts(slot))
            self.text.set_colors(handles, np.zeros((len(handles), 4), np.float32))
            slot.machine = -1

    # -- per frame ---------------------------------------------------------------------------

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
            taken.append((x + u, y - self._detail_h * u, x + (1 + DETAIL_W) * u, y))
        level = place_panels(level, place, taken, self._panel_h, opt.max_panels, opt.declutter)
        if opt.declutter:
            level = place_pills(level, place, self._name_w, np.array(taken).reshape(-1, 4))
        dist = place.dist
        mid = np.flatnonzero(level == MID)
        if mid.size > self._name_pool:  # the nearest pills keep their names
            level[mid[np.argsort(dist[mid], kind="stable")[self._name_pool :]]] = FAR
        self.level = level
        self._update_far_mid(state, level)
        updates = self._update_slots(store, state, level, dist, now)
        updates += self._update_detail(store, state, selected, now)
        self.text_updates = updates
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

    def _update_far_mid(self, state: BindingState, level: npt.NDArray[np.int8]) -> None:
        s = self.shapes
        status = self._status_rgba(state)
        alarmed = state.alarm_level > 0
        s.set_colors(self.dots, status)
        s.set_visible(self.dots, level == FAR)
        s.set_visible(self.pills, level == MID)
        s.set_colors(self.pill_dots, status)
        s.set_visible(self.pill_dots, level == MID)
        self._assign_names(np.flatnonzero(level == MID))
        s.set_colors(self.badges, ALARM_RGBA[state.alarm_level])
        badged = alarmed & ((level == FAR) | (level == MID))
        s.set_visible(self.badges, badged)

    def _assign_names(self, mid: npt.NDArray[np.intp]) -> None:
        """Give each pill's machine a name from the pool; names keep their machine while it
        stays a pill, so only newcomers are laid out."""
        shown = self._name_of
        keep = np.isin(shown, mid)
        newcomers = np.setdiff1d(mid, shown[keep])
        free = np.flatnonzero(~keep)
        t = self.text
        for slot, m in zip(free.tolist(), newcomers.tolist(), strict=False):
            t.set_text(int(self.names[slot]), self.scene.machines[m].name)
            shown[slot] = m
        shown[~keep] = np.where(np.isin(shown[~keep], mid), shown[~keep], -1)
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
    ) -> int:
        wanted = np.flatnonzero(level == NEAR)
        wanted = wanted[np.argsort(dist[wanted], kind="stable")]
        keep = set(wanted.tolist())
        free = []
        for slot in self._slots:
            if slot.machine not in keep:
                if slot.machine >= 0:
                    self._show_slot(slot, False)
                free.append(slot)
            else:
                keep.discard(slot.machine)
        for m, slot in zip(sorted(keep, key=lambda i: dist[i]), free, strict=False):
            slot.machine = m
            self._show_slot(slot, True)
        updates = 0
        for slot in self._slots:
            if slot.machine >= 0:
                updates += self._fill(slot, store, state, now)
        return updates

    def _update_detail(
        self, store: TwinStore, state: BindingState, selected: int | None, now: float
    ) -> int:
        slot = self._detail
        if selected is None or not 0 <= selected < self.n:
            if slot.machine >= 0:
                self._show_slot(slot, False)
            return 0
        if slot.machine != selected:
            slot.machine = selected
            self._show_slot(slot, True)
        return self._fill(slot, store, state, now)

    def _fill(self, slot: _Slot, store: TwinStore, state: BindingState, now: float) -> int:
        """Write one panel's anchor, colours and texts; returns the strings rewritten."""
        m = slot.machine
        t, s = self.text, self.shapes
        anchor = self.anchors[m][None, :]
        t.set_anchors(
            np.array(self._slot_texts(slot)), np.repeat(anchor, len(self._slot_texts(slot)), 0)
        )
        s.set_anchors(np.array(slot.shapes), np.repeat(anchor, len(slot.shapes), 0))
        stale = bool(state.stale[m])
        s.set_colors(
            np.array([slot.background]), np.array([STALE_BACKGROUND if stale else BACKGROUND])
        )
        s.set_colors(np.array([slot.strip]), self._status_rgba(state)[m : m + 1])
        level = int(state.alarm_level[m])
        s.set_colors(np.array([slot.badge]), ALARM_RGBA[level : level + 1])
        s.set_visible(np.array([slot.badge]), level > 0)
        texts: list[tuple[int, str, tuple[float, ...]]] = []
        machine = self.scene.machines[m]
        texts.append((slot.title, machine.name, TEXT))
        state_text = store.display(m, "state") if store.prop("state") else None
        stale_text = "stale" if stale else (str(state_text) if state_text is not None else "—")
        texts.append((slot.state, stale_text, DIM))
        texts.append((slot.message, self._alarm_message(state, m), MESSAGE))
        rows = self._rows(store, m, now, detail=slot.detail)
        for (a, b), row in zip(slot.rows, rows + [("", "")] * len(slot.rows), strict=False):
            texts.append((a, row[0], DIM))
            texts.append((b, row[1], TEXT))
        gauges: list[int] = (
            [] if slot.detail else np.flatnonzero(self.bindings.gauge_mask[m]).tolist()
        )
        for k, ((a, b), widget) in enumerate(zip(slot.gauges, slot.widgets, strict=True)):
            if k >= len(gauges):
                texts += [(a, "", DIM), (b, "", TEXT), (widget.radial_value, "", TEXT)]
                s.set_visible(np.array(widget.shapes), False)
                continue
            g = int(gauges[k])
            rule = self.bindings.gauges[g]
            radial = rule.style == "radial"
            value_text = self.bindings.gauge_text(store, g, m)
            texts.append((a, rule.title or rule.property, DIM))
            texts.append((b, "" if radial else value_text, TEXT))
            texts.append((widget.radial_value, value_text if radial else "", TEXT))
            band = max(0, int(state.gauge_band[m, g]))
            value, bands = (
                (widget.arc, widget.arc_bands) if radial else (widget.bar, widget.bar_bands)
            )
            s.set_visible(np.array(widget.shapes), False)
            s.set_fraction(np.array([value]), np.array([float(state.gauge_fraction[m, g])]))
            s.set_colors(np.array([value]), BAND_RGBA[band : band + 1])
            fractions, colors = band_layers(rule)
            s.set_fraction(np.array(bands), fractions)
            s.set_colors(np.array(bands), colors)
            s.set_visible(np.array([value, *bands]), True)
        self._spark(slot, store, m)
        changed = 0
        for handle, text, color in texts:
            entry_text = t.text_of(handle)
            if entry_text != text:
                t.set_text(handle, text)
                changed += 1
            t.set_colors(np.array([handle]), np.array([color if text else (0, 0, 0, 0)]))
        return changed

    def _alarm_message(self, state: BindingState, m: int) -> str:
        active: list[int] = np.flatnonzero(state.alarms[m]).tolist()
        if len(active) == 0:
            return ""
        rules = self.bindings.alarms
        worst = max(active, key=lambda k: rules[int(k)].level)
        more = f" (+{len(active) - 1})" if len(active) > 1 else ""
        return rules[int(worst)].message + more

    def _rows(self, store: TwinStore, m: int, now: float, detail: bool) -> list[tuple[str, str]]:
        if detail:
            out = []
            for spec in store.properties:
                if spec.name == "state":
                    continue
                value = store.value[m, store.prop_index(spec.name) or 0]
                if np.isnan(value):
                    continue
                text = format_value(store, spec, float(value), "", None)
                if text:  # an empty string (no fault code) says nothing
                    out.append((spec.name.replace("_", " "), text))
            return out[:DETAIL_ROWS]
        labels = np.flatnonzero(self.bindings.label_mask[m])
        return [
            (
                self.bindings.labels[int(k)].title or self.bindings.labels[int(k)].property,
                self.bindings.label_text(store, int(k), m, now),
            )
            for k in labels[:3]
        ]

    def _spark(self, slot: _Slot, store: TwinStore, m: int) -> None:
        name = next(
            (
                self.bindings.labels[int(k)].property
                for k in np.flatnonzero(self.bindings.label_mask[m])
                if self.bindings.labels[int(k)].property
                and (spec := store.prop(self.bindings.labels[int(k)].property)) is not None
                and spec.kind == "number"
            ),
            None,
        )
        if name is None or slot.detail:
            self.shapes.set_visible(np.array([slot.spark]), False)
            return
        _, values = store.history(name)
        series = values[m, -SPARK_POINTS:]
        finite = series[np.isfinite(series)]
        if finite.size < 2:
            self.shapes.set_visible(np.array([slot.spark]), False)
            return
        lo, hi = float(finite.min()), float(finite.max())
        span = hi - lo if hi > lo else 1.0
        points = np.full((SPARK_POINTS, 2), np.nan)
        k = series.shape[0]
        bottom = 0.45
        points[-k:, 0] = np.linspace(-PANEL_W / 2 + 0.5, PANEL_W / 2 - 0.5, SPARK_POINTS)[-k:]
        points[-k:, 1] = bottom + (series - lo) / span * 1.3
        self.shapes.set_polyline(slot.spark, points)
        self.shapes.set_visible(np.array([slot.spark]), True)

    # -- drawing -----------------------------------------------------------------------------

    def draw(self, views: Sequence[View], now: float = 0.0) -> int:
        """Draw shapes then text over the scene already in the views' targets."""
        return self.shapes.draw(views, time=now) + self.text.draw(views)

    def release(self) -> None:
        self.shapes.release()
        self.text.release()
