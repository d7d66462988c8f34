"""Energy and CO2 per machine, line and plant, aggregated live from the twin stream.

A machine's energy comes from its energy counter (``energy_kwh``: the difference since the
meter first saw it, surviving counter resets) or, where it has none, from integrating its
power (``power_kw``, trapezoids between updates, gaps over ``max_gap_s`` not bridged).
Lines and the plant are sums (``np.bincount``); CO2 is energy times a factor in kg/kWh.
All numpy over machines; ``update`` is cheap enough for every frame.

Configuration, as an ``[energy]`` table of the scene (see ``parse_energy_table``)::

    [energy]
    co2_kg_per_kwh = 0.38
    energy_property = "energy_kwh"
    power_property = "power_kw"
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core.twin_store import TwinStore

F64 = npt.NDArray[np.float64]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class EnergyConfigError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class EnergyConfig:
    co2_kg_per_kwh: float = 0.4
    energy_property: str = "energy_kwh"
    power_property: str = "power_kw"


def parse_energy_table(doc: Mapping[str, object], path: str = "energy") -> EnergyConfig:
    """Validate an ``[energy]`` table (parsed TOML)."""
    if not isinstance(doc, Mapping):
        raise EnergyConfigError(path, "expected a table")
    known = {"co2_kg_per_kwh", "energy_property", "power_property"}
    for key in doc:
        if key not in known:
            raise EnergyConfigError(
                f"{path}.{key}", f"unknown key (known: {', '.join(sorted(known))})"
            )
    factor = doc.get("co2_kg_per_kwh", EnergyConfig.co2_kg_per_kwh)
    if isinstance(factor, bool) or not isinstance(factor, int | float):
        raise EnergyConfigError(f"{path}.co2_kg_per_kwh", "expected a number")
    if not (math.isfinite(factor) and 0.0 <= factor <= 10.0):
        raise EnergyConfigError(f"{path}.co2_kg_per_kwh", "expected 0 to 10 kg/kWh")
    names = {}
    for key in ("energy_property", "power_property"):
        value = doc.get(key, getattr(EnergyConfig, key))
        if not isinstance(value, str) or not _NAME.match(value):
            raise EnergyConfigError(f"{path}.{key}", "expected a property name")
        names[key] = value
    return EnergyConfig(float(factor), names["energy_property"], names["power_property"])


@dataclass(frozen=True, slots=True)
class EnergyState:
    """Totals since the meter started (or was reset) and current rates."""

    time: float
    machine_kwh: F64  # (machines,)
    machine_kw: F64  # (machines,), NaN where unknown
    lines: tuple[str, ...]
    line_kwh: F64  # (lines,)
    line_kw: F64
    plant_kwh: float
    plant_kw: float
    co2_kg_per_kwh: float

    @property
    def line_co2_kg(self) -> F64:
        return self.line_kwh * self.co2_kg_per_kwh

    @property
    def plant_co2_kg(self) -> float:
        return self.plant_kwh * self.co2_kg_per_kwh

    @property
    def plant_co2_kg_per_h(self) -> float:
        return self.plant_kw * self.co2_kg_per_kwh


class EnergyMeter:
    """Aggregates energy for machines whose lines are ``machine_lines`` (scene order)."""

    def __init__(
        self,
        machine_lines: Sequence[str],
        config: EnergyConfig | None = None,
        *,
        max_gap_s: float = 60.0,
    ) -> None:
        self.config = config or EnergyConfig()
        self.max_gap_s = max_gap_s
        self.lines = tuple(dict.fromkeys(machine_lines))
        index = {name: i for i, name in enumerate(self.lines)}
        self._line = np.array([index[x] for x in machine_lines], np.intp)
        n = self.n_machines = len(machine_lines)
        self._counter_last = np.full(n, np.nan)
        self._counter_kwh = np.zeros(n)
        self._power_kwh = np.zeros(n)
        self._power_last = np.full(n, np.nan)
        self._time_last = np.nan

    def reset(self) -> None:
        n = self.n_machines
        self._counter_last = np.full(n, np.nan)
        self._counter_kwh = np.zeros(n)
        self._power_kwh = np.zeros(n)
        self._power_last = np.full(n, np.nan)
        self._time_last = np.nan

    def update(self, store: TwinStore, now: float) -> EnergyState:
        n = self.n_machines
        energy = store.column(self.config.energy_property)
        power = store.column(self.config.power_property)
        if energy is None:
            energy = np.full(n, np.nan)
        if power is None:
            power = np.full(n, np.nan)
        # counters: add increases; a decrease is a reset (count from the new value)
        last = self._counter_last
        step = energy - last
        step = np.where(np.isnan(step), 0.0, np.where(step < 0, energy, step))
        self._counter_kwh += np.where(np.isnan(last), 0.0, step)
        self._counter_last = np.where(np.isnan(energy), last, energy)
        # power: trapezoids, where no counter reports
        dt = now - self._time_last
        if math.isfinite(dt) and 0 < dt <= self.max_gap_s:
            mean_kw = 0.5 * (self._power_last + power)
            add = np.where(np.isnan(mean_kw), 0.0, mean_kw * dt / 3600.0)
            self._power_kwh += add
        if not (math.isfinite(dt) and dt < 0):
            self._time_last = now
            self._power_last = power.copy()
        has_counter = ~np.isnan(self._counter_last)
        kwh = np.where(has_counter, self._counter_kwh, self._power_kwh)
        kw_known = np.where(np.isnan(power), 0.0, power)
        n_lines = len(self.lines)
        line_kwh = np.bincount(self._line, kwh, n_lines).astype(np.float64)
        line_kw = np.bincount(self._line, kw_known, n_lines).astype(np.float64)
        return EnergyState(
            now,
            kwh,
            power.copy(),
            self.lines,
            line_kwh,
            line_kw,
            float(line_kwh.sum()),
            float(line_kw.sum()),
            self.config.co2_kg_per_kwh,
        )
