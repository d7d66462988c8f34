"""A GPU batch of billboarded 2D shapes: panels, bar and radial gauges, dots, sparklines.

A :class:`ShapeBatch` draws any number of rounded rectangles (panel backgrounds, outlines,
bar gauges), circles (status dots, badges), ring arcs (radial gauges) and capsule segments
(sparklines) with one instanced draw call per view: every shape is one instance of a unit
quad, and the fragment shader computes its outline from a signed distance, antialiased over
one screen pixel at any size.

Shapes are placed exactly like :class:`~xrclient.render.text.TextBatch` strings: each has a
world-space anchor and a unit (``size``: pixels per unit, or metres per unit when ``world``,
then clamped to ``min_px..max_px`` pixels per unit), and its geometry is given in units
relative to the anchor's image (x right, y up) in a plane parallel to the image plane at the
anchor's depth. Text and shapes sharing an anchor and a unit therefore line up and scale
together, and both eyes of a stereo pair see the same world-space panel. Shapes are
depth-tested against the scene unless drawn ``through`` it; later shapes draw on top of
earlier ones. Colours are display (sRGB-encoded) RGBA, blended premultiplied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.view import View
from xrclient.render.billboards import draw_views, rgba, uniform, vec
from xrclient.render.gpu import load_program

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
ColorSlot = Literal["fill", "track", "border"]

# per-instance record, float32 columns
_ANCHOR = slice(0, 3)  # world position of the shape's anchor
_GEOM = slice(3, 7)  # kind-specific geometry in units, see shaders/shapes.vert
_SHAPE = slice(7, 11)  # kind-specific: radius / angles / thickness, border, fraction
_COLOR = slice(11, 15)  # fill: display RGBA
_TRACK = slice(15, 19)  # unfilled part of bars and arcs
_EDGE = slice(19, 23)  # border
_STYLE = slice(23, 27)  # size, min px, max px, flags
_SLOTS: dict[str, slice] = {"fill": _COLOR, "track": _TRACK, "border": _EDGE}
_BORDER, _FRACTION, _FLAGS = 9, 10, 26
_STRIDE = 27
_FORMAT = "3f 4f 4f 4f 4f 4f 4f/i"
_ATTRIBUTES = ("in_anchor", "in_geom", "in_shape", "in_color", "in_track", "in_edge", "in_style")
_WORLD, _THROUGH, _PULSE, _HIDDEN, _BROKEN = 1, 2, 4, 8, 16
_RECT, _CIRCLE, _ARC, _SEGMENT = 0, 1, 2, 3
_KIND = 256  # flags carry the kind times this

#: dirty rows closer than this are uploaded together (one write instead of two)
_GAP_ROWS = 32
#: more separate dirty runs than this are uploaded as one span
_MAX_RUNS = 64

_CLEAR = (0.0, 0.0, 0.0, 0.0)


class ShapeBatch:
    """Shapes anchored in the world, drawn in one instanced call per view.

    Every ``add_*`` returns a handle; a polyline's handle stands for one segment per pair
    of consecutive points, every other handle for one shape. The ``set_*`` methods change
    many shapes at once (arrays of handles and values) and upload only the rows that
    changed; ``remove`` repacks the batch at the next draw, so for shapes that come and go
    every frame prefer ``set_visible``.

    Draw after the scene, into the same views: ``draw`` blends over the colour target and
    tests against, without writing, its depth. Pulsing shapes (``pulse=True``) beat
    ``pulse_hz`` times a second of the ``time`` passed to ``draw``: at full size and opacity
    on each beat (``time`` 0, 1/hz, ...), shrinking to 80 % and fading to 35 % between.

    With ``skip_hidden`` the GPU buffer holds only the shapes that draw something (neither
    hidden nor broken), in draw order: a batch with many hidden shapes (pools, levels of
    detail) costs the vertex stage only its visible ones, for a re-upload of the visible
    rows from the first place where the set of visible rows changed.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        *,
        srgb_output: bool = True,
        capacity: int = 1024,
        pulse_hz: float = 1.0,
        skip_hidden: bool = False,
    ) -> None:
        self.ctx = ctx
        self.skip_hidden = bool(skip_hidden)
        # with skip_hidden: the rows on the GPU, in order (row indices into _data)
        self._shown = np.zeros(0, dtype=np.int64)
        self._shown_of = 0  # the row count _shown was taken from
        self._program = load_program(ctx, "shapes")
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], dtype=np.float32)
        self._corners = ctx.buffer(corners.tobytes())
        self._gpu_rows = max(int(capacity), 16)
        self._instances = ctx.buffer(reserve=self._gpu_rows * _STRIDE * 4)
        self._vao = ctx.vertex_array(
            self._program,
            [(self._corners, "2f", "in_corner"), (self._instances, _FORMAT, *_ATTRIBUTES)],
            mode=moderngl.TRIANGLE_STRIP,
        )
        program = self._program
        self._u_phase = uniform(program, "u_phase")
        self.srgb_output = srgb_output
        self.pulse_hz = pulse_hz
        # rows, in draw order; the owner column (a handle per row) stays sorted
        self._data = np.zeros((self._gpu_rows, _STRIDE), dtype=np.float32)
        self._owner = np.zeros(self._gpu_rows, dtype=np.int64)
        self._dirty = np.zeros(self._gpu_rows, dtype=bool)
        self._count = 0
        # by handle: settings (a row without geometry), row count, kind, in use
        self._settings = np.zeros((0, _STRIDE), dtype=np.float32)
        self._length = np.zeros(0, dtype=np.int64)
        self._kind = np.zeros(0, dtype=np.int8)
        self._alive = np.zeros(0, dtype=bool)
        self._next = 0
        self._removed = False
        self._full_upload = False
        self.draw_calls = 0  # instanced draw calls issued so far
        self.uploaded_bytes = 0  # instance data written to the GPU so far

    # --- settings ---------------------------------------------------------------------------

    @property
    def srgb_output(self) -> bool:
        return self._srgb

    @srgb_output.setter
    def srgb_output(self, value: bool) -> None:
        self._srgb = bool(value)
        self._program["u_srgb"] = self._srgb

    @property
    def pulse_hz(self) -> float:
        return self._pulse_hz

    @pulse_hz.setter
    def pulse_hz(self, value: float) -> None:
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"pulse_hz must be a finite number >= 0, got {value}")
        self._pulse_hz = float(value)

    @property
    def shapes(self) -> int:
        """Handles in use."""
        return int(self._alive.sum())

    @property
    def instances(self) -> int:
        """Instances in the batch (one per shape, one per polyline segment); every one is
        drawn per view unless ``skip_hidden`` leaves out the hidden ones (``drawn``)."""
        self._compact()
        return self._count

    @property
    def drawn(self) -> int:
        """Instances the next draw issues per view."""
        self._upload()
        return int(self._shown.shape[0]) if self.skip_hidden else self._count

    # --- adding shapes ------------------------------------------------------------------------

    def add_rect(
        self,
        anchor: Sequence[float],
        rect: Sequence[float] = (0.0, 0.0, 1.0, 1.0),
        *,
        size: float = 16.0,
        world: bool = False,
        min_px: float = 0.0,
        max_px: float = 4096.0,
        color: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        radius: float = 0.0,
        border: float = 0.0,
        border_color: Sequence[float] | None = None,
        through: bool = False,
        pulse: bool = False,
    ) -> int:
        """A rectangle ``rect = (x, y, w, h)`` units (bottom-left corner, size) from the
        anchor, corners rounded by ``radius`` units. With a ``border`` (units) and no
        ``border_color`` it is an outline in ``color``; with both, ``color`` fills it and
        ``border_color`` edges it. ``size`` is the unit: pixels per unit, or metres per unit
        when ``world`` (then clamped to ``min_px``..``max_px`` pixels per unit)."""
        fill, edge = _fill_and_edge(color, border, border_color)
        row = self._template(anchor, _RECT, size, world, min_px, max_px, through, pulse)
        row[_GEOM] = _rect(rect)
        row[_SHAPE] = (_length(radius, "radius"), 0.0, _length(border, "border"), 1.0)
        row[_COLOR], row[_EDGE] = fill, edge
        return self._add(row[None, :], _RECT)

    def add_bar(
        self,
        anchor: Sequence[float],
        rect: Sequence[float],
        fraction: float,
        *,
        size: float = 16.0,
        world: bool = False,
        min_px: float = 0.0,
        max_px: float = 4096.0,
        color: Sequence[float] = (0.3, 0.8, 0.4, 1.0),
        track_color: Sequence[float] = (0.15, 0.15, 0.15, 0.6),
        radius: float = 0.0,
        border: float = 0.0,
        border_color: Sequence[float] = (0.0, 0.0, 0.0, 1.0),
        through: bool = False,
        pulse: bool = False,
    ) -> int:
        """A horizontal bar gauge: ``rect`` filled from the left up to ``fraction`` (0..1,
        NaN = empty) in ``color``, the rest in ``track_color``."""
        row = self._template(anchor, _RECT, size, world, min_px, max_px, through, pulse)
        row[_GEOM] = _rect(rect)
        row[_SHAPE] = (_length(radius, "radius"), 0.0, _length(border, "border"), 0.0)
        row[_FRACTION] = _fractions(np.array([fraction]))[0]
        row[_COLOR], row[_TRACK], row[_EDGE] = rgba(color), rgba(track_color), rgba(border_color)
        return self._add(row[None, :], _RECT)

    def add_arc(
        self,
        anchor: Sequence[float],
        center: Sequence[float],
        radius: float,
        thickness: float,
        start_deg: float,
        end_deg: float,
        *,
        fraction: float = 1.0,
        size: float = 16.0,
        world: bool = False,
        min_px: float = 0.0,
        max_px: float = 4096.0,
        color: Sequence[float] = (0.3, 0.8, 0.4, 1.0),
        track_color: Sequence[float] = (0.15, 0.15, 0.15, 0.6),
        border: float = 0.0,
        border_color: Sequence[float] = (0.0, 0.0, 0.0, 1.0),
        through: bool = False,
        pulse: bool = False,
    ) -> int:
        """A radial gauge: a ring of centre-line ``radius`` and ``thickness`` units from
        ``start_deg`` to ``end_deg`` (counter-clockwise from +x; an end below the start runs
        clockwise; at most one turn), filled from the start up to ``fraction`` of the way
        in ``color``, the rest in ``track_color``. The ends are cut square."""
        r = _length(radius, "radius")
        t = _length(thickness, "thickness")
        if not (0.0 < t <= 2.0 * r):
            raise ValueError(f"need 0 < thickness <= 2 * radius, got {thickness}, {radius}")
        start, end = float(start_deg), float(end_deg)
        if not (math.isfinite(start) and math.isfinite(end)) or start == end:
            raise ValueError(f"arc angles must be finite and differ, got {start_deg}, {end_deg}")
        sweep = math.copysign(min(abs(end - start), 360.0), end - start)
        row = self._template(anchor, _ARC, size, world, min_px, max_px, through, pulse)
        row[_GEOM] = (*vec(center, 2, "center"), r, t)
        start_rad = math.radians(math.remainder(start, 360.0))
        row[_SHAPE] = (start_rad, math.radians(sweep), _length(border, "border"), 0.0)
        row[_FRACTION] = _fractions(np.array([fraction]))[0]
        row[_COLOR], row[_TRACK], row[_EDGE] = rgba(color), rgba(track_color), rgba(border_color)
        return self._add(row[None, :], _ARC)

    def add_circle(
        self,
        anchor: Sequence[float],
        center: Sequence[float] = (0.0, 0.0),
        radius: float = 0.5,
        *,
        size: float = 16.0,
        world: bool = False,
        min_px: float = 0.0,
        max_px: float = 4096.0,
        color: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        border: float = 0.0,
        border_color: Sequence[float] | None = None,
        through: bool = False,
        pulse: bool = False,
        icon_color: Sequence[float] | None = None,
    ) -> int:
        """A disc (status dot, badge) of ``radius`` units; ``border`` as for rectangles.
        With ``icon_color`` the disc carries an exclamation mark in that colour (an alarm
        badge without any text); ``set_colors(..., slot="track")`` changes it."""
        fill, edge = _fill_and_edge(color, border, border_color)
        r = _length(radius, "radius")
        if r <= 0.0:
            raise ValueError(f"radius must be positive, got {radius}")
        row = self._template(anchor, _CIRCLE, size, world, min_px, max_px, through, pulse)
        row[_GEOM] = (*vec(center, 2, "center"), r, 0.0)
        row[_SHAPE] = (0.0, 0.0, _length(border, "border"), 1.0)
        row[_COLOR], row[_EDGE] = fill, edge
        if icon_color is not None:
            row[_TRACK] = rgba(icon_color)
        return self._add(row[None, :], _CIRCLE)

    def add_polyline(
        self,
        anchor: Sequence[float],
        points: npt.ArrayLike,
        *,
        thickness: float = 0.1,
        size: float = 16.0,
        world: bool = False,
        min_px: float = 0.0,
        max_px: float = 4096.0,
        color: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        through: bool = False,
        pulse: bool = False,
    ) -> int:
        """A line through ``points`` ((k, 2) units), ``thickness`` units wide with round
        ends: one segment per consecutive pair; a non-finite point breaks the line."""
        if _length(thickness, "thickness") <= 0.0:
            raise ValueError(f"thickness must be positive, got {thickness}")
        row = self._template(anchor, _SEGMENT, size, world, min_px, max_px, through, pulse)
        row[_SHAPE] = (float(thickness), 0.0, 0.0, 1.0)
        row[_COLOR] = rgba(color)
        handle = self._add(np.zeros((0, _STRIDE), np.float32), _SEGMENT, settings=row)
        self._set_segments(handle, _points(points))
        return handle

    # --- changing shapes ----------------------------------------------------------------------

    def set_fraction(self, handles: npt.ArrayLike, fractions: npt.ArrayLike) -> None:
        """Fill levels of bars and arcs (0..1, NaN = empty), one per handle."""
        values = _fractions(np.asarray(fractions, dtype=np.float64).reshape(-1))
        self._write(handles, values[:, None].astype(np.float32), slice(_FRACTION, _FRACTION + 1))

    def set_colors(
        self, handles: npt.ArrayLike, colors: npt.ArrayLike, slot: ColorSlot = "fill"
    ) -> None:
        """Recolour shapes: ``colors`` is (N, 4) display RGBA for N ``handles``, applied to
        the fill, the track (of bars and arcs) or the border (and outlines' stroke)."""
        columns = _SLOTS.get(slot)
        if columns is None:
            raise ValueError(f"slot must be one of {sorted(_SLOTS)}, got {slot!r}")
        values = np.asarray(colors, dtype=np.float32).reshape(-1, 4)
        _finite(values, "colors")
        self._write(handles, np.clip(values, 0.0, 1.0), columns)

    def set_anchors(self, handles: npt.ArrayLike, anchors: npt.ArrayLike) -> None:
        """Move shapes: ``anchors`` is (N, 3) world positions for N ``handles``."""
        values = np.asarray(anchors, dtype=np.float32).reshape(-1, 3)
        _finite(values, "anchors")
        self._write(handles, values, _ANCHOR)

    def set_visible(self, handles: npt.ArrayLike, visible: npt.ArrayLike) -> None:
        """Show or hide shapes (a bool per handle, or one for all); hidden ones draw nothing."""
        h = self._handles(handles)
        mask = np.broadcast_to(np.asarray(visible, dtype=bool).reshape(-1), h.shape)
        flags = self._settings[h, _FLAGS].astype(np.int32)
        self._settings[h, _FLAGS] = np.where(mask, flags & ~_HIDDEN, flags | _HIDDEN)
        rows, lengths = self._rows(h)
        row_flags = self._data[rows, _FLAGS].astype(np.int32)
        hide = np.repeat(~mask, lengths)
        self._data[rows, _FLAGS] = np.where(hide, row_flags | _HIDDEN, row_flags & ~_HIDDEN)
        self._dirty[rows] = True

    def set_polyline(self, handle: int, points: npt.ArrayLike) -> None:
        """New points for a polyline; the same point count rewrites its rows in place."""
        h = int(self._handles([handle])[0])
        if self._kind[h] != _SEGMENT:
            raise ValueError(f"shape {handle} is not a polyline")
        self._set_segments(h, _points(points))

    def remove(self, handles: npt.ArrayLike) -> None:
        h = self._handles(handles)
        self._alive[h] = False
        self._length[h] = 0
        self._removed = True

    def clear(self) -> None:
        """Remove every shape; handles start again from 0."""
        self._alive[:] = False
        self._length[:] = 0
        self._next = 0
        self._count = 0
        self._removed = False
        self._dirty[:] = False

    # --- rows -------------------------------------------------------------------------------

    def _template(
        self,
        anchor: Sequence[float],
        kind: int,
        size: float,
        world: bool,
        min_px: float,
        max_px: float,
        through: bool,
        pulse: bool,
    ) -> F32:
        if not (math.isfinite(size) and size > 0.0):
            raise ValueError(f"size must be a positive number, got {size}")
        if not (0.0 <= min_px <= max_px and math.isfinite(max_px)):
            raise ValueError(f"need 0 <= min_px <= max_px < inf, got {min_px}, {max_px}")
        row = np.zeros(_STRIDE, dtype=np.float32)
        row[_ANCHOR] = vec(anchor, 3, "anchor")
        flags = (_WORLD if world else 0) | (_THROUGH if through else 0) | (_PULSE if pulse else 0)
        row[_STYLE] = (size, min_px, max_px, flags + kind * _KIND)
        return row

    def _add(self, rows: F32, kind: int, settings: F32 | None = None) -> int:
        handle = self._next
        self._next += 1
        if handle >= self._alive.shape[0]:
            extra = max(self._alive.shape[0], 64)
            self._settings = np.concatenate([self._settings, np.zeros((extra, _STRIDE), "f4")])
            self._length = np.concatenate([self._length, np.zeros(extra, np.int64)])
            self._kind = np.concatenate([self._kind, np.zeros(extra, np.int8)])
            self._alive = np.concatenate([self._alive, np.zeros(extra, bool)])
        self._settings[handle] = rows[0] if settings is None else settings
        self._kind[handle] = kind
        self._alive[handle] = True
        self._splice(handle, rows)
        return handle

    def _set_segments(self, handle: int, points: npt.NDArray[np.float64]) -> None:
        count = max(points.shape[0] - 1, 0)
        rows = np.repeat(self._settings[handle][None, :], count, axis=0)
        ends = np.concatenate([points[:-1], points[1:]], axis=1) if count else rows[:, _GEOM]
        broken = ~np.isfinite(ends).all(axis=1)
        rows[:, _GEOM] = np.where(broken[:, None], 0.0, ends)
        rows[broken, _FLAGS] += _BROKEN
        if count == self._length[handle]:
            at, _ = self._rows(np.array([handle]))
            self._data[at] = rows
            self._dirty[at] = True
        else:
            self._splice(handle, rows)

    def _splice(self, handle: int, rows: F32) -> None:
        """Put ``rows`` in place of ``handle``'s rows (at the end for a new handle)."""
        self._compact()
        n = self._count
        at = int(np.searchsorted(self._owner[:n], handle, side="left"))
        old = int(self._length[handle])
        new = rows.shape[0]
        total = n - old + new
        self._reserve(total)
        if new != old:
            self._data[at + new : total] = self._data[at + old : n].copy()
            self._owner[at + new : total] = self._owner[at + old : n].copy()
            self._dirty[at:total] = True
        self._data[at : at + new] = rows
        self._owner[at : at + new] = handle
        self._dirty[at : at + new] = True
        self._length[handle] = new
        self._count = total

    def _reserve(self, rows: int) -> None:
        capacity = self._data.shape[0]
        if rows <= capacity:
            return
        while capacity < rows:
            capacity *= 2
        grow = capacity - self._data.shape[0]
        self._data = np.concatenate([self._data, np.zeros((grow, _STRIDE), np.float32)])
        self._owner = np.concatenate([self._owner, np.zeros(grow, np.int64)])
        self._dirty = np.concatenate([self._dirty, np.zeros(grow, bool)])

    def _compact(self) -> None:
        """Drop the rows of removed shapes (the rest keeps its order)."""
        if not self._removed:
            return
        n = self._count
        keep = self._alive[self._owner[:n]]
        k = int(keep.sum())
        self._data[:k] = self._data[:n][keep]
        self._owner[:k] = self._owner[:n][keep]
        self._dirty[:] = False
        self._count = k
        self._removed = False
        self._full_upload = True

    def _handles(self, handles: npt.ArrayLike) -> I64:
        h = np.asarray(handles, dtype=np.int64).reshape(-1)
        known = (h >= 0) & (h < self._alive.shape[0])
        ok = known.copy()
        ok[known] = self._alive[h[known]]
        if not ok.all():
            raise KeyError(f"no shape with handle {int(h[~ok][0])}")
        return h

    def _rows(self, h: I64) -> tuple[I64, I64]:
        """Row indices of handles ``h`` (their rows in order, handle after handle)."""
        lengths = self._length[h]
        first = np.searchsorted(self._owner[: self._count], h, side="left")
        total = int(lengths.sum())
        before = np.cumsum(lengths) - lengths
        rows = np.repeat(first - before, lengths) + np.arange(total, dtype=np.int64)
        return rows.astype(np.int64), lengths

    def _write(self, handles: npt.ArrayLike, values: F32, columns: slice) -> None:
        h = self._handles(handles)
        if values.shape[0] != h.shape[0]:
            raise ValueError(f"{h.shape[0]} handles but {values.shape[0]} values")
        self._settings[h, columns] = values
        rows, lengths = self._rows(h)
        self._data[rows, columns] = np.repeat(values, lengths, axis=0)
        self._dirty[rows] = True

    def _upload(self) -> None:
        self._compact()
        n = self._count
        if n > self._gpu_rows:
            while self._gpu_rows < n:
                self._gpu_rows *= 2
            self._instances.orphan(self._gpu_rows * _STRIDE * 4)
            self._full_upload = True
        if self.skip_hidden:
            self._upload_shown(n)
            return
        if self._full_upload:
            self._full_upload = False
            self._dirty[:] = False
            self._write_rows(0, n)
            return
        dirty = np.flatnonzero(self._dirty[:n])
        if dirty.shape[0] == 0:
            return
        self._dirty[dirty] = False
        for lo, hi in _runs(dirty):
            self._write_rows(lo, hi)

    def _upload_shown(self, n: int) -> None:
        """Only the rows that draw, packed in order: unchanged places keep their rows, from
        the first place where the visible set differs on every row is written."""
        full = self._full_upload
        self._full_upload = False
        dirty = np.flatnonzero(self._dirty[:n])
        if dirty.shape[0] == 0 and not full and n == self._shown_of:
            return
        self._shown_of = n
        self._dirty[dirty] = False
        flags = self._data[:n, _FLAGS].astype(np.int32)
        shown = np.flatnonzero((flags & (_HIDDEN | _BROKEN)) == 0)
        old = self._shown
        same = min(old.shape[0], shown.shape[0])
        if full:
            first = 0
        else:
            differ = np.flatnonzero(old[:same] != shown[:same])
            first = int(differ[0]) if differ.shape[0] else same
        self._shown = shown
        # places of the dirty rows that stay where they were
        at = np.searchsorted(shown, dirty)
        ok = at < shown.shape[0]
        at = at[ok][shown[at[ok]] == dirty[ok]]
        places = np.concatenate([at[at < first], np.arange(first, shown.shape[0])])
        if places.shape[0] == 0:
            return
        for lo, hi in _runs(places):
            chunk = self._data[shown[lo:hi]].tobytes()
            self._instances.write(chunk, offset=lo * _STRIDE * 4)
            self.uploaded_bytes += len(chunk)

    def _write_rows(self, lo: int, hi: int) -> None:
        if hi > lo:
            chunk = self._data[lo:hi].tobytes()
            self._instances.write(chunk, offset=lo * _STRIDE * 4)
            self.uploaded_bytes += len(chunk)

    # --- drawing ----------------------------------------------------------------------------

    def draw(self, views: Sequence[View], time: float = 0.0) -> int:
        """Draw every shape into each view; returns the draw calls issued (one per view).
        ``time`` (seconds, any origin) drives the pulse of pulsing shapes."""
        self._upload()
        count = int(self._shown.shape[0]) if self.skip_hidden else self._count
        if count == 0 or not views:
            return 0
        cycles = float(time) * self._pulse_hz
        phase = 2.0 * math.pi * (cycles - math.floor(cycles)) if math.isfinite(cycles) else 0.0
        self._u_phase.value = phase
        calls = draw_views(self.ctx, self._vao, count, views, self._program)
        self.draw_calls += calls
        return calls

    def release(self) -> None:
        self._vao.release()
        self._instances.release()
        self._corners.release()
        self._program.release()


