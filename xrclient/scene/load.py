"""A scene found by name or path, and its assets loaded once into instanced geometry."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from xrclient.errors import SceneError, XRClientError
from xrclient.progress import Progress, quiet
from xrclient.resources import scene_path
from xrclient.scene.geometry import SceneGeometry, build_geometry
from xrclient.scene.loaders import AssetCache, LoadLimits
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Scene
from xrclient.scene.nodes import NodeClaimError


def resolve_scene(name_or_path: str) -> Path:
    """A scene file path, or the name of a scene shipped with the package (``demo-plant``)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        return path
    shipped = scene_path(name_or_path)
    if shipped.is_file():
        return shipped
    raise XRClientError(f"{name_or_path}: no such scene file, and no shipped scene of that name")


def machine_index(scene: Scene, machine: str | None, option: str = "--select") -> int | None:
    """The index of machine id ``machine`` (None for None); an error naming ``option``."""
    if machine is None:
        return None
    if machine not in scene.machine_index:
        raise XRClientError(f"{option}: no machine {machine!r} in {scene.source}")
    return scene.machine_index[machine]


def load_geometry(
    scene: Scene, limits: LoadLimits, progress: Progress = quiet
) -> tuple[SceneGeometry, AssetCache]:
    """Load every asset the scene uses once, and build the instanced geometry."""
    cache = AssetCache(limits)
    used = {m.asset for m in scene.machines} | {f.asset for f in scene.fixtures}
    # an asset that only node machines use is read once, split, and never loaded whole
    total = len(used)
    started = time.perf_counter()

    def load(asset: Asset) -> MeshData:
        mesh = cache.get(
            asset.path, kind=asset.kind, scale=asset.scale, point_budget=asset.point_budget
        )
        if total > 4:
            progress(f"  loaded asset {cache.loads}/{total}: {asset.path.name}")
        return mesh

    def split(asset: Asset, nodes: tuple[str, ...]) -> tuple[Sequence[MeshData], MeshData | None]:
        try:
            parts = cache.get_nodes(asset.path, nodes, scale=asset.scale)
        except NodeClaimError as exc:
            claimed = [i for i, m in enumerate(scene.machines) if m.asset == asset.name and m.node]
            key = f"machines[{claimed[exc.claim]}].node"
            detail = exc.detail
            if exc.other is not None:
                detail += f" (claimed by machines[{claimed[exc.other]}].node)"
            raise SceneError(scene.source, key, detail) from None
        return parts.machines, parts.rest

    geometry = build_geometry(scene, load, split)
    progress(
        f"{scene.source}: {len(scene.machines)} machines, {total} assets, "
        f"{geometry.triangle_count:,} triangles drawn "
        f"(loaded in {time.perf_counter() - started:.2f} s)"
    )
    return geometry, cache
