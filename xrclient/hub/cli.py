"""``xrclient hub``, ``xrclient token`` and ``xrclient audit verify``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from xrclient.core import session_schema as s
from xrclient.errors import XRClientError

DEFAULT_SECRET = Path("hub.secret")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hub = sub.add_parser(
        "hub",
        help="run a session hub: shared rooms, presence and persistent annotations",
        description="Run a session hub. People join a room with a token from "
        "'xrclient token'; annotations are kept in a SQLite file.",
    )
    hub.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    hub.add_argument("--port", type=_port, default=8766, help="port (default 8766)")
    hub.add_argument(
        "--db",
        type=Path,
        default=Path("hub.sqlite"),
        metavar="FILE",
        help="SQLite database of annotations and the audit log (default hub.sqlite)",
    )
    hub.add_argument(
        "--secret-file",
        type=Path,
        default=DEFAULT_SECRET,
        metavar="FILE",
        help="token signing secret; created (owner-only) when missing (default hub.secret)",
    )
    hub.add_argument("--tls-cert", type=Path, metavar="FILE", help="TLS certificate chain (PEM)")
    hub.add_argument("--tls-key", type=Path, metavar="FILE", help="TLS private key (PEM)")
    hub.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to connect, exactly as sent "
        "(https://host[:port]); repeatable. Without it, requests with an Origin "
        "header are refused",
    )
    hub.add_argument("--tick-hz", type=float, default=30.0, help="presence rate (default 30)")
    hub.add_argument(
        "--rate",
        type=float,
        default=60.0,
        metavar="N",
        help="messages per second allowed per connection (default 60; poses count too)",
    )
    hub.add_argument(
        "--handshake-rate",
        type=float,
        default=10.0,
        metavar="N",
        help="connection attempts per second allowed per client address, in bursts of six "
        "times that (default 10); beyond it the handshake is refused with HTTP 429",
    )
    hub.add_argument("-v", "--verbose", action="store_true", help="log every join and leave")

    tok = sub.add_parser(
        "token",
        help="mint a signed join token for a session hub room",
        description="Print a signed join token (HMAC-SHA256 with the hub's secret).",
    )
    tok.add_argument("--room", required=True, help="room name (A-Z a-z 0-9 . _ -)")
    tok.add_argument("--name", required=True, help="the person's display name")
    tok.add_argument("--role", required=True, choices=[r.value for r in s.Role])
    tok.add_argument("--ttl", default="8h", help="lifetime: 90s, 15m, 8h, 2d (default 8h)")
    tok.add_argument(
        "--secret-file",
        type=Path,
        default=DEFAULT_SECRET,
        metavar="FILE",
        help="the hub's secret (default hub.secret)",
    )

    aud = sub.add_parser(
        "audit", help="check a hub's audit log", description="Audit-log tools for a hub database."
    )
    aud_sub = aud.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ver = aud_sub.add_parser("verify", help="verify the hash chain of the annotation audit log")
    ver.add_argument("--db", type=Path, required=True, metavar="FILE", help="hub database")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0..65535")
    return value


def run(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of these; ``None`` otherwise."""
    if args.command == "hub":
        return _hub(args)
    if args.command == "token":
        return _token(args)
    if args.command == "audit":
        return _audit(args)
    return None


def _token(args: argparse.Namespace) -> int:
    from xrclient.hub import tokens

    try:
        secret = tokens.load_secret(args.secret_file)
        ttl = tokens.parse_ttl(args.ttl)
        token = tokens.mint(secret, args.room, args.name, s.Role(args.role), ttl)
    except (ValueError, s.SessionError) as exc:
        raise XRClientError(str(exc)) from None
    print(token)
    return 0


def _audit(args: argparse.Namespace) -> int:
    from xrclient.hub import audit

    verdict = audit.verify(args.db)
    if verdict.ok:
        print(f"audit log OK: {verdict.rows} changes, head {verdict.head}")
        return 0
    print(f"audit log FAILED ({verdict.rows} rows read):", file=sys.stderr)
    for problem in verdict.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _hub(args: argparse.Namespace) -> int:
    from xrclient.hub import tokens
    from xrclient.hub.server import Hub, HubConfig, tls_context
    from xrclient.hub.store import StoreError

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if (args.tls_cert is None) != (args.tls_key is None):
        raise XRClientError("give both --tls-cert and --tls-key")
    try:
        if args.secret_file.exists():
            secret = tokens.load_secret(args.secret_file)
        else:
            secret = tokens.create_secret(args.secret_file)
            print(f"created a new token secret in {args.secret_file}", file=sys.stderr)
        ctx = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
        config = HubConfig(
            db=args.db,
            secret=secret,
            host=args.host,
            port=args.port,
            origins=tuple(args.allow_origin),
            ssl_context=ctx,
            tick_hz=args.tick_hz,
            rate=args.rate,
            burst=max(1, int(2 * args.rate)),
            handshake_rate=args.handshake_rate,
            handshake_burst=max(1, int(6 * args.handshake_rate)),
        )
        config.check()
    except (ValueError, OSError) as exc:
        raise XRClientError(str(exc)) from None
    scheme = "wss" if ctx else "ws"

    def ready(port: int) -> None:
        print(f"hub listening on {scheme}://{args.host}:{port}/ROOM (db {args.db})", flush=True)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await Hub(config).serve_forever(ready)

    try:
        asyncio.run(serve())
    except asyncio.CancelledError:
        pass
    except StoreError as exc:
        raise XRClientError(str(exc)) from None
    except OSError as exc:
        raise XRClientError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xrclient.hub``: these commands on their own."""
    parser = argparse.ArgumentParser(prog="xrclient-hub")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    try:
        code = run(args)
    except XRClientError as exc:
        print(f"xrclient: error: {exc}", file=sys.stderr)
        return 1
    return 2 if code is None else code
