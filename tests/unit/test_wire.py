"""Twin-stream frames: every property kind survives both encodings; every bad frame is refused."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twin_props import PROPS

from xrclient.core import twin_schema, wire
from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import TOUCH, UpdateBatch
from xrclient.core.wire import (
    WIRE_TOUCH,
    UpdateDecoder,
    WireError,
    decode_frame,
    decode_schema,
    encode_json,
    encode_msgpack,
    field_int,
    field_number,
    field_str,
)
from xrclient.core.wire_encode import encode_updates_binary, encode_updates_json

SCHEMA = StreamSchema(("A", "B", "C"), PROPS)
TEXT_OF: list[list[str]] = [[], [], [], ["O1000", "O2000", "O3000"], []]
STATE, TEMP, DOOR, PROGRAM, MAINT = range(5)

# A: every kind at t=100; B: keep-alive at t=101; C: three kinds at t=102.5
MACHINE = np.array([0, 0, 0, 0, 0, 1, 2, 2, 2], np.int32)
PROP = np.array([STATE, TEMP, DOOR, PROGRAM, MAINT, TOUCH, PROGRAM, DOOR, STATE], np.int32)
VALUE = np.array([2.0, 21.25, 1.0, 1.0, 1.7e9 + 0.5, 0.0, 0.0, 0.0, 0.0])
TIME = np.array([100.0] * 5 + [101.0] + [102.5] * 3)


def roundtrip(
    encoding: str,
    machine: np.ndarray,
    prop: np.ndarray,
    value: np.ndarray,
    time: np.ndarray,
    *,
    snapshot: bool = False,
) -> UpdateBatch:
    """Encode as the server does, send through the frame codec, decode as the client does."""
    head = {"type": "snapshot" if snapshot else "delta", "seq": 12, "sent": 1000.5}
    frame: str | bytes
    if encoding == "json":
        updates = encode_updates_json(SCHEMA, machine, prop, value, time, TEXT_OF)
        frame = encode_json({**head, "updates": updates})
    else:
        cols = encode_updates_binary(SCHEMA, machine, prop, value, time, TEXT_OF)
        frame = encode_msgpack({**head, **cols})
    return UpdateDecoder(SCHEMA).decode(decode_frame(frame), snapshot)


def texts_of(batch: UpdateBatch) -> list[str]:
    """The text of every string entry, in entry order."""
    return [batch.texts[int(v)] for v, p in zip(batch.value, batch.prop, strict=True) if p == 3]


# -- round trips ---------------------------------------------------------------------------


def test_json_entries_group_by_machine_and_time_with_readable_values() -> None:
    updates = encode_updates_json(SCHEMA, MACHINE, PROP, VALUE, TIME, TEXT_OF)
    assert updates == [
        [
            "A",
            100.0,
            {
                "state": "FAULT",
                "temperature_c": 21.25,
                "door_open": True,
                "program": "O2000",
                "last_maintenance": 1700000000.5,
            },
        ],
        ["B", 101.0, {}],
        ["C", 102.5, {"program": "O1000", "door_open": False, "state": "RUNNING"}],
    ]


def test_binary_columns_are_little_endian_with_keep_alive_marker() -> None:
    cols = encode_updates_binary(SCHEMA, MACHINE, PROP, VALUE, TIME, TEXT_OF)
    assert np.frombuffer(cols["m"], "<u4").tolist() == MACHINE.tolist()
    assert np.frombuffer(cols["p"], "<u2").tolist() == [0, 1, 2, 3, 4, WIRE_TOUCH, 3, 2, 0]
    assert np.frombuffer(cols["t"], "<f8").tolist() == TIME.tolist()
    # string values index this message's own text list, in entry order
    assert cols["x"] == ["O2000", "O1000"]
    assert np.frombuffer(cols["v"], "<f8").tolist() == [2, 21.25, 1, 0, 1.7e9 + 0.5, 0, 1, 0, 0]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
@pytest.mark.parametrize("snapshot", [False, True])
def test_every_kind_round_trips(encoding: str, snapshot: bool) -> None:
    batch = roundtrip(encoding, MACHINE, PROP, VALUE, TIME, snapshot=snapshot)
    assert batch.schema is SCHEMA
    assert (batch.snapshot, batch.seq, batch.sent) == (snapshot, 12, 1000.5)
    assert batch.machine.dtype == np.int32 and batch.prop.dtype == np.int32
    assert batch.value.dtype == np.float64 and batch.time.dtype == np.float64
    assert batch.machine.tolist() == MACHINE.tolist()
    assert batch.prop.tolist() == PROP.tolist()
    assert batch.time.tolist() == TIME.tolist()
    strings = PROP == PROGRAM
    assert batch.value[~strings].tolist() == VALUE[~strings].tolist()
    assert texts_of(batch) == ["O2000", "O1000"]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_texts_are_reindexed_per_message(encoding: str) -> None:
    machine = np.array([0, 1, 2], np.int32)
    prop = np.full(3, PROGRAM, np.int32)
    value = np.array([2.0, 0.0, 2.0])  # codes into TEXT_OF[PROGRAM]
    batch = roundtrip(encoding, machine, prop, value, np.full(3, 5.0))
    assert texts_of(batch) == ["O3000", "O1000", "O3000"]
    assert len(batch.texts) <= 3
    assert set(batch.value.tolist()) <= set(range(len(batch.texts)))


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_keep_alive_value_is_ignored(encoding: str) -> None:
    machine = np.array([1, 2], np.int32)
    prop = np.array([TOUCH, TOUCH], np.int32)
    value = np.array([np.nan, 7.0])  # whatever the sender held is not data
    batch = roundtrip(encoding, machine, prop, value, np.array([3.0, 4.0]))
    assert batch.prop.tolist() == [TOUCH, TOUCH]
    assert batch.value.tolist() == [0.0, 0.0]
    assert batch.time.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_empty_update_list(encoding: str) -> None:
    empty = np.zeros(0, np.int32)
    batch = roundtrip(encoding, empty, empty, np.zeros(0), np.zeros(0))
    assert len(batch) == 0 and batch.texts == ()
    assert batch.newest == 1000.5


def test_json_keep_alive_entry_and_integer_numbers() -> None:
    doc = {"seq": 1, "sent": 2, "updates": [["B", 7, {}], ["A", 8, {"temperature_c": -3}]]}
    batch = UpdateDecoder(SCHEMA).decode(doc, False)
    assert batch.machine.tolist() == [1, 0]
    assert batch.prop.tolist() == [TOUCH, TEMP]
    assert batch.value.tolist() == [0.0, -3.0]
    assert batch.time.tolist() == [7.0, 8.0]
    assert batch.sent == 2.0


def test_json_string_at_the_length_limit_is_accepted() -> None:
    text = "x" * twin_schema.MAX_STRING_CHARS
    batch = UpdateDecoder(SCHEMA).decode(
        {"seq": 1, "sent": 0, "updates": [["A", 1, {"program": text}]]}, False
    )
    assert batch.texts == (text,)


# -- hypothesis: both encodings decode to the same arrays ------------------------------------

_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Entries with distinct cells; keep-alives only for machines without values, as sent."""
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(-1, 4)),
            unique=True,
            max_size=15,
        )
    )
    with_values = {m for m, p in cells if p >= 0}
    cells = [(m, p) for m, p in cells if p >= 0 or m not in with_values]
    machine, prop, value, time = [], [], [], []
    for m, p in cells:
        machine.append(m)
        prop.append(p)
        time.append(draw(st.sampled_from([0.0, 1.5, 1.7e9])))
        if p in (STATE, PROGRAM):
            value.append(float(draw(st.integers(0, 2))))
        elif p == DOOR:
            value.append(float(draw(st.booleans())))
        elif p == TOUCH:
            value.append(0.0)
        else:
            value.append(draw(_finite))
    return (
        np.array(machine, np.int32),
        np.array(prop, np.int32),
        np.array(value, np.float64),
        np.array(time, np.float64),
    )


