"""``xrclient scene init``: a starter scene file from a plant model."""

from __future__ import annotations

import argparse
from pathlib import Path

from xrclient.commands.args import add_limits, limits_from
from xrclient.errors import XRClientError
from xrclient.scene.model import UNIT_SCALE


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # argparse's subparsers action is generic only in the stubs
    scene = sub.add_parser(
        "scene",
        help="make scene files",
        description="Make scene files from plant models.",
    )
    actions = scene.add_subparsers(dest="scene_command", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="write a working scene from one glTF/GLB or OpenUSD model of a plant",
        description="Write a scene file from a glTF/GLB or OpenUSD model (.usd, .usda, "
        ".usdc, .usdz; prims are its nodes): a machine per matching node "
        "(the topmost match; matches inside a machine are part of it), lines from the "
        "parent groups, an overview and a viewpoint per line fitted to the bounds, the "
        "[twin] table and a colour-by-state binding. Prints what matched and what did not.",
    )
    init.add_argument(
        "model", type=Path, metavar="MODEL", help=".glb, .gltf or OpenUSD model of the plant"
    )
    init.add_argument(
        "--out", type=Path, required=True, metavar="FILE.toml", help="scene file to write"
    )
    init.add_argument(
        "--machines",
        action="append",
        default=[],
        metavar="GLOB",
        help="node names that are machines (fnmatch, case-sensitive; repeatable). Default: "
        "the children of the groups under the model's top node",
    )
    init.add_argument(
        "--id-from",
        default="name",
        metavar="name|extras.KEY",
        help="machine ids from node names (default) or a string in each node's extras "
        "(OpenUSD: the prim's string attribute or customData entry KEY)",
    )
    init.add_argument(
        "--type-from",
        default=None,
        metavar="extras.KEY",
        help="machine types from a string in each node's extras (default: the node name "
        "without trailing digits, lower-cased: CNC_01 -> cnc)",
    )
    init.add_argument(
        "--lines-from",
        default="parent",
        choices=("parent", "none"),
        help="lines from the machines' parent nodes (default), or one line 'main'",
    )
    init.add_argument(
        "--units",
        default="m",
        choices=tuple(UNIT_SCALE),
        help="the model's length unit, written as the plant's units (default m)",
    )
    init.add_argument(
        "--up",
        default=None,
        choices=("y", "z"),
        help="the model's up axis (default y; an OpenUSD model: its stage's upAxis)",
    )
    init.add_argument("--name", default=None, help="plant name (default: the model's file name)")
    init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    add_limits(init)


def run(args: argparse.Namespace) -> int | None:
    """Run ``scene init`` if it is the command; None for any other command."""
    if getattr(args, "command", None) != "scene":
        return None
    from xrclient.scene.init import plan_scene, scene_toml, summary

    out: Path = args.out
    if out.exists() and not args.force:
        raise XRClientError(f"{out} exists; pass --force to overwrite it")
    result = plan_scene(
        args.model,
        globs=args.machines,
        id_from=args.id_from,
        type_from=args.type_from,
        lines_from=args.lines_from,
        units=args.units,
        up_axis=_up_axis(args.model, args.up),
        limits=limits_from(args),
    )
    text = scene_toml(result, out, args.name)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise XRClientError(f"cannot write {out}: {exc.strerror or exc}") from None
    for line in summary(result):
        print(line)
    print(f"wrote {out}: try `xrclient view {out}` and `xrclient inspect {out}`")
    return 0


def _up_axis(model: Path, given: str | None) -> str:
    """``--up``, else the stage's upAxis for an OpenUSD model and ``y`` for others."""
    if given is not None:
        return given
    from xrclient.scene.usd_load import USD_SUFFIXES, stage_up_axis

    return stage_up_axis(model) if model.suffix.lower() in USD_SUFFIXES else "y"
