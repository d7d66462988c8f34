"""The hub's zero-trust edges over real loopback WebSockets: refusals before the upgrade,
per-message authorization, size and rate limits, token expiry, TLS, quiet logs."""

from __future__ import annotations

import contextlib
import logging
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.hub import tokens
from xrclient.hub.config import HubConfig
from xrclient.hub.tls import tls_context

from .helpers import (
    HEAD_POSE,
    SECRET,
    client,
    raw,
    recv_until,
    running_hub,
    send,
    token,
    wait_until,
)


def refused(hub, tok, room="plant", **kw) -> int:  # type: ignore[no-untyped-def]  # a test helper over the hub fixture; arguments untyped for brevity
    with pytest.raises(InvalidStatus) as err:
        raw(hub, tok, room, **kw).close()
    return err.value.response.status_code


def test_handshake_refusals(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        assert refused(hub, None) == 401
        assert refused(hub, "not-a-token") == 401
        forged = tokens.mint(b"k" * 32, "plant", "eve", roles.Role.EXPERT, 60)
        assert refused(hub, forged) == 401
        expired = tokens.mint(SECRET, "plant", "ana", roles.Role.EXPERT, 1, now=time.time() - 3600)
        assert refused(hub, expired) == 401
        assert refused(hub, token(room="other")) == 403
        assert refused(hub, token(), room="-bad") == 404
        assert refused(hub, token(), room="plant/../x") == 404
        assert refused(hub, token(), origin="https://evil.example") == 403
        stats = hub.call(lambda: hub.hub.stats)  # type: ignore[union-attr]  # the hub is running inside this block
        assert stats.connections == 0 and stats.refusals == {401: 4, 403: 2, 404: 2}
        # the same hub still serves a proper client
        with raw(hub, token()) as ws:
            assert recv_until(ws, "welcome")["role"] == "expert"


def test_exact_origin_allowlist(tmp_path: Path) -> None:
    origin = "https://plant.example:8443"
    with running_hub(tmp_path / "hub.sqlite", origins=(origin,)) as hub:
        with raw(hub, token(), origin=origin) as ws:
            recv_until(ws, "welcome")
        for bad in ("https://plant.example", "http://plant.example:8443", origin + "/"):
            assert refused(hub, token(), origin=bad) == 403
        with raw(hub, token()) as ws:  # native clients send no Origin
            recv_until(ws, "welcome")


def test_token_as_subprotocol_for_clients_without_headers(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        tok = token(name="web", role="observer")
        offered = [codec.SUBPROTOCOL, codec.TOKEN_SUBPROTOCOL_PREFIX + tok]
        url = hub.room_url("plant")
        with connect(url, subprotocols=offered, open_timeout=5) as ws:  # type: ignore[arg-type]  # subprotocols deliberately outside the Subprotocol type
            assert ws.subprotocol == codec.SUBPROTOCOL  # the token is never echoed back
            assert recv_until(ws, "welcome")["name"] == "web"
        bad = [codec.SUBPROTOCOL, codec.TOKEN_SUBPROTOCOL_PREFIX + tok[:-3] + "abc"]
        with pytest.raises(InvalidStatus) as err:
            connect(url, subprotocols=bad, open_timeout=5)  # type: ignore[arg-type]  # subprotocols deliberately outside the Subprotocol type
        assert err.value.response.status_code == 401


def test_every_message_is_authorized_over_the_wire(tmp_path: Path) -> None:
    with (
        running_hub(tmp_path / "hub.sqlite") as hub,
        raw(hub, token(name="exp", role="expert")) as expert,
        raw(hub, token(name="tina", role="trainee")) as trainee,
        raw(hub, token(name="olga", role="operator")) as operator,
        raw(hub, token(name="obi", role="observer")) as observer,
    ):
        send(expert, {"t": "ann_create", "id": 1, "machine": "M1", "text": "expert's"})
        aid = recv_until(expert, "ack")["ann"]
        send(observer, {"t": "ann_create", "id": 2, "machine": "M1", "text": "no"})
        assert recv_until(observer, "error") == {
            "t": "error",
            "code": "forbidden",
            "id": 2,
            "message": "a observer may not create annotations",
        }
        send(trainee, {"t": "ann_update", "id": 3, "ann": aid, "text": "mine now"})
        assert recv_until(trainee, "error")["code"] == "forbidden"
        send(operator, {"t": "ann_delete", "id": 4, "ann": aid})
        assert recv_until(operator, "error")["code"] == "forbidden"
        send(operator, {"t": "summon", "id": 5, "pose": HEAD_POSE})
        assert recv_until(operator, "error")["code"] == "forbidden"
        send(observer, {"t": "pose", "s": 1.0, "h": HEAD_POSE})
        assert recv_until(observer, "error")["code"] == "forbidden"
        send(operator, {"t": "ann_update", "id": 6, "ann": aid, "status": "resolved"})
        assert recv_until(operator, "ack")["id"] == 6
        send(expert, {"t": "ann_delete", "id": 7, "ann": aid})
        assert recv_until(expert, "ack")["id"] == 7
        assert recv_until(observer, "ann_del")["ann"] == aid  # everyone hears of it
        send(trainee, {"t": "ann_create", "id": 8, "machine": "M1", "text": "x" * 3000})
        assert recv_until(trainee, "error")["code"] == "bad_request"


def test_oversized_message_closes_with_1009_and_others_carry_on(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub, raw(hub, token(name="ok")) as good:
        recv_until(good, "welcome")
        with raw(hub, token(name="big")) as big:
            recv_until(big, "welcome")
            big.send(b"\x80" * (codec.MAX_CLIENT_FRAME + 1))
            with pytest.raises(ConnectionClosed) as err:
                while True:
                    big.recv(5)
            assert err.value.rcvd is not None and err.value.rcvd.code == 1009
        assert recv_until(good, "left")["reason"] == "lost"
        send(good, {"t": "chat", "id": 1, "text": "still here"})
        assert recv_until(good, "ack")["id"] == 1


def test_flood_is_limited_then_closed_while_others_are_served(tmp_path: Path) -> None:
    with (
        running_hub(tmp_path / "hub.sqlite", rate=20.0, burst=10) as hub,
        raw(hub, token(name="calm")) as calm,
        raw(hub, token(name="flood")) as flood,
    ):
        recv_until(calm, "welcome")
        recv_until(flood, "welcome")
        frame = codec.encode({"t": "chat", "text": "spam"})
        with contextlib.suppress(ConnectionClosed):  # the hub may close while we still send
            for _ in range(200):
                flood.send(frame)
        codes = []
        with pytest.raises(ConnectionClosed) as err:
            while True:
                doc = codec.decode(flood.recv(5))  # type: ignore[arg-type]  # recv returns str | bytes; the hub sends bytes
                codes.append(doc.get("code"))
        assert "rate_limited" in codes
        assert err.value.rcvd is not None and err.value.rcvd.code == codec.CLOSE_POLICY
        assert recv_until(calm, "left")["pid"] == 2
        send(calm, {"t": "chat", "id": 9, "text": "hello"})
        assert recv_until(calm, "ack")["id"] == 9
        stats = hub.call(lambda: hub.hub.stats)  # type: ignore[union-attr]  # the hub is running inside this block
        assert stats.closed_floods == 1


def test_expired_token_ends_the_session(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        short = tokens.mint(
            SECRET, "plant", "ana", roles.Role.EXPERT, 2, now=time.time() - tokens.SKEW
        )
        with raw(hub, short) as ws:
            recv_until(ws, "welcome")
            with pytest.raises(ConnectionClosed) as err:
                while True:
                    ws.recv(10)
            assert err.value.rcvd is not None and err.value.rcvd.code == codec.CLOSE_TOKEN_EXPIRED


def test_client_reports_refusals(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        with client(hub, token(room="other"), room="plant") as c:
            wait_until(lambda: c.status.refused == 403, 5)
            assert "403" in c.status.last_error and c.status.state != "live"


def make_cert(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    with running_hub(tmp_path / "hub.sqlite", ssl_context=tls_context(cert, key)) as hub:
        assert hub.room_url("plant").startswith("wss://")
        with client(hub, token(), ssl_context=trust) as c:
            wait_until(lambda: c.status.state == "live", 5)
            assert c.create_annotation("M1", text="over TLS").result(5).annotation
        with pytest.raises(ssl.SSLError):  # a client that does not trust the hub
            connect(hub.room_url("plant"), ssl=ssl.create_default_context(), open_timeout=5)


def test_plaintext_off_loopback_is_refused() -> None:
    with pytest.raises(ValueError, match="without TLS"):
        HubConfig(db=Path("x"), secret=SECRET, host="0.0.0.0").check()


def test_no_secret_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tok = token(name="ana")
    forged = tok[:-4] + "AAAA"
    with running_hub(tmp_path / "hub.sqlite") as hub:
        with client(hub, tok) as good, client(hub, forged, header_auth=False) as bad:
            wait_until(lambda: good.status.state == "live" and bad.status.refused == 401, 5)
    ours = [r for r in caplog.records if r.name.startswith("xrclient")]
    text = "\n".join(r.getMessage() for r in ours)
    assert "ana joined room plant" in text
    assert "Authorization: Bearer [redacted]" in text  # handshakes are logged, tokens not
    for secret in (tok, forged, tok.split(".")[1], tok.split(".")[2], SECRET.hex()):
        assert secret not in text


def test_a_handshake_flood_from_one_address_is_refused_with_429(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite", handshake_rate=0.5, handshake_burst=4) as hub:
        with raw(hub, token(name="ana")) as ws:  # connected before the flood
            recv_until(ws, "welcome")
            codes = [refused(hub, "guess-" + str(k)) for k in range(3)]
            assert codes == [401, 401, 401]  # the burst of 4 is spent (ana took one)
            with pytest.raises(InvalidStatus) as err:
                raw(hub, token(name="bo")).close()  # even a good token, from this address
            response = err.value.response
            assert response.status_code == 429 and response.headers["Retry-After"] == "2"
            assert b"too many connection attempts" in response.body
            # the one already in is served as before
            send(ws, {"t": "chat", "id": 1, "text": "still here"})
            assert recv_until(ws, "ack")["id"] == 1
        stats = hub.call(lambda: hub.hub.stats)  # type: ignore[union-attr]  # the hub is running inside this block
        assert stats.refusals == {401: 3, 429: 1}
        time.sleep(2.1)  # one attempt earned back
        with raw(hub, token(name="bo")) as ws:
            assert recv_until(ws, "welcome")["role"] == "expert"


def test_handshake_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="handshake rate"):
        HubConfig(db=Path("x"), secret=SECRET, handshake_rate=0.0).check()


def test_a_refused_client_waits_as_long_as_the_hub_says(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite", handshake_rate=0.5, handshake_burst=1) as hub:
        assert refused(hub, "guess") == 401  # the one attempt of the burst
        c = client(hub, token(name="ana"))
        with c:
            wait_until(lambda: c.status.refused == 429, 5, "the 429")
            assert "too many connection attempts" in c.status.last_error
            assert c.status.retry_in is not None and c.status.retry_in >= 2.0  # Retry-After
            wait_until(lambda: c.status.state == "live", 10, "the client in, later")
