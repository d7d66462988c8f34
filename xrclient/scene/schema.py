"""Validate a scene file (TOML) into a :class:`~xrclient.scene.model.Scene`.

Every error names the file, the key path and what was expected, e.g.
``scenes/x.toml: machines[3].transform.position: expected 3 numbers, got 2``.
Unknown keys are errors. The format is documented in ``docs/scene-format.md``.

The checks are written out here rather than delegated to a schema library: the exact,
path-qualified messages are part of the user interface, and the format is small. TOML is
parsed by rtoml (Rust): eight times faster than the standard library's tomllib on a
2,000-machine plant, with line and column in its syntax errors.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import rtoml

from xrclient.core import math3d
from xrclient.core.anomaly_config import PredictionConfigError, parse_prediction_table
from xrclient.core.energy import EnergyConfigError, parse_energy_table
from xrclient.errors import SceneError
from xrclient.scene.model import (
    UNIT_SCALE,
    Asset,
    AssetKind,
    Fixture,
    Light,
    LightKind,
    Line,
    Machine,
    OverlayOptions,
    Plant,
    Scene,
    Transform,
    Vec3,
    Viewpoint,
)
from xrclient.scene.reader import Reader, describe_value
from xrclient.scene.schema_bindings import parse_bindings, parse_twin
from xrclient.scene.zones import utc_offset

FORMAT_VERSION = 1
MAX_SCENE_BYTES = 16 * 2**20
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
POINTCLOUD_SUFFIXES = (".pcd", ".xyz")
USD_SUFFIXES = (".usd", ".usda", ".usdc", ".usdz")
ASSET_SUFFIXES = (".glb", ".gltf", ".obj", ".stl", ".ply", ".pcd", ".xyz", *USD_SUFFIXES)
LIGHT_KINDS: tuple[LightKind, ...] = ("directional", "ambient", "hemisphere", "point")


def read_text_file(file: Path, max_bytes: int) -> str:
    """The UTF-8 text of an untrusted file of at most ``max_bytes`` (size checked before
    reading); ``ValueError`` says why not (scene and procedure files)."""
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise ValueError(f"file is {size} bytes, over the {max_bytes}-byte limit")
        raw = file.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from exc


def load_scene(path: str | Path, max_bytes: int = MAX_SCENE_BYTES) -> Scene:
    """Read and validate a scene file. Raises :class:`SceneError` with a precise message."""
    file = Path(path)
    shown = os.fspath(path)
    try:
        text = read_text_file(file, max_bytes)
    except ValueError as exc:
        raise SceneError(shown, "", str(exc)) from exc
    try:
        document = rtoml.loads(text)
    except rtoml.TomlParsingError as exc:
        raise SceneError(shown, "", f"TOML syntax error: {exc}") from exc
    return parse_scene(document, file.resolve().parent, shown, source=file)


def parse_scene(
    document: dict[str, Any], base_dir: Path, shown: str, source: Path | None = None
) -> Scene:
    """Validate an already-parsed document; asset paths resolve against ``base_dir``."""
    r = Reader(shown)
    top = r.table(
        document,
        "",
        {"format", "plant", "assets", "lines", "machines"},
        {
            "fixtures",
            "viewpoints",
            "lights",
            "twin",
            "bindings",
            "overlays",
            "prediction",
            "energy",
        },
    )
    version = r.integer(top["format"], "format", 1)
    if version != FORMAT_VERSION:
        raise r.fail(
            "format", f"expected {FORMAT_VERSION} (the version this client reads), got {version}"
        )
    plant = _plant(r, top["plant"])
    unit = UNIT_SCALE[plant.units]
    up_fix = _up_axis_fix(plant.up_axis)
    assets = _assets(r, top["assets"], base_dir, plant.up_axis)
    lines = _lines(r, top["lines"])
    line_ids = {line.id for line in lines}
    machines = tuple(
        _machine(r, item, f"machines[{i}]", assets, line_ids, unit, up_fix, plant.up_axis)
        for i, item in enumerate(r.array_of_tables(top["machines"], "machines"))
    )
    r.unique(list(machines), lambda m: m.id, "machines", "id")
    fixtures = tuple(
        _fixture(r, item, f"fixtures[{i}]", assets, unit, up_fix, plant.up_axis)
        for i, item in enumerate(r.array_of_tables(top.get("fixtures", []), "fixtures"))
    )
    r.unique(list(fixtures), lambda f: f.id, "fixtures", "id")
    viewpoints = tuple(
        _viewpoint(r, item, f"viewpoints[{i}]", unit, up_fix)
        for i, item in enumerate(r.array_of_tables(top.get("viewpoints", []), "viewpoints"))
    )
    r.unique(list(viewpoints), lambda v: v.name, "viewpoints", "name")
    lights = tuple(
        _light(r, item, f"lights[{i}]", unit, up_fix)
        for i, item in enumerate(r.array_of_tables(top.get("lights", []), "lights"))
    )
    twin = parse_twin(r, top.get("twin", {}))
    bindings = parse_bindings(r, top.get("bindings", []), machines, lines)
    overlays = _overlays(r, top.get("overlays", {}))
    try:
        prediction = parse_prediction_table(
            top.get("prediction", {}), "prediction", zones=utc_offset
        )
        energy = parse_energy_table(top.get("energy", {}), "energy")
    except (PredictionConfigError, EnergyConfigError) as exc:
        raise r.fail(exc.path, exc.message) from None
    return Scene(
        source=source if source is not None else base_dir / "scene.toml",
        plant=plant,
        assets=assets,
        lines=lines,
        machines=machines,
        fixtures=fixtures,
        viewpoints=viewpoints,
        lights=lights,
        format=version,
        twin=twin,
        bindings=bindings,
        overlays=overlays,
        prediction=prediction,
        energy=energy,
    )


def _overlays(r: Reader, value: object) -> OverlayOptions:
    keys = {"depth", "near_m", "far_m", "max_panels", "unit_m", "min_px", "max_px", "declutter"}
    t = r.table(value, "overlays", set(), keys)
    d = OverlayOptions()
    depth = r.choice(t["depth"], "overlays.depth", ("test", "through")) if "depth" in t else d.depth
    near = r.number(t["near_m"], "overlays.near_m", positive=True) if "near_m" in t else d.near_m
    far = r.number(t["far_m"], "overlays.far_m", positive=True) if "far_m" in t else d.far_m
    if far < near:
        raise r.fail("overlays.far_m", f"must be at least near_m ({near:g}), got {far:g}")
    panels = r.integer(t["max_panels"], "overlays.max_panels", 0) if "max_panels" in t else 12
    if panels > 64:
        raise r.fail("overlays.max_panels", f"expected at most 64, got {panels}")
    unit = r.number(t["unit_m"], "overlays.unit_m", positive=True) if "unit_m" in t else d.unit_m
    lo = r.number(t["min_px"], "overlays.min_px", positive=True) if "min_px" in t else d.min_px
    hi = r.number(t["max_px"], "overlays.max_px", positive=True) if "max_px" in t else d.max_px
    if hi < lo:
        raise r.fail("overlays.max_px", f"must be at least min_px ({lo:g}), got {hi:g}")
    declutter = d.declutter
    if "declutter" in t:
        if not isinstance(t["declutter"], bool):
            raise r.fail("overlays.declutter", "expected true or false")
        declutter = t["declutter"]
    return OverlayOptions(depth, near, far, panels, unit, lo, hi, declutter)  # type: ignore[arg-type]  # depth is one of the OverlayOptions literals: r.choice checked it


def _plant(r: Reader, value: object) -> Plant:
    t = r.table(value, "plant", {"name"}, {"site", "description", "units", "up_axis"})
    units = r.choice(t.get("units", "m"), "plant.units", tuple(UNIT_SCALE))
    up = r.choice(t.get("up_axis", "y"), "plant.up_axis", ("y", "z"))
    return Plant(
        name=r.string(t["name"], "plant.name"),
        site=r.string(t.get("site", ""), "plant.site"),
        description=r.string(t.get("description", ""), "plant.description"),
        units=units,
        up_axis="z" if up == "z" else "y",
    )


def _assets(r: Reader, value: object, base_dir: Path, plant_up: str) -> dict[str, Asset]:
    if not isinstance(value, dict):
        raise r.fail("assets", f"expected a table of named assets, got {describe_value(value)}")
    assets: dict[str, Asset] = {}
    for name, item in value.items():
        path = f"assets.{name}"
        r.string(name, path, ID_PATTERN)
        t = r.table(item, path, {"path"}, {"kind", "units", "scale", "point_budget", "up_axis"})
        rel = r.string(t["path"], f"{path}.path")
        suffix = Path(rel).suffix.lower()
        if suffix not in ASSET_SUFFIXES:
            raise r.fail(
                f"{path}.path",
                f"expected a file ending in {', '.join(ASSET_SUFFIXES)}, got {rel!r}",
            )
        default_kind = "pointcloud" if suffix in POINTCLOUD_SUFFIXES else "mesh"
        kind = r.choice(t.get("kind", default_kind), f"{path}.kind", ("mesh", "pointcloud"))
        if kind == "mesh" and suffix in POINTCLOUD_SUFFIXES:
            raise r.fail(f"{path}.kind", f"a {suffix} file holds points, not a mesh")
        if kind == "pointcloud" and suffix not in (*POINTCLOUD_SUFFIXES, ".ply"):
            raise r.fail(f"{path}.kind", f"a {suffix} file is a mesh, not a point cloud")
        if "point_budget" in t and kind != "pointcloud":
            raise r.fail(f"{path}.point_budget", "only point-cloud assets have a point budget")
        units = r.choice(t.get("units", "m"), f"{path}.units", tuple(UNIT_SCALE))
        scale = r.number(t.get("scale", 1.0), f"{path}.scale", positive=True)
        budget = r.integer(t.get("point_budget", 500_000), f"{path}.point_budget", 1)
        up = r.choice(t.get("up_axis", plant_up), f"{path}.up_axis", ("y", "z"))
        resolved = (base_dir / rel).resolve()
        if not resolved.is_file():
            raise r.fail(f"{path}.path", f"file not found: {resolved}")
        if suffix in USD_SUFFIXES and "up_axis" not in t:
            from xrclient.scene.usd_load import stage_up_axis

            up = stage_up_axis(resolved)  # the stage's upAxis, unless the scene says
        assets[name] = Asset(
            name=name,
            path=resolved,
            kind=cast(AssetKind, kind),
            scale=scale * UNIT_SCALE[units],
            point_budget=budget,
            up_axis="z" if up == "z" else "y",
        )
    return assets


def _lines(r: Reader, value: object) -> tuple[Line, ...]:
    lines = []
    for i, item in enumerate(r.array_of_tables(value, "lines")):
        t = r.table(item, f"lines[{i}]", {"id"}, {"name"})
        line_id = r.string(t["id"], f"lines[{i}].id", ID_PATTERN)
        lines.append(Line(id=line_id, name=r.string(t.get("name", line_id), f"lines[{i}].name")))
    r.unique(lines, lambda line: line.id, "lines", "id")
    return tuple(lines)


def _ref(r: Reader, value: object, path: str, known: dict[str, Asset] | set[str], what: str) -> str:
    name = r.string(value, path)
    if name not in known:
        options = ", ".join(sorted(known)) or "none declared"
        raise r.fail(path, f"unknown {what} {name!r} (declared: {options})")
    return name


def _up_axis_fix(up_axis: str) -> math3d.F32 | None:
    """Rotation taking a Z-up frame to the renderer's Y-up frame (None when already Y up)."""
    if up_axis == "y":
        return None
    return math3d.quat_matrix(math3d.euler_quat((-90.0, 0.0, 0.0)))


