"""Where overlays go on screen: levels of detail, declutter, gauge zones (numpy, no GL).

Every function works on arrays over all machines; the only Python loop (``place_panels``)
runs over at most three times the panel pool, never over all machines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core.rules import GaugeRule
from xrclient.core.view import View
from xrclient.scene.model import OverlayOptions

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Levels = npt.NDArray[np.int8]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels, y down

FAR, MID, NEAR, HIDDEN = 0, 1, 2, 3
PANEL_W = 12.5  # panel width in units
DETAIL_W = 15.0  # the detail panel's width
BAND_RGBA = np.array(
    [[0.35, 0.75, 0.45, 1.0], [0.98, 0.72, 0.10, 1.0], [0.95, 0.25, 0.20, 1.0]], np.float32
)


@dataclass(frozen=True, slots=True)
class ScreenPlacement:
    """Every anchor as one view sees it."""

    dist: F64  # metres from the eye
    px: F64  # (n, 2) pixel position, y down
    unit_px: F64  # pixels per overlay unit (clamped)
    onscreen: npt.NDArray[np.bool_]


def screen_placement(anchors: F64, view: View, options: OverlayOptions) -> ScreenPlacement:
    n = anchors.shape[0]
    eye = np.array(view.eye_position)
    dist = np.linalg.norm(anchors - eye, axis=1)
    clip = np.c_[anchors, np.ones(n)] @ view.view_projection.astype(np.float64).T
    w = clip[:, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        ndc = clip[:, :2] / w[:, None]
        px_per_m = 0.5 * float(view.viewport[3]) * float(view.projection[1, 1]) / w
    onscreen = (w > 1e-6) & (np.abs(ndc) <= 1.05).all(axis=1)
    width, height = float(view.viewport[2]), float(view.viewport[3])
    px = np.empty((n, 2))
    px[:, 0] = (ndc[:, 0] + 1.0) * 0.5 * width
    px[:, 1] = (1.0 - ndc[:, 1]) * 0.5 * height
    unit_px = np.clip(options.unit_m * np.nan_to_num(px_per_m), options.min_px, options.max_px)
    return ScreenPlacement(dist, px, unit_px, onscreen)


def distance_levels(place: ScreenPlacement, options: OverlayOptions) -> Levels:
    level = np.where(
        place.dist < options.near_m, NEAR, np.where(place.dist < options.far_m, MID, FAR)
    )
    return np.where(place.onscreen, level, HIDDEN).astype(np.int8)


def place_panels(
    level: Levels,
    place: ScreenPlacement,
    taken: list[Rect],
    panel_h: float,
    limit: int,
    declutter: bool,
) -> Levels:
    """Nearest first, up to ``limit`` near machines get a panel that overlaps no panel placed
    before it (``taken`` grows); the others fall back to a pill."""
    near = np.flatnonzero(level == NEAR)
    near = near[np.argsort(place.dist[near], kind="stable")]
    candidates = near[: 3 * limit] if declutter else near[:limit]
    level[near[candidates.shape[0] :]] = MID
    placed = 0
    for i in candidates.tolist():
        x, y, u = place.px[i, 0], place.px[i, 1], place.unit_px[i]
        rect = (x - PANEL_W / 2 * u, y - panel_h * u, x + PANEL_W / 2 * u, y)
        if placed >= limit or (declutter and overlaps(rect, taken)):
            level[i] = MID
            continue
        taken.append(rect)
        placed += 1
    return level


def place_pills(level: Levels, place: ScreenPlacement, name_w: F64, panels: F64) -> Levels:
    """Pills under a panel, or in a screen cell a nearer pill holds, become dots; dots under a
    panel are hidden."""
    px, unit_px, dist = place.px, place.unit_px, place.dist
    half_w = (name_w / 2 + 0.5) * unit_px
    half_h = 0.65 * unit_px
    for lvl, hw, hh, loser in (
        (MID, half_w, half_h, FAR),
        (FAR, 0.5 * unit_px, 0.5 * unit_px, HIDDEN),
    ):
        idx = np.flatnonzero(level == lvl)
        if idx.size == 0:
            continue
        if panels.size:
            x, y = px[idx, 0:1], px[idx, 1:2]
            under = (
                (x + hw[idx, None] > panels[:, 0])
                & (x - hw[idx, None] < panels[:, 2])
                & (y + hh[idx, None] > panels[:, 1])
                & (y - hh[idx, None] < panels[:, 3])
            ).any(axis=1)
            level[idx[under]] = loser
            idx = idx[~under]
        if lvl == MID and idx.size > 1:
            cell_w = float(np.median(2 * hw[idx])) + 1.0
            cell_h = float(np.median(2 * hh[idx])) + 1.0
            key = np.floor(px[idx, 0] / cell_w) * 1_000_003 + np.floor(px[idx, 1] / cell_h)
            order = np.lexsort((dist[idx], key))
            first = np.ones(idx.size, bool)
            first[1:] = key[order][1:] != key[order][:-1]
            level[idx[order[~first]]] = FAR
    return level


def overlaps(rect: Rect, taken: list[Rect]) -> bool:
    if not taken:
        return False
    t = np.asarray(taken)
    hit = (rect[0] < t[:, 2]) & (rect[2] > t[:, 0]) & (rect[1] < t[:, 3]) & (rect[3] > t[:, 1])
    return bool(hit.any())


def band_layers(rule: GaugeRule) -> tuple[F64, F32]:
    """Fractions and colours of three stacked layers, each filled from the gauge's start, that
    together show the normal, warn and alarm zones (a layer filled to 0 shows nothing)."""
    span = rule.max - rule.min

    def frac(v: float | None) -> float:
        return 0.0 if v is None else float(np.clip((v - rule.min) / span, 0.0, 1.0))

    ok, warn, alarm = BAND_RGBA * np.array([1.0, 1.0, 1.0, 0.6], np.float32)
    w, a = frac(rule.warn), frac(rule.alarm)
    if rule.direction == "high":  # [0, warn) ok, [warn, alarm) warn, [alarm, 1] alarm
        top = alarm if rule.alarm is not None else warn if rule.warn is not None else ok
        layers = [(1.0, top), (a, warn), (w, ok)]
    else:  # [0, alarm) alarm, [alarm, warn) warn, [warn, 1] ok
        layers = [(1.0, ok), (w, warn), (a, alarm)]
    return np.array([f for f, _ in layers]), np.stack([c for _, c in layers])
