"""A starter scene file from one glTF/GLB or OpenUSD model of a plant (``xrclient scene init``).

The model's node tree is read through the glTF guard (an OpenUSD model's prim tree through
:mod:`xrclient.scene.usd_load`; ``extras.KEY`` is then a prim's string attribute or
customData entry named KEY, e.g. ``extras.userProperties:assetId``); machines are the
topmost nodes whose names match the given globs (or, by default, the children of the
groups under the top node); their lines come from their parent nodes; viewpoints are fitted
to the world bounds of the machines. The result is TOML text that
:func:`~xrclient.scene.schema.load_scene` reads, with every machine taking its geometry from
its node of the model.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrclient.errors import AssetError
from xrclient.scene.guards import DEFAULT_LIMITS, LoadLimits, check_file, read_bytes
from xrclient.scene.guards_gltf import check_glb, check_gltf
from xrclient.scene.loaders import load_nodes
from xrclient.scene.nodes import NodeTree, node_tree
from xrclient.scene.usd_load import USD_SUFFIXES, usd_document

__all__ = [
    "DEFAULT_LINE",
    "InitError",
    "InitMachine",
    "InitResult",
    "Viewpoint",
    "machine_type",
    "plan_scene",
    "sanitize_id",
    "scene_toml",
    "summary",
]

#: the line of machines that have no parent group
DEFAULT_LINE = "main"
TWIN_URL = "ws://127.0.0.1:8765"
_SHOWN = 10  # unmatched names listed
_FOV = 60.0
_ELEVATION = 35.0  # degrees above the horizon the viewpoints look down from
_LINE_AZIMUTH = 30.0  # degrees a line viewpoint turns to the side
_STATE_COLORS = {
    "RUNNING": "#2e7d32",
    "IDLE": "#f9a825",
    "SETUP": "#1e88e5",
    "FAULT": "#c62828",
    "MAINTENANCE": "#8e24aa",
    "LOCKED_OUT": "#455a64",
}
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9._:-]")
_TYPE_TAIL = re.compile(r"[-_.:0-9]+$")


class InitError(AssetError):
    """The model cannot make a scene: not glTF/USD, no node matched, a bad extras id."""

    kind = "scene-init"


@dataclass(frozen=True, slots=True)
class Viewpoint:
    name: str
    position: tuple[float, float, float]
    target: tuple[float, float, float]
    fov: float = _FOV


@dataclass(frozen=True, slots=True)
class InitMachine:
    id: str
    name: str  # the node's name
    type: str
    line: str  # a line id
    node: str  # the node's path from a root
    low: tuple[float, float, float]  # world bounds in the model's coordinates
    high: tuple[float, float, float]


@dataclass(slots=True)
class InitResult:
    """What ``scene init`` found: the machines, lines (id -> name), viewpoints, and notes."""

    model: Path
    units: str
    up_axis: str
    machines: list[InitMachine]
    lines: dict[str, str]
    viewpoints: list[Viewpoint]
    unmatched: list[str]  # names of nodes with geometry that no machine holds
    changes: list[str] = field(default_factory=list)  # ids changed to fit the id pattern


def sanitize_id(text: str) -> str:
    """``text`` as a scene id: other characters become ``-``, cut to 64 characters."""
    cleaned = _BAD_ID_CHARS.sub("-", text)[:64]
    return cleaned or "-"


def machine_type(name: str) -> str:
    """The machine type from a node name: trailing digits and separators stripped,
    lower-cased, made a valid id (``CNC_01`` -> ``cnc``); ``machine`` when nothing is left."""
    stripped = _TYPE_TAIL.sub("", sanitize_id(name.strip().lower()))
    return stripped or "machine"


def _unique(wanted: str, taken: set[str]) -> str:
    if wanted not in taken:
        taken.add(wanted)
        return wanted
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = wanted[: 64 - len(suffix)] + suffix
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        n += 1


def _extras_string(doc: dict[str, Any], node: int, key: str) -> str | None:
    nodes = doc.get("nodes")
    item = nodes[node] if isinstance(nodes, list) and node < len(nodes) else None
    extras = item.get("extras") if isinstance(item, dict) else None
    value = extras.get(key) if isinstance(extras, dict) else None
    return value if isinstance(value, str) and value else None


def _read_document(model: Path, limits: LoadLimits) -> dict[str, Any]:
    """The model's glTF document; for an OpenUSD model a document of the same shape whose
    nodes are the prims and whose ``extras`` are the prims' string properties."""
    suffix = model.suffix.lower()
    if suffix in USD_SUFFIXES:
        return usd_document(model, limits)
    if suffix not in (".glb", ".gltf"):
        raise InitError(
            model,
            f"scene init reads glTF models (.glb or .gltf) and OpenUSD models "
            f"({', '.join(USD_SUFFIXES)}), not {suffix!r}",
        )
    check_file(model, limits)
    data = read_bytes(model, limits)
    contents = (
        check_glb(model, data, limits) if suffix == ".glb" else check_gltf(model, data, limits)
    )
    return contents.document


