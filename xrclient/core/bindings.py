"""Scene bindings evaluated over the live twin state: colours, alarms, gauges, labels.

:meth:`Bindings.compile` turns a scene's validated ``[[bindings]]`` into per-rule machine
masks and linear-RGB palettes once. :meth:`Bindings.evaluate` then computes, for every
machine at once (numpy; loops run over rules, never over machines):

* ``stale``: silent for longer than its time-to-live (never-seen machines included), or
  reported ``OFFLINE`` by a stream's reserved ``quality`` property (a plant gateway's);
* the status colour: later rules override earlier ones where they apply and yield a
  colour; a machine that reported before but is now stale shows the stale grey instead;
* the alarm level (0 none, 1 warning, 2 critical) and which alarm rules are active;
* gauge values, fractions of their range and bands (-1 no value, 0 normal, 1 warn, 2 alarm).

:meth:`Bindings.update` gives the same result as :meth:`Bindings.evaluate` for less: after a
first full evaluation it re-evaluates each rule only for the machines whose inputs the store
wrote since (``TwinStore.changes_since``); rules that read ``age()`` or another machine's
values, and the stale look, are evaluated for every machine each time, since they change
with the time alone.

:meth:`Bindings.apply` writes the result into :class:`~xrclient.core.visuals.MachineVisuals`;
:mod:`xrclient.core.bindings_text` formats label and gauge values for people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

from xrclient.core.bindings_text import MISSING, TextStore, format_number, format_value
from xrclient.core.color import srgb_to_linear
from xrclient.core.expr import F64, Bools, StoreView
from xrclient.core.rules import (
    AlarmRule,
    Binding,
    ColorRule,
    GaugeRule,
    LabelRule,
    SelectableMachine,
    TwinConfig,
)
from xrclient.core.twin_schema import PropertySpec
from xrclient.core.visuals import MachineVisuals

F32 = npt.NDArray[np.float32]
I8 = npt.NDArray[np.int8]
Rows = npt.NDArray[np.intp]

#: tint strength of the stale look
STALE_STRENGTH = 0.85
#: emissive linear RGB per alarm level (0: none, 1: warning, 2: critical)
ALARM_GLOW = np.array([[0.0, 0.0, 0.0], [0.45, 0.22, 0.0], [0.8, 0.04, 0.02]], np.float32)


def _stale_when_offline(store: StoreView, stale: Bools) -> None:
    """A stream that reports each machine's ``quality`` (a plant gateway does) says when a
    machine's source is unreachable: such a machine is stale at once, not after its TTL."""
    spec = store.prop("quality")
    if spec is None or spec.kind != "enum" or "OFFLINE" not in spec.values:
        return
    column = store.column("quality")
    if column is not None:
        stale |= column == spec.values.index("OFFLINE")


def linear(colour: str) -> F32:
    """A ``"#rrggbb"`` sRGB colour as linear RGB (float32, shape (3,))."""
    srgb = [int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)]
    return srgb_to_linear(srgb)


class BoundScene(Protocol):
    """What compiling reads of a scene (the scene model's ``Scene`` has these)."""

    @property
    def machines(self) -> Sequence[SelectableMachine]: ...

    @property
    def twin(self) -> TwinConfig: ...

    @property
    def bindings(self) -> Sequence[Binding]: ...


