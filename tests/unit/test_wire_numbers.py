"""JSON update values: numbers are converted in bulk, yet a bool or null is never a number,
wherever it sits in a message, and the first malformed entry is still named."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from twin_props import PROPS

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import UpdateBatch
from xrclient.core.wire import UpdateDecoder, WireError

IDS = tuple(f"M{i}" for i in range(50))
SCHEMA = StreamSchema(IDS, PROPS)


def decode(updates: object) -> UpdateBatch:
    return UpdateDecoder(SCHEMA).decode({"seq": 1, "sent": 0.0, "updates": updates}, False)


def full(n: int = 50) -> list[list[Any]]:
    """Every machine with the same keys, as a full delta is sent."""
    return [
        [f"M{i}", 100.0 + i, {"temperature_c": float(i % 3), "state": "IDLE", "door_open": False}]
        for i in range(n)
    ]


def test_zero_and_one_are_numbers_and_bools_are_codes() -> None:
    updates = full()
    updates[7][2]["temperature_c"] = 1  # an int 1: a number
    updates[8][1] = 0  # an int time of 0
    batch = decode(updates)
    temps = batch.value[batch.prop == 1]
    assert temps.tolist() == [float(i % 3) if i != 7 else 1.0 for i in range(50)]
    assert batch.time[batch.machine == 8].tolist() == [0.0] * 3
    assert (batch.value[batch.prop == 2] == 0.0).all()  # door_open false


@pytest.mark.parametrize("bad", [True, False, None])
@pytest.mark.parametrize("where", [0, 23, 49])
def test_a_bool_or_null_among_numbers_is_refused(bad: object, where: int) -> None:
    updates = full()
    updates[where][2]["temperature_c"] = bad
    with pytest.raises(WireError, match="number properties and times must be numbers"):
        decode(updates)
    updates = full()
    updates[where][1] = bad
    with pytest.raises(WireError, match="number properties and times must be numbers"):
        decode(updates)


def test_mixed_key_sets_convert_like_one_by_one() -> None:
    updates: list[list[Any]] = [
        ["M0", 1.0, {"temperature_c": 20.5}],
        ["M1", 2.0, {"state": "FAULT", "program": "P9"}],
        ["M2", 3.0, {}],  # a keep-alive
        ["M3", 4, {"door_open": True, "temperature_c": -1}],
    ]
    batch = decode(updates)
    assert batch.machine.tolist() == [0, 1, 1, 2, 3, 3]
    assert batch.prop.tolist() == [1, 0, 3, -1, 2, 1]
    assert batch.value.tolist() == [20.5, 2.0, 0.0, 0.0, 1.0, -1.0]
    assert batch.time.tolist() == [1.0, 2.0, 2.0, 3.0, 4.0, 4.0]
    assert batch.texts == ("P9",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda u: u.__setitem__(30, ["M30", 1.0]), r"updates\[30\]: expected \[machine"),
        (lambda u: u.__setitem__(30, "M30"), r"updates\[30\]: expected \[machine"),
        (lambda u: u[30].__setitem__(0, ["M30"]), r"updates\[30\]: unknown machine"),
        (lambda u: u[30].__setitem__(0, 30), r"updates\[30\]: unknown machine '30'"),
        (lambda u: u[30].__setitem__(2, [1]), r"updates\[30\]: values must be an object"),
        (lambda u: u[30][2].__setitem__("pressure", 1), r"updates\[30\]: unknown property"),
    ],
)
def test_the_first_malformed_entry_is_named(change: Any, message: str) -> None:
    updates = full()
    change(updates)
    updates[40][0] = "nope"  # a later fault: not the one reported
    with pytest.raises(WireError, match=message):
        decode(updates)


def test_out_of_range_and_wrong_types_keep_their_order() -> None:
    updates = full()
    updates[3][2]["temperature_c"] = 10**400
    with pytest.raises(WireError, match="out of range"):
        decode(updates)
    updates[5][1] = "soon"  # a wrong type anywhere is named before the range
    with pytest.raises(WireError, match="must be numbers"):
        decode(updates)
    assert np.isfinite(decode(full()).value).all()
