"""Update batches: building from arrays, and coalescing that equals applying one after another."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twin_props import PROPS

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import TOUCH, UpdateBatch, coalesce

SCHEMA = StreamSchema(("A", "B", "C", "X"), PROPS)
STATE, TEMP, DOOR, PROGRAM, MAINT = range(5)


def build(
    m: list[int],
    p: list[int],
    v: list[float],
    t: list[float] | float,
    *,
    snapshot: bool = False,
    seq: int = 0,
    sent: float = 0.0,
    texts: tuple[str, ...] = (),
) -> UpdateBatch:
    return UpdateBatch.build(SCHEMA, m, p, v, t, snapshot=snapshot, seq=seq, sent=sent, texts=texts)


def cells(batch: UpdateBatch) -> dict[tuple[int, int], tuple[object, float]]:
    """(machine, property) -> (value, or text for strings; source time)."""
    out: dict[tuple[int, int], tuple[object, float]] = {}
    for m, p, v, t in zip(batch.machine, batch.prop, batch.value, batch.time, strict=True):
        value: object = batch.texts[int(v)] if p == PROGRAM else float(v)
        out[int(m), int(p)] = (value, float(t))
    return out


# -- building ------------------------------------------------------------------------------


def test_build_makes_typed_flat_columns_and_broadcasts_time() -> None:
    batch = build([[0, 1]], [1, TOUCH], [20.5, 0], 7.0, seq=4, sent=9.0)
    assert batch.machine.dtype == np.int32 and batch.prop.dtype == np.int32
    assert batch.value.dtype == np.float64 and batch.time.dtype == np.float64
    assert batch.machine.tolist() == [0, 1]
    assert batch.prop.tolist() == [1, -1]
    assert batch.time.tolist() == [7.0, 7.0]
    assert (len(batch), batch.seq, batch.sent, batch.snapshot) == (2, 4, 9.0, False)
    assert batch.newest == 7.0
    batch.time[0] = 1.0  # the broadcast time is a real, writable copy
    assert batch.time.tolist() == [1.0, 7.0]


def test_build_rejects_columns_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="column lengths differ: 2, 1, 2"):
        build([0, 1], [1], [1.0, 2.0], 0.0)


def test_newest_is_latest_time_or_sent_when_empty() -> None:
    assert build([0, 1, 2], [1, 1, 1], [0, 0, 0], [5.0, 9.0, 2.0]).newest == 9.0
    assert build([], [], [], 0.0, sent=42.0).newest == 42.0


# -- coalescing ----------------------------------------------------------------------------


def test_coalesce_keeps_the_newest_value_of_each_cell() -> None:
    older = build([0, 1, 0], [TEMP, TEMP, STATE], [10.0, 20.0, 1.0], [1.0, 1.0, 1.5], seq=3)
    newer = build([0, 2], [TEMP, DOOR], [11.0, 1.0], [2.0, 2.5], seq=4, sent=8.0)
    out = coalesce(older, newer)
    assert (out.snapshot, out.seq, out.sent, out.schema) == (False, 4, 8.0, SCHEMA)
    # survivors keep their order of arrival
    assert out.machine.tolist() == [1, 0, 0, 2]
    assert out.prop.tolist() == [TEMP, STATE, TEMP, DOOR]
    assert out.value.tolist() == [20.0, 1.0, 11.0, 1.0]
    assert out.time.tolist() == [1.0, 1.5, 2.0, 2.5]


def test_coalesce_keeps_the_last_of_duplicates_within_a_batch() -> None:
    older = build([0, 0], [TEMP, TEMP], [1.0, 2.0], [1.0, 2.0])
    newer = build([1], [TEMP], [3.0], 3.0)
    out = coalesce(older, newer)
    assert cells(out) == {(0, TEMP): (2.0, 2.0), (1, TEMP): (3.0, 3.0)}
    assert len(out) == 2


def test_a_newer_snapshot_replaces_everything() -> None:
    older = build([0], [TEMP], [1.0], 1.0, seq=1)
    newer = build([1], [TEMP], [2.0], 2.0, snapshot=True, seq=2)
    assert coalesce(older, newer) is newer


def test_a_delta_on_a_snapshot_stays_a_snapshot() -> None:
    older = build([0, 1], [TEMP, TEMP], [1.0, 5.0], 1.0, snapshot=True, seq=1)
    newer = build([0], [TEMP], [2.0], 2.0, seq=2)
    out = coalesce(older, newer)
    assert out.snapshot and out.seq == 2
    assert cells(out) == {(1, TEMP): (5.0, 1.0), (0, TEMP): (2.0, 2.0)}


def test_a_batch_of_another_schema_object_wins() -> None:
    other = StreamSchema(("A",), PROPS)
    older = build([0], [TEMP], [1.0], 1.0)
    newer = UpdateBatch.build(other, [0], [TEMP], [2.0], 2.0)
    assert coalesce(older, newer) is newer


def test_coalesce_reindexes_and_prunes_texts() -> None:
    older = build([0, 1], [PROGRAM, PROGRAM], [0.0, 1.0], 1.0, texts=("a", "b"))
    newer = build([0, 2], [PROGRAM, PROGRAM], [1.0, 0.0], 2.0, texts=("c", "d"))
    out = coalesce(older, newer)
    assert cells(out) == {
        (1, PROGRAM): ("b", 1.0),
        (0, PROGRAM): ("d", 2.0),
        (2, PROGRAM): ("c", 2.0),
    }
    assert sorted(out.texts) == ["b", "c", "d"]  # "a" is no longer referenced


def test_coalesce_of_a_delta_without_texts_keeps_older_texts() -> None:
    older = build([0, 1], [PROGRAM, TEMP], [0.0, 1.0], 1.0, texts=("a",))
    newer = build([1], [TEMP], [2.0], 2.0)
    out = coalesce(older, newer)
    assert cells(out) == {(0, PROGRAM): ("a", 1.0), (1, TEMP): (2.0, 2.0)}
    assert out.texts == ("a",)


def test_keep_alives_fold_to_one_per_machine_with_the_newest_time() -> None:
    older = build([0, 1], [TOUCH, TOUCH], [0.0, 0.0], [5.0, 1.0])
    newer = build([0, 1], [TOUCH, TOUCH], [0.0, 0.0], [3.0, 2.0])
    out = coalesce(older, newer)
    assert sorted(zip(out.machine.tolist(), out.prop.tolist(), out.time.tolist(), strict=True)) == [
        (0, TOUCH, 5.0),
        (1, TOUCH, 2.0),
    ]


def test_folding_many_batches_stays_bounded_by_the_cells() -> None:
    rng = np.random.default_rng(3)
    merged = build([], [], [], 0.0)
    for k in range(200):
        m = rng.integers(0, 4, 6)
        p = rng.choice([TEMP, PROGRAM, TOUCH], 6)
        v = np.where(p == PROGRAM, np.arange(6) % 2, rng.normal(size=6))
        merged = coalesce(
            merged, build(m.tolist(), p.tolist(), v.tolist(), float(k), texts=(f"t{k}", f"u{k}"))
        )
    assert len(merged) <= 4 * 3
    assert len(merged.texts) <= 4
    assert merged.seq == 0 and not merged.snapshot


# -- hypothesis: coalescing equals applying one batch after the other ------------------------

STORE_IDS = ("C", "A", "B", "Z")  # another order, without X, with a machine never streamed


@st.composite
def random_batch(draw: st.DrawFn, snapshot: bool) -> UpdateBatch:
    n = draw(st.integers(0, 12))
    texts = tuple(draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4)))
    m, p, v, t = [], [], [], []
    for _ in range(n):
        prop = draw(st.integers(-1, 4))
        m.append(draw(st.integers(0, 3)))
        p.append(prop)
        t.append(float(draw(st.integers(0, 50))))
        if prop == PROGRAM:
            v.append(float(draw(st.integers(0, len(texts) - 1))))
        elif prop in (STATE, DOOR):
            v.append(float(draw(st.integers(0, 1))))
        else:
            v.append(draw(st.floats(-1e6, 1e6, allow_nan=False)))
    return build(m, p, v, t, snapshot=snapshot, seq=draw(st.integers(0, 9)), texts=texts)


def assert_same_state(a: TwinStore, b: TwinStore, now: float) -> None:
    for i, spec in enumerate(PROPS):
        if spec.kind == "string":
            assert [a.text(spec.name, x) for x in a.value[:, i]] == [
                b.text(spec.name, x) for x in b.value[:, i]
            ]
        else:
            np.testing.assert_array_equal(a.value[:, i], b.value[:, i])
    np.testing.assert_array_equal(a.source_time, b.source_time)
    np.testing.assert_array_equal(a.recv_time, b.recv_time)
    np.testing.assert_array_equal(a.last_seen(), b.last_seen())
    np.testing.assert_array_equal(a.age(now), b.age(now))


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.booleans(), st.data())
def test_applying_the_coalesced_batch_equals_applying_both(
    first_snapshot: bool, second_snapshot: bool, data: st.DataObject
) -> None:
    older = data.draw(random_batch(first_snapshot))
    newer = data.draw(random_batch(second_snapshot))
    base = data.draw(random_batch(True))
    one_by_one, folded = TwinStore(STORE_IDS), TwinStore(STORE_IDS)
    for store in (one_by_one, folded):
        store.apply(base, 100.0)
    one_by_one.apply(older, 100.0)
    one_by_one.apply(newer, 100.0)
    folded.apply(coalesce(older, newer), 100.0)
    assert_same_state(one_by_one, folded, 200.0)
