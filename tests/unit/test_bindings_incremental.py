"""``Bindings.update`` (re-evaluating only what the store's writes can have changed) gives
bit for bit what a fresh ``Bindings.evaluate`` gives, whatever the batches and the times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xrclient.core.bindings import Bindings, BindingState
from xrclient.core.expr import Expr, compile_expr
from xrclient.core.rules import (
    AlarmRule,
    Binding,
    ColorRule,
    GaugeRule,
    Gradient,
    LabelRule,
    Selector,
    TwinConfig,
)
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import TOUCH, UpdateBatch
from xrclient.core.visuals import MachineVisuals


@dataclass(frozen=True)
class Machine:
    id: str
    type: str
    line: str


TYPES = ("mill", "lathe", "tank")
MACHINES = tuple(Machine(f"M{i}", TYPES[i % 3], "AB"[i % 2]) for i in range(9))
IDS = tuple(m.id for m in MACHINES)
PROPS = (
    PropertySpec("state", "enum", values=("RUNNING", "IDLE", "FAULT")),
    PropertySpec("temp", "number", "°C"),
    PropertySpec("load", "number", "%"),
    PropertySpec("door", "bool"),
    PropertySpec("program", "string"),
)
SCHEMA = StreamSchema(IDS, PROPS)
OTHER_SCHEMA = StreamSchema(IDS, (*PROPS[:3], PropertySpec("level", "number")))
TEXTS = ("P1", "P2", "P3")
STATE, TEMP, LOAD, DOOR, PROGRAM = range(5)


def rules() -> tuple[Binding, ...]:
    """Every kind of rule: direct properties, expressions, strings, bools, other machines'
    values and ages (which change with the time alone), selectors and stale overrides."""
    e = compile_expr
    mills, tanks = Selector(types=("mill",)), Selector(types=("tank",))
    return (
        Binding(
            Selector(),
            color=ColorRule(
                "states",
                e("state"),
                "state",
                states=(("RUNNING", "#2e7d32"), ("IDLE", "#f9a825"), ("FAULT", "#c62828")),
            ),
        ),
        Binding(
            mills,
            color=ColorRule(
                "thresholds", e("temp"), "temp", thresholds=((40.0, "#f9a825"), (60.0, "#c62828"))
            ),
            stale_after_s=4.0,
        ),
        Binding(
            Selector(lines=("B",)),
            color=ColorRule(
                "gradient",
                e("load / 2 + 10"),
                gradient=Gradient(0.0, 100.0, ("#000000", "#1565c0", "#ffffff")),
                strength=0.5,
            ),
        ),
        Binding(tanks, color=ColorRule("when", e("door"), color="#8e24aa", strength=0.3)),
        Binding(
            Selector(ids=("M[0-3]",)), color=ColorRule("when", e("age(temp) > 6"), color="#ff0000")
        ),
        Binding(Selector(), alarm=AlarmRule(e('state == "FAULT"'), "critical", "fault")),
        Binding(mills, alarm=AlarmRule(e("temp > 50"), "warning", "hot")),
        Binding(Selector(), alarm=AlarmRule(e('program == "P2" and not door'), "warning", "p2")),
        Binding(Selector(), alarm=AlarmRule(e('machine("M1").temp > 45'), "warning", "m1")),
        Binding(Selector(), alarm=AlarmRule(e("is_missing(load) or age() > 8"), "critical", "old")),
        Binding(
            Selector(),
            gauge=GaugeRule(e("load"), "load", "Load", None, "", 0.0, 100.0, 70.0, 90.0, "high"),
            label=LabelRule(e("program"), "program", "Program", None, ""),
        ),
        Binding(
            tanks,
            gauge=GaugeRule(
                e("clamp(temp - load, 0, 80)"), "", "T", "K", ".1f", 0.0, 80.0, 20.0, 10.0, "low"
            ),
        ),
        Binding(
            mills, gauge=GaugeRule(e("age(load)"), "", "Age", "s", "", 0.0, 10.0, None, 5.0, "high")
        ),
    )


def exprs(b: Binding) -> list[Expr]:
    found = [b.color.value if b.color else None, b.alarm.when if b.alarm else None]
    found += [b.gauge.value if b.gauge else None]
    return [e for e in found if e is not None]


def compiled(data_only: bool = False) -> Bindings:
    """All the rules, or (``data_only``) only those that change with the data alone: then
    no rule is evaluated for every machine each time, and the stale look's changes alone
    recolour machines."""
    chosen = rules()
    if data_only:
        chosen = tuple(b for b in chosen if not any(e.timed or e.machines for e in exprs(b)))
    return Bindings.from_rules(MACHINES, TwinConfig(stale_after_s=10.0), chosen)


def assert_same(got: BindingState, want: BindingState) -> None:
    for name in BindingState.__slots__:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # bit for bit, NaN positions included


# -- random streams ------------------------------------------------------------------------

_value = st.one_of(
    st.floats(-50.0, 150.0, allow_nan=False, width=32).map(float),
    st.sampled_from([0.0, 40.0, 45.0, 50.0, 60.0, 70.0, 90.0, 100.0]),
)


@st.composite
def batch(draw: st.DrawFn, t: float, current: StreamSchema) -> tuple[UpdateBatch, float]:
    """One batch at about ``t`` (the server clock), and the client's clock when it lands; a
    snapshot may bring another schema, a delta keeps the ``current`` one."""
    snapshot = draw(st.integers(0, 9)) == 0
    schema = current
    if snapshot:
        schema = draw(st.sampled_from([SCHEMA, SCHEMA, OTHER_SCHEMA]))
    n_props = len(schema.properties)
    cells = draw(
        st.lists(st.tuples(st.integers(0, len(IDS) - 1), st.integers(-1, n_props - 1)), max_size=14)
    )
    machine, prop, value, time = [], [], [], []
    for m, p in cells:
        machine.append(m)
        prop.append(p)
        # a source time may go back as well as forward (a replayed or late cell)
        time.append(t - draw(st.sampled_from([0.0, 0.5, 3.0, 9.0, 30.0])))
        if p == TOUCH:
            value.append(0.0)
        elif p == STATE:
            value.append(float(draw(st.integers(0, 2))))
        elif schema is SCHEMA and p == DOOR:
            value.append(float(draw(st.booleans())))
        elif schema is SCHEMA and p == PROGRAM:
            value.append(float(draw(st.integers(0, len(TEXTS) - 1))))
        else:
            value.append(draw(_value))
    sent = t + draw(st.sampled_from([0.0, 0.25, -2.0, 40.0]))  # server clocks disagree
    out = UpdateBatch.build(
        schema,
        np.array(machine, np.int32),
        np.array(prop, np.int32),
        np.array(value),
        np.array(time),
        snapshot=snapshot,
        sent=sent,
        texts=TEXTS if schema is SCHEMA else (),
    )
    return out, t + draw(st.sampled_from([0.0, 0.1, 1.0]))


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[UpdateBatch | None, float]]:
    """Steps of a stream: a batch (or none: time passes) and the frame's clock after it."""
    t, schema = 1000.0, SCHEMA
    steps: list[tuple[UpdateBatch | None, float]] = []
    for _ in range(draw(st.integers(1, 12))):
        t += draw(st.sampled_from([0.0, 0.5, 2.0, 5.0, 11.0]))
        if draw(st.integers(0, 3)) == 0:
            steps.append((None, t))
        else:
            b, now = draw(batch(t, schema))
            schema = b.schema
            steps.append((b, now))
    return steps


