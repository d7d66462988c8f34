"""Machine overlays rendered through EGL: ink where panels are, nowhere else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import trimesh

from xrclient.backends.headless import HeadlessBackend
from xrclient.core import math3d
from xrclient.core.bindings import Bindings
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.core.view import View
from xrclient.core.visuals import MachineVisuals
from xrclient.render.font import SdfFont, load_font
from xrclient.render.overlay_layout import FAR, NEAR
from xrclient.render.overlays import Overlays
from xrclient.render.renderer import Renderer
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene

SIZE = (480, 320)
SCHEMA = StreamSchema(
    ("NEAR", "FAR", "HIDDEN"),
    (
        PropertySpec("state", "enum", values=("RUNNING", "IDLE", "FAULT")),
        PropertySpec("temperature_c", "number", "°C"),
        PropertySpec("load_pct", "number", "%"),
    ),
)
SCENE = """
format = 1
[plant]
name = "overlay test"
[assets.box]
path = "box.glb"
[assets.wall]
path = "wall.glb"
[[lines]]
id = "L"
name = "line"
[[machines]]
id = "NEAR"
name = "Near machine"
type = "cnc_mill"
asset = "box"
line = "L"
cell = "c"
transform = {{ position = [0.0, 0.0, 0.0] }}
[[machines]]
id = "FAR"
name = "Far machine"
type = "cnc_mill"
asset = "box"
line = "L"
cell = "c"
transform = {{ position = [-34.0, 0.0, -60.0] }}
[[machines]]
id = "HIDDEN"
name = "Hidden machine"
type = "cnc_mill"
asset = "box"
line = "L"
cell = "c"
transform = {{ position = [9.0, 0.0, -6.0] }}
[[fixtures]]
id = "wall"
asset = "wall"
transform = {{ position = [9.0, 2.0, -3.0] }}
[twin]
stale_after_s = 10
[overlays]
depth = "{depth}"
near_m = 14
far_m = 40
unit_m = 0.12
min_px = 10
max_px = 16
[[bindings]]
color = {{ property = "state", states = {{ RUNNING = "#2e7d32", FAULT = "#c62828" }} }}
[[bindings]]
label = {{ property = "temperature_c", title = "Temperature", format = "{{:.1f}}" }}
[[bindings]]
gauge = {{ property = "load_pct", title = "Load", max = 100, warn = 85, alarm = 95 }}
[[bindings]]
alarm = {{ when = "temperature_c > 80", severity = "critical", message = "Too hot" }}
"""


def write_scene(folder: Path, depth: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box(extents=(2.0, 2.0, 2.0)).export(folder / "box.glb")
    trimesh.creation.box(extents=(6.0, 8.0, 0.3)).export(folder / "wall.glb")
    path = folder / "scene.toml"
    path.write_text(SCENE.format(depth=depth))
    return path


@pytest.fixture(scope="module")
def backend() -> Iterator[HeadlessBackend]:
    with HeadlessBackend(SIZE, samples=4) as b:
        yield b


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> SdfFont:
    return load_font(cache_dir=tmp_path_factory.mktemp("fonts"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scene, SceneGeometry]:
    scene = load_scene(write_scene(tmp_path_factory.mktemp("scene"), "test"))
    geometry, _ = load_geometry(scene, LoadLimits())
    return scene, geometry


def camera(backend: HeadlessBackend) -> View:
    return backend.view_from((0.0, 2.5, 9.0), (0.0, 1.5, 0.0), fov_deg=60.0, near=0.1, far=200.0)


def state_store(scene: Scene, temp: float, age: float = 0.0, now: float = 1e9) -> TwinStore:
    store = TwinStore([m.id for m in scene.machines])
    values = {"NEAR": (0.0, temp, 50.0), "FAR": (0.0, 30.0, 20.0), "HIDDEN": (0.0, 40.0, 20.0)}
    m, p, v = [], [], []
    for i, machine in enumerate(SCHEMA.machines):
        for k, value in enumerate(values[machine]):
            m.append(i)
            p.append(k)
            v.append(value)
    batch = UpdateBatch.build(SCHEMA, m, p, v, now - age, snapshot=True, sent=now)
    store.apply(batch, now)
    return store


def render(
    backend: HeadlessBackend,
    scene: Scene,
    geometry: SceneGeometry,
    font: SdfFont,
    store: TwinStore,
    now: float = 1e9,
    selected: int | None = None,
    overlays_on: bool = True,
) -> tuple[np.ndarray, Overlays | None]:
    """The scene coloured by ``store``'s state, with or without its overlays."""
    view = camera(backend)
    renderer = Renderer(backend.ctx, geometry, scene.lights)
    overlays = None
    try:
        bindings = Bindings.compile(scene)
        visuals = MachineVisuals(len(scene.machines))
        draw = None
        state = bindings.evaluate(store, now)
        bindings.apply(visuals)
        if overlays_on:
            overlays = Overlays(backend.ctx, scene, geometry, bindings, font)
            overlays.update(store, state, view, now, selected)
            layer = overlays

            def draw(views: list[View]) -> int:
                return layer.draw(views, now)

        backend.render(renderer, [view], visuals, draw)
        return backend.read_rgb().astype(int), overlays
    finally:
        renderer.release()
        if overlays is not None:
            overlays.release()


