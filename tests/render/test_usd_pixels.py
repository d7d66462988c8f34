"""An OpenUSD stage drawn: displayColor and a preview-surface colour land on their prims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade

from xrclient.backends.headless import HeadlessBackend
from xrclient.core.visuals import MachineVisuals
from xrclient.render.renderer import Renderer
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.schema import load_scene

from .helpers import box_mask, dominant, screen_bbox

SCENE = """
format = 1

[plant]
name = "Hall"

[assets.plant]
path = "hall.usda"

[[lines]]
id = "A"

[[machines]]
id = "RED"
type = "t"
asset = "plant"
line = "A"
node = "Red"

[[machines]]
id = "GREEN"
type = "t"
asset = "plant"
line = "A"
node = "Green"
"""


def box(stage: Usd.Stage, where: str, x: float) -> UsdGeom.Mesh:
    """A 1 x 1 x 2 box (tall in Z) standing on z = 0 at ``x``."""
    mesh = UsdGeom.Mesh.Define(stage, where)
    corners = [(cx - 0.5, cy - 0.5, cz) for cx in (0, 1) for cy in (0, 1) for cz in (0, 2)]
    mesh.CreatePointsAttr([Gf.Vec3f(*c) for c in corners])
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.CreateFaceVertexCountsAttr([4] * 6)
    mesh.CreateFaceVertexIndicesAttr([i for f in faces for i in f])
    mesh.AddTranslateOp().Set(Gf.Vec3d(x, 0, 0))
    return mesh


def hall(path: Path) -> None:
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, "Z")
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    box(stage, "/World/Red", -1.5).CreateDisplayColorAttr([(1.0, 0.0, 0.0)])
    green = box(stage, "/World/Green", 1.5)
    material = UsdShade.Material.Define(stage, "/World/Looks/Green")
    shader = UsdShade.Shader.Define(stage, "/World/Looks/Green/Surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set((0.0, 1.0, 0.0))
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(green.GetPrim()).Bind(material)
    stage.GetRootLayer().Save()


def test_usd_prims_draw_in_their_colours_standing_up(
    headless: HeadlessBackend, tmp_path: Path
) -> None:
    hall(tmp_path / "hall.usda")
    (tmp_path / "plant.toml").write_text(SCENE)
    geometry, _ = load_geometry(load_scene(tmp_path / "plant.toml"), LoadLimits())
    renderer = Renderer(headless.ctx, geometry)
    view = headless.view_from((0.0, 1.0, 7.0), (0.0, 1.0, 0.0), fov_deg=55.0)
    headless.render(renderer, [view], MachineVisuals(2))
    image = headless.read_rgb()
    renderer.release()

    red_box = screen_bbox(view, geometry.machine_bounds[0], headless.size)
    green_box = screen_bbox(view, geometry.machine_bounds[1], headless.size)
    red, green = dominant(image, 0), dominant(image, 1)
    assert red.sum() > 200 and green.sum() > 200
    assert not red[~box_mask(image.shape, red_box)].any()
    assert not green[~box_mask(image.shape, green_box)].any()
    # the stage is Z up: its 2 m tall boxes stand up in the Y-up plant
    ys, xs = np.nonzero(red)
    assert (ys.max() - ys.min()) > 1.5 * (xs.max() - xs.min())
