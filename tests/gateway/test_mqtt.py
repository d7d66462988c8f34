"""The MQTT connector against a real mosquitto: plain topics, payload kinds, retained first
state, garbage counted, broker loss and return, TLS with a user file, broker URLs."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest

from xrclient.gateway.credentials import CredentialsError
from xrclient.gateway.discover_mqtt import listen_mqtt
from xrclient.gateway.mapping import MqttTarget
from xrclient.gateway.mqtt_client import (
    MISSING,
    TopicReader,
    parse_pointer,
    resolve_pointer,
    run_mqtt,
    subscription_filters,
)
from xrclient.gateway.mqtt_url import MqttSecurity, MqttUrlError, parse_mqtt_url
from xrclient.gateway.source import GatewaySource

from .broker import Broker, broker, tls_broker
from .mqtt_support import (
    PLAIN_MAPPING,
    cell,
    gateway,
    mapping_from,
    publisher,
    run,
    until,
)

__all__ = ["broker", "tls_broker"]  # fixtures used by name

CNC = "CNC-A1"
TOPIC = "plant/A/CNC-A1"


# ---- no broker needed ----------------------------------------------------------------------


def test_filters_group_topics_by_depth_and_first_level() -> None:
    targets = [
        MqttTarget("plant/A/M1/temp", qos=1),
        MqttTarget("plant/B/M2/temp", qos=0),
        MqttTarget("plant/A/M1/rpm", qos=2),
        MqttTarget("json/M1", "json", "", 0),
        MqttTarget("single", qos=1),
    ]
    assert sorted(subscription_filters(targets)) == [
        ("json/M1", 0),
        ("plant/+/+/+", 2),
        ("single", 1),
    ]


def test_json_pointers_follow_rfc_6901() -> None:
    doc = {"a": [{"b/c": 1}, 2], "~x": 3, "": 4}
    assert resolve_pointer(doc, parse_pointer("/a/0/b~1c")) == 1
    assert resolve_pointer(doc, parse_pointer("/~0x")) == 3
    assert resolve_pointer(doc, parse_pointer("/")) == 4
    assert resolve_pointer(doc, parse_pointer("")) == doc
    for bad in ("/a/01", "/a/9", "/a/-", "/nope", "/a/0/b~1c/deeper"):
        assert resolve_pointer(doc, parse_pointer(bad)) is MISSING, bad


def test_broker_urls() -> None:
    u = parse_mqtt_url("mqtt://broker.example")
    assert (u.host, u.port, u.tls) == ("broker.example", 1883, False)
    u = parse_mqtt_url("mqtts://10.0.0.5")
    assert (u.port, u.tls) == (8883, True)
    assert parse_mqtt_url("mqtts://[::1]:9000").text() == "mqtts://[::1]:9000"
    for bad in ("http://x", "x:1883", "mqtt://", "mqtt://h:0", "mqtt://h:99999", "mqtt://h/p"):
        with pytest.raises(MqttUrlError):
            parse_mqtt_url(bad)
    with pytest.raises(MqttUrlError, match="--user-file") as info:
        parse_mqtt_url("mqtt://alice:hunter2@broker")
    assert "hunter2" not in str(info.value)


def test_a_ca_file_needs_mqtts(tmp_path: Path) -> None:
    f = tmp_path / "ca.pem"
    f.write_text("x")
    with pytest.raises(MqttUrlError, match="mqtts"):
        MqttSecurity(ca_file=f).check(parse_mqtt_url("mqtt://h"))


def test_reader_routes_every_mapped_topic() -> None:
    mapping = mapping_from(PLAIN_MAPPING)
    reader = TopicReader(mapping, GatewaySource(mapping))
    topics = {f.target.topic for f in mapping.feeds if isinstance(f.target, MqttTarget)}
    assert set(reader.routes) == topics
    assert len(reader.routes[f"json/{CNC}"]) == 2  # two pointers into one document
    assert sorted(reader.filters) == [("json/+", 1), ("plant/A/+/+", 1)]  # the highest QoS


# ---- through mosquitto -------------------------------------------------------------------------


def test_plain_topics_payload_kinds_and_retained_first_state(broker: Broker) -> None:
    mapping = mapping_from(PLAIN_MAPPING)

    async def body() -> None:
        async with publisher(broker.url) as pub:  # retained before the gateway connects
            await pub.publish(f"{TOPIC}/temperature_c", b"71.25", qos=1, retain=True)
            await pub.publish(f"{TOPIC}/state", b"IDLE", qos=1, retain=True)
        async with gateway(broker.url, mapping) as source:
            await until(lambda: source.stats.accepted >= 2, what="retained state")
            assert cell(source, CNC, "temperature_c") == 71.25
            assert source.values[0, source.schema.property_index["state"]] == 1.0  # IDLE
            assert source.stats.connected
            source.step(1.0)  # the tick computes qualities
            assert source.quality(0) == "GOOD"
            async with publisher(broker.url) as pub:
                await pub.publish(f"{TOPIC}/program", "Ö-1000".encode(), qos=1)
                await pub.publish(f"{TOPIC}/door_open", b"true", qos=1)
                doc = {"spindle": {"rpm": 1200}, "load": 55.5}
                await pub.publish(f"json/{CNC}", orjson.dumps(doc), qos=1)
                await pub.publish("plant/A/CNC-A2/temperature_c", b" 20.5 ", qos=0)
            await until(lambda: cell(source, CNC, "load_pct") == 55.5, what="json")
            await until(lambda: cell(source, "CNC-A2", "temperature_c") == 20.5, what="qos0")
            assert source.text(0, source.schema.property_index["program"]) == "Ö-1000"
            assert cell(source, CNC, "door_open") == 1.0
            assert cell(source, CNC, "spindle_rpm") == 1200.0
            assert not source.stats.rejected

    run(body)


def test_garbage_is_counted_never_stored(broker: Broker) -> None:
    mapping = mapping_from(PLAIN_MAPPING)
    garbage = [
        (f"{TOPIC}/temperature_c", b"hot"),
        (f"{TOPIC}/temperature_c", b"nan"),
        (f"{TOPIC}/temperature_c", b"-inf"),
        (f"{TOPIC}/temperature_c", b"\xff\xfe"),
        (f"{TOPIC}/temperature_c", b"9" * (300 * 1024)),  # over the payload limit
        (f"{TOPIC}/temperature_c", b"1" * (10 * 1024 * 1024)),  # over the packet limit
        (f"{TOPIC}/state", b"EXPLODED"),
        (f"{TOPIC}/door_open", b"maybe"),
        (f"{TOPIC}/program", b"\xc3\x28"),  # invalid UTF-8
        (f"{TOPIC}/program", b"x" * 5000),  # longer than a string value
        (f"json/{CNC}", b"{not json"),
        (f"json/{CNC}", b'{"spindle": {"rpm": "fast"}, "load": [1]}'),
        (f"json/{CNC}", b'{"spindle": null}'),
        ("plant/A/NOPE/temperature_c", b"1"),  # matches the filter, no such topic mapped
    ]

    async def body() -> None:
        async with gateway(broker.url, mapping) as source:
            await until(lambda: source.stats.connected, what="connected")
            async with publisher(broker.url) as pub:
                for topic, payload in garbage:
                    await pub.publish(topic, payload, qos=1)
                await pub.publish(f"{TOPIC}/temperature_c", b"42", qos=1)  # last, and good
            await until(lambda: cell(source, CNC, "temperature_c") == 42.0, what="good value")
            assert source.stats.accepted == 1
            r = source.stats.rejected
            assert r["not a number"] == 3  # "hot", undecodable bytes, "fast" in the JSON
            assert r["not a finite number"] == 2
            assert r["payload too large"] == 1  # the 10 MB one never reached us
            assert r["unmapped topic"] == 1
            assert r["invalid JSON"] == 2  # both pointers of the document
            assert r["not a boolean"] == 1
            assert r["JSON pointer not found"] == 1 + 1  # rpm under null, load under null
            assert sum(r.values()) == source.stats.received - 1
            assert source.stats.reconnects == 0  # the broker dropped the 10 MB message, not us
            for p in ("state", "program", "door_open", "spindle_rpm", "load_pct"):
                assert math.isnan(cell(source, CNC, p)), p

    run(body, timeout=60)


def test_broker_lost_and_back_machines_offline_then_restored(tmp_path: Path) -> None:
    mapping = mapping_from(PLAIN_MAPPING)
    b = Broker(tmp_path / "b")
    b.start()

    async def publish_all(round_: int) -> dict[str, float]:
        sent = {}
        async with publisher(b.url) as pub:
            for i in range(1, 6):
                value = 100.0 * round_ + i
                await pub.publish(f"plant/A/CNC-A{i}/temperature_c", repr(value), 1, True)
                sent[f"CNC-A{i}"] = value
        return sent

    async def body() -> None:
        sent = await publish_all(1)
        async with gateway(b.url, mapping) as source:
            await until(lambda: source.stats.accepted >= 5, what="first state")
            source.step(0.0)
            assert source.quality(0) == "GOOD"
            await asyncio.to_thread(b.kill)
            await until(lambda: not source.stats.connected, what="disconnect seen")
            source.step(1.0)
            assert all(source.quality(m) == "OFFLINE" for m in range(5))
            await asyncio.sleep(1.0)
            assert not source.stats.connected  # still gone while the broker is down
            await asyncio.to_thread(b.start)  # a new broker: retained messages were lost
            sent = await publish_all(2)
            await until(lambda: source.stats.connected, timeout=15, what="reconnect")
            await until(
                lambda: all(cell(source, m, "temperature_c") == v for m, v in sent.items()),
                what="state restored",
            )
            source.step(2.0)
            assert source.quality(0) == "GOOD"
            assert source.stats.reconnects >= 1
            assert "connect" in source.stats.summary()

    try:
        run(body, timeout=60)
    finally:
        b.kill()


def test_tls_with_ca_and_user_file(tls_broker: Broker) -> None:
    mapping = mapping_from(PLAIN_MAPPING)
    assert tls_broker.ca_file is not None and tls_broker.user_file is not None
    good = MqttSecurity(ca_file=tls_broker.ca_file, user_file=tls_broker.user_file)
    url = tls_broker.url.replace("127.0.0.1", "localhost")

    async def body() -> None:
        async with publisher(url, good) as pub:
            await pub.publish(f"{TOPIC}/temperature_c", b"33.5", qos=1, retain=True)
        async with gateway(url, mapping, good) as source:
            await until(lambda: cell(source, CNC, "temperature_c") == 33.5, what="over TLS")
        # without the user file: refused, and the reason says so without any secret
        async with gateway(url, mapping, MqttSecurity(ca_file=tls_broker.ca_file)) as source:
            await until(lambda: bool(source.stats.last_error), what="refusal")
            assert not source.stats.connected
            assert "s3cret" not in source.stats.last_error

    run(body, timeout=60)


# paho leaves the socket of a failed TLS handshake to the garbage collector (closed there,
# with a ResourceWarning)
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_tls_refuses_an_untrusted_broker(tls_broker: Broker) -> None:
    mapping = mapping_from(PLAIN_MAPPING)
    assert tls_broker.user_file is not None
    url = tls_broker.url.replace("127.0.0.1", "localhost")
    no_ca = MqttSecurity(user_file=tls_broker.user_file)  # the test CA is not trusted

    async def body() -> None:
        async with gateway(url, mapping, no_ca) as source:
            await until(lambda: bool(source.stats.last_error), what="untrusted certificate")
            assert "CERTIFICATE_VERIFY_FAILED" in source.stats.last_error
            assert not source.stats.connected
            assert np.isnan(cell(source, CNC, "temperature_c"))

    run(body, timeout=30)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("not really a key")
    os.chmod(key, 0o640)
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    with pytest.raises(CredentialsError, match="read by others"):
        MqttSecurity(cert_file=cert, key_file=key).check(parse_mqtt_url("mqtts://h"))


def test_listening_finds_plain_topics_and_json_leaves(broker: Broker) -> None:
    async def body() -> None:
        async with publisher(broker.url) as pub:
            await pub.publish(f"{TOPIC}/temperature_c", b"70.5", qos=1, retain=True)
            await pub.publish(f"{TOPIC}/door_open", b"false", qos=1, retain=True)
            await pub.publish(f"{TOPIC}/program", b"O1000", qos=1, retain=True)
            await pub.publish(f"{TOPIC}/changed", b"2026-12-08T02:50:00+00:00", 1, True)
            doc = {"spindle": {"rpm": 1200, "on": True}, "a/b": [1.5], "skip": None}
            await pub.publish(f"json/{CNC}", orjson.dumps(doc), qos=1, retain=True)
            await pub.publish("huge", b"x" * (300 * 1024), qos=1, retain=True)
        found = await listen_mqtt(broker.url, seconds=1.0)
        by = {(tuple(f.feed.items()), f.kind): f for f in found}
        t = f"{TOPIC}/temperature_c"
        assert by[((("topic", t),), "number")].leaf == "temperature_c"
        assert by[((("topic", t),), "number")].names == ("plant", "A", CNC)
        assert ((("topic", f"{TOPIC}/door_open"), ("payload", "bool")), "bool") in by
        assert ((("topic", f"{TOPIC}/program"), ("payload", "string")), "string") in by
        assert ((("topic", f"{TOPIC}/changed"), ("payload", "string")), "time") in by
        js = {f.feed["json"]: f for f in found if f.feed.get("payload") == "json"}
        assert set(js) == {"/spindle/rpm", "/spindle/on", "/a~1b/0"}
        assert js["/spindle/rpm"].names == ("json", CNC, "spindle")
        assert js["/spindle/on"].kind == "bool"
        assert not any(f.feed.get("topic") == "huge" for f in found)

    run(body)


def test_listening_to_no_broker_says_so() -> None:
    from xrclient.errors import XRClientError
    from xrclient.gateway.broker import free_port

    async def body() -> None:
        with pytest.raises(XRClientError, match="could not reach"):
            await listen_mqtt(f"mqtt://127.0.0.1:{free_port()}", seconds=0.5)

    run(body)


def test_whole_chain_broker_gateway_twin_server_twin_client(broker: Broker) -> None:
    """Retained topics -> connector -> GatewaySource served by a real TwinServer -> TwinClient
    store; then the broker dies and the client sees the machines OFFLINE."""
    import threading
    import time

    from xrclient.core.twin_store import TwinStore
    from xrclient.net.twin_client import TwinClient
    from xrclient.net.update_queue import UpdateQueue
    from xrclient.server.background import BackgroundServer
    from xrclient.server.twin_server import ServerConfig

    def drain_into(store: TwinStore, queue: UpdateQueue) -> TwinStore:
        for batch in queue.drain():
            store.apply(batch, time.time())
        return store

    def wait_until(predicate: Callable[[], bool], timeout: float, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.01)

    mapping = mapping_from(PLAIN_MAPPING)
    source = GatewaySource(mapping)
    srv = BackgroundServer(source, ServerConfig(port=0, rate_hz=50.0))
    srv.start()
    stops: list[asyncio.Event] = []

    async def connector() -> None:
        stop = asyncio.Event()
        stops.append(stop)
        await run_mqtt(broker.url, mapping, source, stop=stop)

    thread = threading.Thread(target=srv.run, args=(connector, 60.0), daemon=True)
    thread.start()
    try:
        sent = {f"CNC-A{i}": 40.0 + i / 4 for i in range(1, 6)}

        async def publish() -> None:
            async with publisher(broker.url) as pub:
                for mid, v in sent.items():
                    await pub.publish(f"plant/A/{mid}/temperature_c", repr(v), 1, True)
                await pub.publish(f"{TOPIC}/state", b"FAULT", 1, True)

        run(publish)
        store = TwinStore(list(mapping.machines))
        t = source.schema.property_index["temperature_c"]
        q = source.schema.property_index["quality"]
        with TwinClient(srv.url) as client:

            def arrived() -> bool:
                drain_into(store, client.queue)
                if store.schema is None:
                    return False
                return all(store.value[mapping.machines.index(m), t] == v for m, v in sent.items())

            wait_until(arrived, 10, "values through the twin stream")
            state = store.value[0, source.schema.property_index["state"]]
            assert store.text("state", state) == "FAULT"
            wait_until(lambda: drain_into(store, client.queue).value[0, q] == 0.0, 5, "GOOD")
            broker.kill()
            wait_until(
                lambda: drain_into(store, client.queue).value[0, q] == 3.0,
                10,
                "OFFLINE through the twin stream",
            )
            assert all(store.value[mapping.machines.index(m), t] == v for m, v in sent.items())
    finally:
        if stops:
            srv.call(stops[0].set)
        thread.join(20)
        srv.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish(topic: bytes, payload: bytes, *, qos: int = 0, retain: bool = False) -> bytes:
    props = b"\x01\x01" if retain else b""  # a payload format indicator, to be skipped
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += b"\x00\x07"  # packet id
    body += _varint(len(props)) + props + payload
    return bytes([0x30 | qos << 1 | int(retain)]) + _varint(len(body)) + body


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 100_000])
def test_fast_reader_splits_packets_at_any_boundary(chunk: int) -> None:
    """QoS 0 and 1 PUBLISH packets go to the session (a PUBACK queued for QoS 1); everything
    else reaches paho in order;
    a packet over the limit is discarded as it streams, wherever the reads cut it."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from xrclient.gateway.mqtt_link import _FastReader

    got: list[tuple[str, bytes, bool]] = []

    class Sink:
        def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
            got.append((topic, payload, retain))

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    reader = _FastReader(client, Sink(), max_packet=1000, v5=True)  # type: ignore[arg-type]  # a sink needs on_message only
    ping = b"\xd0\x00"
    qos1 = _publish(b"q/1", b"acked", qos=1)
    qos2 = _publish(b"q/2", b"handshake", qos=2)
    stream = (
        _publish(b"a/b", b"1.5")
        + ping
        + _publish(b"big", b"x" * 5000)  # over the limit: dropped
        + qos1
        + qos2
        + _publish("ü/t".encode(), b"", retain=True)
        + _publish(b"\xff", b"bad topic")
        + _publish(b"c", b"y" * 300)
    )
    for i in range(0, len(stream), chunk):
        reader._split(stream[i : i + chunk])
    assert got == [
        ("a/b", b"1.5", False),
        ("q/1", b"acked", False),
        ("ü/t", b"", True),
        ("", b"bad topic", False),  # not UTF-8: no mapped topic matches ""
        ("c", b"y" * 300, False),
    ]
    assert bytes(reader.out) == ping + qos2  # QoS 2 keeps paho's handshake
    assert [bytes(p["packet"]) for p in client._out_packet] == [b"\x40\x02\x00\x07"]  # PUBACK
    assert reader.oversized == 1
    assert len(reader.raw) == 0 and reader.skip == 0


