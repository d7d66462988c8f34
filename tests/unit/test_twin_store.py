"""The twin store: snapshots and deltas, keep-alives, texts, ages under clock skew, histories."""

from __future__ import annotations

import numpy as np
import pytest
from twin_props import PROPS

from xrclient.core import twin_store
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import Changes, TwinStore
from xrclient.core.updates import TOUCH, UpdateBatch

STATE, TEMP, DOOR, PROGRAM, MAINT = range(5)
STORE_IDS = ("A", "B", "C", "D")
# the stream lists machines in its own order, has one the scene lacks (X) and never sends D
SCHEMA = StreamSchema(("B", "A", "X", "C"), PROPS)
SB, SA, SX, SC = range(4)  # stream indices
A, B, C, D = range(4)  # store rows
NAN = float("nan")


def batch(
    m: list[int],
    p: list[int],
    v: list[float],
    t: list[float] | float,
    *,
    snapshot: bool = False,
    sent: float = 0.0,
    texts: tuple[str, ...] = (),
    schema: StreamSchema = SCHEMA,
) -> UpdateBatch:
    return UpdateBatch.build(schema, m, p, v, t, snapshot=snapshot, sent=sent, texts=texts)


def snapshot_store() -> TwinStore:
    """A store after a snapshot at t=10: A 20.5 °C RUNNING, B 21.5 °C, C FAULT running O1000."""
    store = TwinStore(STORE_IDS)
    store.apply(
        batch(
            [SA, SA, SB, SX, SC, SC],
            [TEMP, STATE, TEMP, TEMP, STATE, PROGRAM],
            [20.5, 0.0, 21.5, 99.0, 2.0, 0.0],
            [9.0, 9.0, 8.0, 9.0, 7.0, 7.0],
            snapshot=True,
            sent=10.0,
            texts=("O1000",),
        ),
        10.0,
    )
    return store


def nan_list(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(x) else float(x) for x in a]


# -- before anything arrives -------------------------------------------------------------


def test_empty_store_before_a_schema() -> None:
    store = TwinStore(STORE_IDS)
    assert (store.schema, store.properties, store.version, store.n_machines) == (None, (), 0, 4)
    assert store.value.shape == store.source_time.shape == store.recv_time.shape == (4, 0)
    assert store.column("temperature_c") is None and store.prop("temperature_c") is None
    assert store.code("state", "IDLE") is None and store.text("state", 0.0) is None
    assert nan_list(store.last_seen()) == [None] * 4
    assert store.age(5.0).tolist() == [np.inf] * 4
    assert store.stale(5.0, 10.0).tolist() == [True] * 4
    times, values = store.history("temperature_c")
    assert times.shape == (0,) and values.shape == (4, 0)
    assert store.display(0, "temperature_c") is None


@pytest.mark.parametrize(("capacity", "interval"), [(0, 1.0), (10, 0.0), (10, -1.0), (10, NAN)])
def test_history_settings_are_checked(capacity: int, interval: float) -> None:
    with pytest.raises(ValueError, match="history needs a capacity >= 1 and an interval > 0"):
        TwinStore(STORE_IDS, history_capacity=capacity, history_interval=interval)


# -- snapshots and deltas ------------------------------------------------------------------


def test_snapshot_lands_in_scene_order_and_counts_unknown_machines() -> None:
    store = TwinStore(STORE_IDS)
    changes = store.apply(
        batch(
            [SA, SA, SB, SX, SC, SC],
            [TEMP, STATE, TEMP, TEMP, STATE, PROGRAM],
            [20.5, 0.0, 21.5, 99.0, 2.0, 0.0],
            [9.0, 9.0, 8.0, 9.0, 7.0, 7.0],
            snapshot=True,
            sent=10.0,
            texts=("O1000",),
        ),
        10.0,
    )
    assert changes == Changes(applied=5, unknown=1, dropped_texts=0, snapshot=True)
    assert store.schema is SCHEMA and store.properties == PROPS
    assert store.prop("door_open") == PROPS[DOOR] and store.prop_index("program") == PROGRAM
    assert nan_list(store.column("temperature_c")) == [20.5, 21.5, None, None]  # type: ignore[arg-type]  # column() is Optional; the property exists in this schema
    assert nan_list(store.column("state")) == [0.0, None, 2.0, None]  # type: ignore[arg-type]  # column() is Optional; the property exists in this schema
    assert nan_list(store.source_time[:, TEMP]) == [9.0, 8.0, None, None]
    assert nan_list(store.recv_time[:, TEMP]) == [10.0, 10.0, None, None]
    assert store.display(C, "program") == "O1000"
    assert store.version >= 1


