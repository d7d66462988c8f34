"""The twin-stream client protocol: states, sequence rules, resyncs; client message parsing."""

from __future__ import annotations

from typing import Any

import hypothesis
import msgpack
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twin_props import PROPS

from xrclient.core.protocol import (
    MAX_CLIENT_FRAME,
    PROTOCOL_VERSION,
    ClientMessageError,
    ControlAck,
    ControlRequest,
    Dropped,
    Event,
    Failed,
    Heartbeat,
    ResyncNeeded,
    ResyncRequest,
    ServerError,
    State,
    TwinClientProtocol,
    Updates,
    Welcome,
    error_message,
    parse_client_message,
    welcome_message,
)
from xrclient.core.twin_schema import StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import TOUCH
from xrclient.core.wire import (
    encode_json,
    encode_msgpack,
)
from xrclient.core.wire_encode import encode_updates_binary, encode_updates_json

SCHEMA = StreamSchema(("A", "B", "C"), PROPS)
RESYNC = '{"type":"resync"}'


def welcome(**change: Any) -> str:
    return encode_json({**welcome_message(SCHEMA, "json", 1.0, "test-server"), **change})


def updates(kind: str, seq: int, entries: list[list[Any]] | None = None, **change: Any) -> str:
    doc = {"type": kind, "seq": seq, "sent": 100.0 + seq, "updates": entries or [], **change}
    return encode_json(doc)


def delta(seq: int, temp: float = 20.0, **change: Any) -> str:
    return updates("delta", seq, [["A", 100.0 + seq, {"temperature_c": temp}]], **change)


def snapshot(seq: int, **change: Any) -> str:
    return updates("snapshot", seq, [["B", 90.0, {"state": "IDLE", "door_open": True}]], **change)


def heartbeat(seq: int) -> str:
    return encode_json({"type": "heartbeat", "seq": seq, "sent": 500.0})


def live(seq: int = 5) -> TwinClientProtocol:
    proto = TwinClientProtocol()
    proto.receive(welcome())
    proto.receive(snapshot(seq))
    assert proto.state is State.LIVE
    return proto


def one(events: list[Event]) -> Event:
    assert len(events) == 1, events
    return events[0]


# -- the happy path ------------------------------------------------------------------------


def test_welcome_snapshot_deltas() -> None:
    proto = TwinClientProtocol()
    assert proto.state is State.AWAIT_WELCOME
    event = one(proto.receive(welcome()))
    assert event == Welcome(SCHEMA, "json", 1.0, "test-server")
    assert proto.state is State.AWAIT_SNAPSHOT and proto.schema == SCHEMA

    event = one(proto.receive(snapshot(5)))
    assert isinstance(event, Updates)
    batch = event.batch
    assert (batch.snapshot, batch.seq, batch.sent) == (True, 5, 105.0)
    assert batch.machine.tolist() == [1, 1] and batch.prop.tolist() == [0, 2]
    assert batch.value.tolist() == [1.0, 1.0]
    assert proto.state is State.LIVE and proto.last_seq == 5

    for seq in (6, 7):
        event = one(proto.receive(delta(seq, temp=seq / 2)))
        assert isinstance(event, Updates)
        assert (event.batch.snapshot, event.batch.seq) == (False, seq)
        assert event.batch.value.tolist() == [seq / 2]
    assert proto.last_seq == 7 and proto.state is State.LIVE
    assert proto.data_to_send() == []
    assert (proto.resyncs, proto.invalid_messages) == (0, 0)


def test_binary_frames_and_a_tiny_heartbeat_interval() -> None:
    proto = TwinClientProtocol()
    event = one(proto.receive(welcome(heartbeat_s=0.0, encoding="msgpack")))
    assert isinstance(event, Welcome) and event.heartbeat_s == 0.05 and event.encoding == "msgpack"
    cols = encode_updates_binary(
        SCHEMA,
        np.array([2, 0]),
        np.array([3, TOUCH]),
        np.array([1.0, 0.0]),
        np.array([7.0, 8.0]),
        [[], [], [], ["x", "y"], []],
    )
    frame = encode_msgpack({"type": "snapshot", "seq": 0, "sent": 9.0, **cols})
    event = one(proto.receive(frame))
    assert isinstance(event, Updates)
    assert event.batch.texts == ("y",) and event.batch.prop.tolist() == [3, TOUCH]
    assert proto.state is State.LIVE and proto.last_seq == 0


