"""Abusive clients beside well-behaved ones, against a twin server (``xrclient twin-sim``)
and a session hub (``xrclient hub``), each a real subprocess on loopback so its memory can
be read from /proc. Shared by tests/net/test_abuse_soak.py and benchmarks/bench_abuse.py.

Abusers, each seeded: ``flood`` (sends as fast as it can, reconnects when closed),
``mute`` (connects and never reads, its receive buffer shrunk), ``huge`` (frames past the
server's size limit), ``garbage`` (random bytes and broken JSON or msgpack). Well-behaved
clients send one request every ``period_s`` and time its answer (on the twin stream a
control request, refused with its id as ``twin-sim`` refuses control by default; on the hub
``follow`` nil, acknowledged); twin clients also time each delta from its ``sent`` stamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.hub import tokens

ROOT = Path(__file__).resolve().parents[2]
ABUSER_KINDS = ("flood", "mute", "huge", "garbage")
ROOM = "soak"


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    peak_rss_kib: int = 0
    #: what the server wrote to its standard error, once stopped
    stderr: str = ""

    def rss_kib(self) -> tuple[int, int]:
        """(current, peak) resident set of the server process, KiB, from /proc."""
        now = peak = 0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
        self.peak_rss_kib = max(self.peak_rss_kib, peak, now)
        return now, peak


def _start(args: list[str], pattern: str) -> Server:
    proc = subprocess.Popen(
        [sys.executable, "-m", "xrclient", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(pattern, line)
    if not match:
        proc.kill()
        raise AssertionError(f"{args[0]} did not start: {line!r} {proc.communicate()}")
    return Server(proc, match.group(1))


def _stop(server: Server) -> str:
    server.proc.send_signal(signal.SIGTERM)
    try:
        _, err = server.proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        _, err = server.proc.communicate(timeout=10)
    return err


@contextlib.contextmanager
def twin_sim(rate_hz: float = 10.0) -> Iterator[Server]:
    server = _start(
        ["twin-sim", "demo-plant", "--port", "0", "--fault-rate", "0", "--rate", f"{rate_hz:g}"],
        r"(ws://127\.0\.0\.1:\d+)",
    )
    try:
        yield server
    finally:
        server.stderr = _stop(server)


@contextlib.contextmanager
def hub(folder: Path) -> Iterator[tuple[Server, bytes]]:
    secret_file = folder / "hub.secret"
    args = ["hub", "--port", "0", "--db", str(folder / "hub.sqlite")]
    args += ["--secret-file", str(secret_file), "--handshake-rate", "1000"]
    server = _start(args, r"(ws://127\.0\.0\.1:\d+)/ROOM")
    secret = tokens.load_secret(secret_file)
    try:
        yield server, secret
    finally:
        server.stderr = _stop(server)


@dataclass
class Tally:
    """What the clients saw: well-behaved latencies (seconds) and what the abusers did."""

    request_s: list[float] = field(default_factory=list)
    delta_s: list[float] = field(default_factory=list)
    sent: int = 0
    closes: dict[int, int] = field(default_factory=dict)
    refused_handshakes: int = 0
    good_failures: list[str] = field(default_factory=list)

    def closed(self, code: int | None) -> None:
        key = -1 if code is None else code
        self.closes[key] = self.closes.get(key, 0) + 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


# -- well-behaved clients --------------------------------------------------------------------


async def good_twin(url: str, tally: Tally, stop: asyncio.Event, period_s: float) -> None:
    try:
        async with connect(url, max_size=2**26, open_timeout=10) as ws:
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome"
            request_id, asked = 0, 0.0

            async def reader() -> None:
                nonlocal asked
                async for frame in ws:
                    now = time.time()
                    doc = json.loads(frame)
                    if doc["type"] == "delta":
                        tally.delta_s.append(now - doc["sent"])
                    elif doc.get("id") == request_id and asked:
                        tally.request_s.append(time.perf_counter() - asked)
                        asked = 0.0

            task = asyncio.create_task(reader())
            while not stop.is_set():
                if asked and time.perf_counter() - asked > 10:
                    tally.good_failures.append("twin: a request went unanswered for 10 s")
                    asked = 0.0
                if not asked:
                    request_id += 1
                    asked = time.perf_counter()
                    msg = {"type": "control", "id": request_id, "action": "probe"}
                    await ws.send(json.dumps(msg))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), period_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketException):
                await task
    except (OSError, WebSocketException, AssertionError) as exc:
        tally.good_failures.append(f"twin: {type(exc).__name__}: {exc}")


async def good_hub(
    url: str, token: str, tally: Tally, stop: asyncio.Event, period_s: float
) -> None:
    try:
        async with connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            subprotocols=[codec.SUBPROTOCOL],  # type: ignore[list-item]  # a plain str where websockets types a Subprotocol
            open_timeout=10,
        ) as ws:
            request_id, asked = 0, 0.0

            async def reader() -> None:
                nonlocal asked
                async for frame in ws:
                    assert isinstance(frame, bytes)
                    doc = codec.decode(frame)
                    if doc.get("t") in ("ack", "error") and doc.get("id") == request_id and asked:
                        tally.request_s.append(time.perf_counter() - asked)
                        asked = 0.0

            task = asyncio.create_task(reader())
            while not stop.is_set():
                if asked and time.perf_counter() - asked > 10:
                    tally.good_failures.append("hub: a request went unanswered for 10 s")
                    asked = 0.0
                if not asked:
                    request_id += 1
                    asked = time.perf_counter()
                    await ws.send(codec.encode({"t": "follow", "id": request_id, "leader": None}))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), period_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketException):
                await task
    except (OSError, WebSocketException, AssertionError) as exc:
        tally.good_failures.append(f"hub: {type(exc).__name__}: {exc}")


# -- abusers ---------------------------------------------------------------------------------


def _mute_socket(url: str) -> socket.socket:
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    return sock


def _garbage(rng: random.Random, hub_frames: bool) -> str | bytes:
    pick = rng.randrange(5)
    if pick == 0:
        return rng.randbytes(rng.randrange(1, 300))
    if pick == 1:
        return '{"type": "control", "id": ' + str(rng.randrange(-10, 10)) + ', "act'
    if pick == 2:
        doc = {"t" if hub_frames else "type": rng.choice(["pose", "chat", "x", "control", 7])}
        doc[rng.choice(["id", "h", "text", "action"])] = rng.choice(
            [None, 1e308, -1, "\u202e\x1b[2J", [1.0] * 7, {"a": [1, 2]}]
        )
        return msgpack.packb(doc) if hub_frames else json.dumps(doc)
    if pick == 3:
        return "\x00" * rng.randrange(1, 100)
    return json.dumps([rng.random() for _ in range(rng.randrange(50))])


async def abuser(
    kind: str,
    seed: int,
    url: str,
    stop: asyncio.Event,
    tally: Tally,
    *,
    headers: dict[str, str] | None = None,
    hub_frames: bool = False,
    max_frame: int = 65536,
) -> None:
    """One abusive client of ``kind`` until ``stop``; reconnects after each close."""
    rng = random.Random(seed)
    subprotocols = [codec.SUBPROTOCOL] if hub_frames else None
    while not stop.is_set():
        sock = _mute_socket(url) if kind == "mute" else None
        try:
            async with connect(
                url,
                sock=sock,
                additional_headers=headers,
                subprotocols=subprotocols,  # type: ignore[arg-type]  # plain strs where websockets types Subprotocols
                max_size=None,
                open_timeout=10,
                close_timeout=1,
                ping_interval=None,
            ) as ws:
                await _abuse(kind, rng, ws, stop, tally, hub_frames, max_frame)
            tally.closed(1000)
        except InvalidHandshake:
            tally.refused_handshakes += 1
            await asyncio.sleep(0.05)
        except WebSocketException as exc:
            rcvd = getattr(exc, "rcvd", None)
            tally.closed(None if rcvd is None else rcvd.code)
        except OSError:
            tally.closed(None)
            await asyncio.sleep(0.05)


async def _abuse(
    kind: str,
    rng: random.Random,
    ws: ClientConnection,
    stop: asyncio.Event,
    tally: Tally,
    hub_frames: bool,
    max_frame: int,
) -> None:
    async def drain() -> None:
        async for _ in ws:
            pass

    reading = None if kind == "mute" else asyncio.create_task(drain())
    try:
        while not stop.is_set():
            if kind == "flood":
                frame: str | bytes = (
                    codec.encode({"t": "chat", "text": "spam"})
                    if hub_frames
                    else '{"type":"resync"}'
                )
                for _ in range(50):
                    await ws.send(frame)
                    tally.sent += 1
                await asyncio.sleep(0)
            elif kind == "mute":
                frame = (
                    codec.encode({"t": "follow", "id": 1, "leader": None})
                    if hub_frames
                    else '{"type":"resync"}'
                )
                await ws.send(frame)
                tally.sent += 1
                await _sleep(stop, 0.02)
            elif kind == "huge":
                size = max_frame + rng.randrange(1, 4 * max_frame)
                await ws.send(rng.randbytes(size) if hub_frames else "x" * size)
                tally.sent += 1
                await _sleep(stop, 0.05)
            else:
                await ws.send(_garbage(rng, hub_frames))
                tally.sent += 1
                await _sleep(stop, 0.002)
            if reading is not None and reading.done():
                reading.result()
    finally:
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketException):
                await reading


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


# -- one round -------------------------------------------------------------------------------


@dataclass
class Round:
    twin: Tally
    hub: Tally
    twin_peak_rss_kib: int
    hub_peak_rss_kib: int
    #: tracebacks and error lines in the servers' standard error
    server_errors: list[str]


def _abuse_process(
    twin_url: str, room: str, secret: bytes, abusers: int, seed: int, stop: Any, out: Any
) -> None:
    """The abusers of both servers on their own loop, in their own process (so they load
    the servers, not the well-behaved clients' loop); their tallies go to ``out``."""

    async def main() -> tuple[Tally, Tally]:
        done = asyncio.Event()
        twin_tally, hub_tally = Tally(), Tally()
        jobs: list[Awaitable[None]] = []
        for i in range(abusers):
            kind = ABUSER_KINDS[i % len(ABUSER_KINDS)]
            jobs.append(abuser(kind, seed + i, twin_url, done, twin_tally))
            tok = tokens.mint(secret, ROOM, f"abuser-{i}", roles.Role.TRAINEE, 3600)
            jobs.append(
                abuser(
                    kind,
                    seed + 1000 + i,
                    room,
                    done,
                    hub_tally,
                    headers={"Authorization": f"Bearer {tok}"},
                    hub_frames=True,
                    max_frame=16384,
                )
            )
        tasks = [asyncio.ensure_future(job) for job in jobs]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        done.set()
        _, pending = await asyncio.wait(tasks, timeout=15)
        for task in pending:
            task.cancel()
        return twin_tally, hub_tally

    out.put(asyncio.run(main()))


async def _run(
    twin_url: str,
    hub_url: str,
    secret: bytes,
    seconds: float,
    abusers: int,
    good: int,
    seed: int,
    sample: Callable[[], None],
) -> tuple[Tally, Tally]:
    stop = asyncio.Event()
    twin_tally, hub_tally = Tally(), Tally()
    room = f"{hub_url}/{ROOM}"
    ctx = mp.get_context("spawn")
    abuse_stop, abuse_out = ctx.Event(), ctx.Queue()
    proc = None
    if abusers:
        proc = ctx.Process(
            target=_abuse_process,
            args=(twin_url, room, secret, abusers, seed, abuse_stop, abuse_out),
            daemon=True,
        )
        proc.start()
    jobs: list[Awaitable[None]] = []
    for i in range(good):
        jobs.append(good_twin(twin_url, twin_tally, stop, 0.1))
        tok = tokens.mint(secret, ROOM, f"good-{i}", roles.Role.EXPERT, 3600)
        jobs.append(good_hub(room, tok, hub_tally, stop, 0.1))
    tasks = [asyncio.ensure_future(job) for job in jobs]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sample()
        await asyncio.sleep(0.25)
    stop.set()
    abuse_stop.set()
    done, pending = await asyncio.wait(tasks, timeout=15)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]  # checked just above: not None
    if proc is not None:
        bad_twin, bad_hub = await asyncio.to_thread(abuse_out.get, True, 30)
        proc.join(10)
        for good_side, bad_side in ((twin_tally, bad_twin), (hub_tally, bad_hub)):
            good_side.sent = bad_side.sent
            good_side.closes = bad_side.closes
            good_side.refused_handshakes = bad_side.refused_handshakes
    return twin_tally, hub_tally


def soak(folder: Path, *, seconds: float, abusers: int, good: int, seed: int = 0) -> Round:
    """Both servers, ``good`` well-behaved clients of each and ``abusers`` abusers of each
    (kinds in turn), for ``seconds``; the servers' peak RSS sampled throughout."""
    folder.mkdir(parents=True, exist_ok=True)
    with twin_sim() as twin, hub(folder) as (hub_server, secret):

        def sample() -> None:
            twin.rss_kib()
            hub_server.rss_kib()

        twin_tally, hub_tally = asyncio.run(
            _run(twin.url, hub_server.url, secret, seconds, abusers, good, seed, sample)
        )
        sample()
        alive = twin.proc.poll() is None and hub_server.proc.poll() is None
        if not alive:
            raise AssertionError("a server died under the abuse")
    errors = server_errors(twin.stderr) + server_errors(hub_server.stderr)
    return Round(twin_tally, hub_tally, twin.peak_rss_kib, hub_server.peak_rss_kib, errors)


def server_errors(text: str) -> list[str]:
    """Tracebacks or error lines a server wrote to its standard error."""
    return [ln for ln in text.splitlines() if "Traceback" in ln or " ERROR " in ln]
