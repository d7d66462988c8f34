"""``xrclient gateway``: serve a real plant (OPC UA, MQTT, Sparkplug B) as a twin stream, and
``xrclient gateway discover``: write a first mapping from what a source offers."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from xrclient.commands.args import add_token, read_token, seconds_arg
from xrclient.errors import MissingDependencyError, XRClientError

DISCOVER = "gateway-discover"  # the parser of ``gateway discover`` (see ``route``)


def require_plant_extra(purpose: str) -> None:
    """Plant connections need the ``[plant]`` extra; say so instead of a traceback."""
    import importlib.util

    for module, package in (
        ("asyncua", "asyncua"),
        ("aiomqtt", "aiomqtt"),
        ("google.protobuf", "protobuf"),
    ):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ModuleNotFoundError, ValueError):  # a parent package missing, or a stub
            found = False
        if not found:
            raise MissingDependencyError(package, "plant", purpose)


def route(argv: list[str]) -> list[str]:
    """``gateway discover ...`` is its own command (``gateway`` takes a SCENE)."""
    if len(argv) >= 2 and argv[0] == "gateway" and argv[1] == "discover":
        return [DISCOVER, *argv[2:]]
    return argv


def _add_security(p: argparse.ArgumentParser) -> None:
    ua = p.add_argument_group("OPC UA security")
    ua.add_argument(
        "--security",
        choices=("Basic256Sha256", "Aes256_Sha256_RsaPss", "None"),
        default=None,
        help="security policy (default: the strongest both sides support; None only when "
        "named here)",
    )
    ua.add_argument(
        "--mode",
        choices=("Sign", "SignAndEncrypt"),
        default="SignAndEncrypt",
        help="message security mode (default SignAndEncrypt)",
    )
    ua.add_argument(
        "--pki",
        type=Path,
        default=None,
        metavar="DIR",
        help="the gateway's certificate (own/, created on first run) and the server "
        "certificates it trusts (trusted/); default $XDG_DATA_HOME/xrclient/opcua",
    )
    mq = p.add_argument_group("MQTT security (mqtts://)")
    mq.add_argument("--ca-file", type=Path, metavar="FILE", help="CA certificate(s) (PEM)")
    mq.add_argument("--cert-file", type=Path, metavar="FILE", help="client certificate (PEM)")
    mq.add_argument("--key-file", type=Path, metavar="FILE", help="client key (PEM, mode 600)")
    p.add_argument(
        "--user-file",
        type=Path,
        metavar="FILE",
        help="user name (first line) and password (second line) for the source; readable "
        "by its owner only",
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # argparse's subparsers action is generic only in the stubs
    gw = sub.add_parser(
        "gateway",
        help="serve a real plant (OPC UA, MQTT, Sparkplug B) as a twin stream",
        description="Connect to a plant's OPC UA server or MQTT broker, map its values onto "
        "the scene's machines as a mapping file says (docs/connectors.md), and serve them as "
        "the ordinary twin stream for any number of viewers and headsets. `xrclient gateway "
        "discover SOURCE --scene SCENE --out MAP` writes a first mapping. Ctrl-C stops.",
    )
    gw.add_argument("scene", metavar="SCENE", help="scene file (.toml) or shipped scene name")
    gw.add_argument(
        "--source",
        required=True,
        metavar="URL",
        help="opc.tcp://host:4840[/path], mqtt://host[:1883] or mqtts://host[:8883]",
    )
    gw.add_argument("--map", required=True, type=Path, metavar="FILE", help="mapping file (TOML)")
    gw.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    gw.add_argument(
        "--port", type=int, default=8765, help="twin stream port; 0 picks a free one (default 8765)"
    )
    gw.add_argument(
        "--rate",
        type=float,
        default=10.0,
        metavar="HZ",
        help="how often changes are sent to clients (default 10)",
    )
    gw.add_argument(
        "--status",
        type=seconds_arg,
        default=30.0,
        metavar="SECONDS",
        help="print the connection's counts this often (default 30)",
    )
    add_token(gw, "--token-file", "require this bearer token from twin clients")
    gw.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to connect (https://host[:port]); repeatable",
    )
    _add_security(gw)

    disc = sub.add_parser(
        DISCOVER,
        help="(as `gateway discover`) write a first mapping from what a source offers",
        description="Browse an OPC UA server's address space, or listen to an MQTT broker "
        "for --seconds (all topics and Sparkplug B, asking edge nodes for a rebirth), match "
        "what it finds to the scene's machine ids and names, and write a mapping file. "
        "Everything that could not be matched is listed, not guessed.",
        prog="xrclient gateway discover",
    )
    disc.add_argument("source", metavar="SOURCE", help="opc.tcp://..., mqtt://... or mqtts://...")
    disc.add_argument(
        "--scene", required=True, metavar="SCENE", help="scene whose machines to match"
    )
    disc.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="mapping file to write (new)"
    )
    disc.add_argument(
        "--seconds",
        type=seconds_arg,
        default=10.0,
        metavar="S",
        help="MQTT: how long to listen (default 10)",
    )
    disc.add_argument(
        "--limit",
        type=int,
        default=200_000,
        metavar="N",
        help="most nodes or topics to look at (default 200000)",
    )
    disc.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    _add_security(disc)


def run(args: argparse.Namespace) -> int | None:
    """Run ``gateway`` or ``gateway discover`` if it is the command; None otherwise."""
    command = getattr(args, "command", None)
    if command == "gateway":
        require_plant_extra("xrclient gateway")
        return _serve(args)
    if command == DISCOVER:
        require_plant_extra("xrclient gateway discover")
        return _discover(args)
    return None


def _security(args: argparse.Namespace, url: str) -> object:
    from xrclient.gateway.service import source_security

    return source_security(
        url,
        policy=args.security,
        mode=args.mode,
        pki=args.pki,
        user_file=args.user_file,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
    )


def _serve(args: argparse.Namespace) -> int:
    from xrclient.gateway.service import serve_gateway
    from xrclient.scene.load import resolve_scene
    from xrclient.server.twin_server import ServerConfig

    config = ServerConfig(
        host=args.host,
        port=args.port,
        rate_hz=args.rate,
        token=read_token(args.token_file),
        origins=tuple(args.allow_origin),
    )
    try:
        config.check()
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    asyncio.run(
        serve_gateway(
            resolve_scene(args.scene),
            args.source,
            args.map,
            config,
            _security(args, args.source),
            status_every=args.status,
            announce=lambda line: print(line, flush=True),
        )
    )
    return 0


def _discover(args: argparse.Namespace) -> int:
    from xrclient.gateway.service import discover_mapping
    from xrclient.scene.load import resolve_scene

    if args.out.exists() and not args.force:
        raise XRClientError(f"{args.out} exists (give --force to overwrite it)")
    if not 1 <= args.limit <= 10_000_000:
        raise XRClientError("--limit must be 1 to 10000000")
    report = asyncio.run(
        discover_mapping(
            args.source,
            resolve_scene(args.scene),
            args.out,
            _security(args, args.source),
            seconds=args.seconds,
            limit=args.limit,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    )
    print(report)
    return 0
