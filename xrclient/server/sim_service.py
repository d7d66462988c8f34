"""``xrclient twin-sim``: the plant simulator served over WebSockets until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from xrclient.errors import XRClientError
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene
from xrclient.server.faults import FAULT_INDEX, ScheduledFault
from xrclient.server.simulator import PlantSimulator
from xrclient.server.twin_server import ServerConfig, TwinServer


def parse_fault(text: str, start: float) -> ScheduledFault:
    """``MACHINE=KIND[,after=SECONDS][,duration=SECONDS]`` as a scheduled fault."""
    head, _, rest = text.partition(",")
    machine, eq, kind = head.partition("=")
    if not eq or not machine or not kind:
        raise ValueError(f"expected MACHINE=KIND[,after=S][,duration=S], got {text!r}")
    if kind not in FAULT_INDEX:
        raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_INDEX)})")
    options: dict[str, float] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if key not in ("after", "duration") or not eq:
            raise ValueError(f"unknown fault option {part!r} (after=S, duration=S)")
        try:
            options[key] = float(value)
        except ValueError:
            raise ValueError(f"{key} must be a number of seconds, got {value!r}") from None
        low = 1.0 if key == "duration" else 0.0
        if not low <= options[key] <= 86400:
            raise ValueError(f"{key} must be between {low:g} and 86400 s")
    return ScheduledFault(machine, kind, start + options.get("after", 0.0), options.get("duration"))


def build_simulator(
    scene: Scene, seed: int, fault_rate: float, faults: Sequence[str], start: float
) -> PlantSimulator:
    scheduled = [parse_fault(f, start) for f in faults]
    known = scene.machine_index
    for f in scheduled:
        if f.machine not in known:
            raise ValueError(f"--fault: no machine {f.machine!r} in {scene.source}")
    return PlantSimulator(
        scene, seed=seed, start=start, fault_rate_per_hour=fault_rate, faults=scheduled
    )


async def serve_simulator(
    scene_file: Path,
    config: ServerConfig,
    *,
    seed: int = 0,
    fault_rate: float = 0.01,
    faults: Sequence[str] = (),
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection cleanly."""
    scene = load_scene(scene_file)
    try:
        sim = build_simulator(scene, seed, fault_rate, faults, time.time())
        server = TwinServer(sim, config)
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    await serve_until_signal(
        server, config, lambda port: announce(serving_line(sim, scene, config, seed, port))
    )
    announce(f"twin-sim: stopped after {server.ticks} ticks")


def serving_line(
    sim: PlantSimulator, scene: Scene, config: ServerConfig, seed: int, port: int
) -> str:
    """The start-up line of ``twin-sim`` (scripts and tests read the URL from it)."""
    return (
        f"twin-sim: serving {sim.n_machines} machines x {len(sim.schema.properties)} "
        f"properties of {scene.plant.name} on ws://{config.host}:{port} at "
        f"{config.rate_hz:g} Hz (seed {seed}{', token required' if config.token else ''}; "
        f"{control_note(config)}); Ctrl-C stops"
    )


def control_note(config: ServerConfig) -> str:
    """Who may send control requests, for the start-up line."""
    if config.allow_control:
        return "control open to every client"
    if config.control_token is not None:
        return "control with the control token"
    return "control refused"


async def serve_until_signal(
    server: TwinServer,
    config: ServerConfig,
    started: Callable[[int], None],
    *,
    also: asyncio.Task[None] | None = None,
) -> None:
    """Start ``server``, call ``started(port)``, serve until SIGINT or SIGTERM, then close
    every connection cleanly (``twin-sim`` with a simulator or a recording, the gateway).
    With ``also`` (a task that runs beside the server), serving also ends when that task
    ends, and its exception, if any, is raised after the server closed."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    if also is not None:
        also.add_done_callback(lambda _task: request_stop())
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, request_stop)
    try:
        await server.start()
    except OSError as exc:
        raise XRClientError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror}"
        ) from None
    try:
        started(server.port)
        await stop
    finally:
        await server.stop()
    if also is not None and also.done() and not also.cancelled():
        also.result()  # the task's exception, if it failed
