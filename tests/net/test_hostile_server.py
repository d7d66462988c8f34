"""A misbehaving twin server (a real WebSocket server on loopback sending bad frames):
the client logs, resynchronises or reconnects, never crashes, and ends with the truth."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgpack
import numpy as np
from websockets.asyncio.server import ServerConnection, serve

from xrclient.core.protocol import welcome_message
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.wire import encode_json
from xrclient.net.twin_client import Backoff, TwinClient

from .sources import wait_until

SCHEMA = StreamSchema(
    ("A", "B"),
    (PropertySpec("temperature_c", "number", "°C"), PropertySpec("ok", "bool")),
)
TRUTH = {"A": {"temperature_c": 41.5, "ok": True}, "B": {"temperature_c": 38.0, "ok": False}}


def good_snapshot(seq: int) -> str:
    now = time.time()
    updates = [[m, now, dict(v)] for m, v in TRUTH.items()]
    return encode_json({"type": "snapshot", "seq": seq, "sent": now, "updates": updates})


def delta(seq: int, machine: str, values: dict[str, Any]) -> str:
    now = time.time()
    return encode_json(
        {"type": "delta", "seq": seq, "sent": now, "updates": [[machine, now, values]]}
    )


def nan_delta(seq: int) -> bytes:
    return msgpack.packb(
        {
            "type": "delta",
            "seq": seq,
            "sent": time.time(),
            "m": np.array([0], "<u4").tobytes(),
            "p": np.array([0], "<u2").tobytes(),
            "v": np.array([np.nan], "<f8").tobytes(),
            "t": np.array([time.time()], "<f8").tobytes(),
        }
    )


class HostileServer:
    """Each connection: welcome, snapshot, then the next act of a scripted list of faults;
    resync requests are answered with a correct snapshot."""

    def __init__(self) -> None:
        self.connections = 0
        self.resyncs = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)

    async def _start(self) -> Any:
        server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = next(iter(server.sockets)).getsockname()[1]
        return server

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        act = self.connections
        await ws.send(encode_json(welcome_message(SCHEMA, "json", 0.2, "hostile")))
        await ws.send(good_snapshot(0))
        bad: list[str | bytes] = []
        if act == 1:
            bad = [
                "{not json",
                delta(1, "A", {"temperature_c": "hot"}),  # wrong type
                delta(2, "ZZZ", {"temperature_c": 1.0}),  # unknown machine
                nan_delta(3),  # NaN in binary
                delta(3, "A", {"temperature_c": 1e400}),  # inf in JSON
                delta(7, "A", {"temperature_c": 99.0}),  # sequence gap
            ]
        elif act == 2:
            bad = [delta(1, "A", {"ok": False}), delta(1, "A", {"ok": False})]  # duplicate
            TRUTH["A"]["ok"] = False
            bad.append("x" * (2 * 2**20))  # larger than the client accepts: it hangs up
        elif act == 3:
            await ws.wait_closed()  # says nothing more, not even heartbeats
            return
        for frame in bad:
            await ws.send(frame)
        try:
            if act >= 4:  # healthy from now on
                await self._heartbeats(ws, 0, 3600)
            async for message in ws:
                if '"resync"' in str(message):
                    self.resyncs += 1
                    await ws.send(good_snapshot(100))
                    await self._heartbeats(ws, 100, 0.5)
                    return  # hang up: on to the next act
        except Exception:
            return

    async def _heartbeats(self, ws: ServerConnection, seq: int, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(0.1)
            await ws.send(encode_json({"type": "heartbeat", "seq": seq, "sent": time.time()}))

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer()
    try:
        yield server
    finally:
        server.close()


def test_client_survives_a_hostile_server_and_converges() -> None:
    store = TwinStore(["A", "B"])
    backoff = Backoff(initial=0.05, maximum=0.2)
    with hostile_server() as server:
        url = f"ws://127.0.0.1:{server.port}"
        with TwinClient(url, backoff=backoff, max_frame=2**20, open_timeout=1.0) as client:
            wait_until(lambda: server.connections >= 4, 20, "four connections")
            wait_until(lambda: client.status.state == "live", 5)
            for batch in client.queue.drain():
                store.apply(batch, time.time())
            status = client.status
    assert server.resyncs >= 1
    assert status.invalid_messages >= 1 and status.resyncs >= 1
    assert store.display(0, "temperature_c") == 41.5
    assert store.display(0, "ok") is False
    assert store.display(1, "temperature_c") == 38.0
