"""MQTT gateway throughput and latency through a real mosquitto on loopback.

A publisher process (raw paho, QoS 0) sends a steady rate of messages whose value is its own
send time (``time.time()``; both processes share the clock); this process runs either the
gateway's connector into a ``GatewaySource`` or, as the baseline, a bare aiomqtt subscriber
that only counts messages. Per run it reports messages/s received, this process's CPU (% of
one core, ``time.process_time``) and, for the gateway, latency from the publisher's send to
the value's arrival at the store (p50 / p99, from the stored send times).

* ``plain``: number payloads on ``bench/{machine}/{property}`` (65 machines x 20
  properties = 1,300 topics), the gateway's batched fast path;
* ``sparkplug``: one edge node per scene line, each its own publisher process, with a device
  per machine; DDATA with one Double metric by alias per message (births first; the host
  reads by alias). The publisher encodes 256 DDATA once (one per ``seq``) and patches its
  send time into the Double of each copy, so the publisher, not protobuf, sets the pace.

usage: python benchmarks/bench_mqtt.py [--rate 50000] [--seconds 8] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import machine_line

from xrclient.gateway.broker import LocalBroker as Broker
from xrclient.gateway.mapping import Mapping, parse_mapping
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.schema import load_scene

PROPS = [f"p{i:02d}" for i in range(20)]
GROUP = "bench"


QOS = [0]  # the plain topics' QoS (publisher and subscriptions), from --qos


def mapping(kind: str) -> Mapping:
    scene = load_scene(scene_path(DEMO_SCENE))
    doc: dict[str, Any] = {
        "source": kind,
        "properties": {p: {"kind": "number"} for p in PROPS},
        "templates": {"all": {"types": ["*"], "feeds": {p: {} for p in PROPS}}},
    }
    if kind == "mqtt":
        doc["mqtt"] = {"topic": "bench/{machine}/{property}", "qos": QOS[0]}
    else:
        doc["sparkplug"] = {"group": GROUP, "edge_node": "E{line}", "device": "{machine}"}
    return parse_mapping(doc, "bench.toml", scene)


# ---- the publisher (its own process) -----------------------------------------------------------


def publish(
    url_port: int, kind: str, rate: float, seconds: float, index: int, lines: str, qos: int
) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    scene = load_scene(scene_path(DEMO_SCENE))
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(10_000)
    client.connect("127.0.0.1", url_port, 30)
    client.loop_start()
    machines = [m.id for m in scene.machines]
    if kind == "plain":
        topics = [f"bench/{m}/{p}" for m in machines for p in PROPS]
    else:
        from xrclient.gateway import sparkplug_proto as sp
        from xrclient.gateway.sparkplug_edge import SparkplugEdge

        line_ids = lines.split(",")
        line = line_ids[index % len(line_ids)]
        devices = {
            m.id: [(p, int(sp.DataType.Double)) for p in PROPS]
            for m in scene.machines
            if m.line == line
        }
        edge = SparkplugEdge(GROUP, f"E{line}", devices)
        client.will_set(edge.will().topic, edge.will().payload, 1)
        for b in edge.births(time.time()):
            client.publish(b.topic, b.payload, 1).wait_for_publish(5)
        topics = list(devices)
        # one encoded DDATA per seq value (0..255, the edge's own sequence after its births)
        # with a marker where the Double goes: each send patches in its send time
        marker = struct.pack("<d", 123456.789)
        templates = []
        for k in range(256):
            p = edge.data(topics[k % len(topics)], {PROPS[k % len(PROPS)]: 123456.789}, 0.0)
            templates.append((p.topic, p.payload, p.payload.index(marker)))
    time.sleep(0.5)  # the births reach the host before data
    burst_s = 0.005
    per_burst = max(1, round(rate * burst_s))
    sent = 0
    start = time.perf_counter()
    end = start + seconds
    i = 0
    n_topics = len(topics)
    while True:
        t = time.perf_counter()
        if t >= end:
            break
        due = int((t - start) * rate)
        if sent >= due:
            time.sleep(min(burst_s, end - t))
            continue
        for _ in range(min(per_burst, due - sent)):
            if kind == "plain":
                client.publish(topics[i], repr(time.time()).encode(), qos)
                i = (i + 1) % n_topics
            else:
                topic, body, at = templates[i]
                client.publish(topic, body[:at] + struct.pack("<d", time.time()) + body[at + 8 :])
                i = (i + 1) % 256
            sent += 1
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"sent": sent, "seconds": time.perf_counter() - start}), flush=True)


def start_publishers(
    port: int, kind: str, rate: float, seconds: float, procs: int, lines: list[str]
) -> list[subprocess.Popen[str]]:
    out = []
    for i in range(procs):
        args = [str(port), kind, str(rate / procs), str(seconds), str(i), ",".join(lines)]
        args.append(str(QOS[0]))
        out.append(
            subprocess.Popen(
                [sys.executable, __file__, "--publish", *args],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    return out


def finish(pubs: list[subprocess.Popen[str]]) -> int:
    sent = 0
    for p in pubs:
        out, _ = p.communicate(timeout=60)
        sent += json.loads(out.strip().splitlines()[-1])["sent"]
    return sent


# ---- the receivers -----------------------------------------------------------------------------


async def run_gateway(
    url: str, kind: str, seconds: float, ready: asyncio.Event
) -> dict[str, float]:
    from xrclient.gateway.mqtt_client import run_mqtt
    from xrclient.gateway.source import GatewaySource

    m = mapping("mqtt" if kind == "plain" else "sparkplug")
    source = GatewaySource(m)
    lat: list[float] = []
    put_many, put = source.put_many, source.put

    def timed_many(feeds: Any, values: Any, times: Any) -> None:
        lat.extend((times[::16] - values[::16]).tolist())
        put_many(feeds, values, times)

    counter = [0]

    def timed_put(feed: int, raw: object, when: float, *a: Any, **k: Any) -> bool:
        counter[0] += 1
        if counter[0] % 16 == 0 and isinstance(raw, float):
            lat.append(time.time() - raw)
        return put(feed, raw, when, *a, **k)

    source.put_many = timed_many  # type: ignore[method-assign]  # timing wrapper, same call
    source.put = timed_put  # type: ignore[method-assign,assignment]  # timing wrapper, same call
    stop = asyncio.Event()
    task = asyncio.create_task(run_mqtt(url, m, source, stop=stop))
    while not source.stats.connected:
        await asyncio.sleep(0.01)
    ready.set()
    while source.stats.accepted < 1000:  # the publishers have started
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)  # every publisher under way
    lat.clear()
    a0, c0, t0 = source.stats.accepted, time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    a1, c1, t1 = source.stats.accepted, time.process_time(), time.perf_counter()
    stop.set()
    await task
    arr = np.array(lat) * 1000.0
    return {
        "msgs_s": (a1 - a0) / (t1 - t0),
        "cpu_pct": 100.0 * (c1 - c0) / (t1 - t0),
        "p50_ms": float(np.percentile(arr, 50)) if arr.size else float("nan"),
        "p99_ms": float(np.percentile(arr, 99)) if arr.size else float("nan"),
        "rejected": float(sum(source.stats.rejected.values())),
        "why": dict(source.stats.rejected.most_common(3)),  # type: ignore[dict-item]  # shown as is
    }


async def run_bare(url: str, kind: str, seconds: float, ready: asyncio.Event) -> dict[str, float]:
    import aiomqtt

    host, port = url.removeprefix("mqtt://").split(":")
    n = [0]
    async with aiomqtt.Client(host, int(port)) as client:
        await client.subscribe("bench/#" if kind == "plain" else f"spBv1.0/{GROUP}/#", QOS[0])
        ready.set()

        async def count() -> None:
            async for _ in client.messages:
                n[0] += 1

        task = asyncio.create_task(count())
        while n[0] < 1000:  # the publishers have started
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)  # every publisher under way
        a0, c0, t0 = n[0], time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        a1, c1, t1 = n[0], time.process_time(), time.perf_counter()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return {"msgs_s": (a1 - a0) / (t1 - t0), "cpu_pct": 100.0 * (c1 - c0) / (t1 - t0)}


def one(
    broker: Broker, receiver: str, kind: str, rate: float, seconds: float, procs: int
) -> dict[str, float]:
    lines = sorted({m.line for m in load_scene(scene_path(DEMO_SCENE)).machines})
    if kind == "sparkplug":
        procs = len(lines)  # one edge node per line

    async def main() -> dict[str, float]:
        ready = asyncio.Event()
        fn = run_gateway if receiver == "gateway" else run_bare
        task = asyncio.create_task(fn(broker.url, kind, seconds, ready))
        await ready.wait()
        pubs = start_publishers(broker.port, kind, rate, seconds + 4.0, procs, lines)
        result = await task
        result["sent_s"] = await asyncio.to_thread(finish, pubs) / (seconds + 4.0)
        return result

    return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=50_000.0, help="messages/s offered")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--procs", type=int, default=2, help="publisher processes (plain)")
    ap.add_argument("--kinds", nargs="+", default=["plain", "sparkplug"])
    ap.add_argument("--quick", action="store_true", help="short runs at 10,000 messages/s")
    ap.add_argument("--qos", type=int, default=0, choices=(0, 1), help="plain topics' QoS")
    ap.add_argument("--publish", nargs=7, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publish:
        port, kind, rate, seconds, index, lines, qos = args.publish
        publish(int(port), kind, float(rate), float(seconds), int(index), lines, int(qos))
        return
    QOS[0] = args.qos
    if args.quick:
        args.rate, args.seconds = min(args.rate, 10_000.0), 3.0
    print(f"# MQTT gateway, {machine_line()}")
    print(
        f"# mosquitto 2.0 on loopback; offered {args.rate:,.0f} msgs/s, {args.seconds} s per "
        f"run; plain topics at QoS {args.qos}"
    )
    with tempfile.TemporaryDirectory() as tmp, Broker(Path(tmp)) as broker:
        for kind in args.kinds:
            for receiver in ("bare", "gateway"):
                r = one(broker, receiver, kind, args.rate, args.seconds, args.procs)
                lat = ""
                if "p50_ms" in r:
                    lat = f"  latency p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                print(
                    f"{kind:9s} {receiver:8s} sent {r['sent_s']:9,.0f}/s  received "
                    f"{r['msgs_s']:9,.0f}/s  CPU {r['cpu_pct']:5.1f} %{lat}"
                    + (f"  refused {r['why']}" if r.get("why") else ""),
                    flush=True,
                )


if __name__ == "__main__":
    mp.set_start_method("spawn", force=True)
    main()
