"""Hostile clients against a real twin server on loopback: fuzzed frames (hypothesis) must
never crash it, log a traceback or cost another client its stream; Origin rules hold on
every server that listens (twin server and hub here, ``twin-sim`` in tests/e2e)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from xrclient.core import protocol as proto
from xrclient.net.twin_client import TwinClient
from xrclient.server.background import BackgroundServer

from .sources import ScriptedSource, server_thread, wait_until

#: close codes a hostile client may earn: too fast, too big
EARNED_CLOSES = {1008, 1009}


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[BackgroundServer, _Errors]]:
    errors = _Errors()
    loggers = [logging.getLogger("xrclient"), logging.getLogger("websockets")]
    for lg in loggers:
        lg.addHandler(errors)
    srv = server_thread(ScriptedSource(n=8), client_rate=1000.0, client_burst=1000)
    srv.start()
    try:
        yield srv, errors
    finally:
        srv.close()
        for lg in loggers:
            lg.removeHandler(errors)


def url(srv: BackgroundServer) -> str:
    return f"ws://127.0.0.1:{srv.port}"


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["type", "id", "action", "machine", "fault", "state", "duration_s", "on", "extra"]
messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["control", "resync", "hello", ""]) | st.text(max_size=8),
        "id": st.integers(min_value=-5, max_value=2**60) | json_values,
        "action": st.sampled_from(["pause", "resume", "freeze", "reset", "inject_fault"])
        | json_values,
        "machine": st.sampled_from(["M000", "M007", "NOPE"]) | json_values,
        **{f: json_values for f in FIELDS[4:]},
    },
)


def _frame(doc: dict[str, Any], mangle: int) -> str:
    text = json.dumps(doc)
    if mangle == 1:
        return text[: len(text) // 2]  # truncated JSON
    if mangle == 2:
        return text.replace('"', "'")
    return text


frames = st.one_of(
    st.builds(_frame, messages, st.integers(0, 2)),
    st.binary(max_size=200),  # binary frames are refused (bad_request)
    st.text(max_size=200),
    st.just("[]"),
    st.just('{"type": "control", "id": 1e400}'),
    st.just('{"type":"control","id":1,"action":"pause","action":"resume"}'),
    st.builds(
        lambda n: "x" * n, st.integers(proto.MAX_CLIENT_FRAME - 2, proto.MAX_CLIENT_FRAME + 2)
    ),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_fuzzed_client_frames_never_crash_the_server(
    served: tuple[BackgroundServer, _Errors], batch: list[str | bytes]
) -> None:
    srv, errors = served
    answers = 0
    with connect(url(srv), open_timeout=5, max_size=2**26) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        try:
            for frame in batch:
                ws.send(frame)
            ws.send('{"type":"control","id":424242,"action":"freeze","on":false}')
            while True:
                raw = ws.recv(timeout=5)
                doc = json.loads(raw)
                assert doc["type"] in ("snapshot", "delta", "heartbeat", "control_ack", "error")
                if doc["type"] == "error":
                    assert doc["code"] in proto.ERROR_CODES and doc["code"] != "internal", doc
                    answers += 1
                if doc.get("id") == 424242:
                    break
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code in EARNED_CLOSES, closed
    assert not errors.records, [r.getMessage() for r in errors.records]
    assert srv.server is not None and srv.server.clients is not None


def test_the_server_still_serves_after_the_fuzzing(
    served: tuple[BackgroundServer, _Errors],
) -> None:
    srv, errors = served
    with TwinClient(url(srv)) as client:
        wait_until(lambda: client.status.state == "live", 5)
    assert not errors.records


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(["Origin", "Authorization", "Sec-WebSocket-Protocol", "X-Any"]),
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
        ),
        max_size=4,
    )
)
def test_fuzzed_handshake_headers_get_a_status_never_a_server_error(
    served: tuple[BackgroundServer, _Errors], headers: list[tuple[str, str]]
) -> None:
    from .test_twin_hardening import handshake_status

    srv, errors = served
    status = handshake_status(srv.port, headers)
    assert status in (101, 400, 401, 403), (status, headers)
    assert not errors.records, [r.getMessage() for r in errors.records]


# -- Origin rules on every server that listens -----------------------------------------------


def test_twin_server_origin_rules() -> None:
    allowed = "https://hmi.example"
    for origins in ((), (allowed,)):
        srv = server_thread(ScriptedSource(n=2), origins=origins)
        srv.start()
        try:
            with connect(url(srv), open_timeout=5) as ws:  # a native client sends no Origin
                assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
            with pytest.raises(InvalidStatus) as refused:
                connect(url(srv), origin="https://evil.example", open_timeout=5)  # type: ignore[arg-type]  # websockets types Origin as a NewType of str
            assert refused.value.response.status_code == 403
            if origins:
                with connect(url(srv), origin=allowed, open_timeout=5) as ws:  # type: ignore[arg-type]  # websockets types Origin as a NewType of str
                    assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        finally:
            srv.close()


def test_hub_origin_rules(tmp_path: Path) -> None:
    from tests.hub.helpers import raw, recv_until, running_hub, token

    allowed = "https://hmi.example"
    for origins in ((), (allowed,)):
        with running_hub(tmp_path / f"hub{len(origins)}.sqlite", origins=origins) as hub:
            with raw(hub, token()) as ws:
                assert recv_until(ws, "welcome")["t"] == "welcome"
            with pytest.raises(InvalidStatus) as refused:
                raw(hub, token(), origin="https://evil.example")
            assert refused.value.response.status_code == 403
            if origins:
                with raw(hub, token(), origin=allowed) as ws:
                    assert recv_until(ws, "welcome")["t"] == "welcome"
