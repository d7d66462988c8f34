"""Streaming anomaly detection and time-to-threshold over every numeric twin property.

:class:`Predictor` samples the latest values of a :class:`~xrclient.core.twin_store.TwinStore`
once per ``interval`` (1 s; the cadence of the store's history) rather than consuming
update batches: the cost is fixed per second whatever the update rate, and a store fed by
a replay or a timeline works the same. Each value is smoothed over ``feature_s`` (30 s)
within the machine's current regime (its ``state`` and ``program``: a machine idles at
other levels than it runs, and each program loads it differently), which averages out work
cycles. For every machine, numeric property and regime it keeps a robust baseline: an
exponentially weighted mean and variance whose updates are clipped to three deviations
(outliers barely move it) and frozen while the machine is flagged (a developing fault is
not learnt as normal). Everything is numpy over ``(machines, properties)``; no Python loop
runs over machines.

Per machine and sample:

* ``score``: the largest smoothed robust z-score over its properties (NaN while no baseline
  is warm or no value is known);
* ``worst``: the property index (into ``store.properties``) behind that score;
* ``flagged``: the score stayed over the machine type's threshold for ``persist_s``;
* ``time_to_threshold``: seconds until the trend of a property with an alarm level (the
  scene's gauges and simple ``prop > value`` alarms, and ``[prediction.thresholds]``)
  reaches it: a least-squares line through 30 points over ``window_s`` taken in the
  machine's current regime, refitted at each new point and counted down between; 0 when
  beyond the level already, NaN without a level, a trend toward it, or when further off
  than ``horizon_s``.

Cold start: a baseline scores after ``warmup_s`` seconds of samples in that regime. Missing
data: NaN values and machines silent for ``stale_s`` neither score nor learn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core.anomaly_config import PredictionConfig, Threshold
from xrclient.core.twin_store import TwinStore
from xrclient.scene.model import Scene

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
_SIMPLE_ALARM = re.compile(
    r"^\s*([A-Za-z_]\w*)\s*(>=|>|<=|<)\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$"
)
_MAX_STATES = 8
_PROGRAMS = 4  # program codes share baselines modulo this
#: a property whose value (a program or recipe) changes what is normal for the others
PROGRAM = "program"
_POINTS = 30  # trend points per window
_MIN_POINTS = 6
_CLIP = 3.0
_SMOOTH_S = 10.0
_REL_FLOOR = 0.02  # deviations below 2 % of the level never count as abnormal
_ABS_FLOOR = 0.05


@dataclass(frozen=True, slots=True)
class PredictionState:
    """Per machine (scene order): see the module docstring."""

    time: float  # when these were computed (the store's clock)
    score: F64
    worst: npt.NDArray[np.intp]  # -1: none
    time_to_threshold: F64
    flagged: Bools
    flagged_since: F64  # NaN when not flagged
    properties: tuple[str, ...]  # names of the store's properties, for ``worst``

    def worst_name(self, machine: int) -> str | None:
        k = int(self.worst[machine])
        return self.properties[k] if k >= 0 else None


class Predictor:
    """Anomaly scores, flags and time-to-threshold for the machines of one scene."""

    def __init__(
        self,
        machine_types: Sequence[str],
        config: PredictionConfig | None = None,
        thresholds: dict[str, tuple[F64, F64]] | None = None,
        *,
        interval: float = 1.0,
        stale_s: float = 30.0,
        feature_s: float = 30.0,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be > 0")
        self.config = config or PredictionConfig()
        self.interval = interval
        self.stale_s = stale_s
        self.feature_s = feature_s
        self.machine_types = tuple(machine_types)
        n = self.n_machines = len(self.machine_types)
        settings = [self.config.for_type(t) for t in self.machine_types]
        self._enabled = np.array([s.enabled for s in settings], bool)
        self._threshold = np.array([s.score_threshold for s in settings])
        self._persist = np.array([s.persist_s for s in settings])
        self._half_life = np.array([s.half_life_s for s in settings])
        self._warmup = np.array([s.warmup_s for s in settings])
        self._horizon = np.array([s.horizon_s for s in settings])
        self._ignore = [frozenset(s.ignore) for s in settings]
        self.window_s = max(s.window_s for s in settings) if settings else 300.0
        # alarm levels: name -> (per machine level, per machine sign (+1 high is bad))
        self._levels = dict(thresholds or {})
        for name, th in self.config.thresholds.items():
            self._levels[name] = _constant(th, n)
        self._schema: object = None
        self._state: PredictionState | None = None

    @classmethod
    def from_scene(cls, scene: Scene, config: PredictionConfig | None = None) -> Predictor:
        """A predictor with the alarm levels of the scene's gauges and simple alarms."""
        return cls([m.type for m in scene.machines], config, scene_thresholds(scene))

    def reset(self) -> None:
        """Forget every baseline (e.g. when a timeline jumps to another moment)."""
        self._schema = None
        self._state = None

    # -- per frame ---------------------------------------------------------------------------

    def update(self, store: TwinStore, now: float) -> PredictionState:
        """Sample the store if a sample is due at ``now``; return the latest state (cheap
        when none is due). Time going back resets the baselines."""
        if store.n_machines != self.n_machines:
            raise ValueError(f"the store has {store.n_machines} machines, not {self.n_machines}")
        if store.schema is None:
            return self._empty(now, ())
        if store.schema is not self._schema and store.schema != self._schema:
            self._setup(store)
        state = self._state
        if state is not None and state.time <= now < self._last + self.interval:
            return state
        if state is not None and now < state.time:
            self._setup(store)
        self._sample(store, now)
        assert self._state is not None
        return self._state

    # -- internals ---------------------------------------------------------------------------

    def _empty(self, now: float, names: tuple[str, ...]) -> PredictionState:
        n = self.n_machines
        return PredictionState(
            now,
            np.full(n, np.nan),
            np.full(n, -1, np.intp),
            np.full(n, np.nan),
            np.zeros(n, bool),
            np.full(n, np.nan),
            names,
        )

    def _setup(self, store: TwinStore) -> None:
        self._schema = store.schema
        props = store.properties
        self._names = tuple(p.name for p in props)
        self._cols = np.array([i for i, p in enumerate(props) if p.kind == "number"], np.intp)
        names = [props[i].name for i in self._cols]
        n, k = self.n_machines, len(self._cols)
        use = np.ones((n, k), bool)
        for j, name in enumerate(names):
            use[:, j] = [name not in ign for ign in self._ignore]
        use &= self._enabled[:, None]
        self._use = use
        state = store.prop("state")
        self._state_col = store.prop_index("state") if state and state.kind == "enum" else None
        self._n_states = (
            min(len(state.values), _MAX_STATES) if self._state_col is not None and state else 1
        )
        self._program_col = store.prop_index(PROGRAM) if store.prop(PROGRAM) else None
        regimes = self._n_states * (_PROGRAMS if self._program_col is not None else 1)
        # per (machine, regime) row: mean, variance and seconds of samples per property
        self._base = np.zeros((n * regimes, 3, k), np.float32)
        self._row0 = np.arange(n, dtype=np.intp) * regimes
        # EWMA weight per second of sample (small-step approximation of the half-life)
        self._alpha_per_s = (math.log(2.0) / self._half_life)[:, None].astype(np.float32)
        self._warm_s = self._warmup[:, None].astype(np.float32)
        self._z = np.zeros((n, k), np.float32)
        self._f = np.full((n, k), np.nan, np.float32)
        self._regime = np.full(n, -1, np.intp)
        self._in_regime = np.zeros(n)
        self._over_since = np.full(n, np.nan)
        self._flagged = np.zeros(n, bool)
        self._last = -math.inf
        # trend: properties with an alarm level
        tcols = [j for j, name in enumerate(names) if name in self._levels]
        self._tcols = np.array(tcols, np.intp)
        self._limit = (
            np.stack([self._levels[names[j]][0] for j in tcols], 1) if tcols else np.zeros((n, 0))
        )
        self._sign = (
            np.stack([self._levels[names[j]][1] for j in tcols], 1) if tcols else np.zeros((n, 0))
        )
        self._ring = np.full((_POINTS, n, len(tcols)), np.nan)
        self._ring_regime = np.full((_POINTS, n), -1, np.intp)
        self._ring_time = np.full(_POINTS, np.nan)
        self._ring_pos = 0
        self._next_point = -math.inf
        self._fit_tts = np.full(n, np.nan)
        self._fit_time = -math.inf
        self._fit_regime = np.full(n, -1, np.intp)
        self._state = None

    def _sample(self, store: TwinStore, now: float) -> None:
        n = self.n_machines
        dt = (
            self.interval
            if not math.isfinite(self._last)
            else min(now - self._last, 10 * self.interval)
        )
        self._last = now
        x = store.value[:, self._cols].astype(np.float32)
        fresh = ~store.stale(now, self.stale_s)
        valid = ~np.isnan(x) & self._use & fresh[:, None]
        regime = np.zeros(n, np.intp)
        if self._state_col is not None:
            code = store.value[:, self._state_col]
            code = np.where(np.isnan(code), 0, np.clip(code, 0, self._n_states - 1))
            regime += code.astype(np.intp)
        if self._program_col is not None:
            code = store.value[:, self._program_col]
            prog = np.where(np.isnan(code), 0, np.mod(code, _PROGRAMS)).astype(np.intp)
            regime = regime * _PROGRAMS + prog
        # the feature: a short EWMA of the value within the current state (averages out
        # work cycles), restarted when the machine changes state
        changed = regime != self._regime
        self._regime = regime
        self._in_regime = np.where(changed, 0.0, self._in_regime + dt)
        a_f = -math.expm1(-dt / self.feature_s)
        restart = changed[:, None] | np.isnan(self._f)
        self._f = np.where(restart, x, self._f + a_f * (x - self._f))
        x = self._f
        valid &= (self._in_regime >= self.feature_s)[:, None] & ~np.isnan(x)
        # one gather of each machine's baseline row for its current regime
        row = self._row0 + regime
        base = self._base[row]  # (n, 3, k): mean, var, seconds seen
        mean, var, seen = base[:, 0], base[:, 1], base[:, 2]
        with np.errstate(invalid="ignore"):
            sd = np.sqrt(var + (_REL_FLOOR * np.abs(mean) + _ABS_FLOOR) ** 2)
            warm = (seen >= self._warm_s) & valid
            z = np.abs(x - mean)
            z /= sd
            z[~warm] = 0.0
            a_s = -math.expm1(-dt / _SMOOTH_S)
            self._z += a_s * (z - self._z)
            self._z[~warm] = 0.0
            # baselines: clipped updates, frozen while the machine is flagged
            learn = valid & ~self._flagged[:, None]
            first = seen <= 0
            alpha = np.maximum(self._alpha_per_s * dt, dt / (seen + dt))
            alpha[first] = 1.0
            alpha[~learn] = 0.0
            delta = np.clip(x, mean - _CLIP * sd, mean + _CLIP * sd)
            delta[first] = x[first]
            delta -= mean
            delta[~learn] = 0.0
            base[:, 0] = mean + alpha * delta
            base[:, 1] = (1.0 - alpha) * (var + alpha * delta * delta)
            base[:, 2] = seen + np.where(learn, dt, 0.0)
        self._base[row] = base

        zs = np.where(warm, self._z, -np.inf)
        worst_col = np.argmax(zs, axis=1) if zs.shape[1] else np.zeros(n, np.intp)
        best = zs[np.arange(n), worst_col] if zs.shape[1] else np.full(n, -np.inf)
        score = np.where(np.isfinite(best), best, np.nan).astype(np.float64)
        worst = np.where(np.isfinite(best), self._cols[worst_col] if len(self._cols) else -1, -1)
        over = score > np.where(self._flagged, 0.6 * self._threshold, self._threshold)
        started = self._over_since = np.where(over, np.fmin(self._over_since, now), np.nan)
        flagged = over & (now - started >= self._persist)
        flagged |= over & self._flagged  # hysteresis: stays flagged until well below
        prev = self._state
        since = np.where(flagged, prev.flagged_since if prev is not None else np.nan, np.nan)
        since = np.where(flagged & np.isnan(since), now, since)
        self._flagged = flagged
        tts = self._trend(x, regime, now)
        self._state = PredictionState(
            now, score, worst.astype(np.intp), tts, flagged.copy(), since, self._names
        )

    def _trend(self, f: npt.NDArray[np.floating], regime: npt.NDArray[np.intp], now: float) -> F64:
        """Least-squares slope of the smoothed feature over the window (points taken in the
        machine's current state only), extrapolated to the alarm level."""
        n = self.n_machines
        if not len(self._tcols):
            return np.full(n, np.nan)
        if now < self._next_point and not (regime != self._fit_regime).any():
            # between trend points the estimate only counts down (refit on a new point)
            return np.maximum(self._fit_tts - (now - self._fit_time), 0.0)
        if now >= self._next_point:
            k = self._ring_pos % _POINTS
            self._ring[k] = f[:, self._tcols]
            self._ring_regime[k] = regime
            self._ring_time[k] = now
            self._ring_pos += 1
            self._next_point = now + self.window_s / _POINTS
        same = (self._ring_regime == regime[None, :])[:, :, None] & ~np.isnan(self._ring)
        w = same.astype(np.float64)
        count = w.sum(axis=0)
        t = np.nan_to_num(self._ring_time - now)[:, None, None]
        y = np.where(same, self._ring, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_mean = (w * t).sum(axis=0) / count
            y_mean = y.sum(axis=0) / count
            dt = (t - t_mean) * w
            slope = (dt * (y - y_mean)).sum(axis=0) / (dt * dt).sum(axis=0)
            level = y_mean - slope * t_mean  # the fitted value now
            toward = slope * self._sign > 0
            gap = (self._limit - level) * self._sign  # > 0: not reached yet
            tts = np.where(gap <= 0, 0.0, np.where(toward, gap / np.abs(slope), np.inf))
        tts[np.isnan(tts) | (count < _MIN_POINTS)] = np.inf
        best = tts.min(axis=1)
        best[best > self._horizon] = np.inf
        out = np.where(np.isfinite(best), best, np.nan)
        self._fit_tts, self._fit_time, self._fit_regime = out, now, regime
        return out


def _constant(th: Threshold, n: int) -> tuple[F64, F64]:
    return np.full(n, th.value), np.full(n, 1.0 if th.direction == "high" else -1.0)


def scene_thresholds(scene: Scene) -> dict[str, tuple[F64, F64]]:
    """Per property, per machine alarm level and sign (+1: high is bad; NaN: none), from
    the scene's gauges (their alarm, else warn) and alarms of the form ``prop > value``
    (or ``<``, ``>=``, ``<=``); where several apply, the one reached first counts."""
    machines = scene.machines
    n = len(machines)
    out: dict[str, tuple[F64, F64]] = {}

    def add(name: str, mask: Bools, level: float, sign: float) -> None:
        limit, signs = out.setdefault(name, (np.full(n, np.nan), np.full(n, np.nan)))
        take = mask & (np.isnan(limit) | ((signs == sign) & (level * sign < limit * sign)))
        limit[take] = level
        signs[take] = sign

    for b in scene.bindings:
        mask = b.select.mask(machines)
        if b.gauge is not None:
            g = b.gauge
            level = g.alarm if g.alarm is not None else g.warn
            if level is not None and g.value.text.strip() == g.property:
                add(g.property, mask, float(level), 1.0 if g.direction == "high" else -1.0)
        if b.alarm is not None:
            m = _SIMPLE_ALARM.match(b.alarm.when.text)
            if m:
                add(m.group(1), mask, float(m.group(3)), 1.0 if m.group(2)[0] == ">" else -1.0)
    return out