def _asset_turn(plant_up: str, asset: Asset) -> math3d.F32 | None:
    """Rotation taking the asset file's axes to the plant's (None when they agree): a
    Z-up file in a Y-up plant turns its Z to Y, a Y-up file in a Z-up plant its Y to Z."""
    if asset.up_axis == plant_up:
        return None
    angle = -90.0 if asset.up_axis == "z" else 90.0
    return math3d.quat_matrix(math3d.euler_quat((angle, 0.0, 0.0)))


def _point(p: Vec3, unit: float, fix: math3d.F32 | None) -> Vec3:
    v = [c * unit for c in p]
    if fix is not None:
        v = [float(x) for x in fix[:3, :3] @ v]
    return (v[0], v[1], v[2])


def _transform(
    r: Reader,
    value: object,
    path: str,
    unit: float,
    fix: math3d.F32 | None,
    turn: math3d.F32 | None = None,
) -> Transform:
    t = r.table(value, path, set(), {"position", "rotation", "quaternion", "scale"})
    if "rotation" in t and "quaternion" in t:
        raise r.fail(f"{path}.quaternion", "give either rotation or quaternion, not both")
    position = _point(r.vec3(t.get("position", [0, 0, 0]), f"{path}.position"), unit, None)
    if "quaternion" in t:
        q = r.numbers(t["quaternion"], f"{path}.quaternion", 4)
        if math.sqrt(sum(c * c for c in q)) < 1e-9:
            raise r.fail(f"{path}.quaternion", "expected a non-zero quaternion [x, y, z, w]")
        quat = (q[0], q[1], q[2], q[3])
    else:
        quat = math3d.euler_quat(r.vec3(t.get("rotation", [0, 0, 0]), f"{path}.rotation"))
    raw_scale = t.get("scale", 1.0)
    if isinstance(raw_scale, list):
        scale = r.vec3(raw_scale, f"{path}.scale")
        for i, s in enumerate(scale):
            if s <= 0:
                raise r.fail(f"{path}.scale[{i}]", f"expected a number > 0, got {s:g}")
    else:
        s = r.number(raw_scale, f"{path}.scale", positive=True)
        scale = (s, s, s)
    if turn is not None:
        # M @ turn, the asset's axes turned to the plant's under the placement; the quarter
        # turn about X swaps the roles of Y and Z, so the scale's Y and Z swap too
        quat = math3d.matrix_quat(math3d.quat_matrix(quat) @ turn)
        scale = (scale[0], scale[2], scale[1])
    if fix is None:
        return Transform(position=position, rotation=quat, scale=scale)
    # Re-express the whole model matrix in the Y-up frame: fix @ M (the mesh stays in its own
    # frame, so a Z-up plant's machines keep their Z-up-authored orientation relative to the floor).
    m = fix @ math3d.compose(position, quat, (1.0, 1.0, 1.0))
    return Transform(
        position=(float(m[0, 3]), float(m[1, 3]), float(m[2, 3])),
        rotation=math3d.matrix_quat(m),
        scale=scale,
    )