def test_a_snapshot_replaces_the_whole_state() -> None:
    store = snapshot_store()
    store.apply(batch([SB], [TOUCH], [0.0], 12.0, sent=12.0), 12.0)
    assert store.last_seen()[B] == 12.0
    store.apply(batch([SC], [DOOR], [1.0], 13.0, snapshot=True, sent=13.0), 13.0)
    assert np.isnan(store.value[[A, B, D]]).all()
    assert np.isnan(store.source_time[[A, B, D]]).all()
    assert np.isnan(store.recv_time[[A, B, D]]).all()
    assert nan_list(store.value[C]) == [None, None, 1.0, None, None]
    assert nan_list(store.last_seen()) == [None, None, 13.0, None]  # B's keep-alive is gone too


def test_a_delta_writes_only_its_cells() -> None:
    store = snapshot_store()
    version = store.version
    changes = store.apply(batch([SB, SB], [TEMP, DOOR], [22.0, 0.0], 11.0, sent=11.0), 11.5)
    assert changes == Changes(applied=2, unknown=0, dropped_texts=0, snapshot=False)
    assert nan_list(store.column("temperature_c")) == [20.5, 22.0, None, None]  # type: ignore[arg-type]  # column() is Optional; the property exists in this schema
    assert nan_list(store.column("door_open")) == [None, 0.0, None, None]  # type: ignore[arg-type]  # column() is Optional; the property exists in this schema
    assert nan_list(store.recv_time[:, TEMP]) == [10.0, 11.5, None, None]
    assert nan_list(store.source_time[:, TEMP]) == [9.0, 11.0, None, None]
    assert store.display(C, "state") == "FAULT"  # untouched
    assert store.version > version


def test_a_delta_only_for_unknown_machines_changes_nothing() -> None:
    store = snapshot_store()
    before = store.value.copy()
    changes = store.apply(batch([SX, SX, SA], [TEMP, TOUCH, DOOR], [1.0, 0.0, 1.0], 11.0), 11.0)
    assert changes == Changes(applied=1, unknown=2, dropped_texts=0, snapshot=False)
    before[A, DOOR] = 1.0
    np.testing.assert_array_equal(store.value, before)


def test_a_delta_cannot_bring_a_schema() -> None:
    store = TwinStore(STORE_IDS)
    with pytest.raises(ValueError, match="a delta cannot change the stream schema"):
        store.apply(batch([SA], [TEMP], [1.0], 1.0), 1.0)
    store = snapshot_store()
    other = StreamSchema(("A",), PROPS[:2])
    with pytest.raises(ValueError, match="a delta cannot change the stream schema"):
        store.apply(batch([0], [TEMP], [1.0], 1.0, schema=other), 11.0)
    assert store.schema is SCHEMA and store.column("temperature_c")[A] == 20.5  # type: ignore[index]  # column() is Optional; the property exists in this schema


def test_an_equal_schema_keeps_the_state() -> None:
    store = snapshot_store()
    same = StreamSchema(SCHEMA.machines, PROPS)
    store.set_schema(same)
    assert store.column("temperature_c")[A] == 20.5  # type: ignore[index]  # column() is Optional; the property exists in this schema
    # a delta decoded against an equal schema (a fresh connection's) is accepted
    store.apply(batch([SA], [TEMP], [30.0], 11.0, schema=same), 11.0)
    assert store.column("temperature_c")[A] == 30.0  # type: ignore[index]  # column() is Optional; the property exists in this schema


