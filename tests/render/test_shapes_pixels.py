"""Billboarded shapes drawn through EGL, checked pixel by pixel against the projection."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import pytest

from xrclient.backends.headless import HeadlessBackend
from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.render.font import SdfFont, load_font
from xrclient.render.renderer import Renderer
from xrclient.render.shapes import ShapeBatch
from xrclient.render.text import TextBatch, measure

from .helpers import (
    EYE,
    FOV,
    bbox,
    box_mesh,
    dominant,
    front_view,
    geometry_of,
    project,
    render_over,
    scene_of,
)

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
ROW = 27 * 4  # bytes per instance record
GREEN, RED = (0.0, 1.0, 0.0, 1.0), (1.0, 0.0, 0.0, 1.0)


def render(
    headless: HeadlessBackend,
    batch: ShapeBatch,
    views: Sequence[View],
    renderer: Renderer | None = None,
    time: float = 0.0,
    extra: TextBatch | None = None,
) -> Image:
    """Draw the shapes (then ``extra`` text) over black or ``renderer``'s scene."""

    def draw(vs: Sequence[View]) -> None:
        batch.draw(vs, time=time)
        if extra is not None:
            extra.draw(vs)

    return render_over(headless, views, draw, renderer)


def ink(img: Image, level: int = 127) -> Mask:
    result: Mask = img.max(axis=2) > level
    return result


def pixel_centres(shape: tuple[int, ...]) -> tuple[npt.NDArray[np.float64], ...]:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    return xs + 0.5, ys + 0.5


def test_rect_covers_its_projected_rectangle(headless: HeadlessBackend) -> None:
    anchor, size, rect = (0.3, -0.2, 0.0), 8.0, (-4.0, -3.0, 8.0, 5.0)
    batch = ShapeBatch(headless.ctx)
    batch.add_rect(anchor, rect, size=size)
    view = front_view(headless)
    img = render(headless, batch, [view])
    batch.release()

    ax, ay = project(view, anchor, headless.size[1])
    left, right = ax + rect[0] * size, ax + (rect[0] + rect[2]) * size
    top, bottom = ay - (rect[1] + rect[3]) * size, ay - rect[1] * size
    x0, y0, x1, y1 = bbox(ink(img))
    assert abs(x0 - left) <= 1 and abs(x1 - right) <= 1
    assert abs(y0 - top) <= 1 and abs(y1 - bottom) <= 1
    xs, ys = pixel_centres(img.shape)
    inside = (xs > left + 1) & (xs < right - 1) & (ys > top + 1) & (ys < bottom - 1)
    outside = (xs < left - 1) | (xs > right + 1) | (ys < top - 1) | (ys > bottom + 1)
    assert (img[inside] == 255).all()
    assert (img[outside] == 0).all()


def test_bar_fills_its_fraction(headless: HeadlessBackend) -> None:
    size, rect = 8.0, (-5.0, -1.0, 10.0, 2.0)
    batch = ShapeBatch(headless.ctx)
    bars = [
        batch.add_bar((0.0, y, 0.0), rect, f, size=size, color=GREEN, track_color=RED)
        for y, f in ((1.0, 0.25), (-1.0, 0.75))
    ]
    view = front_view(headless)
    h = headless.size[1]

    def widths(img: Image) -> list[tuple[int, int]]:
        rows = [round(project(view, (0.0, y, 0.0), h)[1]) for y in (1.0, -1.0)]
        return [(int(dominant(img, 1)[r].sum()), int(dominant(img, 0)[r].sum())) for r in rows]

    full = rect[2] * size
    (g1, r1), (g2, r2) = widths(render(headless, batch, [view]))
    assert g1 == pytest.approx(0.25 * full, abs=1.5) and g1 + r1 == pytest.approx(full, abs=2)
    assert g2 == pytest.approx(0.75 * full, abs=1.5) and g2 + r2 == pytest.approx(full, abs=2)
    uploaded = batch.uploaded_bytes
    batch.set_fraction(bars, [math.nan, 1.0])  # missing: empty; full: no track
    (g1, r1), (g2, r2) = widths(render(headless, batch, [view]))
    assert batch.uploaded_bytes - uploaded == 2 * ROW
    batch.release()
    assert g1 == 0 and r1 == pytest.approx(full, abs=2)
    assert r2 == 0 and g2 == pytest.approx(full, abs=2)


