"""Epoch seconds as UTC calendar fields and text, by arithmetic alone.

Core reads no clock and imports no clock module: a time is a number passed in, and this is
how it becomes a date. The results match :meth:`datetime.datetime.fromtimestamp` with
``UTC`` (microseconds rounded half to even) over its whole range, years 1 to 9999.
"""

from __future__ import annotations

import math
from typing import NamedTuple

_DAY = 86_400
#: days from 0000-03-01 (proleptic Gregorian) to 1970-01-01
_EPOCH_SHIFT = 719_468
_DAYS_PER_ERA = 146_097  # 400 years


class UtcTime(NamedTuple):
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    microsecond: int


def utc_fields(seconds: float) -> UtcTime | None:
    """The UTC date and time of ``seconds`` since 1970-01-01T00:00:00Z; ``None`` when it is
    not a finite number or falls outside years 1 to 9999."""
    if not math.isfinite(seconds) or abs(seconds) > 1e12:
        return None
    frac, whole = math.modf(seconds)
    micro = round(frac * 1e6)
    whole_s = int(whole)
    if micro >= 1_000_000:
        whole_s, micro = whole_s + 1, micro - 1_000_000
    elif micro < 0:
        whole_s, micro = whole_s - 1, micro + 1_000_000
    days, secs = divmod(whole_s, _DAY)
    year, month, day = _civil(days)
    if not 1 <= year <= 9999:
        return None
    hour, rest = divmod(secs, 3600)
    minute, second = divmod(rest, 60)
    return UtcTime(year, month, day, hour, minute, second, micro)


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of ``days`` since 1970-01-01, counting years from March so that
    the leap day ends the year."""
    z = days + _EPOCH_SHIFT
    era = z // _DAYS_PER_ERA
    day_of_era = z - era * _DAYS_PER_ERA  # 0 .. 146096
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # 0 = March
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    return year, month, day


def utc_text(seconds: float) -> str | None:
    """``YYYY-MM-DD HH:MM:SSZ``; ``None`` as for :func:`utc_fields`."""
    t = utc_fields(seconds)
    if t is None:
        return None
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def utc_iso(seconds: float) -> str | None:
    """ISO 8601 with the offset, as ``datetime.isoformat`` writes it:
    ``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``; ``None`` as for :func:`utc_fields`."""
    t = utc_fields(seconds)
    if t is None:
        return None
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond:
        text += f".{t.microsecond:06d}"
    return text + "+00:00"