def test_welcome_without_server_name() -> None:
    doc = welcome_message(SCHEMA, "json", 2.0, "x")
    del doc["server"]
    event = one(TwinClientProtocol().receive(encode_json(doc)))
    assert event == Welcome(SCHEMA, "json", 2.0, "")


# -- sequence rules ------------------------------------------------------------------------


def test_duplicate_and_old_deltas_are_dropped() -> None:
    proto = live(5)
    one(proto.receive(delta(6)))
    for seq in (6, 5, 0):
        event = one(proto.receive(delta(seq)))
        assert (
            isinstance(event, Dropped) and f"delta {seq} already applied (last 6)" in event.reason
        )
    assert proto.last_seq == 6 and proto.state is State.LIVE
    assert proto.data_to_send() == [] and proto.resyncs == 0


def test_a_gap_asks_for_one_resync_and_a_snapshot_recovers() -> None:
    proto = live(5)
    event = one(proto.receive(delta(8)))
    assert event == ResyncNeeded("sequence gap: expected 6, got 8")
    assert proto.state is State.RESYNC and proto.resyncs == 1
    # everything until the snapshot is dropped, and no second request goes out
    for frame in (
        delta(9),
        delta(6),
        encode_json({"type": "delta", "seq": "bad"}),
        "garbage",
        heartbeat(12),
    ):
        events = proto.receive(frame)
        assert all(not isinstance(e, (Updates, Failed)) for e in events)
    assert isinstance(one(proto.receive(delta(11))), Dropped)
    assert proto.data_to_send() == [RESYNC]
    assert proto.resyncs == 1 and proto.last_seq == 5

    event = one(proto.receive(snapshot(12)))
    assert isinstance(event, Updates) and event.batch.snapshot
    assert proto.state is State.LIVE and proto.last_seq == 12
    assert isinstance(one(proto.receive(delta(13))), Updates)
    # a later gap is a new episode: a new request
    assert isinstance(one(proto.receive(delta(15))), ResyncNeeded)
    assert proto.data_to_send() == [RESYNC] and proto.resyncs == 2


def test_heartbeats() -> None:
    proto = TwinClientProtocol()
    proto.receive(welcome())
    assert one(proto.receive(heartbeat(3))) == Heartbeat(3, 500.0)  # before the snapshot
    assert proto.state is State.AWAIT_SNAPSHOT
    proto.receive(snapshot(5))
    assert one(proto.receive(heartbeat(5))) == Heartbeat(5, 500.0)
    assert one(proto.receive(heartbeat(4))) == Heartbeat(4, 500.0)
    assert proto.data_to_send() == []
    # the server sent a delta we never saw
    event = one(proto.receive(heartbeat(6)))
    assert event == ResyncNeeded("heartbeat at seq 6, last applied 5")
    assert proto.data_to_send() == [RESYNC] and proto.state is State.RESYNC
    assert one(proto.receive(heartbeat(7))) == Heartbeat(7, 500.0)
    assert proto.data_to_send() == []


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (updates("delta", 6, [["Z", 1.0, {}]]), "bad 'delta': updates[0]: unknown machine 'Z'"),
        (updates("delta", 6, [["A", 1.0, {"state": "NOPE"}]]), "is not a known value"),
        (updates("delta", 6, sent="x"), "bad 'delta': 'sent' must be a finite number"),
        (updates("delta", -1), "bad 'delta': 'seq' must be an integer >= 0"),
        (encode_json({"type": "delta", "seq": 6, "sent": 1.0, "m": "x"}), "'m' must be bytes"),
        (encode_json({"type": "heartbeat", "seq": True, "sent": 1}), "bad 'heartbeat'"),
        ("{not json", "malformed JSON"),
        (b"\xc1", "malformed msgpack"),
        (encode_json({"kind": "delta"}), "an object with a string 'type'"),
    ],
)
def test_an_invalid_message_while_live_asks_for_a_resync(frame: str | bytes, reason: str) -> None:
    proto = live(5)
    event = one(proto.receive(frame))
    assert isinstance(event, ResyncNeeded) and reason in event.reason
    assert proto.state is State.RESYNC and proto.last_seq == 5
    assert proto.invalid_messages == 1
    assert proto.data_to_send() == [RESYNC]
    assert isinstance(one(proto.receive(snapshot(9))), Updates)
    assert proto.state is State.LIVE