def test_arc_fills_its_angular_sector(headless: HeadlessBackend) -> None:
    size = 8.0
    batch = ShapeBatch(headless.ctx)
    # from the top, clockwise three quarters of a turn, half filled: 90 deg down to -45 deg
    batch.add_arc(
        (0.0, 0.0, 0.0), (0.0, 0.0), 4.0, 2.0, 90.0, -180.0,
        fraction=0.5, size=size, color=GREEN, track_color=RED,
    )  # fmt: skip
    view = front_view(headless)
    img = render(headless, batch, [view])
    batch.release()
    ax, ay = project(view, (0.0, 0.0, 0.0), headless.size[1])

    def at(angle: float, radius_px: float = 4.0 * size) -> npt.NDArray[np.uint8]:
        a = math.radians(angle)
        pixel: npt.NDArray[np.uint8] = img[
            int(ay - radius_px * math.sin(a)), int(ax + radius_px * math.cos(a))
        ]
        return pixel

    green, red = (0, 255, 0), (255, 0, 0)
    for angle in (80.0, 45.0, 0.0, -30.0):
        assert tuple(at(angle)) == green, angle
    for angle in (-65.0, -100.0, -150.0, -170.0, 185.0):
        assert tuple(at(angle)) == red, angle
    for angle in (105.0, 135.0, 160.0):  # the gap between the ends
        assert not at(angle).any(), angle
    for angle in (0.0, 90.0, 200.0, -90.0):  # inside and outside the ring
        assert not at(angle, 2.0 * size).any() and not at(angle, 6.0 * size).any()


@pytest.mark.parametrize("radius", [0.0, 1.5])
def test_rounded_corners_are_cut(headless: HeadlessBackend, radius: float) -> None:
    size, rect = 8.0, (-4.0, -3.0, 8.0, 6.0)
    batch = ShapeBatch(headless.ctx)
    batch.add_rect((0.0, 0.0, 0.0), rect, size=size, radius=radius)
    view = front_view(headless)
    img = render(headless, batch, [view])[..., 0].astype(np.float64)
    batch.release()
    ax, ay = project(view, (0.0, 0.0, 0.0), headless.size[1])
    left, top = int(ax + rect[0] * size), int(ay - (rect[1] + rect[3]) * size)
    right, bottom = left + int(rect[2] * size), top + int(rect[3] * size)

    corners = [img[y, x] for x in (left, right - 1) for y in (top, bottom - 1)]
    r_px = radius * size
    area = rect[2] * rect[3] * size**2 - (4.0 - math.pi) * r_px**2
    assert img.sum() / 255.0 == pytest.approx(area, rel=0.01)
    if radius:
        assert max(corners) == 0
        assert img[top + 2, left + int(r_px)] == 255 and img[top + int(r_px), left + 2] == 255
    else:
        assert min(corners) == 255


def test_circle_area_and_centre(headless: HeadlessBackend) -> None:
    size, centre, radius = 10.0, (1.037, -0.521), 3.03
    batch = ShapeBatch(headless.ctx)
    batch.add_circle((0.2, 0.1, 0.0), centre, radius, size=size)  # off the pixel grid
    view = front_view(headless)
    img = render(headless, batch, [view])[..., 1].astype(np.float64) / 255.0
    batch.release()

    r_px = radius * size
    assert img.sum() == pytest.approx(math.pi * r_px**2, rel=0.01)
    ax, ay = project(view, (0.2, 0.1, 0.0), headless.size[1])
    xs, ys = pixel_centres(img.shape)
    assert (img * xs).sum() / img.sum() == pytest.approx(ax + centre[0] * size, abs=0.5)
    assert (img * ys).sum() / img.sum() == pytest.approx(ay - centre[1] * size, abs=0.5)
    # the edge is antialiased over one pixel: each pixel shows how much of it the disc covers
    outside = np.hypot(xs - ax - centre[0] * size, ys - ay + centre[1] * size) - r_px
    edge = np.abs(outside) < 1.5
    assert np.abs(img - np.clip(0.5 - outside, 0.0, 1.0))[edge].mean() < 0.02


