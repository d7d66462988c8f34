"""Sparkplug B: the payload codec, the edge node and the primary host, wired to each other
directly (no broker): births, data, losses, deaths and hostile payloads."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

import pytest

from xrclient.gateway import sparkplug_proto as sp
from xrclient.gateway.mapping import Mapping, SparkplugTarget, parse_mapping
from xrclient.gateway.publish import Publish
from xrclient.gateway.source import GatewaySource
from xrclient.gateway.sparkplug_edge import SparkplugEdge
from xrclient.gateway.sparkplug_host import SparkplugHost
from xrclient.scene.schema import load_scene

DT = sp.DataType
T0 = 1_800_000_000.0

MAPPING: dict[str, Any] = {
    "source": "sparkplug",
    "sparkplug": {"group": "plant", "host_id": "xrclient", "edge_node": "{line}"},
    "properties": {
        "temperature_c": {"kind": "number", "unit": "°C"},
        "state": {"kind": "string"},
    },
    "templates": {
        "all": {
            "types": ["*"],
            "feeds": {"temperature_c": {"metric": "temperature_c"}, "state": {"metric": "state"}},
        }
    },
}
METRICS = [("temperature_c", DT.Double), ("state", DT.String), ("spare", DT.Int32)]


@pytest.fixture(scope="module")
def mapping() -> Mapping:
    return parse_mapping(MAPPING, "test.toml", load_scene("scenes/demo-plant.toml"))


class Plant:
    """A host, its source and one edge node (line A) with a device per machine."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.source = GatewaySource(mapping)
        self.host = SparkplugHost(mapping, self.source, "xrclient")
        self.devices = sorted(
            {
                f.target.device
                for f in mapping.feeds
                if isinstance(f.target, SparkplugTarget)
                and f.target.edge_node == "A"
                and f.target.device
            }
        )
        self.edge = SparkplugEdge("plant", "A", {d: METRICS for d in self.devices})
        self.now = T0

    def machine(self, device: str) -> int:
        return self.mapping.machines.index(device)

    def feed(self, device: str, prop: str) -> int:
        names = [p.name for p in self.mapping.properties]
        m, p = self.machine(device), names.index(prop)
        return next(f.index for f in self.mapping.feeds if f.machine == m and f.prop == p)

    def temp(self, device: str) -> float:
        return float(self.source.values[self.machine(device), 0])

    def state(self, device: str) -> str | None:
        return self.source.text(self.machine(device), 1)

    def offline(self, device: str) -> bool:
        return bool(self.source.offline[self.machine(device)])

    def tick(self, dt: float = 0.1) -> float:
        self.now += dt
        return self.now

    def to_host(self, pubs: Iterable[Publish]) -> list[Publish]:
        out: list[Publish] = []
        for p in pubs:
            out.extend(self.host.on_message(p.topic, p.payload, self.now))
        return out

    def to_edge(self, pubs: Iterable[Publish]) -> list[Publish]:
        out: list[Publish] = []
        for p in pubs:
            out.extend(self.edge.on_message(p.topic, p.payload, self.now))
        return out

    def pump(self, pubs: Iterable[Publish]) -> int:
        """Deliver ``pubs`` to the host and answers both ways until quiet; rebirths seen."""
        rebirths = 0
        replies = self.to_host(pubs)
        while replies:
            rebirths += sum(1 for r in replies if "/NCMD/" in r.topic)
            replies = self.to_host(self.to_edge(replies))
        return rebirths

    def start(self) -> None:
        for d in self.devices:
            self.edge.data(d, {"temperature_c": 20.0, "state": "idle"}, self.now)
        assert self.pump(self.edge.births(self.tick())) == 0

    def rejected(self, reason: str) -> int:
        return self.source.stats.rejected[f"sparkplug: {reason}"]


@pytest.fixture
def plant(mapping: Mapping) -> Plant:
    return Plant(mapping)


def _ncmd(pubs: list[Publish]) -> list[Publish]:
    return [p for p in pubs if p.topic == "spBv1.0/plant/NCMD/A"]


