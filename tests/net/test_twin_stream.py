"""The twin stream over real WebSocket connections on loopback."""

from __future__ import annotations

import json
import socket
import time

import msgpack
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from xrclient.core.twin_store import TwinStore
from xrclient.net.twin_client import Backoff, ControlRejected, TwinClient

from .proxy import FaultyProxy
from .sources import (
    ScriptedSource,
    drain_into,
    running_server,
    same_state,
    server_thread,
    wait_until,
)

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.3)


def url(port: int) -> str:
    return f"ws://127.0.0.1:{port}"


def converge(client: TwinClient, store: TwinStore, source: ScriptedSource, timeout: float = 10):
    """Freeze the source, then wait until the store equals it."""
    source.frozen = True

    def done() -> bool:
        drain_into(store, client.queue)
        return same_state(store, source)

    wait_until(done, timeout, "client state == server state")


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_client_converges_to_server_state(encoding: str) -> None:
    source = ScriptedSource(n=50)
    with running_server(source) as srv:
        store = TwinStore(source.schema.machines)
        with TwinClient(url(srv.server.port), encoding=encoding) as client:
            wait_until(lambda: client.status.state == "live", 5)
            time.sleep(0.3)  # let deltas flow
            converge(client, store, source)
            st = client.status
            assert st.server.startswith("xrclient-twin/")
            assert st.latency_p50 is not None and st.latency_p50 >= 0
            assert [c.encoding for c in srv.server.clients] == [encoding]
        assert client.status.state == "stopped"


def test_unknown_machines_are_skipped_and_scene_machines_absent_from_stream_stay_missing():
    source = ScriptedSource(n=10, extra_machines=("NOT-IN-SCENE",))
    scene_ids = [*source.schema.machines[:10], "ONLY-IN-SCENE"]
    with running_server(source) as srv:
        store = TwinStore(scene_ids)
        with TwinClient(url(srv.server.port)) as client:
            assert client.queue.wait(5)
            batch = client.queue.drain()[0]
            changes = store.apply(batch, time.time())
    # the extra machine's cells and its keep-alive
    assert changes.unknown == int((~np.isnan(source.values[10])).sum()) + 1
    assert np.isnan(store.value[10]).all()
    assert store.stale(time.time(), 10.0)[10]


def test_third_party_client_without_subprotocol_gets_json() -> None:
    source = ScriptedSource(n=5)
    with running_server(source) as srv, connect(url(srv.server.port)) as ws:
        assert ws.subprotocol is None
        welcome = json.loads(ws.recv(timeout=5))
        assert welcome["type"] == "welcome" and welcome["protocol"] == 1
        assert welcome["encoding"] == "json"
        assert welcome["schema"]["machines"][:2] == ["M000", "M001"]
        snapshot = json.loads(ws.recv(timeout=5))
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 0
        m0: dict[str, object] = {}
        for machine, t, values in snapshot["updates"]:
            assert isinstance(t, float)
            if machine == "M000":
                m0.update(values)
        assert m0["state"] in ("RUNNING", "IDLE", "FAULT")
        assert m0["program"] in ("O1000", "O2000")
        assert "door_open" not in m0  # never reported by M000
        assert m0["last_maintenance"] == 1.7e9
        delta = json.loads(ws.recv(timeout=5))
        assert delta["type"] in ("delta", "heartbeat") and delta["seq"] in (0, 1)


def test_msgpack_subprotocol_gives_binary_columns() -> None:
    source = ScriptedSource(n=5)
    with (
        running_server(source) as srv,
        connect(url(srv.server.port), subprotocols=["xrtwin.v1.msgpack"]) as ws,
    ):
        assert ws.subprotocol == "xrtwin.v1.msgpack"
        welcome = msgpack.unpackb(ws.recv(timeout=5))
        assert welcome["encoding"] == "msgpack"
        snap = msgpack.unpackb(ws.recv(timeout=5))
        m = np.frombuffer(snap["m"], "<u4")
        v = np.frombuffer(snap["v"], "<f8")
        # every value, and a keep-alive per machine
        n_machines = source.values.shape[0]
        assert len(m) == len(v) == int((~np.isnan(source.values)).sum()) + n_machines


def test_token_is_checked_before_the_upgrade() -> None:
    token = "s3cret-token-0123456789"
    source = ScriptedSource(n=5)
    with running_server(source, token=token) as srv:
        with pytest.raises(InvalidStatus) as refused:
            connect(url(srv.server.port), open_timeout=5)
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            connect(
                url(srv.server.port),
                additional_headers={"Authorization": "Bearer wrong-token-0123456789"},
            )
        with TwinClient(url(srv.server.port), backoff=FAST) as anonymous:
            wait_until(lambda: "HTTP 401" in anonymous.status.last_error, 5)
            assert anonymous.status.state in ("connecting", "disconnected")
        with TwinClient(url(srv.server.port), token=token) as client:
            wait_until(lambda: client.status.state == "live", 5)


