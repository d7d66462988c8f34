"""Machines from named nodes of one glTF model: node lookup and the split of its geometry.

A scene machine may name a node of a glTF/GLB asset (``node = "Line A/CNC_01"``): a
``/``-separated path of node names from a root of the default scene, or a single name
that is unique in the file. Every mesh at or below a claimed node becomes that machine's
:class:`MeshData` (in the file's world coordinates); the rest of the file is one static
:class:`MeshData`. Lookup failures are :class:`NodeClaimError`, which says which claim
(and, for nested claims, which other claim) is at fault so that the scene loader can name
the scene keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from trimesh.util import unique_name

from xrclient.errors import AssetError, AssetLimitError
from xrclient.scene import gltf_instancing
from xrclient.scene.flatten import flatten_groups
from xrclient.scene.guards import LoadLimits
from xrclient.scene.mesh import MeshData

__all__ = [
    "MAX_PATH_CHARS",
    "NodeClaimError",
    "NodeSplit",
    "NodeTree",
    "node_tree",
    "resolve_node",
    "split_nodes",
]

#: trimesh's name for the root frame of a loaded scene
_BASE_FRAME = "world"
_SHOWN = 5  # matches listed in an "ambiguous" message
_NEAR_OPTIONS = 50_000  # beyond this many names and paths, near matches among names only
#: the most characters all node paths of one file may add up to
MAX_PATH_CHARS = 64 * 2**20


class NodeClaimError(AssetError):
    """A machine's ``node`` does not pick exactly one node of the file, or claims overlap."""

    kind = "node"

    def __init__(self, file: str | Path, claim: int, detail: str, other: int | None = None) -> None:
        self.claim = claim  # index into the claims given to split_nodes
        self.other = other  # the other claim of a nested or repeated pair
        self.detail = detail
        super().__init__(file, detail)


@dataclass(frozen=True, slots=True)
class NodeTree:
    """The nodes of a glTF document's default scene (others are not drawn)."""

    names: tuple[str, ...]  # the node's name, or its index as text when it has none
    parents: tuple[int, ...]  # parent node index; -1 for a root or a node outside the scene
    paths: tuple[str, ...]  # names from a root joined by "/"; "" outside the default scene
    frames: tuple[str, ...]  # the scene-graph node name trimesh gives each node


@dataclass(frozen=True, slots=True)
class NodeSplit:
    """One mesh per claim, in claim order, and the unclaimed rest (None when empty)."""

    machines: tuple[MeshData, ...]
    rest: MeshData | None


def node_tree(doc: Mapping[str, Any], file: str | Path = "") -> NodeTree:
    """The node names, parents and paths of a (validated) glTF document.

    The paths of a deep hierarchy grow with the square of its depth: past
    ``MAX_PATH_CHARS`` characters in all, the file is refused (:class:`AssetLimitError`)."""
    raw = doc.get("nodes", [])
    nodes: list[Any] = list(raw) if isinstance(raw, list) else []
    names = []
    for i, node in enumerate(nodes):
        name = node.get("name") if isinstance(node, dict) else None
        names.append(name if isinstance(name, str) and name else str(i))
    parents = [-1] * len(nodes)
    paths = [""] * len(nodes)
    scenes = doc.get("scenes", [])
    index = doc.get("scene", 0)
    roots: list[Any] = []
    if isinstance(scenes, list) and isinstance(index, int) and 0 <= index < len(scenes):
        scene = scenes[index]
        roots = list(scene.get("nodes", [])) if isinstance(scene, dict) else []
    stack = [(r, -1) for r in reversed(roots) if isinstance(r, int) and 0 <= r < len(nodes)]
    seen: set[int] = set()
    total = 0
    while stack:
        i, parent = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        parents[i] = parent
        paths[i] = names[i] if parent < 0 else f"{paths[parent]}/{names[i]}"
        total += len(paths[i])
        if total > MAX_PATH_CHARS:
            raise AssetLimitError(
                file,
                f"node paths add up to over {MAX_PATH_CHARS:,} characters: the hierarchy is "
                "too deep to look machines up by node",
            )
        children = nodes[i].get("children", []) if isinstance(nodes[i], dict) else []
        for child in reversed(children if isinstance(children, list) else []):
            if isinstance(child, int) and 0 <= child < len(nodes) and child not in seen:
                stack.append((child, i))
    return NodeTree(tuple(names), tuple(parents), tuple(paths), _frames(nodes))