@runtime_checkable
class ChangingStore(StoreView, Protocol):
    """A store that says which cells it wrote (``TwinStore`` provides it)."""

    @property
    def properties(self) -> tuple[PropertySpec, ...]: ...
    @property
    def change_mark(self) -> int: ...
    def changes_since(self, mark: int) -> Rows | None: ...
    def prop_index(self, name: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class _Color:
    rule: ColorRule
    mask: Bools  # machines the rule's selector picks
    palette: F32  # (k, 3) linear: states in order | [below, *thresholds] | gradient stops
    levels: F64  # thresholds' values (empty otherwise)


class _Frame:
    """The store seen by one evaluation: ``age()`` of all machines computed once."""

    __slots__ = ("_age", "_now", "_store")

    def __init__(self, store: StoreView, now: float) -> None:
        self._store, self._now = store, now
        self._age: F64 | None = None

    @property
    def machine_ids(self) -> tuple[str, ...]:
        return self._store.machine_ids

    @property
    def n_machines(self) -> int:
        return self._store.n_machines

    def prop(self, name: str) -> PropertySpec | None:
        return self._store.prop(name)

    def column(self, name: str) -> F64 | None:
        return self._store.column(name)

    def code(self, name: str, text: str) -> float | None:
        return self._store.code(name, text)

    def age(self, now: float, name: str | None = None) -> F64:
        if name is not None or now != self._now:
            return self._store.age(now, name)
        if self._age is None:
            self._age = self._store.age(now)
        return self._age


class _Rows:
    """Some machines of a store, as a store of their own (rows of every column)."""

    __slots__ = ("_rows", "_store", "n_machines")

    def __init__(self, store: StoreView, rows: Rows) -> None:
        self._store, self._rows = store, rows
        self.n_machines = int(rows.shape[0])

    @property
    def machine_ids(self) -> tuple[str, ...]:
        return self._store.machine_ids

    def prop(self, name: str) -> PropertySpec | None:
        return self._store.prop(name)

    def column(self, name: str) -> F64 | None:
        col = self._store.column(name)
        return None if col is None else col[self._rows]

    def code(self, name: str, text: str) -> float | None:
        return self._store.code(name, text)

    def age(self, now: float, name: str | None = None) -> F64:
        out: F64 = self._store.age(now, name)[self._rows]
        return out


class BindingState:
    """Per-machine results of the latest :meth:`Bindings.evaluate` (arrays reused in place)."""

    __slots__ = (
        "alarm_level",
        "alarms",
        "color",
        "colored",
        "gauge_band",
        "gauge_fraction",
        "gauge_value",
        "seen",
        "stale",
        "strength",
    )

    def __init__(self, n: int, n_alarms: int, n_gauges: int) -> None:
        self.stale: Bools = np.zeros(n, np.bool_)
        self.seen: Bools = np.zeros(n, np.bool_)  # has ever reported
        self.colored: Bools = np.zeros(n, np.bool_)  # a colour rule gave a colour
        self.color: F32 = np.zeros((n, 3), np.float32)  # linear RGB
        self.strength: F32 = np.zeros(n, np.float32)
        self.alarm_level: I8 = np.zeros(n, np.int8)
        self.alarms: Bools = np.zeros((n, n_alarms), np.bool_)
        self.gauge_value: F64 = np.full((n, n_gauges), np.nan)
        self.gauge_fraction: F64 = np.full((n, n_gauges), np.nan)
        self.gauge_band: I8 = np.full((n, n_gauges), -1, np.int8)


class Bindings:
    """A scene's bindings, compiled against its machines."""

    def __init__(
        self,
        twin: TwinConfig,
        ttl: F64,
        colors: Sequence[_Color],
        labels: Sequence[tuple[LabelRule, Bools]],
        gauges: Sequence[tuple[GaugeRule, Bools]],
        alarms: Sequence[tuple[AlarmRule, Bools]],
    ) -> None:
        self.twin = twin
        self.n_machines = int(ttl.shape[0])
        #: per-machine time-to-live in seconds
        self.ttl = ttl
        self._colors = tuple(colors)
        self.labels = tuple(rule for rule, _ in labels)
        self.gauges = tuple(rule for rule, _ in gauges)
        self.alarms = tuple(rule for rule, _ in alarms)
        n = self.n_machines
        #: (n_machines, n_labels): which machines show each label
        self.label_mask = _stack([m for _, m in labels], n)
        self.gauge_mask = _stack([m for _, m in gauges], n)
        self.alarm_mask = _stack([m for _, m in alarms], n)
        self._alarm_levels = np.array([a.level for a in self.alarms], np.int8)
        self._gauge_limits = _gauge_limits(self.gauges)
        self._stale_rgb = linear(twin.stale_color)
        self.state = BindingState(n, len(self.alarms), len(self.gauges))
        exprs = [c.rule.value for c in self._colors] + [a.when for a in self.alarms]
        exprs += [r.value for r in self.labels] + [g.value for g in self.gauges]
        #: every property name the rules read
        self.properties = frozenset(p for e in exprs for p in e.properties)
        # what ``update`` keeps between calls: each colour rule's result for every machine,
        # the store it follows and its mark (None: evaluate everything next time)
        self._hits = np.zeros((len(self._colors), n), np.bool_)
        self._rgbs = np.zeros((len(self._colors), n, 3), np.float32)
        self._grey = np.zeros(n, np.bool_)
        self._follows: object | None = None
        self._mark = 0
        #: per rule (colours, alarms, gauges): the store columns it reads (None: it changes
        #: with the time) and the first rule with the same machines (-1: every machine)
        self._inputs: tuple[tuple[tuple[int, ...] | None, int], ...] = ()
        self._layout: tuple[PropertySpec, ...] | None = None
        self._full_above = 0
        self._rule_exprs = [c.rule.value for c in self._colors] + [a.when for a in self.alarms]
        self._rule_exprs += [g.value for g in self.gauges]
        masks = [c.mask for c in self._colors] + list(self.alarm_mask.T) + list(self.gauge_mask.T)
        # rules with the same inputs and the same machines share their rows (-1: every machine)
        self._same_masks = [
            -1 if mask.all() else next(j for j in range(k + 1) if np.array_equal(masks[j], mask))
            for k, mask in enumerate(masks)
        ]

    @classmethod
    def compile(cls, scene: BoundScene) -> Bindings:
        """A scene's bindings, compiled against its machines."""
        return cls.from_rules(scene.machines, scene.twin, scene.bindings)

    @classmethod
    def from_rules(
        cls,
        machines: Sequence[SelectableMachine],
        twin: TwinConfig,
        bindings: Sequence[Binding],
    ) -> Bindings:
        """Rules selecting among ``machines`` (the store's rows, in order)."""
        n = len(machines)
        ttl = np.full(n, twin.stale_after_s, np.float64)
        colors: list[_Color] = []
        labels: list[tuple[LabelRule, Bools]] = []
        gauges: list[tuple[GaugeRule, Bools]] = []
        alarms: list[tuple[AlarmRule, Bools]] = []
        for b in bindings:
            mask = b.select.mask(machines)
            if b.stale_after_s is not None:
                ttl[mask] = b.stale_after_s
            if b.color is not None:
                colors.append(_compile_color(b.color, mask))
            if b.label is not None:
                labels.append((b.label, mask))
            if b.gauge is not None:
                gauges.append((b.gauge, mask))
            if b.alarm is not None:
                alarms.append((b.alarm, mask))
        return cls(twin, ttl, colors, labels, gauges, alarms)

    def missing_properties(self, store: StoreView) -> tuple[str, ...]:
        """Properties the rules read that the store's stream does not have (sorted)."""
        return tuple(sorted(p for p in self.properties if store.prop(p) is None))

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, store: StoreView, now: float) -> BindingState:
        """Recompute :attr:`state` from the store at time ``now`` and return it."""
        if store.n_machines != self.n_machines:
            raise ValueError(
                f"the store has {store.n_machines} machines, the scene {self.n_machines}"
            )
        frame = _Frame(store, now)
        s = self.state
        self._follows = None  # ``update`` starts over after this
        with np.errstate(all="ignore"):
            age = frame.age(now)
            np.greater(age, self.ttl, out=s.stale)
            np.isfinite(age, out=s.seen)
            _stale_when_offline(frame, s.stale)
            self._evaluate_colors(frame, now)
            self._evaluate_alarms(frame, now)
            self._evaluate_gauges(frame, now)
        return s

    def _evaluate_colors(self, store: StoreView, now: float) -> None:
        s = self.state
        s.colored.fill(False)
        s.color.fill(0.0)
        s.strength.fill(0.0)
        for k, c in enumerate(self._colors):
            applies, rgb = _rule_colors(c, store, now)
            hit = self._hits[k]
            np.logical_and(c.mask, applies, out=hit)
            self._rgbs[k] = rgb
            s.color[hit] = rgb[hit]
            s.strength[hit] = c.rule.strength
            s.colored |= hit
        grey = np.logical_and(s.stale, s.seen, out=self._grey)
        s.color[grey] = self._stale_rgb
        s.strength[grey] = STALE_STRENGTH

    def _evaluate_alarms(self, store: StoreView, now: float) -> None:
        s = self.state
        s.alarm_level.fill(0)
        for k, alarm in enumerate(self.alarms):
            active = s.alarms[:, k]
            np.logical_and(alarm.when.truth(store, now), self.alarm_mask[:, k], out=active)
            np.maximum(s.alarm_level, self._alarm_levels[k], out=s.alarm_level, where=active)

    def _evaluate_gauges(self, store: StoreView, now: float) -> None:
        s = self.state
        if not self.gauges:
            return
        values = s.gauge_value
        for k, g in enumerate(self.gauges):
            values[:, k] = g.value.number(store, now)
        values[~self.gauge_mask] = np.nan
        lo, span, sign, warn, alarm = self._gauge_limits
        np.clip((values - lo) / span, 0.0, 1.0, out=s.gauge_fraction)
        badness = values * sign  # high is bad for every gauge now; missing limits are NaN
        band = np.where(badness >= alarm, 2, np.where(badness >= warn, 1, 0))
        band[np.isnan(values)] = -1
        s.gauge_band[:] = band

    # -- incremental evaluation ------------------------------------------------------------

    def update(self, store: StoreView, now: float) -> BindingState:
        """:meth:`evaluate`'s result, re-evaluating only what the store's writes since the
        last call can have changed; the first call, a snapshot, a new schema or another
        store evaluate everything. The store must be written through ``TwinStore.apply``
        (a store changed in place needs :meth:`evaluate`)."""
        changed = self._changes(store)
        if changed is None or changed.size > self._full_above:  # most cells: all at once
            self.evaluate(store, now)
            self._follow(store)
            return self.state
        store = cast(ChangingStore, store)  # _changes said so
        self._mark = store.change_mark
        s, n = self.state, self.n_machines
        # written[p, m]: machine m's property p was written (one contiguous row a property)
        written = np.zeros((max(len(store.properties), 1), n), np.bool_)
        if changed.size:
            machine, prop = np.divmod(changed, written.shape[0])
            prop *= n
            prop += machine
            written.reshape(-1)[prop] = True
        inputs = iter(self._inputs)
        found: dict[tuple[tuple[int, ...], int], Rows] = {}

        def rows_of(mask: Bools) -> Rows | None:
            """Machines of ``mask`` whose inputs of the next rule were written (None: all)."""
            props, same_mask = next(inputs)
            if props is None:
                return None
            key = (props, same_mask)
            got = found.get(key)
            if got is None:
                if not props or not changed.size:
                    got = _NONE
                else:
                    hit = written[props[0]] if len(props) == 1 else written[list(props)].any(0)
                    got = found[key] = np.flatnonzero(hit if same_mask < 0 else hit & mask)
            return got

        with np.errstate(all="ignore"):
            age = store.age(now)  # every machine: it changes with the time
            np.greater(age, self.ttl, out=s.stale)
            np.isfinite(age, out=s.seen)
            _stale_when_offline(store, s.stale)
            self._update_colors(store, now, rows_of)
            self._update_alarms(store, now, rows_of)
            self._update_gauges(store, now, rows_of)
        return s

    def _changes(self, store: StoreView) -> Rows | None:
        """Cells written since the last ``update`` of this store; None: evaluate everything."""
        if self._follows is not store:
            return None
        changing = cast(ChangingStore, store)  # _follow checked it
        if changing.properties is not self._layout:
            return None
        return changing.changes_since(self._mark)

    def _follow(self, store: StoreView) -> None:
        """Remember ``store`` and what each rule reads of it (after a full evaluation)."""
        if not isinstance(store, ChangingStore):
            return
        layout = store.properties
        self._follows, self._mark = store, store.change_mark
        if layout is self._layout:
            return
        self._layout = layout
        # writes to more cells than this cost more machine by machine than all at once
        self._full_above = self.n_machines * len(layout) // 2
        inputs: list[tuple[tuple[int, ...] | None, int]] = []
        for e, same in zip(self._rule_exprs, self._same_masks, strict=True):
            if e.timed or e.machines:  # changes with the time, or with other machines
                inputs.append((None, same))
                continue
            found = (store.prop_index(p) for p in sorted(e.properties))
            inputs.append((tuple(i for i in found if i is not None), same))
        self._inputs = tuple(inputs)

    def _update_colors(self, store: StoreView, now: float, rows_of: _RowsOf) -> None:
        s = self.state
        redo: list[Rows] = []
        every = False
        for k, c in enumerate(self._colors):
            rows = rows_of(c.mask)
            if rows is None:
                applies, rgb = _rule_colors(c, store, now)
                np.logical_and(c.mask, applies, out=self._hits[k])
                self._rgbs[k] = rgb
                every = True
            elif rows.size:
                applies, rgb = _rule_colors(c, _Rows(store, rows), now)
                self._hits[k, rows] = applies  # rows_of picks machines of the mask only
                self._rgbs[k, rows] = rgb
                redo.append(rows)
        grey = s.stale & s.seen
        flipped = grey != self._grey
        self._grey[:] = grey
        if every:
            self._compose(slice(None))
        elif redo:
            self._compose(_union(redo, flipped))
        elif flipped.any():
            self._compose(np.flatnonzero(flipped))

    def _compose(self, rows: Rows | slice) -> None:
        """The status colour of ``rows`` from each colour rule's result and the stale look."""
        s = self.state
        color = np.zeros(
            (self.n_machines, 3) if isinstance(rows, slice) else (rows.size, 3), np.float32
        )
        strength = np.zeros(color.shape[0], np.float32)
        colored = np.zeros(color.shape[0], np.bool_)
        for k, c in enumerate(self._colors):
            hit = self._hits[k, rows]
            color[hit] = self._rgbs[k, rows][hit]
            strength[hit] = c.rule.strength
            colored |= hit
        grey = self._grey[rows]
        color[grey] = self._stale_rgb
        strength[grey] = STALE_STRENGTH
        s.color[rows] = color
        s.strength[rows] = strength
        s.colored[rows] = colored

    def _update_alarms(self, store: StoreView, now: float, rows_of: _RowsOf) -> None:
        s = self.state
        redo: list[Rows] = []
        for k, alarm in enumerate(self.alarms):
            mask = self.alarm_mask[:, k]
            rows = rows_of(mask)
            if rows is None:
                np.logical_and(alarm.when.truth(store, now), mask, out=s.alarms[:, k])
                redo.append(np.arange(self.n_machines))
            elif rows.size:
                s.alarms[rows, k] = alarm.when.truth(_Rows(store, rows), now)  # rows of mask
                redo.append(rows)
        if not redo:
            return
        rows = redo[0] if len(redo) == 1 else _union(redo, np.zeros(self.n_machines, np.bool_))
        active = s.alarms[rows]
        level = np.zeros(rows.size, np.int8)
        for k in range(len(self.alarms)):
            np.maximum(level, self._alarm_levels[k], out=level, where=active[:, k])
        s.alarm_level[rows] = level

    def _update_gauges(self, store: StoreView, now: float, rows_of: _RowsOf) -> None:
        s = self.state
        rows_at: list[Rows] = []
        values_at: list[F64] = []
        gauge_at: list[Rows] = []
        for k, g in enumerate(self.gauges):
            mask = self.gauge_mask[:, k]
            rows = rows_of(mask)
            if rows is None:
                rows = np.arange(self.n_machines)
                values = g.value.number(store, now)
                values[~mask] = np.nan
            elif rows.size:
                values = g.value.number(_Rows(store, rows), now)  # rows of the mask only
            else:
                continue
            rows_at.append(rows)
            values_at.append(values)
            gauge_at.append(np.full(rows.size, k, np.intp))
        if not rows_at:
            return
        # every gauge's new cells at once: the same operations as evaluate's, cell by cell
        rows, gauge = np.concatenate(rows_at), np.concatenate(gauge_at)
        values = np.concatenate(values_at)
        lo, span, sign, warn, alarm = (limit[gauge] for limit in self._gauge_limits)
        s.gauge_value[rows, gauge] = values
        s.gauge_fraction[rows, gauge] = np.clip((values - lo) / span, 0.0, 1.0)
        badness = values * sign
        band = np.where(badness >= alarm, 2, np.where(badness >= warn, 1, 0))
        band[np.isnan(values)] = -1
        s.gauge_band[rows, gauge] = band

    # -- for people ------------------------------------------------------------------------

    def label_text(self, store: TextStore, label: int, machine: int, now: float) -> str:
        """Label ``label`` of machine ``machine`` as text (``—`` where it has no value)."""
        rule = self.labels[label]
        if not self.label_mask[machine, label]:
            return MISSING
        if not rule.property:
            value = float(rule.value.number(store, now)[machine])
            return format_value(store, None, value, rule.format, rule.unit)
        spec, col = store.prop(rule.property), store.column(rule.property)
        if spec is None or col is None:
            return MISSING
        return format_value(store, spec, float(col[machine]), rule.format, rule.unit)

    def gauge_text(self, store: StoreView, gauge: int, machine: int) -> str:
        """The value of gauge ``gauge`` of machine ``machine`` at the last :meth:`evaluate`."""
        rule = self.gauges[gauge]
        value = float(self.state.gauge_value[machine, gauge])
        spec = store.prop(rule.property) if rule.property else None
        unit = rule.unit if rule.unit is not None else (spec.unit if spec is not None else "")
        return format_number(value, rule.format, unit)

    def apply(self, visuals: MachineVisuals) -> None:
        """Write the latest colours (tint) and alarm glow (emissive) into ``visuals``."""
        s = self.state
        visuals.tint[:, :3] = s.color
        visuals.tint[:, 3] = s.strength
        visuals.emissive[:] = ALARM_GLOW[s.alarm_level]