def _machine(
    r: Reader,
    value: object,
    path: str,
    assets: dict[str, Asset],
    line_ids: set[str],
    unit: float,
    fix: math3d.F32 | None,
    plant_up: str = "y",
) -> Machine:
    t = r.table(value, path, {"id", "type", "asset", "line"}, {"name", "cell", "transform", "node"})
    machine_id = r.string(t["id"], f"{path}.id", ID_PATTERN)
    asset = _ref(r, t["asset"], f"{path}.asset", assets, "asset")
    turn = _asset_turn(plant_up, assets[asset])
    node = _node(r, t, path, assets[asset]) if "node" in t else ""
    return Machine(
        id=machine_id,
        name=r.string(t.get("name", machine_id), f"{path}.name"),
        type=r.string(t["type"], f"{path}.type", ID_PATTERN),
        asset=asset,
        line=_ref(r, t["line"], f"{path}.line", line_ids, "line"),
        cell=r.string(t.get("cell", ""), f"{path}.cell"),
        transform=_transform(r, t.get("transform", {}), f"{path}.transform", unit, fix, turn),
        node=node,
    )


def _node(r: Reader, t: dict[str, Any], path: str, asset: Asset) -> str:
    """A machine's ``node``: a non-empty node path or name of a glTF/GLB or OpenUSD asset; the
    machine's place then comes from the file, so it takes no transform."""
    node = r.string(t["node"], f"{path}.node")
    if not node.strip() or len(node) > 1024:
        raise r.fail(f"{path}.node", "expected a node path or name of 1 to 1024 characters")
    if asset.kind != "mesh" or asset.path.suffix.lower() not in (".glb", ".gltf", *USD_SUFFIXES):
        raise r.fail(
            f"{path}.node",
            f"node = needs a glTF/GLB asset (or OpenUSD); {asset.name!r} is a {asset.path.suffix} "
            f"{asset.kind} file",
        )
    if "transform" in t:
        given = t["transform"]
        keys = (
            [k for k in ("position", "rotation", "quaternion", "scale") if k in given]
            if (isinstance(given, dict))
            else []
        )
        key = f"{path}.transform.{keys[0]}" if keys else f"{path}.transform"
        raise r.fail(key, "a machine with node = is placed where the file puts that node")
    return node


