"""SDF text drawn through EGL, checked pixel by pixel against the layout and projection."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from xrclient.backends.headless import HeadlessBackend
from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.render.font import SdfFont, load_font
from xrclient.render.renderer import Renderer
from xrclient.render.text import TextBatch, layout

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


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> SdfFont:
    return load_font(cache_dir=tmp_path_factory.getbasetemp() / "font-cache")


def render(
    headless: HeadlessBackend,
    batch: TextBatch,
    views: Sequence[View],
    renderer: Renderer | None = None,
) -> Image:
    return render_over(headless, views, batch.draw, renderer)


def ink(img: Image, level: int = 60) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = img.max(axis=2) > level
    return result


def test_text_lands_in_its_layout_rectangle(headless: HeadlessBackend, font: SdfFont) -> None:
    anchor, size = (0.4, -0.3, 0.0), 40.0
    batch = TextBatch(headless.ctx, font)
    batch.add("88", anchor, size=size, align="center", valign="baseline")
    view = front_view(headless)
    img = render(headless, batch, [view])
    batch.release()

    ax, ay = project(view, anchor, headless.size[1])
    lay = layout(font, "88", size, "center", "baseline")
    quads = (ax + lay.x.min(), ay - (lay.y + lay.h).max(), ax + (lay.x + lay.w).max())
    left, top, right = quads
    bottom = ay - lay.y.min()
    mask = ink(img)
    assert mask.sum() > 200
    x0, y0, x1, y1 = bbox(mask)
    # nothing outside the glyph quads ...
    assert x0 >= left - 1 and x1 <= right + 1 and y0 >= top - 1 and y1 <= bottom + 1
    # ... and the ink fills them up to the atlas margin around each glyph
    pad = font.params.pad_px / font.params.em_px * size
    assert abs(x0 - (left + pad)) <= 2.5 and abs(x1 - (right - pad)) <= 2.5
    assert abs(y0 - (top + pad)) <= 2.5 and abs(y1 - (bottom - pad)) <= 2.5
    # the digits sit on the baseline and reach cap height
    assert abs(y1 - ay) <= 1.5
    assert abs((y1 - y0) - font.cap_height * size) <= 2.5


def test_changing_the_text_changes_the_pixels(headless: HeadlessBackend, font: SdfFont) -> None:
    batch = TextBatch(headless.ctx, font)
    handle = batch.add("8", (0.0, 0.0, 0.0), size=60.0, valign="middle")
    batch.add("behind the eye", (0.0, 0.0, 9.0))  # culled, but part of the buffer
    view = front_view(headless)
    eight = ink(render(headless, batch, [view]))
    uploaded = batch.uploaded_bytes
    assert uploaded == batch.glyphs * 21 * 4
    batch.set_text(handle, "1")
    one = ink(render(headless, batch, [view]))
    # same glyph count: only that glyph's record went up again
    assert batch.uploaded_bytes - uploaded == 21 * 4
    batch.set_text(handle, "1")
    render(headless, batch, [view])
    assert batch.uploaded_bytes - uploaded == 21 * 4  # unchanged text uploads nothing
    batch.release()

    assert eight.sum() > 1.6 * one.sum()  # an 8 has more ink than a 1
    assert (eight ^ one).sum() > 300


def test_hundred_strings_one_draw_call(headless: HeadlessBackend, font: SdfFont) -> None:
    w, h = headless.size
    view = front_view(headless)
    half_h = EYE[2] * np.tan(np.radians(FOV) / 2.0)
    half_w = half_h * w / h
    batch = TextBatch(headless.ctx, font)
    for i in range(100):
        col, row = i % 10, i // 10
        px, py = (col + 0.5) * w / 10, (row + 0.5) * h / 10
        anchor = ((2 * px / w - 1) * half_w, (1 - 2 * py / h) * half_h, 0.0)
        batch.add(f"{i:02d}", anchor, size=9.0, align="center", valign="middle")
    assert batch.strings == 100 and batch.glyphs == 200
    query = headless.ctx.query(primitives=True)
    with query:
        img = render(headless, batch, [view])
    assert batch.draw_calls == 1
    assert query.primitives == 2 * batch.glyphs  # two triangles per glyph, all in that call
    batch.release()

    cells = ink(img, 40).reshape(10, h // 10, 10, w // 10).sum(axis=(1, 3))
    assert (cells >= 8).all()


@pytest.mark.parametrize("through", [False, True])
def test_depth_test_hides_text_behind_geometry(
    headless: HeadlessBackend, font: SdfFont, through: bool
) -> None:
    wall = geometry_of(scene_of([("wall", (0.0, 0.0, 1.0))]), {"wall": box_mesh((3, 3, 0.1))})
    renderer = Renderer(headless.ctx, wall)
    open_floor = Renderer(headless.ctx, geometry_of(scene_of([]), {}))
    batch = TextBatch(headless.ctx, font)
    batch.add(
        "88", (0.0, 0.0, 0.0), size=40.0, color=(0, 1, 0, 1), valign="middle", through=through
    )
    view = front_view(headless)
    behind_wall = dominant(render(headless, batch, [view], renderer), 1)
    in_the_open = dominant(render(headless, batch, [view], open_floor), 1)
    for item in (batch, renderer, open_floor):
        item.release()

    assert in_the_open.sum() > 150
    if through:
        assert behind_wall.sum() > 0.9 * in_the_open.sum()
    else:
        assert not behind_wall.any()


@pytest.mark.parametrize("size", [18.0, 90.0])
def test_edges_stay_sharp(headless: HeadlessBackend, font: SdfFont, size: float) -> None:
    batch = TextBatch(headless.ctx, font)
    batch.add("88", (0.0, 0.0, 0.0), size=size, valign="middle")
    img = render(headless, batch, [front_view(headless)]).max(axis=2).astype(np.int32)
    batch.release()

    solid = img >= 128
    partial = (img > 25) & (img < 230)
    edges = (solid[:, 1:] != solid[:, :-1]).sum() + (solid[1:] != solid[:-1]).sum()
    assert solid.sum() > 40
    # under one partly covered pixel per outline crossing: a one-pixel ramp at any scale
    # (a ramp fixed in atlas units blurs the large text), yet antialiased, not a hard step
    assert 0.3 * edges <= partial.sum() <= 0.9 * edges


def test_world_size_scales_with_distance(headless: HeadlessBackend, font: SdfFont) -> None:
    view = front_view(headless)

    def width(depth: float, **kwargs: float | bool) -> int:
        batch = TextBatch(headless.ctx, font)
        batch.add("88", (0.0, 0.0, -depth), valign="middle", **kwargs)  # type: ignore[arg-type]  # kwargs holds the options under test, typed by the caller
        x0, _, x1, _ = bbox(ink(render(headless, batch, [view])))
        batch.release()
        return x1 - x0

    near, far = width(2.0, size=2.0, world=True), width(8.0, size=2.0, world=True)
    assert far / near == pytest.approx((EYE[2] + 2.0) / (EYE[2] + 8.0), rel=0.12)
    assert width(2.0, size=24.0) == pytest.approx(width(8.0, size=24.0), abs=1)  # pixels
    clamped = width(8.0, size=2.0, world=True, min_px=30.0)
    assert clamped == pytest.approx(width(8.0, size=30.0), abs=1)


def test_stereo_eyes_agree(headless: HeadlessBackend, font: SdfFont) -> None:
    w, h = headless.size
    anchor = (0.1, 0.2, 0.0)
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
    batch = TextBatch(headless.ctx, font)
    batch.add("88", anchor, size=0.4, world=True, align="center", valign="middle")
    assert batch.draw([]) == 0
    headless.fbo.use()
    headless.fbo.clear(0.0, 0.0, 0.0, 1.0)
    assert batch.draw(views) == 2  # one call per eye
    headless.ctx.copy_framebuffer(headless.resolve_fbo, headless.fbo)
    img = headless.read_rgb()
    batch.release()

    boxes = [bbox(ink(img[:, i * w // 2 : (i + 1) * w // 2])) for i in range(2)]
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        ax, ay = project(views[i], anchor, h)
        assert abs((x0 + x1) / 2 + i * w // 2 - ax) <= 1.5
        assert abs((y0 + y1) / 2 - ay) <= 2.0
    sizes = [(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes]
    assert sizes[0] == pytest.approx(sizes[1], abs=1)
    # the two eyes see the anchor at different pixels (parallax), the text with it
    assert boxes[0][0] != boxes[1][0]


def test_bad_strings_are_rejected(headless: HeadlessBackend, font: SdfFont) -> None:
    batch = TextBatch(headless.ctx, font)
    handle = batch.add("", (0.0, 0.0, 0.0))
    assert batch.glyphs == 0 and batch.draw([front_view(headless)]) == 0
    batch.set_text(handle, "ok \ud800 \N{GRINNING FACE}")  # unknown: placeholder boxes
    assert batch.glyphs == 4
    with pytest.raises(ValueError, match="anchor"):
        batch.add("x", (0.0, float("nan"), 0.0))
    with pytest.raises(ValueError, match="size"):
        batch.add("x", (0.0, 0.0, 0.0), size=-1.0)
    with pytest.raises(KeyError):
        batch.set_anchors([handle + 7], [(0.0, 0.0, 0.0)])
    batch.remove(handle)
    with pytest.raises(KeyError):
        batch.set_text(handle, "gone")
    assert batch.glyphs == 0
    batch.release()


def test_moving_and_recolouring_uploads_only_those_strings(
    headless: HeadlessBackend, font: SdfFont
) -> None:
    left, right = (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0)
    batch = TextBatch(headless.ctx, font)
    handles = [batch.add("88", p, size=30.0, valign="middle") for p in (left, right)]
    batch.add("unrelated", (0.0, 1.0, 0.0), size=12.0)
    view = front_view(headless)
    render(headless, batch, [view])
    uploaded = batch.uploaded_bytes
    w = headless.size[0]

    batch.set_colors([handles[1]], [(1.0, 0.0, 0.0, 1.0)])
    red = dominant(render(headless, batch, [view]), 0)
    assert batch.uploaded_bytes - uploaded == 2 * 21 * 4  # the two glyphs of that string
    assert red[:, w // 2 :].sum() > 100 and not red[:, : w // 2].any()

    batch.set_anchors(handles, [right, left])  # swap places
    red = dominant(render(headless, batch, [view]), 0)
    assert red[:, : w // 2].sum() > 100 and not red[:, w // 2 :].any()
    batch.release()


def test_skip_hidden_leaves_transparent_strings_out_of_the_draw(
    headless: HeadlessBackend, font: SdfFont
) -> None:
    """With ``skip_hidden`` strings of alpha 0 (a pool's unused slots) never reach the vertex
    stage; the pixels are those of the batch that draws every glyph."""
    batches = [TextBatch(headless.ctx, font), TextBatch(headless.ctx, font, skip_hidden=True)]
    for batch in batches:
        for i in range(30):
            col, row = i % 6, i // 6
            anchor = (-2.0 + 0.8 * col, 1.2 - 0.6 * row, 0.0)
            batch.add(f"{i:02d}", anchor, size=14.0, align="center", valign="middle")
    plain, skipping = batches
    view = front_view(headless)

    def both() -> tuple[Image, Image, int]:
        imgs, primitives = [], 0
        for batch in batches:
            query = headless.ctx.query(primitives=True)
            with query:
                imgs.append(render(headless, batch, [view]))
            if batch is skipping:
                primitives = query.primitives
        return imgs[0], imgs[1], primitives

    a, b, primitives = both()
    assert np.array_equal(a, b) and skipping.drawn == plain.drawn == 60 == primitives // 2
    hidden = np.arange(0, 30, 4)
    for batch in batches:
        batch.set_colors(hidden, np.zeros((hidden.shape[0], 4)))
    a, b, primitives = both()
    assert np.array_equal(a, b) and ink(a).sum() > 0
    assert skipping.drawn == 60 - 2 * hidden.shape[0] == primitives // 2
    assert plain.drawn == 60 and skipping.glyphs == 60
    uploaded = skipping.uploaded_bytes
    for batch in batches:  # a visible string late in the batch: only its glyphs go up
        batch.set_colors([29], [(1.0, 0.0, 0.0, 1.0)])
    a, b, _ = both()
    assert np.array_equal(a, b) and skipping.uploaded_bytes - uploaded == 2 * 21 * 4
    for batch in batches:  # new texts of other lengths, shown again, removed
        batch.set_text(3, "three")
        batch.set_colors([4, 8], np.ones((2, 4)))
        batch.remove(5)
    a, b, primitives = both()
    assert np.array_equal(a, b) and skipping.drawn == primitives // 2
    assert skipping.drawn == plain.drawn - 2 * (hidden.shape[0] - 2)
    for batch in batches:
        batch.clear()
    assert skipping.drawn == 0 and skipping.draw([view]) == 0
    for batch in batches:
        batch.release()