def _has_mesh(doc: dict[str, Any], tree: NodeTree) -> list[bool]:
    """Whether each node holds a mesh of its own."""
    nodes = doc.get("nodes")
    items: list[Any] = nodes if isinstance(nodes, list) else []
    return [isinstance(n, dict) and isinstance(n.get("mesh"), int) for n in items][
        : len(tree.names)
    ]


def _children(tree: NodeTree) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in tree.names]
    for i, parent in enumerate(tree.parents):
        if parent >= 0 and tree.paths[i]:
            kids[parent].append(i)
    return kids


def _geometry_below(tree: NodeTree, own: list[bool]) -> list[bool]:
    """Whether a mesh lies at or below each node (of the default scene)."""
    below = [False] * len(tree.names)
    for i in range(len(tree.names)):
        if own[i] and tree.paths[i]:
            j = i
            while j >= 0 and not below[j]:  # stops at an ancestor already marked
                below[j] = True
                j = tree.parents[j]
    return below


def _default_picks(tree: NodeTree, own: list[bool], below: list[bool]) -> list[int]:
    """Without globs: the children (with geometry) of the groups under the top node.

    The top node is the one root of the default scene (several roots: the scene itself);
    a group is a child of it with children and no mesh of its own."""
    kids = _children(tree)
    roots = _roots(tree)
    top = kids[roots[0]] if len(roots) == 1 else roots
    groups = [g for g in top if kids[g] and not own[g]]
    return [m for g in groups for m in kids[g] if below[m]]


def _glob_picks(tree: NodeTree, globs: Sequence[str], below: list[bool]) -> list[int]:
    """The topmost nodes whose names match a glob (case-sensitive) and hold geometry."""
    kids = _children(tree)
    roots = _roots(tree)
    picks: list[int] = []
    stack = list(reversed(roots))
    while stack:
        i = stack.pop()
        if below[i] and any(fnmatch.fnmatchcase(tree.names[i], g) for g in globs):
            picks.append(i)  # a match inside it is part of it
            continue
        stack.extend(reversed(kids[i]))
    return picks


def _view(
    name: str, low: npt.NDArray[np.float64], high: npt.NDArray[np.float64], up: str, azimuth: float
) -> Viewpoint:
    """A viewpoint that sees the box from ``_ELEVATION`` degrees up, turned by ``azimuth``."""
    centre = (low + high) / 2.0
    radius = float(np.linalg.norm(high - low)) / 2.0
    radius = radius if radius > 0 else 1.0
    distance = radius / math.sin(math.radians(_FOV / 2.0)) * 1.05
    el, az = math.radians(_ELEVATION), math.radians(azimuth)
    across, along, height = math.cos(el) * math.sin(az), math.cos(el) * math.cos(az), math.sin(el)
    # y up: the camera stands towards +z (the glTF front); z up: towards -y
    offset = (across, height, along) if up == "y" else (across, -along, height)
    position = centre + distance * np.asarray(offset)
    return Viewpoint(name, _triple(position), _triple(centre))