_RowsOf = Callable[[Bools], "Rows | None"]
_NONE: Rows = np.zeros(0, np.intp)
_NONE.flags.writeable = False


def _union(parts: Sequence[Rows], mark: Bools) -> Rows:
    """Machines in any of ``parts`` or marked in ``mark`` (which this overwrites), in order."""
    for rows in parts:
        mark[rows] = True
    return np.flatnonzero(mark)


def _stack(masks: Sequence[Bools], n: int) -> Bools:
    if not masks:
        return np.zeros((n, 0), np.bool_)
    return np.stack(masks, axis=1)


def _gauge_limits(gauges: Sequence[GaugeRule]) -> tuple[F64, F64, F64, F64, F64]:
    """Per gauge: min, span, sign (+1 high is bad, -1 low is bad), signed warn and alarm."""
    sign = np.array([1.0 if g.direction == "high" else -1.0 for g in gauges])

    def limits(values: list[float | None]) -> F64:
        out: F64 = np.array([np.nan if v is None else v for v in values], np.float64) * sign
        return out

    return (
        np.array([g.min for g in gauges], np.float64),
        np.array([g.max - g.min for g in gauges], np.float64),
        sign,
        limits([g.warn for g in gauges]),
        limits([g.alarm for g in gauges]),
    )