def _is_rebirth(p: Publish) -> bool:
    msg = sp.decode(p.payload)
    return any(m.name == sp.REBIRTH and m.boolean_value for m in msg.metrics)


# -- the codec ------------------------------------------------------------------------------------

ROUND_TRIP: list[tuple[int, object]] = [
    (DT.Int8, -128),
    (DT.Int8, 127),
    (DT.Int16, -32768),
    (DT.Int32, -(2**31)),
    (DT.Int32, 2**31 - 1),
    (DT.Int64, -(2**63)),
    (DT.Int64, 2**63 - 1),
    (DT.UInt8, 255),
    (DT.UInt16, 65535),
    (DT.UInt32, 2**32 - 1),
    (DT.UInt64, 2**64 - 1),
    (DT.Float, 1.5),
    (DT.Double, -2.25e300),
    (DT.Boolean, True),
    (DT.Boolean, False),
    (DT.String, "Drehzahl ü"),
    (DT.DateTime, 1_700_000_000_123),
    (DT.Text, "long\ntext"),
    (DT.UUID, "0b9c1b6e-3f9a-4c4e-9d5e-6a2b1f0c7e11"),
    (DT.Bytes, b"\x00\xffraw"),
    (DT.File, b"file"),
    (DT.Int8Array, (-1, 0, 127)),
    (DT.Int16Array, (-300, 300)),
    (DT.Int32Array, (-(2**31), 5)),
    (DT.Int64Array, (-(2**63), 2**63 - 1)),
    (DT.UInt8Array, (0, 255)),
    (DT.UInt16Array, (65535,)),
    (DT.UInt32Array, (2**32 - 1, 0)),
    (DT.UInt64Array, (2**64 - 1,)),
    (DT.FloatArray, (1.5, -0.25)),
    (DT.DoubleArray, (math.pi,)),
    (DT.BooleanArray, (True, False, False, True, True, False, True, False, True)),
    (DT.StringArray, ("a", "", "ümlaut")),
    (DT.DateTimeArray, (1_700_000_000_000, 0)),
]


@pytest.mark.parametrize(("datatype", "value"), ROUND_TRIP)
def test_every_datatype_round_trips(datatype: int, value: object) -> None:
    p = sp.Payload()
    p.timestamp, p.seq = 1, 2
    m = p.metrics.add()
    m.name, m.alias, m.datatype = "x", 7, datatype
    sp.set_value(m, datatype, value)
    back = sp.decode(sp.encode(p)).metrics[0]
    assert back.datatype == datatype
    assert sp.get_value(back, datatype) == value


def test_signed_integers_use_twos_complement_and_both_int8_forms() -> None:
    m = sp.Metric()
    sp.set_value(m, DT.Int16, -1)
    assert m.int_value == 0xFFFFFFFF  # sign-extended to 32 bits
    m.int_value = 0xFF  # the width-sized form some edge nodes send
    assert sp.get_value(m, DT.Int8) == -1
    m.int_value = 0x1FF  # neither form
    with pytest.raises(sp.SparkplugError):
        sp.get_value(m, DT.Int8)
    with pytest.raises(sp.SparkplugError):
        sp.set_value(m, DT.UInt8, 256)
    with pytest.raises(sp.SparkplugError):
        sp.set_value(m, DT.Int32, 1.5)
    with pytest.raises(sp.SparkplugError):
        sp.set_value(m, DT.Double, "1.0")


def test_null_and_mismatched_fields() -> None:
    m = sp.Metric()
    sp.set_value(m, DT.Double, None)
    assert m.is_null and sp.get_value(m, DT.Double) is None
    m = sp.Metric()
    m.string_value = "x"
    with pytest.raises(sp.SparkplugError):
        sp.get_value(m, DT.Double)
    m = sp.Metric()
    with pytest.raises(sp.SparkplugError, match="no value"):
        sp.get_value(m, DT.Double)


