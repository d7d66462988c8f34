"""Session hub fan-out on loopback, beside a plain websockets broadcast relay, and
annotation commits.

Presence: N participants in one room each send a pose 30 times a second (with their send
time). Two servers get the same load in the same run, each in its own process:

* the hub (``python -m xrclient hub``): latest-value presence per participant, one
  batched frame per tick (30 Hz), encoded once and shared by all receivers;
* the floor: a plain ``websockets`` server relaying every message to everyone else with
  ``websockets.broadcast``.

The load generator runs as ``--workers`` separate processes (participants split between
them, each process one asyncio loop). Figures: relay latency (send time -> received, each
pose entry), delivered/offered (pose entries received / poses sent x receivers; for the
hub, poses superseded within one tick are coalesced by design, so the rate each receiver
sees per sender is given too), hub CPU (from /proc over the measured window) and the load
generator's own CPU and event-loop lag: when its lag stays low and every sender keeps its
30 Hz, the generator is not what limits the figures.

Annotations: 10 participants in one room change annotations closed-loop (8 requests in
flight each, creates and deletes alternating so the room never fills) for a few seconds:
changes committed per second and acknowledgement latency (ack = committed to SQLite, WAL,
synchronous=FULL, on this disk; the hub runs with a high --rate so its per-connection
limit is not what is measured).

usage: python benchmarks/bench_hub.py [--sizes 10 50 100 200] [--seconds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line

SECRET = bytes(range(32))
RATE = 30.0
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- servers -------------------------------------------------------------------------------


def start_hub(tmp: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    secret = tmp / "hub.secret"
    if not secret.exists():
        secret.write_text(SECRET.hex())
        secret.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xrclient.hub",
            "hub",
            "--port",
            str(port),
            "--db",
            str(tmp / "hub.sqlite"),
            "--secret-file",
            str(secret),
            "--handshake-rate",  # every participant connects from this one address
            "1000",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert "hub listening" in proc.stdout.readline()
    return proc, port


def start_relay() -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--relay-server", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert "relay listening" in proc.stdout.readline()
    return proc, port


def relay_server(port: int) -> None:
    """The floor: every message relayed to every other connection, nothing else."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()

    async def handle(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            async for msg in ws:
                broadcast([c for c in clients if c is not ws], msg)
        finally:
            clients.discard(ws)

    async def main() -> None:
        async with serve(handle, "127.0.0.1", port, compression=None, max_size=2**20):
            print("relay listening", flush=True)
            await asyncio.Future()

    asyncio.run(main())


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


# -- the load generator (worker processes) -------------------------------------------------


def _pose(k: int, t: float) -> dict[str, Any]:
    x, z = np.cos(t + k), np.sin(t + k)
    return {
        "t": "pose",
        "s": time.time(),
        "h": [float(x), 1.7, float(z), 0.0, 0.0, 0.0, 1.0],
        "r": [float(x), 1.2, float(z), 0.0, 0.0, 0.0, 1.0],
        "p": [float(x), 1.2, float(z), 0.0, 0.0, -1.0],
    }


async def _participant(
    mode: str,
    url: str,
    token: str | None,
    k: int,
    start: float,
    until: float,
    out: dict[str, Any],
) -> None:
    from websockets.asyncio.client import connect

    from xrclient.core import session_codec as codec

    headers = {"Authorization": f"Bearer {token}"} if token else None
    subs = [codec.SUBPROTOCOL] if mode == "hub" else None
    for attempt in range(50):
        try:
            ws = await connect(
                url,
                additional_headers=headers,
                subprotocols=subs,  # type: ignore[arg-type]  # plain strs where websockets types a Subprotocol (a NewType of str)
                compression=None,
                max_size=2**24,
                open_timeout=20,
                max_queue=None,
            )
            break
        except OSError:
            await asyncio.sleep(0.1 * (attempt + 1))
    else:
        raise RuntimeError("could not connect")
    me: int | None = None
    lat: list[np.ndarray] = out["lat"]

    async def sender() -> None:
        period = 1.0 / RATE
        await asyncio.sleep(max(0.0, start - time.time()) + random.random() * period)
        next_at = time.monotonic()
        while time.time() < until:
            await ws.send(msgpack.packb(_pose(k, time.time()), use_bin_type=True))
            out["sent"] += 1
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def receiver() -> None:
        nonlocal me
        while True:
            frame = await ws.recv()
            now = time.time()
            if mode == "hub":
                if frame[:1] != b"\x86":  # not a presence frame (6 keys): welcome, notices
                    doc = msgpack.unpackb(frame)
                    if doc.get("t") == "welcome":
                        me = doc["you"]
                    continue
                doc = msgpack.unpackb(frame)
                pids = np.frombuffer(doc["pid"], "<u4")
                sent = np.frombuffer(doc["s"], "<f8")[pids != me]
            else:
                sent = np.array([msgpack.unpackb(frame)["s"]])
            if now >= start + 0.5 and now < until:
                lat.append((now - sent).astype(np.float32))
                out["entries"] += len(sent)

    tasks = [asyncio.create_task(sender()), asyncio.create_task(receiver())]
    await asyncio.sleep(max(0.0, until - time.time()) + 0.5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await ws.close()


async def _worker_main(
    mode: str, url: str, tokens: list[str | None], first: int, start: float, until: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"lat": [], "sent": 0, "entries": 0}
    lags: list[float] = []

    async def lag_probe() -> None:
        while time.time() < until:
            t0 = time.monotonic()
            await asyncio.sleep(0.01)
            if time.time() > start:
                lags.append(time.monotonic() - t0 - 0.01)

    cpu0: float | None = None

    async def cpu_mark() -> None:
        nonlocal cpu0
        await asyncio.sleep(max(0.0, start + 0.5 - time.time()))
        cpu0 = time.process_time()

    probe = asyncio.create_task(lag_probe())
    mark = asyncio.create_task(cpu_mark())
    await asyncio.gather(
        *(
            _participant(mode, url, tok, first + i, start, until, out)
            for i, tok in enumerate(tokens)
        )
    )
    await probe, await mark
    cpu = time.process_time() - (cpu0 or 0.0)
    lat = np.concatenate(out["lat"]) if out["lat"] else np.zeros(0, np.float32)
    return {
        "lat": lat,
        "sent": out["sent"],
        "entries": out["entries"],
        "lag": np.array(lags),
        "cpu": cpu,
    }


def _worker(args: tuple[str, str, list[str | None], int, float, float], q: Any) -> None:
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # sends racing the final close
    q.put(asyncio.run(_worker_main(*args)))


# -- one measurement -----------------------------------------------------------------------


def measure(mode: str, n: int, seconds: float, workers: int, tmp: Path) -> dict[str, float]:
    from xrclient.core.session_roles import Role
    from xrclient.hub import tokens

    proc, port = start_hub(tmp) if mode == "hub" else start_relay()
    room = f"bench{n}"
    url = (
        f"ws://127.0.0.1:{port}/{room}?device=headless"
        if mode == "hub"
        else f"ws://127.0.0.1:{port}"
    )
    toks: list[str | None] = [
        tokens.mint(SECRET, room, f"p{k}", Role.OPERATOR, 3600) if mode == "hub" else None
        for k in range(n)
    ]
    ramp = 2.0 + n / 50
    start = time.time() + ramp
    until = start + 0.5 + seconds
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    split = np.array_split(np.arange(n), workers)
    procs = [
        ctx.Process(
            target=_worker,
            args=((mode, url, [toks[i] for i in part], int(part[0]), start, until), q),
        )
        for part in split
        if len(part)
    ]
    for p in procs:
        p.start()
    time.sleep(max(0.0, start + 0.5 - time.time()))
    hub_cpu0 = cpu_seconds(proc.pid)
    time.sleep(max(0.0, until - time.time()))
    hub_cpu = cpu_seconds(proc.pid) - hub_cpu0
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    stop(proc)
    lat = np.concatenate([r["lat"] for r in results])
    sent = sum(r["sent"] for r in results) * seconds / (seconds + 0.5)  # the measured window
    entries = sum(r["entries"] for r in results)
    offered = sent * (n - 1)
    lags = np.concatenate([r["lag"] for r in results])
    p50, p99 = (np.percentile(lat, [50, 99]) * 1000) if lat.size else (float("nan"),) * 2
    return {
        "p50": float(p50),
        "p99": float(p99),
        "ratio": entries / offered if offered else 0.0,
        "pair_hz": entries / max(1, n * (n - 1)) / seconds,
        "send_hz": sent / n / seconds,
        "hub_cpu": hub_cpu / seconds * 100,
        "gen_cpu": sum(r["cpu"] for r in results) / seconds * 100,
        "gen_lag99": float(np.percentile(lags, 99) * 1000) if lags.size else 0.0,
    }


# -- annotations ---------------------------------------------------------------------------


async def _annotators(
    port: int, seconds: float, clients: int, window: int
) -> tuple[int, np.ndarray]:
    from websockets.asyncio.client import connect

    from xrclient.core import session_codec as codec
    from xrclient.core.session_roles import Role
    from xrclient.hub import tokens

    lat: list[float] = []
    done = 0

    async def one(k: int) -> None:
        nonlocal done
        tok = tokens.mint(SECRET, "notes", f"a{k}", Role.EXPERT, 3600)
        async with connect(
            f"ws://127.0.0.1:{port}/notes",
            subprotocols=[codec.SUBPROTOCOL],  # type: ignore[list-item]  # a plain str where websockets types a Subprotocol (a NewType of str)
            additional_headers={"Authorization": f"Bearer {tok}"},
            compression=None,
            max_size=2**24,
        ) as ws:
            sent_at: dict[int, float] = {}
            creates: dict[int, bool] = {}
            rid = 0
            until = time.monotonic() + seconds

            async def send_one(delete: str | None = None) -> None:
                nonlocal rid
                rid += 1
                sent_at[rid] = time.perf_counter()
                creates[rid] = delete is None
                if delete:  # every other change deletes a note, so the room never fills up
                    doc = {"t": "ann_delete", "id": rid, "ann": delete}
                else:
                    doc = {
                        "t": "ann_create",
                        "id": rid,
                        "machine": "M1",
                        "text": f"note {rid}",
                        "offset": [0.0, 1.0, 0.0],
                    }
                await ws.send(codec.encode(doc))

            for _ in range(window):
                await send_one()
            while sent_at:
                doc = msgpack.unpackb(await ws.recv())
                if doc.get("t") == "error" and doc.get("id") in sent_at:
                    raise RuntimeError(f"the hub refused a request: {doc.get('code')}")
                if doc.get("t") == "ack" and doc.get("id") in sent_at:
                    lat.append(time.perf_counter() - sent_at.pop(doc["id"]))
                    done += 1
                    if time.monotonic() < until:
                        await send_one(doc.get("ann") if creates.pop(doc["id"]) else None)

    await asyncio.gather(*(one(k) for k in range(clients)))
    return done, np.array(lat)


def measure_annotations(tmp: Path, seconds: float) -> dict[str, float]:
    proc, port = start_hub(tmp, "--rate", "100000", "--room-fanout", "1e6")  # the store, not limits
    try:
        t0 = time.perf_counter()
        done, lat = asyncio.run(_annotators(port, seconds, clients=10, window=8))
        wall = time.perf_counter() - t0
    finally:
        stop(proc)
    p50, p99 = np.percentile(lat, [50, 99]) * 1000
    return {"rate": done / wall, "p50": float(p50), "p99": float(p99), "n": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--relay-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-relay", action="store_true", help="measure only the hub")
    args = parser.parse_args()
    if args.relay_server:
        relay_server(args.relay_server)
        return
    print(machine_line())
    print(
        f"presence at {RATE:.0f} Hz per participant, {args.seconds:.0f} s measured per row, "
        f"load generator: {args.workers} processes\n"
    )
    head = (
        f"{'server':<6} {'people':>6} {'p50 ms':>8} {'p99 ms':>8} {'deliv/off':>9} "
        f"{'Hz/pair':>7} {'send Hz':>7} {'srv CPU%':>8} {'gen CPU%':>8} {'gen lag99':>9}"
    )
    print(head)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for n in args.sizes:
            for mode in ("hub", "relay"):
                if mode == "relay" and args.skip_relay:
                    continue
                r = measure(mode, n, args.seconds, args.workers, tmp)
                print(
                    f"{mode:<6} {n:>6} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['ratio']:>9.2f} "
                    f"{r['pair_hz']:>7.1f} {r['send_hz']:>7.1f} {r['hub_cpu']:>8.0f} "
                    f"{r['gen_cpu']:>8.0f} {r['gen_lag99']:>7.1f}ms",
                    flush=True,
                )
        a = measure_annotations(tmp, min(args.seconds, 4.0))
        print(
            f"\nannotations: {a['n']:.0f} changes (creates and deletes, alternating) by 10 "
            f"participants in one room, 8 in flight each: "
            f"{a['rate']:.0f} changes/s committed, ack latency p50 {a['p50']:.1f} ms, "
            f"p99 {a['p99']:.1f} ms (SQLite WAL, synchronous=FULL)"
        )


if __name__ == "__main__":
    main()