def _fixture(
    r: Reader,
    value: object,
    path: str,
    assets: dict[str, Asset],
    unit: float,
    fix: math3d.F32 | None,
    plant_up: str = "y",
) -> Fixture:
    t = r.table(value, path, {"id", "asset"}, {"transform"})
    fixture_id = r.string(t["id"], f"{path}.id", ID_PATTERN)
    asset = _ref(r, t["asset"], f"{path}.asset", assets, "asset")
    turn = _asset_turn(plant_up, assets[asset])
    return Fixture(
        id=fixture_id,
        asset=asset,
        transform=_transform(r, t.get("transform", {}), f"{path}.transform", unit, fix, turn),
    )


def _viewpoint(
    r: Reader, value: object, path: str, unit: float, fix: math3d.F32 | None
) -> Viewpoint:
    t = r.table(value, path, {"name", "position", "target"}, {"fov"})
    position = _point(r.vec3(t["position"], f"{path}.position"), unit, fix)
    target = _point(r.vec3(t["target"], f"{path}.target"), unit, fix)
    if position == target:
        raise r.fail(f"{path}.target", "expected a point different from position")
    fov = r.number(t.get("fov", 60.0), f"{path}.fov", positive=True)
    if fov >= 170:
        raise r.fail(
            f"{path}.fov", f"expected a vertical field of view in degrees below 170, got {fov:g}"
        )
    return Viewpoint(
        name=r.string(t["name"], f"{path}.name"), position=position, target=target, fov_deg=fov
    )


