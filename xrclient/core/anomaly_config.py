"""The ``[prediction]`` table of a scene file: anomaly-detection settings per machine type.

::

    [prediction]
    score_threshold = 5.0        # smoothed robust z-score that flags a machine
    persist_s = 30               # ... held for this long
    half_life_s = 1800           # baseline memory (EWMA half-life, per state)
    warmup_s = 600               # samples a baseline needs before it scores
    window_s = 300               # trend window for the time-to-threshold fit
    horizon_s = 86400            # longer estimates are reported as NaN
    ignore = ["energy_kwh", "cycle_count", "parts_good", "parts_scrap"]

    [prediction.types.press]     # any of the keys above, for machines of one type
    score_threshold = 6.0

    [prediction.thresholds]      # alarm levels for the time-to-threshold estimate, in
    vibration_mm_s = 7.1         # addition to the scene's gauges and simple alarms;
    level_pct = { value = 10, direction = "low" }

    # plant-wide (not per type): a baseline per shift, starting at these local times
    shifts = ["06:00", "14:00", "22:00"]
    shift_timezone = "local"     # "local", "UTC", "+05:30", "-03:00" or "Europe/Berlin"

Every key is optional. Scene files are untrusted: unknown keys, wrong types and values out
of range are errors naming the key path.

This module reads no clock and no zone database: "UTC" and fixed offsets are computed
here; "local" and zone names go through the :data:`UtcOffset` function the caller passes
to :func:`parse_prediction_table` (the scene loader passes
:func:`xrclient.scene.zones.utc_offset`), which the config keeps for ``shift_at``.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal

Direction = Literal["high", "low"]
#: seconds to add to UTC for local time in a zone (a valid ``shift_timezone``) at a moment
#: (seconds since the epoch); raises ``KeyError`` for a zone it does not know
UtcOffset = Callable[[str, float], float]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_TYPES = 256
_MAX_NAMES = 256
_MAX_SHIFTS = 12
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,31}(/[A-Za-z0-9][A-Za-z0-9_+-]{0,31}){0,2}$")
#: keys of the top-level table only (plant-wide)
_PLANT_KEYS = ("shifts", "shift_timezone")

DEFAULT_IGNORE: tuple[str, ...] = (
    "energy_kwh",
    "cycle_count",
    "parts_good",
    "parts_scrap",
    "last_maintenance",
)


class PredictionConfigError(ValueError):
    """An invalid ``[prediction]`` table: ``path`` names the key."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class TypeSettings:
    enabled: bool = True
    score_threshold: float = 5.0
    persist_s: float = 30.0
    half_life_s: float = 1800.0
    warmup_s: float = 600.0
    window_s: float = 300.0
    horizon_s: float = 86400.0
    ignore: tuple[str, ...] = DEFAULT_IGNORE


#: key -> (low, high) for numbers
_RANGES: dict[str, tuple[float, float]] = {
    "score_threshold": (0.5, 1000.0),
    "persist_s": (0.0, 86400.0),
    "half_life_s": (10.0, 30 * 86400.0),
    "warmup_s": (0.0, 86400.0),
    "window_s": (10.0, 86400.0),
    "horizon_s": (60.0, 365 * 86400.0),
}


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    direction: Direction = "high"


@dataclass(frozen=True, slots=True)
class PredictionConfig:
    defaults: TypeSettings = TypeSettings()
    types: Mapping[str, TypeSettings] = field(default_factory=dict)
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    #: shift starts in seconds after local midnight, ascending (empty: no shift baselines)
    shifts: tuple[float, ...] = ()
    #: "local" (this computer's zone), "UTC", a fixed offset "+HH:MM" or an IANA zone name
    shift_timezone: str = "local"

    def for_type(self, machine_type: str) -> TypeSettings:
        return self.types.get(machine_type, self.defaults)

    #: how "local" and zone names are converted (None: as UTC); see the module docstring
    utc_offset: UtcOffset | None = field(default=None, compare=False, repr=False)

    def shift_at(self, when: float) -> int:
        """The shift (index into ``shifts``) on at ``when`` (seconds since the epoch); the
        hours before the first start belong to the last shift. 0 without shifts."""
        if not self.shifts:
            return 0
        offset = fixed_offset(self.shift_timezone)
        if offset is None:
            offset = self.utc_offset(self.shift_timezone, when) if self.utc_offset else 0.0
        local = (when + offset) % 86400.0
        return (bisect.bisect_right(self.shifts, local) - 1) % len(self.shifts)


