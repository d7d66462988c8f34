"""OPC UA test parts: a simulator server in its own thread, mappings onto it, and a gateway
(connector + twin server) in another, so tests drive real sockets on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from xrclient.core.twin_store import TwinStore
from xrclient.gateway.mapping import Feed, Mapping, OpcuaOptions, OpcuaTarget
from xrclient.gateway.opcua_client import OpcuaConnector
from xrclient.gateway.opcua_security import OpcuaSecurity
from xrclient.gateway.opcua_server import SimOpcuaServer, node_id
from xrclient.gateway.source import GatewaySource
from xrclient.scene.model import Line, Machine, Plant, Scene, Transform
from xrclient.server.background import BackgroundServer, ServerThread
from xrclient.server.simulator import PlantSimulator
from xrclient.server.twin_server import ServerConfig

TYPES = ("cnc_mill", "lathe", "press", "robot_cell", "conveyor", "tank")
NO_SECURITY = OpcuaSecurity(policy="None")


def synthetic_scene(n: int, name: str = "Test Plant") -> Scene:
    lines = (Line("L00", "Line 0"),)
    machines = tuple(
        Machine(f"M-{i:04d}", f"Machine {i}", TYPES[i % len(TYPES)], "a", "L00", "c", Transform())
        for i in range(n)
    )
    return Scene(Path("synthetic.toml"), Plant(name), {}, lines, machines)


class OpcuaThread(ServerThread[SimOpcuaServer]):
    """A :class:`SimOpcuaServer` on its own loop; ``stop``/``start`` restart it on its port."""

    thread_name = "opcua-sim"

    def __init__(self, sim: PlantSimulator, scene: Scene, **options: Any) -> None:
        self.sim, self.scene, self.options = sim, scene, options
        self.last_port = 0
        super().__init__("127.0.0.1")

    def _create(self, port: int | None) -> SimOpcuaServer:
        return SimOpcuaServer(self.sim, self.scene, port=port or self.last_port, **self.options)

    def start(self, port: int | None = None) -> int:
        self.last_port = super().start(port)
        return self.last_port

    @property
    def served(self) -> SimOpcuaServer:
        assert self._served is not None
        return self._served

    @property
    def opc_url(self) -> str:
        return self.served.url

    def pause(self, paused: bool = True) -> None:
        self.call(lambda: setattr(self.served, "paused", paused))

    def values(self) -> tuple[np.ndarray[Any, Any], list[list[str | None]]]:
        """The simulator's values and texts, read on the server's loop."""

        def read() -> tuple[np.ndarray[Any, Any], list[list[str | None]]]:
            n, p = self.sim.values.shape
            texts = [[self.sim.text(m, q) for q in range(p)] for m in range(n)]
            return self.sim.values.copy(), texts

        return self.call(read)


def sim_mapping(
    sim: PlantSimulator,
    uri: str,
    *,
    sampling_ms: float = 50.0,
    publishing_ms: float = 50.0,
    file: str = "plant.toml",
) -> Mapping:
    """Every cell the simulator has, half by NodeId and half by browse path from Objects."""
    props = sim.schema.properties
    present = ~np.isnan(sim.source_time)
    feeds: list[Feed] = []
    for m, mid in enumerate(sim.schema.machines):
        for p, spec in enumerate(props):
            if not present[m, p]:
                continue
            if (m + p) % 2:
                target = OpcuaTarget(None, ((uri, "Plant"), (uri, mid), (uri, spec.name)))
            else:
                target = OpcuaTarget(node_id(uri, mid, spec.name))
            key = f"machines.{mid}.{spec.name}"
            feeds.append(Feed(len(feeds), m, p, key, target, sampling_ms=sampling_ms))
    options = OpcuaOptions(publishing_ms=publishing_ms, sampling_ms=sampling_ms)
    return Mapping(file, "opcua", props, sim.schema.machines, tuple(feeds), options)


class Gateway:
    """A :class:`GatewaySource` fed by an :class:`OpcuaConnector`, served by a real
    :class:`TwinServer`, all on the twin server's loop (as ``xrclient gateway`` runs)."""

    def __init__(
        self, url: str, mapping: Mapping, security: OpcuaSecurity, keepalive_s: float = 5.0
    ) -> None:
        self.source = GatewaySource(mapping)
        self.server = BackgroundServer(
            self.source,
            ServerConfig(port=0, rate_hz=50.0),
        )
        self.connector = OpcuaConnector(
            url, mapping, self.source, security, timeout_s=3.0, keepalive_s=keepalive_s
        )
        self.messages: list[str] = []
        self.connector.progress = self.messages.append
        self.task: asyncio.Future[None] | None = None

    def start(self) -> None:
        self.server.start()

        def begin() -> None:
            self.task = asyncio.ensure_future(self.connector.run())

        self.server.call(begin)

    @property
    def ws_url(self) -> str:
        return self.server.url

    def read(self, fn: Callable[[GatewaySource], Any]) -> Any:
        return self.server.call(lambda: fn(self.source))

    def error(self) -> BaseException | None:
        """The connector's exception once its run ended (None while running or clean)."""

        def get() -> BaseException | None:
            if self.task is None or not self.task.done() or self.task.cancelled():
                return None
            return self.task.exception()

        return self.server.call(get)

    def close(self) -> None:
        try:
            self.server.call(self.connector.close)

            async def finish() -> None:
                if self.task is not None:
                    await asyncio.wait([self.task], timeout=5.0)

            self.server.run(finish)
        finally:
            self.server.close()


@contextmanager
def running_gateway(
    url: str, mapping: Mapping, security: OpcuaSecurity, keepalive_s: float = 5.0
) -> Iterator[Gateway]:
    gw = Gateway(url, mapping, security, keepalive_s)
    try:
        gw.start()
        yield gw
    finally:
        gw.close()


def source_matches_sim(source: GatewaySource, values: Any, texts: list[list[str | None]]) -> bool:
    """The source's mapped columns hold the simulator's values (string properties by text)."""
    props = source.mapping.properties
    for p, spec in enumerate(props):
        ours = source.values[:, p]
        theirs = values[:, p]
        if spec.kind == "string":
            if [source.text(m, p) for m in range(len(ours))] != [t[p] for t in texts]:
                return False
        elif not np.array_equal(ours, theirs, equal_nan=True):
            return False
    return True


def store_matches_source(store: TwinStore, source: GatewaySource) -> bool:
    """The client's store holds exactly the source's values (texts for string properties)."""
    ours = store.value
    theirs = source.values.copy()
    for p, spec in enumerate(source.schema.properties):
        if spec.kind == "string":
            a = [store.text(spec.name, v) for v in ours[:, p]]
            b = [source.text(m, p) for m in range(theirs.shape[0])]
            if a != b:
                return False
            theirs[:, p] = ours[:, p]
    return bool(np.array_equal(ours, theirs, equal_nan=True))


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