def test_a_resync_asked_for_outside_live_changes_nothing() -> None:
    proto = TwinClientProtocol()
    assert proto.request_resync("impatient") == ResyncNeeded("impatient")
    assert proto.state is State.AWAIT_WELCOME and proto.data_to_send() == []
    assert isinstance(one(proto.receive(welcome())), Welcome)
    proto.request_resync("still impatient")
    assert proto.state is State.AWAIT_SNAPSHOT and proto.data_to_send() == []
    assert isinstance(one(proto.receive(snapshot(2))), Updates)
    proto.request_resync("operator asked")
    assert proto.state is State.RESYNC and proto.data_to_send() == [RESYNC]
    assert proto.resyncs == 1


# -- fatal violations ----------------------------------------------------------------------


@pytest.mark.parametrize("state_frames", [0, 1, 2])
def test_unknown_message_types_are_skipped_in_any_state(state_frames: int) -> None:
    proto = TwinClientProtocol()
    for frame in [welcome(), snapshot(1)][:state_frames]:
        proto.receive(frame)
    before = proto.state
    event = one(proto.receive(encode_json({"type": "stats", "load": 3})))
    assert isinstance(event, Dropped) and "unknown message type 'stats'" in event.reason
    assert proto.state is before and proto.data_to_send() == []
    assert proto.invalid_messages == 0


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([welcome(protocol=2)], f"server speaks protocol 2, this client {PROTOCOL_VERSION}"),
        ([welcome(protocol=0)], "bad 'welcome': 'protocol' must be an integer >= 1"),
        ([welcome(protocol="1")], "bad 'welcome': 'protocol' must be an integer"),
        ([welcome(schema=None)], "bad 'welcome': 'schema' must be an object"),
        ([welcome(schema={"machines": ["A", "A"], "properties": []})], "duplicate machine"),
        ([welcome(heartbeat_s="1")], "bad 'welcome': 'heartbeat_s' must be a finite number"),
        ([welcome(encoding=None)], "bad 'welcome': 'encoding' must be a string"),
        ([welcome(server=["x"])], "bad 'welcome': 'server' must be a string"),
        ([delta(1)], "unexpected 'delta' in state await_welcome"),
        ([snapshot(1)], "unexpected 'snapshot' in state await_welcome"),
        ([heartbeat(1)], "unexpected 'heartbeat' in state await_welcome"),
        (["[]"], "an object with a string 'type'"),
        ([welcome(), welcome()], "unexpected 'welcome' in state await_snapshot"),
        ([welcome(), delta(1)], "unexpected 'delta' in state await_snapshot"),
        ([welcome(), "{"], "malformed JSON"),
        ([welcome(), snapshot(1, updates=[["Z", 1.0, {}]])], "bad 'snapshot': updates[0]"),
        (
            [welcome(), encode_json({"type": "snapshot", "seq": None, "sent": 1.0, "updates": []})],
            "bad 'snapshot': 'seq' must be an integer",
        ),
        ([welcome(), snapshot(1), welcome()], "unexpected 'welcome' in state live"),
        ([welcome(), snapshot(1), delta(3), welcome()], "unexpected 'welcome' in state resync"),
        # a bad snapshot while resyncing would leave nothing to wait for: fatal
        ([welcome(), snapshot(1), delta(3), snapshot(4, sent=None)], "bad 'snapshot'"),
        ([welcome(), snapshot(1), snapshot(2, updates=7)], "bad 'snapshot'"),
    ],
)
def test_protocol_violations_fail_the_connection(frames: list[str], reason: str) -> None:
    proto = TwinClientProtocol()
    for frame in frames[:-1]:
        proto.receive(frame)
    proto.data_to_send()
    event = one(proto.receive(frames[-1]))
    assert isinstance(event, Failed) and reason in event.reason
    assert proto.state is State.FAILED
    # nothing more comes out of a failed connection
    for frame in (welcome(), snapshot(7), delta(8), heartbeat(9), '{"type":"control_ack"}'):
        assert proto.receive(frame) == []
    assert proto.state is State.FAILED and proto.data_to_send() == []


# -- errors, acknowledgements, control requests ----------------------------------------------


