"""Read and validate a procedure file (TOML) into a :class:`~xrclient.training.model.Procedure`.

Every error names the file, the line where it can be located, the key path and what was
expected, e.g. ``procedures/x.toml:14: steps[1].condition: unknown property 'powr_kw' ...``.
Unknown keys are errors. With a scene, machine ids are checked against it.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, cast

import rtoml

from xrclient.core.expr import Expr, ExprError, compile_expr
from xrclient.errors import XRClientError
from xrclient.scene.model import Scene
from xrclient.scene.reader import check_table, describe_value
from xrclient.scene.schema import read_text_file
from xrclient.training.model import (
    COMPLETIONS,
    ON_FAIL_KEYWORDS,
    HazardZone,
    Procedure,
    Scoring,
    Step,
    Vec3,
    ZoneShape,
)

FORMAT_VERSION = 1
MAX_BYTES = 1 * 2**20
MAX_STEPS = 500
MAX_ZONES = 256
MAX_TEXT = 2000
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MEDIA_SUFFIXES = (".png", ".jpg", ".jpeg")


class ProcedureError(XRClientError):
    """A procedure file is invalid: ``<file>[:<line>]: <key path>: <what was expected>``."""

    def __init__(self, file: str, key_path: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.key_path = key_path
        self.message = message
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key_path}: {message}" if key_path else f"{where}: {message}")


def locate(text: str, key_path: str) -> int | None:
    """The 1-based line of ``key_path`` (``steps[2].condition``) in TOML ``text``, if found.

    Handles the usual layout (``[table]`` and ``[[array]]`` headers, ``key = ...`` lines);
    inline tables and arrays give the line of the enclosing key or header."""
    m = re.match(r"^([A-Za-z_]+)(?:\[(\d+)\])?(?:\.([A-Za-z_]+))?", key_path)
    if m is None:
        return None
    head, index, key = m.group(1), m.group(2), m.group(3)
    lines = text.splitlines()
    header = re.compile(r"^\s*\[\[?\s*([A-Za-z_.]+)\s*\]\]?")
    start: int | None = None
    seen = -1
    for i, line in enumerate(lines):
        h = header.match(line)
        if h is None:
            continue
        if h.group(1) == head:
            seen += 1
            if index is None or seen == int(index):
                start = i
                break
    if start is None:  # a top-level key
        if index is not None or key is not None:
            return None
        for i, line in enumerate(lines):
            if header.match(line):
                return None
            if re.match(rf"^\s*{re.escape(head)}\s*=", line):
                return i + 1
        return None
    if key is None:
        return start + 1
    for i in range(start + 1, len(lines)):
        if header.match(lines[i]):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return start + 1


class _Reader:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text

    def fail(self, path: str, message: str) -> ProcedureError:
        return ProcedureError(self.file, path, message, locate(self.text, path) if path else None)

    def table(
        self, value: object, path: str, required: set[str], optional: set[str]
    ) -> dict[str, Any]:
        return check_table(value, path, required, optional, self.fail)

    def tables(self, value: object, path: str, limit: int) -> list[object]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected an array of tables, got {describe_value(value)}")
        if len(value) > limit:
            raise self.fail(path, f"at most {limit} entries, got {len(value)}")
        return value

    def string(self, value: object, path: str, *, ident: bool = False, empty: bool = True) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {describe_value(value)}")
        if ident and not ID_PATTERN.match(value):
            raise self.fail(
                path, f"expected an id of 1-64 letters, digits or . _ : -, got {value!r}"
            )
        if not empty and not value.strip():
            raise self.fail(path, "expected a non-empty string")
        if len(value) > MAX_TEXT:
            raise self.fail(path, f"at most {MAX_TEXT} characters, got {len(value)}")
        return value

    def number(self, value: object, path: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number, got {describe_value(value)}")
        number = float(value)
        if not (math.isfinite(number) and low <= number <= high):
            raise self.fail(path, f"expected a number from {low:g} to {high:g}, got {value}")
        return number

    def integer(self, value: object, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, got {describe_value(value)}")
        if not low <= value <= high:
            raise self.fail(path, f"expected an integer from {low} to {high}, got {value}")
        return value

    def vec3(self, value: object, path: str, low: float, high: float) -> Vec3:
        if not isinstance(value, list) or len(value) != 3:
            raise self.fail(path, f"expected 3 numbers, got {describe_value(value)}")
        x, y, z = (self.number(v, f"{path}[{i}]", low, high) for i, v in enumerate(value))
        return (x, y, z)

    def expr(self, value: object, path: str) -> Expr:
        text = self.string(value, path, empty=False)
        try:
            return compile_expr(text)
        except ExprError as exc:
            raise self.fail(path, f"{exc.message} (column {exc.column} of {text!r})") from None


def shipped_procedures() -> list[Path]:
    """The procedure files shipped in ``scenes/procedures/``."""
    from xrclient import resources

    folder = resources.data_dir("scenes") / "procedures"
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def procedure_path(name: str | Path) -> Path:
    """``--procedure NAME``: an existing file, or a shipped procedure by its file stem
    (``lockout-press-b3``); raises :class:`ProcedureError` listing the shipped ones."""
    path = Path(name)
    if path.is_file():
        return path
    for file in shipped_procedures():
        if file.stem == str(name) or file.name == str(name):
            return file
    known = ", ".join(f.stem for f in shipped_procedures()) or "none"
    raise ProcedureError(str(name), "", f"no such procedure file or shipped procedure ({known})")


def load_procedure(path: str | Path, scene: Scene | None = None) -> Procedure:
    """Read and validate a procedure file; raises :class:`ProcedureError`."""
    file = Path(path)
    shown = os.fspath(path)
    try:
        text = read_text_file(file, MAX_BYTES)
    except ValueError as exc:
        raise ProcedureError(shown, "", str(exc)) from exc
    return parse_procedure(text, shown, scene, base_dir=file.resolve().parent, source=file)


def parse_procedure(
    text: str,
    shown: str = "<procedure>",
    scene: Scene | None = None,
    *,
    base_dir: Path | None = None,
    source: Path | None = None,
) -> Procedure:
    """Validate procedure TOML ``text``; media paths resolve against ``base_dir``."""
    try:
        document = rtoml.loads(text)
    except rtoml.TomlParsingError as exc:
        raise ProcedureError(shown, "", f"TOML syntax error: {exc}") from exc
    r = _Reader(shown, text)
    top = r.table(document, "", {"format", "procedure", "steps"}, {"hazards", "scoring"})
    version = r.integer(top["format"], "format", 0, 2**31)
    if version != FORMAT_VERSION:
        raise r.fail("format", f"expected {FORMAT_VERSION} (the version this client reads)")
    head = r.table(top["procedure"], "procedure", {"id", "title"}, {"description"})
    known = set(scene.machine_index) if scene is not None else None
    zones = tuple(
        _zone(r, item, f"hazards[{i}]", known)
        for i, item in enumerate(r.tables(top.get("hazards", []), "hazards", MAX_ZONES))
    )
    _unique(r, [z.id for z in zones], "hazards")
    items = r.tables(top["steps"], "steps", MAX_STEPS)
    if not items:
        raise r.fail("steps", "a procedure needs at least one step")
    zone_ids = {z.id for z in zones}
    steps = tuple(
        _step(r, item, f"steps[{i}]", known, zone_ids, base_dir) for i, item in enumerate(items)
    )
    _unique(r, [s.id for s in steps], "steps")
    step_ids = {s.id for s in steps}
    for i, step in enumerate(steps):
        if step.on_fail not in ON_FAIL_KEYWORDS and step.on_fail not in step_ids:
            raise r.fail(
                f"steps[{i}].on_fail",
                f"expected next, retry, abort or a step id, got {step.on_fail!r}",
            )
    return Procedure(
        id=r.string(head["id"], "procedure.id", ident=True),
        title=r.string(head["title"], "procedure.title", empty=False),
        description=r.string(head.get("description", ""), "procedure.description"),
        steps=steps,
        hazards=zones,
        scoring=_scoring(r, top.get("scoring", {})),
        source=source,
    )


def _unique(r: _Reader, ids: list[str], path: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise r.fail(f"{path}[{i}].id", f"duplicate id {value!r}")
        seen.add(value)


def _machine(r: _Reader, value: object, path: str, known: set[str] | None) -> str:
    machine = r.string(value, path, ident=True)
    if known is not None and machine not in known:
        raise r.fail(path, f"no machine {machine!r} in the scene")
    return machine


def _zone(r: _Reader, value: object, path: str, known: set[str] | None) -> HazardZone:
    t = r.table(
        value,
        path,
        {"id", "shape"},
        {"machine", "offset", "size", "radius", "height", "message", "when"},
    )
    shape = r.string(t["shape"], f"{path}.shape")
    if shape not in ("box", "cylinder"):
        raise r.fail(f"{path}.shape", f"expected box or cylinder, got {shape!r}")
    if shape == "box":
        for key in ("radius", "height"):
            if key in t:
                raise r.fail(f"{path}.{key}", "a box takes size = [x, y, z], not radius/height")
        if "size" not in t:
            raise r.fail(f"{path}.size", "required key is missing (a box needs size = [x, y, z])")
        size = r.vec3(t["size"], f"{path}.size", 0.01, 1000.0)
    else:
        if "size" in t:
            raise r.fail(f"{path}.size", "a cylinder takes radius and height, not size")
        for key in ("radius", "height"):
            if key not in t:
                raise r.fail(f"{path}.{key}", "required key is missing (a cylinder needs it)")
        radius = r.number(t["radius"], f"{path}.radius", 0.01, 1000.0)
        size = (radius, r.number(t["height"], f"{path}.height", 0.01, 1000.0), radius)
    machine = _machine(r, t["machine"], f"{path}.machine", known) if "machine" in t else None
    zone_id = r.string(t["id"], f"{path}.id", ident=True)
    return HazardZone(
        id=zone_id,
        shape=cast(ZoneShape, shape),
        machine=machine,
        offset=r.vec3(t.get("offset", [0.0, 0.0, 0.0]), f"{path}.offset", -1e5, 1e5),
        size=size,
        message=r.string(t.get("message", f"Hazard zone {zone_id}: keep out"), f"{path}.message"),
        when=r.expr(t["when"], f"{path}.when") if "when" in t else None,
    )


def _step(
    r: _Reader,
    value: object,
    path: str,
    known: set[str] | None,
    zone_ids: set[str],
    base_dir: Path | None,
) -> Step:
    t = r.table(
        value,
        path,
        {"id", "text", "complete"},
        {"machine", "part", "media", "condition", "time_limit_s", "max_errors", "hints"}
        | {"on_fail", "hazards"},
    )
    complete = r.string(t["complete"], f"{path}.complete")
    if complete not in COMPLETIONS:
        raise r.fail(
            f"{path}.complete", f"expected one of {', '.join(COMPLETIONS)}, got {complete!r}"
        )
    machine = _machine(r, t["machine"], f"{path}.machine", known) if "machine" in t else None
    if complete in ("select", "point_at") and machine is None:
        raise r.fail(f"{path}.machine", f"required key is missing (complete = {complete!r})")
    condition = None
    if complete == "condition":
        if "condition" not in t:
            raise r.fail(f"{path}.condition", "required key is missing (complete = 'condition')")
        condition = r.expr(t["condition"], f"{path}.condition")
        if condition.kind != "bool":
            raise r.fail(f"{path}.condition", f"expected a condition, got {condition.text!r}")
        for other in sorted(condition.machines):
            if known is not None and other not in known:
                raise r.fail(f"{path}.condition", f"no machine {other!r} in the scene")
    elif "condition" in t:
        raise r.fail(f"{path}.condition", "only used with complete = 'condition'")
    media = None
    if "media" in t:
        name = r.string(t["media"], f"{path}.media", empty=False)
        media = Path(name)
        if media.is_absolute() or ".." in media.parts:
            raise r.fail(f"{path}.media", "expected a relative path inside the procedures folder")
        if media.suffix.lower() not in MEDIA_SUFFIXES:
            raise r.fail(f"{path}.media", f"expected an image ({', '.join(MEDIA_SUFFIXES)})")
        if base_dir is not None:
            media = base_dir / media
            if not media.is_file():
                raise r.fail(f"{path}.media", f"no such file: {name}")
    hints_raw = t.get("hints", [])
    if not isinstance(hints_raw, list) or len(hints_raw) > 20:
        raise r.fail(
            f"{path}.hints", f"expected a list of up to 20 strings, got {describe_value(hints_raw)}"
        )
    hazards = None
    if "hazards" in t:
        ids = t["hazards"]
        if not isinstance(ids, list):
            raise r.fail(
                f"{path}.hazards", f"expected a list of zone ids, got {describe_value(ids)}"
            )
        for j, zone in enumerate(ids):
            if r.string(zone, f"{path}.hazards[{j}]") not in zone_ids:
                raise r.fail(f"{path}.hazards[{j}]", f"no hazard zone {zone!r}")
        hazards = tuple(ids)
    return Step(
        id=r.string(t["id"], f"{path}.id", ident=True),
        text=r.string(t["text"], f"{path}.text", empty=False),
        complete=complete,
        machine=machine,
        part=r.string(t.get("part", ""), f"{path}.part"),
        media=media,
        condition=condition,
        time_limit_s=(
            r.number(t["time_limit_s"], f"{path}.time_limit_s", 0.1, 86400.0)
            if "time_limit_s" in t
            else None
        ),
        max_errors=(
            r.integer(t["max_errors"], f"{path}.max_errors", 1, 1000) if "max_errors" in t else None
        ),
        hints=tuple(
            r.string(h, f"{path}.hints[{j}]", empty=False) for j, h in enumerate(hints_raw)
        ),
        on_fail=r.string(t.get("on_fail", "next"), f"{path}.on_fail"),
        hazards=hazards,
    )


def _scoring(r: _Reader, value: object) -> Scoring:
    keys = {
        "pass_score",
        "wrong_machine",
        "hazard_entry",
        "hint",
        "timeout",
        "failed_step",
        "expert_advance",
    }
    t = r.table(value, "scoring", set(), keys | {"max_hazard_entries"})
    numbers = {k: r.number(t[k], f"scoring.{k}", 0.0, 100.0) for k in keys if k in t}
    limit = t.get("max_hazard_entries")
    return Scoring(
        **numbers,
        max_hazard_entries=(
            r.integer(limit, "scoring.max_hazard_entries", 0, 1000) if limit is not None else None
        ),
    )