def _runs(rows: I64) -> list[tuple[int, int]]:
    """Sorted row indices as ``(lo, hi)`` ranges to write: rows closer than ``_GAP_ROWS``
    share a range, and more than ``_MAX_RUNS`` ranges become one span."""
    cuts = np.flatnonzero(np.diff(rows) > _GAP_ROWS)
    starts = rows[np.concatenate([[0], cuts + 1])]
    ends = rows[np.concatenate([cuts, [rows.shape[0] - 1]])] + 1
    if starts.shape[0] > _MAX_RUNS:
        starts, ends = starts[:1], ends[-1:]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _rect(values: Sequence[float]) -> F32:
    v = vec(values, 4, "rect")
    if not (v[2] > 0.0 and v[3] > 0.0):
        raise ValueError(f"rect width and height must be positive, got {values!r}")
    return v


def _length(value: float, what: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v >= 0.0):
        raise ValueError(f"{what} must be a finite number >= 0, got {value}")
    return v


def _finite(values: F32, what: str) -> None:
    if not np.isfinite(values).all():
        raise ValueError(f"{what} must be finite")


def _fractions(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Fill levels clipped to 0..1; NaN (missing) is empty."""
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)


def _points(points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must be a (k, 2) array, got shape {p.shape}")
    return p


def _fill_and_edge(
    color: Sequence[float], border: float, border_color: Sequence[float] | None
) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """A border without its own colour makes an outline: no fill, the stroke in ``color``."""
    if border > 0.0 and border_color is None:
        return _CLEAR, rgba(color)
    return rgba(color), rgba(border_color if border_color is not None else color)
