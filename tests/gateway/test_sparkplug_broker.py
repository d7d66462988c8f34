"""Sparkplug B end to end through a real mosquitto: the simulator's edge nodes, the host in
the connector, births, data by alias, deaths, rebirth after a gap, garbage, broker loss."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from xrclient.gateway import sparkplug_proto as sp
from xrclient.gateway.discover_mqtt import listen_mqtt
from xrclient.gateway.mqtt_publish import SimMqttPublisher
from xrclient.gateway.mqtt_url import MqttSecurity, client_options, parse_mqtt_url
from xrclient.gateway.publish import Publish
from xrclient.gateway.source import GatewaySource
from xrclient.gateway.sparkplug_edge import SparkplugEdge
from xrclient.server.simulator import PlantSimulator

from .broker import Broker, broker
from .mqtt_support import cell, demo_scene, gateway, mapping_from, run, until

__all__ = ["broker"]  # the fixture, used by name

SPARKPLUG_MAPPING = """
source = "sparkplug"

[properties]
state = { kind = "enum", values = [
    "RUNNING", "IDLE", "SETUP", "FAULT", "MAINTENANCE", "LOCKED_OUT",
] }
temperature_c = { kind = "number", unit = "°C" }
power_kw = { kind = "number", unit = "kW" }
program = { kind = "string" }
door_open = { kind = "bool" }

[sparkplug]
group = "xrclient"
host_id = "gw-test"

[templates.cnc_mill.feeds]
state = {}
temperature_c = {}
power_kw = {}
program = {}
door_open = {}

[templates.press.feeds]
state = {}
power_kw = {}
"""

MAPPED = ("state", "temperature_c", "power_kw", "program", "door_open")


def sim_matches(source: GatewaySource, sim: PlantSimulator) -> bool:
    """Every mapped cell of the source holds the simulator's value."""
    for feed in source.mapping.feeds:
        prop = source.mapping.properties[feed.prop]
        mid = source.mapping.machines[feed.machine]
        m = sim.schema.machine_index[mid]
        p = sim.schema.property_index[prop.name]
        want = float(sim.values[m, p])
        got = float(source.values[feed.machine, feed.prop])
        if prop.kind == "string":
            if source.text(feed.machine, feed.prop) != sim.text(m, p):
                return False
        elif not (want == got or (np.isnan(want) and np.isnan(got))):
            return False
    return True


def test_simulator_edge_nodes_to_host_end_to_end(broker: Broker) -> None:
    scene = demo_scene()
    mapping = mapping_from(SPARKPLUG_MAPPING)
    sim = PlantSimulator(scene, seed=3, start=time.time())

    async def body() -> None:
        stop = asyncio.Event()
        pub = SimMqttPublisher(sim, broker.url, sparkplug=True, scene=scene, rate_hz=20)
        task = asyncio.create_task(pub.run(stop))
        try:
            async with gateway(broker.url, mapping) as source:
                await until(lambda: source.stats.accepted > 100, what="births and data")
                # the publisher keeps stepping: compare while it is paused between ticks
                await until(lambda: sim_matches(source, sim), timeout=10, what="store == sim")
                source.step(time.time())
                cnc = [i for i, m in enumerate(scene.machines) if m.type == "cnc_mill"]
                assert all(source.quality(i) == "GOOD" for i in cnc)
                assert not any(k.startswith("sparkplug") for k in source.stats.rejected)
                assert pub.published > 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    run(body, timeout=60)


@contextlib.asynccontextmanager
async def edge_node(url: str, edge: SparkplugEdge) -> AsyncIterator[list[Publish]]:
    """An edge node over a real connection: NDEATH will, births, answers to NCMD rebirth;
    yields the list the test appends messages to publish to (sent in order)."""
    import aiomqtt

    opts = client_options(parse_mqtt_url(url), MqttSecurity())
    will = edge.new_session()
    outbox: list[Publish] = []
    async with aiomqtt.Client(
        **opts, will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain)
    ) as client:
        await client.subscribe(edge.ncmd_topic, 1)

        async def answer() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                for p in edge.on_message(str(message.topic), payload, time.time()):
                    await client.publish(p.topic, p.payload, p.qos, p.retain)

        async def send() -> None:
            while True:
                while outbox:
                    p = outbox.pop(0)
                    await client.publish(p.topic, p.payload, p.qos, p.retain)
                await asyncio.sleep(0.005)

        tasks = [asyncio.create_task(answer()), asyncio.create_task(send())]
        try:
            yield outbox
            await until(lambda: not outbox, what="outbox sent")
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _line_a_edge() -> SparkplugEdge:
    scene = demo_scene()
    devices = {
        m.id: [
            ("state", int(sp.DataType.String)),
            ("temperature_c", int(sp.DataType.Double)),
            ("power_kw", int(sp.DataType.Double)),
        ]
        for m in scene.machines
        if m.line == "A" and m.type == "cnc_mill"
    }
    return SparkplugEdge("xrclient", "A", devices)