def test_dataset_template_propertyset_metadata_decode() -> None:
    p = sp.Payload()
    m = p.metrics.add()
    m.name, m.datatype = "table", DT.DataSet
    ds = m.dataset_value
    ds.num_of_columns = 2
    ds.columns.extend(["a", "b"])
    ds.types.extend([DT.Int32, DT.String])
    row = ds.rows.add()
    row.elements.add().int_value = 5
    row.elements.add().string_value = "five"
    m.properties.keys.append("engUnit")
    pv = m.properties.values.add()
    pv.type, pv.string_value = DT.String, "°C"
    m.metadata.content_type, m.metadata.size = "text/csv", 10
    t = p.metrics.add()
    t.name, t.datatype = "udt", DT.Template
    t.template_value.version, t.template_value.is_definition = "1", True
    t.template_value.metrics.add().name = "inner"
    par = t.template_value.parameters.add()
    par.name, par.type, par.double_value = "k", DT.Double, 2.0
    back = sp.decode(sp.encode(p))
    dataset: Any = sp.get_value(back.metrics[0], DT.DataSet)
    template: Any = sp.get_value(back.metrics[1], DT.Template)
    assert dataset.rows[0].elements[1].string_value == "five"
    assert back.metrics[0].properties.values[0].string_value == "°C"
    assert template.metrics[0].name == "inner"


def test_decode_refuses_garbage_and_oversized() -> None:
    with pytest.raises(sp.SparkplugError, match="invalid protobuf"):
        sp.decode(b"\x12\xff\xff\xff\xff\x0f")
    with pytest.raises(sp.SparkplugError, match="limit"):
        sp.decode(b"\x00" * 101, limit=100)
    with pytest.raises(sp.SparkplugError):
        sp.decode("text")  # type: ignore[arg-type]  # a wrong type on purpose
    assert sp.decode(b"").seq == 0  # an empty payload is a valid, empty message


def _varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out, n = out + bytes([(n & 0x7F) | 0x80]), n >> 7
    return out + bytes([n])


def test_decode_refuses_deep_nesting() -> None:
    """Templates nested 300 deep (a few kilobytes) are refused, not a crash."""
    m = b""
    for _ in range(300):
        t = b"\x12" + _varint(len(m)) + m  # Template.metrics
        m = b"\x92\x01" + _varint(len(t)) + t  # Metric.template_value
    with pytest.raises(sp.SparkplugError):
        sp.decode(b"\x12" + _varint(len(m)) + m)


def test_edge_messages_follow_the_specification() -> None:
    edge = SparkplugEdge("g", "n", {"d1": [("v", DT.Double)]}, bd_seq=255)
    will = edge.will()
    assert (will.topic, will.qos, will.retain) == ("spBv1.0/g/NDEATH/n", 1, False)
    assert sp.decode(will.payload).metrics[0].long_value == 255
    nbirth, dbirth = edge.births(T0)
    nb = sp.decode(nbirth.payload)
    assert nbirth.topic == "spBv1.0/g/NBIRTH/n" and nb.seq == 0
    names = {m.name: m for m in nb.metrics}
    assert names["bdSeq"].long_value == 255 and not names[sp.REBIRTH].boolean_value
    db = sp.decode(dbirth.payload)
    assert dbirth.topic == "spBv1.0/g/DBIRTH/n/d1" and db.seq == 1
    assert db.metrics[0].name == "v" and db.metrics[0].is_null  # no value known yet
    seqs = [sp.decode(edge.data("d1", {"v": 1.0}, T0).payload).seq for _ in range(300)]
    assert seqs[:3] == [2, 3, 4] and seqs[253:256] == [255, 0, 1]
    data = sp.decode(edge.data("d1", {"v": 2.0}, T0).payload).metrics[0]
    assert data.alias == edge.alias("d1", "v") and not data.name
    assert edge.new_session().payload != will.payload  # bdSeq 0 after 255
    assert sp.decode(edge.will().payload).metrics[0].long_value == 0