def _frames(nodes: list[Any]) -> tuple[str, ...]:
    """The scene-graph names trimesh's glTF reader gives the nodes (made unique in index
    order; instanced nodes carry the marker names of :mod:`xrclient.scene.gltf_instancing`)."""
    marked = gltf_instancing.marker_names({"nodes": nodes})
    given = [
        marked.get(i, str(n.get("name", i)) if isinstance(n, dict) else str(i))
        for i, n in enumerate(nodes)
    ]
    index: dict[str, int] = {}
    counts: dict[str | None, int] = {}
    for i, name in enumerate(given):
        index[unique_name(name, index, counts=counts)] = i
    frames = {i: name for name, i in index.items()}
    world = index.get(_BASE_FRAME)
    if world is not None:
        frames[world] = unique_name(_BASE_FRAME, set(frames.values()))
    return tuple(frames[i] for i in range(len(nodes)))


def resolve_node(tree: NodeTree, spec: str, file: str) -> int:
    """The index of the one node ``spec`` names: its path from a root, else the unique node
    whose path ends in ``spec`` (whole names: a single name, or ``"Line A/CNC_01"`` below
    a root node the scene file need not name); a leading ``/`` allows only the first.

    Raises ``ValueError`` saying why not: no such node (with near matches) or several."""
    named = [(i, n, p) for i, (n, p) in enumerate(zip(tree.names, tree.paths, strict=True)) if p]
    rooted = spec.startswith("/")  # "/Hall/Line A": from a root only
    hits = [i for i, _, p in named if p == spec.removeprefix("/")]
    if not hits and not rooted:  # the end of a path: "Line A/CNC_01" under a root "Hall"
        hits = [i for i, n, p in named if p.endswith(f"/{spec}") or n == spec]
    if len(hits) == 1:
        return hits[0]
    if hits:
        shown = ", ".join(repr(tree.paths[i]) for i in hits[:_SHOWN])
        more = f" and {len(hits) - _SHOWN} more" if len(hits) > _SHOWN else ""
        raise ValueError(f"{spec!r} matches {len(hits)} nodes: {shown}{more}; give its path")
    options = list(dict.fromkeys([n for _, n, _ in named] + [p for _, _, p in named]))
    if len(options) > _NEAR_OPTIONS:
        options = list(dict.fromkeys(n for _, n, _ in named))[:_NEAR_OPTIONS]
    near = difflib.get_close_matches(spec, options, n=3, cutoff=0.6)
    hint = f" (did you mean: {', '.join(repr(m) for m in near)}?)" if near else ""
    raise ValueError(f"no node {spec!r} in {file}{hint}")


def split_nodes(
    path: Path,
    scene: Any,
    doc: Mapping[str, Any],
    claims: Sequence[str],
    limits: LoadLimits,
    scale: float,
    batches: Mapping[str, npt.NDArray[np.float64]] | None = None,
) -> NodeSplit:
    """The parsed glTF ``scene`` split into one mesh per claimed node and the rest."""
    tree = node_tree(doc, path)
    picked: list[int] = []
    for k, spec in enumerate(claims):
        try:
            picked.append(resolve_node(tree, spec, path.name))
        except ValueError as exc:
            raise NodeClaimError(path, k, str(exc)) from None
    owner = {node: k for k, node in reversed(list(enumerate(picked)))}
    for k, node in enumerate(picked):
        if owner[node] != k:
            detail = f"node {tree.paths[node]!r} is claimed twice"
            raise NodeClaimError(path, k, detail, owner[node])
        above = tree.parents[node]
        while above >= 0:
            if above in owner:
                detail = f"node {tree.paths[node]!r} lies inside claimed node {tree.paths[above]!r}"
                raise NodeClaimError(path, k, detail, owner[above])
            above = tree.parents[above]
    groups = {tree.frames[node]: k for k, node in enumerate(picked)}
    meshes = flatten_groups(path, scene, groups, len(claims), limits, scale, batches)
    out: list[MeshData] = []
    for k, mesh in enumerate(meshes[:-1]):
        if mesh is None:
            detail = f"node {tree.paths[picked[k]]!r} holds no triangle geometry"
            raise NodeClaimError(path, k, detail)
        out.append(mesh)
    return NodeSplit(tuple(out), meshes[-1])