def start(store: TwinStore, t: float = 1000.0) -> None:
    """A first snapshot: every machine reports every property."""
    m, p = np.divmod(np.arange(len(IDS) * len(PROPS)), len(PROPS))
    v = np.where(p == PROGRAM, m % len(TEXTS), (m * 7.0) % 3)
    snap = UpdateBatch.build(SCHEMA, m, p, v, t, snapshot=True, sent=t, texts=TEXTS)
    store.apply(snap, t)


@pytest.mark.parametrize("data_only", [False, True], ids=["all-rules", "data-rules"])
@settings(max_examples=200, deadline=None)
@given(steps=streams())
def test_update_equals_a_fresh_full_evaluation(
    data_only: bool, steps: list[tuple[UpdateBatch | None, float]]
) -> None:
    store = TwinStore(IDS)
    start(store)
    live = compiled(data_only)
    live.update(store, 1000.0)
    for b, now in steps:
        if b is not None:
            store.apply(b, now)
        got = live.update(store, now)
        assert_same(got, compiled(data_only).evaluate(store, now))


@settings(max_examples=60, deadline=None)
@given(streams())
def test_visuals_from_update_equal_those_from_evaluate(
    steps: list[tuple[UpdateBatch | None, float]],
) -> None:
    store = TwinStore(IDS)
    start(store)
    live, fresh = compiled(), compiled()
    a, b = MachineVisuals(len(IDS)), MachineVisuals(len(IDS))
    for batch_, now in steps:
        if batch_ is not None:
            store.apply(batch_, now)
        live.update(store, now)
        live.apply(a)
        fresh.evaluate(store, now)
        fresh.apply(b)
        assert a.data.tobytes() == b.data.tobytes()