def screen_of(view: View, point: tuple[float, float, float]) -> tuple[float, float]:
    ndc = math3d.transform_points(view.view_projection, [point])[0]
    return (ndc[0] + 1) / 2 * SIZE[0], (1 - (ndc[1] + 1) / 2) * SIZE[1]


def ink(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).sum(axis=2) > 40


def test_levels_follow_distance_and_walls(backend, world, font) -> None:
    scene, geometry = world
    _, overlays = render(backend, scene, geometry, font, state_store(scene, 21.5))
    assert overlays is not None
    level = overlays.level
    assert level[scene.machine_index["NEAR"]] == NEAR
    assert level[scene.machine_index["FAR"]] == FAR


def test_panel_puts_ink_above_its_machine_and_nowhere_else(backend, world, font) -> None:
    scene, geometry = world
    store = state_store(scene, 21.5)
    plain, _ = render(backend, scene, geometry, font, store, overlays_on=False)
    with_panel, _ = render(backend, scene, geometry, font, store)
    changed = ink(with_panel, plain)
    view = camera(backend)
    x, y = screen_of(view, (0.0, 1.3, 0.0))  # the near machine's anchor
    # the panel grows upward from the anchor and is centred on it
    panel = np.zeros_like(changed)
    panel[: int(y) + 4, int(x) - 110 : int(x) + 110] = True
    assert changed[panel].sum() > 2000
    # far machine: a dot only, small
    fx, fy = screen_of(view, (-34.0, 1.3, -60.0))
    dot = np.zeros_like(changed)
    dot[int(fy) - 12 : int(fy) + 12, int(fx) - 12 : int(fx) + 12] = True
    assert 5 < changed[dot].sum() < 300
    stray = changed & ~panel & ~dot
    assert stray.sum() < 0.002 * stray.size, stray.sum()


def test_a_different_value_changes_the_panel(backend, world, font) -> None:
    scene, geometry = world
    a, _ = render(backend, scene, geometry, font, state_store(scene, 21.5))
    b, _ = render(backend, scene, geometry, font, state_store(scene, 27.5))
    diff = ink(a, b)
    assert diff.sum() > 10  # the digits changed
    _, y = screen_of(camera(backend), (0.0, 1.3, 0.0))
    assert not diff[int(y) + 5 :].any()  # nothing below the panel changed


def test_alarm_shows_a_red_badge(backend, world, font) -> None:
    scene, geometry = world
    calm, _ = render(backend, scene, geometry, font, state_store(scene, 21.5))
    hot, _ = render(backend, scene, geometry, font, state_store(scene, 88.0))

    def red(im: np.ndarray) -> np.ndarray:
        return (im[..., 0] > 180) & (im[..., 1] < 110) & (im[..., 2] < 110)

    x, y = screen_of(camera(backend), (0.0, 1.3, 0.0))
    region = (slice(0, int(y)), slice(int(x), SIZE[0]))
    assert red(hot[region]).sum() > red(calm[region]).sum() + 20


def test_stale_machines_get_a_grey_panel(backend, world, font) -> None:
    scene, geometry = world
    fresh, _ = render(backend, scene, geometry, font, state_store(scene, 21.5, age=1.0))
    stale, _ = render(backend, scene, geometry, font, state_store(scene, 21.5, age=60.0))
    x, y = screen_of(camera(backend), (0.0, 1.3, 0.0))
    # a pixel of panel background just above the anchor, left of centre
    px = fresh[int(y) - 6, int(x) - 40]
    ps = stale[int(y) - 6, int(x) - 40]
    assert ps.sum() > px.sum() + 60, (px, ps)


def test_depth_mode_hides_or_shows_a_panel_behind_a_wall(tmp_path, backend, font) -> None:
    images = {}
    for depth in ("test", "through"):
        scene = load_scene(write_scene(tmp_path / depth, depth))
        geometry, _ = load_geometry(scene, LoadLimits())
        store = state_store(scene, 21.5)
        plain, _ = render(backend, scene, geometry, font, store, overlays_on=False)
        shown, _ = render(backend, scene, geometry, font, store)
        images[depth] = ink(shown, plain)
    x, y = screen_of(camera(backend), (9.0, 1.3, -6.0))  # behind the wall
    box = (slice(int(y) - 60, int(y) + 4), slice(int(x) - 40, int(x) + 40))
    assert images["through"][box].sum() > images["test"][box].sum() + 50


def test_selected_machine_shows_a_detail_panel(backend, world, font) -> None:
    scene, geometry = world
    store = state_store(scene, 21.5)
    plain, _ = render(backend, scene, geometry, font, store)
    detail, _ = render(backend, scene, geometry, font, store, selected=0)
    assert ink(detail, plain).sum() > 500


