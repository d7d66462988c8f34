"""The ``xrclient`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from xrclient import __version__
from xrclient.commands import gateway as gateway_cli
from xrclient.commands import headset as xr_cli
from xrclient.commands import history as history_cli
from xrclient.commands import hub as hub_cli
from xrclient.commands import scene_init as scene_cli
from xrclient.commands import training as training_cli
from xrclient.commands import view as desktop_cli
from xrclient.commands.args import (
    add_limits,
    add_token,
    add_training_options,
    limits_from,
    read_token,
    seconds_arg,
    size_arg,
    twin_options_from,
)
from xrclient.errors import AssetError, SceneError, XRClientError


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
        type=size_arg,
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
        type=seconds_arg,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the stream's first state (default 5)",
    )
    add_token(twin, "--twin-token-file", "token for a twin stream that requires one")
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
    add_limits(snap)

    sim = sub.add_parser(
        "twin-sim",
        help="serve simulated live telemetry for every machine of a scene",
        description="Simulate every machine of a scene (signals by machine type, shifts, "
        "noise, scripted faults) and serve it as a twin stream over WebSockets until "
        "Ctrl-C. Deterministic for a given --seed. With --replay it serves a recording made "
        "by `xrclient record` instead.",
    )
    sim.add_argument(
        "scene",
        metavar="SCENE",
        nargs="?",
        help="scene file (.toml) or shipped scene name (not needed with --replay)",
    )
    sim.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="serve a recording made by `xrclient record` instead of simulating",
    )
    sim.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="replay speed, 0.01 to 1000 (default 1)",
    )
    sim.add_argument("--loop", action="store_true", help="start the replay over at its end")
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
    add_token(
        sim,
        "--token-file",
        "require this bearer token from clients (needed to listen beyond loopback)",
    )
    add_token(
        sim,
        "--control-token-file",
        "clients presenting this bearer token (instead of --token-file's) may pause, reset "
        "and fault the plant; without it control requests are refused (docs/security.md)",
    )
    sim.add_argument(
        "--allow-control",
        action="store_true",
        help="let every client on loopback send control requests (trusted machines only)",
    )
    plant = sim.add_argument_group("speaking a plant's protocols")
    plant.add_argument(
        "--serve-opcua",
        type=int,
        default=None,
        metavar="PORT",
        help="also serve the plant as an OPC UA server on opc.tcp://HOST:PORT (one object per "
        "machine under Objects/Plant; 0 picks a free port)",
    )
    plant.add_argument(
        "--publish-mqtt",
        default=None,
        metavar="URL",
        help="also publish the plant to an MQTT broker (mqtt://host[:1883] or mqtts://...): "
        "plain topics plant/LINE/MACHINE/PROPERTY, or Sparkplug B with --sparkplug",
    )
    plant.add_argument(
        "--sparkplug",
        action="store_true",
        help="with --publish-mqtt: publish as Sparkplug B 3.0 edge nodes (one per line, one "
        "device per machine)",
    )
    plant.add_argument(
        "--opcua-pki",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --serve-opcua: the server's certificate folder (created on first run); "
        "Basic256Sha256 endpoints are offered besides None",
    )
    sim.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to connect, exactly as sent (https://host[:port]); "
        "repeatable. Without it, requests with an Origin (any web page) are refused",
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
    add_limits(insp)

    demo = sub.add_parser(
        "demo",
        help="the sample plant with live simulated state: a window, or a snapshot without one",
        description="Start the plant simulator and a session hub on free loopback ports and "
        "open the shipped sample plant in a window, coloured by its live state with metric "
        "overlays (two machines start jammed); you join the hub's room as an expert, with a "
        "scripted colleague walking the hall. Closing the window, Ctrl+Q or Ctrl-C stops "
        "everything. With no display it renders a headless snapshot to --out instead.",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("out/demo-plant.png"),
        metavar="FILE.png",
        help="PNG to write when there is no display (default out/demo-plant.png)",
    )
    demo.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    demo.add_argument(
        "--scene",
        default=None,
        metavar="SCENE",
        help="run the demo on this scene file (or shipped scene name) instead of the sample "
        "plant, e.g. one written by `xrclient scene init` (two machines start jammed only "
        "where the scene has the sample plant's CNV-A3 and RBT-B2)",
    )
    demo.add_argument(
        "--via",
        choices=("opcua", "mqtt", "sparkplug"),
        default=None,
        help="read the plant the way a real one is read: the simulator serves OPC UA (or "
        "publishes to a private mosquitto broker, plain topics or Sparkplug B) and a gateway "
        "serves the viewer (docs/connectors.md); needs the [plant] extra, and mosquitto for "
        "mqtt and sparkplug",
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="render the snapshot to --out even when a display is available",
    )
    desktop_cli.add_window_options(demo)
    add_training_options(demo)
    desktop_cli.add_parser(sub)
    xr_cli.add_parser(sub)
    gateway_cli.add_parsers(sub)
    hub_cli.add_parsers(sub)
    history_cli.add_parsers(sub)
    training_cli.add_parsers(sub)
    scene_cli.add_parsers(sub)
    return parser


def _say_asset_warnings() -> None:
    """Warnings about mesh files reach the user as one line each, without Python's source
    location (other warnings are shown as Python shows them)."""
    import warnings

    from xrclient.scene.notices import AssetWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]  # warnings.showwarning's own signature
        if issubclass(category, AssetWarning):
            print(f"xrclient: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    _say_asset_warnings()
    args = build_parser().parse_args(
        gateway_cli.route(list(sys.argv[1:] if argv is None else argv))
    )
    try:
        code = gateway_cli.run(args)
        if code is None:
            code = hub_cli.run(args)
        if code is None:
            code = history_cli.run(args)
        if code is None:
            code = training_cli.run(args)
        if code is None:
            code = scene_cli.run(args)
        if code is not None:
            return code
        if args.command == "snapshot":
            return _snapshot(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "twin-sim":
            return _twin_sim(args)
        if args.command == "view":
            return desktop_cli.run(args)
        if args.command == "xr":
            return xr_cli.run(args)
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
    from xrclient.app import render_snapshot
    from xrclient.progress import stderr_progress
    from xrclient.scene.load import resolve_scene
    from xrclient.settings import Settings

    twin = twin_options_from(args)
    if twin is None and args.select is not None:
        raise XRClientError("--select needs --twin URL (the detail panel shows live values)")
    settings = Settings(
        scene=resolve_scene(args.scene),
        size=args.size,
        view=args.view,
        samples=args.samples,
        limits=limits_from(args),
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

    from xrclient.scene.load import resolve_scene
    from xrclient.server.sim_service import serve_simulator
    from xrclient.server.twin_server import ServerConfig

    config = ServerConfig(
        host=args.host,
        port=args.port,
        rate_hz=args.rate,
        heartbeat_s=args.heartbeat,
        token=read_token(args.token_file),
        control_token=read_token(args.control_token_file),
        allow_control=args.allow_control,
        origins=tuple(args.allow_origin),
    )
    try:
        config.check()
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    if args.replay is not None:
        from xrclient.history.replay_source import serve_replay

        if args.serve_opcua is not None or args.publish_mqtt is not None:
            raise XRClientError(
                "--serve-opcua and --publish-mqtt serve a simulated plant, not --replay"
            )

        if not 0.01 <= args.speed <= 1000.0:
            raise XRClientError("--speed must be 0.01 to 1000")
        asyncio.run(
            serve_replay(
                args.replay,
                config,
                args.speed,
                lambda line: print(line, flush=True),
                loop=args.loop,
            )
        )
        return 0
    if args.scene is None:
        raise XRClientError("twin-sim needs a SCENE (or --replay FILE)")
    if args.sparkplug and args.publish_mqtt is None:
        raise XRClientError("--sparkplug needs --publish-mqtt URL")
    if args.opcua_pki is not None and args.serve_opcua is None:
        raise XRClientError("--opcua-pki needs --serve-opcua PORT")
    if args.serve_opcua is not None or args.publish_mqtt is not None:
        gateway_cli.require_plant_extra("twin-sim --serve-opcua / --publish-mqtt")
        from xrclient.gateway.sim_plant import serve_simulator_speaking

        if args.serve_opcua is not None and not 0 <= args.serve_opcua <= 65535:
            raise XRClientError("--serve-opcua must be a port 0..65535")
        asyncio.run(
            serve_simulator_speaking(
                resolve_scene(args.scene),
                config,
                seed=args.seed,
                fault_rate=args.fault_rate,
                faults=args.fault,
                opcua_port=args.serve_opcua,
                opcua_pki=args.opcua_pki,
                mqtt_url=args.publish_mqtt,
                sparkplug=args.sparkplug,
                announce=lambda line: print(line, flush=True),
            )
        )
        return 0
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


def _demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from xrclient.demo import DemoServices
    from xrclient.desktop.window import display_available
    from xrclient.live import TwinOptions
    from xrclient.resources import DEMO_SCENE
    from xrclient.scene.load import resolve_scene

    windowed = display_available() and not args.headless
    if not windowed and not args.headless:
        print(
            "no display found: rendering the plant headlessly instead of opening a window",
            file=sys.stderr,
        )
    scene_file = resolve_scene(args.scene or DEMO_SCENE)
    if args.via is not None:
        gateway_cli.require_plant_extra(f"demo --via {args.via}")
    if args.procedure is not None:  # a bad procedure fails before anything starts
        from xrclient.scene.schema import load_scene
        from xrclient.training.loader import load_procedure, procedure_path

        load_procedure(procedure_path(args.procedure), load_scene(scene_file))
        if not windowed:
            print("note: --procedure needs a window; the snapshot ignores it", file=sys.stderr)
    with DemoServices(scene_file, args.seed, with_session=windowed, via=args.via) as services:
        url = services.twin_url
        if services.chain is not None:
            print(
                f"plant simulator as a {args.via} plant, read by a gateway serving {url} "
                f"(mapping: {services.chain.mapping_file})",
                file=sys.stderr,
            )
        else:
            print(f"plant simulator serving live state on {url}", file=sys.stderr)
        if not windowed:
            label = "built-in simulator" if args.via is None else f"gateway ({args.via} plant)"
            return _demo_snapshot(args, scene_file, url, label)
        assert services.session is not None and services.hub is not None
        print(
            f"session hub on {services.hub.room_url('demo')}: you join as an expert; "
            "Tomas (a trainee) walks the hall",
            file=sys.stderr,
        )
        twin = TwinOptions(url, token=services.twin_control_token, wait=10.0)
        options = desktop_cli.viewer_options(args, scene_file, twin)
        return desktop_cli.open_viewer(
            replace(options, session=services.session, history=services.history)
        )


def _demo_snapshot(args: argparse.Namespace, scene_file: Path, url: str, label: str) -> int:
    from xrclient.app import render_snapshot
    from xrclient.live import TwinOptions
    from xrclient.progress import stderr_progress
    from xrclient.settings import Settings

    settings = Settings(
        scene=scene_file, size=args.size, view=args.view, twin=TwinOptions(url, wait=10.0)
    )
    report = render_snapshot(settings, args.out, stderr_progress)
    print(
        f"wrote {report.out.resolve()}  ({report.machines} machines, view '{report.view}', "
        f"{report.seconds:.1f} s)"
    )
    if report.twin is not None:
        print(report.twin.replace(url, label))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from xrclient.inspection import describe

    limits = limits_from(args)
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
