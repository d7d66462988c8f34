"""SDF font: metrics and kerning against the font's own tables, atlas, cache, layout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fontTools.feaLib.builder import (  # type: ignore[import-untyped]  # fontTools ships no type information
    addOpenTypeFeaturesFromString,
)
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fontTools ships no type information

from xrclient.errors import AssetError
from xrclient.render import font as font_module
from xrclient.render.font import (
    PLACEHOLDER,
    AtlasParams,
    SdfFont,
    cache_file,
    default_font_path,
    load_font,
)
from xrclient.render.text import layout, measure

SMALL = AtlasParams(em_px=16, spread_px=3.0, oversample=2, width=256)
SMALL_CHARS = "AVTo8"


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> SdfFont:
    return load_font(cache_dir=tmp_path_factory.getbasetemp() / "font-cache")


@pytest.fixture(scope="module")
def tt() -> Iterator[Any]:
    with TTFont(str(default_font_path())) as opened:
        yield opened


def slot(font: SdfFont, char: str) -> int:
    return int(font.slots([ord(char)])[0])


def gpos_pair(tt: Any, left: str, right: str) -> int:
    """The GPOS ``kern`` adjustment of a glyph pair, read straight from the tables."""
    table = tt["GPOS"].table
    lookups = sorted(
        {
            i
            for rec in table.FeatureList.FeatureRecord
            if rec.FeatureTag == "kern"
            for i in rec.Feature.LookupListIndex
        }
    )
    total = 0
    for index in lookups:
        for sub in table.LookupList.Lookup[index].SubTable:
            if left not in sub.Coverage.glyphs:
                continue
            assert sub.Format == 2  # DejaVu Sans kerns by class
            c1 = sub.ClassDef1.classDefs.get(left, 0)
            c2 = sub.ClassDef2.classDefs.get(right, 0)
            value = sub.Class1Record[c1].Class2Record[c2].Value1
            total += getattr(value, "XAdvance", 0) or 0
            break
    return int(total)


def test_metrics_come_from_the_font_tables(font: SdfFont, tt: Any) -> None:
    upem = tt["head"].unitsPerEm
    assert font.units_per_em == upem == 2048
    assert font.ascender == pytest.approx(tt["hhea"].ascent / upem)
    assert font.descender == pytest.approx(tt["hhea"].descent / upem)
    assert font.descender < 0 < font.cap_height < font.ascender
    assert font.line_height == pytest.approx(
        (tt["hhea"].ascent - tt["hhea"].descent + tt["hhea"].lineGap) / upem
    )


def test_advances_equal_hmtx(font: SdfFont, tt: Any) -> None:
    cmap = tt.getBestCmap()
    chars = "AVWil .,8°€µΩ✓"
    for char in chars:
        expected = tt["hmtx"][cmap[ord(char)]][0] / 2048
        assert font.advance[slot(font, char)] == pytest.approx(expected, abs=1e-6), char
    assert measure(font, "il", 32.0) == pytest.approx(
        32.0 * (font.advance[slot(font, "i")] + font.advance[slot(font, "l")])
    )


@pytest.mark.parametrize("pair", ["AV", "To"])
def test_kerning_pair_matches_gpos(font: SdfFont, tt: Any, pair: str) -> None:
    cmap = tt.getBestCmap()
    gpos = gpos_pair(tt, cmap[ord(pair[0])], cmap[ord(pair[1])])
    assert gpos < 0  # these pairs tuck in
    a, b = slot(font, pair[0]), slot(font, pair[1])
    assert font.kern[a, b] == pytest.approx(gpos / 2048, abs=1e-6)
    apart = measure(font, pair[0], 20.0) + measure(font, pair[1], 20.0)
    assert measure(font, pair, 20.0) == pytest.approx(apart + 20.0 * gpos / 2048, abs=1e-4)
    assert measure(font, pair, 20.0) < apart
    # no kerning across a line break
    assert measure(font, f"{pair[0]}\n{pair[1]}", 20.0) == pytest.approx(
        max(measure(font, pair[0], 20.0), measure(font, pair[1], 20.0))
    )


def test_pair_list_kerning_and_legacy_kern_fallback(tmp_path: Path) -> None:
    # a GPOS kern feature with a single glyph pair (PairPos format 1) replaces the font's
    # own class kerning; without any GPOS the legacy 'kern' table is used
    with TTFont(str(default_font_path())) as pairs:
        del pairs["GPOS"]
        kern = "feature kern { pos A V -200; } kern;"
        addOpenTypeFeaturesFromString(pairs, kern, tables=["GPOS"])
        pairs.save(str(tmp_path / "pairs.ttf"))
    with TTFont(str(default_font_path()), lazy=True) as legacy:
        del legacy["GPOS"]
        legacy.save(str(tmp_path / "legacy.ttf"))
    expected = {"pairs.ttf": (-200, 0), "legacy.ttf": (-131, -348)}
    for name, (av, to) in expected.items():
        font = load_font(tmp_path / name, SMALL, chars=SMALL_CHARS, use_cache=False)
        assert font.kern[slot(font, "A"), slot(font, "V")] * 2048 == pytest.approx(av), name
        assert font.kern[slot(font, "T"), slot(font, "o")] * 2048 == pytest.approx(to), name


def test_engineering_symbols_have_glyphs(font: SdfFont) -> None:
    assert measure(font, "°C", 10.0) > 10.0 * font.advance[slot(font, "C")]
    for char in "°µ²³±×÷–—‘’“”…€Ω≤≥≠✓ÄÖÜßéñ":  # noqa: RUF001
        s = slot(font, char)
        assert s != PLACEHOLDER, char
        assert font.cell[s, 2] > 0 and font.cell[s, 3] > 0, char
        assert font.advance[s] > 0
    assert font.glyph_count > 95 + 96
    assert not font.cell[slot(font, " "), 2:].any()  # blank: no atlas cell


@pytest.mark.parametrize("char", ["\ue000", "\N{GRINNING FACE}", "\ud800", "\u4e2d"])
def test_unknown_characters_draw_the_placeholder(font: SdfFont, char: str) -> None:
    assert slot(font, char) == PLACEHOLDER
    lay = layout(font, f"a{char}b", 10.0)
    assert lay.glyph.tolist() == [slot(font, "a"), PLACEHOLDER, slot(font, "b")]
    assert lay.w[1] > 0 and lay.h[1] > 0
    assert font.advance[PLACEHOLDER] > 0
    assert measure(font, char, 10.0) == pytest.approx(10.0 * font.advance[PLACEHOLDER])
    x0, y0, w, h = font.cell[PLACEHOLDER]
    assert font.atlas[y0 : y0 + h, x0 : x0 + w].max() > 128  # the box has ink


def test_layout_lines_alignment_and_controls(font: SdfFont) -> None:
    lay = layout(font, "AB\nC", 10.0)
    assert lay.lines == 2
    assert lay.height == pytest.approx(20.0 * font.line_height)
    c = slot(font, "C")
    a = slot(font, "A")
    assert lay.y[2] - font.quad[c, 1] * 10 == pytest.approx(
        lay.y[0] - font.quad[a, 1] * 10 - 10.0 * font.line_height, abs=1e-4
    )
    assert lay.x[2] == pytest.approx(10.0 * font.quad[c, 0], abs=1e-4)  # back to the margin
    width_ab, width_c = measure(font, "AB", 10.0), measure(font, "C", 10.0)
    assert lay.width == pytest.approx(max(width_ab, width_c))
    right = layout(font, "AB\nC", 10.0, align="right")
    center = layout(font, "AB\nC", 10.0, align="center")
    assert right.x[2] - lay.x[2] == pytest.approx(-width_c, abs=1e-4)
    assert right.x[0] - lay.x[0] == pytest.approx(-width_ab, abs=1e-4)
    assert center.x[0] - lay.x[0] == pytest.approx(-width_ab / 2, abs=1e-4)
    top = layout(font, "AB", 10.0, valign="top")
    assert top.y[0] - lay.y[0] == pytest.approx(-10.0 * font.ascender, abs=1e-4)
    # carriage returns and other controls take no room; a tab is four spaces
    assert measure(font, "H\rH\x00", 10.0) == pytest.approx(measure(font, "HH", 10.0))
    assert measure(font, "\t", 10.0) == pytest.approx(4 * measure(font, " ", 10.0))
    empty = layout(font, "", 10.0)
    assert empty.count == 0 and empty.lines == 1 and empty.width == 0.0
    with pytest.raises(ValueError, match="align"):
        layout(font, "x", 1.0, align="justify")  # type: ignore[arg-type]  # an unknown alignment on purpose


def test_atlas_is_a_signed_distance_field(font: SdfFont) -> None:
    x0, y0, w, h = (int(v) for v in font.cell[slot(font, "l")])
    cell = font.atlas[y0 : y0 + h, x0 : x0 + w].astype(np.int32)
    row = cell[h // 2]
    assert row[w // 2] > 128  # the middle of the stem is inside
    assert cell[0, 0] < 20 and cell[-1, -1] < 20  # the cell's corners are far outside
    # the value crosses 0.5 where the stem's outline is: a stem as wide as the ink
    inside = np.flatnonzero(row > 128)
    stem_px = w - 2 * font.params.pad_px  # the ink box, to within one atlas pixel
    assert abs(len(inside) - stem_px) <= 1.5
    assert inside.min() >= font.params.pad_px - 1
    # distances grow away from the outline: monotonic from the edge outwards
    outer = row[: inside.min()]
    assert (np.diff(outer.astype(np.int32)) >= 0).all()
    assert font.uv.min() >= 0.0 and font.uv.max() <= 1.0


def test_cache_round_trip_is_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = load_font(params=SMALL, chars=SMALL_CHARS, cache_dir=tmp_path)
    assert cache_file(default_font_path(), SMALL, SMALL_CHARS, tmp_path).is_file()

    def no_build(*args: object, **kwargs: object) -> SdfFont:
        raise AssertionError("built again instead of loading the cache")

    monkeypatch.setattr(font_module, "build_font", no_build)
    cached = load_font(params=SMALL, chars=SMALL_CHARS, cache_dir=tmp_path)
    assert cached.name == built.name == "DejaVu Sans"
    assert cached.params == built.params
    for key, value in built.arrays().items():
        assert np.array_equal(cached.arrays()[key], value), key
    assert cached.kern[slot(cached, "A"), slot(cached, "V")] < 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "inconsistent"])
def test_damaged_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    fresh = load_font(params=SMALL, chars=SMALL_CHARS, use_cache=False)
    file = cache_file(default_font_path(), SMALL, SMALL_CHARS, tmp_path)
    file.parent.mkdir(parents=True, exist_ok=True)
    if damage == "garbage":
        file.write_bytes(b"not an npz at all" * 10)
    else:
        load_font(params=SMALL, chars=SMALL_CHARS, cache_dir=tmp_path)
        if damage == "truncated":
            file.write_bytes(file.read_bytes()[:200])
        else:
            arrays: dict[str, Any] = fresh.arrays()
            arrays["kern"] = arrays["kern"][:2]
            with file.open("wb") as out:
                np.savez(out, **arrays)
    font = load_font(params=SMALL, chars=SMALL_CHARS, cache_dir=tmp_path)
    assert np.array_equal(font.atlas, fresh.atlas)
    assert np.array_equal(font.kern, fresh.kern)
    with np.load(file) as data:  # and the cache was written anew
        assert data["kern"].shape == fresh.kern.shape


def test_unwritable_cache_still_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    font = load_font(params=SMALL, chars=SMALL_CHARS, cache_dir=blocker / "fonts")
    assert font.has("A") and not font.has("B")
    assert blocker.read_text().startswith("a file")


def test_bad_font_files_raise_asset_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"\x00\x01\x00\x00" + b"\xff" * 64)
    with pytest.raises(AssetError, match=r"junk\.ttf"):
        load_font(junk, params=SMALL, cache_dir=tmp_path)
    with pytest.raises(AssetError, match=r"missing\.ttf"):
        load_font(tmp_path / "missing.ttf", params=SMALL, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="spread_px"):
        AtlasParams(em_px=16, spread_px=12.0)
