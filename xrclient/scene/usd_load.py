"""OpenUSD assets (``.usd``, ``.usda``, ``.usdc``, ``.usdz``) read through usd-core in a child.

The stage is opened and traversed by :mod:`xrclient.scene.usd_worker` in a child process
(address space limited, killed on timeout, a crash is a
:class:`~xrclient.errors.MalformedAssetError`), which sends back plain arrays and a JSON
description. Here every count, index and value is checked against the limits, the meshes are
triangulated (concave polygons by ear clipping, :mod:`xrclient.scene.polygons`; holes are
not read) and a trimesh scene is built with a glTF-like node document, so that
:func:`~xrclient.scene.flatten.flatten_scene` and :func:`~xrclient.scene.nodes.split_nodes`
work on it as on a glTF file: prims are nodes, node paths are prim paths below the default
prim (other root prims are roots of their own).

Read: ``Mesh`` (points, faceVertexCounts/Indices, ``orientation``, normals, ``st``,
``displayColor``/``displayOpacity``; subdivision surfaces as their control mesh),
transforms (``resetXformStack`` included), instanceable prims (each instance a copy),
``PointInstancer`` (protoIndices, positions, orientations, scales, invisibleIds), the bound
material's ``UsdPreviewSurface`` ``diffuseColor`` (a constant, or a ``UsdUVTexture`` file
inside the asset's folder or package) and constant ``opacity``, per face where
material-bind GeomSubsets split a mesh. Prims with purpose proxy or
guide, invisible prims and inactive prims are skipped. Stage ``metersPerUnit`` scales the
positions (USD's fallback, 0.01, where unauthored); stage ``upAxis`` is the asset's default
``up_axis`` in a scene (:func:`stage_up_axis`). Not read: other shading networks, time
samples after the first, curves, points, lights and cameras.
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson
import trimesh
from trimesh.visual import ColorVisuals, TextureVisuals
from trimesh.visual.material import PBRMaterial

from xrclient.errors import AssetError, AssetLimitError, MalformedAssetError, UnsupportedAssetError
from xrclient.scene.flatten import flatten_scene
from xrclient.scene.gltf_draco import run_worker
from xrclient.scene.guards import (
    DEFAULT_LIMITS,
    LoadLimits,
    check_file,
    check_not_archive,
    read_bytes,
)
from xrclient.scene.guards_gltf import check_image_bytes
from xrclient.scene.mesh import MeshData
from xrclient.scene.nodes import NodeSplit, node_tree, split_nodes
from xrclient.scene.notices import warn_asset
from xrclient.scene.polygons import Budget, triangulate, warn_fanned
from xrclient.scene.usdz import check_usdz, read_entry

__all__ = [
    "MAX_PRIMS",
    "USD_SUFFIXES",
    "UsdContents",
    "available",
    "load_usd",
    "load_usd_nodes",
    "read_usd",
    "stage_up_axis",
    "worker_command",
]

USD_SUFFIXES = (".usd", ".usda", ".usdc", ".usdz")
#: prims one stage may hold (instance proxies and prototype prims counted)
MAX_PRIMS = 1_000_000
#: a child gets this long, plus a second per 5 MB of file
BASE_TIMEOUT_S = 60.0
#: address space a child may map beyond what it holds after importing usd-core, plus 32x
#: the file (composed stages hold several copies of their data)
BASE_MEMORY_BYTES = 1024 * 2**20
_INSTALL = "pip install 'xrclient[usd]'"
_REPLY_DTYPES = frozenset({"<f4", "<i4", "<i8"})
_EYE = np.eye(4)
# trimesh's visuals are untyped
_TextureVisuals: Any = TextureVisuals
_PBRMaterial: Any = PBRMaterial


def available() -> bool:
    """Whether usd-core (the ``pxr`` package) is installed and importable."""
    if "pxr" in sys.modules:
        return sys.modules["pxr"] is not None
    try:
        return importlib.util.find_spec("pxr") is not None
    except (ImportError, ValueError):
        return False


def worker_command() -> list[str]:
    """The command line of the reading child."""
    return [sys.executable, "-m", "xrclient.scene.usd_worker"]


@dataclass(frozen=True, slots=True)
class UsdContents:
    """A stage as a trimesh scene with a glTF-like node document."""

    scene: Any  # trimesh.Scene
    document: dict[str, Any]  # {"nodes": [...], "scenes": [{"nodes": roots}], "scene": 0}
    batches: dict[str, npt.NDArray[np.float64]]  # point-instancer copies by scene node
    meters_per_unit: float
    up_axis: Literal["y", "z"]


def _precheck(path: Path, limits: LoadLimits) -> int:
    if not available():
        raise UnsupportedAssetError(
            path, f"OpenUSD files need the optional package usd-core: {_INSTALL}"
        )
    if path.suffix.lower() == ".usdz":
        check_usdz(path, limits)
        return path.stat().st_size
    size = check_file(path, limits)
    head = read_bytes(path, limits, 64)
    check_not_archive(path, head)
    if not (head.startswith(b"PXR-USDC") or head.lstrip().startswith(b"#usda")):
        raise MalformedAssetError(path, "not a USD layer (no '#usda' or 'PXR-USDC' header)")
    return size


def _ask(
    path: Path,
    mode: str,
    limits: LoadLimits,
    timeout_s: float | None,
    memory_bytes: int | None,
    max_prims: int,
) -> tuple[dict[str, Any], bytes, int]:
    size = _precheck(path, limits)
    resolved = path.resolve()
    cap = 2**26 + 64 * limits.max_vertices + 48 * limits.max_triangles
    header = {
        "mode": mode,
        "path": str(resolved),
        "folder": str(resolved.parent),
        "memory_bytes": int(
            BASE_MEMORY_BYTES + 32 * size if memory_bytes is None else memory_bytes
        ),
        "max_prims": int(max_prims),
        "max_elements": int(cap // 4),
    }
    text = orjson.dumps(header)
    timeout = BASE_TIMEOUT_S + size / 5e6 if timeout_s is None else timeout_s
    request = struct.pack("<Q", len(text)) + text
    reply = run_worker(path, worker_command(), request, timeout, cap, codec="OpenUSD")
    bad = MalformedAssetError(path, "OpenUSD reader sent a malformed reply")
    if len(reply) < 8:
        raise bad
    (length,) = struct.unpack_from("<Q", reply, 0)
    try:
        head = orjson.loads(reply[8 : 8 + length])
    except orjson.JSONDecodeError:
        raise bad from None
    if not isinstance(head, dict):
        raise bad
    if not head.get("ok"):
        reason = str(head.get("reason", "the stage cannot be read"))[:300]
        raise (AssetLimitError if head.get("limit") else MalformedAssetError)(path, reason)
    return head, reply, 8 + length


_META_CACHE: dict[tuple[str, int, int], Literal["y", "z"]] = {}


def stage_up_axis(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> Literal["y", "z"]:
    """The stage's ``upAxis`` as a scene ``up_axis`` (``"y"`` where it cannot be read: the
    load then reports why)."""
    try:
        info = os.stat(path)
        key = (str(Path(path).resolve()), info.st_mtime_ns, info.st_size)
        if key not in _META_CACHE:
            head, _, _ = _ask(Path(path), "meta", limits, None, None, MAX_PRIMS)
            _META_CACHE[key] = "z" if head.get("up_axis") == "Z" else "y"
        return _META_CACHE[key]
    except (OSError, AssetError):
        return "y"


def read_usd(
    path: Path,
    limits: LoadLimits,
    *,
    timeout_s: float | None = None,
    memory_bytes: int | None = None,
    max_prims: int = MAX_PRIMS,
) -> UsdContents:
    """The stage at ``path`` as a checked trimesh scene (see module doc)."""
    path = Path(path)
    head, reply, offset = _ask(path, "read", limits, timeout_s, memory_bytes, max_prims)
    return _Builder(path, limits, head, reply, offset).build()


def load_usd(path: Path, limits: LoadLimits, scale: float) -> MeshData:
    """A USD file flattened into one :class:`MeshData` (``metersPerUnit`` times ``scale``)."""
    contents = read_usd(path, limits)
    scale = scale * contents.meters_per_unit
    return flatten_scene(path, contents.scene, True, limits, scale, contents.batches)


def load_usd_nodes(
    path: Path, claims: tuple[str, ...], limits: LoadLimits, scale: float
) -> NodeSplit:
    """A USD file split into one mesh per claimed prim path and the rest."""
    contents = read_usd(path, limits)
    scale = scale * contents.meters_per_unit
    return split_nodes(
        path, contents.scene, contents.document, claims, limits, scale, contents.batches
    )


def usd_document(path: Path, limits: LoadLimits) -> dict[str, Any]:
    """The glTF-like node document of a USD file (``extras``: prim string properties)."""
    return read_usd(path, limits).document


# --------------------------------------------------------------------------- building


def _quat_matrices(q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(N, 3, 3) rotations of (N, 4) quaternions ``x, y, z, w`` (zero: no rotation)."""
    length = np.linalg.norm(q, axis=1)
    q = np.where((length > 0)[:, None], q / np.where(length > 0, length, 1.0)[:, None], 0.0)
    q[length == 0, 3] = 1.0
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], 1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], 1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1),
        ],
        axis=1,
    )