def test_overlay_draw_calls_do_not_grow_with_machines(backend, world, font) -> None:
    scene, _ = world
    many = replace(
        scene,
        machines=tuple(
            replace(m, id=f"{m.id}-{k}", name=f"{m.name} {k}")
            for k in range(40)
            for m in scene.machines
        ),
        machine_index={},
    )
    for sc in (scene, many):
        geometry_n, _ = load_geometry(sc, LoadLimits())
        bindings = Bindings.compile(sc)
        store = TwinStore([m.id for m in sc.machines])
        overlays = Overlays(backend.ctx, sc, geometry_n, bindings, font)
        try:
            view = camera(backend)
            overlays.update(store, bindings.evaluate(store, time.time()), view, time.time())
            backend.fbo.use()
            assert overlays.draw([view]) == 2
        finally:
            overlays.release()


def test_demo_plant_matches_the_golden_image(tmp_path: Path) -> None:
    """Regenerate with ``make golden`` after an intended visual change."""
    from PIL import Image

    from .golden import GOLDEN, render_golden

    image = render_golden(font_cache=tmp_path).astype(int)
    golden = np.asarray(Image.open(GOLDEN).convert("RGB")).astype(int)
    assert image.shape == golden.shape
    diff = np.abs(image - golden).sum(axis=2)
    # tolerance for rasteriser differences between Mesa versions, not for content changes
    assert diff.mean() < 4.0, diff.mean()
    assert (diff > 60).mean() < 0.02, (diff > 60).mean()


def test_gauge_zones_stack_to_show_warn_and_alarm_bands(world) -> None:
    from xrclient.render.overlay_layout import BAND_RGBA, band_layers

    scene, _ = world
    bindings = Bindings.compile(scene)
    (high,) = bindings.gauges  # load: max 100, warn 85, alarm 95, high values bad
    fractions, colors = band_layers(high)
    assert fractions.tolist() == pytest.approx([1.0, 0.95, 0.85])
    # drawn in order: red to the end, amber to the alarm limit, green to the warn limit
    np.testing.assert_allclose(colors[:, :3], BAND_RGBA[[2, 1, 0], :3])
    low = replace(high, warn=25.0, alarm=10.0, direction="low")
    fractions, colors = band_layers(low)
    assert fractions.tolist() == pytest.approx([1.0, 0.25, 0.10])
    np.testing.assert_allclose(colors[:, :3], BAND_RGBA[[0, 1, 2], :3])


def test_layouts_are_due_at_a_bounded_rate_and_at_once_on_a_new_selection(
    backend, world, font
) -> None:
    scene, geometry = world
    bindings = Bindings.compile(scene)
    store = state_store(scene, 50.0)
    overlays = Overlays(backend.ctx, scene, geometry, bindings, font)
    try:
        assert overlays.due(100.0, None)
        overlays.update(store, bindings.evaluate(store, 100.0), camera(backend), 100.0)
        assert overlays.layouts == 1
        assert not overlays.due(100.01, None)
        assert overlays.due(100.01, 0)  # a new selection lays out at once
        assert overlays.due(100.04, None)  # 1/30 s later
        assert overlays.due(99.0, None)  # a clock step back never freezes the layout
    finally:
        overlays.release()


def test_a_long_value_shortens_its_label_and_never_overlaps_it(font: SdfFont) -> None:
    from xrclient.render.overlay_layout import DETAIL_W
    from xrclient.render.overlay_panels import ROW_GAP, fit_label
    from xrclient.render.text import measure

    value = "2026-11-12 14:30:27Z"
    label = fit_label(font, "last maintenance", value, DETAIL_W)
    assert label.endswith("…") and "last maintenance".startswith(label[:-1])
    used = measure(font, label, 0.8) + ROW_GAP + measure(font, value, 0.8)
    assert used <= DETAIL_W - 1.0
    assert fit_label(font, "cycle count", "110710", DETAIL_W) == "cycle count"
    assert fit_label(font, "program", "", DETAIL_W) == "program"


def test_overlays_draw_only_visible_elements_and_rewrite_only_changes(backend, world, font) -> None:
    """Hidden dots, pills, badges and pooled panels or names never reach the vertex stage,
    and a layout of an unchanged plant writes no machine's dot, pill or badge again."""
    scene, geometry = world
    store = state_store(scene, 21.5)
    bindings = Bindings.compile(scene)
    overlays = Overlays(backend.ctx, scene, geometry, bindings, font)
    try:
        view = camera(backend)
        state = bindings.evaluate(store, 1e9)
        overlays.update(store, state, view, 1e9)
        backend.fbo.use()
        assert overlays.draw([view], 1e9) == 2
        shapes, text = overlays.shapes, overlays.text
        # the batches' own tests check that only ``drawn`` instances reach the GPU
        assert 0 < shapes.drawn < shapes.instances and 0 < text.drawn <= text.glyphs
        drawn = shapes.drawn
        uploaded = shapes.uploaded_bytes
        overlays.update(store, state, view, 1e9 + 0.1)
        overlays.draw([view], 1e9 + 0.1)
        panel_rows = sum(len(s.shapes) for s in overlays._slots if s.machine >= 0)
        # only the panels' own shapes are written again (their fill), nothing else
        assert shapes.uploaded_bytes - uploaded <= panel_rows * 27 * 4
        assert shapes.drawn == drawn
    finally:
        overlays.release()