def _light(r: Reader, value: object, path: str, unit: float, fix: math3d.F32 | None) -> Light:
    t = r.table(value, path, {"type"}, {"color", "intensity", "direction", "position", "ground"})
    kind = cast(LightKind, r.choice(t["type"], f"{path}.type", LIGHT_KINDS))
    allowed = {"directional": "direction", "point": "position", "hemisphere": "ground"}
    for key in ("direction", "position", "ground"):
        if key in t and allowed.get(kind) != key:
            raise r.fail(f"{path}.{key}", f"not used by a {kind} light")
    light = Light(
        kind=kind,
        color=r.colour(t.get("color", [1.0, 1.0, 1.0]), f"{path}.color"),
        intensity=r.number(t.get("intensity", 1.0), f"{path}.intensity", minimum=0.0),
    )
    if kind == "directional" and "direction" in t:
        d = r.vec3(t["direction"], f"{path}.direction")
        if all(c == 0 for c in d):
            raise r.fail(f"{path}.direction", "expected a non-zero direction")
        light = replace(light, direction=_point(d, 1.0, fix))
    if kind == "point" and "position" in t:
        light = replace(
            light, position=_point(r.vec3(t["position"], f"{path}.position"), unit, fix)
        )
    if kind == "hemisphere" and "ground" in t:
        light = replace(light, ground=r.colour(t["ground"], f"{path}.ground"))
    return light