def test_device_death_is_stale_at_once_and_a_gap_asks_for_rebirth(broker: Broker) -> None:
    mapping = mapping_from(SPARKPLUG_MAPPING)
    edge = _line_a_edge()
    m1 = mapping.machines.index("CNC-A1")

    async def body() -> None:
        async with gateway(broker.url, mapping) as source:
            await until(lambda: source.stats.connected, what="host connected")
            async with edge_node(broker.url, edge) as outbox:
                outbox.extend(edge.births(time.time()))
                outbox.append(edge.data("CNC-A1", {"temperature_c": 61.5}, time.time()))
                await until(lambda: cell(source, "CNC-A1", "temperature_c") == 61.5, what="data")
                source.step(time.time())
                assert source.quality(m1) != "OFFLINE"
                births = edge.births_sent

                # DDEATH: that machine is OFFLINE at the next tick, the others are not
                outbox.append(edge.device_death("CNC-A1", time.time()))
                await until(lambda: bool(source.offline[m1]), what="device death")
                source.step(time.time())
                assert source.quality(m1) == "OFFLINE"
                assert source.quality(mapping.machines.index("CNC-A2")) != "OFFLINE"

                # a sequence gap: the host drops the message and asks for a rebirth
                edge.seq = (edge.seq + 5) % 256
                outbox.append(edge.data("CNC-A2", {"temperature_c": 99.0}, time.time()))
                await asyncio.sleep(0.3)
                assert cell(source, "CNC-A2", "temperature_c") != 99.0
                # requests are spaced (the host asked every node when it connected): the edge
                # goes on publishing until one comes
                deadline = time.monotonic() + 10
                while edge.births_sent == births and time.monotonic() < deadline:
                    outbox.append(edge.data("CNC-A3", {"power_kw": 3.0}, time.time()))
                    await asyncio.sleep(0.25)
                assert edge.births_sent > births, "no rebirth request after a sequence gap"
                # the rebirth (answered by the edge) brings CNC-A1 back with its value
                await until(lambda: not source.offline[m1], what="reborn")
                outbox.append(edge.data("CNC-A2", {"temperature_c": 12.25}, time.time()))
                await until(lambda: cell(source, "CNC-A2", "temperature_c") == 12.25, what="ok")
                assert cell(source, "CNC-A1", "temperature_c") == 61.5

                # NDEATH (the will, on a lost connection, or sent on purpose): all OFFLINE
                outbox.append(edge.death(time.time()))
                await until(lambda: bool(source.offline[m1]), what="node death")
                source.step(time.time())
                line_a = [i for i, m in enumerate(demo_scene().machines) if m.line == "A"]
                mapped = {f.machine for f in mapping.feeds}
                assert all(source.quality(i) == "OFFLINE" for i in line_a if i in mapped)

    run(body, timeout=60)


def test_garbage_on_sparkplug_topics_is_counted(broker: Broker) -> None:
    mapping = mapping_from(SPARKPLUG_MAPPING)
    edge = _line_a_edge()

    async def body() -> None:
        async with gateway(broker.url, mapping) as source:
            await until(lambda: source.stats.connected, what="host connected")
            async with edge_node(broker.url, edge) as outbox:
                outbox.extend(edge.births(time.time()))
                outbox.append(edge.data("CNC-A1", {"temperature_c": 1.0}, time.time()))
                await until(lambda: cell(source, "CNC-A1", "temperature_c") == 1.0, what="data")
                births = edge.births_sent
                ddata = edge.topic("DDATA", "CNC-A1")
                for junk in (b"\xff\xff\xff", b"\x0a\x05abc", b"x" * (300 * 1024)):
                    outbox.append(Publish(ddata, junk, 0, False))
                outbox.append(Publish("spBv1.0/xrclient/NOPE/A", b"", 0, False))
                outbox.append(Publish("spBv1.0/xrclient/DDATA/A", b"", 0, False))  # no device
                deadline = time.monotonic() + 10
                while edge.births_sent == births and time.monotonic() < deadline:
                    outbox.append(edge.data("CNC-A3", {"power_kw": 3.0}, time.time()))
                    await asyncio.sleep(0.25)
                assert edge.births_sent > births, "no rebirth request after garbage"
                outbox.append(edge.data("CNC-A1", {"temperature_c": 2.0}, time.time()))
                await until(lambda: cell(source, "CNC-A1", "temperature_c") == 2.0, what="alive")
                r = source.stats.rejected
                assert r["payload too large"] == 1
                assert sum(n for k, n in r.items() if k.startswith("sparkplug")) >= 3, dict(r)

    run(body, timeout=60)


