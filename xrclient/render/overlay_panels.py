"""Full metric panels: building pooled panels and filling them for one machine.

A panel is a set of shapes and strings in the overlay batches, laid out in units around an
anchor: rows from the top are the name, the state and alarm message, the bindings' labels
(or, in the detail panel, every property the machine reports), gauges (bar or radial, over
their warn and alarm zones) and a sparkline of the first numeric label's history.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from xrclient.core.bindings import Bindings, BindingState
from xrclient.core.bindings_text import format_value
from xrclient.core.twin_store import TwinStore
from xrclient.render.font import SdfFont
from xrclient.render.overlay_layout import BAND_RGBA, DETAIL_W, PANEL_W, band_layers
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch, measure
from xrclient.scene.model import Scene

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

ROW = 1.25  # row height in units
ROW_GAP = 0.6  # units between a row's label and its value
SPARK_POINTS = 48
DETAIL_ROWS = 18
BACKGROUND = (0.06, 0.08, 0.10, 0.82)
STALE_BACKGROUND = (0.30, 0.31, 0.33, 0.82)
TEXT = (0.95, 0.96, 0.97, 1.0)
MESSAGE = (1.0, 0.8, 0.6, 1.0)
SPARK = (0.55, 0.8, 1.0, 1.0)
DIM = (0.70, 0.74, 0.78, 1.0)
ALARM_RGBA = np.array([[0, 0, 0, 0], [1.0, 0.72, 0.1, 1.0], [0.95, 0.2, 0.15, 1.0]], np.float32)


class Place(TypedDict):
    """Placement shared by every element: anchor units, clamps, depth mode."""

    size: float
    world: bool
    min_px: float
    max_px: float
    through: bool


@dataclass(frozen=True, slots=True)
class GaugeWidget:
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
class Slot:
    """One full panel of the pool: the handles of its elements."""

    machine: int
    shapes: list[int]  # background, state strip, badge, gauge bars...
    background: int
    strip: int
    badge: int
    widgets: list[GaugeWidget]
    spark: int
    title: int
    state: int
    message: int
    rows: list[tuple[int, int]]  # (title, value) strings
    gauges: list[tuple[int, int]]
    detail: bool = False
    anchored: int = -1  # the machine its elements are anchored at (-1: none yet)


@functools.lru_cache(maxsize=4096)
def fit_label(font: SdfFont, label: str, value: str, width: float) -> str:
    """``label`` shortened with an ellipsis so that it and ``value`` (both at the rows'
    0.8 em) fit a row of ``width`` units with a gap between them. Cached: panels refill
    the same rows with the same few values many times a second."""
    if not label or not value:
        return label
    room = width - 1.0 - ROW_GAP - measure(font, value, 0.8)
    if measure(font, label, 0.8) <= room:
        return label
    while label and measure(font, label + "…", 0.8) > room:
        label = label[:-1]
    return label.rstrip() + "…" if label else ""


class PanelBuilder:
    """Makes pooled panels in the overlay batches and fills them for a machine."""

    def __init__(
        self,
        shapes: ShapeBatch,
        text: TextBatch,
        scene: Scene,
        bindings: Bindings,
        anchors: F64,
        place: Place,
    ) -> None:
        self.shapes, self.text = shapes, text
        self.scene, self.bindings = scene, bindings
        self.anchors = anchors
        self.place = place
        self._bands: dict[int, tuple[F64, F32]] = {}  # per gauge rule: its zone layers
        self.panel_h = self.detail_h = 0.0  # heights in units, known once one is made

    def make(self, detail: bool = False) -> Slot:
        place = self.place
        """A pooled panel. Rows from the top: name; state and alarm message; labels (or, for
        the detail panel, every property); gauges with bars; a sparkline at the bottom."""
        s, t = self.shapes, self.text
        origin = (0.0, 0.0, 0.0)
        b = self.bindings
        if detail:
            rows, n_gauges, spark_h = DETAIL_ROWS, 0, 0.0
        else:
            rows = min(3, int(b.label_mask.sum(axis=1).max(initial=0)))
            n_gauges = min(2, int(b.gauge_mask.sum(axis=1).max(initial=0)))
            spark_h = 2.0 if rows else 0.0
        height = ROW * (2 + rows + n_gauges) + spark_h + 0.7
        if detail:
            self.detail_h = height
        else:
            self.panel_h = height
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
        return Slot(
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

    def _make_gauge(self, place: Place, left: float, right: float, y: float) -> GaugeWidget:
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
        return GaugeWidget(bar, bar_bands, arc, arc_bands, value)  # type: ignore[arg-type]  # the band tuples are built from range(3): three handles each

    def texts(self, slot: Slot) -> list[int]:
        out = [slot.title, slot.state, slot.message]
        for a, b in slot.rows + slot.gauges:
            out += [a, b]
        return out + [w.radial_value for w in slot.widgets]

    def show(self, slot: Slot, on: bool) -> None:
        self.shapes.set_visible(np.array(slot.shapes), on)
        if not on:
            handles = np.array(self.texts(slot))
            self.text.set_colors(handles, np.zeros((len(handles), 4), np.float32))
            slot.machine = -1

    def fill(
        self, slot: Slot, store: TwinStore, state: BindingState, status: F32, now: float
    ) -> int:
        """Write one panel's anchor, colours and texts; returns the strings rewritten.

        The shapes' colours, fill levels and visibility are gathered and written in one call
        each (a call costs more than the few rows it writes)."""
        m = slot.machine
        t, s = self.text, self.shapes
        if slot.anchored != m:  # a slot that keeps its machine keeps its anchors
            anchor = self.anchors[m][None, :]
            strings = self.texts(slot)
            t.set_anchors(np.array(strings), np.repeat(anchor, len(strings), 0))
            s.set_anchors(np.array(slot.shapes), np.repeat(anchor, len(slot.shapes), 0))
            slot.anchored = m
        stale = bool(state.stale[m])
        level = int(state.alarm_level[m])
        colored = [slot.background, slot.strip, slot.badge]
        colors = [
            np.array([STALE_BACKGROUND if stale else BACKGROUND], np.float32),
            status[m : m + 1],
            ALARM_RGBA[level : level + 1],
        ]
        filled: list[int] = []
        fills: list[F64] = []
        shown: list[int] = []
        hidden: list[int] = []
        (shown if level > 0 else hidden).append(slot.badge)
        texts: list[tuple[int, str, tuple[float, ...]]] = []
        machine = self.scene.machines[m]
        texts.append((slot.title, machine.name, TEXT))
        state_text = store.display(m, "state") if store.prop("state") else None
        quality = store.display(m, "quality") if store.prop("quality") else None
        shown_state = str(state_text) if state_text is not None else "—"
        if stale:
            shown_state = "offline" if quality == "OFFLINE" else "stale"
        elif quality in ("BAD", "UNCERTAIN"):  # a plant gateway's value quality
            shown_state = f"{shown_state} · {str(quality).lower()} data"
        texts.append((slot.state, shown_state, DIM))
        message = self._alarm_message(state, m)
        if not message and quality in ("BAD", "UNCERTAIN"):
            message = str(store.display(m, "quality_note") or "")
        texts.append((slot.message, message, MESSAGE))
        rows = self._rows(store, m, now, detail=slot.detail)
        width = DETAIL_W if slot.detail else PANEL_W
        for (a, b), row in zip(slot.rows, rows + [("", "")] * len(slot.rows), strict=False):
            texts.append((a, fit_label(self.text.font, row[0], row[1], width), DIM))
            texts.append((b, row[1], TEXT))
        gauges: list[int] = (
            [] if slot.detail else np.flatnonzero(self.bindings.gauge_mask[m]).tolist()
        )
        for k, ((a, b), widget) in enumerate(zip(slot.gauges, slot.widgets, strict=True)):
            if k >= len(gauges):
                texts += [(a, "", DIM), (b, "", TEXT), (widget.radial_value, "", TEXT)]
                hidden += widget.shapes
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
            fractions, layer_colors = self._band_layers(g)
            filled += [value, *bands]
            fills += [np.array([state.gauge_fraction[m, g]], np.float64), fractions]
            colored += [value, *bands]
            colors += [BAND_RGBA[band : band + 1], layer_colors]
            showing = {value, *bands}
            shown += showing
            hidden += [h for h in widget.shapes if h not in showing]
        (shown if self._spark(slot, store, m) else hidden).append(slot.spark)
        s.set_colors(np.array(colored), np.concatenate(colors))
        if filled:
            s.set_fraction(np.array(filled), np.concatenate(fills))
        if hidden:
            s.set_visible(np.array(hidden), False)
        if shown:
            s.set_visible(np.array(shown), True)
        changed = 0
        for handle, text, _ in texts:
            if t.text_of(handle) != text:
                t.set_text(handle, text)
                changed += 1
        t.set_colors(
            np.array([handle for handle, _, _ in texts]),
            np.array([color if text else (0, 0, 0, 0) for _, text, color in texts], np.float32),
        )
        return changed

    def _band_layers(self, gauge: int) -> tuple[F64, F32]:
        layers = self._bands.get(gauge)
        if layers is None:
            layers = self._bands[gauge] = band_layers(self.bindings.gauges[gauge])
        return layers

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

    def _spark(self, slot: Slot, store: TwinStore, m: int) -> bool:
        """Draw machine ``m``'s sparkline into the slot; False when it has none to show."""
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
            return False
        _, values = store.history(name, m)
        series = values[0, -SPARK_POINTS:]
        finite = series[np.isfinite(series)]
        if finite.size < 2:
            return False
        lo, hi = float(finite.min()), float(finite.max())
        span = hi - lo if hi > lo else 1.0
        points = np.full((SPARK_POINTS, 2), np.nan)
        k = series.shape[0]
        bottom = 0.45
        points[-k:, 0] = np.linspace(-PANEL_W / 2 + 0.5, PANEL_W / 2 - 0.5, SPARK_POINTS)[-k:]
        points[-k:, 1] = bottom + (series - lo) / span * 1.3
        self.shapes.set_polyline(slot.spark, points)
        return True
