"""UTC offsets of the time zones a scene's shift calendar names (``[prediction]
shift_timezone``), from this computer's zone settings and the platform's zone database.

The prediction settings (:mod:`xrclient.core.anomaly_config`) read no clock and no zone
database themselves: the scene loader hands them :func:`utc_offset`.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xrclient.core.anomaly_config import fixed_offset


def utc_offset(zone: str, when: float) -> float:
    """Seconds to add to UTC for local time in ``zone`` ("local": this computer's zone,
    "UTC", "+HH:MM" or a zone name such as "Europe/Berlin") at ``when`` (seconds since the
    epoch); 0 for a time the platform cannot convert. ``KeyError`` for an unknown name."""
    fixed = fixed_offset(zone)
    if fixed is not None:
        return fixed
    if zone == "local":
        try:
            return float(time.localtime(when).tm_gmtoff)
        except (OverflowError, OSError, ValueError):
            return 0.0
    try:
        info = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise KeyError(zone) from None
    try:
        delta = datetime.fromtimestamp(when, info).utcoffset()
    except (OverflowError, OSError, ValueError):
        return 0.0
    return delta.total_seconds() if delta is not None else 0.0
