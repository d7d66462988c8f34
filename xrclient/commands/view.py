"""``xrclient view``: the desktop viewer's command line (and the demo's windowed half)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xrclient.commands.args import (
    add_limits,
    add_session_options,
    add_training_options,
    add_twin_options,
    frame_count,
    limits_from,
    session_options,
    size_arg,
    trainee_name,
    twin_options_from,
)

if TYPE_CHECKING:
    from xrclient.live import TwinOptions
    from xrclient.settings import Settings


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value <= 86400.0:
        raise argparse.ArgumentTypeError("expected a number above 0 (and at most 86400)")
    return value


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """Options every windowed command shares (view, demo)."""
    win = parser.add_argument_group("window")
    win.add_argument(
        "--size",
        type=size_arg,
        default=(1280, 720),
        metavar="WxH",
        help="initial window size (default 1280x720); the window is resizable",
    )
    win.add_argument(
        "--view",
        metavar="NAME",
        help="start at this named viewpoint (default: the scene's first, else an overview)",
    )
    win.add_argument(
        "--no-vsync",
        action="store_true",
        help="draw as fast as possible instead of at the display's refresh rate",
    )
    win.add_argument(
        "--samples",
        type=int,
        default=4,
        choices=(0, 2, 4, 8),
        help="multisampling samples (default 4; falls back to 0 where unavailable)",
    )
    win.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write every frame as DIR/frame-NNNNNN.png (use with --frames or --seconds)",
    )
    win.add_argument(
        "--screenshot-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where the screenshot key (F12 or P) writes PNG files (default: .)",
    )
    win.add_argument(
        "--frames",
        type=frame_count,
        metavar="N",
        help="close after N frames",
    )
    win.add_argument(
        "--seconds",
        type=_positive_float,
        metavar="S",
        help="close after S seconds",
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    view = sub.add_parser(
        "view",
        help="open the plant in a desktop window (orbit, fly, pick, HUD)",
        description="Open a scene in a window: orbit/pan/zoom or fly through the plant, "
        "click machines for their details, search by id or name, follow alarms. Press ? in "
        "the window for all controls. Needs a display (X11 or Wayland); without one use "
        "`xrclient snapshot`.",
    )
    view.add_argument(
        "scene",
        metavar="SCENE",
        help="scene file (.toml), or the name of a shipped scene such as demo-plant",
    )
    add_window_options(view)
    add_twin_options(view, overlays_help="start with metric overlays hidden (O toggles them)")
    view.add_argument("--select", metavar="MACHINE", help="start with this machine selected")
    view.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help="a recording to scrub (from `xrclient record`); with --twin and a new FILE, the "
        "live stream is recorded into it as it arrives, so you can scrub back through it",
    )
    add_session_options(view)
    add_training_options(view)
    add_limits(view)


def viewer_options(args: argparse.Namespace, scene: Path, twin: TwinOptions | None) -> Settings:
    """Options from the window arguments (and the view command's, where present)."""
    from xrclient.scene.loaders import LoadLimits
    from xrclient.settings import Settings

    if args.record is not None and args.frames is None and args.seconds is None:
        print(
            "note: --record writes a PNG per frame until the window closes",
            file=sys.stderr,
        )
    return Settings(
        scene=scene,
        twin=twin,
        session=session_options(args, "desktop") if hasattr(args, "session") else None,
        history=getattr(args, "history", None),
        size=args.size,
        view=args.view,
        vsync=not args.no_vsync,
        samples=args.samples,
        limits=limits_from(args) if hasattr(args, "max_file_mb") else LoadLimits(),
        overlays=not getattr(args, "no_overlays", False),
        select=getattr(args, "select", None),
        record=args.record,
        screenshots=args.screenshot_dir,
        frames=args.frames,
        seconds=args.seconds,
        procedure=getattr(args, "procedure", None),
        trainee=trainee_name(args) if getattr(args, "procedure", None) else "",
    )


def open_viewer(options: Settings) -> int:
    """Run the viewer until it closes; prints what it wrote."""
    from xrclient.app import build_viewer
    from xrclient.progress import stderr_progress

    with build_viewer(options, stderr_progress) as viewer:
        print(
            f"window open ({viewer.window.framebuffer_size[0]}x"
            f"{viewer.window.framebuffer_size[1]}, {viewer.window.samples}x MSAA): "
            "press ? for controls, Ctrl+Q or close the window to quit",
            file=sys.stderr,
            flush=True,
        )
        code = viewer.run()
        frames, fps = viewer.frame, viewer.times.fps()
        shots = list(viewer.screenshots)
    for shot in shots:
        print(f"wrote {shot}")
    if options.record is not None:
        print(f"recorded {frames} frames into {options.record}")
    print(f"closed after {frames} frames ({fps:.0f} fps at the end)", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from xrclient.scene.load import resolve_scene

    twin = twin_options_from(args)
    return open_viewer(viewer_options(args, resolve_scene(args.scene), twin))