def _compile_color(rule: ColorRule, mask: Bools) -> _Color:
    if rule.mode == "states":
        colours = [c for _, c in rule.states]
    elif rule.mode == "thresholds":
        colours = [rule.below or "#000000", *(c for _, c in rule.thresholds)]
    elif rule.mode == "gradient":
        assert rule.gradient is not None
        colours = list(rule.gradient.colors)
    else:
        assert rule.color is not None
        colours = [rule.color]
    palette = np.stack([linear(c) for c in colours])
    levels = np.array([v for v, _ in rule.thresholds], np.float64)
    return _Color(rule, mask, palette, levels)


def _rule_colors(c: _Color, store: StoreView, now: float) -> tuple[Bools, F32]:
    """Where the rule yields a colour, and the colour of every machine (linear RGB)."""
    rule = c.rule
    if rule.mode == "when":
        return rule.value.truth(store, now), np.broadcast_to(c.palette[0], (store.n_machines, 3))
    if rule.mode == "states":
        index = _state_index(rule, store)
        applies = index >= 0
    else:
        v = rule.value.number(store, now)
        applies = ~np.isnan(v)
        if rule.mode == "gradient":
            return applies, _gradient(c, v)
        index = np.searchsorted(c.levels, v, side="right")  # 0: below the first threshold
        if rule.below is None:
            applies &= index > 0
    return applies, c.palette[np.clip(index, 0, None)]


