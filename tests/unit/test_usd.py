"""OpenUSD assets: stages authored here with usd-core, read through the child process."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, UsdUtils, Vt

from xrclient.errors import (
    AssetError,
    AssetLimitError,
    MalformedAssetError,
    SceneError,
    UnsupportedAssetError,
)
from xrclient.scene import usd_load, usdz
from xrclient.scene.geometry import FIXTURE
from xrclient.scene.init import plan_scene, scene_toml
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits, describe_file, load_mesh
from xrclient.scene.notices import AssetWarning
from xrclient.scene.schema import load_scene

F64 = npt.NDArray[np.float64]
CUBE_POINTS = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 2)]
CUBE_FACES = [
    (0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3),
]  # fmt: skip
L_SHAPE = [(0, 0, 0), (2, 0, 0), (2, 1, 0), (1, 1, 0), (1, 2, 0), (0, 2, 0)]


def stage_at(path: Path, up: str = "Y", meters: float = 1.0) -> Usd.Stage:
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, up)
    UsdGeom.SetStageMetersPerUnit(stage, meters)
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    return stage


def add_mesh(
    stage: Usd.Stage,
    where: str,
    points: Sequence[Sequence[float]] = CUBE_POINTS,
    faces: Sequence[Sequence[int]] = CUBE_FACES,
    at: Sequence[float] | None = None,
) -> UsdGeom.Mesh:
    mesh = UsdGeom.Mesh.Define(stage, where)
    mesh.CreatePointsAttr([Gf.Vec3f(*p) for p in points])
    mesh.CreateFaceVertexCountsAttr([len(f) for f in faces])
    mesh.CreateFaceVertexIndicesAttr([i for f in faces for i in f])
    if at is not None:
        mesh.AddTranslateOp().Set(Gf.Vec3d(*at))
    return mesh


def hall(path: Path) -> Path:
    """World / Hall / {Line_A / {Press_01 (cube at x=5), Press_02 (cube at x=10)}, Floor}."""
    stage = stage_at(path)
    UsdGeom.Xform.Define(stage, "/World/Hall")
    UsdGeom.Xform.Define(stage, "/World/Hall/Line_A")
    for name, x in (("Press_01", 5.0), ("Press_02", 10.0)):
        mesh = add_mesh(stage, f"/World/Hall/Line_A/{name}", at=(x, 0, 0))
        attr = mesh.GetPrim().CreateAttribute("assetId", Sdf.ValueTypeNames.String)
        attr.Set(f"ID-{name[-2:]}")
    add_mesh(stage, "/World/Hall/Floor", L_SHAPE, [range(6)])
    stage.GetRootLayer().Save()
    return path


def scene_text(asset: str, machines: str = "", extra: str = "") -> str:
    return (
        f'format = 1\n[plant]\nname = "p"\n[assets.plant]\npath = "{asset}"\n{extra}\n'
        f'[[lines]]\nid = "A"\n{machines}'
    )


def machine(mid: str, node: str | None = None) -> str:
    tail = f'node = "{node}"\n' if node else ""
    return f'[[machines]]\nid = "{mid}"\ntype = "t"\nasset = "plant"\nline = "A"\n{tail}'


def world_positions(geometry: object, k: int = 0) -> F64:
    batch = geometry.batches[k]  # type: ignore[attr-defined]  # a SceneGeometry
    m = batch.matrices[0].astype(np.float64)
    p = batch.mesh.positions.astype(np.float64)
    out: F64 = p @ m[:3, :3].T + m[:3, 3]
    return out


def rows(values: npt.ArrayLike) -> set[tuple[float, ...]]:
    return {tuple(np.round(r, 5)) for r in np.asarray(values, dtype=np.float64)}


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("suffix", [".usda", ".usdc"])
def test_a_cube_is_scaled_by_meters_per_unit_and_turned_to_y_up(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"cube{suffix}"
    stage = stage_at(path, "Z", 0.01)
    add_mesh(stage, "/World/Cube")
    stage.GetRootLayer().Save()
    mesh = load_mesh(path)
    authored = np.asarray(CUBE_POINTS, dtype=np.float64)
    assert mesh.triangle_count == 12
    assert rows(mesh.positions) == rows(authored * 0.01)
    (tmp_path / "s.toml").write_text(scene_text(path.name, machine("M1")))
    scene = load_scene(tmp_path / "s.toml")
    assert scene.assets["plant"].up_axis == "z"
    geometry, _ = load_geometry(scene, LoadLimits())
    turned = np.stack([authored[:, 0], authored[:, 2], -authored[:, 1]], axis=1) * 0.01
    assert rows(world_positions(geometry)) == rows(turned)
    # the scene's own up_axis wins over the stage's
    (tmp_path / "s.toml").write_text(scene_text(path.name, machine("M1"), 'up_axis = "y"'))
    assert load_scene(tmp_path / "s.toml").assets["plant"].up_axis == "y"


def test_a_concave_l_shaped_polygon_keeps_its_area(tmp_path: Path) -> None:
    path = tmp_path / "l.usda"
    stage = stage_at(path)
    add_mesh(stage, "/World/L", L_SHAPE, [range(6)])
    stage.GetRootLayer().Save()
    mesh = load_mesh(path)
    p = mesh.positions.astype(np.float64)[mesh.indices]
    area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1).sum()
    x, y = np.asarray(L_SHAPE, dtype=np.float64)[:, 0], np.asarray(L_SHAPE)[:, 1]
    shoelace = 0.5 * abs(float((x * np.roll(y, -1) - np.roll(x, -1) * y).sum()))
    assert mesh.triangle_count == 4
    assert area == pytest.approx(shoelace) == 3.0


def test_display_colours_and_a_preview_surface_colour(tmp_path: Path) -> None:
    path = tmp_path / "c.usda"
    stage = stage_at(path)
    add_mesh(stage, "/World/Red").CreateDisplayColorAttr([(1.0, 0.0, 0.0)])
    ramp = add_mesh(stage, "/World/Ramp", at=(3, 0, 0))
    colours = [(0.2 * (i % 5), 0.1, 0.05) for i in range(8)]
    primvar = ramp.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex)
    primvar.Set(colours)
    blue = add_mesh(stage, "/World/Blue", at=(6, 0, 0))
    blue.CreateDisplayColorAttr([(1.0, 1.0, 0.0)])  # the bound material wins
    material = UsdShade.Material.Define(stage, "/World/Looks/Blue")
    shader = UsdShade.Shader.Define(stage, "/World/Looks/Blue/Surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set((0.0, 0.0, 1.0))
    shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).Set(0.5)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(blue.GetPrim()).Bind(material)
    stage.GetRootLayer().Save()
    mesh = load_mesh(path)
    x = mesh.positions[:, 0]
    red, ramp_rows, blue_rows = x < 2, (x > 2) & (x < 5), x > 5
    assert np.allclose(mesh.colors[red], [1.0, 0.0, 0.0, 1.0])
    assert np.allclose(mesh.colors[blue_rows], [0.0, 0.0, 1.0, 0.5], atol=1 / 255)  # 8-bit factor
    expected = {
        (round(px - 3, 4), round(py, 4), round(pz, 4)): c
        for (px, py, pz), c in zip(
            np.asarray(CUBE_POINTS, dtype=float) + np.array([3.0, 0.0, 0.0]), colours, strict=True
        )
    }
    for p, c in zip(mesh.positions[ramp_rows], mesh.colors[ramp_rows], strict=True):
        key = (round(float(p[0]) - 3, 4), round(float(p[1]), 4), round(float(p[2]), 4))
        assert np.allclose(c, [*expected[key], 1.0], atol=1e-6)  # linear, not 8-bit sRGB
    assert "Blue" in mesh.materials


def preview_material(stage: Usd.Stage, where: str, rgb: tuple[float, float, float]) -> Any:
    material = UsdShade.Material.Define(stage, where)
    shader = UsdShade.Shader.Define(stage, f"{where}/Surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(rgb)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    return material


def test_material_bind_subsets_colour_their_faces(tmp_path: Path) -> None:
    """Omniverse and most DCC exports give one mesh several materials by GeomSubsets."""
    path = tmp_path / "subsets.usda"
    stage = stage_at(path)
    cube = add_mesh(stage, "/World/Cube")
    binding = UsdShade.MaterialBindingAPI.Apply(cube.GetPrim())
    binding.Bind(preview_material(stage, "/World/Looks/Grey", (0.5, 0.5, 0.5)))
    red = preview_material(stage, "/World/Looks/Red", (1.0, 0.0, 0.0))
    green = preview_material(stage, "/World/Looks/Green", (0.0, 1.0, 0.0))
    for name, faces, material in (("red", [0, 1], red), ("green", [1, 2], green)):
        subset = UsdGeom.Subset.Define(stage, f"/World/Cube/{name}")
        subset.CreateElementTypeAttr(UsdGeom.Tokens.face)
        subset.CreateFamilyNameAttr("materialBind")
        subset.CreateIndicesAttr(faces)
        UsdShade.MaterialBindingAPI.Apply(subset.GetPrim()).Bind(material)
    stage.GetRootLayer().Save()
    mesh = load_mesh(path)
    assert mesh.triangle_count == 12  # six quads, none lost or doubled
    colours = [tuple(np.round(c[:3], 2)) for c in mesh.colors[mesh.indices[:, 0]]]
    # face 1 is in both subsets: the first claims it; faces 3-5 keep the mesh's material
    assert colours.count((1.0, 0.0, 0.0)) == 4
    assert colours.count((0.0, 1.0, 0.0)) == 2
    assert colours.count((0.5, 0.5, 0.5)) == 6
    area = (
        np.linalg.norm(
            np.cross(
                *(
                    mesh.positions[mesh.indices[:, k]] - mesh.positions[mesh.indices[:, 0]]
                    for k in (1, 2)
                )
            ),
            axis=1,
        ).sum()
        / 2
    )
    assert area == pytest.approx(2 * (1 * 1) + 4 * (1 * 2), rel=1e-6)


def test_a_subset_face_out_of_range_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad-subset.usda"
    stage = stage_at(path)
    cube = add_mesh(stage, "/World/Cube")
    subset = UsdGeom.Subset.Define(stage, "/World/Cube/bad")
    subset.CreateElementTypeAttr(UsdGeom.Tokens.face)
    subset.CreateFamilyNameAttr("materialBind")
    subset.CreateIndicesAttr([0, 6])
    UsdShade.MaterialBindingAPI.Apply(subset.GetPrim()).Bind(
        preview_material(stage, "/World/Looks/Red", (1.0, 0.0, 0.0))
    )
    assert cube
    stage.GetRootLayer().Save()
    with pytest.raises(MalformedAssetError, match="GeomSubset 0: a face index is out of range"):
        load_mesh(path)


def textured_stage(path: Path, texture: str = "tex.png") -> Path:
    stage = stage_at(path)
    mesh = add_mesh(stage, "/World/Quad", [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)], [range(4)])
    st = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar(
        "st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.faceVarying
    )
    st.Set(Vt.Vec2fArray([(0, 0), (1, 0), (1, 1), (0, 1)]))
    material = UsdShade.Material.Define(stage, "/World/Looks/Tex")
    shader = UsdShade.Shader.Define(stage, "/World/Looks/Tex/Surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    reader = UsdShade.Shader.Define(stage, "/World/Looks/Tex/Image")
    reader.CreateIdAttr("UsdUVTexture")
    reader.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(texture)
    out = reader.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(out)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(material)
    stage.GetRootLayer().Save()
    return path


def test_a_uv_texture_reaches_the_scene_with_its_coordinates(tmp_path: Path) -> None:
    Image.new("RGB", (4, 2), (255, 0, 0)).save(tmp_path / "tex.png")
    path = textured_stage(tmp_path / "t.usda")
    contents = usd_load.read_usd(path, LoadLimits())
    (geometry,) = contents.scene.geometry.values()
    material = geometry.visual.material
    assert material.baseColorTexture.size == (4, 2)
    assert rows(geometry.visual.uv) == rows([(0, 0), (1, 0), (1, 1), (0, 1)])
    mesh = load_mesh(path)
    assert mesh.textured and mesh.uvs is not None
    (texture,) = mesh.textures
    assert texture.pixels.shape == (2, 4, 4)
    assert (texture.pixels[..., :3] == [255, 0, 0]).all()
    assert np.allclose(mesh.colors, 1.0)  # no factor: the texture as it is
    # st has v = 0 at the bottom of the image, MeshData.uvs at the top
    corners = {tuple(p[:2]): tuple(uv) for p, uv in zip(mesh.positions, mesh.uvs, strict=True)}
    assert corners == {(0, 0): (0, 1), (1, 0): (1, 1), (1, 1): (1, 0), (0, 1): (0, 0)}


def test_a_missing_texture_is_a_warning(tmp_path: Path) -> None:
    path = textured_stage(tmp_path / "t.usda", "nowhere.png")
    with pytest.warns(UserWarning, match="not found"):
        assert load_mesh(path).triangle_count == 2


# --------------------------------------------------------------------------- instancing


def test_instanceable_prims_are_copied_at_their_places(tmp_path: Path) -> None:
    path = tmp_path / "inst.usda"
    stage = stage_at(path)
    proto = stage.CreateClassPrim("/Proto")
    add_mesh(stage, "/Proto/Body")
    assert proto
    for name, x in (("A", 0.0), ("B", 10.0), ("C", 20.0)):
        xf = UsdGeom.Xform.Define(stage, f"/World/{name}")
        xf.AddTranslateOp().Set(Gf.Vec3d(x, 0, 0))
        xf.GetPrim().GetReferences().AddInternalReference("/Proto")
        xf.GetPrim().SetInstanceable(True)
    stage.GetRootLayer().Save()
    mesh = load_mesh(path)
    assert mesh.triangle_count == 36 and mesh.parts == 3
    lows = sorted({round(float(v), 4) for v in mesh.positions[:, 0]})
    assert lows == [0.0, 1.0, 10.0, 11.0, 20.0, 21.0]


def instancer_stage(path: Path, indices: Sequence[int], invisible: Sequence[int] = ()) -> Path:
    stage = stage_at(path)
    inst = UsdGeom.PointInstancer.Define(stage, "/World/Crates")
    add_mesh(stage, "/World/Crates/Prototypes/Crate")
    inst.CreatePrototypesRel().AddTarget("/World/Crates/Prototypes/Crate")
    inst.CreateProtoIndicesAttr(list(indices))
    inst.CreatePositionsAttr([Gf.Vec3f(5.0 * i, 0, 0) for i in range(len(indices))])
    turn = Gf.Rotation(Gf.Vec3d(0, 0, 1), 90).GetQuat()
    inst.CreateOrientationsAttr([Gf.Quath(turn)] * len(indices))
    inst.CreateScalesAttr([Gf.Vec3f(1, 1, 1)] * len(indices))
    if invisible:
        inst.CreateInvisibleIdsAttr(list(invisible))
    stage.GetRootLayer().Save()
    return path


def test_a_point_instancer_places_three_copies(tmp_path: Path) -> None:
    mesh = load_mesh(instancer_stage(tmp_path / "pi.usda", [0, 0, 0]))
    assert mesh.triangle_count == 36 and mesh.parts == 3
    # a quarter turn about Z takes the unit cube's x 0..1 to x -1..0
    xs = sorted({round(float(v), 4) for v in mesh.positions[:, 0]})
    assert xs == [-1.0, 0.0, 4.0, 5.0, 9.0, 10.0]
    assert not (tmp_path / "pi.usda").read_text().count("Prototypes") == 0
    hidden = load_mesh(instancer_stage(tmp_path / "pi2.usda", [0, 0, 0], invisible=[1]))
    assert hidden.parts == 2
    assert sorted({round(float(v), 4) for v in hidden.positions[:, 0]}) == [-1, 0, 9, 10]


# --------------------------------------------------------------------------- nodes, init


def test_prims_are_machine_nodes(tmp_path: Path) -> None:
    hall(tmp_path / "hall.usda")
    text = scene_text("hall.usda", machine("P1", "Line_A/Press_01"))
    (tmp_path / "s.toml").write_text(text)
    geometry, _ = load_geometry(load_scene(tmp_path / "s.toml"), LoadLimits())
    (press,) = [b for b in geometry.batches if b.machine[0] == 0]
    (rest,) = [b for b in geometry.batches if b.machine[0] == FIXTURE]
    assert press.mesh.triangle_count == 12
    assert rows(world_positions(geometry, geometry.batches.index(press)))
    assert float(press.mesh.positions[:, 0].min()) == pytest.approx(5.0)
    assert rest.mesh.triangle_count == 12 + 4
    (tmp_path / "s.toml").write_text(scene_text("hall.usda", machine("P1", "Hall/Line_A/Pres_01")))
    with pytest.raises(SceneError, match=r"machines\[0\].node.*did you mean.*Press_01"):
        load_geometry(load_scene(tmp_path / "s.toml"), LoadLimits())


def test_scene_init_over_a_usdc_takes_ids_from_an_attribute(tmp_path: Path) -> None:
    model = hall(tmp_path / "hall.usdc")
    stage = Usd.Stage.Open(str(model))
    stage.GetPrimAtPath("/World/Hall/Line_A/Press_02").SetCustomDataByKey("assetId", "CD-2")
    stage.GetRootLayer().Save()
    result = plan_scene(model, globs=["Press_*"], id_from="extras.assetId")
    ids = sorted(m.id for m in result.machines)
    assert ids == ["ID-01", "ID-02"]  # the attribute is found before customData
    out = tmp_path / "scene.toml"
    out.write_text(scene_toml(result, out))
    scene = load_scene(out)
    geometry, _ = load_geometry(scene, LoadLimits())
    assert {m.node for m in scene.machines} == {"/Hall/Line_A/Press_01", "/Hall/Line_A/Press_02"}
    assert sum(b.mesh.triangle_count for b in geometry.batches) == 12 + 12 + 4


def test_customdata_is_an_id_too(tmp_path: Path) -> None:
    model = tmp_path / "h.usda"
    stage = stage_at(model)
    UsdGeom.Xform.Define(stage, "/World/Hall")
    add_mesh(stage, "/World/Hall/Press").GetPrim().SetCustomDataByKey("tag", "T-7")
    stage.GetRootLayer().Save()
    result = plan_scene(model, globs=["Press"], id_from="extras.tag")
    assert [m.id for m in result.machines] == ["T-7"]


def test_a_usdz_package_loads_with_its_texture(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2), (0, 255, 0)).save(tmp_path / "tex.png")
    layer = textured_stage(tmp_path / "t.usda")
    package = tmp_path / "t.usdz"
    assert UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(layer)), str(package))
    os.remove(tmp_path / "tex.png")  # read from the package, not the folder
    mesh = load_mesh(package)
    assert mesh.triangle_count == 2 and mesh.textured
    assert (mesh.textures[0].pixels[..., :3] == [0, 255, 0]).all()
    info = describe_file(package)
    assert info["kind"] == "mesh" and info["triangles"] == 2


# --------------------------------------------------------------------------- hostile


def test_a_reference_cycle_is_refused(tmp_path: Path) -> None:
    for name, other in (("a", "b"), ("b", "a")):
        stage = Usd.Stage.CreateNew(str(tmp_path / f"{name}.usda"))
        prim = stage.DefinePrim(f"/{name.upper()}", "Xform")
        prim.GetReferences().AddReference(f"./{other}.usda")
        stage.SetDefaultPrim(prim)
        stage.GetRootLayer().Save()
    with pytest.raises(MalformedAssetError, match=r"composition errors.*ArcCycle"):
        load_mesh(tmp_path / "a.usda")


def test_a_reference_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    outside = stage_at(tmp_path / "secret.usda")
    add_mesh(outside, "/World/Cube")
    outside.GetRootLayer().Save()
    stage = stage_at(tmp_path / "in" / "m.usda")
    stage.GetPrimAtPath("/World").GetReferences().AddReference("../secret.usda")
    stage.GetRootLayer().Save()
    with pytest.raises(MalformedAssetError, match="outside the asset's folder"):
        load_mesh(tmp_path / "in" / "m.usda")


def cube_layer(tmp_path: Path) -> Path:
    stage = stage_at(tmp_path / "cube.usda")
    add_mesh(stage, "/World/Cube")
    stage.GetRootLayer().Save()
    return tmp_path / "cube.usda"


def test_a_deflated_usdz_entry_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "d.usdz"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(cube_layer(tmp_path), "cube.usda")
    with pytest.raises(UnsupportedAssetError, match="compressed"):
        load_mesh(package)


def test_a_usdz_entry_declaring_a_huge_size_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "bomb.usdz"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_STORED) as archive:
        archive.write(cube_layer(tmp_path), "cube.usda")
    data = bytearray(package.read_bytes())
    at = data.rindex(b"PK\x01\x02")
    struct.pack_into("<II", data, at + 20, 0xFFFFFFF0, 0xFFFFFFF0)
    package.write_bytes(bytes(data))
    with pytest.raises(AssetLimitError, match="declares"):
        load_mesh(package)


def test_a_usdz_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "many.usdz"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_STORED) as archive:
        archive.write(cube_layer(tmp_path), "cube.usda")
        for i in range(usdz.MAX_ENTRIES):
            archive.writestr(f"pad/{i}.txt", b"")
    with pytest.raises(AssetLimitError, match="entries"):
        load_mesh(package)


def test_a_usdz_entry_escaping_the_package_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "esc.usdz"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_STORED) as archive:
        archive.write(cube_layer(tmp_path), "cube.usda")
        archive.writestr("../evil.png", b"x")
    with pytest.raises(MalformedAssetError, match="plain path"):
        load_mesh(package)


def raw_mesh(tmp_path: Path, points: str, counts: str, indices: str) -> Path:
    path = tmp_path / "raw.usda"
    path.write_text(
        '#usda 1.0\n(\n    defaultPrim = "World"\n)\ndef Xform "World"\n{\n'
        f'    def Mesh "M"\n    {{\n        point3f[] points = {points}\n'
        f"        int[] faceVertexCounts = {counts}\n"
        f"        int[] faceVertexIndices = {indices}\n    }}\n}}\n"
    )
    return path


@pytest.mark.parametrize(
    ("points", "counts", "indices", "match"),
    [
        ("[(0,0,0), (1,0,0), (0,1,0)]", "[3]", "[0, 1, 7]", "face index 7 is out of range"),
        ("[(0,0,0), (nan,0,0), (0,1,0)]", "[3]", "[0, 1, 2]", "non-finite points"),
        ("[(0,0,0), (1,0,0), (0,1,0)]", "[4]", "[0, 1, 2]", "add up to 4"),
        ("[(0,0,0), (1,0,0), (0,1,0)]", "[2, 1]", "[0, 1, 2]", "has 1 corners"),
    ],
)
def test_a_broken_mesh_is_refused(
    tmp_path: Path, points: str, counts: str, indices: str, match: str
) -> None:
    with pytest.raises(MalformedAssetError, match=match):
        load_mesh(raw_mesh(tmp_path, points, counts, indices))


def test_a_point_instancer_index_past_its_prototypes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MalformedAssetError, match="names prototype 3"):
        load_mesh(instancer_stage(tmp_path / "pi.usda", [0, 3, 0]))


def test_instances_count_towards_the_triangle_limit(tmp_path: Path) -> None:
    path = instancer_stage(tmp_path / "pi.usda", [0] * 10)
    with pytest.raises(AssetLimitError, match="120 triangles"):
        load_mesh(path, LoadLimits(max_triangles=100))


def test_the_prim_limit(tmp_path: Path) -> None:
    with pytest.raises(AssetLimitError, match="over 2 prims"):
        usd_load.read_usd(hall(tmp_path / "h.usda"), LoadLimits(), max_prims=2)


def test_a_child_out_of_memory_or_time_is_a_typed_error(tmp_path: Path) -> None:
    path = hall(tmp_path / "h.usda")
    with pytest.raises(AssetError) as info:
        usd_load.read_usd(path, LoadLimits(), memory_bytes=1)
    assert isinstance(info.value, AssetLimitError | MalformedAssetError)
    assert info.value.file == str(path)
    with pytest.raises(AssetLimitError, match="longer than"):
        usd_load.read_usd(path, LoadLimits(), timeout_s=0.05)


def test_a_crashing_child_is_a_malformed_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = hall(tmp_path / "h.usda")
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(usd_load, "worker_command", lambda: [sys.executable, "-c", crash])
    with pytest.raises(MalformedAssetError, match="signal 11") as info:
        load_mesh(path)
    assert str(path) in str(info.value)


def test_without_usd_core_the_error_names_the_extra(tmp_path: Path) -> None:
    path = hall(tmp_path / "h.usda")
    code = (
        "import sys; sys.modules['pxr'] = None\n"
        "from pathlib import Path\n"
        "from xrclient.errors import UnsupportedAssetError\n"
        "from xrclient.scene.loaders import load_mesh\n"
        "try:\n"
        f"    load_mesh(Path({str(path)!r}))\n"
        "except UnsupportedAssetError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "pip install 'xrclient[usd]'" in done.stdout


def test_unauthored_meters_per_unit_is_centimetres_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "plain.usda"
    stage = Usd.Stage.CreateNew(str(path))
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    add_mesh(stage, "/World/Box")
    stage.Save()
    with pytest.warns(AssetWarning, match="does not author metersPerUnit.*scale = 100"):
        mesh = load_mesh(path)
    np.testing.assert_allclose(mesh.bounds[1] - mesh.bounds[0], [0.01, 0.01, 0.02], atol=1e-6)
