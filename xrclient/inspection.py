"""What ``xrclient inspect`` reports for one file: a mesh, a scan or a scene."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from xrclient.errors import AssetError, SceneError
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits, describe_file
from xrclient.scene.model import Scene
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
    geometry, cache = load_geometry(scene, limits)
    bounds = (
        geometry.bounds.astype(np.float64).round(3).tolist() if geometry.instance_count else None
    )
    types = Counter(m.type for m in scene.machines)
    record: dict[str, object] = {
        "kind": "scene",
        "plant": scene.plant.name,
        "machines": len(scene.machines),
        "machine_types": dict(sorted(types.items())),
        "lines": [line.id for line in scene.lines],
        "fixtures": len(scene.fixtures),
        "assets": len(scene.assets),
        "asset_files_loaded": cache.loads,
        "triangles": geometry.triangle_count,
        "points": geometry.point_count,
        "viewpoints": [vp.name for vp in scene.viewpoints],
        "lights": len(scene.lights),
        "twin_url": scene.twin.url or None,
        "bindings": {
            kind: sum(getattr(b, kind) is not None for b in scene.bindings)
            for kind in ("color", "label", "gauge", "alarm")
        },
        "bounds": bounds,
    }
    nodes = _node_assets(scene, geometry)
    if nodes:  # machines taken from nodes of a model file
        record["node_assets"] = nodes
        record["node_machines"] = {m.id: m.node for m in scene.machines if m.node}
    return record


def _node_assets(scene: Scene, geometry: SceneGeometry) -> dict[str, dict[str, int]]:
    """For each asset that machines take nodes from: the nodes claimed, and the triangles
    of the rest of the file (drawn as static geometry)."""
    claimed = Counter(m.asset for m in scene.machines if m.node)
    rest: Counter[str] = Counter()
    for b in geometry.batches:  # the rest of a large file comes in several chunks
        rest[b.asset] += b.mesh.triangle_count
    return {
        name: {"nodes_claimed": count, "rest_triangles": rest.get(f"{name}#rest", 0)}
        for name, count in sorted(claimed.items())
    }