@settings(max_examples=150, deadline=None)
@given(batches())
def test_json_and_msgpack_round_trips_agree(
    cols: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    machine, prop, value, time = cols
    a = roundtrip("json", machine, prop, value, time)
    b = roundtrip("msgpack", machine, prop, value, time)
    for batch in (a, b):
        assert batch.machine.tolist() == machine.tolist()
        assert batch.prop.tolist() == prop.tolist()
        assert batch.time.tolist() == time.tolist()
        strings = prop == PROGRAM
        assert batch.value[~strings].tolist() == value[~strings].tolist()
        assert texts_of(batch) == [TEXT_OF[PROGRAM][int(v)] for v in value[strings]]
    # msgpack sends each distinct text once, so only the texts' codes may differ
    strings = prop == PROGRAM
    assert a.value[~strings].tolist() == b.value[~strings].tolist()
    assert len(b.texts) == len(set(b.texts))


# -- frames --------------------------------------------------------------------------------


def test_decode_frame_accepts_json_text_and_msgpack_bytes() -> None:
    assert decode_frame('{"type": "heartbeat", "seq": 3}') == {"type": "heartbeat", "seq": 3}
    packed = msgpack.packb({"type": "delta", "m": b"\x01\x00\x00\x00"})
    assert decode_frame(packed) == {"type": "delta", "m": b"\x01\x00\x00\x00"}
    assert orjson.loads(encode_json({"type": "x", "v": np.float64(1.5)})) == {"type": "x", "v": 1.5}
    assert msgpack.unpackb(encode_msgpack({"type": "x", "b": b"\x00"})) == {
        "type": "x",
        "b": b"\x00",
    }


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("{", "malformed JSON"),
        ("", "malformed JSON"),
        ('{"type": "x"} trailing', "malformed JSON"),
        ('{"type": "x", "v": NaN}', "malformed JSON"),
        ('{"type": "x", "v": 1' + "0" * 400 + "}", "malformed JSON"),
        ('{"type": "x", "v": 1e400}', "malformed JSON"),
        ('"\\ud800"', "malformed JSON"),
        ("[" * 5000 + "]" * 5000, "malformed JSON"),
        ("[1, 2]", "an object with a string 'type'"),
        ('"delta"', "an object with a string 'type'"),
        ("{}", "an object with a string 'type'"),
        ('{"type": 5}', "an object with a string 'type'"),
        ('{"type": null}', "an object with a string 'type'"),
    ],
)
def test_decode_frame_rejects_bad_json(frame: str, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_frame(frame)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"", "malformed msgpack: .*incomplete"),
        (b"\x92\x01", "malformed msgpack: .*incomplete"),
        (b"\xc1", r"malformed msgpack: \S"),  # reserved type byte
        (b"\x91" * 5000 + b"\xc0", "malformed msgpack: nested too deeply"),
        (b"\x81\x01\x02", "malformed msgpack: .*map key"),
        (b"\x80\x80", "malformed msgpack: .*extra data"),
        (b"\xc7\x05\x01abcde", "malformed msgpack: .*ext"),
        (msgpack.packb([1, 2]), "an object with a string 'type'"),
        (msgpack.packb({b"type": "delta"}), "an object with a string 'type'"),
        (msgpack.packb({"type": b"delta"}), "an object with a string 'type'"),
    ],
)
def test_decode_frame_rejects_bad_msgpack(frame: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_frame(frame)


def test_fields_are_typed_strictly() -> None:
    doc: dict[str, Any] = {"i": 3, "b": True, "f": 1.5, "s": "abc", "n": -1, "big": 2**53 + 1}
    assert field_int(doc, "i") == 3
    assert field_number(doc, "i") == 3.0 and field_number(doc, "f") == 1.5
    assert field_str(doc, "s", 3) == "abc"
    for key in ("b", "f", "s", "n", "big", "missing"):
        with pytest.raises(WireError, match=f"'{key}' must be an integer >= 0"):
            field_int(doc, key)
    with pytest.raises(WireError, match="'i' must be an integer >= 4"):
        field_int(doc, "i", 4)
    for bad in (True, "1", None, float("nan"), float("inf"), -float("inf")):
        with pytest.raises(WireError, match="'x' must be a finite number"):
            field_number({"x": bad}, "x")
    with pytest.raises(WireError, match="'s' must be a string of at most 2 characters"):
        field_str(doc, "s", 2)
    with pytest.raises(WireError, match="'i' must be a string"):
        field_str(doc, "i")


# -- JSON update rejections -----------------------------------------------------------------


def decode_json_updates(updates: object) -> UpdateBatch:
    return UpdateDecoder(SCHEMA).decode({"seq": 1, "sent": 0.0, "updates": updates}, False)


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"A": {}}, "'updates' must be a list"),
        ([5], r"updates\[0\]: expected \[machine, time, \{values\}\]"),
        ([["A", 1.0]], r"updates\[0\]: expected \[machine, time"),
        ([["A", 1.0, {}, 4]], r"updates\[0\]: expected \[machine, time"),
        ([["A", 1, {}], ["Z", 1, {}]], r"updates\[1\]: unknown machine 'Z'"),
        ([[0, 1, {}]], r"updates\[0\]: unknown machine '0'"),
        ([["A", 1, ["state", "IDLE"]]], r"updates\[0\]: values must be an object"),
        ([["A", 1, {"pressure": 1.0}]], r"updates\[0\]: unknown property 'pressure'"),
        ([["A", 1, {"temperature_c": True}]], "number properties and times must be numbers"),
        ([["A", 1, {"temperature_c": "21"}]], "number properties and times must be numbers"),
        ([["A", 1, {"temperature_c": None}]], "number properties and times must be numbers"),
        ([["A", 1, {"last_maintenance": [1]}]], "number properties and times must be numbers"),
        ([["A", "now", {"temperature_c": 1}]], "number properties and times must be numbers"),
        ([["A", True, {}]], "number properties and times must be numbers"),
        ([["A", None, {}]], "number properties and times must be numbers"),
        ([["A", 1, {"door_open": 1}]], r"updates\[0\]\.door_open: expected true or false"),
        ([["A", 1, {"door_open": "true"}]], r"door_open: expected true or false"),
        ([["A", 1, {"state": "EXPLODED"}]], r"updates\[0\]\.state: 'EXPLODED' is not a known"),
        ([["A", 1, {"state": "running"}]], r"state: 'running' is not a known value"),
        ([["A", 1, {"state": 1}]], r"updates\[0\]\.state: expected a string"),
        ([["A", 1, {"program": 1000}]], r"updates\[0\]\.program: expected a string"),
        ([["A", 1, {"program": "x" * 257}]], r"updates\[0\]\.program: text longer than 256"),
    ],
)
def test_json_updates_rejected(updates: object, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_json_updates(updates)


def test_json_updates_reject_huge_integers() -> None:
    # a JSON integer beyond float range never becomes a value
    with pytest.raises(WireError, match="malformed JSON"):
        decode_frame('{"type":"delta","updates":[["A",1,{"temperature_c":' + "9" * 400 + "}]]}")
    # one beyond the double range but passed as a Python int (msgpack cannot carry it)
    with pytest.raises(WireError, match="out of range"):
        decode_json_updates([["A", 1, {"temperature_c": 10**400}]])
    with pytest.raises(WireError, match="out of range"):
        decode_json_updates([["A", -(10**400), {}]])


def test_json_updates_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "MAX_ENTRIES", 3)
    four = [["A", 1, {}], ["B", 1, {}], ["C", 1, {}], ["A", 2, {}]]
    with pytest.raises(WireError, match="'updates' must be a list of at most 3 entries"):
        decode_json_updates(four)
    wide = [
        ["A", 1, {"temperature_c": 1.0, "state": "IDLE"}],
        ["B", 1, {"door_open": True, "program": "p"}],
    ]
    with pytest.raises(WireError, match="more than 3 update entries"):
        decode_json_updates(wide)
    assert len(decode_json_updates(four[:3])) == 3