# -- the host -----------------------------------------------------------------------------------


def test_subscriptions_and_state(plant: Plant) -> None:
    host = plant.host
    assert host.subscriptions() == [("spBv1.0/plant/#", 1), ("spBv1.0/STATE/xrclient", 1)]
    online, offline = host.online_state(T0), host.offline_state(T0)
    assert (online.topic, online.qos, online.retain) == ("spBv1.0/STATE/xrclient", 1, True)
    assert online.payload == b'{"online":true,"timestamp":1800000000000}'
    assert offline.payload == b'{"online":false,"timestamp":1800000000000}'
    # the broker shows this host offline (a late will): it says it is online again
    again = host.on_message(host.state_topic, offline.payload, T0 + 1)
    assert [p.payload for p in again] == [host.online_state(T0 + 1).payload]
    assert host.on_message(host.state_topic, online.payload, T0 + 1) == []
    assert host.on_message(host.state_topic, b"\xff" * 10_000, T0 + 1)  # never a crash


def test_births_then_data(plant: Plant) -> None:
    d0, d1 = plant.devices[:2]
    assert plant.offline(d0)  # nothing born yet
    plant.start()
    assert not plant.offline(d0)
    assert plant.temp(d0) == 20.0 and plant.state(d0) == "idle"
    machine_b = plant.mapping.machines.index("PRS-B1")
    assert plant.source.offline[machine_b]  # line B's edge node was never born
    t = plant.tick()
    assert plant.to_host([plant.edge.data(d0, {"temperature_c": 71.5, "state": "run"}, t)]) == []
    assert plant.temp(d0) == 71.5 and plant.state(d0) == "run" and plant.temp(d1) == 20.0
    assert plant.source.source_time[plant.machine(d0), 0] == pytest.approx(t, abs=1e-3)
    plant.source.step(t)
    assert plant.source.quality(plant.machine(d0)) == "GOOD"
    assert not plant.source.stats.rejected


def test_null_value_is_bad_with_note(plant: Plant) -> None:
    d0 = plant.devices[0]
    plant.start()
    plant.to_host([plant.edge.data(d0, {"temperature_c": None}, plant.tick())])
    assert plant.temp(d0) == 20.0  # the last good value is kept, its quality BAD
    plant.source.step(plant.now)
    assert plant.source.quality(plant.machine(d0)) == "BAD"
    note = plant.source.text(plant.machine(d0), len(plant.mapping.properties) + 1)
    assert note == "temperature_c: null"


def test_dropped_message_asks_rebirth_then_converges(plant: Plant) -> None:
    d0 = plant.devices[0]
    plant.start()
    plant.to_host([plant.edge.data(d0, {"temperature_c": 1.0}, plant.tick())])
    plant.edge.data(d0, {"temperature_c": 2.0}, plant.tick())  # lost on the way
    late = plant.edge.data(d0, {"temperature_c": 3.0, "state": "x"}, plant.tick())
    replies = plant.to_host([late])
    assert len(_ncmd(replies)) == 1 and _is_rebirth(replies[0])
    assert plant.temp(d0) == 1.0 and plant.state(d0) == "idle"  # not applied
    assert plant.rejected("seq gap") == 1
    assert all(plant.offline(d) for d in plant.devices)  # awaiting rebirth: OFFLINE
    # more data while waiting is dropped too, and the request is not repeated at once
    assert plant.to_host([plant.edge.data(d0, {"temperature_c": 4.0}, plant.tick())]) == []
    assert plant.temp(d0) == 1.0 and plant.rejected("awaiting rebirth") == 1
    # the edge node answers the request: the store has the edge's current values
    assert plant.pump(plant.to_edge(replies)) == 0
    assert plant.temp(d0) == 4.0 and plant.state(d0) == "x"
    assert not any(plant.offline(d) for d in plant.devices)


