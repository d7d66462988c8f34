"""The display-text policy: what names and texts may hold, and how they are printed."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xrclient.core import display_text as dt

REFUSED = [
    "\x00",
    "\x1b[2J",
    "\r",
    "\x7f",  # DEL
    "\x85",  # NEL, a C1 control
    "\x9b",  # CSI, a C1 control
    "\u202e",  # right-to-left override
    "\u202a",
    "\u2066",  # left-to-right isolate
    "\u2069",
    "\u200e",  # left-to-right mark
    "\u061c",
    "\u200b",  # zero-width space
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u00ad",  # soft hyphen
    "\U000e0041",  # a tag character
    "\u2028",  # line separator
    "\u2029",
    "\ud800",  # a lone surrogate
    "\ufdd0",  # noncharacters
    "\uffff",
    "\U0010fffe",
]


@pytest.mark.parametrize("bad", REFUSED, ids=lambda c: f"U+{ord(c[0]):04X}")
def test_refused_everywhere(bad: str) -> None:
    for text in (f"Ann{bad}a", bad, f"{bad}x"):
        with pytest.raises(dt.DisplayTextError):
            dt.clean(text, "text", 100, multiline=True)
        with pytest.raises(dt.DisplayTextError):
            dt.name(text)


def test_joiners_only_between_visible_characters() -> None:
    for joiner in ("\u200c", "\u200d"):
        assert dt.name(f"a{joiner}b") == f"a{joiner}b"
        for bad in (joiner, f"{joiner}a", f"a{joiner}", f"a {joiner}b", f"a{joiner}{joiner}b"):
            with pytest.raises(dt.DisplayTextError, match="format character"):
                dt.clean(bad, "text", 100)


def test_tab_and_newline_only_in_multi_line_texts() -> None:
    assert dt.clean("line 1\n\tline 2", "text", 100, multiline=True) == "line 1\n\tline 2"
    for text in ("a\nb", "a\tb"):
        with pytest.raises(dt.DisplayTextError, match="control character"):
            dt.clean(text, "chat", 100)
        with pytest.raises(dt.DisplayTextError):
            dt.name(text)


def test_scripts_emoji_and_joiners_between_letters_are_kept() -> None:
    for good in (
        "Zoë Ødegård",
        "Łukasz Żółć",
        "حسن",
        "שרה",
        "میخواهم",  # ZWNJ between two letters
        "👩\u200d🔧 Maria",  # ZWJ in an emoji sequence
        "山田 太郎",
        "Nguyễn",
    ):
        assert dt.name(good) == unicodedata.normalize("NFC", good)


def test_text_is_nfc_normalised_and_counted_in_code_points() -> None:
    decomposed = "Zoe\u0308"
    assert dt.name(decomposed) == "Zoë"
    assert dt.clean("e\u0301" * 10, "text", 10) == "é" * 10
    with pytest.raises(dt.DisplayTextError, match="at most 9"):
        dt.clean("é" * 10, "text", 9)
    with pytest.raises(dt.DisplayTextError, match="at most 5"):
        dt.clean("x" * 10_000, "text", 5)


def test_stacked_marks_and_empty_or_padded_names_are_refused() -> None:
    assert dt.clean("x" + "\u0301" * dt.MAX_MARKS, "text", 100)
    with pytest.raises(dt.DisplayTextError, match="combining marks"):
        dt.clean("x" + "\u0301" * (dt.MAX_MARKS + 1), "text", 100)
    for bad in ("", " ", " Ann", "Ann ", "\u3000"):
        with pytest.raises(dt.DisplayTextError):
            dt.name(bad)
    with pytest.raises(dt.DisplayTextError, match="must be a string"):
        dt.clean(b"bytes", "text", 100)
    assert dt.clean("", "text", 10) == ""
    with pytest.raises(dt.DisplayTextError):
        dt.clean("", "text", 10, empty=False)


def test_the_error_names_the_field() -> None:
    with pytest.raises(dt.DisplayTextError) as info:
        dt.clean("a\u202eb", "annotation", 100)
    assert info.value.what == "annotation" and "U+202E" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_printable_escapes_what_moves_a_terminal() -> None:
    assert dt.printable("plain ASCII") == "plain ASCII"
    assert dt.printable("Zoë 山田") == "Zoë 山田"
    assert dt.printable("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    assert dt.printable("\x1b[2J\x7f\x9b") == "\\x1b[2J\\x7f\\x9b"
    assert dt.printable("\u202eevil\u200b\u2028") == "\\u202eevil\\u200b\\u2028"
    assert dt.printable("\U000e0041") == "\\U000e0041"


@given(st.text())
def test_printable_output_is_one_safe_line(text: str) -> None:
    out = dt.printable(text)
    assert len(out.splitlines()) <= 1
    assert dt.problem(out) is None
    assert dt.printable(out) == out.replace("\\", "\\\\")


@given(st.text(max_size=80))
def test_clean_either_refuses_or_returns_a_text_that_passes_again(text: str) -> None:
    try:
        out = dt.clean(text, "text", 80, multiline=True)
    except dt.DisplayTextError:
        return
    assert dt.clean(out, "text", 80, multiline=True) == out
    assert unicodedata.is_normalized("NFC", out)
