"""Fonts for in-scene text: real metrics and kerning, glyphs as a signed-distance-field atlas.

A :class:`SdfFont` is plain data (numpy arrays, no GL): per glyph slot an advance, a quad
and an atlas cell, a dense kerning matrix between slots, and one single-channel atlas whose
texels hold the signed distance to the glyph outline (``0.5`` on the outline, above inside,
below outside; ``params.spread_px`` atlas pixels of distance span ``0.5``). Slot 0 is the
placeholder drawn for characters the font or the glyph set lacks.

Advances, vertical metrics and kerning come from the font's own tables (``hmtx``, ``hhea``,
the ``kern`` feature's GPOS pair adjustments, else the legacy ``kern`` table). Glyph shapes
are rasterised by FreeType (Pillow) at ``oversample`` times the atlas size and turned into
distances with an exact Euclidean distance transform. Building takes about a second; the
result is cached per font file and parameters under the user cache directory.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from xrclient.errors import AssetError
from xrclient.resources import data_dir

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]

#: glyph slot drawn for any character the atlas does not hold
PLACEHOLDER = 0
#: bump when the cached arrays change meaning
CACHE_FORMAT = 1

#: symbols engineers put in labels, beyond Latin-1 (kept only where the font has them)
EXTRA_CHARS = (
    "\N{EN DASH}\N{EM DASH}\N{LEFT SINGLE QUOTATION MARK}\N{RIGHT SINGLE QUOTATION MARK}"
    "\N{SINGLE LOW-9 QUOTATION MARK}\N{LEFT DOUBLE QUOTATION MARK}\N{RIGHT DOUBLE QUOTATION MARK}"
    "\N{DOUBLE LOW-9 QUOTATION MARK}\N{HORIZONTAL ELLIPSIS}\N{BULLET}"
    "\N{PER MILLE SIGN}\N{PRIME}\N{DOUBLE PRIME}\N{EURO SIGN}\N{TRADE MARK SIGN}\N{NUMERO SIGN}"
    "\N{DEGREE CELSIUS}\N{OHM SIGN}\N{GREEK CAPITAL LETTER OMEGA}\N{INVERTED OHM SIGN}"
    "\N{GREEK SMALL LETTER ALPHA}\N{GREEK SMALL LETTER BETA}\N{GREEK SMALL LETTER GAMMA}"
    "\N{GREEK SMALL LETTER DELTA}\N{GREEK SMALL LETTER EPSILON}\N{GREEK SMALL LETTER THETA}"
    "\N{GREEK SMALL LETTER LAMDA}\N{GREEK SMALL LETTER MU}\N{GREEK SMALL LETTER PI}"
    "\N{GREEK SMALL LETTER RHO}"
    "\N{GREEK SMALL LETTER SIGMA}\N{GREEK SMALL LETTER TAU}\N{GREEK SMALL LETTER PHI}"
    "\N{GREEK SMALL LETTER OMEGA}\N{GREEK CAPITAL LETTER DELTA}\N{GREEK CAPITAL LETTER THETA}"
    "\N{GREEK CAPITAL LETTER SIGMA}\N{GREEK CAPITAL LETTER PHI}\N{GREEK CAPITAL LETTER PSI}"
    "\N{LEFTWARDS ARROW}\N{UPWARDS ARROW}\N{RIGHTWARDS ARROW}\N{DOWNWARDS ARROW}"
    "\N{LEFT RIGHT ARROW}\N{RIGHTWARDS DOUBLE ARROW}\N{MINUS SIGN}\N{EMPTY SET}\N{INCREMENT}"
    "\N{N-ARY SUMMATION}"
    "\N{SQUARE ROOT}\N{INFINITY}\N{INTEGRAL}\N{ALMOST EQUAL TO}\N{NOT EQUAL TO}"
    "\N{LESS-THAN OR EQUAL TO}\N{GREATER-THAN OR EQUAL TO}\N{DIAMETER SIGN}\N{BLACK CIRCLE}"
    "\N{WHITE CIRCLE}\N{BLACK SQUARE}\N{WHITE SQUARE}\N{BLACK UP-POINTING TRIANGLE}"
    "\N{BLACK DOWN-POINTING TRIANGLE}\N{CHECK MARK}\N{BALLOT X}\N{WARNING SIGN}"
)
#: the characters an atlas holds by default: printable ASCII, Latin-1, the extras
DEFAULT_CHARS = (
    "".join(chr(c) for c in range(0x20, 0x7F))
    + "".join(chr(c) for c in range(0xA0, 0x100))
    + EXTRA_CHARS
)


def default_font_path() -> Path:
    """The shipped DejaVu Sans."""
    return data_dir("assets") / "fonts" / "DejaVuSans.ttf"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/xrclient/fonts``, else ``~/.cache/xrclient/fonts``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xrclient" / "fonts"


@dataclass(frozen=True, slots=True)
class AtlasParams:
    """How glyphs are sampled into the atlas."""

    em_px: int = 48  # atlas pixels per em
    spread_px: float = 6.0  # distance, in atlas pixels, from the outline to value 0 or 1
    oversample: int = 4  # rasterised at em_px * oversample, distances averaged down
    width: int = 1024  # atlas width in pixels (height follows from the packing)

    def __post_init__(self) -> None:
        if not 8 <= self.em_px <= 256:
            raise ValueError(f"em_px must be within 8..256, got {self.em_px}")
        if not 1.0 <= self.spread_px <= self.em_px / 2:
            raise ValueError(f"spread_px must be within 1..em_px/2, got {self.spread_px}")
        if not 1 <= self.oversample <= 8:
            raise ValueError(f"oversample must be within 1..8, got {self.oversample}")
        if not 4 * self.em_px <= self.width <= 8192:
            raise ValueError(f"width must be within 4*em_px..8192, got {self.width}")

    @property
    def pad_px(self) -> int:
        """Atlas pixels of margin around each glyph's ink (holds the outer distance ramp)."""
        return math.ceil(self.spread_px) + 1