def test_control_messages_are_acknowledged_or_refused_and_serving_goes_on() -> None:
    source = ScriptedSource(n=5)
    with running_server(source) as srv:
        with TwinClient(url(srv.server.port)) as client:
            wait_until(lambda: client.status.state == "live", 5)
            assert client.control("freeze", on=True).result(5) == "frozen"
            assert source.frozen
            with pytest.raises(ControlRejected) as rejected:
                client.control("explode").result(5)
            assert rejected.value.code == "unknown_action"
            assert client.control("pause").result(5) == "paused"
            assert srv.server.paused
            assert client.control("resume").result(5) == "resumed"
        with connect(url(srv.server.port)) as ws:
            ws.recv(timeout=5)
            ws.recv(timeout=5)
            for bad in ["{", "[]", '{"type":"control"}', '{"type":"nope"}']:
                ws.send(bad)
            ws.send(b"\x00binary")
            codes = []
            while len(codes) < 5:
                doc = json.loads(ws.recv(timeout=5))
                if doc["type"] == "error":
                    codes.append(doc["code"])
            assert set(codes) == {"bad_request"}
            ws.send("x" * 70000)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        # the oversized frame closed that connection; the server still serves
        with TwinClient(url(srv.server.port)) as client:
            wait_until(lambda: client.status.state == "live", 5)


def test_a_flooding_client_is_rate_limited_then_dropped_and_others_are_unaffected() -> None:
    source = ScriptedSource(n=5)
    with running_server(source, client_rate=5.0, client_burst=5) as srv:
        with TwinClient(url(srv.server.port)) as good:
            wait_until(lambda: good.status.state == "live", 5)
            with connect(url(srv.server.port)) as ws:
                ws.recv(timeout=5)
                for _ in range(20):
                    ws.send('{"type":"resync"}')
                limited = 0
                while limited < 15:
                    doc = json.loads(ws.recv(timeout=5))
                    limited += doc.get("code") == "rate_limited"
                with pytest.raises(ConnectionClosed):
                    for _ in range(500):
                        ws.send('{"type":"resync"}')
                    while True:
                        ws.recv(timeout=10)
                assert srv.server.dropped_floods == 1
            connects = good.status.connects
            time.sleep(0.3)
            assert good.status.state == "live" and good.status.connects == connects


def test_client_reconverges_after_the_server_restarts() -> None:
    source = ScriptedSource(n=30)
    srv = server_thread(source)
    try:
        port = srv.start()
        store = TwinStore(source.schema.machines)
        with TwinClient(url(port), backoff=FAST) as client:
            wait_until(lambda: client.status.state == "live", 5)
            srv.stop()
            wait_until(lambda: client.status.state in ("disconnected", "connecting"), 5)
            source.values[:, 1] += 100.0  # the plant moved on while we were away
            source.source_time[:] = time.time()
            srv.start(port)
            wait_until(lambda: client.status.connects >= 2, 10)
            converge(client, store, source)
            assert store.value[0, 1] > 100.0
    finally:
        srv.close()


def test_cut_connections_and_a_silent_server_are_recovered_from() -> None:
    source = ScriptedSource(n=30)
    with running_server(source, heartbeat_s=0.1) as srv:
        proxy = FaultyProxy(srv.server.port)
        try:
            store = TwinStore(source.schema.machines)
            with TwinClient(url(proxy.port), backoff=FAST, open_timeout=1.0) as client:
                for _ in range(3):
                    wait_until(lambda: client.status.state == "live", 5)
                    cut_at = client.status.connects
                    proxy.cut()
                    # a reconnect counts the cut (the disconnected state itself can be too
                    # brief to observe on a busy machine)
                    wait_until(lambda n=cut_at: client.status.connects > n, 5)
                wait_until(lambda: client.status.state == "live", 5)
                before = client.status.connects
                proxy.stall(True)  # the server stops answering: heartbeats stop
                wait_until(lambda: "no message for" in client.status.last_error, 5)
                proxy.stall(False)
                wait_until(lambda: client.status.connects > before, 5)
                converge(client, store, source)
                assert client.status.connects >= 5
        finally:
            proxy.close()


def test_a_stalled_reader_does_not_slow_the_tick_or_other_clients() -> None:
    source = ScriptedSource(n=2000)
    source.changes_per_step = 2000
    with running_server(source, rate_hz=100.0) as srv:
        # a client that completes the handshake and then never reads a byte
        raw = socket.create_connection(("127.0.0.1", srv.server.port))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        try:
            with TwinClient(url(srv.server.port)) as client:
                wait_until(lambda: client.status.state == "live", 5)
                wait_until(lambda: len(srv.server.clients) == 2, 5)
                ticks0, got0 = srv.server.ticks, client.status.updates
                time.sleep(1.5)
                ticks = srv.server.ticks - ticks0
                got = client.status.updates - got0
                # the stalled client is the one the server could send the least to (how much
                # the kernel's socket buffers took before it stalled varies with the load)
                stalled = min(srv.server.clients, key=lambda c: c.sent_updates)
            # the tick kept its pace and the reading client kept receiving
            assert ticks > 50, ticks
            assert got > 10 * 2000, got
            # the stalled client's backlog is its dirty mask: bounded, newest values only
            assert stalled.dirty.shape == (2000, source.values.shape[1] + 1)
        finally:
            raw.close()


def test_quiet_machines_get_keep_alives_and_do_not_go_stale() -> None:
    source = ScriptedSource(n=8)
    source.frozen = True  # nothing ever changes
    with running_server(source, keepalive_s=0.2) as srv:
        store = TwinStore(source.schema.machines)
        with TwinClient(url(srv.server.port)) as client:
            wait_until(lambda: client.status.state == "live", 5)
            time.sleep(1.0)
            drain_into(store, client.queue)
            now = time.time()
            assert not store.stale(now, 0.5).any(), store.age(now)
            assert same_state(store, source)
            srv.stop()  # the server goes away: machines age past their time-to-live
            time.sleep(0.8)
            drain_into(store, client.queue)
            assert store.stale(time.time(), 0.5).all()
