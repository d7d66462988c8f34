"""Streaming anomaly detection and time-to-threshold over every numeric twin property.

:class:`Predictor` samples the latest values of a :class:`~xrclient.core.twin_store.TwinStore`
once per ``interval`` (1 s; the cadence of the store's history) rather than consuming
update batches: the cost is fixed per second whatever the update rate, and a store fed by
a replay or a timeline works the same.

Features. Each value is smoothed over ``feature_s`` (30 s) within the machine's current
regime (its ``state`` and ``program``: a machine idles at other levels than it runs, and
each program loads it differently), which averages out work cycles; the average starts
after the first ``_SETTLE_S`` seconds of a regime (a machine spins up or down in seconds).
A slower average (``_SLOW`` times ``feature_s``) gives each value's *recent change* (the
feature less the slow average; for a ramp, its slope times 90 s). Properties with an alarm
level (the scene's gauges and simple alarms, ``[prediction.thresholds]``) are *watched*:
their recent change is scored as a property of its own.

Baselines. For every machine, row (property or change) and regime a robust baseline: an
exponentially weighted mean and variance (half-life ``half_life_s``) whose updates are
clipped to three deviations, learnt every quarter of ``feature_s`` (consecutive samples are
alike). A row whose smoothed z-score stays over 1.5 (a CUSUM of the z-scores less 1.5,
each capped to 3, over ``_HOT_S`` = 90 deviation-seconds) is a persistent deviation and is
not learnt (else a slow fault is learnt as normal while it develops, its variance growing
with it); nor is anything while the machine is flagged.

Scores. The robust z-score of each row against its baseline, smoothed over 10 s, with three
rules that tell a transient from a fault:

* a deviation that closes (the value moves back toward normal: a machine warming up after
  an idle, a work cycle's dip recovering) scores 0;
* a watched row counts only on its alarm's side (a machine that runs cool is not heading for
  "temperature_c > 65"), where the machine has that level (else on both sides);
* a watched change counts unless the value is more than ``_SAFE_Z`` deviations on the safe
  side (warming up from cold is normal; heating up in a changeover is not).

Fallbacks. A regime whose baseline is still warming up (a program not run before) scores
its watched rows against the state's baseline over all programs meanwhile (vibration and
heat do not depend on the program as a speed does). Shifts (``[prediction] shifts``): each
shift keeps baselines of its own besides the overall ones, and scores against them once
they are warm; a shift whose baseline is still warming up scores against the overall
baseline meanwhile. A more specific baseline still warming up learns even while the
machine is flagged (so that a plant whose level differs by shift settles on the first day).
A new shift restarts the features, like a change of state.

Cost: everything is numpy over ``(rows, machines)`` in float32, in place in buffers
allocated once; no Python loop runs over machines. Only the baselines of the current regime
(and shift) are worked on; those of other regimes are parked and swapped in for the
machines that change. The trend keeps running least-squares sums. With ``slices`` > 1 the
baselines learn in rotating slices of machines (each learns every ``slices`` steps, over
that time): cheaper per sample, at a slightly noisier baseline.

Per machine and sample:

* ``score``: the largest smoothed robust z-score over its rows (NaN while no baseline is
  warm or no value is known);
* ``worst``: the property index (into ``store.properties``) behind that score;
* ``flagged``: the score stayed over the machine type's threshold for ``persist_s``; it
  stays flagged until the score falls below 0.6 times the threshold;
* ``time_to_threshold``: seconds until the trend of a watched property reaches its level:
  a least-squares line through 30 points over ``window_s`` taken in the machine's current
  regime (and shift), refitted at each new point and counted down between; 0 when beyond
  the level already, NaN without a level, a trend toward it, or when further off than
  ``horizon_s``.

Cold start: a baseline scores after ``warmup_s`` seconds of samples in that regime. Missing
data: NaN values (and magnitudes over 1e15) and machines silent for ``stale_s`` (checked
every few seconds) neither score nor learn.

The scene's alarm levels come in as plain arrays (``thresholds``); reading them from a
scene is :func:`xrclient.scene.prediction_levels.scene_thresholds`.
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
_CLIP = 3.0  # baseline updates are clipped to this many deviations
_HOT_REF = 1.5  # persistent deviations: a CUSUM of the smoothed z-score less this ...
_HOT_CAP = 3.0  # ... each z capped to this ...
_HOT_S = 90.0  # ... over this (deviation-seconds): its baselines stop learning the row
_SETTLE_S = 10.0  # the features follow the value for this long into a regime
_LEARN_PER_FEATURE = 4  # baseline steps per feature_s (consecutive samples are alike)
_SLOW = 4.0  # the slower average's time constant, in feature_s
_SAFE_Z = 1.0  # a watched change counts unless the value is this far on the safe side
_SMOOTH_S = 10.0
_REL_FLOOR = 0.02  # deviations below 2 % of the level never count as abnormal
_ABS_FLOOR = 0.05
_MAX_VALUE = 1e15  # larger magnitudes count as no value (float32 sums stay finite)
_UNSEEN = 1e30  # the variance of a baseline with no sample yet


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
        slices: int = 1,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be > 0")
        if not 1 <= slices <= 64:
            raise ValueError("slices must be 1 to 64")
        self.config = config or PredictionConfig()
        self.interval = interval
        self.stale_s = stale_s
        self.feature_s = feature_s
        self.slices = slices
        self._every = max(1, round(feature_s / (_LEARN_PER_FEATURE * interval)))
        self.machine_types = tuple(machine_types)
        n = self.n_machines = len(self.machine_types)
        settings = [self.config.for_type(t) for t in self.machine_types]
        self._enabled = np.array([s.enabled for s in settings], bool)
        self._threshold = np.array([s.score_threshold for s in settings])
        self._persist = np.array([s.persist_s for s in settings])
        # EWMA weight of the baselines per second (of the half-life)
        self._rate = math.log(2.0) / np.array([s.half_life_s for s in settings])
        self._warmup = np.array([s.warmup_s for s in settings], np.float32)
        self._horizon = np.array([s.horizon_s for s in settings])
        self._ignore = [frozenset(s.ignore) for s in settings]
        self.window_s = max(s.window_s for s in settings) if settings else 300.0
        self._n_shifts = len(self.config.shifts)
        # alarm levels: name -> (per machine level, per machine sign (+1 high is bad))
        self._levels = dict(thresholds or {})
        for name, th in self.config.thresholds.items():
            self._levels[name] = _constant(th, n)
        # machines [edges[s], edges[s + 1]) learn at every ``slices``-th sample
        self._edges = [s * n // slices for s in range(slices + 1)]
        self._schema: object = None
        self._state: PredictionState | None = None

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
        # no value (NaN, inf or huge) never scores nor learns: its arithmetic may warn
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
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
        # Arrays over (row, machine): reductions over a machine's rows run along the first
        # axis, vectorised over machines. Rows: the numeric properties without an alarm
        # level, those with one, then the recent change of each of the latter; what only
        # concerns watched properties works on the rows from ``_ka`` on.
        self._schema = store.schema
        props = store.properties
        self._names = tuple(p.name for p in props)
        numeric = [i for i, p in enumerate(props) if p.kind == "number"]
        plain = [i for i in numeric if props[i].name not in self._levels]
        watched = [i for i in numeric if props[i].name in self._levels]
        src = np.array(plain + watched, np.intp)  # store columns of the source rows
        self._src = src
        self._rows = np.concatenate([src, np.array(watched, np.intp)])  # row -> column
        contiguous = len(src) > 0 and bool((np.diff(src) == 1).all())
        self._col_range = slice(int(src[0]), int(src[-1]) + 1) if contiguous else None
        n, ks = self.n_machines, len(src)
        self._ks, self._ka = ks, len(plain)
        k = len(self._rows)
        names = [props[i].name for i in self._rows]
        use = np.ones((k, n), bool)
        for j, name in enumerate(names):
            use[j] = [name not in ign for ign in self._ignore]
            if j >= ks:  # a change is scored only where its level applies
                use[j] &= ~np.isnan(self._levels[name][1])
        use &= self._enabled
        self._unused = ~use
        state = store.prop("state")
        self._state_col = store.prop_index("state") if state and state.kind == "enum" else None
        self._n_states = (
            min(len(state.values), _MAX_STATES) if self._state_col is not None and state else 1
        )
        self._program_col = store.prop_index(PROGRAM) if store.prop(PROGRAM) else None
        self._regimes = self._n_states * (_PROGRAMS if self._program_col is not None else 1)
        # Baselines (mean, variance, seconds learnt) in levels: per regime; per regime and
        # shift (with shifts); per state over all programs, of the watched rows (with
        # programs). ``_work[level]`` holds those of the machines' current contexts, the
        # others are parked in ``_park[level]``, column ``context * n + machine``
        # (contexts never entered are never written: calloc'd pages that cost no memory).
        self._pooled = self._program_col is not None and k > self._ka
        shapes = [(k, self._regimes), (k, self._regimes * self._n_shifts)]
        if not self._n_shifts:
            shapes.pop()
        if self._pooled:
            shapes.append((k - self._ka, self._n_states))
        self._park = [np.zeros((3, r, c * n), np.float32) for r, c in shapes]
        self._work = [np.zeros((3, r, n), np.float32) for r, _ in shapes]
        self._sd = [np.empty((r, n), np.float32) for r, _ in shapes]
        self._cold = [np.empty((r, n), bool) for r, _ in shapes]  # not warmed up yet
        self._ctx = np.full((len(shapes), n), -1, np.intp)
        # warm-up per level; the pooled level only where the machine has the alarm level
        self._warmups = [np.broadcast_to(self._warmup, (r, n)) for r, _ in shapes]
        if self._pooled:
            self._warmups[-1] = np.where(self._unused[self._ka :], np.inf, self._warmup)
        if self._n_shifts:  # what scores: the shift's baseline once warm, else the regime's
            self._mean_s = np.zeros((k, n), np.float32)
            self._sd_s = np.ones((k, n), np.float32)
            self._cold_s = np.ones((k, n), bool)
        else:
            self._mean_s, self._sd_s, self._cold_s = self._work[0][0], self._sd[0], self._cold[0]
        self._regime = np.full(n, -1, np.intp)
        self._shift = -1
        self._in_regime = np.zeros(n)
        self._x = np.empty((k, n), np.float32)
        self._f = np.full((k, n), np.nan, np.float32)  # the feature
        self._slow = np.full((ks, n), np.nan, np.float32)  # a slower average of the value
        self._none = np.ones((k, n), bool)  # no usable value at the last sample
        self._z = np.zeros((k, n), np.float32)  # smoothed z-score
        self._hot = np.zeros((k, n), np.float32)  # CUSUM of the z-scores (see _learn)
        self._frozen = np.zeros((k, n), bool)  # hot for long: the baselines do not learn
        self._buf = np.empty((k, n), np.float32)
        self._buf2 = np.empty((k, n), np.float32)
        self._bools = np.empty((k, n), bool)
        self._invalid = np.empty((k, n), bool)
        self._scored = np.empty((k, n), bool)
        # one-sided where an alarm level says which side is bad: the sign (+1 high is bad)
        # of the watched rows, 0 where the machine has no level
        sign = np.zeros((k - self._ka, n), np.float32)
        for j, name in enumerate(names[self._ka :]):
            sign[j] = np.nan_to_num(self._levels[name][1])
        self._side = sign
        self._up = (sign >= 0).astype(np.float32)
        self._neg_down = -(sign <= 0).astype(np.float32)
        kb = k - self._ka
        if self._pooled:  # what scores on the watched rows (see _compose)
            self._mean_b = np.zeros((kb, n), np.float32)
            self._sd_b = np.ones((kb, n), np.float32)
            self._cold_b = np.ones((kb, n), bool)
        else:
            ka = self._ka
            self._mean_b, self._sd_b, self._cold_b = (
                self._mean_s[ka:],
                self._sd_s[ka:],
                self._cold_s[ka:],
            )
        # the best score's column rides in the low bits of its float (see _sample)
        self._mask = np.int32((1 << max(1, (k - 1).bit_length())) - 1)
        self._tag = (self._mask - np.arange(k, dtype=np.int32))[:, None]
        self._fresh = np.zeros(n, bool)
        self._fresh_due = -math.inf
        self._slice = 0
        self._slice_last = np.full(self.slices, -math.inf)
        self._tick = -1
        self._slow_last = -math.inf
        self._hot_last = -math.inf
        self._over_since = np.full(n, np.nan)
        self._flagged = np.zeros(n, bool)
        self._last = -math.inf
        # trend: properties with an alarm level (the watched source rows)
        tnames = names[self._ka : ks]
        self._tcols = np.arange(self._ka, ks, dtype=np.intp)
        t = len(tnames)
        self._limit = np.stack([self._levels[m][0] for m in tnames]) if t else np.zeros((0, n))
        self._sign = np.stack([self._levels[m][1] for m in tnames]) if t else np.zeros((0, n))
        # ring of trend points: value (0 where none), weight (1: a value), context, time
        self._ring = np.zeros((_POINTS, t, n), np.float32)
        self._ring_w = np.zeros((_POINTS, t, n), np.float32)
        self._ring_ctx = np.full((_POINTS, n), -1, np.intp)
        self._ring_time = np.full(_POINTS, np.nan)
        self._ring_pos = 0
        self._next_point = -math.inf
        self._sums = np.zeros((5, t, n))  # see _trend
        self._t0 = 0.0
        self._fit_tts = np.full(n, np.nan)
        self._fit_time = np.zeros(n)
        self._fit_ctx = np.full(n, -1, np.intp)  # the context of the sums
        self._state = None

    def _sample(self, store: TwinStore, now: float) -> None:
        n, ks, ka = self.n_machines, self._ks, self._ka
        dt = (
            self.interval
            if not math.isfinite(self._last)
            else min(now - self._last, 10 * self.interval)
        )
        self._last = now
        values = store.value
        x = self._x[:ks]
        r = self._col_range  # beyond float32: inf, i.e. no value
        np.copyto(x, (values[:, r] if r else values[:, self._src]).T, casting="same_kind")
        if now >= self._fresh_due:  # silence is measured in tens of seconds
            self._fresh = ~store.stale(now, self.stale_s)
            self._fresh_due = now + max(self.interval, self.stale_s / 6.0)
        state = np.zeros(n, np.intp)
        if self._state_col is not None:  # fmax: NaN (no state) is 0
            code = np.fmax(values[:, self._state_col], 0.0)
            state += np.fmin(code, self._n_states - 1).astype(np.intp)
        regime = state
        if self._program_col is not None:
            code = np.fmax(values[:, self._program_col], 0.0)
            regime = state * _PROGRAMS + np.fmin(code, 2**31).astype(np.intp) % _PROGRAMS
        shift = self.config.shift_at(now)
        moved = np.flatnonzero(regime != self._regime)
        if shift != self._shift:  # a new shift restarts every machine's feature
            moved = np.arange(n)
        if len(moved):
            self._switch(state, regime, shift)
            self._in_regime[moved] = 0.0
        self._in_regime += dt
        # the features, restarted when the machine changes regime or a value comes back:
        # a short EWMA of the value within the regime (averages out work cycles) and a
        # slower one; both follow the value while the machine settles into its regime
        # (it spins up or down in seconds), so that they start after the transient
        f, none, slow = self._f[:ks], self._none[:ks], self._slow
        if none.any():
            np.copyto(f, x, where=none)
            np.copyto(slow, x, where=none)
        young = np.flatnonzero(self._in_regime < _SETTLE_S)
        if len(young):
            f[:, young] = x[:, young]
            slow[:, young] = x[:, young]
        buf = self._buf[:ks]
        np.subtract(x, f, out=buf)
        buf *= np.float32(-math.expm1(-dt / self.feature_s))
        f += buf
        self._tick += 1
        learning = self._tick % self._every == 0  # the slow parts: see _learn
        if learning:
            gap = dt if not math.isfinite(self._slow_last) else now - self._slow_last
            self._slow_last = now
            np.subtract(x, slow, out=buf)
            buf *= np.float32(-math.expm1(-min(gap, 10 * dt) / (_SLOW * self.feature_s)))
            slow += buf
        np.abs(x, out=buf)
        np.less(buf, np.float32(_MAX_VALUE), out=none)
        np.logical_not(none, out=none)
        # the recent change (the feature less the slower average): its own rows for the
        # watched properties, where it finds a value rising toward its alarm level
        change = self._buf2[:ks]
        np.subtract(f, slow, out=change)
        self._f[ks:] = change[ka:]
        self._none[ks:] = none[ka:]
        f, none, buf = self._f, self._none, self._buf
        # what may score and learn: a value, fresh, settled in its regime, not ignored
        off = ~(self._fresh & (self._in_regime >= self.feature_s))
        invalid, scored = self._invalid, self._scored
        np.logical_or(none, off, out=invalid)
        invalid |= self._unused
        # the scoring baselines: of the plain rows, and of the watched ones
        parts = (
            (slice(0, ka), self._mean_s[:ka], self._sd_s[:ka], self._cold_s[:ka]),
            (slice(ka, None), self._mean_b, self._sd_b, self._cold_b),
        )
        for rows, mean, _, cold in parts:
            np.logical_or(cold, invalid[rows], out=scored[rows])
            np.subtract(f[rows], mean, out=buf[rows])  # the deviation
        np.logical_not(scored, out=scored)
        # a deviation that closes (the value returns toward normal) is a transient
        closing = self._bools[:ks]
        np.multiply(buf[:ks], change, out=change)
        np.greater_equal(change, 0.0, out=closing)
        buf[:ks] *= closing
        # robust z-scores (fmin: no NaN where no value); the watched rows toward the level
        # only, where the machine has one
        za, zb = buf[:ka], buf[ka:]
        np.abs(za, out=za)
        za /= self._sd_s[:ka]
        if len(zb):
            low = self._buf2[ka:]  # max(d * up, -d * down), up and down 1 or 0
            np.multiply(zb, self._neg_down, out=low)
            zb *= self._up
            np.maximum(zb, low, out=zb)
            sd_b = self._sd_b
            zb /= sd_b
            if ks < len(buf):  # a change counts unless the value is well on the safe side
                level = (f[ka:ks] - self._mean_b[: ks - ka]) * self._side[: ks - ka]
                level /= sd_b[: ks - ka]
                buf[ks:] *= level > -_SAFE_Z
        np.fmin(buf, np.float32(_UNSEEN), out=buf)
        # smoothed
        buf -= self._z
        buf *= np.float32(-math.expm1(-dt / _SMOOTH_S))
        self._z += buf
        self._z *= scored
        self._learn(now)

        if len(buf):
            # the most abnormal property in one reduction: scores + 1 (0 where none) as
            # int32 bits (ordered like the floats), the low bits replaced by the column
            np.add(self._z, scored, out=buf)
            bits = buf.view(np.int32)
            bits &= ~self._mask
            bits |= self._tag
            top = np.maximum.reduce(bits, axis=0)
            worst_col = self._mask - (top & self._mask)
            best = (top & ~self._mask).view(np.float32).astype(np.float64) - 1.0
            has = best >= 0.0
            score = np.where(has, best, np.nan)
            worst = np.where(has, self._rows[worst_col], -1)
        else:
            score, worst = np.full(n, np.nan), np.full(n, -1, np.intp)
        over = score > np.where(self._flagged, 0.6 * self._threshold, self._threshold)
        started = self._over_since = np.where(over, np.fmin(self._over_since, now), np.nan)
        flagged = over & (now - started >= self._persist)
        flagged |= over & self._flagged  # hysteresis: stays flagged until well below
        prev = self._state
        since = np.where(flagged, prev.flagged_since if prev is not None else np.nan, np.nan)
        since[flagged & np.isnan(since)] = now
        self._flagged = flagged
        tts = self._trend(regime + self._regimes * shift, now)
        self._state = PredictionState(now, score, worst, tts, flagged.copy(), since, self._names)

    def _switch(
        self, state: npt.NDArray[np.intp], regime: npt.NDArray[np.intp], shift: int
    ) -> None:
        """Park the baselines of the machines whose context changed at some level (a new
        state, program or shift) and take out those of their new contexts."""
        self._regime, self._shift = regime, shift
        contexts = [regime]
        if self._n_shifts:
            contexts.append(shift * self._regimes + regime)
        if self._pooled:
            contexts.append(state)
        changed = np.zeros(self.n_machines, bool)
        for level, ctx in enumerate(contexts):
            moved = np.flatnonzero(ctx != self._ctx[level])
            if len(moved):
                self._move(level, moved, self._ctx[level][moved], ctx[moved])
                self._ctx[level][moved] = ctx[moved]
                changed[moved] = True
        self._compose(np.flatnonzero(changed))

    def _move(
        self,
        level: int,
        machines: npt.NDArray[np.intp],
        old: npt.NDArray[np.intp],
        new: npt.NDArray[np.intp],
    ) -> None:
        n, work, park = self.n_machines, self._work[level], self._park[level]
        keep = old >= 0
        park[:, :, old[keep] * n + machines[keep]] = work[:, :, machines[keep]]
        loaded = park[:, :, new * n + machines]
        unseen = loaded[2] <= 0
        loaded[1][unseen] = _UNSEEN
        work[:, :, machines] = loaded
        sd = np.empty(loaded.shape[1:], np.float32)
        cold = np.empty(loaded.shape[1:], bool)
        _derive(loaded, sd, cold, self._warmups[level][:, machines])
        self._sd[level][:, machines] = sd
        self._cold[level][:, machines] = cold

    def _compose(self, cols: npt.NDArray[np.intp] | slice) -> None:
        """The scoring baselines of machines ``cols``: the shift's where warm, else the
        regime's; for the watched rows, where neither is warm, the state's over all
        programs (a program not seen before is still scored on what it cannot change)."""
        if self._n_shifts:
            warm = ~self._cold[1][:, cols]
            self._mean_s[:, cols] = np.where(
                warm, self._work[1][0][:, cols], self._work[0][0][:, cols]
            )
            self._sd_s[:, cols] = np.where(warm, self._sd[1][:, cols], self._sd[0][:, cols])
            self._cold_s[:, cols] = self._cold[0][:, cols] & ~warm
        if self._pooled:
            ka = self._ka
            cold = self._cold_s[ka:, cols]
            pool = cold & ~self._cold[-1][:, cols]
            self._mean_b[:, cols] = np.where(
                pool, self._work[-1][0][:, cols], self._mean_s[ka:, cols]
            )
            self._sd_b[:, cols] = np.where(pool, self._sd[-1][:, cols], self._sd_s[ka:, cols])
            self._cold_b[:, cols] = cold & self._cold[-1][:, cols]

    def _learn(self, now: float) -> None:
        """Update the baselines of this sample's slice of machines: clipped, frozen where a
        row is persistently off and while the machine is flagged (a more specific baseline
        still warming up learns even then). Every ``_every`` samples (a quarter of
        ``feature_s``): the features are averages over tens of seconds, the baselines'
        memory is tens of minutes."""
        if self._tick % self._every:
            return
        # persistent deviations: a CUSUM of each row's smoothed z-score (capped: a work
        # cycle's short dip is not persistent) over a reference of 1.5 deviations; where
        # it is over _HOT_S the baselines stop learning the row (else a slow drift is
        # learnt as normal while it develops, its variance growing with it)
        hot, frozen = self._hot, self._frozen
        gap = 0.0 if not math.isfinite(self._hot_last) else now - self._hot_last
        self._hot_last = now
        rise = self._buf
        np.minimum(self._z, np.float32(_HOT_CAP), out=rise)
        rise -= np.float32(_HOT_REF)
        rise *= np.float32(gap)
        hot += rise
        np.clip(hot, np.float32(0.0), np.float32(2 * _HOT_S), out=hot)
        np.greater(hot, np.float32(_HOT_S), out=frozen)
        s = self._slice
        self._slice = (s + 1) % self.slices
        m = slice(self._edges[s], self._edges[s + 1])
        if m.start == m.stop:
            return
        last, self._slice_last[s] = self._slice_last[s], now
        step = self.slices * self.interval * self._every
        dt = step if not math.isfinite(last) else min(now - last, 10 * step)
        ka = self._ka
        invalid = self._invalid[:, m]
        stop = frozen[:, m] | self._flagged[m]  # a persistent deviation, a flagged machine
        a_hl = -np.expm1(-dt * self._rate[m]).astype(np.float32)
        f, w = self._f[:, m], self._work
        for level in range(len(w)):
            cold = self._cold[level][:, m]
            pooled = level == len(w) - 1 and self._pooled
            rows = slice(ka, None) if pooled else slice(None)
            # a more specific baseline still warming up learns even when stopped
            still = invalid[rows] | stop[rows]
            if level == 1 and self._n_shifts:
                still = invalid | (stop & ~cold)
            elif level == 0 and self._pooled:  # the pooled level is the general one there
                still[ka:] = invalid[ka:] | (stop[ka:] & ~cold[ka:])
            warmup = self._warmups[level][:, m]
            _learn(w[level][:, :, m], self._sd[level][:, m], cold, f[rows], still, dt, a_hl, warmup)
        self._compose(m)

    def _trend(self, ctx: npt.NDArray[np.intp], now: float) -> F64:
        """Least-squares slope of the smoothed feature over the window (points taken in the
        machine's current regime and shift only), extrapolated to the alarm level.

        The fit keeps running sums (count, t, t², y, t·y per property and machine, t from
        ``_t0``) over the ring's points in the machine's context: a new point adds itself
        and takes out the one it replaces; machines that change context, and every machine
        once per turn of the ring (so that rounding never builds up), sum the ring anew."""
        n = self.n_machines
        if not len(self._tcols):
            return np.full(n, np.nan)
        moved = np.flatnonzero(ctx != self._fit_ctx)
        if now >= self._next_point:
            k = self._ring_pos % _POINTS
            if k == 0:  # a turn of the ring: every sum anew, with time from now
                self._put_point(k, ctx, now)
                self._t0 = now
                self._sum_ring(slice(None), ctx)
            else:
                self._add_point(k, -1.0)
                self._put_point(k, ctx, now)
                self._add_point(k, 1.0)
                if len(moved):
                    self._sum_ring(moved, ctx)
            self._ring_pos += 1
            self._next_point = now + self.window_s / _POINTS
            self._solve(slice(None), now)
        elif len(moved):  # between points the estimate counts down; refit who moved
            self._sum_ring(moved, ctx)
            self._solve(moved, now)
        return np.maximum(self._fit_tts - (now - self._fit_time), 0.0)

    def _put_point(self, k: int, ctx: npt.NDArray[np.intp], now: float) -> None:
        y = self._f[self._tcols]
        none = self._none[self._tcols]
        y[none] = 0.0
        self._ring[k] = y
        np.logical_not(none, out=none)
        self._ring_w[k] = none
        self._ring_ctx[k] = ctx
        self._ring_time[k] = now

    def _add_point(self, k: int, sign: float) -> None:
        """Add (``sign`` 1) or take out (-1) ring point ``k`` where in the sums' context."""
        t = self._ring_time[k] - self._t0
        if not math.isfinite(t):
            return
        w = np.multiply(self._ring_w[k], self._ring_ctx[k] == self._fit_ctx, dtype=np.float64)
        if sign < 0:
            np.negative(w, out=w)
        wy = w * self._ring[k]
        sums = self._sums
        sums[0] += w
        w *= t
        sums[1] += w
        w *= t
        sums[2] += w
        sums[3] += wy
        wy *= t
        sums[4] += wy

    def _sum_ring(self, cols: npt.NDArray[np.intp] | slice, ctx: npt.NDArray[np.intp]) -> None:
        """Sum the ring's points in each machine's context ``ctx`` for machines ``cols``."""
        match = self._ring_ctx[:, cols] == ctx[cols]
        w = np.multiply(self._ring_w[:, :, cols], match[:, None, :], dtype=np.float64)
        wy = self._ring[:, :, cols] * w
        t = np.nan_to_num(self._ring_time - self._t0)
        shape = w.shape[1:]
        w2, wy2 = w.reshape(_POINTS, -1), wy.reshape(_POINTS, -1)
        sums = np.stack([w2.sum(axis=0), t @ w2, (t * t) @ w2, wy2.sum(axis=0), t @ wy2])
        self._sums[:, :, cols] = sums.reshape((5, *shape))
        self._fit_ctx[cols] = ctx[cols]

    def _solve(self, cols: npt.NDArray[np.intp] | slice, now: float) -> None:
        """Time to threshold of machines ``cols`` from their sums."""
        count, st, stt, sy, sty = self._sums[:, :, cols]
        sign, limit = self._sign[:, cols], self._limit[:, cols]
        t_mean = st / count
        slope = (sty - t_mean * sy) / (stt - t_mean * st)
        level = sy / count + slope * (now - self._t0 - t_mean)  # the fitted value now
        gap = (limit - level) * sign  # > 0: not reached yet
        slope *= sign  # > 0: toward the level
        tts = gap / slope
        tts[~(slope > 0)] = np.inf
        tts[gap <= 0] = 0.0
        tts[np.isnan(tts) | (count < _MIN_POINTS - 0.5)] = np.inf
        best = tts.min(axis=0)
        best[best > self._horizon[cols]] = np.inf
        self._fit_tts[cols] = np.where(np.isfinite(best), best, np.nan)
        self._fit_time[cols] = now


def _derive(
    base: npt.NDArray[np.float32],
    sd: npt.NDArray[np.float32],
    cold: Bools,
    warmup: npt.NDArray[np.float32],
) -> None:
    """Deviation (with the floors) and warm-up flags of baselines ``base`` (mean, var, seen)."""
    np.abs(base[0], out=sd)
    sd *= np.float32(_REL_FLOOR)
    sd += np.float32(_ABS_FLOOR)
    sd *= sd
    sd += base[1]
    np.sqrt(sd, out=sd)
    np.less(base[2], warmup, out=cold)


def _learn(
    base: npt.NDArray[np.float32],
    sd: npt.NDArray[np.float32],
    cold: Bools,
    f: npt.NDArray[np.float32],
    frozen: Bools,
    dt: float,
    a_hl: npt.NDArray[np.float32],
    warmup: npt.NDArray[np.float32],
) -> None:
    """One clipped EWMA step of baselines ``base`` (mean, var, seen; views, updated in place)
    toward the features ``f`` over ``dt`` seconds, except where ``frozen``. An unseen
    baseline's variance is ``_UNSEEN``: its first value is taken unclipped, at weight 1."""
    mean, var, seen = base[0], base[1], base[2]
    # the step toward the feature, clipped to three deviations (fmin and fmax take the
    # bound where the feature is NaN: no value; frozen anyway)
    bound = sd * np.float32(_CLIP)
    delta = f - mean
    np.fmin(delta, bound, out=delta)
    np.negative(bound, out=bound)
    np.fmax(delta, bound, out=delta)
    learn = ~frozen
    # the EWMA weight: a running mean while young, then the half-life's; 0 where frozen
    alpha = seen + np.float32(dt)
    np.divide(np.float32(dt), alpha, out=alpha)
    np.maximum(alpha, a_hl, out=alpha)
    alpha *= learn
    step = alpha * delta
    mean += step
    step *= delta
    var += step
    np.subtract(np.float32(1.0), alpha, out=alpha)
    var *= alpha
    np.multiply(learn, np.float32(dt), out=step)
    seen += step
    _derive(base, sd, cold, warmup)


def _constant(th: Threshold, n: int) -> tuple[F64, F64]:
    return np.full(n, th.value), np.full(n, 1.0 if th.direction == "high" else -1.0)


def simple_alarm(text: str) -> tuple[str, float, float] | None:
    """``(property, level, sign)`` of an alarm of the form ``prop > value`` (or ``<``,
    ``>=``, ``<=``; sign +1: high is bad), None for any other expression."""
    m = _SIMPLE_ALARM.match(text)
    if m is None:
        return None
    return m.group(1), float(m.group(3)), 1.0 if m.group(2)[0] == ">" else -1.0


def add_level(
    levels: dict[str, tuple[F64, F64]],
    n: int,
    name: str,
    machines: Bools,
    level: float,
    sign: float,
) -> None:
    """Add an alarm level of property ``name`` for ``machines`` (a mask over ``n``) to
    ``levels`` (per property: per machine level and sign, NaN where none); where several
    apply to a machine, the one reached first counts."""
    limit, signs = levels.setdefault(name, (np.full(n, np.nan), np.full(n, np.nan)))
    take = machines & (np.isnan(limit) | ((signs == sign) & (level * sign < limit * sign)))
    limit[take] = level
    signs[take] = sign
