"""``xrclient procedure check`` and ``xrclient training results``.

Texts of results come from trainees over the network: every one is printed through
``display_text.printable``, so a tab cannot make a column, a newline a row, nor an escape
sequence reach the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xrclient.core.display_text import printable
from xrclient.errors import XRClientError
from xrclient.training.loader import (
    ProcedureError,
    load_procedure,
    procedure_path,
    shipped_procedures,
)
from xrclient.training.results import ResultsError, read_results
from xrclient.training.xapi import DEFAULT_BASE, export


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    proc = sub.add_parser(
        "procedure",
        help="list and check training procedures (docs/training.md)",
        description="Training procedures: steps checked against the live plant, run with "
        "--procedure NAME on view, demo and xr.",
    )
    proc_sub = proc.add_subparsers(dest="procedure_command", required=True)
    check = proc_sub.add_parser(
        "check",
        help="validate procedure files; exit 1 on errors",
        description="Validate procedure files (docs/training.md) and print each one's "
        "steps and hazard zones, or a precise error (file, field, problem). Exit 1 when any "
        "file has an error.",
    )
    check.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="procedure file, or the name of a shipped procedure such as lockout-press-b3",
    )
    check.add_argument(
        "--scene",
        default=None,
        metavar="SCENE",
        help="also check machine ids against this scene (file or shipped name, e.g. demo-plant)",
    )
    check.set_defaults(training_handler=_check)
    listing = proc_sub.add_parser("list", help="list the shipped procedures")
    listing.set_defaults(training_handler=_list)

    train = sub.add_parser(
        "training",
        help="list or export the training results a hub stored (xAPI)",
        description="Training results a session hub stored, from its database.",
    )
    train_sub = train.add_subparsers(dest="training_command", required=True)
    res = train_sub.add_parser("results", help="list or export persisted training results")
    res.add_argument("--db", type=Path, required=True, help="the hub's SQLite database")
    res.add_argument("--trainee", default=None, help="only this trainee's results")
    res.add_argument("--room", default=None, help="only results from this room")
    res.add_argument(
        "--xapi", type=Path, default=None, metavar="OUT.json", help="write xAPI statements"
    )
    res.add_argument("--base", default=DEFAULT_BASE, help="IRI prefix of activities")
    res.set_defaults(training_handler=_results)


def run(args: argparse.Namespace) -> int | None:
    handler = getattr(args, "training_handler", None)
    if handler is None:
        return None
    code: int = handler(args)
    return code


def _check(args: argparse.Namespace) -> int:
    scene = None
    if args.scene is not None:
        from xrclient.scene.load import resolve_scene
        from xrclient.scene.schema import load_scene

        try:
            scene = load_scene(resolve_scene(args.scene))
        except XRClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    failed = 0
    for file in args.files:
        try:
            p = load_procedure(procedure_path(file), scene)
        except ProcedureError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        steps, zones = len(p.steps), len(p.hazards)
        print(
            f"{file}: ok: {p.id}: {steps} step{'s' * (steps != 1)}, "
            f"{zones} hazard zone{'s' * (zones != 1)}"
        )
    return 1 if failed else 0


def _list(_args: argparse.Namespace) -> int:
    for file in shipped_procedures():
        try:
            p = load_procedure(file)
        except ProcedureError as exc:
            print(f"{file.stem}\t(error: {exc})")
            continue
        print(f"{printable(file.stem)}\t{printable(p.title)}\t{len(p.steps)} steps")
    return 0


def _results(args: argparse.Namespace) -> int:
    try:
        rows = read_results(args.db, room=args.room, trainee=args.trainee)
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for row in rows:
        r = row.result
        verdict = "passed" if r.passed else "failed"
        cells = (row.room, r.trainee, r.procedure_id, r.status)
        print(
            "\t".join(printable(str(c)) for c in cells) + f"\t{r.score:.0f}\t{verdict}\t"
            f"{r.duration_s:.1f} s\t{len(r.errors)} errors"
        )
    if args.xapi is not None:
        stmts = export((row.result for row in rows), base=args.base)
        args.xapi.write_text(json.dumps(stmts, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {len(stmts)} xAPI statements to {args.xapi}")
    return 0