def test_a_snapshot_with_a_new_schema_drops_old_columns() -> None:
    store = snapshot_store()
    new = StreamSchema(
        ("A", "B"), (PropertySpec("temperature_c", "number"), PropertySpec("pressure", "number"))
    )
    store.apply(batch([1], [1], [2.5], 11.0, snapshot=True, sent=11.0, schema=new), 11.0)
    assert store.schema is new and store.properties == new.properties
    assert store.column("state") is None and store.prop("program") is None
    assert store.display(C, "state") is None
    assert nan_list(store.column("temperature_c")) == [None] * 4  # type: ignore[arg-type]  # column() is Optional; the property exists in this schema
    assert nan_list(store.column("pressure")) == [None, 2.5, None, None]  # type: ignore[arg-type]  # column() is Optional; the property exists in this schema
    times, values = store.history("temperature_c")
    assert values.shape == (4, len(times)) and np.isnan(values).all()


# -- keep-alives and dirty marks -------------------------------------------------------------


def test_keep_alive_refreshes_last_seen_but_not_values() -> None:
    store = snapshot_store()
    before = (store.value.copy(), store.source_time.copy(), store.recv_time.copy())
    changes = store.apply(
        batch([SC, SC], [TOUCH, TOUCH], [0.0, 0.0], [50.0, 40.0], sent=50.0), 50.0
    )
    assert changes.applied == 2
    for now_a, then in zip((store.value, store.source_time, store.recv_time), before, strict=True):
        np.testing.assert_array_equal(now_a, then)
    assert nan_list(store.last_seen()) == [9.0, 8.0, 50.0, None]
    assert store.age(60.0).tolist() == [51.0, 52.0, 10.0, np.inf]
    # a value newer than the keep-alive counts as well
    store.apply(batch([SC], [TEMP], [1.0], 55.0, sent=55.0), 55.0)
    assert store.last_seen()[C] == 55.0


def test_take_dirty_reports_written_machines_once() -> None:
    store = snapshot_store()
    store.take_dirty()
    store.apply(batch([SA, SC, SX], [TEMP, DOOR, TEMP], [1.0, 1.0, 1.0], 11.0), 11.0)
    assert store.take_dirty().tolist() == [True, False, True, False]
    assert store.take_dirty().tolist() == [False] * 4
    # a snapshot clears machines it leaves out: their visuals must be refreshed too
    store.apply(batch([SC], [TEMP], [2.0], 12.0, snapshot=True), 12.0)
    assert store.take_dirty()[[A, B, C]].tolist() == [True, True, True]


# -- texts ---------------------------------------------------------------------------------


def test_texts_are_interned_once_across_batches() -> None:
    store = snapshot_store()
    store.apply(
        batch([SA, SB], [PROGRAM, PROGRAM], [0.0, 1.0], 11.0, texts=("O2000", "O1000")), 11.0
    )
    code = store.code("program", "O1000")
    assert code is not None
    assert store.value[B, PROGRAM] == store.value[C, PROGRAM] == code
    assert store.text("program", code) == "O1000"
    assert store.display(A, "program") == "O2000"
    assert store.code("program", "O9999") is None
    assert store.text("program", 99.0) is None and store.text("program", NAN) is None
    assert store.code("state", "IDLE") == 1.0 and store.code("state", "BROKEN") is None
    assert store.text("state", 2.0) == "FAULT" and store.text("state", 3.0) is None
    assert store.code("temperature_c", "1") is None and store.text("temperature_c", 1.0) is None
    assert store.code("nope", "x") is None and store.text("nope", 0.0) is None


def test_the_text_table_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twin_store, "MAX_TEXTS", 2)
    store = TwinStore(STORE_IDS)
    changes = store.apply(
        batch(
            [SA, SB, SC],
            [PROGRAM] * 3,
            [0.0, 1.0, 2.0],
            1.0,
            snapshot=True,
            texts=("a", "b", "c"),
        ),
        1.0,
    )
    assert changes.dropped_texts == 1
    assert [store.display(m, "program") for m in (A, B, C)] == ["a", "b", None]
    # known texts still resolve; a new one is not stored
    changes = store.apply(batch([SA, SB], [PROGRAM] * 2, [1.0, 0.0], 2.0, texts=("d", "a")), 2.0)
    assert changes.dropped_texts == 1
    assert [store.display(m, "program") for m in (A, B, C)] == ["a", None, None]
    assert store.code("program", "d") is None


