"""``EXT_mesh_gpu_instancing``: the per-instance transforms of instanced glTF nodes.

A node with this extension draws its mesh once per instance, at
``node world matrix x instance TRS`` (translation x rotation x scale, each optional; all
attribute accessors have the same count). The guard (:mod:`xrclient.scene.guards_gltf`)
has already checked the accessor types, the counts and the triangles all copies add up to.
Here the accessors are read, checked for NaN/inf, turned into one 4x4 matrix per instance,
and each instanced node gets a name that marks it for :func:`xrclient.scene.flatten`,
which places the copies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrclient.core import math3d
from xrclient.errors import MalformedAssetError
from xrclient.scene.gltf_accessors import read_accessor

__all__ = [
    "EXTENSION",
    "instance_matrices",
    "instanced_nodes",
    "mark_instanced_nodes",
    "marker_names",
]

EXTENSION = "EXT_mesh_gpu_instancing"

_F64 = npt.NDArray[np.float64]
_NUMPY_TYPES = {5120: "<i1", 5122: "<i2", 5126: "<f4"}


def instanced_nodes(doc: dict[str, Any]) -> list[int]:
    """Indices of the nodes with a mesh and this extension (others are not instanced)."""
    out = []
    for i, node in enumerate(doc.get("nodes", [])):
        ext = node.get("extensions")
        if "mesh" in node and isinstance(ext, dict) and isinstance(ext.get(EXTENSION), dict):
            out.append(i)
    return out


def instance_matrices(
    path: Path, doc: dict[str, Any], buffers: list[bytes], node_index: int
) -> _F64:
    """The ``(N, 4, 4)`` instance transforms (column-vector convention) of one node."""
    attributes = doc["nodes"][node_index]["extensions"][EXTENSION].get("attributes", {})
    where = f"node {node_index} {EXTENSION}"
    values: dict[str, npt.NDArray[np.float64]] = {}
    count: int | None = None
    for name in ("TRANSLATION", "ROTATION", "SCALE"):
        if name not in attributes:
            continue
        acc = doc["accessors"][attributes[name]]
        raw = read_accessor(doc, buffers, acc)
        data = raw.astype(np.float64)
        if acc.get("normalized") and raw.dtype.kind == "i":
            data = np.maximum(data / np.iinfo(raw.dtype).max, -1.0)
        if not np.isfinite(data).all():
            raise MalformedAssetError(path, f"{where}: {name} holds NaN or infinite values")
        values[name] = data
        count = len(data)
    n = 1 if count is None else count  # no attributes: the mesh once, untransformed
    out = np.tile(np.eye(4), (n, 1, 1))
    if "ROTATION" in values:
        out[:, :3, :3] = _rotations(path, where, values["ROTATION"])
    if "SCALE" in values:
        out[:, :3, :3] *= values["SCALE"][:, None, :]  # R x S: scales the columns
    if "TRANSLATION" in values:
        out[:, :3, 3] = values["TRANSLATION"]
    if not np.isfinite(out).all():
        raise MalformedAssetError(path, f"{where}: instance transforms are not finite")
    return out


def _rotations(path: Path, where: str, quats: _F64) -> _F64:
    """Rotation matrices of XYZW quaternions (normalised; a zero quaternion is refused)."""
    norm = np.sqrt(np.einsum("ij,ij->i", quats, quats))
    if (norm < 1e-12).any():
        bad = int(np.argmax(norm < 1e-12))
        raise MalformedAssetError(path, f"{where}: ROTATION {bad} is a zero quaternion")
    return math3d.quat_matrices(quats)


def mark_instanced_nodes(
    path: Path, doc: dict[str, Any], buffers: list[bytes]
) -> tuple[dict[str, Any], dict[str, _F64]]:
    """A copy of ``doc`` whose instanced nodes carry marker names, and their transforms.

    trimesh names a scene node after the glTF node (its primitives, when there are
    several, become children named ``<node>_<id>``); the marker prefix is chosen so that no
    other node name starts with it, so :mod:`xrclient.scene.flatten` finds exactly the
    geometry of the instanced nodes by name.
    """
    marked = marker_names(doc)
    if not marked:
        return doc, {}
    nodes = list(doc["nodes"])
    batches: dict[str, _F64] = {}
    for i, name in marked.items():
        nodes[i] = {**nodes[i], "name": name}
        batches[name] = instance_matrices(path, doc, buffers, i)
    return {**doc, "nodes": nodes}, batches


def marker_names(doc: dict[str, Any]) -> dict[int, str]:
    """The marker name :func:`mark_instanced_nodes` gives each instanced node, by index."""
    indices = instanced_nodes(doc)
    if not indices:
        return {}
    taken = [str(n.get("name", i)) for i, n in enumerate(doc["nodes"])]
    prefix = "instanced~"
    while any(name.startswith(prefix) for name in taken):
        prefix += "~"
    return {i: f"{prefix}{i}" for i in indices}