def test_decode_needs_seq_and_sent() -> None:
    decoder = UpdateDecoder(SCHEMA)
    with pytest.raises(WireError, match="'seq' must be an integer >= 0"):
        decoder.decode({"seq": -1, "sent": 0, "updates": []}, False)
    with pytest.raises(WireError, match="'sent' must be a finite number"):
        decoder.decode({"seq": 1, "updates": []}, False)
    with pytest.raises(WireError, match="'m' must be bytes"):
        decoder.decode({"seq": 1, "sent": 0}, False)


# -- binary update rejections ---------------------------------------------------------------


def columns(
    m: list[int], p: list[int], v: list[float], t: list[float], x: list[str] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "seq": 1,
        "sent": 0.0,
        "m": np.array(m, "<u4").tobytes(),
        "p": np.array(p, "<u2").tobytes(),
        "v": np.array(v, "<f8").tobytes(),
        "t": np.array(t, "<f8").tobytes(),
    }
    if x is not None:
        doc["x"] = x
    return doc


def decode_binary(doc: dict[str, Any]) -> UpdateBatch:
    # through msgpack, as a client receives it
    return UpdateDecoder(SCHEMA).decode(
        decode_frame(encode_msgpack({"type": "delta", **doc})), False
    )


def test_binary_columns_decode() -> None:
    batch = decode_binary(
        columns([2, 0], [PROGRAM, WIRE_TOUCH], [1.0, 5.0], [9.0, 8.0], ["a", "b"])
    )
    assert batch.machine.tolist() == [2, 0]
    assert batch.prop.tolist() == [PROGRAM, TOUCH]
    assert batch.value.tolist() == [1.0, 0.0]
    assert batch.texts == ("a", "b")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"m": None}, "'m' must be bytes holding <u4 values"),
        ({"m": "\x00\x00\x00\x00"}, "'m' must be bytes holding <u4 values"),
        ({"p": b"\x00\x00\x00"}, "'p' must be bytes holding <u2 values"),
        ({"v": b"\x00" * 12}, "'v' must be bytes holding <f8 values"),
        ({"t": [1.0]}, "'t' must be bytes holding <f8 values"),
        ({"p": b"\x00\x00" * 2}, "columns 'm', 'p', 'v', 't' must have the same length"),
        ({"t": b""}, "columns 'm', 'p', 'v', 't' must have the same length"),
        ({"x": "abc"}, "'x' must be a list of strings of at most 256 chars"),
        ({"x": [b"abc"]}, "'x' must be a list of strings"),
        ({"x": [1]}, "'x' must be a list of strings"),
        ({"x": ["y" * 257]}, "'x' must be a list of strings of at most 256 chars"),
    ],
)
def test_binary_layout_rejected(change: dict[str, Any], message: str) -> None:
    doc = {**columns([0], [TEMP], [1.0], [1.0], []), **change}
    with pytest.raises(WireError, match=message):
        decode_binary(doc)