def test_duplicate_is_a_gap(plant: Plant) -> None:
    d0 = plant.devices[0]
    plant.start()
    msg = plant.edge.data(d0, {"temperature_c": 5.0}, plant.tick())
    assert plant.to_host([msg]) == []
    assert len(_ncmd(plant.to_host([msg]))) == 1
    assert plant.rejected("seq gap") == 1


def test_reordered_messages_invent_nothing(plant: Plant) -> None:
    d0 = plant.devices[0]
    plant.start()
    first = plant.edge.data(d0, {"temperature_c": 1.0}, plant.tick())
    second = plant.edge.data(d0, {"temperature_c": 2.0}, plant.tick())
    replies = plant.to_host([second, first])
    assert plant.temp(d0) == 20.0  # neither applied out of order
    assert len(_ncmd(replies)) == 1
    assert plant.pump(plant.to_edge(replies)) == 0
    assert plant.temp(d0) == 2.0


def test_rebirth_requests_are_rate_limited(plant: Plant) -> None:
    d0 = plant.devices[0]
    plant.start()
    plant.edge.seq = (plant.edge.seq + 5) % 256
    sent = 0
    for _ in range(10):  # one second of bad data
        sent += len(plant.to_host([plant.edge.data(d0, {"temperature_c": 9.0}, plant.tick())]))
    assert sent == 1
    plant.tick(2.0)
    assert len(plant.to_host([plant.edge.data(d0, {"temperature_c": 9.0}, plant.now)])) == 1
    assert plant.host.rebirths == 2 and plant.temp(d0) == 20.0


def test_device_death_marks_its_machines_offline_at_once(plant: Plant) -> None:
    d0, d1 = plant.devices[:2]
    plant.start()
    assert plant.to_host([plant.edge.device_death(d0, plant.tick())]) == []
    assert plant.offline(d0) and not plant.offline(d1)
    plant.source.step(plant.now)
    assert plant.source.quality(plant.machine(d0)) == "OFFLINE"
    # its data after the death is not applied
    replies = plant.to_host([plant.edge.data(d0, {"temperature_c": 50.0}, plant.tick())])
    assert plant.temp(d0) == 20.0 and plant.rejected("data before birth") == 1
    assert plant.pump(plant.to_edge(replies)) == 0
    assert not plant.offline(d0) and plant.temp(d0) == 50.0


def test_node_death_and_a_stale_one(plant: Plant) -> None:
    plant.start()
    stale = SparkplugEdge("plant", "A", {}, bd_seq=plant.edge.bd_seq - 1).death(plant.tick())
    assert plant.to_host([stale]) == []
    assert plant.rejected("stale NDEATH") == 1
    assert not any(plant.offline(d) for d in plant.devices)
    plant.to_host([plant.edge.will()])  # the broker sends the will of this session
    assert all(plant.offline(d) for d in plant.devices)
    # a new session: new bdSeq, births bring every machine back
    plant.edge.new_session()
    assert plant.pump(plant.edge.births(plant.tick())) == 0
    assert not any(plant.offline(d) for d in plant.devices)
    # the late will of the previous session is ignored
    old = SparkplugEdge("plant", "A", {}, bd_seq=plant.edge.bd_seq - 1).will()
    plant.to_host([old])
    assert not any(plant.offline(d) for d in plant.devices)


def test_edge_node_that_never_births(plant: Plant) -> None:
    d0 = plant.devices[0]
    for d in plant.devices:
        plant.edge.data(d, {"temperature_c": 33.0}, plant.now)
    replies = plant.to_host([plant.edge.data(d0, {"temperature_c": 34.0}, plant.tick())])
    assert len(_ncmd(replies)) == 1
    assert math.isnan(plant.temp(d0)) and plant.offline(d0)
    assert plant.rejected("data before birth") == 1
    assert plant.source.stats.received == 0


def test_dbirth_before_nbirth(plant: Plant) -> None:
    births = plant.edge.births(plant.tick())
    replies = plant.to_host(births[1:])
    assert len(_ncmd(replies)) == 1
    assert plant.rejected("DBIRTH before NBIRTH") == len(births) - 1
    assert all(plant.offline(d) for d in plant.devices)