@pytest.mark.parametrize("before", [[], [welcome()], [welcome(), snapshot(1)]])
def test_server_errors_and_acks_in_any_state(before: list[str]) -> None:
    proto = TwinClientProtocol()
    for frame in before:
        proto.receive(frame)
    state = proto.state
    err = error_message("unknown_machine", "no machine 'Z'", 7)
    assert one(proto.receive(encode_json(err))) == ServerError(
        "unknown_machine", "no machine 'Z'", 7
    )
    err = error_message("rate_limited", "slow down")
    assert one(proto.receive(encode_json(err))) == ServerError("rate_limited", "slow down", None)
    odd_id = encode_json({**err, "id": "7"})
    assert one(proto.receive(odd_id)) == ServerError("rate_limited", "slow down", None)
    ack = encode_json({"type": "control_ack", "id": 8, "result": "fault injected"})
    assert one(proto.receive(ack)) == ControlAck(8, "fault injected")
    assert proto.state is state and proto.data_to_send() == []
    assert proto.invalid_messages == 0


def test_malformed_error_or_ack_never_escapes() -> None:
    proto = live(1)
    for doc in ({"type": "error", "code": 5, "message": "x"}, {"type": "control_ack", "id": -1}):
        events = proto.receive(encode_json(doc))
        assert len(events) == 1 and not isinstance(events[0], (ServerError, ControlAck, Failed))
    assert proto.invalid_messages == 2


def test_control_requests_are_queued_as_json() -> None:
    proto = TwinClientProtocol()
    proto.control(7, "inject_fault", machine="CNC-A1", fault="bearing_wear", duration_s=600)
    proto.control(9, "set_state", machine="P-B1", state="LOCKED_OUT")
    sent = proto.data_to_send()
    assert [orjson.loads(s) for s in sent] == [
        {
            "type": "control",
            "id": 7,
            "action": "inject_fault",
            "machine": "CNC-A1",
            "fault": "bearing_wear",
            "duration_s": 600,
        },
        {
            "type": "control",
            "id": 9,
            "action": "set_state",
            "machine": "P-B1",
            "state": "LOCKED_OUT",
        },
    ]
    assert proto.data_to_send() == []
    # what the client sends, the server reads back
    request = parse_client_message(sent[0])
    assert request == ControlRequest(
        7,
        {"action": "inject_fault", "machine": "CNC-A1", "fault": "bearing_wear", "duration_s": 600},
    )


# -- client messages on the server side --------------------------------------------------------


def test_parse_client_messages() -> None:
    assert parse_client_message(RESYNC) == ResyncRequest()
    assert parse_client_message('{"type":"resync","extra":1}') == ResyncRequest()
    msg = '{"type":"control","id":8,"action":"clear_fault","machine":"CNC-A1"}'
    assert parse_client_message(msg) == ControlRequest(
        8, {"action": "clear_fault", "machine": "CNC-A1"}
    )
    assert parse_client_message('{"type":"control","id":0}') == ControlRequest(0, {})


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b'{"type":"resync"}', "clients send JSON text frames"),
        ('{"type":"resync","pad":"' + "x" * MAX_CLIENT_FRAME + '"}', "frame larger than 65536"),
        ("{", "malformed JSON"),
        ("[1]", "an object with a string 'type'"),
        ('{"type":1}', "an object with a string 'type'"),
        ('{"type":"subscribe"}', "unknown message type 'subscribe'"),
        ('{"type":"' + "q" * 100 + '"}', "unknown message type '" + "q" * 40 + "'"),
        ('{"type":"control","action":"x"}', "'id' must be a non-negative integer"),
        ('{"type":"control","id":-1}', "'id' must be a non-negative integer"),
        ('{"type":"control","id":true}', "'id' must be a non-negative integer"),
        ('{"type":"control","id":1.0}', "'id' must be a non-negative integer"),
        ('{"type":"control","id":"1"}', "'id' must be a non-negative integer"),
        ('{"type":"control","id":9007199254740993}', "'id' must be a non-negative integer"),
    ],
)
def test_bad_client_messages(frame: str | bytes, message: str) -> None:
    with pytest.raises(ClientMessageError) as info:
        parse_client_message(frame)
    assert info.value.code == "bad_request"
    assert message in info.value.message and message in str(info.value)
    assert info.value.request_id is None