def fixed_offset(zone: str) -> float | None:
    """Seconds to add to UTC in ``zone`` if it is "UTC" or a fixed offset "+HH:MM"; None
    for "local" and zone names (their offset depends on the moment and the platform)."""
    if zone == "UTC":
        return 0.0
    m = _OFFSET.match(zone)
    if m:
        sign = 1.0 if m.group(1) == "+" else -1.0
        return sign * (int(m.group(2)) * 3600.0 + int(m.group(3)) * 60.0)
    return None


def parse_prediction_table(
    doc: Mapping[str, object], path: str = "prediction", *, zones: UtcOffset | None = None
) -> PredictionConfig:
    """Validate a ``[prediction]`` table (already parsed TOML) into a config. ``zones``
    converts "local" and zone names (and tells unknown names); without it zone names are
    checked for their form only and converted as UTC."""
    if not isinstance(doc, Mapping):
        raise PredictionConfigError(path, "expected a table")
    known = {f.name for f in fields(TypeSettings)} | {"types", "thresholds", *_PLANT_KEYS}
    _no_unknown(doc, known, path)
    defaults = _settings(doc, TypeSettings(), path, allow_nested=True)
    types: dict[str, TypeSettings] = {}
    for name, value, where in _named(
        doc, path, "types", _MAX_TYPES, ("machine types", "types", "type")
    ):
        if not isinstance(value, Mapping):
            raise PredictionConfigError(where, "expected a table")
        for key in _PLANT_KEYS:
            if key in value:
                raise PredictionConfigError(
                    f"{where}.{key}", f"{key} applies to the whole plant: set it in [{path}]"
                )
        _no_unknown(value, {f.name for f in fields(TypeSettings)}, where)
        types[name] = _settings(value, defaults, where, allow_nested=False)
    thresholds: dict[str, Threshold] = {}
    for name, value, where in _named(
        doc, path, "thresholds", _MAX_NAMES, ("properties", "entries", "property")
    ):
        thresholds[name] = _threshold(value, where)
    shifts = _shifts(doc["shifts"], f"{path}.shifts") if "shifts" in doc else ()
    zone = "local"
    if "shift_timezone" in doc:
        if not shifts:
            raise PredictionConfigError(f"{path}.shift_timezone", "set shifts too")
        zone = _zone(doc["shift_timezone"], f"{path}.shift_timezone", zones)
    return PredictionConfig(defaults, types, thresholds, shifts, zone, zones)


def _named(
    doc: Mapping[str, object], path: str, key: str, limit: int, words: tuple[str, str, str]
) -> Iterator[tuple[str, object, str]]:
    """``(name, value, key path)`` of the sub-table ``key`` of named entries, checked: a
    table, at most ``limit`` entries, names of letters, digits and _. ``words`` name its
    entries in messages: (what it is a table of, what is counted, what each name is)."""
    table_of, counted, each = words
    raw = doc.get(key, {})
    if not isinstance(raw, Mapping):
        raise PredictionConfigError(f"{path}.{key}", f"expected a table of {table_of}")
    if len(raw) > limit:
        raise PredictionConfigError(f"{path}.{key}", f"more than {limit} {counted}")
    for name, value in raw.items():
        where = f"{path}.{key}.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise PredictionConfigError(where, f"a {each} name is letters, digits and _")
        yield name, value, where