def _triple(v: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    return (round(float(v[0]), 4), round(float(v[1]), 4), round(float(v[2]), 4))


def plan_scene(
    model: Path,
    *,
    globs: Sequence[str] = (),
    id_from: str = "name",
    type_from: str | None = None,
    lines_from: str = "parent",
    units: str = "m",
    up_axis: str = "y",
    limits: LoadLimits = DEFAULT_LIMITS,
) -> InitResult:
    """Find the machines, lines and viewpoints of a scene for ``model`` (see module doc).

    ``id_from`` is ``"name"`` or ``"extras.KEY"``; ``type_from`` is None or ``"extras.KEY"``;
    ``lines_from`` is ``"parent"`` or ``"none"`` (every machine on line ``main``)."""
    model = Path(model)
    id_key = _extras_key(model, id_from, "--id-from", allow_name=True)
    type_key = _extras_key(model, type_from, "--type-from") if type_from else None
    if lines_from not in ("parent", "none"):
        raise InitError(model, f"--lines-from is 'parent' or 'none', not {lines_from!r}")
    doc = _read_document(model, limits)
    tree = node_tree(doc, model)
    own = _has_mesh(doc, tree)
    below = _geometry_below(tree, own)
    picks = _glob_picks(tree, globs, below) if globs else _default_picks(tree, own, below)
    if not picks:
        names = [tree.names[i] for i in range(len(tree.names)) if own[i] and tree.paths[i]]
        how = f"the patterns {', '.join(map(repr, globs))}" if globs else "the default rule"
        listed = ", ".join(map(repr, names[:_SHOWN])) or "none"
        raise InitError(
            model,
            f"no node with geometry matches {how} (nodes with meshes: {listed}); "
            "name the machine nodes with --machines GLOB",
        )
    paths = Counter(tree.paths)
    for i in picks:
        if paths[tree.paths[i]] > 1:
            raise InitError(
                model,
                f"{paths[tree.paths[i]]} nodes have the path {_short(tree.paths[i])}: a scene "
                "names a machine's node by its path, so rename them in the model",
            )
    one_root = len(_roots(tree)) == 1
    changes: list[str] = []
    taken: set[str] = set()
    line_ids: dict[str, str] = {}  # line name -> id
    lines: dict[str, str] = {}  # id -> name
    machines: list[InitMachine] = []
    split = load_nodes(model, tuple(f"/{tree.paths[i]}" for i in picks), limits)
    for node, mesh in zip(picks, split.machines, strict=True):
        name = tree.names[node]
        if id_key is None:
            wanted = name
        else:
            given = _extras_string(doc, node, id_key)
            if given is None:
                raise InitError(
                    model,
                    f"node {_short(tree.paths[node])} has no string extras[{_short(id_key)}] "
                    "for its id",
                )
            wanted = given
        made = _unique(sanitize_id(wanted), taken)
        if made != wanted:
            changes.append(f"machine id {_short(wanted)} -> {made!r}")
        kind = _extras_string(doc, node, type_key) if type_key else None
        mtype = sanitize_id(kind) if kind else machine_type(name)
        line_name = _line_of(tree, node, one_root) if lines_from == "parent" else DEFAULT_LINE
        if line_name not in line_ids:
            line_id = _unique(sanitize_id(line_name), set(lines))
            if line_id != line_name:
                changes.append(f"line id {_short(line_name)} -> {line_id!r}")
            line_ids[line_name] = line_id
            lines[line_id] = line_name
        positions = mesh.positions.astype(np.float64)
        low, high = positions.min(axis=0), positions.max(axis=0)
        machines.append(
            InitMachine(
                made,
                name,
                mtype,
                line_ids[line_name],
                tree.paths[node],
                _triple(low),
                _triple(high),
            )
        )
    inside = _inside(tree, picks)
    unmatched = [tree.names[i] for i in range(len(tree.names)) if own[i] and not inside[i]]
    views = _viewpoints(machines, lines, up_axis)
    return InitResult(model, units, up_axis, machines, lines, views, unmatched, changes)


def _short(text: str, most: int = 80) -> str:
    """``repr(text)``, cut for a message (names and extras come from an untrusted file)."""
    return repr(text) if len(text) <= most else repr(text[:most]) + "..."


def _roots(tree: NodeTree) -> list[int]:
    return [i for i, p in enumerate(tree.parents) if p < 0 and tree.paths[i]]


def _line_of(tree: NodeTree, node: int, one_root: bool) -> str:
    """The parent node's name; ``main`` for a root, or a child of the one root (the hall)."""
    parent = tree.parents[node]
    if parent < 0 or (tree.parents[parent] < 0 and one_root):
        return DEFAULT_LINE
    return tree.names[parent]


def _inside(tree: NodeTree, picks: Sequence[int]) -> list[bool]:
    """Whether each node is a picked node or lies below one (nodes outside the default
    scene count as inside: they are not drawn)."""
    picked = set(picks)
    out: list[bool] = []
    for i in range(len(tree.names)):
        if not tree.paths[i]:
            out.append(True)
            continue
        j = i
        while j >= 0 and j not in picked:
            j = tree.parents[j]
        out.append(j >= 0)
    return out


def _extras_key(model: Path, spec: str | None, option: str, allow_name: bool = False) -> str | None:
    if spec is None or (allow_name and spec == "name"):
        return None
    if spec.startswith("extras.") and len(spec) > len("extras."):
        return spec[len("extras.") :]
    wanted = "'name' or 'extras.KEY'" if allow_name else "'extras.KEY'"
    raise InitError(model, f"{option} is {wanted}, not {spec!r}")


def _viewpoints(machines: list[InitMachine], lines: dict[str, str], up: str) -> list[Viewpoint]:
    def box(items: list[InitMachine]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        low = np.min(np.asarray([m.low for m in items], dtype=np.float64), axis=0)
        high = np.max(np.asarray([m.high for m in items], dtype=np.float64), axis=0)
        return low, high

    views = [_view("overview", *box(machines), up, 0.0)]
    names = {"overview"}
    for line_id in lines:
        members = [m for m in machines if m.line == line_id]
        name = _unique(f"line-{line_id}", names)
        views.append(_view(name, *box(members), up, _LINE_AZIMUTH))
    return views


def _s(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=True)


def _v(values: tuple[float, float, float]) -> str:
    return "[" + ", ".join(repr(float(x)) for x in values) + "]"


def scene_toml(result: InitResult, out: Path, plant_name: str | None = None) -> str:
    """The scene file for ``result``, to be written at ``out`` (the model's path is made
    relative to ``out``'s folder)."""
    model_path = Path(os.path.relpath(result.model.resolve(), out.resolve().parent)).as_posix()
    name = plant_name or result.model.stem
    rows = [
        f"# Written by `xrclient scene init` from {result.model.name}; edit freely.",
        "format = 1",
        "",
        "[plant]",
        f"name = {_s(name)}",
        f"units = {_s(result.units)}",
        f"up_axis = {_s(result.up_axis)}",
        "",
        "[assets.model]",
        f"path = {_s(model_path)}",
        f"units = {_s(result.units)}",
    ]
    if result.model.suffix.lower() in USD_SUFFIXES:  # else the stage's upAxis would apply
        rows.append(f"up_axis = {_s(result.up_axis)}")
    rows.append("")
    for line_id, line_name in result.lines.items():
        rows += ["[[lines]]", f"id = {_s(line_id)}", f"name = {_s(line_name)}", ""]
    for m in result.machines:
        rows += [
            "[[machines]]",
            f"id = {_s(m.id)}",
            f"name = {_s(m.name)}",
            f"type = {_s(m.type)}",
            'asset = "model"',
            f"line = {_s(m.line)}",
            f"node = {_s('/' + m.node)}",
            "",
        ]
    for vp in result.viewpoints:
        rows += [
            "[[viewpoints]]",
            f"name = {_s(vp.name)}",
            f"position = {_v(vp.position)}",
            f"target = {_v(vp.target)}",
            f"fov = {vp.fov!r}",
            "",
        ]
    rows += ["[twin]", f"url = {_s(TWIN_URL)}", ""]
    rows += ["# Status colour of every machine by its state.", "[[bindings]]"]
    rows += ['color.property = "state"', "", "[bindings.color.states]"]
    rows += [f"{state} = {_s(colour)}" for state, colour in _STATE_COLORS.items()]
    return "\n".join(rows) + "\n"


def summary(result: InitResult) -> list[str]:
    """Lines for the user: what matched, what did not, and the ids that were changed."""
    out = [
        f"{_count(len(result.machines), 'machine')} on {_count(len(result.lines), 'line')}: "
        + ", ".join(f"{m.id} ({m.node[:80]})" for m in result.machines[:_SHOWN])
        + (f" and {len(result.machines) - _SHOWN} more" if len(result.machines) > _SHOWN else "")
    ]
    if result.unmatched:
        shown = ", ".join(_short(name) for name in result.unmatched[:_SHOWN])
        more = (
            f" and {len(result.unmatched) - _SHOWN} more" if len(result.unmatched) > _SHOWN else ""
        )
        left = _count(len(result.unmatched), "mesh node")
        out.append(f"{left} left static (no machine holds them): {shown}{more}")
    else:
        out.append("every mesh node is part of a machine")
    out += [f"changed {change}" for change in result.changes]
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
