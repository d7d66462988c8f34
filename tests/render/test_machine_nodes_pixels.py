"""Machines from nodes of one GLB, rendered: a tint reaches only its own node's pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from trimesh.exchange.gltf import export_glb

from xrclient.backends.headless import HeadlessBackend
from xrclient.core.visuals import MachineVisuals
from xrclient.render.renderer import Renderer
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.schema import load_scene

from .helpers import RED, box_mask, dominant, screen_bbox

SCENE = """
format = 1

[plant]
name = "Hall"

[assets.plant]
path = "hall.glb"

[[lines]]
id = "A"
{machines}
"""


def hall_glb() -> bytes:
    """Hall / {Line A / {Left, Right}, Floor}: two 1 m boxes at x = -1.5 and 1.5 on a floor."""
    s = trimesh.Scene()
    g = s.graph
    g.update(frame_from=g.base_frame, frame_to="Hall", matrix=np.eye(4))
    g.update(frame_from="Hall", frame_to="Line A", matrix=np.eye(4))
    for name, x in (("Left", -1.5), ("Right", 1.5)):
        s.add_geometry(
            trimesh.creation.box((1, 1, 1)),
            node_name=name,
            geom_name=name.lower(),
            parent_node_name="Line A",
            transform=trimesh.transformations.translation_matrix([x, 0.5, 0.0]),
        )
    s.add_geometry(
        trimesh.creation.box((8, 0.1, 4)),
        node_name="Floor",
        geom_name="floor",
        parent_node_name="Hall",
        transform=trimesh.transformations.translation_matrix([0.0, -0.05, 0.0]),
    )
    return export_glb(s)


def test_tinting_one_node_machine_changes_only_its_pixels(
    headless: HeadlessBackend, tmp_path: Path
) -> None:
    (tmp_path / "hall.glb").write_bytes(hall_glb())
    machines = "".join(
        f'\n[[machines]]\nid = "{n}"\ntype = "t"\nasset = "plant"\nline = "A"\nnode = "{n}"\n'
        for n in ("Left", "Right")
    )
    (tmp_path / "plant.toml").write_text(SCENE.format(machines=machines))
    geometry, _ = load_geometry(load_scene(tmp_path / "plant.toml"), LoadLimits())
    renderer = Renderer(headless.ctx, geometry)
    view = headless.view_from((0.0, 4.0, 6.0), (0.0, 0.0, 0.0), fov_deg=55.0)
    visuals = MachineVisuals(2)
    headless.render(renderer, [view], visuals)
    before = headless.read_rgb().astype(np.int32)
    visuals.set_tint(1, RED)
    headless.render(renderer, [view], visuals)
    after = headless.read_rgb()
    renderer.release()

    changed = np.abs(after.astype(np.int32) - before).max(axis=2) > 8
    right = box_mask(after.shape, screen_bbox(view, geometry.machine_bounds[1], headless.size))
    left = box_mask(after.shape, screen_bbox(view, geometry.machine_bounds[0], headless.size))
    assert changed[right].sum() > 100
    assert not changed[~right].any()  # neither the other machine nor the floor
    red = dominant(after, 0)
    assert red[right].sum() > 100 and not red[left].any()