SIM_MAPPING = """
source = "mqtt"

[properties]
state = { kind = "enum", values = [
    "RUNNING", "IDLE", "SETUP", "FAULT", "MAINTENANCE", "LOCKED_OUT",
] }
temperature_c = { kind = "number", unit = "°C" }
energy_kwh = { kind = "number", unit = "kWh" }
program = { kind = "string" }
door_open = { kind = "bool" }
last_maintenance = { kind = "time" }

[mqtt]
topic = "plant/{line}/{machine}/{property}"

[templates.cnc_mill.feeds]
state = { payload = "string" }
temperature_c = {}
energy_kwh = {}
program = { payload = "string" }
door_open = { payload = "bool" }
last_maintenance = { payload = "string" }
"""


def test_simulator_on_plain_topics_reaches_the_store(broker: Broker) -> None:
    import time

    from xrclient.gateway.mqtt_publish import SimMqttPublisher
    from xrclient.server.simulator import PlantSimulator

    from .mqtt_support import demo_scene

    scene = demo_scene()
    mapping = mapping_from(SIM_MAPPING)
    sim = PlantSimulator(scene, seed=2, start=time.time())

    def matches(source: GatewaySource) -> bool:
        for f in mapping.feeds:
            prop = mapping.properties[f.prop]
            m = sim.schema.machine_index[mapping.machines[f.machine]]
            p = sim.schema.property_index[prop.name]
            if prop.kind == "string":
                if source.text(f.machine, f.prop) != sim.text(m, p):
                    return False
            elif prop.kind == "time":  # ISO 8601 keeps microseconds
                if not abs(source.values[f.machine, f.prop] - sim.values[m, p]) < 1e-5:
                    return False
            elif source.values[f.machine, f.prop] != sim.values[m, p]:
                return False
        return True

    async def body() -> None:
        stop = asyncio.Event()
        pub = SimMqttPublisher(sim, broker.url, sparkplug=False, scene=scene, rate_hz=20)
        task = asyncio.create_task(pub.run(stop))
        try:
            await until(lambda: pub.published > 500, what="first state published")
            async with gateway(broker.url, mapping) as source:  # joins late: retained state
                await until(lambda: matches(source), timeout=10, what="store == simulator")
                bad = {k: n for k, n in source.stats.rejected.items() if k != "unmapped topic"}
                assert not bad, bad
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        assert pub.topics[0][0] == "plant/A/CNC-A1/state"

    run(body, timeout=60)


def test_publisher_payload_texts_and_topic_checks() -> None:
    import time

    from xrclient.core.twin_schema import PropertySpec
    from xrclient.gateway.mqtt_publish import SimMqttPublisher, payload_text
    from xrclient.server.simulator import PlantSimulator

    from .mqtt_support import demo_scene

    assert payload_text(PropertySpec("t", "number"), 71.25, None) == "71.25"
    assert payload_text(PropertySpec("s", "enum", values=("A", "B")), 1.0, None) == "B"
    assert payload_text(PropertySpec("d", "bool"), 1.0, None) == "true"
    assert payload_text(PropertySpec("x", "string"), 0.0, "O1000") == "O1000"
    assert payload_text(PropertySpec("m", "time"), 0.25, None) == "1970-01-01T00:00:00.250000+00:00"
    sim = PlantSimulator(demo_scene(), seed=0, start=time.time())
    for bad in ("plant/{nope}/{property}", "plant/+/{machine}", "plant/{0}", "x/{machine"):
        with pytest.raises(ValueError, match="topic"):
            SimMqttPublisher(sim, "mqtt://127.0.0.1", sparkplug=False, topic=bad)