# -- when it starts over ---------------------------------------------------------------------


def hot(store: TwinStore, machine: int, temp: float, t: float) -> None:
    store.apply(UpdateBatch.build(SCHEMA, [machine], [TEMP], [temp], t, sent=t), t)


def test_only_the_written_machines_are_evaluated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store = TwinStore(IDS)
    start(store)
    live = compiled()
    live.update(store, 1000.0)
    calls: list[int] = []
    hot_rule = live.alarms[1].when
    original = type(hot_rule).truth

    def counting(self: object, view: object, now: float) -> np.ndarray:
        if self is hot_rule:
            calls.append(view.n_machines)  # type: ignore[attr-defined]  # a store or rows of one
        return original(self, view, now)  # type: ignore[arg-type]  # the patched method's self

    monkeypatch.setattr(type(hot_rule), "truth", counting)
    hot(store, 3, 80.0, 1000.5)  # M3 is a mill
    state = live.update(store, 1000.5)
    assert calls == [1]  # one machine's temperature was written
    assert state.alarms[3, 1] and state.alarm_level[3] == 1
    calls.clear()
    live.update(store, 1001.0)  # nothing written: the rule is not evaluated at all
    assert calls == []


def test_another_store_a_snapshot_or_evaluate_start_over() -> None:
    store, other = TwinStore(IDS), TwinStore(IDS)
    start(store)
    start(other)
    hot(other, 0, 99.0, 1000.0)
    live = compiled()
    assert_same(live.update(store, 1000.0), compiled().evaluate(store, 1000.0))
    assert_same(live.update(other, 1000.0), compiled().evaluate(other, 1000.0))
    assert_same(live.update(store, 1000.0), compiled().evaluate(store, 1000.0))
    start(store, 1002.0)  # a snapshot: everything may have changed
    assert_same(live.update(store, 1002.0), compiled().evaluate(store, 1002.0))
    store.value[:, TEMP] = 99.0  # written in place: only evaluate sees it
    assert_same(live.evaluate(store, 1002.0), compiled().evaluate(store, 1002.0))
    hot(store, 0, 10.0, 1002.5)
    assert_same(live.update(store, 1002.5), compiled().evaluate(store, 1002.5))


def test_a_long_gap_between_updates_evaluates_everything() -> None:
    store = TwinStore(IDS)
    start(store)
    live = compiled()
    live.update(store, 1000.0)
    for k in range(300):  # more batches than the store's change log keeps
        hot(store, k % len(IDS), float(k % 90), 1000.0 + k / 100)
    assert store.changes_since(0) is None
    assert_same(live.update(store, 1003.0), compiled().evaluate(store, 1003.0))


def test_change_marks() -> None:
    store = TwinStore(IDS)
    start(store)
    mark = store.change_mark
    assert store.changes_since(mark).tolist() == []  # type: ignore[union-attr]  # a known mark
    hot(store, 2, 1.0, 1000.0)
    hot(store, 4, 1.0, 1000.0)
    assert store.changes_since(mark).tolist() == [2 * 5 + TEMP, 4 * 5 + TEMP]  # type: ignore[union-attr]  # a known mark
    assert store.changes_since(mark + 5) is None  # a mark this store never gave
    start(store)
    assert store.changes_since(mark) is None
