"""Defects of the twin server found by probing it as an attacker would, each reproduced
against a real server on loopback: browser origins, privileged control actions, a burst of
requests, repeated headers."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from xrclient.net.twin_client import ControlRejected, TwinClient

from .sources import ScriptedSource, running_server, wait_until

CONTROL_TOKEN = "control-token-0123456789"
READ_TOKEN = "read-token-0123456789abc"


def url(port: int) -> str:
    return f"ws://127.0.0.1:{port}"


def handshake_status(port: int, headers: list[tuple[str, str]]) -> int:
    """The HTTP status of a raw upgrade request carrying exactly ``headers`` (repeats kept)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"127.0.0.1:{port}")
        conn.putheader("Upgrade", "websocket")
        conn.putheader("Connection", "Upgrade")
        conn.putheader("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        conn.putheader("Sec-WebSocket-Version", "13")
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def control(
    ws: ClientConnection, request_id: int, action: str, **fields: object
) -> dict[str, object]:
    """Send one control request and return its answer (skipping stream messages)."""
    ws.send(json.dumps({"type": "control", "id": request_id, "action": action, **fields}))
    while True:
        doc: dict[str, object] = json.loads(ws.recv(timeout=5))
        if doc.get("id") == request_id:
            return doc


# -- origins -------------------------------------------------------------------------------


def test_a_web_page_origin_is_refused_without_an_allow_list() -> None:
    with running_server(ScriptedSource(n=3)) as srv:
        with pytest.raises(InvalidStatus) as refused:
            connect(url(srv.server.port), origin="https://evil.example", open_timeout=5)  # type: ignore[arg-type]  # websockets types Origin as a NewType of str
        assert refused.value.response.status_code == 403
        with connect(url(srv.server.port), open_timeout=5) as ws:  # no Origin: a native client
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"


def test_only_allowed_origins_connect() -> None:
    allowed = "https://plant.example:8443"
    with running_server(ScriptedSource(n=3), origins=(allowed,)) as srv:
        with connect(url(srv.server.port), origin=allowed, open_timeout=5) as ws:  # type: ignore[arg-type]  # websockets types Origin as a NewType of str
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        for other in ("https://plant.example", "http://plant.example:8443", "null"):
            with pytest.raises(InvalidStatus) as refused:
                connect(url(srv.server.port), origin=other, open_timeout=5)  # type: ignore[arg-type]  # websockets types Origin as a NewType of str
            assert refused.value.response.status_code == 403
        with connect(url(srv.server.port), open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"


def test_repeated_origin_headers_are_a_bad_request() -> None:
    with running_server(ScriptedSource(n=3), origins=("https://a.example",)) as srv:
        port = srv.server.port
        twice = [("Origin", "https://a.example"), ("Origin", "https://a.example")]
        assert handshake_status(port, twice) == 400


def test_origins_must_look_like_origins() -> None:
    from xrclient.server.twin_server import ServerConfig

    for bad in ("plant.example", "https://plant.example/", "https://plant.example/path", "*"):
        with pytest.raises(ValueError, match="origin"):
            ServerConfig(origins=(bad,)).check()


# -- repeated Authorization ----------------------------------------------------------------


def test_repeated_authorization_headers_are_refused_not_a_server_error() -> None:
    with running_server(ScriptedSource(n=3), token=READ_TOKEN) as srv:
        port = srv.server.port
        twice = [("Authorization", f"Bearer {READ_TOKEN}")] * 2
        assert handshake_status(port, twice) == 400
        assert handshake_status(port, [("Authorization", f"Bearer {READ_TOKEN}")]) == 101
    with running_server(ScriptedSource(n=3)) as srv:  # no token configured: still refused
        assert handshake_status(srv.server.port, [("Authorization", "Bearer x")] * 2) == 400


# -- control is privileged -----------------------------------------------------------------


def test_control_is_forbidden_unless_allowed_and_resync_still_works() -> None:
    source = ScriptedSource(n=3)
    with running_server(source, allow_control=False) as srv:
        with connect(url(srv.server.port), open_timeout=5) as ws:
            ws.recv(timeout=5)
            for i, action in enumerate(("pause", "resume", "freeze", "reset"), 1):
                answer = control(ws, i, action)
                assert answer["type"] == "error" and answer["code"] == "forbidden", answer
            assert not srv.server.paused and not source.controls
            ws.send('{"type":"resync"}')
            kinds = {json.loads(ws.recv(timeout=5))["type"] for _ in range(5)}
            assert "snapshot" in kinds


def test_the_control_token_grants_control_and_the_read_token_does_not() -> None:
    source = ScriptedSource(n=3)
    cfg = {"token": READ_TOKEN, "control_token": CONTROL_TOKEN, "allow_control": False}
    with running_server(source, **cfg) as srv:
        port = srv.server.port
        reader = {"Authorization": f"Bearer {READ_TOKEN}"}
        with connect(url(port), additional_headers=reader, open_timeout=5) as ws:
            ws.recv(timeout=5)
            assert control(ws, 1, "pause")["code"] == "forbidden"
        with TwinClient(url(port), token=CONTROL_TOKEN) as client:
            wait_until(lambda: client.status.state == "live", 5)
            assert client.control("pause").result(5) == "paused"
            assert client.control("freeze", on=True).result(5) == "frozen"
        with pytest.raises(InvalidStatus) as refused:
            connect(url(port), additional_headers={"Authorization": "Bearer nope"}, open_timeout=5)
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            connect(url(port), open_timeout=5)  # a read token is still required


def test_a_control_token_on_an_open_stream_grants_control_only_to_its_holder() -> None:
    source = ScriptedSource(n=3)
    with running_server(source, control_token=CONTROL_TOKEN, allow_control=False) as srv:
        port = srv.server.port
        with TwinClient(url(port)) as anonymous:
            wait_until(lambda: anonymous.status.state == "live", 5)
            with pytest.raises(ControlRejected) as refused:
                anonymous.control("pause").result(5)
            assert refused.value.code == "forbidden"
        with TwinClient(url(port), token=CONTROL_TOKEN) as operator:
            wait_until(lambda: operator.status.state == "live", 5)
            assert operator.control("pause").result(5) == "paused"
        with pytest.raises(InvalidStatus) as wrong:
            connect(url(port), additional_headers={"Authorization": "Bearer guess"}, open_timeout=5)
        assert wrong.value.response.status_code == 401


# -- bursts --------------------------------------------------------------------------------


@pytest.mark.parametrize("burst", [65, 200])
def test_a_burst_of_requests_gets_answers_not_an_abort(burst: int) -> None:
    source = ScriptedSource(n=3)
    with running_server(source, client_rate=20.0, client_burst=40) as srv:
        with connect(url(srv.server.port), open_timeout=5) as ws:
            ws.recv(timeout=5)
            frames = [
                json.dumps({"type": "control", "id": i, "action": "freeze", "on": False})
                for i in range(1, burst + 1)
            ]
            sock = ws.socket
            # the whole burst in as few segments as the kernel takes, as a script would
            for frame in frames:
                ws.send(frame)
            answered: dict[int, str] = {}
            while len(answered) < burst:
                doc = json.loads(ws.recv(timeout=10))
                if doc.get("type") in ("control_ack", "error") and isinstance(doc.get("id"), int):
                    answered[doc["id"]] = doc.get("code", "ok")
            assert sorted(answered) == list(range(1, burst + 1))
            assert "rate_limited" in answered.values() and "ok" in answered.values()
            assert srv.server.dropped_floods == 0
            ws.send('{"type":"resync"}')  # still open
            assert sock.fileno() >= 0


def test_a_client_that_keeps_flooding_after_refusals_is_closed_with_1008() -> None:
    with running_server(ScriptedSource(n=3), client_rate=5.0, client_burst=5) as srv:
        with connect(url(srv.server.port), open_timeout=5) as ws:
            ws.recv(timeout=5)
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(2000):
                    ws.send('{"type":"resync"}')
                while True:
                    ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert srv.server.dropped_floods == 1


def test_a_client_that_never_reads_its_replies_does_not_hold_the_server() -> None:
    source = ScriptedSource(n=3)
    with running_server(source) as srv:
        raw = socket.create_connection(("127.0.0.1", srv.server.port), timeout=5)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with connect(url(srv.server.port), sock=raw, open_timeout=5) as ws:
            for i in range(300):
                try:
                    ws.send(json.dumps({"type": "control", "id": i, "action": "nope"}))
                except (ConnectionClosed, OSError):
                    break
            with TwinClient(url(srv.server.port)) as good:
                wait_until(lambda: good.status.state == "live", 5)
            ticks = srv.server.ticks
            time.sleep(0.2)
            assert srv.server.ticks > ticks