def test_broker_restart_host_asks_every_edge_node_for_rebirth(tmp_path: Path) -> None:
    scene = demo_scene()
    mapping = mapping_from(SPARKPLUG_MAPPING)
    sim = PlantSimulator(scene, seed=5, start=time.time())
    b = Broker(tmp_path / "b")
    b.start()

    async def body() -> None:
        stop = asyncio.Event()
        pub = SimMqttPublisher(sim, b.url, sparkplug=True, scene=scene, rate_hz=20)
        task = asyncio.create_task(pub.run(stop))
        try:
            async with gateway(b.url, mapping) as source:
                await until(lambda: sim_matches(source, sim), timeout=10, what="first state")
                await asyncio.to_thread(b.kill)
                await until(lambda: not source.stats.connected, what="loss seen")
                source.step(time.time())
                assert all(source.offline[f.machine] for f in mapping.feeds)
                await asyncio.sleep(0.5)
                await asyncio.to_thread(b.start)
                await until(lambda: source.stats.connected, timeout=15, what="reconnect")
                await until(lambda: sim_matches(source, sim), timeout=15, what="state again")
                await until(lambda: not source.offline[mapping.feeds[0].machine], what="online")
                assert source.stats.reconnects >= 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    try:
        run(body, timeout=90)
    finally:
        b.kill()


def test_listening_asks_edge_nodes_for_births_and_lists_their_metrics(broker: Broker) -> None:
    scene = demo_scene()
    sim = PlantSimulator(scene, seed=1, start=time.time())

    async def body() -> None:
        stop = asyncio.Event()
        pub = SimMqttPublisher(sim, broker.url, sparkplug=True, scene=scene, rate_hz=20)
        task = asyncio.create_task(pub.run(stop))
        try:
            await until(lambda: all(e.births_sent for e in pub.edges.values()), what="online")
            births = {line: e.births_sent for line, e in pub.edges.items()}
            found = await listen_mqtt(broker.url, seconds=1.5)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        assert all(e.births_sent > births[line] for line, e in pub.edges.items())
        metrics = [f for f in found if "metric" in f.feed]
        by = {(f.feed["device"], f.feed["metric"]): f for f in metrics}
        f = by[("CNC-A1", "temperature_c")]
        assert f.kind == "number" and f.feed["edge_node"] == "A" and f.feed["group"] == "xrclient"
        assert f.names == ("xrclient", "A", "CNC-A1") and f.leaf == "temperature_c"
        assert by[("CNC-A1", "state")].kind == "string"
        assert by[("CNC-A1", "door_open")].kind == "bool"
        assert by[("CNC-A1", "last_maintenance")].kind == "time"
        devices = {f.feed["device"] for f in metrics}
        assert devices == {m.id for m in scene.machines}
        assert not any(f.leaf == "bdSeq" or f.leaf == "Rebirth" for f in metrics)

    run(body, timeout=60)


def test_host_state_is_retained_online_then_offline(broker: Broker) -> None:
    import json

    import aiomqtt

    mapping = mapping_from(SPARKPLUG_MAPPING)
    topic = sp.state_topic("gw-test")

    async def retained() -> dict[str, object]:
        opts = client_options(parse_mqtt_url(broker.url), MqttSecurity())
        async with aiomqtt.Client(**opts) as client:
            await client.subscribe(topic, 1)
            async for message in client.messages:
                assert message.retain
                assert isinstance(message.payload, bytes)
                doc: dict[str, object] = json.loads(message.payload)
                return doc
        raise AssertionError("no STATE")

    async def body() -> None:
        async with gateway(broker.url, mapping) as source:
            await until(lambda: source.stats.connected, what="host connected")
            await asyncio.sleep(0.2)
            online = await asyncio.wait_for(retained(), 5)
            assert online["online"] is True
        offline = await asyncio.wait_for(retained(), 5)  # published before the clean goodbye
        assert offline["online"] is False
        assert offline["timestamp"] == online["timestamp"]  # birth and death agree

    run(body)