def test_changed_alias_table(plant: Plant) -> None:
    d0 = plant.devices[0]
    plant.start()
    old_alias = plant.edge.alias(d0, "temperature_c")
    plant.edge.renumber(1000)
    assert plant.pump(plant.edge.births(plant.tick())) == 0
    assert plant.to_host([plant.edge.data(d0, {"temperature_c": 8.0}, plant.tick())]) == []
    assert plant.temp(d0) == 8.0
    # a data message with an alias of the old table is unknown now
    p = sp.Payload()
    p.seq = plant.edge.seq
    m = p.metrics.add()
    m.alias, m.double_value = old_alias, 99.0
    topic = plant.edge.topic("DDATA", d0)
    assert len(_ncmd(plant.host.on_message(topic, sp.encode(p), plant.tick()))) == 1
    assert plant.temp(d0) == 8.0 and plant.rejected("unknown alias") == 1


def test_birth_forgets_metrics_it_lacks(mapping: Mapping) -> None:
    plant = Plant(mapping)
    plant.start()
    d0 = plant.devices[0]
    edge = SparkplugEdge("plant", "A", {d: [("state", DT.String)] for d in plant.devices})
    plant.edge = edge
    assert plant.pump(edge.births(plant.tick())) == 0
    p = sp.Payload()
    p.seq = edge.seq
    m = p.metrics.add()
    m.name, m.double_value = "temperature_c", 1.0
    replies = plant.host.on_message(edge.topic("DDATA", d0), sp.encode(p), plant.tick())
    assert len(_ncmd(replies)) == 1 and plant.rejected("unknown metric") == 1
    assert plant.temp(d0) == 20.0


def test_wrong_datatypes_and_nan_are_counted(plant: Plant) -> None:
    d0 = plant.devices[0]
    plant.start()
    topic = plant.edge.topic("DDATA", d0)
    alias = plant.edge.alias(d0, "temperature_c")

    def send(build: Any) -> None:
        p = sp.Payload()
        p.seq = plant.edge.seq
        plant.edge.seq = (plant.edge.seq + 1) % 256
        build(p.metrics.add())
        assert plant.host.on_message(topic, sp.encode(p), plant.tick()) == []

    def by_name_as_text(m: Any) -> None:  # a Double metric as text
        m.name, m.string_value = "temperature_c", "hot"

    def as_text(m: Any) -> None:
        m.alias, m.string_value = alias, "hot"

    def retyped(m: Any) -> None:
        m.alias, m.datatype, m.int_value = alias, DT.Int32, 5

    def nan(m: Any) -> None:
        m.alias, m.double_value = alias, math.nan

    send(by_name_as_text)
    assert plant.rejected("value does not match its datatype") == 1
    send(as_text)
    assert plant.rejected("value does not match its datatype") == 2
    send(retyped)
    assert plant.rejected("datatype differs from birth") == 1
    send(nan)
    assert plant.source.stats.rejected["not a finite number"] == 1
    assert plant.temp(d0) == 20.0
    # the stream still works
    plant.to_host([plant.edge.data(d0, {"temperature_c": 21.0}, plant.tick())])
    assert plant.temp(d0) == 21.0 and not plant.offline(d0)


def test_invalid_and_oversized_payloads(mapping: Mapping) -> None:
    plant = Plant(mapping)
    plant.host.max_payload = 10_000
    plant.start()
    d0 = plant.devices[0]
    replies = plant.host.on_message(plant.edge.topic("DDATA", d0), b"\x0a\xff", plant.tick())
    assert len(_ncmd(replies)) == 1 and plant.rejected("invalid protobuf") == 1
    assert plant.pump(plant.to_edge(replies)) == 0
    big = plant.edge.data(d0, {"state": "x" * 20_000}, plant.tick(3.0))
    assert len(_ncmd(plant.to_host([big]))) == 1
    assert plant.rejected("payload too large") == 1
    assert plant.state(d0) == "idle"


