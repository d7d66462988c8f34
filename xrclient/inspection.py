"""What ``xrclient inspect`` reports for one file: a mesh, a scan or a scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xrclient.core.math3d import F32, transform_bounds
from xrclient.errors import AssetError, SceneError
from xrclient.scene.loaders import AssetCache, LoadLimits, describe_file
from xrclient.scene.model import Fixture, Machine
from xrclient.scene.schema import load_scene


def describe(file: Path, limits: LoadLimits) -> dict[str, object]:
    """A JSON-ready record: ``file``, ``ok`` and either the counts or ``error`` + ``reason``."""
    try:
        if file.suffix.lower() == ".toml":
            return {"file": str(file), "ok": True, **_describe_scene(file, limits)}
        info = describe_file(file, limits)
        return {**info, "file": str(file), "ok": True}
    except SceneError as exc:
        return {"file": str(file), "ok": False, "reason": "scene", "error": str(exc)}
    except AssetError as exc:
        return {"file": str(file), "ok": False, "reason": exc.kind, "error": str(exc)}
    except Exception as exc:  # a report per file: one unexpected failure must not hide the rest
        return {
            "file": str(file),
            "ok": False,
            "reason": "internal-error",
            "error": f"{file}: unexpected {type(exc).__name__}: {exc}",
        }


def _describe_scene(file: Path, limits: LoadLimits) -> dict[str, object]:
    scene = load_scene(file)
    cache = AssetCache(limits)
    triangles = 0
    points = 0
    lows, highs = [], []
    instances: dict[str, list[F32]] = {}
    placed: list[Machine | Fixture] = [*scene.machines, *scene.fixtures]
    for item in placed:
        instances.setdefault(item.asset, []).append(item.transform.matrix())
    for name, matrices in instances.items():
        asset = scene.assets[name]
        try:
            mesh = cache.get(
                asset.path, kind=asset.kind, scale=asset.scale, point_budget=asset.point_budget
            )
        except AssetError as exc:
            raise SceneError(file, f"assets.{name}", str(exc)) from exc
        triangles += mesh.triangle_count * len(matrices)
        if mesh.primitive == "points":
            points += mesh.vertex_count * len(matrices)
        if mesh.vertex_count:
            world = transform_bounds(np.stack(matrices), mesh.bounds)
            lows.append(world[:, 0].min(axis=0))
            highs.append(world[:, 1].max(axis=0))
    bounds = (
        [
            np.min(lows, axis=0).astype(np.float64).round(3).tolist(),
            np.max(highs, axis=0).astype(np.float64).round(3).tolist(),
        ]
        if lows
        else None
    )
    types: dict[str, int] = {}
    for m in scene.machines:
        types[m.type] = types.get(m.type, 0) + 1
    return {
        "kind": "scene",
        "plant": scene.plant.name,
        "machines": len(scene.machines),
        "machine_types": dict(sorted(types.items())),
        "lines": [line.id for line in scene.lines],
        "fixtures": len(scene.fixtures),
        "assets": len(scene.assets),
        "asset_files_loaded": cache.loads,
        "triangles": triangles,
        "points": points,
        "viewpoints": [vp.name for vp in scene.viewpoints],
        "lights": len(scene.lights),
        "bounds": bounds,
    }