@dataclass(slots=True)
class _Mesh:
    points: npt.NDArray[np.float32]
    counts: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    record: dict[str, Any]
    triangles: int
    vertices: int  # after un-indexing, when it is needed
    corner_wise: bool  # a faceVarying or uniform primvar: one vertex per face corner
    geometry: Any = None  # list of trimesh pieces: one per material-bind subset, then the rest


def _rows(
    used: npt.NDArray[np.int64] | None,
) -> Callable[[npt.NDArray[Any] | None], npt.NDArray[Any] | None]:
    """Picks the rows ``used`` (all rows when None) of a per-vertex array, or passes None."""

    def pick(values: npt.NDArray[Any] | None) -> npt.NDArray[Any] | None:
        return values if values is None or used is None else values[used]

    return pick


class _Builder:
    def __init__(
        self, path: Path, limits: LoadLimits, head: dict[str, Any], reply: bytes, offset: int
    ) -> None:
        self.path = path
        self.limits = limits
        self.head = head
        self.arrays = self._arrays(reply, offset)
        self.budget = Budget()
        self.fanned = 0
        self.over = 0

    def bad(self, detail: str) -> MalformedAssetError:
        return MalformedAssetError(self.path, detail)

    def _arrays(self, reply: bytes, offset: int) -> list[npt.NDArray[Any]]:
        specs = self.head.get("arrays")
        if not isinstance(specs, list):
            raise self.bad("OpenUSD reader sent a malformed reply")
        out = []
        for spec in specs:
            if not (isinstance(spec, list) and len(spec) == 2 and spec[0] in _REPLY_DTYPES):
                raise self.bad("OpenUSD reader sent a malformed reply")
            dtype = np.dtype(spec[0])
            shape = tuple(int(s) for s in spec[1])
            count = int(np.prod(shape, dtype=np.int64))
            if count < 0 or offset + count * dtype.itemsize > len(reply):
                raise self.bad("OpenUSD reader sent a malformed reply")
            out.append(np.frombuffer(reply, dtype=dtype, count=count, offset=offset).reshape(shape))
            offset += count * dtype.itemsize
        return out

    def array(self, number: Any, width: int, where: str) -> npt.NDArray[Any]:
        if not isinstance(number, int) or not 0 <= number < len(self.arrays):
            raise self.bad(f"{where}: malformed reply")
        values = self.arrays[number]
        if (width == 1 and values.ndim != 1) or (width > 1 and values.shape[1:] != (width,)):
            raise self.bad(f"{where}: values of the wrong width")
        return values

    def build(self) -> UsdContents:
        nodes = self.head.get("nodes")
        records = self.head.get("meshes")
        if not isinstance(nodes, list) or not isinstance(records, list):
            raise self.bad("OpenUSD reader sent a malformed reply")
        meshes = [self.mesh(r) for r in records]
        document = self.document(nodes)
        tree = node_tree(document, self.path)
        scene: Any = trimesh.Scene(base_frame="world")
        for i, node in enumerate(nodes):
            parent = node["parent"]
            above = tree.frames[parent] if parent >= 0 else "world"
            scene.graph.update(frame_from=above, frame_to=tree.frames[i], matrix=_EYE)
        copies = [0] * len(meshes)
        placed: list[tuple[int, int, npt.NDArray[np.float64]]] = []
        for item in self.head.get("placements", []):
            node, mesh = self.index(item, "node", len(nodes)), self.index(item, "mesh", len(meshes))
            placed.append((node, mesh, self.matrix(item.get("matrix"))))
            copies[mesh] += 1
        batches: dict[str, npt.NDArray[np.float64]] = {}
        batched: list[tuple[int, int, npt.NDArray[np.float64]]] = []
        for item in self.head.get("instancers", []):
            for node, mesh, matrices in self.instancer(item, len(nodes), len(meshes)):
                batched.append((node, mesh, matrices))
                copies[mesh] += len(matrices)
        self.check_totals(meshes, copies)
        for k, part in enumerate(meshes):
            if copies[k]:
                part.geometry = self.geometry(part)
        warn_fanned(self.path, self.fanned, "USD", self.over)
        for j, (node, mesh, matrix) in enumerate(placed):
            for k, piece in enumerate(meshes[mesh].geometry):
                scene.add_geometry(
                    piece,
                    geom_name=f"usd#m{mesh}.{k}",
                    node_name=f"usd#p{j}.{k}",
                    parent_node_name=tree.frames[node],
                    transform=matrix,
                )
        for j, (node, mesh, matrices) in enumerate(batched):
            for k, piece in enumerate(meshes[mesh].geometry):
                leaf = f"usd#i{j}.{k}"
                scene.add_geometry(
                    piece,
                    geom_name=f"usd#m{mesh}.{k}",
                    node_name=leaf,
                    parent_node_name=tree.frames[node],
                )
                batches[leaf] = matrices
        meters = self.head.get("meters_per_unit")
        if not isinstance(meters, int | float) or not (np.isfinite(meters) and meters > 0):
            raise self.bad(f"stage metersPerUnit {meters!r} is not a positive number")
        if self.head.get("meters_authored") is False:
            warn_asset(
                self.path,
                f"the stage does not author metersPerUnit: USD's default of {meters:g} m per "
                "unit (centimetres) is used; a file in metres needs scale = 100 on its asset",
            )
        up: Literal["y", "z"] = "z" if self.head.get("up_axis") == "Z" else "y"
        return UsdContents(scene, document, batches, float(meters), up)

    def index(self, item: Any, key: str, size: int) -> int:
        value = item.get(key) if isinstance(item, dict) else None
        if not isinstance(value, int) or not 0 <= value < size:
            raise self.bad("OpenUSD reader sent a malformed reply")
        return value

    def matrix(self, values: Any) -> npt.NDArray[np.float64]:
        matrix = np.asarray(values, dtype=np.float64)
        if matrix.shape != (16,) or not np.isfinite(matrix).all():
            raise self.bad("a prim's transform is not a finite 4x4 matrix")
        return matrix.reshape(4, 4)

    def document(self, nodes: list[Any]) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        roots: list[int] = []
        for i, node in enumerate(nodes):
            if not isinstance(node, dict) or not isinstance(node.get("name"), str):
                raise self.bad("OpenUSD reader sent a malformed reply")
            parent = node.get("parent")
            if not isinstance(parent, int) or not -1 <= parent < i:
                raise self.bad("OpenUSD reader sent a malformed reply")
            item: dict[str, Any] = {"name": node["name"], "children": []}
            if isinstance(node.get("mesh"), int):
                item["mesh"] = 0
            extras = node.get("extras")
            if isinstance(extras, dict):
                item["extras"] = {str(k): str(v) for k, v in extras.items()}
            out.append(item)
            if parent < 0:
                roots.append(i)
            else:
                out[parent]["children"].append(i)
        return {"nodes": out, "scenes": [{"nodes": roots}], "scene": 0}

    def mesh(self, record: Any) -> _Mesh:
        if not isinstance(record, dict):
            raise self.bad("OpenUSD reader sent a malformed reply")
        where = f"mesh {str(record.get('path', '?'))[:120]}"
        points = self.array(record.get("points"), 3, where)
        counts = self.array(record.get("counts"), 1, where).astype(np.int64)
        indices = self.array(record.get("indices"), 1, where).astype(np.int64)
        if len(points) > self.limits.max_vertices:
            raise AssetLimitError(
                self.path,
                f"{where} holds {len(points):,} points, above the limit of "
                f"{self.limits.max_vertices:,}",
            )
        if counts.size and int(counts.min()) < 3:
            raise self.bad(f"{where}: a face has {int(counts.min())} corners (at least 3)")
        if int(counts.sum()) != len(indices):
            raise self.bad(
                f"{where}: faceVertexCounts add up to {int(counts.sum()):,}, "
                f"faceVertexIndices holds {len(indices):,}"
            )
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= len(points)):
            bad = int(indices.max()) if int(indices.max()) >= len(points) else int(indices.min())
            raise self.bad(f"{where}: face index {bad} is out of range ({len(points):,} points)")
        if not np.isfinite(points).all():
            raise self.bad(f"{where}: non-finite points (NaN or inf)")
        triangles = int((counts - 2).sum())
        corner_wise = any(
            isinstance(record.get(k), list) and record[k][1] in ("faceVarying", "uniform")
            for k in ("normals", "st", "color", "opacity")
        )
        vertices = len(indices) if corner_wise else len(points)
        return _Mesh(points, counts, indices, record, triangles, vertices, corner_wise)

    def instancer(
        self, item: Any, n_nodes: int, n_meshes: int
    ) -> list[tuple[int, int, npt.NDArray[np.float64]]]:
        node = self.index(item, "node", n_nodes)
        where = f"point instancer {str(item.get('path', '?'))[:120]}"
        world = self.matrix(item.get("matrix"))
        prototypes = item.get("prototypes")
        if not isinstance(prototypes, list):
            raise self.bad("OpenUSD reader sent a malformed reply")
        if "proto_indices" not in item:
            return []
        chosen = self.array(item["proto_indices"], 1, where).astype(np.int64)
        count = len(chosen)
        if count > self.limits.max_triangles:
            raise AssetLimitError(
                self.path, f"{where} places {count:,} instances, above the triangle limit"
            )
        if count and (int(chosen.min()) < 0 or int(chosen.max()) >= len(prototypes)):
            bad = int(chosen.max()) if int(chosen.max()) >= len(prototypes) else int(chosen.min())
            raise self.bad(f"{where}: protoIndices names prototype {bad}, it has {len(prototypes)}")

        def rows(key: str, width: int, default: Sequence[float]) -> npt.NDArray[np.float64]:
            if key not in item:
                return np.tile(np.asarray(default, dtype=np.float64), (count, 1))
            values = self.array(item[key], width, where).astype(np.float64)
            if len(values) != count:
                raise self.bad(f"{where}: {len(values):,} {key}, {count:,} protoIndices")
            if not np.isfinite(values).all():
                raise self.bad(f"{where}: non-finite {key}")
            return values

        if "positions" not in item and count:
            raise self.bad(f"{where}: no positions")
        positions = rows("positions", 3, (0.0, 0.0, 0.0))
        turns = _quat_matrices(rows("orientations", 4, (0.0, 0.0, 0.0, 1.0)))
        scales = rows("scales", 3, (1.0, 1.0, 1.0))
        local = np.zeros((count, 4, 4))
        local[:, :3, :3] = turns * scales[:, None, :]
        local[:, :3, 3] = positions
        local[:, 3, 3] = 1.0
        shown = np.ones(count, dtype=bool)
        if "invisible" in item:
            hidden = self.array(item["invisible"], 1, where)
            ids = self.array(item["ids"], 1, where) if "ids" in item else np.arange(count)
            if len(ids) != count:
                raise self.bad(f"{where}: {len(ids):,} ids, {count:,} protoIndices")
            shown &= ~np.isin(ids, hidden)
        out = []
        for k, members in enumerate(prototypes):
            pick = np.flatnonzero(shown & (chosen == k))
            if not len(pick) or not isinstance(members, list):
                continue
            placed = world @ local[pick]
            for member in members:
                mesh = self.index(member, "mesh", n_meshes)
                relative = self.matrix(member.get("matrix"))
                out.append((node, mesh, placed @ relative))
        return out

    def check_totals(self, meshes: list[_Mesh], copies: list[int]) -> None:
        """Triangles (counted from faceVertexCounts, before triangulating) and vertices of
        every copy together, within the limits."""
        triangles = sum(m.triangles * c for m, c in zip(meshes, copies, strict=True))
        vertices = sum(m.vertices * c for m, c in zip(meshes, copies, strict=True))
        if triangles > self.limits.max_triangles:
            raise AssetLimitError(
                self.path,
                f"stage holds {triangles:,} triangles, above the limit of "
                f"{self.limits.max_triangles:,}",
            )
        if vertices > self.limits.max_vertices:
            raise AssetLimitError(
                self.path,
                f"stage holds {vertices:,} vertices, above the limit of "
                f"{self.limits.max_vertices:,}",
            )

    def triangles(self, mesh: _Mesh) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(T, 3) corner numbers (into faceVertexIndices) of the mesh's triangles, and the
        face each comes from."""
        counts = mesh.counts
        starts = np.cumsum(counts) - counts
        out: list[npt.NDArray[np.int64]] = []
        face_of: list[npt.NDArray[np.int64]] = []
        for n in np.unique(counts).tolist():
            faces = np.flatnonzero(counts == n)
            face_of.append(np.repeat(faces, n - 2))
            corners = starts[faces][:, None] + np.arange(n, dtype=np.int64)
            if n == 3:
                out.append(corners)
                continue
            points = mesh.points[mesh.indices[corners]].astype(np.float64)
            cut = triangulate(points, self.budget)
            self.fanned += cut.fanned
            self.over += cut.over_budget
            picked = np.take_along_axis(
                np.repeat(corners[:, None, :], n - 2, axis=1), cut.triangles, axis=2
            )
            out.append(picked.reshape(-1, 3))
        tris = np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)
        owner = np.concatenate(face_of) if face_of else np.zeros(0, dtype=np.int64)
        if mesh.record.get("left_handed"):
            tris = tris[:, ::-1]
        return np.ascontiguousarray(tris), owner

    def pieces(self, mesh: _Mesh, face_of: npt.NDArray[np.int64]) -> list[tuple[Any, Any]]:
        """(triangle mask or None for all, material number) per piece of the mesh: one per
        material-bind GeomSubset (a face claimed twice goes to the first), then the faces
        no subset claims, with the mesh's own material."""
        subsets = mesh.record.get("subsets")
        own = mesh.record.get("material")
        if not isinstance(subsets, list) or not subsets:
            return [(None, own)]
        where = f"mesh {str(mesh.record.get('path', '?'))[:120]} GeomSubset"
        faces = len(mesh.counts)
        claimed = np.full(faces, -1, dtype=np.int64)
        materials: list[Any] = []
        for k, item in enumerate(subsets):
            if not (isinstance(item, list) and len(item) == 2):
                raise self.bad(f"{where}: malformed reply")
            members = self.array(item[0], 1, where).astype(np.int64)
            if members.size and (int(members.min()) < 0 or int(members.max()) >= faces):
                raise self.bad(f"{where} {k}: a face index is out of range ({faces:,} faces)")
            free = members[claimed[members] < 0]
            claimed[free] = k
            materials.append(item[1])
        owner = claimed[face_of]
        out: list[tuple[Any, Any]] = [
            (owner == k, material) for k, material in enumerate(materials) if (owner == k).any()
        ]
        rest = owner < 0
        if rest.any():
            out.append((rest, own))
        return out

    def attribute(
        self, mesh: _Mesh, key: str, width: int, corner_wise: bool
    ) -> npt.NDArray[np.float32] | None:
        """Per-vertex values of primvar ``key`` (per corner where ``corner_wise``)."""
        found = mesh.record.get(key)
        if not isinstance(found, list) or len(found) != 2:
            return None
        where = f"mesh {str(mesh.record.get('path', '?'))[:120]} {key}"
        values = self.array(found[0], width, where).astype(np.float32)
        interpolation = found[1]
        faces, corners, points = len(mesh.counts), len(mesh.indices), len(mesh.points)
        expected = {
            "constant": 1,
            "uniform": faces,
            "vertex": points,
            "varying": points,
            "faceVarying": corners,
        }.get(interpolation)
        if expected is None or len(values) != expected:
            warn_asset(
                self.path,
                f"{where}: {len(values):,} {interpolation} values do not fit the mesh; not drawn",
            )
            return None
        if not np.isfinite(values).all():
            warn_asset(self.path, f"{where}: non-finite values; not drawn")
            return None
        values = values.reshape(len(values), width)
        if interpolation == "constant":
            return np.repeat(values, corners if corner_wise else points, axis=0)
        if interpolation == "uniform":
            return np.repeat(values, mesh.counts, axis=0)
        if interpolation == "faceVarying":
            return values
        return values[mesh.indices] if corner_wise else values

    def geometry(self, mesh: _Mesh) -> list[Any]:
        tris, face_of = self.triangles(mesh)
        corner_wise = mesh.corner_wise
        if corner_wise:
            positions = mesh.points[mesh.indices]
            faces = tris
        else:
            positions = mesh.points
            faces = mesh.indices[tris]
        normals = self.attribute(mesh, "normals", 3, corner_wise)
        uv = self.attribute(mesh, "st", 2, corner_wise)
        color = self.attribute(mesh, "color", 3, corner_wise)
        opacity = self.attribute(mesh, "opacity", 1, corner_wise)
        out = []
        for mask, material in self.pieces(mesh, face_of):
            piece, used = faces, None
            if mask is not None:
                used, inverse = np.unique(faces[mask], return_inverse=True)
                piece = inverse.reshape(-1, 3)
            at = _rows(used)
            count = len(positions) if used is None else len(used)
            visual = self.visual(material, count, at(uv), at(color), at(opacity))
            out.append(
                trimesh.Trimesh(
                    vertices=at(positions),
                    faces=piece,
                    vertex_normals=at(normals),
                    visual=visual,
                    process=False,
                    validate=False,
                )
            )
        return out

    def visual(
        self,
        material_number: Any,
        count: int,
        uv: npt.NDArray[np.float32] | None,
        color: npt.NDArray[np.float32] | None,
        opacity: npt.NDArray[np.float32] | None,
    ) -> Any:
        material = self.material(material_number)
        if material is not None:
            return _TextureVisuals(uv=uv if material.baseColorTexture is not None else None,
                                  material=material)  # fmt: skip
        if color is None and opacity is None:
            return ColorVisuals()
        rgba = np.ones((count, 4), dtype=np.float32)
        rgba[:, :3] = 0.5 if color is None else np.clip(color, 0.0, 1.0)
        if opacity is not None:
            rgba[:, 3] = np.clip(opacity[:, 0], 0.0, 1.0)
        visual = _TextureVisuals(
            uv=None, material=_PBRMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0])
        )
        visual.vertex_attributes["color"] = rgba
        return visual

    def material(self, number: Any) -> Any:
        records = self.head.get("materials", [])
        if not isinstance(number, int) or not isinstance(records, list):
            return None
        if not 0 <= number < len(records) or not isinstance(records[number], dict):
            return None
        cache: dict[int, Any] = self.__dict__.setdefault("_materials", {})
        if number in cache:
            return cache[number]
        record = records[number]
        factor = [1.0, 1.0, 1.0, 1.0]
        diffuse = record.get("diffuse")
        given = False
        if isinstance(diffuse, list) and len(diffuse) == 3:
            values = np.asarray(diffuse, dtype=np.float64)
            if np.isfinite(values).all():
                factor[:3] = np.clip(values, 0.0, 1.0).tolist()
                given = True
        opacity = record.get("opacity")
        if isinstance(opacity, int | float) and np.isfinite(opacity):
            factor[3] = float(np.clip(opacity, 0.0, 1.0))
            given = True
        texture = self.texture(record.get("texture"))
        material = None
        if given or texture is not None:
            name = str(record.get("name", "material"))[:80]
            material = _PBRMaterial(name=name, baseColorFactor=factor, baseColorTexture=texture)
        cache[number] = material
        return material

    def texture(self, spec: Any) -> Any:
        if not (
            isinstance(spec, list) and len(spec) == 2 and all(isinstance(s, str) for s in spec)
        ):
            return None
        authored, resolved = spec
        where = f"texture {authored[:80]!r}"
        if not resolved:
            warn_asset(self.path, f"{where} not found; drawn in its material colour")
            return None
        own = self.path.resolve()
        if resolved.endswith("]") and "[" in resolved:
            package, _, inner = resolved[:-1].partition("[")
            if Path(package).resolve() != own or "[" in inner:
                raise UnsupportedAssetError(self.path, f"{where} lies outside the package")
            data = read_entry(self.path, inner, self.limits)
        else:
            target = Path(resolved).resolve()
            if not target.is_relative_to(own.parent):
                raise UnsupportedAssetError(
                    self.path, f"{where} lies outside the asset's folder; refused"
                )
            data = read_bytes(target, self.limits)
        check_image_bytes(self.path, data, where, self.limits)
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGBA")
        except Exception as exc:
            raise self.bad(f"{where} cannot be decoded: {type(exc).__name__}") from None
