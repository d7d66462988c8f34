"""The plant simulator speaking a plant's protocols: ``twin-sim --serve-opcua`` and
``--publish-mqtt``, and the chain ``xrclient demo --via`` runs.

:class:`SimTee` is the simulator as a twin source whose every step also goes to the
protocol servers (the OPC UA server's address space, the MQTT publisher), so one clock
steps the plant and every view of it agrees. Writes to a server are never queued without
bound: while one write is in flight, further changes are merged into one pending mask.

:class:`PlantChain` runs simulator → OPC UA server or broker → gateway on one background
loop, all on loopback, for ``xrclient demo --via``; the viewer reads the gateway's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import rtoml

from xrclient.errors import XRClientError
from xrclient.gateway.broker import LocalBroker
from xrclient.gateway.mapping import Mapping as PlantMapping
from xrclient.gateway.mapping import SourceKind, parse_mapping
from xrclient.gateway.mqtt_publish import SimMqttPublisher
from xrclient.gateway.mqtt_url import MqttSecurity
from xrclient.gateway.opcua_security import OpcuaSecurity
from xrclient.gateway.opcua_server import SimOpcuaServer
from xrclient.gateway.sim_mapping import sim_mapping
from xrclient.gateway.source import GatewaySource
from xrclient.net.loop_thread import LoopThread
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene
from xrclient.server.sim_service import build_simulator, serve_until_signal, serving_line
from xrclient.server.simulator import PlantSimulator
from xrclient.server.twin_server import ServerConfig, TwinServer

Mask = npt.NDArray[np.bool_]
Via = Literal["opcua", "mqtt", "sparkplug"]
VIA: tuple[Via, ...] = ("opcua", "mqtt", "sparkplug")


class CellWriter:
    """Changed cells to one protocol server, one write at a time, merged while busy."""

    def __init__(self, write: Callable[[Mask], Awaitable[object]], shape: tuple[int, int]) -> None:
        self._write = write
        self._pending = np.zeros(shape, np.bool_)
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def __call__(self, changed: Mask, now: float) -> None:
        self._pending |= changed
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending.any():
            cells = self._pending.copy()
            self._pending.fill(False)
            try:
                await self._write(cells)
            except Exception:  # a server going away must not stop the simulator
                self.failures += 1
                return

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class SimTee:
    """A :class:`PlantSimulator` as a twin source that also feeds ``sinks`` every step."""

    def __init__(self, sim: PlantSimulator, sinks: Sequence[Callable[[Mask, float], None]] = ()):
        self.sim = sim
        self.schema = sim.schema
        self.values = sim.values
        self.source_time = sim.source_time
        self.sinks = list(sinks)

    @property
    def strings(self) -> Sequence[Sequence[str]]:
        return self.sim.strings

    def step(self, now: float) -> Mask:
        changed = self.sim.step(now)
        if changed.any():
            for sink in self.sinks:
                sink(changed, now)
        return changed

    def control(self, msg: Mapping[str, object], now: float) -> str:
        return self.sim.control(msg, now)


async def serve_simulator_speaking(
    scene_file: Path,
    config: ServerConfig,
    *,
    seed: int = 0,
    fault_rate: float = 0.01,
    faults: Sequence[str] = (),
    opcua_port: int | None = None,
    opcua_pki: Path | None = None,
    mqtt_url: str | None = None,
    mqtt_security: MqttSecurity | None = None,
    sparkplug: bool = False,
    announce: Callable[[str], None] = print,
) -> None:
    """``twin-sim`` with ``--serve-opcua`` and/or ``--publish-mqtt``: the twin stream as
    always, and the same plant over OPC UA and MQTT, until SIGINT or SIGTERM."""
    scene = load_scene(scene_file)
    try:
        sim = build_simulator(scene, seed, fault_rate, faults, time.time())
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    tee = SimTee(sim)
    server = TwinServer(tee, config)
    opcua: SimOpcuaServer | None = None
    writer: CellWriter | None = None
    stop = asyncio.Event()
    publisher_task: asyncio.Task[None] | None = None
    if opcua_port is not None:
        opcua = SimOpcuaServer(sim, scene, host=config.host, port=opcua_port, pki_dir=opcua_pki)
        try:
            await opcua.start()
        except OSError as exc:
            raise XRClientError(f"cannot serve OPC UA on port {opcua_port}: {exc}") from None
        writer = CellWriter(opcua.write, sim.values.shape)
        tee.sinks.append(writer)
        announce(f"twin-sim: OPC UA server on {opcua.url} (namespace {opcua.uri})")
    if mqtt_url is not None:
        publisher = SimMqttPublisher(sim, mqtt_url, mqtt_security, sparkplug=sparkplug, scene=scene)
        tee.sinks.append(publisher.publish_changes)
        publisher_task = asyncio.create_task(publisher.run(stop, step=False))
        what = "Sparkplug B edge nodes" if sparkplug else "plain topics"
        announce(f"twin-sim: publishing {what} to {publisher.url.text()}")

    def started(port: int) -> None:
        announce(serving_line(sim, scene, config, seed, port))

    try:
        await serve_until_signal(server, config, started, also=publisher_task)
    finally:
        stop.set()
        if publisher_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(publisher_task, 5.0)
        if writer is not None:
            await writer.close()
        if opcua is not None:
            await opcua.stop()
    announce(f"twin-sim: stopped after {server.ticks} ticks")


class PlantChain:
    """Simulator → OPC UA server or broker → gateway, on loopback (``demo --via``)."""

    def __init__(
        self,
        scene_file: Path,
        via: Via,
        *,
        seed: int = 0,
        faults: Sequence[str] = (),
        rate_hz: float = 10.0,
    ) -> None:
        if via not in VIA:
            raise XRClientError(f"--via is one of {', '.join(VIA)}, got {via!r}")
        self.scene_file = scene_file
        self.via = via
        self.seed = seed
        self.faults = tuple(faults)
        self.rate_hz = rate_hz
        self.folder = Path(tempfile.mkdtemp(prefix="xrclient-chain-"))
        self.broker: LocalBroker | None = None
        self.source: GatewaySource | None = None
        self.server: TwinServer | None = None
        self.mapping_file = self.folder / f"{via}-map.toml"
        self._loop = LoopThread("plant-chain")
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._opcua: SimOpcuaServer | None = None
        self._writer: CellWriter | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "not started"
        return f"ws://127.0.0.1:{self.server.port}"

    def start(self, timeout: float = 30.0) -> PlantChain:
        scene = load_scene(self.scene_file)
        # the chain runs without OPC UA security on loopback by design: asyncua's warnings
        # about that would only alarm whoever runs the demo
        logging.getLogger("asyncua").setLevel(logging.ERROR)
        if self.via != "opcua":
            self.broker = LocalBroker(self.folder / "broker").start()
        self._loop.start()
        try:
            self._loop.run(lambda: self._start(scene), timeout)
        except BaseException:
            self.close()
            raise
        return self

    async def _start(self, scene: Scene) -> None:
        self._stop = asyncio.Event()
        sim = build_simulator(scene, self.seed, 0.0, self.faults, time.time())
        kind: SourceKind = self.via
        sinks: list[Callable[[Mask, float], None]] = []
        if self.via == "opcua":
            opcua = self._opcua = SimOpcuaServer(sim, scene, port=0)
            await opcua.start()
            await opcua.write_all()
            self._writer = CellWriter(opcua.write, sim.values.shape)
            sinks.append(self._writer)
            url, namespace = opcua.url, opcua.uri
            security: OpcuaSecurity | MqttSecurity = OpcuaSecurity(policy="None")  # loopback
        else:
            assert self.broker is not None
            publisher = SimMqttPublisher(
                sim, self.broker.url, sparkplug=self.via == "sparkplug", scene=scene
            )
            sinks.append(publisher.publish_changes)
            self._tasks.append(asyncio.create_task(publisher.run(self._stop, step=False)))
            url, security, namespace = self.broker.url, MqttSecurity(), ""
        doc = sim_mapping(sim, scene, kind, namespace)
        self.mapping_file.write_text(rtoml.dumps(doc, pretty=True), encoding="utf-8")
        mapping: PlantMapping = parse_mapping(doc, str(self.mapping_file), scene)
        self.source = GatewaySource(mapping)
        self.server = TwinServer(self.source, ServerConfig(port=0, rate_hz=self.rate_hz))
        await self.server.start()
        from xrclient.gateway.service import connector

        link = connector(url, mapping, self.source, security, self._stop, None)
        self._tasks.append(asyncio.create_task(link))
        tee = SimTee(sim, sinks)
        self._tasks.append(asyncio.create_task(self._tick(tee)))

    async def _tick(self, tee: SimTee) -> None:
        assert self._stop is not None
        period = 1.0 / self.rate_hz
        while not self._stop.is_set():
            tee.step(time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), period)

    async def _close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 5.0)
        if self._writer is not None:
            await self._writer.close()
        if self.server is not None:
            await self.server.stop()
        if self._opcua is not None:
            await self._opcua.stop()

    def close(self) -> None:
        if self._loop.running:
            with contextlib.suppress(Exception):
                self._loop.run(self._close, 15.0)
            self._loop.close()
        if self.broker is not None:
            self.broker.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PlantChain:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
