"""Real EGL rendering, checked pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from xrclient.backends.headless import HeadlessBackend
from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.core.visuals import MachineVisuals
from xrclient.render.renderer import Renderer

from .helpers import (
    BLUE,
    RED,
    box_mask,
    box_mesh,
    dominant,
    geometry_of,
    is_background,
    mesh_from_trimesh,
    points_mesh,
    scene_of,
    screen_bbox,
)

GRID = [(x, 0.0, z) for z in (-1.5, 1.5) for x in (-3.0, 0.0, 3.0)]


Box = tuple[int, int, int, int]


def grid_renderer(headless: HeadlessBackend) -> tuple[Renderer, View, list[Box]]:
    geometry = geometry_of(scene_of([("box", p) for p in GRID]), {"box": box_mesh()})
    renderer = Renderer(headless.ctx, geometry)
    view = headless.view_from((0.0, 7.0, 8.0), (0.0, 0.0, 0.0), fov_deg=55.0)
    boxes = [screen_bbox(view, b, headless.size) for b in geometry.machine_bounds]
    return renderer, view, boxes


def test_empty_scene_is_only_background(headless: HeadlessBackend) -> None:
    renderer = Renderer(headless.ctx, geometry_of(scene_of([]), {}))
    stats = headless.render(renderer, [headless.view_from((0, 1, 5), (0, 0, 0))])
    img = headless.read_rgb()
    renderer.release()
    assert stats.draw_calls == 0
    assert img.shape == (headless.size[1], headless.size[0], 3)
    assert (img == img[0, 0]).all()
    assert is_background(img, tol=1).all()


def test_tints_stay_inside_their_machines(headless: HeadlessBackend) -> None:
    renderer, view, boxes = grid_renderer(headless)
    visuals = MachineVisuals(len(GRID))
    visuals.set_tint(1, RED)
    visuals.set_tint(3, BLUE)
    headless.render(renderer, [view], visuals)
    img = headless.read_rgb()
    renderer.release()

    red, blue = dominant(img, 0), dominant(img, 2)
    in_red, in_blue = box_mask(img.shape, boxes[1]), box_mask(img.shape, boxes[3])
    assert red[in_red].sum() > 40
    assert blue[in_blue].sum() > 40
    assert not red[~in_red].any()
    assert not blue[~in_blue].any()
    # the other machines stay grey
    others = ~(in_red | in_blue) & ~is_background(img, tol=3)
    assert others.sum() > 200
    spread = img[others].max(axis=1).astype(int) - img[others].min(axis=1)
    assert spread.max() < 45


@pytest.mark.parametrize("effect", ["highlight", "emissive"])
def test_highlight_and_emissive_brighten_one_machine(
    headless: HeadlessBackend, effect: str
) -> None:
    renderer, view, boxes = grid_renderer(headless)
    visuals = MachineVisuals(len(GRID))
    headless.render(renderer, [view], visuals)
    before = headless.read_rgb().astype(np.int32)
    k = 4
    if effect == "highlight":
        visuals.highlight[k] = 1.0
    else:
        visuals.emissive[k] = (0.25, 0.25, 0.25)
    headless.render(renderer, [view], visuals)
    after = headless.read_rgb().astype(np.int32)
    renderer.release()

    inside = box_mask(before.shape, boxes[k])
    machine = inside & ~is_background(before.astype(np.uint8))
    gain = (after - before).sum(axis=2)
    assert machine.sum() > 40
    assert gain[machine].mean() > 30
    assert (gain[machine] >= 0).all()
    assert (after[~inside] == before[~inside]).all()


@pytest.mark.parametrize("back_first", [False, True])
def test_depth_hides_the_box_behind(headless: HeadlessBackend, back_first: bool) -> None:
    front, back = ("small", (0.0, 0.0, 1.0)), ("big", (0.0, 0.0, -1.5))
    machines = [back, front] if back_first else [front, back]
    meshes = {"small": box_mesh((1.0, 1.0, 1.0)), "big": box_mesh((3.0, 3.0, 1.0))}
    geometry = geometry_of(scene_of(machines), meshes)
    renderer = Renderer(headless.ctx, geometry)
    i_front, i_back = (1, 0) if back_first else (0, 1)
    visuals = MachineVisuals(2)
    visuals.set_tint(i_front, RED)
    visuals.set_tint(i_back, BLUE)
    view = headless.view_from((0.0, 0.0, 7.0), (0.0, 0.0, 0.0), fov_deg=50.0)
    headless.render(renderer, [view], visuals)
    img = headless.read_rgb()
    renderer.release()

    x0, y0, x1, y1 = screen_bbox(view, geometry.machine_bounds[i_front], headless.size)
    core = box_mask(img.shape, (x0 + 3, y0 + 3, x1 - 3, y1 - 3))
    assert core.sum() > 100
    assert dominant(img, 0)[core].mean() > 0.95
    assert not dominant(img, 2)[core].any()
    assert dominant(img, 2)[~core].sum() > 200  # the back box is drawn around it


def test_draw_calls_do_not_grow_with_machines(headless: HeadlessBackend) -> None:
    meshes = {
        "box": box_mesh((0.4, 0.4, 0.4)),
        "drum": mesh_from_trimesh(trimesh.creation.cylinder(radius=0.2, height=0.5)),
    }
    stats = {}
    for count in (5, 500):
        side = int(np.ceil(np.sqrt(count)))
        placed = [
            ("box" if i % 2 else "drum", (float(i % side) - side / 2, 0.0, float(i // side)))
            for i in range(count)
        ]
        geometry = geometry_of(scene_of(placed), meshes)
        renderer = Renderer(headless.ctx, geometry)
        view = headless.view_from((0.0, 20.0, 30.0), (0.0, 0.0, 5.0))
        stats[count] = headless.render(renderer, [view], MachineVisuals(count))
        renderer.release()
        assert stats[count].instances == count
        assert stats[count].triangles == geometry.triangle_count
    assert stats[5].draw_calls == stats[500].draw_calls == 2


def test_two_views_render_a_stereo_pair(headless: HeadlessBackend) -> None:
    geometry = geometry_of(scene_of([("box", (0.0, 0.0, 0.0))]), {"box": box_mesh()})
    renderer = Renderer(headless.ctx, geometry)
    w, h = headless.size
    half = w // 2
    views = []
    for i, dx in enumerate((-0.05, 0.05)):
        eye, target = (dx, 0.5, 3.0), (dx, 0.0, 0.0)
        views.append(
            View(
                view=math3d.look_at(eye, target),
                projection=math3d.perspective(60.0, half / h, 0.1, 50.0),
                viewport=(i * half, 0, half, h),
            )
        )
    stats = headless.render(renderer, views)
    img = headless.read_rgb()
    renderer.release()

    assert stats.views == 2 and stats.draw_calls == 1
    left, right = img[:, :half], img[:, half:]
    fg_left, fg_right = ~is_background(left), ~is_background(right)
    assert fg_left.sum() > 300 and fg_right.sum() > 300
    assert 0.8 < fg_left.sum() / fg_right.sum() < 1.25
    assert not (left == right).all()
    # the left eye sits left, so it sees the object further right
    cx_left = np.nonzero(fg_left)[1].mean()
    cx_right = np.nonzero(fg_right)[1].mean()
    assert cx_left > cx_right + 0.5


@pytest.mark.parametrize(("srgb", "expected"), [(True, 128), (False, 55)])
def test_srgb_output_encodes_linear_light(
    headless: HeadlessBackend, srgb: bool, expected: int
) -> None:
    grey = (0.214, 0.214, 0.214, 1.0)
    dot = points_mesh([0.0, 0.0, 0.0], grey)
    geometry = geometry_of(scene_of([("dot", (0.0, 0.0, 0.0))]), {"dot": dot})
    renderer = Renderer(headless.ctx, geometry, srgb_output=srgb, point_size=12.0)
    headless.render(renderer, [headless.view_from((0.0, 0.0, 4.0), (0.0, 0.0, 0.0))])
    img = headless.read_rgb().astype(int)
    renderer.release()
    w, h = headless.size
    centre = img[h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2]
    assert np.abs(centre - expected).max() <= 2
    assert is_background(img[:10, :10].astype(np.uint8), srgb=srgb, tol=1).all()


def test_points_render_where_projected(headless: HeadlessBackend) -> None:
    xs, ys = np.meshgrid(np.linspace(-1.5, 1.5, 6), np.linspace(-1.0, 1.0, 5))
    pts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1)
    mesh = points_mesh(pts, (0.9, 0.1, 0.1, 1.0))
    geometry = geometry_of(scene_of([("cloud", (0.0, 0.0, 0.0))]), {"cloud": mesh})
    renderer = Renderer(headless.ctx, geometry, point_size=4.0)
    view = headless.view_from((0.0, 0.0, 5.0), (0.0, 0.0, 0.0))
    stats = headless.render(renderer, [view])
    img = headless.read_rgb()
    renderer.release()

    assert stats.draw_calls == 1 and stats.triangles == 0
    red = dominant(img, 0)
    ndc = math3d.transform_points(view.view_projection, pts)
    w, h = headless.size
    px = ((ndc[:, 0] + 1) / 2 * w).astype(int)
    py = ((1 - ndc[:, 1]) / 2 * h).astype(int)
    assert red[py, px].all()
    assert red.sum() < len(pts) * 4 * 4 + 1  # fixed-size squares, nothing else


def test_read_rgb_puts_the_top_of_the_view_first(headless: HeadlessBackend) -> None:
    geometry = geometry_of(scene_of([("box", (0.0, 1.6, 0.0))]), {"box": box_mesh()})
    renderer = Renderer(headless.ctx, geometry)
    headless.render(renderer, [headless.view_from((0.0, 0.0, 6.0), (0.0, 0.0, 0.0))])
    img = headless.read_rgb()
    renderer.release()
    rows = np.nonzero(~is_background(img))[0]
    assert rows.size > 100
    assert rows.max() < headless.size[1] // 2


def test_translucent_assets_blend_over_opaque(headless: HeadlessBackend) -> None:
    meshes = {
        "wall": box_mesh((4.0, 4.0, 0.1)),
        "glass": box_mesh((1.0, 1.0, 0.1), rgba=(0.0, 0.0, 1.0, 0.5)),
    }
    placed = [("glass", (0.0, 0.0, 1.0)), ("wall", (0.0, 0.0, 0.0))]
    geometry = geometry_of(scene_of(placed), meshes)
    renderer = Renderer(headless.ctx, geometry)
    visuals = MachineVisuals(2)
    visuals.set_tint(1, RED)
    view = headless.view_from((0.0, 0.0, 6.0), (0.0, 0.0, 0.0), fov_deg=50.0)
    headless.render(renderer, [view], visuals)
    img = headless.read_rgb().astype(int)
    renderer.release()
    w, h = headless.size
    centre = img[h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2].reshape(-1, 3)
    edge = img[h // 2, w // 2 + 25]  # wall only
    # two half-transparent blue faces over the red wall: a quarter of the red remains
    assert (centre[:, 0] > 25).all()
    assert (centre[:, 0] < edge[0] * 0.5).all()
    assert (centre[:, 2] > edge[2] + 60).all()


def test_visuals_must_match_the_machine_count(headless: HeadlessBackend) -> None:
    geometry = geometry_of(scene_of([("box", (0.0, 0.0, 0.0))]), {"box": box_mesh()})
    renderer = Renderer(headless.ctx, geometry)
    view = headless.view_from((0.0, 0.0, 6.0), (0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="do not fit"):
        headless.render(renderer, [view], MachineVisuals(5000))
    renderer.release()


def test_srgb_output_applies_to_lit_meshes(headless: HeadlessBackend) -> None:
    geometry = geometry_of(scene_of([("box", (0.0, 0.0, 0.0))]), {"box": box_mesh()})
    view = headless.view_from((0.0, 1.0, 4.0), (0.0, 0.0, 0.0))
    w, h = headless.size
    centre = {}
    for srgb in (False, True):
        renderer = Renderer(headless.ctx, geometry, srgb_output=srgb)
        headless.render(renderer, [view])
        centre[srgb] = headless.read_rgb()[h // 2, w // 2].astype(float) / 255.0
        renderer.release()
    linear = centre[False]
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    assert (centre[True] > linear + 0.08).all()
    assert np.abs(encoded - centre[True]).max() < 4 / 255


def test_views_can_target_their_own_framebuffer(headless: HeadlessBackend) -> None:
    geometry = geometry_of(scene_of([("box", (0.0, 0.0, 0.0))]), {"box": box_mesh()})
    renderer = Renderer(headless.ctx, geometry)
    target = headless.ctx.simple_framebuffer((64, 48))
    view = View(
        view=math3d.look_at((0.0, 1.0, 4.0), (0.0, 0.0, 0.0)),
        projection=math3d.perspective(60.0, 64 / 48, 0.1, 20.0),
        viewport=(0, 0, 64, 48),
        framebuffer=target,
    )
    headless.fbo.use()
    renderer.draw([view])
    raw = np.frombuffer(target.read(components=3), dtype=np.uint8).reshape(48, 64, 3)
    renderer.release()
    target.release()
    foreground = ~is_background(raw)
    assert 100 < foreground.sum() < 64 * 48 // 4


def test_point_light_brightens_what_it_is_near(headless: HeadlessBackend) -> None:
    """The shader compiled for point lights (no directional ones) lights by distance."""
    from xrclient.scene.model import Light

    geometry = geometry_of(scene_of([("box", (0.0, 0.0, 0.0))]), {"box": box_mesh()})
    view = headless.view_from((0.0, 3.0, 6.0), (0.0, 0.0, 0.0))

    def mean_of_box(lights: tuple[Light, ...]) -> float:
        renderer = Renderer(headless.ctx, geometry, lights)
        try:
            headless.render(renderer, [view])
            image = headless.read_rgb().astype(float)
        finally:
            renderer.release()
        h, w = image.shape[:2]
        return float(image[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].mean())

    ambient = Light("ambient", intensity=0.2)
    near = mean_of_box((ambient, Light("point", intensity=30.0, position=(0.0, 2.0, 2.0))))
    far = mean_of_box((ambient, Light("point", intensity=30.0, position=(0.0, 40.0, 40.0))))
    dark = mean_of_box((ambient,))
    assert near > far + 20
    assert far >= dark - 1