# -- ages and clock skew -------------------------------------------------------------------


def full_schema() -> StreamSchema:
    return StreamSchema(STORE_IDS, PROPS)


def test_a_server_clock_ahead_does_not_make_everything_stale() -> None:
    store = TwinStore(STORE_IDS)
    store.apply(
        batch([0, 1, 2, 3], [TEMP] * 4, [1.0] * 4, 1099.0, snapshot=True, sent=1100.0,
              schema=full_schema()),
        1000.0,
    )  # fmt: skip
    assert store.clock_offset == -100.0
    assert store.last_seen().tolist() == [999.0] * 4
    assert store.age(1000.0).tolist() == [1.0] * 4
    assert store.stale(1000.0, 5.0).tolist() == [False] * 4
    assert store.stale(1010.0, 5.0).tolist() == [True] * 4


def test_clock_offset_is_the_median_of_recent_batches() -> None:
    store = TwinStore(STORE_IDS)
    schema = full_schema()
    store.apply(
        batch([0], [TEMP], [1.0], 1099.0, snapshot=True, sent=1100.0, schema=schema), 1000.0
    )
    store.apply(batch([0], [TEMP], [1.0], 1100.0, sent=1101.0, schema=schema), 1001.0)
    store.apply(batch([0], [TEMP], [1.0], 600.0, sent=601.0, schema=schema), 1001.0)  # outlier
    assert store.clock_offset == -100.0
    for k in range(40):  # the window moves on: a new server clock takes over
        store.apply(
            batch([0], [TEMP], [1.0], 2000.0 + k, sent=2000.0 + k, schema=schema), 1000.0 + k
        )
    assert store.clock_offset == -1000.0


def test_a_machine_silent_before_the_snapshot_is_stale_at_once() -> None:
    store = TwinStore(STORE_IDS)
    store.apply(
        batch([0, 1], [TEMP, TEMP], [1.0, 2.0], [5000.0 - 3600.0, 4999.0], snapshot=True,
              sent=5000.0, schema=full_schema()),
        5000.0,
    )  # fmt: skip
    assert store.age(5000.0).tolist() == [3600.0, 1.0, np.inf, np.inf]
    assert store.stale(5000.0, 60.0).tolist() == [True, False, True, True]
    # per-machine time-to-live
    ttl = np.array([4000.0, 0.5, 10.0, 10.0])
    assert store.stale(5000.0, ttl).tolist() == [False, True, True, True]


def test_age_of_one_property() -> None:
    store = snapshot_store()
    store.apply(batch([SA], [DOOR], [1.0], 10.0, sent=10.0), 10.0)
    assert store.age(20.0, "door_open").tolist() == [10.0, np.inf, np.inf, np.inf]
    assert store.age(20.0, "temperature_c").tolist() == [11.0, 12.0, np.inf, np.inf]
    assert store.age(20.0, "nope").tolist() == [np.inf] * 4


# -- history -------------------------------------------------------------------------------


def temp_at(store: TwinStore, now: float, value: float) -> None:
    store.apply(
        batch([0], [TEMP], [value], now, sent=now, schema=store.schema or full_schema()), now
    )


def history_store() -> TwinStore:
    store = TwinStore(STORE_IDS, history_capacity=4, history_interval=1.0)
    store.apply(batch([1], [STATE], [0.0], 0.1, snapshot=True, sent=0.1, schema=full_schema()), 0.1)
    return store