@dataclass(frozen=True, slots=True, eq=False)
class SdfFont:
    """One font's metrics, kerning and SDF atlas. Lengths are in ems unless named ``_px``."""

    name: str
    params: AtlasParams
    units_per_em: int
    ascender: float  # above the baseline, > 0
    descender: float  # below the baseline, < 0
    line_gap: float
    cap_height: float
    codepoints: npt.NDArray[np.int64]  # (G-1,) sorted; codepoints[i] is slot i + 1
    advance: F32  # (G,) pen advance per slot
    kern: F32  # (G, G) adjustment added to the advance of the left slot before the right
    quad: F32  # (G, 4) x0, y0, x1, y1 of the slot's atlas cell around the pen (y up)
    cell: I32  # (G, 4) x, y, width, height of the cell in atlas pixels (top row first)
    atlas: npt.NDArray[np.uint8]  # (H, W) distance field

    @property
    def glyph_count(self) -> int:
        return int(self.advance.shape[0])

    @property
    def line_height(self) -> float:
        return self.ascender - self.descender + self.line_gap

    @property
    def atlas_size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.atlas.shape[1]), int(self.atlas.shape[0])

    @property
    def uv(self) -> F32:
        """(G, 4) ``u0, v_top, u1, v_bottom`` of each cell, with v = 0 at the atlas's top row."""
        w, h = self.atlas_size
        c = self.cell.astype(np.float32)
        scale = np.array([w, h, w, h], dtype=np.float32)
        rect = np.stack([c[:, 0], c[:, 1], c[:, 0] + c[:, 2], c[:, 1] + c[:, 3]], axis=1)
        return (rect / scale).astype(np.float32)

    def slots(self, codepoints: npt.ArrayLike) -> I32:
        """Glyph slot of each codepoint; :data:`PLACEHOLDER` where the atlas has none."""
        cp = np.asarray(codepoints, dtype=np.int64).reshape(-1)
        known = self.codepoints
        if known.shape[0] == 0:
            return np.zeros(cp.shape, dtype=np.int32)
        idx = np.minimum(np.searchsorted(known, cp), known.shape[0] - 1)
        return np.where(known[idx] == cp, idx + 1, PLACEHOLDER).astype(np.int32)

    def has(self, char: str) -> bool:
        """Whether ``char`` (one character) has its own glyph in the atlas."""
        return bool(self.slots([ord(char)])[0] != PLACEHOLDER)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Every array and scalar, as stored in the cache."""
        return {
            "name": np.array(self.name),
            "metrics": np.array(
                [self.units_per_em, self.ascender, self.descender, self.line_gap, self.cap_height],
                dtype=np.float64,
            ),
            "codepoints": self.codepoints,
            "advance": self.advance,
            "kern": self.kern,
            "quad": self.quad,
            "cell": self.cell,
            "atlas": self.atlas,
        }


# --- reading the font file -------------------------------------------------------------------


def _open_font(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssetError(path, f"cannot read font file: {exc}") from exc
    try:
        return TTFont(io.BytesIO(data), lazy=True)
    except Exception as exc:  # fontTools raises many kinds on a bad file
        raise AssetError(path, f"not a readable TrueType/OpenType font: {exc}") from exc


def _value_x_advance(record: Any) -> float:
    value = getattr(record, "Value1", None)
    return float(getattr(value, "XAdvance", 0) or 0)


def _pair_subtables(tt: Any) -> Iterable[Any]:
    """PairPos subtables of the lookups the ``kern`` feature uses, in lookup order."""
    if "GPOS" not in tt:
        return
    table = tt["GPOS"].table
    if table.FeatureList is None or table.LookupList is None:
        return
    indices: set[int] = set()
    for record in table.FeatureList.FeatureRecord:
        if record.FeatureTag == "kern":
            indices.update(record.Feature.LookupListIndex)
    lookups = table.LookupList.Lookup
    for index in sorted(i for i in indices if 0 <= i < len(lookups)):
        subtables = []
        for sub in lookups[index].SubTable:
            if lookups[index].LookupType == 9:  # extension: the real subtable is wrapped
                if sub.ExtensionLookupType != 2:
                    continue
                sub = sub.ExtSubTable
            elif lookups[index].LookupType != 2:
                continue
            subtables.append(sub)
        yield subtables


def _slots_by_name(names: Sequence[str]) -> dict[str, list[int]]:
    """Slots of each glyph name (several characters can share one glyph)."""
    slots: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        slots.setdefault(name, []).append(i)
    return slots


def _gpos_kerning(tt: Any, names: Sequence[str]) -> F32 | None:
    """(G, G) kerning in font units from GPOS pair adjustments; ``None`` without any."""
    n = len(names)
    total = np.zeros((n, n), dtype=np.float32)
    any_lookup = False
    by_name = _slots_by_name(names)
    for subtables in _pair_subtables(tt):
        any_lookup = True
        done = np.zeros((n, n), dtype=bool)  # within a lookup the first matching subtable wins
        for sub in subtables:
            value = np.zeros((n, n), dtype=np.float32)
            match = np.zeros((n, n), dtype=bool)
            covered = [i for g in sub.Coverage.glyphs for i in by_name.get(g, ())]
            if not covered:
                continue
            if sub.Format == 1:
                for glyph, pair_set in zip(sub.Coverage.glyphs, sub.PairSet, strict=False):
                    left = by_name.get(glyph)
                    if left is None:
                        continue
                    for rec in pair_set.PairValueRecord:
                        right = by_name.get(rec.SecondGlyph)
                        if right is not None:
                            value[np.ix_(left, right)] = _value_x_advance(rec)
                            match[np.ix_(left, right)] = True
            elif sub.Format == 2:
                class1 = np.array([sub.ClassDef1.classDefs.get(g, 0) for g in names], np.int64)
                class2 = np.array([sub.ClassDef2.classDefs.get(g, 0) for g in names], np.int64)
                table = np.array(
                    [[_value_x_advance(c2) for c2 in c1.Class2Record] for c1 in sub.Class1Record],
                    dtype=np.float32,
                ).reshape(sub.Class1Count, sub.Class2Count)
                class1 = np.where(class1 < sub.Class1Count, class1, 0)
                class2 = np.where(class2 < sub.Class2Count, class2, 0)
                rows = np.zeros(n, dtype=bool)
                rows[covered] = True
                value[rows] = table[class1[rows]][:, class2]
                match[rows] = True
            else:
                continue
            take = match & ~done
            total[take] += value[take]
            done |= match
    return total if any_lookup else None


def _legacy_kerning(tt: Any, names: Sequence[str]) -> F32:
    n = len(names)
    total = np.zeros((n, n), dtype=np.float32)
    if "kern" not in tt:
        return total
    by_name = _slots_by_name(names)
    for sub in getattr(tt["kern"], "kernTables", []):
        pairs = getattr(sub, "kernTable", None)
        if not isinstance(pairs, Mapping) or getattr(sub, "format", 0) != 0:
            continue
        for (left, right), amount in pairs.items():
            i, j = by_name.get(left), by_name.get(right)
            if i is not None and j is not None:
                total[np.ix_(i, j)] += float(amount)
    return total


# --- rasterising and packing -------------------------------------------------------------------


def _missing_codepoint(cmap: Mapping[int, str]) -> int | None:
    """A private-use codepoint the font does not map (FreeType draws ``.notdef`` for it)."""
    return next((cp for cp in range(0xE000, 0xF900) if cp not in cmap), None)


def _ink(pil_font: ImageFont.FreeTypeFont, char: str) -> tuple[npt.NDArray[np.uint8], int, int]:
    """Coverage bitmap of ``char`` and its top-left offset from the pen (y down)."""
    left, top, right, bottom = (int(v) for v in pil_font.getbbox(char, anchor="ls"))
    if right <= left or bottom <= top:
        return np.zeros((0, 0), dtype=np.uint8), 0, 0
    image = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(image).text((-left, -top), char, font=pil_font, fill=255, anchor="ls")
    ink = np.asarray(image, dtype=np.uint8)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 0), dtype=np.uint8), 0, 0
    # the box can start at the pen rather than at the ink: crop to the ink
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return ink, left + int(cols[0]), top + int(rows[0])


def _drawn_box(size: int) -> tuple[npt.NDArray[np.uint8], int, int]:
    """A hollow box, 0.5 x 0.7 em, for a font whose ``.notdef`` is blank."""
    w, h, stroke = round(0.5 * size), round(0.7 * size), max(round(0.06 * size), 1)
    box = np.full((h, w), 255, dtype=np.uint8)
    box[stroke:-stroke, stroke:-stroke] = 0
    return box, round(0.08 * size), -h


def _distance_cell(ink: npt.NDArray[np.uint8], params: AtlasParams, x: int, y: int) -> Any:
    """The atlas cell of one glyph: its origin and size in atlas pixels and its SDF texels."""
    os_, pad = params.oversample, params.pad_px
    h, w = ink.shape
    x0, y0 = math.floor(x / os_) - pad, math.floor(y / os_) - pad
    x1, y1 = math.ceil((x + w) / os_) + pad, math.ceil((y + h) / os_) + pad
    inside = np.zeros(((y1 - y0) * os_, (x1 - x0) * os_), dtype=bool)
    inside[y - y0 * os_ : y - y0 * os_ + h, x - x0 * os_ : x - x0 * os_ + w] = ink >= 128
    # pixels with a 4-neighbour on the other side of the outline; the outline runs half a
    # pixel from their centres, so one transform gives both inside and outside distances
    edge = np.zeros_like(inside)
    dx = inside[:, 1:] != inside[:, :-1]
    dy = inside[1:, :] != inside[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    dist = ndimage.distance_transform_edt(~edge).astype(np.float32) + np.float32(0.5)
    signed = np.where(inside, dist, -dist) / np.float32(os_)
    rows, cols = y1 - y0, x1 - x0
    atlas_px = signed.reshape(rows, os_, cols, os_).mean(axis=(1, 3))
    value = np.clip(0.5 + atlas_px / (2.0 * params.spread_px), 0.0, 1.0)
    return x0, y0, np.round(value * 255.0).astype(np.uint8)


def _shelf_pack(sizes: I32, width: int, gutter: int = 1) -> tuple[I32, int]:
    """Top-left corners for (N, 2) ``(w, h)`` boxes on shelves of a ``width`` wide atlas."""
    order = np.lexsort((-sizes[:, 0], -sizes[:, 1]))  # tallest first
    corners = np.zeros((sizes.shape[0], 2), dtype=np.int32)
    x = y = shelf = gutter
    for i in order:
        w, h = int(sizes[i, 0]), int(sizes[i, 1])
        if w == 0 or h == 0:
            continue
        if x + w + gutter > width:
            x, y = gutter, y + shelf + gutter
            shelf = 0
        corners[i] = x, y
        x += w + gutter
        shelf = max(shelf, h)
    height = y + shelf + gutter
    return corners, height + (-height % 4)


def build_font(
    path: Path | None = None,
    params: AtlasParams = AtlasParams(),
    chars: str = DEFAULT_CHARS,
) -> SdfFont:
    """Read ``path`` (default: the shipped DejaVu Sans) and build its atlas, no cache."""
    path = Path(path) if path is not None else default_font_path()
    tt = _open_font(path)
    try:
        upem = int(tt["head"].unitsPerEm)
        hhea = tt["hhea"]
        cmap: dict[int, str] = tt.getBestCmap() or {}
        hmtx = tt["hmtx"]
        name = str(tt["name"].getDebugName(4) or path.stem)
        wanted = sorted({ord(c) for c in chars} - set(range(0x20)) - set(range(0x7F, 0xA0)))
        codepoints = [cp for cp in wanted if cp in cmap]
        names = [".notdef", *(cmap[cp] for cp in codepoints)]
        advance_units = [float(hmtx[n][0]) if n in hmtx.metrics else 0.0 for n in names]
        kern = _gpos_kerning(tt, names)
        if kern is None:
            kern = _legacy_kerning(tt, names)
        ascender, descender = float(hhea.ascent), float(hhea.descent)
        line_gap = float(hhea.lineGap)
    except AssetError:
        raise
    except Exception as exc:
        raise AssetError(path, f"font tables unreadable: {exc}") from exc
    finally:
        tt.close()

    size = params.em_px * params.oversample
    pil_font = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    missing = _missing_codepoint(cmap)
    placeholder = _ink(pil_font, chr(missing)) if missing is not None else None
    if placeholder is None or placeholder[0].size == 0 or not placeholder[0].any():
        placeholder = _drawn_box(size)
        advance_units[0] = max(advance_units[0], 0.66 * upem)
    inks = [placeholder, *(_ink(pil_font, chr(cp)) for cp in codepoints)]

    count = len(inks)
    texels: list[npt.NDArray[np.uint8] | None] = []
    origin = np.zeros((count, 2), dtype=np.int32)
    sizes = np.zeros((count, 2), dtype=np.int32)
    for i, (ink, x, y) in enumerate(inks):
        if ink.size == 0 or not ink.any():
            texels.append(None)
            continue
        x0, y0, cell = _distance_cell(ink, params, x, y)
        texels.append(cell)
        origin[i] = x0, y0
        sizes[i] = cell.shape[1], cell.shape[0]
    corners, height = _shelf_pack(sizes, params.width)
    atlas = np.zeros((height, params.width), dtype=np.uint8)
    for i, cell in enumerate(texels):
        if cell is not None:
            cx, cy = int(corners[i, 0]), int(corners[i, 1])
            atlas[cy : cy + cell.shape[0], cx : cx + cell.shape[1]] = cell

    em = float(params.em_px)
    quad = np.zeros((count, 4), dtype=np.float32)
    quad[:, 0] = origin[:, 0] / em
    quad[:, 1] = -(origin[:, 1] + sizes[:, 1]) / em
    quad[:, 2] = (origin[:, 0] + sizes[:, 0]) / em
    quad[:, 3] = -origin[:, 1] / em
    cap_ink = inks[codepoints.index(ord("H")) + 1] if ord("H") in codepoints else None
    cap = -cap_ink[2] / size if cap_ink is not None and cap_ink[0].size else 0.7
    return _frozen(
        SdfFont(
            name=name,
            params=params,
            units_per_em=upem,
            ascender=ascender / upem,
            descender=descender / upem,
            line_gap=line_gap / upem,
            cap_height=float(cap),
            codepoints=np.asarray(codepoints, dtype=np.int64),
            advance=(np.asarray(advance_units, dtype=np.float64) / upem).astype(np.float32),
            kern=(kern / np.float32(upem)).astype(np.float32),
            quad=quad,
            cell=np.concatenate([corners, sizes], axis=1).astype(np.int32),
            atlas=atlas,
        )
    )


def _frozen(font: SdfFont) -> SdfFont:
    for f in fields(font):
        value = getattr(font, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return font


# --- cache -----------------------------------------------------------------------------------


def cache_file(path: Path, params: AtlasParams, chars: str, cache_dir: Path) -> Path:
    """Where the atlas of ``path`` built with ``params`` and ``chars`` is cached."""
    digest = hashlib.sha256(Path(path).read_bytes())
    digest.update(repr((CACHE_FORMAT, params, chars)).encode("utf-8", "surrogatepass"))
    return Path(cache_dir) / f"{Path(path).stem}-{digest.hexdigest()[:24]}.npz"


def _load_cached(file: Path, params: AtlasParams) -> SdfFont:
    with np.load(io.BytesIO(file.read_bytes()), allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    metrics = arrays["metrics"].astype(np.float64)
    advance = arrays["advance"].astype(np.float32)
    count = advance.shape[0]
    font = SdfFont(
        name=str(arrays["name"]),
        params=params,
        units_per_em=int(metrics[0]),
        ascender=float(metrics[1]),
        descender=float(metrics[2]),
        line_gap=float(metrics[3]),
        cap_height=float(metrics[4]),
        codepoints=arrays["codepoints"].astype(np.int64),
        advance=advance,
        kern=arrays["kern"].astype(np.float32),
        quad=arrays["quad"].astype(np.float32),
        cell=arrays["cell"].astype(np.int32),
        atlas=arrays["atlas"].astype(np.uint8),
    )
    h, w = font.atlas.shape
    cell = font.cell
    valid = (
        metrics.shape == (5,)
        and bool(np.isfinite(metrics).all())
        and count >= 1
        and font.codepoints.shape == (count - 1,)
        and bool(np.all(np.diff(font.codepoints) > 0))
        and font.kern.shape == (count, count)
        and font.quad.shape == (count, 4)
        and cell.shape == (count, 4)
        and w == params.width
        and bool(np.isfinite(font.kern).all() and np.isfinite(font.quad).all())
        and bool(np.isfinite(advance).all())
        and bool((cell >= 0).all())
        and bool((cell[:, 0] + cell[:, 2] <= w).all() and (cell[:, 1] + cell[:, 3] <= h).all())
    )
    if not valid:
        raise ValueError(f"{file}: cached arrays are inconsistent")
    return _frozen(font)


def _store(font: SdfFont, file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            arrays: dict[str, Any] = font.arrays()
            np.savez(out, **arrays)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_font(
    path: Path | None = None,
    params: AtlasParams = AtlasParams(),
    *,
    chars: str = DEFAULT_CHARS,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> SdfFont:
    """The font at ``path`` (default: the shipped DejaVu Sans), from the cache when it can be.

    A missing, unreadable or inconsistent cache file is rebuilt; a cache that cannot be
    written is skipped. Only an unreadable font raises (:class:`~xrclient.errors.AssetError`).
    """
    path = Path(path) if path is not None else default_font_path()
    if not use_cache:
        return build_font(path, params, chars)
    try:
        file = cache_file(path, params, chars, cache_dir or default_cache_dir())
    except OSError as exc:
        raise AssetError(path, f"cannot read font file: {exc}") from exc
    if file.is_file():
        try:
            return _load_cached(file, params)
        except Exception as exc:  # any damage to the cache means: build again
            log.info("font cache %s unusable (%s); rebuilding", file, exc)
    font = build_font(path, params, chars)
    try:
        _store(font, file)
    except OSError as exc:
        log.info("font cache %s not written: %s", file, exc)
    return font
