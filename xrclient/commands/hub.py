"""``xrclient hub``, ``xrclient token`` and ``xrclient audit verify``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from xrclient.core import display_text
from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.core import session_roles as roles
from xrclient.errors import XRClientError

DEFAULT_SECRET = Path("hub.secret")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # argparse's subparsers action is generic only in the stubs
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
    hub.add_argument(
        "--handshake-burst",
        type=int,
        metavar="N",
        help="connection attempts one client address may make at once (default six times "
        "--handshake-rate); everyone behind one NAT address shares it",
    )
    hub.add_argument(
        "--max-per-name",
        type=int,
        default=4,
        metavar="N",
        help="connections at once per token name in one room (default 4)",
    )
    hub.add_argument(
        "--room-annotations",
        type=int,
        default=10_000,
        metavar="N",
        help="annotations a room may hold (default 10000)",
    )
    hub.add_argument(
        "--room-annotation-bytes",
        type=int,
        default=8 * 2**20,
        metavar="BYTES",
        help="bytes a room's annotations may take (default 8 MiB)",
    )
    hub.add_argument(
        "--author-annotations",
        type=int,
        default=1000,
        metavar="N",
        help="annotations one author (token name) may hold in a room (default 1000)",
    )
    hub.add_argument(
        "--author-annotation-bytes",
        type=int,
        default=2**20,
        metavar="BYTES",
        help="bytes one author's annotations may take in a room (default 1 MiB)",
    )
    hub.add_argument(
        "--room-fanout",
        type=float,
        default=20_000.0,
        metavar="N",
        help="reliable frames per second one room may send out, messages times receivers, "
        "in bursts of twice that (default 20000)",
    )
    hub.add_argument(
        "--audit-key-file",
        type=Path,
        metavar="FILE",
        help="key of the audit chain, hex like the secret file (default: derived from "
        "--secret-file); 'xrclient audit verify' needs the same file",
    )
    hub.add_argument("-v", "--verbose", action="store_true", help="log every join and leave")

    tok = sub.add_parser(
        "token",
        help="mint a signed join token for a session hub room",
        description="Print a signed join token (HMAC-SHA256 with the hub's secret).",
    )
    tok.add_argument("--room", required=True, help="room name (A-Z a-z 0-9 . _ -)")
    tok.add_argument("--name", required=True, help="the person's display name")
    tok.add_argument("--role", required=True, choices=[r.value for r in roles.Role])
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
    ver.add_argument(
        "--secret-file",
        type=Path,
        default=DEFAULT_SECRET,
        metavar="FILE",
        help="the hub's secret, the audit key is derived from it (default hub.secret, "
        "when it exists)",
    )
    ver.add_argument(
        "--audit-key-file",
        type=Path,
        metavar="FILE",
        help="the hub's --audit-key-file, when it was started with one",
    )
    ver.add_argument(
        "--unkeyed",
        action="store_true",
        help="check a log written before the chain was keyed, without any key",
    )


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
        name = display_text.name(args.name, "--name", checks.MAX_NAME)
        token = tokens.mint(secret, args.room, name, roles.Role(args.role), ttl)
    except (ValueError, codec.SessionError) as exc:
        raise XRClientError(str(exc)) from None
    print(token)
    return 0


def _audit(args: argparse.Namespace) -> int:
    from xrclient.hub import audit, tokens

    key: bytes | None = None
    source = args.audit_key_file or args.secret_file
    # no key file at all (not given, no hub.secret here): check as an unkeyed log, which a
    # keyed log then fails with "give the hub's secret file"
    if not args.unkeyed and (args.audit_key_file is not None or source.exists()):
        try:
            key = audit.derive_key(tokens.load_secret(source))
        except ValueError as exc:
            raise XRClientError(f"{exc} (the audit key; --unkeyed for an unkeyed log)") from None
    verdict = audit.verify(args.db, key)
    if verdict.ok:
        print(f"audit log OK: {verdict.rows} changes, head {verdict.head}")
        if verdict.unkeyed_rows:
            print(
                f"  rows 1..{verdict.unkeyed_rows} predate the key: chained with plain "
                "SHA-256, anchored by the key marker"
            )
        elif key is None:
            print("  unkeyed log: a rewritten chain would not be detected")
        return 0
    print(f"audit log FAILED ({verdict.rows} rows read):", file=sys.stderr)
    for problem in verdict.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _hub(args: argparse.Namespace) -> int:
    from xrclient.hub import tokens
    from xrclient.hub.config import HubConfig
    from xrclient.hub.server import Hub
    from xrclient.hub.store import StoreError
    from xrclient.hub.tls import tls_context

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
            handshake_burst=(
                max(1, int(6 * args.handshake_rate))
                if args.handshake_burst is None
                else args.handshake_burst
            ),
            max_per_name=args.max_per_name,
            max_annotations=args.room_annotations,
            max_annotation_bytes=args.room_annotation_bytes,
            max_author_annotations=args.author_annotations,
            max_author_bytes=args.author_annotation_bytes,
            room_fanout=args.room_fanout,
            room_fanout_burst=max(1, int(2 * args.room_fanout)),
            audit_secret=(
                None if args.audit_key_file is None else tokens.load_secret(args.audit_key_file)
            ),
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
    """The hub, token and audit commands on their own (tests and scripts)."""
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
