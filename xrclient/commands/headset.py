"""``xrclient xr``: the headset command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from xrclient.commands.args import (
    add_limits,
    add_session_options,
    add_training_options,
    add_twin_options,
    frame_count,
    limits_from,
    session_options,
    trainee_name,
    twin_options_from,
)
from xrclient.errors import XRClientError
from xrclient.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    xr = subparsers.add_parser(
        "xr",
        help="walk the plant at true scale in a headset (any OpenXR runtime)",
        description="Show the plant at true scale around you in an OpenXR headset (SteamVR, "
        "Meta Quest Link, Monado, Windows Mixed Reality, Varjo): point with a controller and "
        "pull the trigger to select a machine, push the thumbstick forward to teleport, "
        "left/right to turn, hold grip to move the plant (both grips: turn and scale it). With "
        "--history, a timeline card on the left controller scrubs and plays back the recording "
        "(left thumbstick, or the laser and trigger on the card).",
    )
    xr.add_argument(
        "scene", metavar="SCENE", help="scene file (.toml), or a shipped scene such as demo-plant"
    )
    xr.add_argument(
        "--view",
        metavar="NAME",
        help="start standing under this viewpoint, facing its target (default: the first)",
    )
    xr.add_argument("--select", metavar="MACHINE", help="start with this machine selected")
    xr.add_argument(
        "--mr",
        action="store_true",
        help="mixed reality: draw the plant over the real world (additive or alpha-blend "
        "headsets) with a transparent background",
    )
    xr.add_argument("--mirror", action="store_true", help="show the left eye in a desktop window")
    xr.add_argument("--frames", type=frame_count, metavar="N", help="stop after N frames")
    xr.add_argument(
        "--space",
        choices=("auto", "stage", "local"),
        default="auto",
        help="tracking space: stage (room scale, floor at 0), local (seated), auto picks "
        "stage, else local-floor, else local (default auto)",
    )
    xr.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help="a recording to scrub (from `xrclient record`); with --twin and a new FILE, the "
        "live stream is recorded into it as it arrives, so you can scrub back through it",
    )
    xr.add_argument("-v", "--verbose", action="store_true", help="log runtime details")
    add_twin_options(xr, overlays_help="colour machines only; no metric panels", wait=True)
    add_session_options(xr)
    add_training_options(xr)
    add_limits(xr)


def run(args: argparse.Namespace) -> int:
    """Run ``xrclient xr``; 1 with one line on stderr when the headset cannot be used."""
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="xr: %(message)s",
        stream=sys.stderr,
    )

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        try:
            from xrclient.app import run_headset
        except ImportError as exc:
            raise XRClientError(
                f"the headset client needs the 'xr' extra (pip install 'xrclient[xr]'): {exc}"
            ) from None
        from xrclient.scene.load import resolve_scene

        twin = twin_options_from(args)
        options = Settings(
            scene=resolve_scene(args.scene),
            limits=limits_from(args),
            twin=twin,
            session=session_options(args, "headset"),
            overlays=not args.no_overlays,
            mixed_reality=args.mr,
            mirror=args.mirror,
            frames=args.frames,
            space=args.space,
            view=args.view,
            select=args.select,
            history=args.history,
            procedure=args.procedure,
            trainee=trainee_name(args) if args.procedure else "",
            twin_wait=args.wait if twin is not None else 0.0,
        )
        import xr

        stop = _StopSignals()
        try:
            with stop:
                report = run_headset(options, say, should_stop=stop.is_set)
        except xr.XrException as exc:  # the runtime failed mid-session (e.g. it crashed)
            raise XRClientError(f"the OpenXR runtime failed: {exc}") from None
        if stop.is_set() and not report.reason:
            report.reason = "interrupted"
    except XRClientError as exc:
        say(f"xrclient xr: {exc}")
        return 1
    if report.twin is not None:
        say(report.twin)
    if report.history is not None:
        say(report.history.line)
    if report.training is not None:
        r = report.training
        verdict = "passed" if r.passed else "not passed"
        done = sum(s.status in ("done", "skipped") for s in r.steps)
        say(
            f"training {r.procedure_id}: {r.status}, {done} of {len(r.steps)} steps, "
            f"score {r.score:.0f} ({verdict})"
        )
    say(
        f"{report.frames} frames ({report.rendered} shown) on {report.system}; "
        f"{report.reason or 'done'}"
    )
    return 0


class _StopSignals:
    """Ctrl-C and SIGTERM ask the session to end between frames. A KeyboardInterrupt raised
    in the middle of a frame (an image acquired, a frame begun) would tear the session down
    under the runtime's feet; a flag read once per frame walks it to EXITING instead."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: dict[int, Any] = {}

    def is_set(self) -> bool:
        return self._event.is_set()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._event.set()

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m xrclient.commands.headset``)."""
    parser = argparse.ArgumentParser(prog="xrclient")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