def test_hostile_messages_never_crash(plant: Plant) -> None:
    plant.start()
    rng = random.Random(7)
    topics = [
        "spBv1.0/plant/NDATA/A",
        "spBv1.0/plant/DDATA/A/" + plant.devices[0],
        "spBv1.0/plant/NBIRTH/A",
        "spBv1.0/plant/DBIRTH/A/" + plant.devices[1],
        "spBv1.0/plant/NDEATH/A",
        "spBv1.0/plant/DDEATH/A/x",
        "spBv1.0/plant/XDATA/A",
        "spBv1.0/plant/DDATA/A",
        "spBv1.0/plant//A",
        "spBv1.0/plant/NDATA/" + "n" * 1000,
        "garbage",
        "spBv1.0/STATE/xrclient",
    ]
    good = [p.payload for p in plant.edge.births(plant.now)]
    for i in range(3000):
        base = rng.choice(good)
        raw = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        payload = bytes(raw) if i % 3 else rng.randbytes(rng.randint(0, 200))
        for p in plant.host.on_message(rng.choice(topics), payload, plant.tick(0.01)):
            assert p.topic in ("spBv1.0/plant/NCMD/A", "spBv1.0/STATE/xrclient")
    assert plant.source.stats.rejected
    # and it recovers with a clean rebirth
    plant.tick(3.0)
    plant.edge.new_session()
    assert plant.pump(plant.edge.births(plant.now)) == 0
    assert not any(plant.offline(d) for d in plant.devices)
    assert plant.temp(plant.devices[0]) == 20.0


def test_unmapped_nodes_and_commands_are_ignored(plant: Plant) -> None:
    other = SparkplugEdge("plant", "Z", {"d": METRICS})
    assert plant.to_host(other.births(T0)) == []
    assert plant.host.ignored["edge node not mapped"] == 2
    ncmd = plant.host.on_message("spBv1.0/plant/NCMD/A", b"\xff", T0)
    assert ncmd == [] and not plant.source.stats.rejected


def test_reconnect_asks_every_node_for_births(plant: Plant) -> None:
    plant.start()
    plant.host.on_disconnected(plant.tick())
    assert all(plant.offline(d) for d in plant.devices)
    assert plant.source.offline.all()
    replies = plant.host.on_connected(plant.tick())
    nodes = sorted(p.topic for p in replies)
    assert nodes == [f"spBv1.0/plant/NCMD/{n}" for n in ("A", "B", "C", "S")]
    assert all(_is_rebirth(p) for p in replies)
    # old data after the reconnect is not trusted: only births bring machines back
    plant.to_host([plant.edge.data(plant.devices[0], {"temperature_c": 1.0}, plant.tick())])
    assert plant.temp(plant.devices[0]) == 20.0
    assert plant.pump(plant.to_edge(_ncmd(replies))) == 0
    assert not any(plant.offline(d) for d in plant.devices)


def test_complex_metrics_decode_and_are_counted(plant: Plant) -> None:
    """A birth with properties, metadata, a DataSet and a Template: decoded without error;
    a mapped metric of a kind no twin property holds is counted, the rest still applied."""
    plant.start()
    d0 = plant.devices[0]
    p = sp.Payload()
    p.timestamp, p.seq = 1, plant.edge.seq
    plant.edge.seq += 1
    m = p.metrics.add()
    m.name, m.alias, m.datatype = "state", 500, DT.DataSet
    m.dataset_value.num_of_columns = 1
    m.dataset_value.columns.append("a")
    m.metadata.description = "a table"
    m.properties.keys.append("engUnit")
    m.properties.values.add().string_value = "°C"
    t = p.metrics.add()
    t.name, t.alias, t.datatype = "udt", 501, DT.Template
    t.template_value.metrics.add().name = "inner"
    v = p.metrics.add()
    v.name, v.alias, v.datatype, v.double_value = "temperature_c", 502, DT.Double, 42.0
    topic = plant.edge.topic("DBIRTH", d0)
    assert plant.host.on_message(topic, sp.encode(p), plant.tick()) == []
    assert plant.rejected("datatype not supported for a twin property") == 1
    assert plant.temp(d0) == 42.0 and plant.state(d0) == "idle"
    assert not plant.offline(d0)


