"""`xrclient twin-sim` as an attacker meets it: web pages refused, control privileged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_cli import xrclient
from test_twin_cli import start_sim
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from xrclient.resources import DEMO_SCENE

CONTROL = "control-token-for-the-operator-0123"


def ask(ws: ClientConnection, action: str) -> dict[str, object]:
    ws.send(json.dumps({"type": "control", "id": 1, "action": action}))
    while True:
        doc: dict[str, object] = json.loads(ws.recv(timeout=10))
        if doc.get("id") == 1:
            return doc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.communicate(timeout=20)


def test_by_default_web_pages_are_refused_and_control_is_forbidden() -> None:
    proc, url = start_sim("--fault-rate", "0")
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin="http://localhost:8000", open_timeout=10)  # type: ignore[arg-type]  # websockets types Origin as a NewType of str
        assert refused.value.response.status_code == 403
        with connect(url, open_timeout=10) as ws:
            ws.recv(timeout=10)
            answer = ask(ws, "pause")
            assert answer["type"] == "error" and answer["code"] == "forbidden"
    finally:
        stop(proc)


def test_the_control_token_and_allowed_origins(tmp_path: Path) -> None:
    token_file = tmp_path / "control.token"
    token_file.write_text(CONTROL + "\n")
    allowed = "https://hmi.plant.example"
    proc, url = start_sim(
        "--fault-rate", "0", "--control-token-file", str(token_file), "--allow-origin", allowed
    )
    try:
        with connect(url, origin=allowed, open_timeout=10) as ws:  # type: ignore[arg-type]  # websockets types Origin as a NewType of str
            ws.recv(timeout=10)
            assert ask(ws, "pause")["code"] == "forbidden"
        header = {"Authorization": f"Bearer {CONTROL}"}
        with connect(url, additional_headers=header, open_timeout=10) as ws:
            ws.recv(timeout=10)
            assert ask(ws, "pause") == {"type": "control_ack", "id": 1, "result": "paused"}
    finally:
        stop(proc)


def test_open_control_is_for_loopback_only(tmp_path: Path) -> None:
    token = tmp_path / "read.token"
    token.write_text("read-token-0123456789abcdef\n")
    run = xrclient(
        "twin-sim", DEMO_SCENE, "--host", "0.0.0.0", "--token-file", str(token), "--allow-control"
    )
    assert run.returncode == 1 and "--control-token-file instead of --allow-control" in run.stderr
    bad = xrclient("twin-sim", DEMO_SCENE, "--port", "0", "--allow-origin", "evil.example")
    assert bad.returncode == 1 and "an origin looks like https://host[:port]" in bad.stderr