def test_server_message_builders() -> None:
    doc = welcome_message(SCHEMA, "msgpack", 0.5, "plant-1")
    assert doc == {
        "type": "welcome",
        "protocol": 1,
        "encoding": "msgpack",
        "heartbeat_s": 0.5,
        "server": "plant-1",
        "schema": SCHEMA.to_wire(),
    }
    assert error_message("forbidden", "no") == {
        "type": "error",
        "code": "forbidden",
        "message": "no",
    }
    assert error_message("internal", "oops", 3)["id"] == 3


# -- hypothesis: nothing a server sends makes the client raise -----------------------------------

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_plausible = {
    "type": st.sampled_from(
        ["welcome", "snapshot", "delta", "heartbeat", "error", "control_ack", "resync", "other"]
    ),
    "seq": st.integers(-2, 12) | _json,
    "sent": st.floats(allow_nan=False, allow_infinity=False) | _json,
    "protocol": st.sampled_from([1, 2, 0, "1"]),
    "heartbeat_s": st.floats(allow_nan=False, allow_infinity=False) | _json,
    "encoding": st.sampled_from(["json", "msgpack"]) | _json,
    "server": _json,
    "schema": st.sampled_from([SCHEMA.to_wire(), {"machines": [], "properties": []}]) | _json,
    "updates": st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "Z"]) | _json,
            st.floats(allow_nan=False, allow_infinity=False) | _json,
            st.dictionaries(
                st.sampled_from([p.name for p in PROPS] + ["nope"]),
                st.sampled_from([1.5, True, "IDLE", "x" * 300, None, -1]) | _json,
                max_size=3,
            )
            | _json,
        ).map(list)
        | _json,
        max_size=4,
    )
    | _json,
    "code": _json,
    "message": _json,
    "id": _json,
    "result": _json,
}
_binary_plausible = {
    **_plausible,
    "m": st.binary(max_size=12),
    "p": st.binary(max_size=8),
    "v": st.binary(max_size=24),
    "t": st.binary(max_size=24),
    "x": st.lists(st.text(max_size=4), max_size=3) | _json,
    "sent": st.floats() | _json,  # NaN and inf travel in msgpack
}
_text_doc = st.fixed_dictionaries({}, optional=_plausible)
_binary_doc = st.fixed_dictionaries({}, optional=_binary_plausible)
_frames = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    _text_doc.map(lambda d: orjson.dumps(d).decode()),
    _binary_doc.map(lambda d: msgpack.packb(d, use_bin_type=True)),
    st.integers(0, 20).map(delta),
    st.integers(0, 20).map(snapshot),
    st.integers(0, 20).map(heartbeat),
    st.just(welcome()),
)
_prefixes = st.sampled_from(
    [
        [],
        [welcome()],
        [welcome(), snapshot(3)],
        [welcome(), snapshot(3), delta(5)],
    ]
)


@settings(max_examples=300, deadline=None)
@given(_prefixes, st.lists(_frames, max_size=6))
def test_receive_never_raises(prefix: list[str], frames: list[str | bytes]) -> None:
    proto = TwinClientProtocol()
    for frame in [*prefix, *frames]:
        resync_before = proto.state is State.RESYNC
        events = proto.receive(frame)
        assert len(events) <= 1
        for event in events:
            assert isinstance(
                event,
                (
                    Welcome,
                    Updates,
                    Heartbeat,
                    ControlAck,
                    ServerError,
                    Dropped,
                    ResyncNeeded,
                    Failed,
                ),
            )
        if any(isinstance(e, Failed) for e in events):
            assert proto.state is State.FAILED
        # a resync request goes out exactly when the connection starts resyncing
        entered_resync = not resync_before and proto.state is State.RESYNC
        assert proto.data_to_send() == ([RESYNC] if entered_resync else [])


# -- hypothesis: a lossy, shuffled stream still converges after a resync ---------------------------

N_MACHINES = 3


