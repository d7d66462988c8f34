"""A training run drawn headless (Mesa EGL): hazard zones in their colours where they stand,
the step's machine outlined, the instruction panel over it and the step's picture above."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.render.helpers import dominant, project, render_over
from xrclient.backends.headless import HeadlessBackend
from xrclient.render.font import SdfFont, load_font
from xrclient.render.training_layer import TrainingLayer
from xrclient.training import TrainingRun, TrainingView, parse_procedure

SIZE = (320, 240)
RED, GREEN, BLUE = 0, 1, 2
T0 = 1_760_000_000.0
PROCEDURE = """
format = 1
[procedure]
id = "p"
title = "Stop the mixer"
[[hazards]]
id = "left"
shape = "box"
offset = [-2.5, 0.5, 0]
size = [1.2, 1.0, 1.2]
message = "Keep out of the left cell"
[[hazards]]
id = "right"
shape = "cylinder"
offset = [2.5, -0.5, 0]
radius = 0.6
height = 1.0
message = "Keep out of the right cell"
[[steps]]
id = "stop"
text = "Press the red stop button on the mixer's panel and confirm."
machine = "MIX-1"
part = "panel"
complete = "confirm"
time_limit_s = 90
"""
BOUNDS = np.array([[[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]]])


@pytest.fixture(scope="module")
def headless() -> Iterator[HeadlessBackend]:
    with HeadlessBackend(SIZE, samples=4) as backend:
        yield backend


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> SdfFont:
    return load_font(cache_dir=tmp_path_factory.getbasetemp() / "font-cache")


def run_view(active: tuple[bool, bool], inside: tuple[bool, bool] = (False, False)) -> TrainingView:
    proc = parse_procedure(PROCEDURE, "test.toml")
    run = TrainingRun(proc, ["MIX-1"], {"MIX-1": (0.0, 0.0, 0.0)}, trainee="tess")
    view = run.update(None, T0 + 1.0)
    zones = tuple(
        replace(z, active=a, inside=i) for z, a, i in zip(view.zones, active, inside, strict=True)
    )
    return replace(view, zones=zones)


def test_zones_target_and_panel_are_drawn_where_they_stand(
    headless: HeadlessBackend, font: SdfFont, tmp_path: Path
) -> None:
    view = headless.view_from((0.0, 2.5, 10.0), (0.0, 1.8, 0.0), fov_deg=60.0)
    layer = TrainingLayer(headless.ctx, font, BOUNDS)
    try:
        tv = run_view(active=(True, False))
        assert [z.id for z in tv.zones] == ["left", "right"] and tv.target_machine == 0
        layer.update(tv)
        img = render_over(headless, [view], layer.draw)
    finally:
        layer.release()
    h = SIZE[1]
    red, green = dominant(img, RED, 25), dominant(img, GREEN, 25)

    def region(mask: np.ndarray, point: tuple[float, float, float], r: int = 8) -> int:
        x, y = (round(c) for c in project(view, point, h))
        return int(mask[max(0, y - r) : y + r, max(0, x - r) : x + r].sum())

    # the active box is red around its centre, the inactive cylinder green around its own
    assert region(red, (-2.5, 0.5, 0.0)) > 20
    assert region(green, (-2.5, 0.5, 0.0)) == 0
    assert region(green, (2.5, 0.0, 0.0)) > 20
    assert region(red, (2.5, 0.0, 0.0)) == 0
    # nothing red or green far from the zones (the machine's outline is cyan)
    assert region(red, (0.0, 0.0, 0.0), 5) == 0 and region(green, (0.0, 0.0, 0.0), 5) == 0
    # the target outline: cyan (blue and green high, red low) along the machine's box edges
    cyan = (img[..., BLUE] > 150) & (img[..., GREEN] > 120) & (img[..., RED] < 110)
    x0, y0 = project(view, (-0.575, 0.575, 0.575), h)
    _, y1 = project(view, (0.575, -0.575, 0.575), h)
    assert cyan[round(y0) : round(y1), round(x0) - 3 : round(x0) + 3].sum() > 5
    # the panel: the instruction over the machine, bright text on a dark panel
    assert layer.lines[0].text == "Stop the mixer"
    assert layer.lines[1].text.startswith("Step 1 of 1") and "1:30 left" in layer.lines[1].text
    assert any("press C when done" in line.text for line in layer.lines)
    px, py = project(view, layer.target_anchor(0), h)
    above = img[: round(py), round(px) - 60 : round(px) + 60]
    assert (above.max(axis=2) > 150).sum() > 60, "no text over the machine"


def test_a_zone_turns_red_when_in_force_and_the_panel_leads_with_the_warning(
    headless: HeadlessBackend, font: SdfFont
) -> None:
    view = headless.view_from((0.0, 2.5, 10.0), (0.0, 1.8, 0.0), fov_deg=60.0)
    layer = TrainingLayer(headless.ctx, font, BOUNDS)
    try:
        layer.update(run_view(active=(False, False)))
        before = render_over(headless, [view], layer.draw)
        entered = run_view(active=(False, True), inside=(False, True))
        layer.update(replace(entered, warnings=("Keep out of the right cell",)))
        after = render_over(headless, [view], layer.draw)
        assert layer.lines[0].kind == "warning"
        assert layer.lines[0].text == "WARNING: Keep out of the right cell"
        layer.update(None)
        empty = render_over(headless, [view], layer.draw)
    finally:
        layer.release()
    h = SIZE[1]
    x, y = (round(c) for c in project(view, (2.5, 0.0, 0.0), h))
    patch = (slice(y - 8, y + 8), slice(x - 8, x + 8))
    assert dominant(before, GREEN, 60)[patch].sum() > 20
    assert (
        dominant(after, RED, 60)[patch].sum() > 20 and dominant(after, GREEN, 60)[patch].sum() == 0
    )
    assert empty.max() == 0, "nothing is drawn without a run"


def _until_decoded(layer: TrainingLayer, tv: TrainingView) -> None:
    deadline = time.monotonic() + 10.0
    picture = layer.image.picture
    while picture.texture is None and not picture.message:
        assert time.monotonic() < deadline, "the step's picture was never decoded"
        time.sleep(0.01)
        layer.update(tv)


def test_the_steps_picture_stands_above_the_panel_in_its_own_colours(
    headless: HeadlessBackend, font: SdfFont, tmp_path: Path
) -> None:
    picture = tmp_path / "switch.png"
    Image.new("RGB", (400, 200), (255, 0, 255)).save(picture)  # 2:1, magenta
    view = headless.view_from((0.0, 9.0, 16.0), (0.0, 8.0, 0.0), fov_deg=90.0)
    layer = TrainingLayer(headless.ctx, font, BOUNDS)
    try:
        tv = replace(run_view(active=(False, False)), media=picture)
        layer.update(tv)
        decoding = layer.image.picture.texture is None  # the decode may already be done
        without = render_over(headless, [view], layer.draw)
        _until_decoded(layer, tv)
        assert layer.image.picture.size == (320, 160) and not layer.image.picture.message
        shown = render_over(headless, [view], layer.draw)
        layer.update(replace(tv, status="completed"))  # the run over: no picture
        after = render_over(headless, [view], layer.draw)
    finally:
        layer.release()

    def magenta(img: np.ndarray) -> np.ndarray:
        c = img.astype(np.int16)
        return (c[..., RED] > 200) & (c[..., BLUE] > 200) & (c[..., GREEN] < 60)

    assert magenta(after).sum() == 0

    # once the run is over nothing is in the step's cyan: no outline, and the result panel's
    # edge is green
    def cyan(img: np.ndarray) -> np.ndarray:  # the step's colour, blended or not
        c = img.astype(np.int16)
        return (c[..., BLUE] > c[..., RED] + 60) & (c[..., GREEN] > c[..., RED] + 60)

    assert cyan(after).sum() == 0 and layer.lines[1].kind == "done"
    assert cyan(shown).sum() > 50
    if decoding:  # while the picture is decoded the panel shows alone
        assert magenta(without).sum() == 0
    ys, xs = np.nonzero(magenta(shown))
    assert len(xs) > 1000, "the picture is not drawn"
    px, py = project(view, layer.target_anchor(0), SIZE[1])
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert abs((xs.min() + xs.max()) / 2 - px) < 3, "the picture is not centred on the panel"
    assert 1.8 < width / height < 2.2, f"aspect {width}x{height}"
    # above the panel, which stands above the anchor: a bright text row lies between them
    assert ys.max() < py - 20
    between = shown[ys.max() + 2 : round(py), round(px) - 40 : round(px) + 40]
    assert (between.max(axis=2) > 150).sum() > 30, "no panel under the picture"


def test_a_picture_that_cannot_be_shown_says_why_on_the_panel(
    headless: HeadlessBackend, font: SdfFont, tmp_path: Path
) -> None:
    bad = tmp_path / "switch.png"
    bad.write_bytes(b"<html>not a picture</html>")
    layer = TrainingLayer(headless.ctx, font, BOUNDS)
    try:
        tv = replace(run_view(active=(False, False)), media=bad)
        layer.update(tv)
        _until_decoded(layer, tv)
        layer.update(tv)
        assert layer.image.picture.texture is None
        assert layer.lines[-1].kind == "message"
        assert layer.lines[-1].text.startswith("image not shown: switch.png: not a readable image")
        layer.update(tv, panel=False)  # the desktop shows pictures in its HUD instead
        assert layer.lines == [] and layer.image.picture.path is None
    finally:
        layer.release()
