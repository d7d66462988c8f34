"""Argument types and option groups the ``xrclient`` subcommands share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from xrclient.errors import XRClientError

if TYPE_CHECKING:
    from xrclient.live import TwinOptions
    from xrclient.scene.loaders import LoadLimits
    from xrclient.session import SessionOptions


def size_arg(text: str) -> tuple[int, int]:
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


def positive_mib(text: str) -> int:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a size in MiB > 0")
    return int(value * 2**20)


def frame_count(text: str) -> int:
    """``--frames N``: a whole number of frames, 1 to 10 million."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 < value <= 10_000_000:
        raise argparse.ArgumentTypeError("expected a number of frames above 0")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("expected an integer > 0")
    return value


def add_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits for untrusted files")
    group.add_argument(
        "--max-file-mb",
        type=positive_mib,
        default=None,
        metavar="MIB",
        help="largest mesh or scan file accepted (default 256)",
    )
    group.add_argument(
        "--max-triangles",
        type=positive_int,
        default=None,
        metavar="N",
        help="most triangles accepted in one mesh file (default 5000000)",
    )


def limits_from(args: argparse.Namespace) -> LoadLimits:
    from dataclasses import replace

    from xrclient.scene.loaders import LoadLimits

    limits = LoadLimits()
    if args.max_file_mb is not None:
        limits = replace(limits, max_file_bytes=args.max_file_mb)
    if args.max_triangles is not None:
        limits = replace(limits, max_triangles=args.max_triangles)
    return limits


def seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("expected 0 to 3600 seconds")
    return value


def add_token(parser: argparse._ActionsContainer, flag: str, help_text: str) -> None:
    parser.add_argument(flag, type=Path, metavar="FILE", help=help_text)


def read_token(path: Path | None) -> str | None:
    """A bearer token from a file (first line, trimmed); None without a file."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise XRClientError(f"{path}: cannot read token: {exc}") from None
    if not 16 <= len(text) <= 4096 or not (text.isascii() and text.isprintable()) or " " in text:
        raise XRClientError(
            f"{path}: a token must be one line of 16 to 4096 printable ASCII characters"
        )
    return text


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """``--session URL`` and how to join it (the front ends share these)."""
    group = parser.add_argument_group("shared session")
    group.add_argument(
        "--session",
        metavar="URL",
        help="join a session hub room, e.g. wss://hub.example:8766/line-a (see docs/sessions.md)",
    )
    group.add_argument("--token", metavar="TOKEN", help="join token (`xrclient token` mints one)")
    group.add_argument(
        "--session-token-file",
        type=Path,
        metavar="FILE",
        help="read the join token from FILE instead (keeps it out of the process list)",
    )
    group.add_argument(
        "--name", metavar="NAME", help="check that the token is for NAME (the token names you)"
    )
    group.add_argument(
        "--session-ca",
        type=Path,
        metavar="FILE",
        help="trust this CA certificate (PEM) for a wss:// hub, e.g. one with its own cert",
    )
    group.add_argument(
        "--spectator",
        action="store_true",
        help="watch without an avatar (observers always do)",
    )


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """``--procedure NAME`` (the front ends share it)."""
    group = parser.add_argument_group("training")
    group.add_argument(
        "--procedure",
        metavar="NAME",
        help="run a training procedure: a procedure file, or the name of a shipped one "
        "(`xrclient procedure list`); its steps are checked against the live state, and in "
        "a shared session the room's experts follow your progress and the hub stores your "
        "result",
    )


def trainee_name(args: argparse.Namespace) -> str:
    """Who a training result belongs to: the join token's name in a session, else the
    login name (the hub always stores results under the token's name)."""
    import getpass

    from xrclient.hub.tokens import TokenError, unverified_claims

    token = getattr(args, "token", None)
    if token is None and getattr(args, "session_token_file", None) is not None:
        token = read_token(args.session_token_file)
    if token:
        try:
            return unverified_claims(token).name
        except TokenError:
            pass
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "trainee"


def session_options(args: argparse.Namespace, device: str) -> SessionOptions | None:
    """``SessionOptions`` from the session arguments, or None without ``--session``."""
    joins = (args.token, args.session_token_file, args.name, args.session_ca)
    if args.session is None:
        if any(v is not None for v in joins) or args.spectator:
            raise XRClientError(
                "--token, --session-token-file, --name, --session-ca and "
                "--spectator need --session URL"
            )
        return None
    import ssl

    from xrclient.hub.tokens import TokenError, unverified_claims
    from xrclient.net.session_client import check_session_url
    from xrclient.session import SessionOptions

    try:
        parts = check_session_url(args.session)
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    if (args.token is None) == (args.session_token_file is None):
        raise XRClientError("--session needs a join token: --token TOKEN or --session-token-file")
    token = args.token if args.token is not None else read_token(args.session_token_file)
    if token is None:  # unreachable: one of the two is given
        raise XRClientError("--session needs a join token")
    try:
        claims = unverified_claims(token)
    except TokenError as exc:
        raise XRClientError(f"join token: {exc.reason}") from None
    room = parts.path.lstrip("/")
    if claims.room != room:
        raise XRClientError(f"the token is for room {claims.room!r}, the URL names {room!r}")
    if args.name is not None and args.name != claims.name:
        raise XRClientError(f"the token is for {claims.name!r}, not {args.name!r}")
    context = None
    if args.session_ca is not None:
        if parts.scheme != "wss":
            raise XRClientError("--session-ca needs a wss:// session URL")
        try:
            context = ssl.create_default_context(cafile=str(args.session_ca))
        except (OSError, ssl.SSLError) as exc:
            raise XRClientError(f"{args.session_ca}: cannot load CA certificate: {exc}") from None
    return SessionOptions(
        args.session, token, device=device, ssl_context=context, spectator=args.spectator
    )


def add_twin_options(
    parser: argparse.ArgumentParser, *, overlays_help: str, wait: bool = False
) -> None:
    """``--twin URL`` and its companions, for the commands that show live state."""
    twin = parser.add_argument_group("live twin state")
    twin.add_argument(
        "--twin",
        metavar="URL",
        help="colour machines and show metric overlays from a twin stream (ws:// or wss://)",
    )
    add_token(twin, "--twin-token-file", "token for a twin stream that requires one")
    if wait:
        twin.add_argument(
            "--wait",
            type=seconds_arg,
            default=5.0,
            metavar="SECONDS",
            help="wait this long for the stream's first state before starting (default 5)",
        )
    twin.add_argument("--no-overlays", action="store_true", help=overlays_help)


def twin_options_from(args: argparse.Namespace) -> TwinOptions | None:
    """``TwinOptions`` from ``--twin``, ``--twin-token-file`` (and ``--wait``), or None."""
    if args.twin is None:
        if args.twin_token_file is not None:
            raise XRClientError("--twin-token-file needs --twin URL")
        return None
    from xrclient.live import TwinOptions
    from xrclient.net.twin_client import check_url

    try:
        check_url(args.twin)
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    token = read_token(args.twin_token_file)
    return TwinOptions(args.twin, token=token, wait=getattr(args, "wait", 5.0))
