"""A scene and its meshes as instanced batches: one batch per asset, no GL.

Machines and fixtures that share an asset become one :class:`Batch` (the renderer draws it
with one instanced draw call); each asset is loaded once. Model matrices are composed
vectorised, and world bounds come from :func:`math3d.transform_bounds`.

Large static meshes are split into spatial chunks (:func:`chunk_mesh`) so that the
renderer can cull them piecewise: the rest of a node-split model file, and any triangle
asset placed exactly once, of at least ``2 * MIN_CHUNK_TRIANGLES`` triangles. Each chunk is
a batch of its own, named like the whole (``"<asset>#rest"``, ``"<asset>"``), with the
same instances; machine bounds and scene bounds are those of the whole mesh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from xrclient.core import math3d
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Scene, Transform, compose_transforms
from xrclient.scene.textures import Texture

I32 = npt.NDArray[np.int32]

#: machine index of fixture instances
FIXTURE = -1

#: the most spatial chunks one large static mesh is split into
MAX_CHUNKS = 64
#: no chunk holds fewer triangles than about this (a mesh of under twice it stays whole)
MIN_CHUNK_TRIANGLES = 10_000


@dataclass(frozen=True, slots=True, eq=False)
class Batch:
    """All instances of one asset: ``matrices[i]`` places instance ``i``."""

    asset: str
    mesh: MeshData
    matrices: math3d.F32  # (K, 4, 4) row-major model matrices
    machine: I32  # (K,) index into scene.machines, FIXTURE (-1) for fixtures

    @property
    def instance_count(self) -> int:
        return int(self.matrices.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class SceneGeometry:
    batches: tuple[Batch, ...]
    machine_bounds: math3d.F32  # (N, 2, 3) world AABBs, indexed like scene.machines
    bounds: math3d.F32  # (2, 3) world AABB of every instance; zeros when empty
    machine_count: int

    @property
    def instance_count(self) -> int:
        return sum(b.instance_count for b in self.batches)

    @property
    def triangle_count(self) -> int:
        """Triangles drawn per view, all instances counted."""
        return sum(b.mesh.triangle_count * b.instance_count for b in self.batches)

    @property
    def point_count(self) -> int:
        """Points drawn per view (point-primitive batches), all instances counted."""
        return sum(
            b.mesh.vertex_count * b.instance_count
            for b in self.batches
            if b.mesh.primitive == "points"
        )


#: vectorised ``Transform.matrix()`` over many transforms
compose_many = compose_transforms


#: ``split(asset, nodes)``: one mesh per node (in order) and the rest of the file (or None)
SplitLoader = Callable[[Asset, tuple[str, ...]], tuple[Sequence[MeshData], MeshData | None]]


def build_geometry(
    scene: Scene, load: Callable[[Asset], MeshData], split: SplitLoader | None = None
) -> SceneGeometry:
    """Group the scene's machines and fixtures into one batch per asset.

    Batches follow the order in which assets are first used (machines first, then
    fixtures). ``load`` is called once per used asset; its errors propagate. Machines with
    a ``node`` come after those: ``split`` is called once per asset they use, and each
    machine is a batch of its own (asset ``"<asset>#<node>"``), the rest of that file one
    fixture batch (``"<asset>#rest"``), all placed by the machines' shared transform (the
    asset's axis turn, identity where its up axis is the plant's).
    """
    transforms: list[Transform] = []
    assets: list[str] = []
    machine_of: list[int] = []
    for i, m in enumerate(scene.machines):
        if m.node:
            continue
        transforms.append(m.transform)
        assets.append(m.asset)
        machine_of.append(i)
    for f in scene.fixtures:
        transforms.append(f.transform)
        assets.append(f.asset)
        machine_of.append(FIXTURE)

    matrices = compose_many(transforms)
    machine_idx = np.asarray(machine_of, dtype=np.int32)
    asset_names = list(dict.fromkeys(assets))  # first-use order, unique
    lookup = {name: k for k, name in enumerate(asset_names)}
    asset_ids = np.fromiter((lookup[a] for a in assets), dtype=np.int64, count=len(assets))

    n = len(scene.machines)
    machine_bounds = np.zeros((n, 2, 3), dtype=np.float32)
    all_bounds: list[math3d.F32] = []
    batches: list[Batch] = []
    for k, name in enumerate(asset_names):
        if name not in scene.assets:
            raise KeyError(f"{scene.source}: no asset named '{name}'")
        mesh = load(scene.assets[name])
        sel = np.flatnonzero(asset_ids == k)
        mats = np.ascontiguousarray(matrices[sel])
        owners = np.ascontiguousarray(machine_idx[sel])
        world = math3d.transform_bounds(mats, mesh.bounds)
        is_machine = owners >= 0
        machine_bounds[owners[is_machine]] = world[is_machine]
        all_bounds.append(world)
        pieces = chunk_mesh(mesh) if len(sel) == 1 else [mesh]
        for piece in pieces:
            batches.append(Batch(asset=name, mesh=piece, matrices=mats, machine=owners))

    if any(m.node for m in scene.machines):
        if split is None:
            raise ValueError("machines with a node need a split loader")
        for batch in _node_batches(scene, split):
            world = math3d.transform_bounds(batch.matrices, batch.mesh.bounds)
            if batch.machine[0] >= 0:
                machine_bounds[batch.machine[0]] = world[0]
            all_bounds.append(world)
            batches.append(batch)

    if all_bounds:
        stacked = np.concatenate(all_bounds)
        bounds = np.stack([stacked[:, 0].min(axis=0), stacked[:, 1].max(axis=0)])
    else:
        bounds = np.zeros((2, 3), dtype=np.float32)
    return SceneGeometry(
        batches=tuple(batches),
        machine_bounds=machine_bounds,
        bounds=bounds.astype(np.float32),
        machine_count=n,
    )


def _node_batches(scene: Scene, split: SplitLoader) -> list[Batch]:
    """A batch per node machine and one for the rest of each file they come from."""
    by_asset: dict[str, list[int]] = {}
    for i, m in enumerate(scene.machines):
        if m.node:
            by_asset.setdefault(m.asset, []).append(i)
    out: list[Batch] = []
    for name, members in by_asset.items():
        if name not in scene.assets:
            raise KeyError(f"{scene.source}: no asset named '{name}'")
        meshes, rest = split(scene.assets[name], tuple(scene.machines[i].node for i in members))
        matrix = scene.machines[members[0]].transform.matrix()[None].astype(np.float32)
        for i, mesh in zip(members, meshes, strict=True):
            owner = np.array([i], dtype=np.int32)
            label = f"{name}#{scene.machines[i].node}"
            out.append(Batch(asset=label, mesh=mesh, matrices=matrix.copy(), machine=owner))
        if rest is not None:
            fixture = np.array([FIXTURE], dtype=np.int32)
            for piece in chunk_mesh(rest):
                out.append(
                    Batch(asset=f"{name}#rest", mesh=piece, matrices=matrix, machine=fixture)
                )
    return out


def chunk_mesh(
    mesh: MeshData, max_chunks: int = MAX_CHUNKS, min_triangles: int = MIN_CHUNK_TRIANGLES
) -> list[MeshData]:
    """A triangle mesh split into spatially compact chunks, or ``[mesh]`` when it has fewer
    than ``2 * min_triangles`` triangles (points are never split).

    The triangles' centroids are halved recursively along their longest extent, by count
    (``min(max_chunks, T // min_triangles)`` chunks, each of about ``T / chunks``
    triangles); a chunk keeps its triangles in the mesh's order and the vertices they use,
    in the mesh's order. The split is deterministic: the same mesh gives the same chunks.

    Texture coordinates follow their vertices; a chunk's ``texture_ranges`` are its own
    (a texture's triangles stay contiguous, as its triangles keep their order) and its
    ``textures`` only those it draws. A mesh whose ranges do not cover its triangles in
    order is not split.
    """
    count = mesh.triangle_count
    chunks = min(max_chunks, count // max(min_triangles, 1))
    if mesh.primitive != "triangles" or chunks < 2:
        return [mesh]
    texture_of = _triangle_textures(mesh)
    if texture_of is None:
        return [mesh]
    faces = mesh.indices
    centroids = mesh.positions[faces[:, 0]]
    centroids += mesh.positions[faces[:, 1]]
    centroids += mesh.positions[faces[:, 2]]
    labels = np.zeros(count, dtype=np.uint8)
    _halve(centroids, np.arange(count, dtype=np.int64), chunks, 0, labels)
    # a stable sort of small integers (radix): each chunk's triangles in the mesh's order
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=chunks))
    used = np.zeros(mesh.vertex_count, dtype=bool)
    remap = np.zeros(mesh.vertex_count, dtype=np.uint32)
    out: list[MeshData] = []
    for start, end in zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True):
        members = order[start:end]
        tri = faces[members]
        used[:] = False
        used[tri.reshape(-1)] = True
        verts = np.flatnonzero(used)
        remap[verts] = np.arange(len(verts), dtype=np.uint32)
        uvs, textures, ranges = _chunk_textures(mesh, verts, texture_of, members)
        out.append(
            replace(
                mesh,
                positions=mesh.positions[verts],
                normals=mesh.normals[verts],
                colors=mesh.colors[verts],
                indices=remap[tri],
                uvs=uvs,
                textures=textures,
                texture_ranges=ranges,
            )
        )
    return out


def _triangle_textures(mesh: MeshData) -> npt.NDArray[np.int32] | None:
    """Each triangle's texture index (-1: none) from ``texture_ranges``; an empty array
    for a mesh without ranges, None where the ranges do not cover the triangles in order."""
    ranges = np.asarray(mesh.texture_ranges, dtype=np.int64).reshape(-1, 3)
    if ranges.shape[0] == 0:
        return np.zeros(0, dtype=np.int32)
    counts = ranges[:, 1]
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if (counts < 0).any() or not np.array_equal(ranges[:, 0], firsts):
        return None
    if int(counts.sum()) != mesh.triangle_count:
        return None
    return np.repeat(ranges[:, 2], counts).astype(np.int32)


def _chunk_textures(
    mesh: MeshData,
    verts: npt.NDArray[np.intp],
    texture_of: npt.NDArray[np.int32],
    members: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.float32] | None, tuple[Texture, ...], I32]:
    """``uvs``, ``textures`` and ``texture_ranges`` of the chunk of ``mesh`` holding the
    triangles ``members`` (in order) and the vertices ``verts``."""
    uvs = None if mesh.uvs is None else mesh.uvs[verts]
    if texture_of.shape[0] == 0:
        return uvs, mesh.textures, mesh.texture_ranges
    ids = texture_of[members]
    firsts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
    counts = np.diff(np.concatenate([firsts, [len(ids)]]))
    run_ids = ids[firsts]
    drawn = sorted({int(i) for i in run_ids.tolist() if 0 <= i < len(mesh.textures)})
    if not drawn:
        return None, (), np.zeros((0, 3), dtype=np.int32)
    index = np.full(len(mesh.textures) + 1, -1, dtype=np.int64)
    index[drawn] = np.arange(len(drawn))
    runs = np.where((run_ids >= 0) & (run_ids < len(mesh.textures)), run_ids, len(mesh.textures))
    ranges = np.stack([firsts, counts, index[runs]], axis=1).astype(np.int32)
    return uvs, tuple(mesh.textures[i] for i in drawn), ranges


def _halve(
    centroids: npt.NDArray[np.float32],
    members: npt.NDArray[np.int64],
    chunks: int,
    first: int,
    labels: npt.NDArray[np.uint8],
) -> None:
    """Label ``members`` with chunks ``first .. first + chunks - 1`` by recursive halving."""
    if chunks == 1:
        labels[members] = first
        return
    points = centroids[members]
    axis = int(np.argmax(points.max(axis=0) - points.min(axis=0)))
    left = chunks // 2
    cut = len(members) * left // chunks
    order = np.argpartition(points[:, axis], cut)
    _halve(centroids, members[order[:cut]], left, first, labels)
    _halve(centroids, members[order[cut:]], chunks - left, first + left, labels)