@pytest.mark.parametrize(
    ("m", "p", "v", "t", "message"),
    [
        (3, TEMP, 1.0, 1.0, "a machine index is out of range"),
        (2**32 - 1, TEMP, 1.0, 1.0, "a machine index is out of range"),
        (0, 5, 1.0, 1.0, "a property index is out of range"),
        (0, 0xFFFE, 1.0, 1.0, "a property index is out of range"),
        (0, TEMP, np.nan, 1.0, "values and times must be finite numbers"),
        (0, TEMP, np.inf, 1.0, "values and times must be finite numbers"),
        (0, MAINT, -np.inf, 1.0, "values and times must be finite numbers"),
        (0, TEMP, 1.0, np.nan, "values and times must be finite numbers"),
        (0, TEMP, 1.0, np.inf, "values and times must be finite numbers"),
        (0, WIRE_TOUCH, 0.0, -np.inf, "values and times must be finite numbers"),
        (0, STATE, 3.0, 1.0, "entry 1: 3.0 is not a valid code for 'state'"),
        (0, STATE, -1.0, 1.0, "entry 1: -1.0 is not a valid code for 'state'"),
        (0, STATE, 0.5, 1.0, "entry 1: 0.5 is not a valid code for 'state'"),
        (0, DOOR, 2.0, 1.0, "entry 1: 2.0 is not a valid code for 'door_open'"),
        (0, DOOR, 0.25, 1.0, "entry 1: 0.25 is not a valid code for 'door_open'"),
        (0, DOOR, -1.0, 1.0, "entry 1: -1.0 is not a valid code for 'door_open'"),
        (0, PROGRAM, 1.0, 1.0, "entry 1: 1.0 is not a valid code for 'program'"),
        (0, PROGRAM, -1.0, 1.0, "entry 1: -1.0 is not a valid code for 'program'"),
        (0, PROGRAM, 0.5, 1.0, "entry 1: 0.5 is not a valid code for 'program'"),
    ],
)
def test_binary_entries_rejected(m: int, p: int, v: float, t: float, message: str) -> None:
    # entry 0 is valid; the bad one is entry 1
    doc = columns([1, m], [TEMP, p], [20.0, v], [1.0, t], ["only"])
    with pytest.raises(WireError, match=message):
        decode_binary(doc)


