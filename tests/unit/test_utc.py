"""core.utc turns epoch seconds into UTC dates by arithmetic, exactly as datetime does."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from xrclient.core.bindings_text import MISSING, format_time
from xrclient.core.utc import UtcTime, utc_fields, utc_iso, utc_text

# the whole range of datetime: 0001-01-01 to 9999-12-31
FIRST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LAST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def reference(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_known_dates() -> None:
    assert utc_fields(0.0) == UtcTime(1970, 1, 1, 0, 0, 0, 0)
    assert utc_text(951_782_400.0) == "2000-02-29 00:00:00Z"  # a leap day of a 400th year
    assert utc_text(-1.0) == "1969-12-31 23:59:59Z"
    assert utc_iso(1_700_000_000.25) == "2023-11-14T22:13:20.250000+00:00"
    assert utc_iso(1_700_000_000.0) == "2023-11-14T22:13:20+00:00"
    assert utc_text(59.9999996) == "1970-01-01 00:01:00Z"  # microseconds round up


def test_outside_the_calendar_is_none() -> None:
    for value in (math.nan, math.inf, -math.inf, FIRST - 1.0, LAST + 86_400.0, 1e300):
        assert utc_fields(value) is None
        assert utc_text(value) is None and utc_iso(value) is None
    assert format_time(math.nan) == MISSING
    assert format_time(1e18) == MISSING


@given(st.integers(int(FIRST), int(LAST)))
def test_whole_seconds_match_datetime(seconds: int) -> None:
    want = reference(seconds)
    assert utc_fields(float(seconds)) == UtcTime(
        want.year, want.month, want.day, want.hour, want.minute, want.second, 0
    )
    assert utc_iso(float(seconds)) == want.isoformat()


@given(st.floats(-1e10, 1e10, allow_nan=False))
def test_fractions_match_datetime(seconds: float) -> None:
    want = reference(seconds)
    assert utc_iso(seconds) == want.isoformat()
    assert format_time(seconds) == (
        f"{want.year:04d}-{want.month:02d}-{want.day:02d} {want.strftime('%H:%M:%S')}Z"
    )
