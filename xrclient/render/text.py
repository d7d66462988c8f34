"""Text layout with the font's advances and kerning, and a GPU batch of billboarded strings.

:func:`layout` turns a string into glyph quads (vectorised over characters). A
:class:`TextBatch` holds any number of strings, each anchored at a world-space point, and
draws all of them with one instanced draw call per view: every glyph is one instance of a
unit quad. The vertex shader places the quads in view space around the anchor, parallel to
the image plane, so text faces the camera and the two eyes of a stereo pair (same
orientation, offset position) see the same world-space rectangle.

Sizes are per string, either in pixels per em (``world=False``: constant on screen) or in
metres per em (``world=True``: shrinks with distance), both clamped to ``min_px..max_px``
pixels per em. Strings are depth-tested against the scene unless drawn ``through`` it.
Colours are display (sRGB-encoded) RGBA, blended premultiplied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.view import View
from xrclient.render.billboards import draw_views, rgba, vec
from xrclient.render.font import SdfFont
from xrclient.render.gpu import load_program

F32 = npt.NDArray[np.float32]
Align = Literal["left", "center", "right"]
VAlign = Literal["baseline", "top", "middle", "bottom"]

#: a tab advances this many spaces
TAB_SPACES = 4

_ALIGN = {"left": 0.0, "center": 0.5, "right": 1.0}
_VALIGN = ("baseline", "top", "middle", "bottom")


@dataclass(frozen=True, slots=True, eq=False)
class TextLayout:
    """Glyph quads of one string, in the units of the ``size`` it was laid out at.

    ``x, y`` is each quad's bottom-left corner relative to the anchor (y up), ``w, h`` its
    size; the quads include the atlas margin around the ink. Blank glyphs are left out.
    """

    glyph: npt.NDArray[np.int32]  # (n,) font slots
    x: F32
    y: F32
    w: F32
    h: F32
    width: float  # advance width of the widest line
    height: float  # line count * line height
    lines: int

    @property
    def count(self) -> int:
        return int(self.glyph.shape[0])


def _codepoints(text: str) -> npt.NDArray[np.int64]:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    raw = text.encode("utf-32-le", "surrogatepass")
    return np.frombuffer(raw, dtype="<u4").astype(np.int64)


_Pen = tuple[
    npt.NDArray[np.int32],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.float64],
]


def _pen(font: SdfFont, cp: npt.NDArray[np.int64]) -> _Pen:
    """Per character: slot, pen x within its line, line index, drawable; plus line widths."""
    newline = cp == 0x0A
    control = (cp < 0x20) | ((cp >= 0x7F) & (cp < 0xA0))
    slot = font.slots(cp)
    advance = font.advance[slot].astype(np.float64)
    advance[control] = 0.0
    tab = cp == 0x09
    if tab.any():
        advance[tab] = TAB_SPACES * float(font.advance[font.slots([0x20])[0]])
    step = advance.copy()
    if cp.shape[0] > 1:
        kern = font.kern[slot[:-1], slot[1:]].astype(np.float64)
        kern[control[:-1] | control[1:]] = 0.0
        step[:-1] += kern
    before = np.concatenate([[0.0], np.cumsum(step)])  # pen before each char, and the end
    breaks = np.flatnonzero(newline)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [cp.shape[0]]])
    line = np.cumsum(newline) - newline
    x = before[:-1] - before[starts][line]
    widths = before[ends] - before[starts]
    return slot, x, line, ~control, widths


def layout(
    font: SdfFont,
    text: str,
    size: float = 1.0,
    align: Align = "left",
    valign: VAlign = "baseline",
) -> TextLayout:
    """Quads of ``text`` at ``size`` units per em.

    ``align`` places each line left of, centred on or right of the anchor; ``valign`` puts
    the anchor on the first line's baseline, the top of its ascender, the middle of the
    block (first line's cap height to last line's baseline) or the last line's descender.
    Newlines break lines, tabs advance four spaces, other control characters are skipped,
    and characters without a glyph draw the placeholder box.
    """
    if align not in _ALIGN:
        raise ValueError(f"align must be one of {sorted(_ALIGN)}, got {align!r}")
    if valign not in _VALIGN:
        raise ValueError(f"valign must be one of {list(_VALIGN)}, got {valign!r}")
    cp = _codepoints(text)
    slot, x, line, drawable, widths = _pen(font, cp)
    lines = int(widths.shape[0])
    pitch = font.line_height
    x = x - _ALIGN[align] * widths[line]
    baseline = -line.astype(np.float64) * pitch
    shift = {
        "baseline": 0.0,
        "top": -font.ascender,
        "middle": 0.5 * ((lines - 1) * pitch - font.cap_height),
        "bottom": (lines - 1) * pitch - font.descender,
    }[valign]
    quad = font.quad[slot].astype(np.float64)
    keep = drawable & (quad[:, 2] > quad[:, 0])
    q = quad[keep]
    scale = float(size)

    def out(values: npt.NDArray[np.float64]) -> F32:
        return (values * scale).astype(np.float32)

    return TextLayout(
        glyph=slot[keep].astype(np.int32),
        x=out(x[keep] + q[:, 0]),
        y=out(baseline[keep] + shift + q[:, 1]),
        w=out(q[:, 2] - q[:, 0]),
        h=out(q[:, 3] - q[:, 1]),
        width=float(widths.max()) * scale,
        height=lines * pitch * scale,
        lines=lines,
    )


def measure(font: SdfFont, text: str, size: float = 1.0) -> float:
    """Advance width of the widest line of ``text`` at ``size`` units per em."""
    widths = _pen(font, _codepoints(text))[4]
    return float(widths.max()) * float(size)


# --- GPU batch -------------------------------------------------------------------------------

# per-glyph instance record, float32 columns
_ANCHOR = slice(0, 3)  # world position of the string's anchor
_RECT = slice(3, 7)  # quad x, y, w, h in ems around the anchor
_UV = slice(7, 11)  # u0, v_top, u1, v_bottom
_COLOR = slice(11, 15)  # display RGBA
_STYLE = slice(15, 19)  # size, min px, max px, flags
_OFFSET = slice(19, 21)  # offset of the string from its anchor, in units
_STRIDE = 21
_FORMAT = "3f 4f 4f 4f 4f 2f/i"
_ATTRIBUTES = ("in_anchor", "in_rect", "in_uv", "in_color", "in_style", "in_offset")
_WORLD, _THROUGH = 1, 2

_ATLAS_UNIT = 0


@dataclass(slots=True, eq=False)
class _Entry:
    text: str
    rows: F32  # (n, _STRIDE): a view into the packed array once packed
    align: Align
    valign: VAlign
    em: float = 1.0


class TextBatch:
    """Strings anchored in the world, drawn in one instanced call per view.

    ``add`` returns a handle; ``set_text``, ``set_anchors``, ``set_colors`` and ``remove``
    change strings. Only what changed is uploaded: a range of the instance buffer when glyph
    counts stay, the whole used part (growing the buffer when needed) when they change.

    Draw after the scene, into the same views: ``draw`` blends over the colour target and
    tests against, without writing, its depth. ``outline_px`` draws a halo of that many
    pixels in ``outline_color`` behind every glyph (0 = none).

    With ``skip_hidden`` the GPU buffer holds only the glyphs of strings that draw something
    (alpha above 0), in draw order: pooled strings kept transparent cost the vertex stage
    nothing, for a re-upload of the visible glyphs from the first place where the set of
    visible glyphs changed.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        font: SdfFont,
        *,
        outline_px: float = 0.0,
        outline_color: Sequence[float] = (0.0, 0.0, 0.0, 0.85),
        srgb_output: bool = True,
        capacity: int = 256,
        skip_hidden: bool = False,
    ) -> None:
        self.ctx = ctx
        self.skip_hidden = bool(skip_hidden)
        # with skip_hidden: the glyph rows on the GPU, in order, and the row count they
        # were taken from
        self._shown = np.zeros(0, dtype=np.int64)
        self._shown_of = 0
        self.font = font
        self._program = load_program(ctx, "text")
        width, height = font.atlas_size
        self._atlas = ctx.texture((width, height), 1, font.atlas.tobytes(), alignment=1)
        self._atlas.build_mipmaps(0, 2)
        self._atlas.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._atlas.repeat_x = self._atlas.repeat_y = False
        self._uv = font.uv
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], dtype=np.float32)
        self._corners = ctx.buffer(corners.tobytes())
        self._capacity = max(int(capacity), 16)
        self._instances = ctx.buffer(reserve=self._capacity * _STRIDE * 4)
        self._vao = ctx.vertex_array(
            self._program,
            [(self._corners, "2f", "in_corner"), (self._instances, _FORMAT, *_ATTRIBUTES)],
            mode=moderngl.TRIANGLE_STRIP,
        )
        program = self._program
        program["u_atlas"] = _ATLAS_UNIT
        program["u_atlas_size"] = (float(width), float(height))
        program["u_spread"] = float(font.params.spread_px)
        self.outline_px = outline_px
        self.outline_color = outline_color
        self.srgb_output = srgb_output

        self._entries: dict[int, _Entry] = {}
        self._next = 0
        self._data = np.zeros((0, _STRIDE), dtype=np.float32)
        # by handle: the string's settings (a row without glyph), first row once packed,
        # glyph rows, and whether the handle is in use
        self._settings = np.zeros((0, _STRIDE), dtype=np.float32)
        self._start = np.zeros(0, dtype=np.int64)
        self._length = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._repack = False
        self._dirty: tuple[int, int] | None = None
        self.draw_calls = 0  # instanced draw calls issued so far
        self.uploaded_bytes = 0  # instance data written to the GPU so far

    # --- settings ---------------------------------------------------------------------------

    @property
    def outline_px(self) -> float:
        return self._outline_px

    @outline_px.setter
    def outline_px(self, value: float) -> None:
        self._outline_px = max(float(value), 0.0)
        self._program["u_outline_px"] = self._outline_px

    @property
    def outline_color(self) -> tuple[float, float, float, float]:
        return self._outline_color

    @outline_color.setter
    def outline_color(self, value: Sequence[float]) -> None:
        self._outline_color = rgba(value)
        self._program["u_outline_color"] = self._outline_color

    @property
    def srgb_output(self) -> bool:
        return self._srgb

    @srgb_output.setter
    def srgb_output(self, value: bool) -> None:
        self._srgb = bool(value)
        self._program["u_srgb"] = self._srgb

    @property
    def strings(self) -> int:
        return len(self._entries)

    @property
    def glyphs(self) -> int:
        """Glyph instances in the batch; every one is drawn per view unless ``skip_hidden``
        leaves out the transparent ones (``drawn``)."""
        self._pack()
        return int(self._data.shape[0])

    @property
    def drawn(self) -> int:
        """Glyph instances the next draw issues per view."""
        self._upload()
        return int(self._shown.shape[0]) if self.skip_hidden else int(self._data.shape[0])

    # --- strings ----------------------------------------------------------------------------

    def add(
        self,
        text: str,
        anchor: Sequence[float],
        *,
        size: float = 16.0,
        world: bool = False,
        color: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        align: Align = "center",
        valign: VAlign = "baseline",
        offset: Sequence[float] = (0.0, 0.0),
        em: float = 1.0,
        min_px: float = 6.0,
        max_px: float = 256.0,
        through: bool = False,
    ) -> int:
        """Add a string. ``size`` is the unit: pixels per unit, or metres per unit when
        ``world`` (then clamped to ``min_px``..``max_px`` pixels per unit). The string's em is
        ``em`` units and it sits ``offset`` units (x right, y up) from the anchor's image, so
        strings and shapes that share a unit and an anchor scale together as one panel."""
        if not (np.isfinite(size) and size > 0.0):
            raise ValueError(f"size must be a positive number, got {size}")
        if not (0.0 <= min_px <= max_px and np.isfinite(max_px)):
            raise ValueError(f"need 0 <= min_px <= max_px < inf, got {min_px}, {max_px}")
        template = np.zeros(_STRIDE, dtype=np.float32)
        template[_ANCHOR] = vec(anchor, 3, "anchor")
        template[_COLOR] = rgba(color)
        flags = (_WORLD if world else 0) | (_THROUGH if through else 0)
        template[_STYLE] = (size, min_px, max_px, flags)
        template[_OFFSET] = vec(offset, 2, "offset")
        if not (np.isfinite(em) and em > 0.0):
            raise ValueError(f"em must be a positive number, got {em}")
        rows = self._rows(text, template, align, valign, em)
        handle = self._next
        self._next += 1
        if handle >= self._alive.shape[0]:
            extra = max(self._alive.shape[0], 64)
            self._settings = np.concatenate([self._settings, np.zeros((extra, _STRIDE), "f4")])
            self._start = np.concatenate([self._start, np.zeros(extra, np.int64)])
            self._length = np.concatenate([self._length, np.zeros(extra, np.int64)])
            self._alive = np.concatenate([self._alive, np.zeros(extra, bool)])
        self._settings[handle] = template
        self._alive[handle] = True
        self._entries[handle] = _Entry(text, rows, align, valign, em)
        self._repack = True
        return handle

    def text_of(self, handle: int) -> str:
        return self._entry(handle).text

    def set_text(self, handle: int, text: str) -> None:
        entry = self._entry(handle)
        if text == entry.text:
            return
        rows = self._rows(text, self._settings[handle], entry.align, entry.valign, entry.em)
        entry.text = text
        if rows.shape[0] == entry.rows.shape[0] and not self._repack:
            entry.rows[:] = rows  # same glyph count: rewrite in place
            start = int(self._start[handle])
            self._mark(start, start + rows.shape[0])
        else:
            entry.rows = rows
            self._repack = True

    def set_anchors(self, handles: npt.ArrayLike, anchors: npt.ArrayLike) -> None:
        """Move strings: ``anchors`` is (N, 3) world positions for N ``handles``."""
        values = np.asarray(anchors, dtype=np.float32).reshape(-1, 3)
        self._write(handles, values, _ANCHOR)

    def set_colors(self, handles: npt.ArrayLike, colors: npt.ArrayLike) -> None:
        """Recolour strings: ``colors`` is (N, 4) display RGBA for N ``handles``."""
        values = np.asarray(colors, dtype=np.float32).reshape(-1, 4)
        self._write(handles, np.clip(values, 0.0, 1.0), _COLOR)

    def remove(self, handle: int) -> None:
        self._entry(handle)
        del self._entries[handle]
        self._length[handle] = 0
        self._alive[handle] = False
        self._repack = True

    def clear(self) -> None:
        """Remove every string; handles start again from 0."""
        self._entries.clear()
        self._next = 0
        self._length[:] = 0
        self._alive[:] = False
        self._repack = True

    def _entry(self, handle: int) -> _Entry:
        entry = self._entries.get(int(handle))
        if entry is None:
            raise KeyError(f"no string with handle {handle}")
        return entry

    def _rows(self, text: str, template: F32, align: Align, valign: VAlign, em: float = 1.0) -> F32:
        lay = layout(self.font, text, em, align, valign)
        rows = np.repeat(template[None, :], lay.count, axis=0)
        rows[:, _RECT] = np.stack([lay.x, lay.y, lay.w, lay.h], axis=1)
        rows[:, _UV] = self._uv[lay.glyph]
        return rows

    def _write(self, handles: npt.ArrayLike, values: F32, columns: slice) -> None:
        h = np.asarray(handles, dtype=np.int64).reshape(-1)
        if values.shape[0] != h.shape[0]:
            raise ValueError(f"{h.shape[0]} handles but {values.shape[0]} values")
        if not np.isfinite(values).all():
            raise ValueError("values must be finite")
        known = (h >= 0) & (h < self._alive.shape[0])
        if not known.all() or not self._alive[h].all():
            bad = h[~known] if not known.all() else h[~self._alive[h]]
            raise KeyError(f"no string with handle {int(bad[0])}")
        self._settings[h, columns] = values
        self._pack()
        lengths = self._length[h]
        total = int(lengths.sum())
        if total == 0:
            return
        first = np.repeat(self._start[h] - np.cumsum(lengths) + lengths, lengths)
        rows = first + np.arange(total)
        self._data[rows, columns] = np.repeat(values, lengths, axis=0)
        self._mark(int(rows.min()), int(rows.max()) + 1)

    def _mark(self, lo: int, hi: int) -> None:
        if self._dirty is None:
            self._dirty = (lo, hi)
        else:
            self._dirty = (min(self._dirty[0], lo), max(self._dirty[1], hi))

    def _pack(self) -> None:
        """Concatenate every string's rows (after adds, removals, glyph-count changes)."""
        if not self._repack:
            return
        handles = sorted(self._entries)
        blocks = [self._entries[h].rows for h in handles]
        data = np.concatenate(blocks) if blocks else np.zeros((0, _STRIDE), np.float32)
        start = 0
        for handle, block in zip(handles, blocks, strict=True):
            n = block.shape[0]
            self._entries[handle].rows = data[start : start + n]
            self._start[handle], self._length[handle] = start, n
            start += n
        self._data = data
        self._repack = False
        self._dirty = (0, data.shape[0])

    def _upload(self) -> None:
        self._pack()
        n = int(self._data.shape[0])
        if self._dirty is None and (not self.skip_hidden or n == self._shown_of):
            return
        lo, hi = self._dirty if self._dirty is not None else (0, 0)
        self._dirty = None
        full = False
        if n > self._capacity:
            while self._capacity < n:
                self._capacity *= 2
            self._instances.orphan(self._capacity * _STRIDE * 4)
            lo, hi, full = 0, n, True
        if self.skip_hidden:
            self._upload_shown(n, lo, hi, full)
        elif hi > lo:
            self._send(lo, self._data[lo:hi])

    def _upload_shown(self, n: int, lo: int, hi: int, full: bool) -> None:
        """Only the visible glyphs, packed in order: the changed rows ``lo:hi`` where they
        keep their place, and every row from the first place where the visible set differs."""
        shown = np.flatnonzero(self._data[:, _COLOR.stop - 1] > 0.0)
        old = self._shown
        same = min(old.shape[0], shown.shape[0])
        if full:
            first = 0
        else:
            differ = np.flatnonzero(old[:same] != shown[:same])
            first = int(differ[0]) if differ.shape[0] else same
        self._shown, self._shown_of = shown, n
        a, b = np.searchsorted(shown, [lo, hi]).tolist()
        ranges = [(a, min(b, first)), (first, int(shown.shape[0]))]
        if ranges[0][1] > ranges[0][0] and ranges[0][1] >= ranges[1][0] - 32:  # one write
            ranges = [(min(a, first), ranges[1][1])]
        for start, stop in ranges:
            if stop > start:
                self._send(start, self._data[shown[start:stop]])

    def _send(self, place: int, rows: F32) -> None:
        chunk = rows.tobytes()
        self._instances.write(chunk, offset=place * _STRIDE * 4)
        self.uploaded_bytes += len(chunk)

    # --- drawing ----------------------------------------------------------------------------

    def draw(self, views: Sequence[View]) -> int:
        """Draw every string into each view; returns the draw calls issued (one per view)."""
        self._upload()
        count = int(self._shown.shape[0]) if self.skip_hidden else int(self._data.shape[0])
        if count == 0 or not views:
            return 0
        self._atlas.use(_ATLAS_UNIT)
        calls = draw_views(self.ctx, self._vao, count, views, self._program)
        self.draw_calls += calls
        return calls

    def release(self) -> None:
        self._vao.release()
        self._instances.release()
        self._corners.release()
        self._atlas.release()
        self._program.release()