def test_binary_accepts_every_valid_code() -> None:
    doc = columns(
        [0, 0, 0, 0, 0, 0, 0],
        [STATE, STATE, DOOR, DOOR, PROGRAM, TEMP, MAINT],
        [0.0, 2.0, 0.0, 1.0, 1.0, -1e300, -5.0],
        [1.0] * 7,
        ["a", "b"],
    )
    assert decode_binary(doc).value.tolist() == [0.0, 2.0, 0.0, 1.0, 1.0, -1e300, -5.0]


def test_binary_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "MAX_ENTRIES", 2)
    with pytest.raises(WireError, match="at most 2 entries"):
        decode_binary(columns([0, 1, 2], [TEMP] * 3, [1.0] * 3, [1.0] * 3))
    monkeypatch.setattr(wire, "MAX_TEXTS", 2)
    with pytest.raises(WireError, match="'x' must be a list of strings"):
        decode_binary(columns([0], [PROGRAM], [0.0], [1.0], ["a", "b", "c"]))
    assert len(decode_binary(columns([0, 1], [TEMP] * 2, [1.0] * 2, [1.0] * 2, ["a", "b"]))) == 2


# -- schema --------------------------------------------------------------------------------


def test_schema_round_trips() -> None:
    wired = orjson.loads(orjson.dumps(SCHEMA.to_wire()))
    assert wired["properties"][1] == {"name": "temperature_c", "kind": "number", "unit": "°C"}
    assert wired["properties"][2] == {"name": "door_open", "kind": "bool"}
    back = decode_schema(wired)
    assert back == SCHEMA
    assert back.machine_index == {"A": 0, "B": 1, "C": 2}
    assert back.prop("state") == PROPS[0] and back.prop("nope") is None


