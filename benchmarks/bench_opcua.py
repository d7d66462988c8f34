"""The OPC UA gateway under load: CPU and source-timestamp -> client-store latency.

The OPC UA server is the plant simulator (``SimOpcuaServer``) in its own process (so CPU
figures here are the gateway's own), every machine a CNC mill with 10 numeric variables,
stepped once per sampling interval on the day shift (the simulator runs ahead of the wall
clock by whole days and hours; source timestamps are wall-clock times). Two cases:
2,000 machines x 10 items sampled every 1 s, and 200 x 10 every 100 ms.

Gateway: ``OpcuaConnector`` + ``GatewaySource`` + ``TwinServer`` (10 Hz) on one event loop
thread, as ``xrclient gateway`` runs; a real ``TwinClient`` in this process applies every
batch to a ``TwinStore`` as it arrives. Figures: the gateway loop thread's CPU
(``time.thread_time`` on that thread, so the client thread is not counted), notifications
per second, and per value ``applied - source timestamp`` p50/p99. Side by side: a bare
asyncua client (its standard ``subscribe_data_change`` handler that only counts) on its own
loop thread subscribing to the same items, with the same CPU and latency measures.

usage: python benchmarks/bench_opcua.py [--quick] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing as mp
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line

from xrclient.core.twin_store import TwinStore
from xrclient.gateway.mapping import Feed, Mapping, OpcuaOptions, OpcuaTarget
from xrclient.gateway.opcua_client import OpcuaConnector
from xrclient.gateway.opcua_security import OpcuaSecurity
from xrclient.gateway.opcua_server import SimOpcuaServer, namespace_uri, node_id
from xrclient.gateway.source import GatewaySource
from xrclient.net.loop_thread import LoopThread
from xrclient.net.twin_client import TwinClient
from xrclient.scene.model import Line, Machine, Plant, Scene, Transform
from xrclient.server.background import BackgroundServer
from xrclient.server.sim_profiles import PROPERTIES
from xrclient.server.simulator import PlantSimulator
from xrclient.server.twin_server import ServerConfig

ITEMS = (
    "spindle_rpm",
    "load_pct",
    "temperature_c",
    "vibration_mm_s",
    "power_kw",
    "energy_kwh",
    "cycle_count",
    "parts_good",
    "parts_scrap",
    "cycle_time_s",
)
PLANT = "Bench Plant"


def scene(n: int) -> Scene:
    line = Line("L00", "Line 0")
    machines = tuple(
        Machine(f"M-{i:05d}", f"Mill {i}", "cnc_mill", "a", "L00", "c", Transform())
        for i in range(n)
    )
    return Scene(Path("bench.toml"), Plant(PLANT), {}, (line,), machines)


def day_offset(now: float) -> float:
    """Seconds to add to ``now`` to land on 10:00 UTC of a weekday (the day shift)."""
    today = datetime.datetime.fromtimestamp(now, datetime.UTC)
    ten = today.replace(hour=10, minute=0, second=0, microsecond=0)
    while ten.timestamp() < now or ten.weekday() >= 5:
        ten += datetime.timedelta(days=1)
    return ten.timestamp() - now


def serve(n: int, tick_s: float, every: bool, conn: Connection) -> None:
    """The server process: build, serve, tick; report the update cost when told to stop.
    With ``every``, each tick moves every benchmarked item (a random walk) instead of
    stepping the simulator, so every monitored item changes every sampling interval."""

    async def main() -> None:
        now = time.time()
        offset = day_offset(now)
        sc = scene(n)
        sim = PlantSimulator(sc, seed=1, start=now + offset, fault_rate_per_hour=0.0)
        server = SimOpcuaServer(sim, sc, time_offset_s=offset)
        await server.start()
        conn.send(server.url)
        names = [spec.name for spec in sim.schema.properties]
        cols = [names.index(name) for name in ITEMS]
        mask = np.zeros(sim.values.shape, bool)
        mask[:, cols] = True
        rng = np.random.default_rng(1)
        costs: list[float] = []
        writes = 0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not conn.poll():
            next_at += tick_s
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            start = time.process_time()
            if every:
                sim.values[:, cols] += rng.normal(0.0, 1.0, (n, len(cols))).round(2) + 0.01
                sim.source_time[:, cols] = time.time() + offset
                writes += await server.write(mask)
            else:
                writes += await server.update(time.time())
            costs.append(time.process_time() - start)
        conn.send((float(np.median(costs)) if costs else 0.0, writes, len(costs)))
        await server.stop()

    asyncio.run(main())


def mapping(n: int, sampling_ms: float) -> Mapping:
    uri = namespace_uri(PLANT)
    names = [spec.name for spec, _ in PROPERTIES]
    props = tuple(PROPERTIES[names.index(name)][0] for name in ITEMS)
    feeds = tuple(
        Feed(
            m * len(ITEMS) + p,
            m,
            p,
            f"machines.M-{m:05d}.{name}",
            OpcuaTarget(node_id(uri, f"M-{m:05d}", name)),
            sampling_ms=sampling_ms,
        )
        for m in range(n)
        for p, name in enumerate(ITEMS)
    )
    machines = tuple(f"M-{m:05d}" for m in range(n))
    options = OpcuaOptions(publishing_ms=sampling_ms, sampling_ms=sampling_ms)
    return Mapping("bench.toml", "opcua", props, machines, feeds, options)


@dataclass
class Figures:
    cpu_pct: float
    rate: float
    p50_ms: float
    p99_ms: float


def _pct(lat: list[float], q: float) -> float:
    return float(np.percentile(lat, q)) * 1000 if lat else float("nan")


def run_gateway(url: str, mp_: Mapping, seconds: float) -> Figures:
    source = GatewaySource(mp_)
    server = BackgroundServer(source, ServerConfig(port=0, rate_hz=10.0))
    connector = OpcuaConnector(url, mp_, source, OpcuaSecurity(policy="None"), timeout_s=30)
    server.start()
    task: list[asyncio.Future[None]] = []
    server.call(lambda: task.append(asyncio.ensure_future(connector.run())))
    store = TwinStore(mp_.machines)
    lat: list[float] = []
    measuring = threading.Event()
    stop = threading.Event()
    try:
        with TwinClient(server.url, max_frame=256 * 2**20) as client:

            def consume() -> None:
                while not stop.is_set():
                    if not client.queue.wait(0.1):
                        continue
                    for batch in client.queue.drain():
                        store.apply(batch, time.time())
                        done = time.time()
                        if measuring.is_set() and not batch.snapshot:
                            keep = batch.prop < len(ITEMS)
                            lat.extend((done - batch.time[keep]).tolist())

            consumer = threading.Thread(target=consume)
            consumer.start()
            deadline = time.monotonic() + 120
            while not server.call(lambda: source.stats.connected):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gateway did not connect: {source.stats.summary()}")
                time.sleep(0.2)
            time.sleep(2.0)  # the initial read and notifications settle
            n0 = server.call(lambda: connector.notifications)
            c0 = server.call(time.thread_time)
            w0 = time.perf_counter()
            measuring.set()
            time.sleep(seconds)
            measuring.clear()
            cpu = server.call(time.thread_time) - c0
            wall = time.perf_counter() - w0
            notes = server.call(lambda: connector.notifications) - n0
            stop.set()
            consumer.join()
    finally:
        server.call(connector.close)
        time.sleep(0.5)
        server.close()
    return Figures(100 * cpu / wall, notes / wall, _pct(lat, 50), _pct(lat, 99))


class _Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lat: list[float] = []
        self.measuring = False

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.count += 1
        if self.measuring:
            stamp = data.monitored_item.Value.SourceTimestamp
            if stamp is not None:
                self.lat.append(time.time() - stamp.timestamp())


def run_bare(url: str, mp_: Mapping, sampling_ms: float, seconds: float) -> Figures:
    """A plain asyncua client subscribing to the same nodes, counting notifications."""
    from asyncua import ua
    from asyncua.client.client import Client

    loops = LoopThread("bare-asyncua")
    loops.start()
    counter = _Counter()
    holder: dict[str, Any] = {}

    async def setup() -> None:
        client = Client(url, timeout=30, watchdog_intervall=5.0)
        await client.connect()
        array = await client.get_namespace_array()
        idx = array.index(namespace_uri(PLANT))
        nodes = [
            client.get_node(f"ns={idx};s={f.target.start.split(';s=', 1)[1]}")  # type: ignore[union-attr]  # the bench's targets are NodeIds
            for f in mp_.feeds
        ]
        sub = await client.create_subscription(sampling_ms, counter)
        for i in range(0, len(nodes), 1000):
            await sub.subscribe_data_change(
                nodes[i : i + 1000], sampling_interval=ua.Double(sampling_ms), queuesize=1
            )
        holder["client"] = client

    try:
        loops.run(setup, timeout=300)
        time.sleep(2.0)
        n0 = loops.call(lambda: counter.count)
        c0 = loops.call(time.thread_time)
        w0 = time.perf_counter()
        loops.call(lambda: setattr(counter, "measuring", True))
        time.sleep(seconds)
        loops.call(lambda: setattr(counter, "measuring", False))
        cpu = loops.call(time.thread_time) - c0
        wall = time.perf_counter() - w0
        notes = loops.call(lambda: counter.count) - n0

        async def down() -> None:
            await holder["client"].disconnect()

        loops.run(down, timeout=30)
    finally:
        loops.close()
    return Figures(100 * cpu / wall, notes / wall, _pct(counter.lat, 50), _pct(counter.lat, 99))


def case(n: int, sampling_ms: float, seconds: float, every: bool) -> None:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(n, sampling_ms / 1000, every, theirs), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    try:
        if not ours.poll(600):
            raise RuntimeError("the OPC UA server did not start")
        url = ours.recv()
        built = time.perf_counter() - t0
        mp_ = mapping(n, sampling_ms)
        gw = run_gateway(url, mp_, seconds)
        bare = run_bare(url, mp_, sampling_ms, seconds)
        ours.send("stop")
        update_cpu, writes, ticks = ours.recv() if ours.poll(30) else (float("nan"), 0, 0)
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
    items = len(mp_.feeds)
    print(
        f"\n{n:,} machines x {len(ITEMS)} items = {items:,} monitored items, "
        f"sampling {sampling_ms:g} ms (server built in {built:.1f} s; its update of "
        f"{writes / max(ticks, 1):,.0f} changed values: {update_cpu * 1000:.1f} ms CPU median)"
    )
    print(f"  {'':28s} {'CPU %':>7s} {'notif/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, f in (("gateway -> client store", gw), ("bare asyncua (count only)", bare)):
        print(f"  {name:28s} {f.cpu_pct:7.1f} {f.rate:9,.0f} {f.p50_ms:8.1f} {f.p99_ms:8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small plants, short runs")
    ap.add_argument("--seconds", type=float, default=None, help="measuring time per run")
    ap.add_argument(
        "--changes",
        choices=("all", "sim"),
        default="all",
        help="all: every item changes every sampling interval (default); "
        "sim: the simulator's own changes (about one in eight per step)",
    )
    args = ap.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 10.0)
    cases = ((200, 1000.0), (50, 100.0)) if args.quick else ((2000, 1000.0), (200, 100.0))
    print(f"OPC UA gateway benchmark on {machine_line()}")
    print(
        f"asyncua server in its own process, {seconds:g} s measured per run, "
        f"changes: {args.changes}; gateway twin server at 10 Hz"
    )
    for n, sampling in cases:
        case(n, sampling, seconds, args.changes == "all")


if __name__ == "__main__":
    main()
