"""``xrclient record``: write a twin stream to a recording file until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from xrclient.commands.args import add_token, read_token
from xrclient.errors import XRClientError
from xrclient.history.recorder import Recorder


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # argparse's subparsers action is generic only in the stubs
    rec = sub.add_parser(
        "record",
        help="record a live twin stream to a file for replay and scrubbing",
        description="Connect to a twin stream and append every update to a compact, "
        "crash-safe recording (a killed recorder leaves a readable file). Replay it with "
        "'xrclient twin-sim --replay FILE'. Stops on Ctrl-C, SIGTERM or after --seconds.",
    )
    rec.add_argument("--twin", required=True, metavar="URL", help="twin stream (ws:// or wss://)")
    rec.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FILE",
        help="recording to create (not overwritten)",
    )
    add_token(rec, "--twin-token-file", "bearer token for the twin stream")
    rec.add_argument(
        "--seconds", type=_seconds, default=None, metavar="S", help="stop after S seconds"
    )
    rec.add_argument(
        "--keyframe",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="seconds of stream between full keyframes (seek cost; default 10)",
    )
    rec.add_argument("--quiet", action="store_true", help="no progress line")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 10 * 365 * 86400:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def run(args: argparse.Namespace) -> int | None:
    """Run ``record`` if it is the command; None for any other command."""
    if getattr(args, "command", None) != "record":
        return None
    from xrclient.net.twin_client import TwinClient

    try:
        client = TwinClient(args.twin, token=read_token(args.twin_token_file))
    except ValueError as exc:
        raise XRClientError(str(exc)) from None
    try:
        recorder = Recorder(args.out, keyframe_s=args.keyframe)
    except FileExistsError:
        raise XRClientError(f"{args.out} exists; recordings are never overwritten") from None
    except OSError as exc:
        raise XRClientError(f"cannot create {args.out}: {exc.strerror}") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    began = time.monotonic()
    last_line = 0.0
    try:
        client.start()
        while not stop.is_set():
            if args.seconds is not None and time.monotonic() - began >= args.seconds:
                break
            client.queue.wait(0.2)
            for batch in client.queue.drain():
                recorder.write(batch)
            now = time.monotonic()
            if not args.quiet and now - last_line >= 1.0:
                last_line = now
                _progress(recorder, client.status.state, now - began)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        client.stop()
        for batch in client.queue.drain():
            recorder.write(batch)
        recorder.close()
    if not args.quiet:
        _progress(recorder, "stopped", time.monotonic() - began)
        print(file=sys.stderr)
    print(
        f"wrote {args.out}: {recorder.records} records, {recorder.updates:,} updates, "
        f"{recorder.bytes / 1e6:.2f} MB"
    )
    return 0


def _progress(recorder: Recorder, state: str, seconds: float) -> None:
    print(
        f"\rrecord: {seconds:7.1f} s, {recorder.updates:,} updates, "
        f"{recorder.bytes / 1e6:.2f} MB ({state})   ",
        end="",
        file=sys.stderr,
        flush=True,
    )
