"""What text people see may hold: one policy for names, annotations, chat, procedure results
and every other text that arrives from a token holder or the network and is shown to others.

The policy (docs/security.md, "Display text"):

- **Normalised** to NFC, so one name has one spelling; lengths count code points of the
  normalised text.
- **Refused**: control characters (C0, DEL and C1; only tab and newline, and only in
  multi-line texts), line and paragraph separators (U+2028, U+2029), lone surrogates,
  noncharacters (U+FDD0-U+FDEF, U+xFFFE, U+xFFFF), and format characters (category Cf):
  bidirectional embeddings, overrides, isolates and marks (U+202A-U+202E,
  U+2066-U+2069, U+200E, U+200F, U+061C), zero-width spaces and joiners used alone
  (U+200B, U+2060, U+FEFF), the soft hyphen, tags and the rest. The two joiners that
  scripts and emoji need, ZWNJ (U+200C) and ZWJ (U+200D), are kept when they stand
  between two visible characters. More than ``MAX_MARKS`` combining marks in a row are
  refused (text that smears over the lines around it).
- **Names** are one line, not empty, with at least one visible character and no space at
  either end.

``printable`` is the other half: whatever came from the network and is printed to a
terminal or written to a log goes through it, so no text can start a fake row, a fake log
line or an escape sequence, whatever checks it passed.
"""

from __future__ import annotations

import re
import unicodedata

#: combining marks allowed in a row after one base character
MAX_MARKS = 8
_JOINERS = frozenset("\u200c\u200d")
_ASCII_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ASCII_BAD_LINE = re.compile(r"[\x00-\x1f\x7f]")


class DisplayTextError(ValueError):
    """A text the policy refuses: ``what`` names the field, ``problem`` says why."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"'{what}' {problem}")
        self.what, self.problem = what, problem


def _noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def _visible(c: str) -> bool:
    cat = unicodedata.category(c)
    return cat[0] not in "CZM"


def problem(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` (already NFC) breaks the policy, or ``None`` when it does not."""
    if text.isascii():
        bad = (_ASCII_BAD if multiline else _ASCII_BAD_LINE).search(text)
        return None if bad is None else f"holds the control character U+{ord(bad[0]):04X}"
    marks = 0
    last = len(text) - 1
    for i, c in enumerate(text):
        cp = ord(c)
        cat = unicodedata.category(c)
        if cat == "Cc":
            if multiline and c in "\t\n":
                marks = 0
                continue
            return f"holds the control character U+{cp:04X}"
        if cat == "Cf":
            if c in _JOINERS and 0 < i < last and _visible(text[i - 1]) and _visible(text[i + 1]):
                continue
            return f"holds the invisible format character U+{cp:04X}"
        if cat in ("Zl", "Zp"):
            return f"holds the line separator U+{cp:04X}"
        if cat == "Cs":
            return "holds a lone surrogate"
        if _noncharacter(cp):
            return f"holds the noncharacter U+{cp:04X}"
        if cat[0] == "M":
            marks += 1
            if marks > MAX_MARKS:
                return f"holds more than {MAX_MARKS} combining marks in a row"
        else:
            marks = 0
    return None


def clean(
    value: object, what: str, max_chars: int, *, multiline: bool = False, empty: bool = True
) -> str:
    """``value`` as display text: a string, NFC-normalised, at most ``max_chars`` code
    points, without what the policy refuses; raises ``DisplayTextError`` naming ``what``."""
    if type(value) is not str:
        raise DisplayTextError(what, f"must be a string of at most {max_chars}")
    if len(value) > 4 * max_chars + 16:  # NFC never shrinks text this much: skip the work
        raise DisplayTextError(what, f"must be a string of at most {max_chars}")
    try:
        text = unicodedata.normalize("NFC", value)
    except UnicodeError:  # pragma: no cover - normalize accepts any str today
        raise DisplayTextError(what, "is not valid text") from None
    if len(text) > max_chars or (not empty and not text):
        raise DisplayTextError(what, f"must be a string of at most {max_chars}")
    why = problem(text, multiline=multiline)
    if why is not None:
        raise DisplayTextError(what, why)
    return text


def name(value: object, what: str = "name", max_chars: int = 64) -> str:
    """A person's or a thing's name: one line of display text, with a visible character
    and no space at either end."""
    text = clean(value, what, max_chars, empty=False)
    if text != text.strip():
        raise DisplayTextError(what, "must not start or end with a space")
    if not any(_visible(c) for c in text):
        raise DisplayTextError(what, "needs at least one visible character")
    return text


def printable(text: str) -> str:
    """``text`` on one line, safe to print or log: backslash, controls, separators, format
    characters, surrogates and noncharacters become backslash escapes (``\\t``, ``\\n``,
    ``\\x1b``, ``\\u202e``), so a tab cannot make a column nor a newline a line."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    for c in text:
        cp = ord(c)
        if c == "\\":
            out.append("\\\\")
        elif c in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[c])
        elif unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") or _noncharacter(cp):
            out.append(
                f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"
            )
        else:
            out.append(c)
    return "".join(out)