def schema_with(prop: object = None, machines: object = None) -> dict[str, Any]:
    return {
        "machines": ["A", "B"] if machines is None else machines,
        "properties": [{"name": "speed", "kind": "number"}] if prop is None else [prop],
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "'schema' must be an object"),
        ([], "'schema' must be an object"),
        ({"machines": ["A"]}, "'schema' needs 'machines' and 'properties' lists"),
        ({"machines": "A", "properties": []}, "'schema' needs 'machines' and 'properties' lists"),
        (schema_with("speed"), r"schema.properties\[0\]: expected name, kind, unit, values"),
        (
            schema_with({"name": "speed", "kind": "number", "min": 0}),
            r"schema.properties\[0\]: expected name, kind, unit, values",
        ),
        (schema_with({"name": 5, "kind": "number"}), "name and unit must be strings"),
        (schema_with({"name": "speed", "kind": "number", "unit": 5}), "name and unit must be"),
        (
            schema_with({"name": "s", "kind": "enum", "values": "AB"}),
            r"schema.properties\[0\].values: expected a list of strings",
        ),
        (
            schema_with({"name": "s", "kind": "enum", "values": ["A", 1]}),
            r"values: expected a list of strings",
        ),
        (schema_with({"name": "speed", "kind": "float"}), "unknown kind 'float'"),
        (schema_with({"name": "speed"}), "unknown kind None"),
        (schema_with({"name": "Speed", "kind": "number"}), "'Speed' is not a lower-case"),
        (schema_with({"name": "speed\n", "kind": "number"}), "is not a lower-case identifier"),
        (schema_with({"name": "", "kind": "number"}), "is not a lower-case identifier"),
        (schema_with({"name": "a" * 65, "kind": "number"}), "is not a lower-case identifier"),
        (schema_with({"name": "s", "kind": "enum"}), "an enum needs 1 to 256 values"),
        (
            schema_with({"name": "s", "kind": "enum", "values": ["A"] * 2}),
            "duplicate enum values",
        ),
        (schema_with({"name": "s", "kind": "enum", "values": ["A B"]}), "bad enum value 'A B'"),
        (schema_with({"name": "s", "kind": "enum", "values": ["AB\n"]}), "bad enum value"),
        (
            schema_with({"name": "s", "kind": "enum", "values": [f"V{i}" for i in range(257)]}),
            "an enum needs 1 to 256 values",
        ),
        (
            schema_with({"name": "s", "kind": "number", "values": ["A"]}),
            "only enums have values",
        ),
        (schema_with({"name": "s", "kind": "number", "unit": "x" * 17}), "bad unit"),
        (schema_with({"name": "s", "kind": "number", "unit": "m\n"}), "bad unit"),
        (schema_with(machines=["A", "A"]), "schema: duplicate machine ids"),
        (schema_with(machines=["A", 5]), "schema: bad machine id 5"),
        (schema_with(machines=["A B"]), "schema: bad machine id 'A B'"),
        (schema_with(machines=["A\n"]), "schema: bad machine id"),
        (schema_with(machines=["x" * 65]), "schema: bad machine id"),
        (
            {"machines": [], "properties": [{"name": "s", "kind": "bool"}] * 2},
            "schema: duplicate property names",
        ),
    ],
)
def test_schema_rejected(value: object, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_schema(value)


def test_schema_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twin_schema, "MAX_MACHINES", 2)
    monkeypatch.setattr(twin_schema, "MAX_PROPERTIES", 1)
    with pytest.raises(WireError, match=r"schema: 3 machines \(at most 2\)"):
        decode_schema(schema_with(machines=["A", "B", "C"]))
    two = {
        "machines": [],
        "properties": [{"name": "a", "kind": "bool"}, {"name": "b", "kind": "bool"}],
    }
    with pytest.raises(WireError, match=r"schema: 2 properties \(at most 1\)"):
        decode_schema(two)
    assert decode_schema(schema_with()).machines == ("A", "B")
