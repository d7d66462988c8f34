"""A scene and its meshes as instanced batches: one batch per asset, no GL.

Machines and fixtures that share an asset become one :class:`Batch` (the renderer draws it
with one instanced draw call); each asset is loaded once. Model matrices are composed
vectorised, and world bounds come from :func:`math3d.transform_bounds`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core import math3d
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Scene, Transform, compose_transforms

I32 = npt.NDArray[np.int32]

#: machine index of fixture instances
FIXTURE = -1


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
        batches.append(Batch(asset=name, mesh=mesh, matrices=mats, machine=owners))

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
            out.append(Batch(asset=f"{name}#rest", mesh=rest, matrices=matrix, machine=fixture))
    return out