def test_history_keeps_the_value_at_the_end_of_each_interval() -> None:
    store = history_store()
    for now, value in [(0.5, 1.0), (1.25, 2.0), (1.75, 2.5), (2.5, 3.0)]:
        temp_at(store, now, value)
    store.advance(3.0)
    times, values = store.history("temperature_c")
    assert times.tolist() == [1.0, 2.0, 3.0, 3.0]  # closed buckets at their end, then live
    assert values.shape == (4, 4)
    assert values[A].tolist() == [1.0, 2.5, 3.0, 3.0]
    assert np.isnan(values[[B, C, D]]).all()


def test_history_wraps_around_oldest_first() -> None:
    store = history_store()
    for now, value in [(0.5, 1.0), (1.5, 2.0), (2.5, 3.0), (3.5, 4.0), (4.5, 5.0), (5.5, 6.0)]:
        temp_at(store, now, value)
    store.advance(6.0)
    times, values = store.history("temperature_c")
    assert times.tolist() == [4.0, 5.0, 6.0, 6.0]
    assert values[A].tolist() == [4.0, 5.0, 6.0, 6.0]
    store.advance(5.0)  # the clock going back changes nothing
    assert store.history("temperature_c")[0].tolist() == [4.0, 5.0, 6.0, 6.0]


def test_history_of_one_machine_is_its_row_of_every_machines_history() -> None:
    store = history_store()
    for now, value in [(0.5, 1.0), (1.5, 2.0), (2.5, 3.0), (3.5, 4.0), (4.5, 5.0), (5.5, 6.0)]:
        temp_at(store, now, value)
    store.advance(6.0)
    times, values = store.history("temperature_c")
    for m in range(store.n_machines):
        one_times, one = store.history("temperature_c", m)
        assert one_times.tolist() == times.tolist()
        assert one.shape == (1, values.shape[1])
        assert nan_list(one[0]) == nan_list(values[m])
    assert store.history("temperature_c", A)[1][0].tolist() == [4.0, 5.0, 6.0, 6.0]
    assert store.history("state", A)[1].shape == (1, 0)


def test_history_over_a_long_gap_holds_the_last_value() -> None:
    store = history_store()
    temp_at(store, 0.5, 1.0)
    temp_at(store, 1.5, 2.0)
    store.advance(100.5)
    times, values = store.history("temperature_c")
    assert times.tolist() == [98.0, 99.0, 100.0, 100.0]
    assert values[A].tolist() == [2.0] * 4
    temp_at(store, 100.7, 7.0)
    assert store.history("temperature_c")[1][A].tolist() == [2.0, 2.0, 2.0, 7.0]


def test_history_values_are_float32_samples_of_float64_values() -> None:
    store = history_store()
    temp_at(store, 0.5, 20.1)
    store.advance(1.5)
    values = store.history("temperature_c")[1][A]
    assert values.dtype == np.float64
    assert values.tolist() == [float(np.float32(20.1)), 20.1]


@pytest.mark.parametrize("name", ["state", "door_open", "program", "nope"])
def test_history_only_for_numbers(name: str) -> None:
    store = history_store()
    store.advance(5.0)
    times, values = store.history(name)
    assert times.shape == (0,) and values.shape == (4, 0)


# -- display -------------------------------------------------------------------------------


def test_display_per_kind() -> None:
    store = TwinStore(STORE_IDS)
    store.apply(
        batch(
            [0, 0, 0, 0, 0, 1, 2],
            [STATE, TEMP, DOOR, PROGRAM, MAINT, DOOR, MAINT],
            [2.0, 21.5, 1.0, 0.0, 1.7e9, 0.0, 1e300],
            1.0,
            snapshot=True,
            texts=("O1000",),
            schema=full_schema(),
        ),
        1.0,
    )
    assert store.display(A, "state") == "FAULT"
    assert store.display(A, "temperature_c") == 21.5
    assert store.display(A, "door_open") is True
    assert store.display(B, "door_open") is False
    assert store.display(A, "program") == "O1000"
    assert store.display(A, "last_maintenance") == "2023-11-14T22:13:20+00:00"
    assert store.display(C, "last_maintenance") == 1e300  # beyond calendars: the number
    assert store.display(B, "temperature_c") is None
    assert store.display(A, "nope") is None
