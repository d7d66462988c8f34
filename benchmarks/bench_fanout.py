"""Simulator fan-out: updates per second delivered to each of 1, 10 and 50 clients, and
their latency (server send -> decoded by the client).

The simulator runs as its own process (``xrclient twin-sim``, demo plant by default, at the
given rate). The clients run in this process on one asyncio loop: each is a real WebSocket
connection whose frames are decoded by the client protocol (``TwinClientProtocol``), so the
figures include decoding. With both processes on the same cores, the clients' decoding
competes with the server for CPU, which makes these figures a lower bound.

usage: python benchmarks/bench_fanout.py [--clients 1 10 50] [--rate 100] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line
from _sim import twin_sim

from xrclient.core import protocol as proto
from xrclient.resources import DEMO_SCENE


async def one_client(
    url: str, encoding: str, until: float, start: float
) -> tuple[int, list[float]]:
    sub = proto.SUBPROTOCOL_MSGPACK if encoding == "msgpack" else proto.SUBPROTOCOL_JSON
    client = proto.TwinClientProtocol()
    updates = 0
    latencies: list[float] = []
    async with connect(url, subprotocols=[sub], max_size=2**26, compression=None) as ws:  # type: ignore[list-item]  # a plain str where websockets types a Subprotocol (a NewType of str)
        while (now := time.time()) < until:
            try:
                frame = await asyncio.wait_for(ws.recv(), until - now)
            except TimeoutError:
                break
            received = time.time()
            for event in client.receive(frame):
                if isinstance(event, proto.Updates) and not event.batch.snapshot:
                    if received >= start:
                        updates += len(event.batch)
                        latencies.append(received - event.batch.sent)
    return updates, latencies


async def run(url: str, clients: int, encoding: str, seconds: float) -> tuple[float, float, float]:
    start = time.time() + 1.0  # connect and take snapshots first
    until = start + seconds
    results = await asyncio.gather(
        *(one_client(url, encoding, until, start) for _ in range(clients))
    )
    per_client = np.array([u for u, _ in results]) / seconds
    lat = np.concatenate([np.array(x) for _, x in results]) * 1000
    return float(per_client.mean()), float(per_client.min()), float(np.percentile(lat, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--scene", default=DEMO_SCENE)
    parser.add_argument("--encodings", nargs="+", default=["msgpack", "json"])
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    print(
        f"setup: {args.scene}, simulator at {args.rate:g} Hz in its own process; clients on one "
        f"asyncio loop in this process, decoding every frame; {args.seconds:g} s per run"
    )
    print(f"{'clients':>7} {'encoding':>8} {'updates/s per client (mean, min)':>34} {'p99 ms':>8}")
    with twin_sim(args.scene, args.rate) as url:
        for enc in args.encodings:
            for n in args.clients:
                mean, worst, p99 = asyncio.run(run(url, n, enc, args.seconds))
                print(f"{n:>7} {enc:>8} {mean:>20,.0f} {worst:>12,.0f} {p99:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