def test_pulse_follows_time(headless: HeadlessBackend) -> None:
    batch = ShapeBatch(headless.ctx, pulse_hz=2.0)
    batch.add_circle((-1.0, 0.0, 0.0), radius=2.0, size=8.0, color=RED, pulse=True)
    batch.add_circle((1.0, 0.0, 0.0), radius=2.0, size=8.0, color=GREEN)
    view = front_view(headless)
    bright = render(headless, batch, [view], time=100.0)
    dim = render(headless, batch, [view], time=100.25)  # half a period later
    again = render(headless, batch, [view], time=100.5)
    batch.release()

    assert np.array_equal(bright, again)
    assert np.array_equal(bright[..., 1], dim[..., 1])  # the steady dot stays as it was
    ref = math.pi * 16.0**2  # pixels of the steady dot
    # full size and opacity on the beat, then down to 80 % size and 35 % opacity
    assert bright[..., 0].sum() / 255.0 == pytest.approx(ref, rel=0.02)
    assert dim[..., 0].sum() / 255.0 == pytest.approx(0.35 * 0.8**2 * ref, rel=0.03)
    assert bright[..., 0].max() == 255 and abs(int(dim[..., 0].max()) - 89) <= 2


def test_polyline_inks_its_segments_and_nan_breaks_it(headless: HeadlessBackend) -> None:
    size, thickness = 8.0, 0.5
    points = np.array([(-6, -2), (-3, 2), (0, -2), (np.nan, np.nan), (3, -2), (6, 2)], float)
    batch = ShapeBatch(headless.ctx)
    handle = batch.add_polyline((0.0, 0.0, 0.0), points, thickness=thickness, size=size)
    assert batch.instances == 5
    view = front_view(headless)
    ax, ay = project(view, (0.0, 0.0, 0.0), headless.size[1])

    def distance(img: Image, pts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Pixel distance of every pixel centre to the segments between finite points."""
        xs, ys = pixel_centres(img.shape)
        best = np.full(xs.shape, np.inf)
        for a, b in pairwise(pts):
            if not (np.isfinite(a).all() and np.isfinite(b).all()):
                continue
            a_px = np.array([ax + a[0] * size, ay - a[1] * size])
            ab = np.array([(b[0] - a[0]) * size, -(b[1] - a[1]) * size])
            px, py = xs - a_px[0], ys - a_px[1]
            t = np.clip((px * ab[0] + py * ab[1]) / (ab @ ab), 0.0, 1.0)
            best = np.minimum(best, np.hypot(px - t * ab[0], py - t * ab[1]))
        return best

    img = render(headless, batch, [view])
    half = thickness * size / 2.0
    d = distance(img, points)
    assert ink(img)[d <= half - 1.0].all()
    assert not ink(img, 10)[d > half + 1.5].any()
    assert np.isinf(distance(img, points[2:5])).all()  # no segment across the gap

    uploaded = batch.uploaded_bytes
    points[3] = (1.5, -2.0)  # mend the gap: same point count, rewritten in place
    batch.set_polyline(handle, points)
    img = render(headless, batch, [view])
    assert batch.uploaded_bytes - uploaded == 5 * ROW
    d = distance(img, points)
    assert ink(img)[d <= half - 1.0].all() and not ink(img, 10)[d > half + 1.5].any()

    batch.set_polyline(handle, points[:3])
    assert batch.instances == 2
    assert not ink(render(headless, batch, [view]))[:, int(ax) + 2 :].any()
    batch.release()


def stereo_views(headless: HeadlessBackend) -> list[View]:
    w, h = headless.size
    views = []
    for i, dx in enumerate((-0.032, 0.032)):
        eye = (dx, 0.0, EYE[2])
        views.append(
            View(
                view=math3d.look_at(eye, (dx, 0.0, 0.0)),
                projection=math3d.perspective(FOV, (w / 2) / h, 0.1, 100.0),
                viewport=(i * w // 2, 0, w // 2, h),
            )
        )
    return views


def test_five_hundred_mixed_shapes_one_call_per_view(headless: HeadlessBackend) -> None:
    batch = ShapeBatch(headless.ctx, capacity=16)  # grows on the way
    rng = np.random.default_rng(7)
    anchors = rng.uniform((-2.0, -1.5, -1.0), (2.0, 1.5, 0.0), (100, 3))
    for a in anchors:
        batch.add_rect(a, (-1, -1, 2, 1.5), size=3.0, radius=0.3)
        batch.add_bar(a, (-1, 0.6, 2, 0.4), 0.5, size=3.0)
        batch.add_arc(a, (0, 0), 1.0, 0.3, 0, 270, fraction=0.3, size=3.0)
        batch.add_circle(a, (1, 1), 0.3, size=3.0, pulse=True)
        batch.add_polyline(a, [(-1, 0), (0, 1), (1, 0)], thickness=0.2, size=3.0)
    assert batch.shapes == 500 and batch.instances == 600
    views = stereo_views(headless)
    query = headless.ctx.query(primitives=True)
    with query:
        img = render(headless, batch, views, time=0.3)
    assert batch.draw_calls == 2  # one per eye
    assert query.primitives == 2 * 2 * batch.instances  # two triangles per instance per view
    assert batch.uploaded_bytes == 600 * ROW
    batch.set_fraction([1, 496], [0.9, 0.1])  # the first and the last bar: two small writes
    render(headless, batch, views)
    assert batch.uploaded_bytes == 602 * ROW
    batch.release()
    w = headless.size[0]
    assert ink(img[:, : w // 2], 30).mean() > 0.2 and ink(img[:, w // 2 :], 30).mean() > 0.2


@pytest.mark.parametrize("through", [False, True])
def test_depth_test_hides_shapes_behind_geometry(headless: HeadlessBackend, through: bool) -> None:
    wall = geometry_of(scene_of([("wall", (0.0, 0.0, 1.0))]), {"wall": box_mesh((3, 3, 0.1))})
    renderer = Renderer(headless.ctx, wall)
    open_floor = Renderer(headless.ctx, geometry_of(scene_of([]), {}))
    batch = ShapeBatch(headless.ctx)
    batch.add_rect((0.0, 0.0, 0.0), (-2, -2, 4, 4), size=8.0, color=GREEN, through=through)
    batch.add_circle((0.0, 0.0, 0.0), radius=1.5, size=8.0, color=RED, through=through)
    view = front_view(headless)
    behind_wall = render(headless, batch, [view], renderer)
    in_the_open = render(headless, batch, [view], open_floor)
    assert headless.fbo.depth_mask  # depth writes are back on for the next frame
    for item in (batch, renderer, open_floor):
        item.release()

    assert dominant(in_the_open, 1).sum() > 400 and dominant(in_the_open, 0).sum() > 400
    if through:
        for channel in (0, 1):  # only edges differ: they blend over the wall, not the floor
            seen, open_ = dominant(behind_wall, channel), dominant(in_the_open, channel)
            assert (seen != open_).sum() <= 0.05 * open_.sum()
    else:
        assert not dominant(behind_wall, 1).any() and not dominant(behind_wall, 0).any()


def test_world_size_shrinks_with_distance_down_to_min_px(headless: HeadlessBackend) -> None:
    view = front_view(headless)

    def width(depth: float, **kwargs: float | bool) -> int:
        batch = ShapeBatch(headless.ctx)
        batch.add_rect((0.0, 0.0, -depth), (-2, -2, 4, 4), **kwargs)  # type: ignore[arg-type]  # kwargs holds the options under test, typed by the caller
        x0, _, x1, _ = bbox(ink(render(headless, batch, [view])))
        batch.release()
        return x1 - x0

    near, far = width(2.0, size=0.5, world=True), width(8.0, size=0.5, world=True)
    assert far / near == pytest.approx((EYE[2] + 2.0) / (EYE[2] + 8.0), rel=0.08)
    assert width(2.0, size=6.0) == pytest.approx(width(8.0, size=6.0), abs=1)  # pixels
    assert width(8.0, size=0.5, world=True, min_px=9.0) == pytest.approx(36, abs=1)
    assert width(2.0, size=0.5, world=True, max_px=4.0) == pytest.approx(16, abs=1)


def test_stereo_eyes_both_render_the_same_panel(headless: HeadlessBackend) -> None:
    w, h = headless.size
    anchor = (0.1, 0.2, 0.0)
    views = stereo_views(headless)
    batch = ShapeBatch(headless.ctx)
    batch.add_rect(anchor, (-1.0, -0.5, 2.0, 1.0), size=0.4, world=True, radius=0.2)
    assert batch.draw([]) == 0
    img = render(headless, batch, views)
    batch.release()

    boxes = [bbox(ink(img[:, i * w // 2 : (i + 1) * w // 2])) for i in range(2)]
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        ax, ay = project(views[i], anchor, h)
        assert abs((x0 + x1) / 2 + i * w // 2 - ax) <= 1.0
        assert abs((y0 + y1) / 2 - ay) <= 1.0
    sizes = [(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes]
    assert sizes[0] == sizes[1]
    assert boxes[0][0] != boxes[1][0]  # parallax


def test_set_visible_hides_and_shows(headless: HeadlessBackend) -> None:
    batch = ShapeBatch(headless.ctx)
    dots = [batch.add_circle((x, 0.0, 0.0), radius=1.0, size=10.0) for x in (-1.0, 1.0)]
    line = batch.add_polyline((0.0, -1.0, 0.0), [(-3, 0), (3, 0)], thickness=0.4, size=10.0)
    view = front_view(headless)
    w = headless.size[0]
    both = ink(render(headless, batch, [view]))
    uploaded = batch.uploaded_bytes
    batch.set_visible([dots[0], line], [False, False])
    one = ink(render(headless, batch, [view]))
    assert batch.uploaded_bytes - uploaded == 3 * ROW  # rows 0..2: one run
    batch.set_visible(dots, True)
    batch.set_visible([line], [True])
    back = ink(render(headless, batch, [view]))
    batch.release()

    assert both[:, : w // 2].sum() > 200
    assert not one[:, : w // 2].any() and one[:, w // 2 :].sum() > 200
    assert np.array_equal(both, back)


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> SdfFont:
    return load_font(cache_dir=tmp_path_factory.getbasetemp() / "font-cache")


def test_shapes_line_up_with_text(headless: HeadlessBackend, font: SdfFont) -> None:
    anchor, size, margin = (0.4, -0.3, -1.0), 1.0, 0.2  # metres per unit at 5 m
    width, cap = measure(font, "88"), font.cap_height
    rect = (-width / 2 - margin, -cap / 2 - margin, width + 2 * margin, cap + 2 * margin)
    shapes, text = ShapeBatch(headless.ctx), TextBatch(headless.ctx, font)
    shapes.add_rect(anchor, rect, size=size, world=True, color=(0.0, 0.0, 1.0, 1.0))
    text.add("88", anchor, size=size, world=True, align="center", valign="middle")
    view = front_view(headless)
    img = render(headless, shapes, [view], extra=text)
    shapes.release()
    text.release()

    panel = bbox(img[..., 2] > 127)
    glyphs = bbox(img[..., 0] > 127)
    unit_px = 0.5 * headless.size[1] / math.tan(math.radians(FOV / 2)) / 5.0 * size
    pad = margin * unit_px
    assert panel[2] - panel[0] == pytest.approx(rect[2] * unit_px, abs=1.5)
    # the ink sits inside the panel, the same margin above and below it
    assert panel[0] + pad - 1 <= glyphs[0] and glyphs[2] <= panel[2] - pad + 1
    assert glyphs[1] - panel[1] == pytest.approx(pad, abs=2.0)
    assert panel[3] - glyphs[3] == pytest.approx(pad, abs=2.0)


def test_later_shapes_draw_on_top_and_removal_repacks(headless: HeadlessBackend) -> None:
    batch = ShapeBatch(headless.ctx)
    under = batch.add_rect((0.0, 0.0, 0.0), (-2, -2, 4, 4), size=8.0, color=RED)
    over = batch.add_circle((0.0, 0.0, 0.0), radius=1.0, size=8.0, color=GREEN)
    view = front_view(headless)
    ax, ay = (int(c) for c in project(view, (0.0, 0.0, 0.0), headless.size[1]))
    assert tuple(render(headless, batch, [view])[ay, ax]) == (0, 255, 0)
    batch.remove(over)
    assert batch.instances == 1 and batch.shapes == 1
    assert tuple(render(headless, batch, [view])[ay, ax]) == (255, 0, 0)
    with pytest.raises(KeyError):
        batch.set_fraction([over], [0.5])
    batch.set_colors([under], [(0.5, 0.5, 0.5, 1.0)])
    assert tuple(render(headless, batch, [view])[ay, ax]) == (128, 128, 128)
    batch.srgb_output = False  # an sRGB target encodes: the shader writes linear light
    assert tuple(render(headless, batch, [view])[ay, ax]) == (55, 55, 55)
    batch.clear()
    assert batch.instances == 0 and batch.draw([view]) == 0
    assert batch.add_circle((0.0, 0.0, 0.0)) == 0
    batch.release()


def test_bad_shapes_are_rejected(headless: HeadlessBackend) -> None:
    batch = ShapeBatch(headless.ctx)
    origin = (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="anchor"):
        batch.add_rect((0.0, math.nan, 0.0))
    with pytest.raises(ValueError, match="rect"):
        batch.add_rect(origin, (0, 0, -1, 1))
    with pytest.raises(ValueError, match="size"):
        batch.add_circle(origin, size=0.0)
    with pytest.raises(ValueError, match="min_px"):
        batch.add_circle(origin, min_px=10.0, max_px=5.0)
    with pytest.raises(ValueError, match="thickness"):
        batch.add_arc(origin, (0, 0), 1.0, 3.0, 0.0, 90.0)
    with pytest.raises(ValueError, match="angles"):
        batch.add_arc(origin, (0, 0), 1.0, 0.5, 30.0, 30.0)
    with pytest.raises(ValueError, match="points"):
        batch.add_polyline(origin, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="colour"):
        batch.add_circle(origin, color=(1.0, 0.0))
    dot = batch.add_circle(origin)
    with pytest.raises(ValueError, match="not a polyline"):
        batch.set_polyline(dot, [(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="finite"):
        batch.set_anchors([dot], [(0.0, math.inf, 0.0)])
    with pytest.raises(ValueError, match="handles"):
        batch.set_colors([dot, dot], [(1.0, 1.0, 1.0, 1.0)])
    with pytest.raises(ValueError, match="slot"):
        batch.set_colors([dot], [(1.0, 1.0, 1.0, 1.0)], slot="glow")  # type: ignore[arg-type]  # an unknown colour slot on purpose
    with pytest.raises(KeyError):
        batch.set_anchors([dot + 5], [origin])
    with pytest.raises(KeyError):
        batch.set_visible([-1], [True])
    empty = batch.add_polyline(origin, np.zeros((0, 2)))
    assert batch.instances == 1
    batch.set_polyline(empty, [(0, 0), (1, 0), (2, 0)])
    assert batch.instances == 3
    batch.release()


def test_a_badge_icon_marks_its_disc_with_an_exclamation_mark(headless: HeadlessBackend) -> None:
    batch = ShapeBatch(headless.ctx)
    handle = batch.add_circle((0.0, 0.0, 0.0), radius=3.0, size=8.0, color=RED, icon_color=GREEN)
    view = front_view(headless)
    img = render(headless, batch, [view]).astype(int)
    ax, ay = project(view, (0.0, 0.0, 0.0), headless.size[1])
    green = (img[..., 1] > 150) & (img[..., 0] < 100)
    red = (img[..., 0] > 150) & (img[..., 1] < 100)
    ys, xs = np.nonzero(green)
    assert 20 < green.sum() < red.sum()  # a mark, not the whole disc
    assert abs(xs.mean() - ax) < 1.5  # centred left to right...
    assert ys.min() < ay - 4 and ys.max() > ay + 2  # ...a stem above and a dot below
    batch.set_colors([handle], [[0.0, 0.0, 0.0, 0.0]], slot="track")
    plain = render(headless, batch, [view]).astype(int)
    batch.release()
    assert not ((plain[..., 1] > 150) & (plain[..., 0] < 100)).any()


def test_skip_hidden_draws_only_visible_shapes_and_the_same_pixels(
    headless: HeadlessBackend,
) -> None:
    """With ``skip_hidden`` hidden shapes and broken segments never reach the vertex stage;
    what is drawn, and in which order, stays the same."""
    rng = np.random.default_rng(3)
    anchors = rng.uniform((-2.0, -1.5, -1.0), (2.0, 1.5, 0.0), (40, 3))
    colors = rng.uniform(0.2, 1.0, (40, 4))
    views = stereo_views(headless)
    batches = [ShapeBatch(headless.ctx), ShapeBatch(headless.ctx, skip_hidden=True)]
    for batch in batches:
        for a, c in zip(anchors, colors, strict=True):
            batch.add_rect(a, (-1, -1, 2, 1.5), size=6.0, radius=0.3, color=c)
            batch.add_circle(a, (0.5, 0.5), 0.6, size=6.0, color=c[::-1])
        # a broken polyline: the segment before the gap drawn, the two touching it never
        batch.add_polyline((0, 0, 0), [(-4, 0), (0, 1), (np.nan, 0), (4, 0)], size=6.0)
    plain, skipping = batches

    def both(time: float = 0.0) -> tuple[Image, Image, int]:
        imgs = []
        primitives = 0
        for batch in batches:
            query = headless.ctx.query(primitives=True)
            with query:
                imgs.append(render(headless, batch, views, time=time))
            if batch is skipping:
                primitives = query.primitives
        return imgs[0], imgs[1], primitives

    a, b, primitives = both()
    assert np.array_equal(a, b)
    assert skipping.instances == plain.instances == 83
    assert skipping.drawn == 81 and plain.drawn == 83  # the gap's segments left out
    assert primitives == 2 * 2 * 81  # two triangles per drawn instance per view
    hidden = np.arange(0, 80, 3)  # every third shape, spread over the batch
    for batch in batches:
        batch.set_visible(hidden, False)
    uploaded = skipping.uploaded_bytes
    a, b, primitives = both()
    assert np.array_equal(a, b) and skipping.drawn == 81 - hidden.shape[0]
    assert primitives == 2 * 2 * skipping.drawn
    # the visible set changed from its first row on: every drawn row went up once
    assert skipping.uploaded_bytes - uploaded == skipping.drawn * ROW
    uploaded = skipping.uploaded_bytes
    for batch in batches:  # a visible shape late in the batch: only its row goes up
        batch.set_colors([79], [(1.0, 0.0, 1.0, 1.0)])
    a, b, _ = both()
    assert np.array_equal(a, b) and skipping.uploaded_bytes - uploaded == ROW
    for batch in batches:  # shown again late in the batch: rows from its place on
        batch.set_visible([78], True)
    uploaded = skipping.uploaded_bytes
    a, b, _ = both(time=0.4)
    assert np.array_equal(a, b)
    assert 0 < skipping.uploaded_bytes - uploaded <= 4 * ROW
    for batch in batches:  # removal repacks; a hidden shape's change draws nothing new
        batch.remove([1, 2])
        batch.set_colors([0], [(0.0, 1.0, 0.0, 1.0)])
    a, b, _ = both()
    assert np.array_equal(a, b) and skipping.drawn == plain.drawn - (hidden.shape[0] - 1) - 2
    for batch in batches:
        batch.clear()
    assert skipping.drawn == 0 and skipping.draw(views) == 0
    for batch in batches:
        batch.release()
