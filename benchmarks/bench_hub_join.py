"""Joining a hub room with a large history: the first frame, the time until every
annotation is in, and what joiners that never read cost the hub; this tree's hub beside
an earlier source tree's (``--baseline-src``, e.g. from ``git archive``), in the same run.

One database is filled directly (``--annotations`` annotations of ``--text`` characters,
spread over many authors) and copied for every hub started. Per round and per hub (the
hubs interleaved): a hub process starts; a participant joins and reads until it holds
every annotation (first frame size and time, time to all); a second participant stays
joined (so the room stays loaded) while ``--idle`` more join and never read; after
``--settle`` seconds the hub's resident memory is read from /proc, against the same
reading before the idle joiners.

usage: python benchmarks/bench_hub_join.py [--annotations 3000] [--text 1500] [--idle 20]
           [--rounds 3] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
SECRET = bytes(range(32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fill(db: Path, count: int, chars: int) -> None:
    from xrclient.core import session_roles as roles
    from xrclient.core.session_room import Annotation, Change
    from xrclient.hub import audit
    from xrclient.hub.store import HubStore

    store = HubStore(db, audit.derive_key(SECRET))
    now = time.time()
    batch = []
    for k in range(count):
        author = f"author{k % 50}"
        ann = Annotation(
            f"a{k:06d}", "M1", (0.0, 1.0, 0.0), "x" * chars, author, "#ffcc00", "", now, now, 1
        )
        batch.append(
            ("plant", Change("create", author, roles.Role.EXPERT, 1, None, None, ann, now))
        )
    for k in range(0, len(batch), 500):
        store.commit(batch[k : k + 500])
    store.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(src: Path, tmp: Path, db: Path) -> tuple[subprocess.Popen[str], int]:
    secret = tmp / "hub.secret"
    if not secret.exists():
        secret.write_text(SECRET.hex())
        secret.chmod(0o600)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    args = ["--port", str(port), "--db", str(db), "--secret-file", str(secret)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "xrclient", "hub", *args, "--handshake-rate", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "hub listening" in line, line
    return proc, port


def _token(name: str) -> str:
    from xrclient.core import session_roles as roles
    from xrclient.hub import tokens

    return tokens.mint(SECRET, "plant", name, roles.Role.OBSERVER, 3600)


async def _connect(port: int, name: str) -> ClientConnection:
    return await connect(
        f"ws://127.0.0.1:{port}/plant",
        # this tree's hub speaks v2, the baseline's v1: offer both
        subprotocols=["xrsession.v2", "xrsession.v1"],  # type: ignore[list-item]  # a plain str where websockets types a Subprotocol (a NewType of str)
        additional_headers={"Authorization": f"Bearer {_token(name)}"},
        compression=None,
        max_size=2**26,  # the measuring client takes what an ordinary client (16 MiB) would not
        max_queue=None,
    )


async def _join(port: int, expect: int) -> dict[str, float]:
    t0 = time.perf_counter()
    ws = await _connect(port, "reader")
    first = await ws.recv()
    assert isinstance(first, bytes)
    t_first = time.perf_counter() - t0
    doc: dict[str, Any] = msgpack.unpackb(first)
    seen = len(doc.get("annotations", []))
    while seen < expect:
        frame = await ws.recv()
        assert isinstance(frame, bytes)
        page = msgpack.unpackb(frame)
        if page.get("t") == "ann_page":
            seen += len(page["anns"])
    t_all = time.perf_counter() - t0
    await ws.close()
    return {"first_kib": len(first) / 1024, "first_ms": t_first * 1000, "all_ms": t_all * 1000}


async def _idle(proc: subprocess.Popen[str], port: int, idle: int, settle: float) -> float:
    keeper = await _connect(port, "keeper")
    drain = asyncio.create_task(_drain(keeper))
    await asyncio.sleep(settle)
    before = rss_kib(proc.pid)
    idlers = []
    for k in range(idle):
        ws = await _connect(port, f"idle{k}")
        ws.transport.pause_reading()  # never reads again
        idlers.append(ws)
    await asyncio.sleep(settle)
    after = rss_kib(proc.pid)
    drain.cancel()
    for ws in [keeper, *idlers]:
        ws.transport.abort()
    return (after - before) / idle / 1024  # MiB per idle joiner


async def _drain(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


def one(src: Path, tmp: Path, master: Path, n: int, idle: int, settle: float) -> dict[str, float]:
    db = tmp / f"hub-{time.monotonic_ns()}.sqlite"
    shutil.copy(master, db)
    proc, port = start(src, tmp, db)
    try:
        out = asyncio.run(_join(port, n))
        out["idle_mib"] = asyncio.run(_idle(proc, port, idle, settle))
        out["peak_mib"] = rss_kib(proc.pid) / 1024
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotations", type=int, default=3000)
    parser.add_argument("--text", type=int, default=1500)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", type=Path, help="an earlier source tree (its root)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        master = tmp / "master.sqlite"
        fill(master, args.annotations, args.text)
        hubs = {"this tree": ROOT}
        if args.baseline_src:
            hubs = {"baseline": args.baseline_src.resolve(), **hubs}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in hubs}
        for r in range(args.rounds):
            for name, src in hubs.items():  # interleaved
                got = one(src, tmp, master, args.annotations, args.idle, args.settle)
                results[name].append(got)
                print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in got.items()))
        print(f"\n{args.annotations} annotations of {args.text} chars, {args.idle} idle joiners")
        keys = ["first_kib", "first_ms", "all_ms", "idle_mib", "peak_mib"]
        print("| hub | " + " | ".join(f"{k} median (best)" for k in keys) + " |")
        for name, rows in results.items():
            cells = []
            for k in keys:
                values = [row[k] for row in rows]
                cells.append(f"{statistics.median(values):.1f} ({min(values):.1f})")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
