"""The demo plant loaded once, and machines that can be clicked from a view."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.resources import scene_path
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.model import Scene
from xrclient.scene.picking import Picker, ray_from_pixel
from xrclient.scene.schema import load_scene


@lru_cache(maxsize=1)
def demo() -> tuple[Scene, SceneGeometry, Picker]:
    scene = load_scene(scene_path("demo-plant"))
    geometry, _ = load_geometry(scene, LoadLimits())
    return scene, geometry, Picker(geometry)


def machine_pixel(geometry: SceneGeometry, view: View, index: int) -> tuple[float, float]:
    """Window position (origin top-left) of a machine's bounds centre."""
    b = geometry.machine_bounds[index].astype(np.float64)
    ndc = math3d.transform_points(view.view_projection, [(b[0] + b[1]) / 2])[0]
    _, _, w, h = view.viewport
    return float((ndc[0] + 1) / 2 * w), float((1 - ndc[1]) / 2 * h)


def clickable(view: View, prefix: str = "", margin: float = 40.0) -> list[tuple[int, float, float]]:
    """Machines whose centre pixel picks the machine itself, well inside the view."""
    scene, geometry, picker = demo()
    _, _, w, h = view.viewport
    found = []
    for i, m in enumerate(scene.machines):
        if not m.id.startswith(prefix):
            continue
        x, y = machine_pixel(geometry, view, i)
        if not (margin < x < w - margin and margin < y < h - margin):
            continue
        hit = picker.pick(ray_from_pixel(view, x, y))
        if hit is not None and hit.machine == i:
            found.append((i, x, y))
    return found