class Truth:
    """The server side: state per machine and property, and the deltas that changed it."""

    def __init__(self) -> None:
        self.values = np.full((N_MACHINES, len(PROPS)), np.nan)
        self.times = np.full((N_MACHINES, len(PROPS)), np.nan)
        self.texts = [["", "O1", "O2", "O3"] if p.kind == "string" else [] for p in PROPS]
        self.seq = 0

    def change(
        self, entries: list[tuple[int, int, int]], now: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        m = np.array([e[0] for e in entries], np.int32)
        p = np.array([e[1] for e in entries], np.int32)
        v = np.array([self.value_for(e[1], e[2]) for e in entries], np.float64)
        t = np.full(len(entries), now)
        self.values[m, p] = v
        self.times[m, p] = now
        return m, p, v, t

    @staticmethod
    def value_for(prop: int, k: int) -> float:
        kind = PROPS[prop].kind
        if kind in ("enum", "string"):
            return float(k % 3 + (kind == "string"))
        if kind == "bool":
            return float(k % 2)
        return k * 1.5

    def frame(self, kind: str, cols: tuple[np.ndarray, ...], binary: bool) -> str | bytes:
        head = {"type": kind, "seq": self.seq, "sent": 1000.0 + self.seq}
        if binary:
            return encode_msgpack({**head, **encode_updates_binary(SCHEMA, *cols, self.texts)})
        return encode_json({**head, "updates": encode_updates_json(SCHEMA, *cols, self.texts)})

    def snapshot(self, binary: bool) -> str | bytes:
        m, p = np.nonzero(~np.isnan(self.values))
        cols = (m, p, self.values[m, p], self.times[m, p])
        return self.frame("snapshot", cols, binary)


def same_as_truth(store: TwinStore, truth: Truth) -> bool:
    ours = store.value.copy()
    theirs = truth.values.copy()
    for p, spec in enumerate(PROPS):
        if spec.kind == "string":
            a = [store.text(spec.name, v) for v in ours[:, p]]
            b = [None if np.isnan(v) else truth.texts[p][int(v)] for v in theirs[:, p]]
            if a != b:
                return False
            ours[:, p] = theirs[:, p] = 0.0
    return bool(
        np.array_equal(ours, theirs, equal_nan=True)
        and np.array_equal(store.source_time, truth.times, equal_nan=True)
    )


_change = st.lists(
    st.tuples(st.integers(0, N_MACHINES - 1), st.integers(0, len(PROPS) - 1), st.integers(0, 9)),
    min_size=1,
    max_size=4,
    unique_by=lambda e: (e[0], e[1]),
)
_fate = st.sampled_from(["deliver"] * 6 + ["drop", "duplicate", "swap", "corrupt"])


@settings(max_examples=120, deadline=None)
@given(
    st.lists(_change, max_size=4),
    st.lists(st.tuples(_change, _fate, st.booleans()), min_size=1, max_size=12),
)
def test_any_interleaving_converges_to_the_truth(
    initial: list[list[tuple[int, int, int]]],
    stream: list[tuple[list[tuple[int, int, int]], str, bool]],
) -> None:
    truth = Truth()
    for k, entries in enumerate(initial):
        truth.change(entries, 900.0 + k)
    store = TwinStore(SCHEMA.machines)
    proto = TwinClientProtocol()
    history: dict[int, Truth] = {}

    def feed(frame: str | bytes) -> None:
        for event in proto.receive(frame):
            assert not isinstance(event, Failed), event
            if isinstance(event, Updates):
                store.apply(event.batch, 2000.0)
                # whenever a batch is applied in order, the store is exactly the server's state
                expected = history[event.batch.seq]
                assert same_as_truth(store, expected)

    def remember() -> None:
        copy = Truth()
        copy.values, copy.times, copy.seq = truth.values.copy(), truth.times.copy(), truth.seq
        history[truth.seq] = copy

    feed(welcome())
    remember()
    feed(truth.snapshot(binary=False))
    wire: list[str | bytes] = []
    for entries, fate, binary in stream:
        truth.seq += 1
        cols = truth.change(entries, 1000.0 + truth.seq)
        remember()
        frame = truth.frame("delta", cols, binary)
        if fate == "drop":
            continue
        if fate == "corrupt":
            frame = frame[: len(frame) // 2]
        wire.append(frame)
        if fate == "duplicate":
            wire.append(frame)
        elif fate == "swap" and len(wire) >= 2:
            wire[-1], wire[-2] = wire[-2], wire[-1]
    for frame in wire:
        feed(frame)
    feed(heartbeat(truth.seq))  # reveals a loss at the very end
    requests = proto.data_to_send()
    assert requests in ([], [RESYNC])
    hypothesis.event("resync requested" if requests else "in order to the end")
    if requests:
        assert proto.state is State.RESYNC
        feed(truth.snapshot(binary=True))
    assert proto.state is State.LIVE and proto.last_seq == truth.seq
    assert same_as_truth(store, truth)
