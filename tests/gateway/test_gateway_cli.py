"""The chain as a user runs it, in real processes: the simulator publishing to a real broker
(or serving OPC UA), `gateway discover` writing the mapping, `gateway` serving it, and a
twin client reading every machine's live state from the gateway."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.net.sources import drain_into, wait_until
from xrclient.core.twin_store import TwinStore
from xrclient.gateway.broker import LocalBroker
from xrclient.net.twin_client import TwinClient
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.schema import load_scene


def xrclient(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "xrclient", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 30.0) -> re.Match[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    proc.kill()
    rest = proc.communicate(timeout=10)[0]
    raise AssertionError(f"no {pattern!r} in output: {''.join(seen)}{rest}")


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate(timeout=5)[0]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    with LocalBroker(tmp_path / "broker") as b:
        yield b


def read_gateway(url: str, n_machines: int) -> TwinStore:
    scene = load_scene(scene_path(DEMO_SCENE))
    store = TwinStore(tuple(m.id for m in scene.machines))
    with TwinClient(url) as client:

        def every_machine_good() -> bool:
            drain_into(store, client.queue)
            quality = store.column("quality")
            return quality is not None and bool((quality == 0).all())

        wait_until(every_machine_good, 30, "every machine reporting GOOD through the gateway")
        assert store.n_machines == n_machines
    return store


@pytest.mark.parametrize("sparkplug", [False, True], ids=["topics", "sparkplug"])
def test_discover_then_serve_a_simulated_broker_plant(
    broker: LocalBroker, tmp_path: Path, sparkplug: bool
) -> None:
    scene = load_scene(scene_path(DEMO_SCENE))
    extra = ["--sparkplug"] if sparkplug else []
    sim = xrclient("twin-sim", DEMO_SCENE, "--port", "0", "--publish-mqtt", broker.url, *extra)
    try:
        read_until(sim, r"serving .* on ws://")
        out = tmp_path / "map.toml"
        found = xrclient(
            "gateway", "discover", broker.url, "--scene", DEMO_SCENE, "--out", str(out),
            "--seconds", "4",
        )  # fmt: skip
        report = found.communicate(timeout=60)[0]
        assert found.returncode == 0, report
        assert f"on {len(scene.machines)} of {len(scene.machines)} machines" in report, report
        text = out.read_text()
        assert f'source = "{"sparkplug" if sparkplug else "mqtt"}"' in text
        assert "[templates." in text, "machines of one type share a template"
        gw = xrclient(
            "gateway", DEMO_SCENE, "--source", broker.url, "--map", str(out), "--port", "0",
            "--status", "1",
        )  # fmt: skip
        try:
            url = read_until(gw, r"(ws://127\.0\.0\.1:\d+)").group(1)
            store = read_gateway(url, len(scene.machines))
            temps = store.column("temperature_c")
            assert temps is not None and np.isfinite(temps).sum() >= len(scene.machines) // 2
            read_until(gw, r"connected, [\d,]+ of [\d,]+ values accepted")
        finally:
            tail = stop(gw)
        assert "gateway: stopped" in tail, tail
    finally:
        stop(sim)


def test_gateway_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "map.toml"
    bad.write_text('source = "opcua"\n[properties.x]\nkind = "number"\n[machines.NOPE]\n')
    proc = xrclient("gateway", DEMO_SCENE, "--source", "opc.tcp://127.0.0.1:1", "--map", str(bad))
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1
    assert "map.toml: machines.NOPE: no machine 'NOPE'" in out, out
    proc = xrclient("gateway", DEMO_SCENE, "--source", "modbus://x", "--map", str(bad))
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1 and "unknown source 'modbus://x'" in out, out
    proc = xrclient("gateway", DEMO_SCENE, "--source", "opc.tcp://op:pw@h:4840", "--map", str(bad))
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1 and "--user-file" in out and "pw" not in out, out
    proc = xrclient(
        "gateway", DEMO_SCENE, "--source", "mqtt://127.0.0.1:1", "--map", str(bad), "--pki", "x"
    )
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1 and "--security and --pki are for opc.tcp://" in out, out


def test_discover_then_serve_a_simulated_opcua_plant(tmp_path: Path) -> None:
    scene = load_scene(scene_path(DEMO_SCENE))
    sim = xrclient("twin-sim", DEMO_SCENE, "--port", "0", "--serve-opcua", "0")
    try:
        opc = read_until(sim, r"OPC UA server on (opc\.tcp://\S+)", 60).group(1)
        read_until(sim, r"serving .* on ws://")
        out = tmp_path / "map.toml"
        found = xrclient(
            "gateway", "discover", opc, "--scene", DEMO_SCENE, "--out", str(out),
            "--security", "None",
        )  # fmt: skip
        report = found.communicate(timeout=120)[0]
        assert found.returncode == 0, report
        assert f"on {len(scene.machines)} of {len(scene.machines)} machines" in report, report
        gw = xrclient(
            "gateway", DEMO_SCENE, "--source", opc, "--map", str(out), "--port", "0",
            "--security", "None",
        )  # fmt: skip
        try:
            url = read_until(gw, r"(ws://127\.0\.0\.1:\d+)", 60).group(1)
            store = read_gateway(url, len(scene.machines))
            state = store.column("state")
            assert state is not None and np.isfinite(state).all()
        finally:
            tail = stop(gw)
        assert "gateway: stopped" in tail, tail
    finally:
        stop(sim)


@pytest.mark.parametrize("via", ["opcua", "mqtt"])
def test_demo_via_a_plant_protocol_renders_every_machine_live(tmp_path: Path, via: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = subprocess.run(
        [sys.executable, "-m", "xrclient", "demo", "--via", via, "--size", "320x180",
         "--out", "d.png"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"plant simulator as a {via} plant, read by a gateway" in run.stderr
    assert f"twin gateway ({via} plant): live, 65/65 machines reporting, 0 stale" in run.stdout
    assert (tmp_path / "d.png").stat().st_size > 1000
    assert "Traceback" not in run.stderr and "No signing policy" not in run.stderr


def test_without_the_plant_extra_the_commands_say_what_to_install() -> None:
    for module, argv in (
        ("aiomqtt", ["gateway", DEMO_SCENE, "--source", "mqtt://h", "--map", "m.toml"]),
        ("asyncua", ["twin-sim", DEMO_SCENE, "--serve-opcua", "0"]),
    ):
        code = (
            f"import sys; sys.modules[{module!r}] = None\n"
            "from xrclient.cli import main\n"
            f"sys.exit(main({argv!r}))"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert run.returncode == 1, run.stderr
        assert f"needs the optional package '{module}'" in run.stderr
        assert "pip install 'xrclient[plant]'" in run.stderr and "Traceback" not in run.stderr


def test_a_killed_sparkplug_gateway_goes_offline_through_its_will(
    broker: LocalBroker, tmp_path: Path
) -> None:
    """The primary host's STATE is its MQTT will: killing the gateway (no clean goodbye)
    leaves the broker saying offline, which edge nodes act on."""
    out = tmp_path / "map.toml"
    out.write_text(
        'source = "sparkplug"\n[properties.temperature_c]\nkind = "number"\n'
        '[templates.all]\ntypes = ["*"]\n[templates.all.feeds]\ntemperature_c = {}\n'
    )
    gw = xrclient("gateway", DEMO_SCENE, "--source", broker.url, "--map", str(out), "--port", "0")
    try:
        read_until(gw, r"ws://127\.0\.0\.1:\d+")
        watch = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5",
             "-t", "spBv1.0/STATE/xrclient", "-W", "20"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            line = read_until(watch, r"\{.*\}").group(0)  # the retained STATE
            assert '"online":true' in line.replace(" ", ""), line
            gw.kill()
            gw.wait(10)
            line = read_until(watch, r"\{.*\}").group(0)
            assert '"online":false' in line.replace(" ", ""), line
        finally:
            watch.kill()
            watch.communicate(timeout=5)
    finally:
        if gw.poll() is None:
            gw.kill()
        gw.communicate(timeout=10)