def _no_unknown(doc: Mapping[str, object], known: set[str], path: str) -> None:
    for key in doc:
        if key not in known:
            allowed = ", ".join(sorted(known))
            raise PredictionConfigError(f"{path}.{key}", f"unknown key (known: {allowed})")


def _settings(
    doc: Mapping[str, object], base: TypeSettings, path: str, *, allow_nested: bool
) -> TypeSettings:
    changes: dict[str, object] = {}
    for key, (lo, hi) in _RANGES.items():
        if key in doc:
            changes[key] = _number(doc[key], f"{path}.{key}", lo, hi)
    if "enabled" in doc:
        if not isinstance(doc["enabled"], bool):
            raise PredictionConfigError(f"{path}.enabled", "expected true or false")
        changes["enabled"] = doc["enabled"]
    if "ignore" in doc:
        names = doc["ignore"]
        if not isinstance(names, list) or len(names) > _MAX_NAMES:
            raise PredictionConfigError(f"{path}.ignore", "expected a list of property names")
        for k, n in enumerate(names):
            if not isinstance(n, str) or not _NAME.match(n):
                raise PredictionConfigError(f"{path}.ignore[{k}]", "expected a property name")
        changes["ignore"] = tuple(names)
    return replace(base, **changes)  # type: ignore[arg-type]  # changes maps field names to values checked above; replace() cannot type a dict


def _number(value: object, path: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PredictionConfigError(path, "expected a number")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise PredictionConfigError(path, f"expected {lo:g} to {hi:g}, got {value!r}")
    return v


def _threshold(value: object, path: str) -> Threshold:
    if isinstance(value, Mapping):
        _no_unknown(value, {"value", "direction"}, path)
        if "value" not in value:
            raise PredictionConfigError(f"{path}.value", "missing")
        direction = value.get("direction", "high")
        if direction not in ("high", "low"):
            raise PredictionConfigError(f"{path}.direction", 'expected "high" or "low"')
        return Threshold(_number(value["value"], f"{path}.value", -1e15, 1e15), direction)
    return Threshold(_number(value, path, -1e15, 1e15))


def _shifts(value: object, path: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not 2 <= len(value) <= _MAX_SHIFTS:
        raise PredictionConfigError(
            path, f'expected a list of 2 to {_MAX_SHIFTS} start times such as "06:00"'
        )
    starts: list[float] = []
    for k, text in enumerate(value):
        where = f"{path}[{k}]"
        m = _CLOCK.match(text) if isinstance(text, str) else None
        if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise PredictionConfigError(where, f'expected a local time "HH:MM", got {text!r}')
        start = int(m.group(1)) * 3600.0 + int(m.group(2)) * 60.0
        if starts and start <= starts[-1]:
            raise PredictionConfigError(
                where, f"{text} is not after {value[k - 1]} (list the starts in the order of a day)"
            )
        starts.append(start)
    return tuple(starts)


def _zone(value: object, path: str, zones: UtcOffset | None) -> str:
    expected = '"local", "UTC", an offset such as "+05:30", or a zone name such as "Europe/Berlin"'
    if not isinstance(value, str):
        raise PredictionConfigError(path, f"expected {expected}")
    if value in ("local", "UTC"):
        return value
    m = _OFFSET.match(value)
    if m:
        if int(m.group(2)) * 60 + int(m.group(3)) > 14 * 60 or int(m.group(3)) > 59:
            raise PredictionConfigError(
                path, f"expected an offset from -14:00 to +14:00, got {value!r}"
            )
        return value
    if _ZONE.match(value) is None or ".." in value:
        raise PredictionConfigError(path, f"expected {expected}, got {value!r}")
    if zones is not None:
        try:
            zones(value, 0.0)
        except KeyError:
            raise PredictionConfigError(path, f"unknown time zone {value!r}") from None
    return value