def _state_index(rule: ColorRule, store: StoreView) -> npt.NDArray[np.intp]:
    """Per machine, the index of its state in ``rule.states``; -1 for none."""
    index = np.full(store.n_machines, -1, np.intp)
    col = store.column(rule.property)
    spec = store.prop(rule.property)
    if col is None or spec is None:
        return index
    for k, (name, _) in enumerate(rule.states):
        code = _state_code(store, spec, name)
        if code is not None:
            index[col == code] = k
    return index


def _state_code(store: StoreView, spec: PropertySpec, name: str) -> float | None:
    if spec.kind == "bool":
        return {"true": 1.0, "false": 0.0}.get(name)
    return store.code(spec.name, name)


def _gradient(c: _Color, v: F64) -> F32:
    """Linear interpolation between evenly spaced stops, in linear RGB (missing: stop 0)."""
    g = c.rule.gradient
    assert g is not None
    stops = c.palette.shape[0]
    t = np.nan_to_num(np.clip((v - g.min) / (g.max - g.min), 0.0, 1.0)) * (stops - 1)
    i = np.minimum(t.astype(np.intp), stops - 2)
    f = (t - i).astype(np.float32)[:, None]
    out: F32 = c.palette[i] * (1.0 - f) + c.palette[i + 1] * f
    return out
