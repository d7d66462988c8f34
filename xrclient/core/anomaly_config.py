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

Every key is optional. Scene files are untrusted: unknown keys, wrong types and values out
of range are errors naming the key path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal

Direction = Literal["high", "low"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_TYPES = 256
_MAX_NAMES = 256

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

    def for_type(self, machine_type: str) -> TypeSettings:
        return self.types.get(machine_type, self.defaults)


def parse_prediction_table(doc: Mapping[str, object], path: str = "prediction") -> PredictionConfig:
    """Validate a ``[prediction]`` table (already parsed TOML) into a config."""
    if not isinstance(doc, Mapping):
        raise PredictionConfigError(path, "expected a table")
    known = {f.name for f in fields(TypeSettings)} | {"types", "thresholds"}
    _no_unknown(doc, known, path)
    defaults = _settings(doc, TypeSettings(), path, allow_nested=True)
    types: dict[str, TypeSettings] = {}
    raw_types = doc.get("types", {})
    if not isinstance(raw_types, Mapping):
        raise PredictionConfigError(f"{path}.types", "expected a table of machine types")
    if len(raw_types) > _MAX_TYPES:
        raise PredictionConfigError(f"{path}.types", f"more than {_MAX_TYPES} types")
    for name, value in raw_types.items():
        where = f"{path}.types.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise PredictionConfigError(where, "a type name is letters, digits and _")
        if not isinstance(value, Mapping):
            raise PredictionConfigError(where, "expected a table")
        _no_unknown(value, {f.name for f in fields(TypeSettings)}, where)
        types[name] = _settings(value, defaults, where, allow_nested=False)
    thresholds: dict[str, Threshold] = {}
    raw_th = doc.get("thresholds", {})
    if not isinstance(raw_th, Mapping):
        raise PredictionConfigError(f"{path}.thresholds", "expected a table of properties")
    if len(raw_th) > _MAX_NAMES:
        raise PredictionConfigError(f"{path}.thresholds", f"more than {_MAX_NAMES} entries")
    for name, value in raw_th.items():
        where = f"{path}.thresholds.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise PredictionConfigError(where, "a property name is letters, digits and _")
        thresholds[name] = _threshold(value, where)
    return PredictionConfig(defaults, types, thresholds)


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
    return replace(base, **changes)  # type: ignore[arg-type]


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
