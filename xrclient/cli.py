"""The ``xrclient`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from xrclient import __version__
from xrclient.errors import AssetError, SceneError, XRClientError

if TYPE_CHECKING:
    from xrclient.scene.loaders import LoadLimits


def _size(text: str) -> tuple[int, int]:
    try:
        w_text, h_text = text.lower().split("x")
        width, height = int(w_text), int(h_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 1280x720, got {text!r}"
        ) from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise argparse.ArgumentTypeError(f"size must be between 16x16 and 8192x8192, got {text}")
    return width, height


def _positive_mib(text: str) -> int:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a size in MiB > 0")
    return int(value * 2**20)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("expected an integer > 0")
    return value


def _add_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits for untrusted files")
    group.add_argument(
        "--max-file-mb",
        type=_positive_mib,
        default=None,
        metavar="MIB",
        help="largest mesh or scan file accepted (default 256)",
    )
    group.add_argument(
        "--max-triangles",
        type=_positive_int,
        default=None,
        metavar="N",
        help="most triangles accepted in one mesh file (default 5000000)",
    )


def _limits(args: argparse.Namespace) -> LoadLimits:
    from dataclasses import replace

    from xrclient.scene.loaders import LoadLimits

    limits = LoadLimits()
    if args.max_file_mb is not None:
        limits = replace(limits, max_file_bytes=args.max_file_mb)
    if args.max_triangles is not None:
        limits = replace(limits, max_triangles=args.max_triangles)
    return limits


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xrclient",
        description="Immersive client for industrial digital twins: plant scenes with live "
        "machine state, rendered headless, on the desktop or in an OpenXR headset.",
    )
    parser.add_argument("--version", action="version", version=f"xrclient {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    snap = sub.add_parser(
        "snapshot",
        help="render a scene to a PNG file without a display",
        description="Render a scene headlessly (EGL, no display or GPU needed) to a PNG file.",
    )
    snap.add_argument(
        "scene",
        metavar="SCENE",
        help="scene file (.toml), or the name of a shipped scene such as demo-plant",
    )
    snap.add_argument("--out", type=Path, required=True, metavar="FILE.png", help="PNG to write")
    snap.add_argument(
        "--size",
        type=_size,
        default=(1280, 720),
        metavar="WxH",
        help="image size (default 1280x720)",
    )
    snap.add_argument(
        "--view",
        metavar="NAME",
        help="named viewpoint from the scene (default: the scene's first, else a fitted overview)",
    )
    snap.add_argument(
        "--samples",
        type=int,
        default=4,
        choices=(0, 2, 4, 8),
        help="multisampling (anti-aliasing) samples; 0 turns it off (default 4)",
    )
    twin = snap.add_argument_group("live twin state")
    twin.add_argument(
        "--twin",
        metavar="URL",
        help="colour the plant by live state from a twin stream (ws:// or wss://) and show "
        "metric overlays over the machines",
    )
    twin.add_argument(
        "--wait",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the stream's first state (default 5)",
    )
    _add_token(twin, "--twin-token-file", "token for a twin stream that requires one")
    twin.add_argument(
        "--no-overlays",
        action="store_true",
        help="colour machines only; no metric panels, name pills or status dots",
    )
    twin.add_argument(
        "--select",
        metavar="MACHINE",
        help="highlight this machine and show its detail panel with all its properties",
    )
    _add_limits(snap)

    sim = sub.add_parser(
        "twin-sim",
        help="serve simulated live telemetry for every machine of a scene",
        description="Simulate every machine of a scene (signals by machine type, shifts, "
        "noise, scripted faults) and serve it as a twin stream over WebSockets until "
        "Ctrl-C. Deterministic for a given --seed.",
    )
    sim.add_argument("scene", metavar="SCENE", help="scene file (.toml) or shipped scene name")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to listen on; 0 picks a free one (default 8765)",
    )
    sim.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sim.add_argument(
        "--rate",
        type=float,
        default=10.0,
        metavar="HZ",
        help="simulation steps per second; every machine updates at this rate (default 10)",
    )
    sim.add_argument(
        "--heartbeat",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="heartbeat interval when nothing changes (default 1)",
    )
    sim.add_argument(
        "--fault-rate",
        type=float,
        default=0.01,
        metavar="PER_HOUR",
        help="random faults per machine-hour, seeded (default 0.01; 0 disables)",
    )
    sim.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="MACHINE=KIND[,after=S][,duration=S]",
        help="script a fault, e.g. CNC-A1=bearing_wear,after=30,duration=300 (starts 30 s "
        "after launch, faults 300 s later; repeatable). Kinds by machine type: bearing_wear "
        "(mills, lathes, presses, robots, conveyors, tanks), overheat (the same and AGVs), "
        "jam (presses, robots, conveyors, racks, AGVs), leak (presses, tanks)",
    )
    _add_token(
        sim,
        "--token-file",
        "require this bearer token from clients (needed to listen beyond loopback)",
    )

    insp = sub.add_parser(
        "inspect",
        help="show what mesh, scan or scene files hold, or why they are rejected",
        description="Print what each file holds (vertex/triangle or point counts, bounds, "
        "materials, machines) or the precise reason it is rejected. Exits 1 if any file is "
        "rejected.",
    )
    insp.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help=".glb .gltf .obj .stl .ply .pcd .xyz or .toml scene files",
    )
    insp.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per file (keys: file, ok, error or counts)",
    )
    _add_limits(insp)

    demo = sub.add_parser(
        "demo",
        help="render the sample plant with live simulated state (headless snapshot)",
        description="Start the plant simulator on a free loopback port, render the shipped "
        "sample plant headlessly coloured by its live state (two machines start jammed), "
        "print the PNG's path, and stop the simulator.",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("out/demo-plant.png"),
        metavar="FILE.png",
        help="PNG to write (default out/demo-plant.png)",
    )
    demo.add_argument(
        "--size",
        type=_size,
        default=(1600, 900),
        metavar="WxH",
        help="image size (default 1600x900)",
    )
    demo.add_argument("--view", metavar="NAME", help="named viewpoint (default: overview)")
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("expected 0 to 3600 seconds")
    return value


def _add_token(parser: argparse._ActionsContainer, flag: str, help_text: str) -> None:
    parser.add_argument(flag, type=Path, metavar="FILE", help=help_text)


def read_token(path: Path | None) -> str | None:
    """A bearer token from a file (first line, trimmed); None without a file."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise XRClientError(f"{path}: cannot read token: {exc}") from None
    if not 16 <= len(text) <= 4096 or not text.isascii() or any(c.isspace() for c in text):
        raise XRClientError(
            f"{path}: a token must be one line of 16 to 4096 printable ASCII characters"
        )
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "snapshot":
            return _snapshot(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "twin-sim":
            return _twin_sim(args)
    except (SceneError, AssetError, XRClientError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"xrclient: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xrclient: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head: stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 2  # unreachable: argparse requires a command


def _snapshot(args: argparse.Namespace) -> int:
    from xrclient.app import Settings, render_snapshot, resolve_scene, stderr_progress
    from xrclient.live import TwinOptions

    twin = None
    if args.twin is not None:
        from xrclient.net.twin_client import check_url

        try:
            check_url(args.twin)
        except ValueError as exc:
            raise XRClientError(str(exc)) from None
        twin = TwinOptions(args.twin, token=read_token(args.twin_token_file), wait=args.wait)
    elif args.twin_token_file is not None:
        raise XRClientError("--twin-token-file needs --twin URL")
    elif args.select is not None:
        raise XRClientError("--select needs --twin URL (the detail panel shows live values)")
    settings = Settings(
        scene=resolve_scene(args.scene),
        size=args.size,
        view=args.view,
        samples=args.samples,
        limits=_limits(args),
        twin=twin,
        overlays=not args.no_overlays,
        select=args.select,
    )
    report = render_snapshot(settings, args.out, stderr_progress)
    print(
        f"wrote {report.out} ({report.size[0]}x{report.size[1]}, view '{report.view}', "
        f"{report.machines} machines, {report.triangles:,} triangles, "
        f"{report.draw_calls} draw calls, {report.seconds:.2f} s)"
    )
    if report.twin is not None:
        print(report.twin)
    return 0


def _twin_sim(args: argparse.Namespace) -> int:
    import asyncio

    from xrclient.app import resolve_scene
    from xrclient.server.sim_service import serve_simulator
    from xrclient.server.twin_server import ServerConfig

    config = ServerConfig(
        host=args.host,
        port=args.port,
        rate_hz=args.rate,
        heartbeat_s=args.heartbeat,
        token=read_token(args.token_file),
    )
    try:
        config.check()
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    asyncio.run(
        serve_simulator(
            resolve_scene(args.scene),
            config,
            seed=args.seed,
            fault_rate=args.fault_rate,
            faults=args.fault,
            announce=lambda line: print(line, flush=True),
        )
    )
    return 0


#: faults the demo's simulator starts with, so its first picture shows alarms
DEMO_FAULTS = ("CNV-A3=jam", "RBT-B2=jam")


def _demo(args: argparse.Namespace) -> int:
    import time

    from xrclient.app import Settings, render_snapshot, resolve_scene, stderr_progress
    from xrclient.live import TwinOptions
    from xrclient.resources import DEMO_SCENE
    from xrclient.scene.schema import load_scene
    from xrclient.server.background import BackgroundServer
    from xrclient.server.sim_service import build_simulator
    from xrclient.server.twin_server import ServerConfig

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print(
            "no display found: rendering the sample plant headlessly instead of opening a window",
            file=sys.stderr,
        )
    scene_file = resolve_scene(DEMO_SCENE)
    sim = build_simulator(load_scene(scene_file), args.seed, 0.0, DEMO_FAULTS, time.time())
    with BackgroundServer(sim, ServerConfig(port=0, rate_hz=10.0)) as server:
        url = server.url
        print(f"plant simulator serving live state on {url}", file=sys.stderr)
        settings = Settings(
            scene=scene_file,
            size=args.size,
            view=args.view,
            twin=TwinOptions(url, wait=10.0),
        )
        report = render_snapshot(settings, args.out, stderr_progress)
    print(
        f"wrote {report.out.resolve()}  ({report.machines} machines, view '{report.view}', "
        f"{report.seconds:.1f} s)"
    )
    if report.twin is not None:
        print(report.twin.replace(url, "built-in simulator"))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from xrclient.inspection import describe

    limits = _limits(args)
    failures = 0
    for file in args.files:
        record = describe(file, limits)
        if not record["ok"]:
            failures += 1
        if args.json:
            print(json.dumps(record, sort_keys=False), flush=True)
        else:
            print(_format_record(record), flush=True)
    return 1 if failures else 0


def _format_record(record: dict[str, object]) -> str:
    if not record["ok"]:
        return f"{record['file']}: REJECTED ({record.get('reason', 'invalid')}): {record['error']}"
    kind = record.get("kind")
    head = f"{record['file']}: {kind}"
    details = [
        f"  {key}: {value}" for key, value in record.items() if key not in ("file", "ok", "kind")
    ]
    return "\n".join([head, *details])