def test_a_long_run_of_data_by_alias_is_all_accepted(plant: Plant) -> None:
    plant.start()
    batch = {"temperature_c": 1.0, "state": "run", "spare": 3}
    for i in range(2000):
        d = plant.devices[i % len(plant.devices)]
        batch["temperature_c"] = float(i)
        plant.host.on_message(*_tp(plant.edge.data(d, batch, plant.now)), plant.now)
    assert plant.source.stats.accepted >= 4000 and not plant.source.stats.rejected
    last = plant.devices[1999 % len(plant.devices)]
    assert plant.temp(last) == 1999.0


def _tp(p: Publish) -> tuple[str, bytes]:
    return p.topic, p.payload


def test_node_metrics_feed_machines() -> None:
    """``device = ""``: each machine is an edge node of its own, fed by NDATA."""
    doc = {**MAPPING, "sparkplug": {**MAPPING["sparkplug"], "edge_node": "{machine}"}}
    doc["sparkplug"]["device"] = ""
    m = parse_mapping(doc, "test.toml", load_scene("scenes/demo-plant.toml"))
    source = GatewaySource(m)
    host = SparkplugHost(m, source, "xrclient")
    edge = SparkplugEdge("plant", "CNC-A1", {}, node_metrics=METRICS)
    edge.data(None, {"temperature_c": 5.0, "state": "on"}, T0)
    for p in edge.births(T0):
        assert host.on_message(p.topic, p.payload, T0) == []
    row = m.machines.index("CNC-A1")
    assert not source.offline[row] and source.offline[m.machines.index("CNC-A2")]
    p = edge.data(None, {"temperature_c": 6.5}, T0 + 1)
    assert p.topic == "spBv1.0/plant/NDATA/CNC-A1"
    assert host.on_message(p.topic, p.payload, T0 + 1) == []
    assert source.values[row, 0] == 6.5 and source.text(row, 1) == "on"
    assert host.on_message(*_tp(edge.death(T0 + 2)), T0 + 2) == []
    assert source.offline[row]


def test_the_schema_reads_bytes_written_from_the_specification_by_hand() -> None:
    """Field numbers and wire types as the Sparkplug B specification gives them, encoded
    here without the schema: a payload from another implementation reads the same."""
    import struct

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b, n = n & 0x7F, n >> 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def field(number: int, wire: int, body: bytes) -> bytes:
        return varint(number << 3 | wire) + body

    def chunk(number: int, body: bytes) -> bytes:
        return field(number, 2, varint(len(body)) + body)

    metric = (
        chunk(1, b"temperature_c")  # name
        + field(2, 0, varint(7))  # alias
        + field(3, 0, varint(1_765_000_000_123))  # timestamp (ms)
        + field(4, 0, varint(10))  # datatype: Double
        + field(13, 1, struct.pack("<d", 71.25))  # double_value
    )
    text = chunk(1, b"state") + field(4, 0, varint(12)) + chunk(15, b"RUNNING")
    raw = field(1, 0, varint(1_765_000_000_000)) + chunk(2, metric) + chunk(2, text)
    raw += field(3, 0, varint(42))  # seq
    p = sp.decode(raw)
    assert p.timestamp == 1_765_000_000_000 and p.seq == 42
    first, second = p.metrics
    assert (first.name, first.alias, first.datatype) == ("temperature_c", 7, sp.DataType.Double)
    assert sp.get_value(first, first.datatype) == 71.25
    assert first.timestamp == 1_765_000_000_123
    assert second.datatype == sp.DataType.String and sp.get_value(second, 12) == "RUNNING"
    assert sp.encode(p) == raw  # and it writes them the same way
