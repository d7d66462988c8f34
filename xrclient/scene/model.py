"""The scene as plain, frozen data: what a scene file describes once validated.

Positions are in metres in the renderer's frame (right-handed, Y up), whatever units and
up axis the file used: the schema converts on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from xrclient.core import math3d
from xrclient.core.anomaly_config import PredictionConfig
from xrclient.core.energy import EnergyConfig
from xrclient.core.rules import Binding, TwinConfig

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

AssetKind = Literal["mesh", "pointcloud"]
LightKind = Literal["directional", "ambient", "hemisphere", "point"]

#: metres per unit for the ``units`` keys of scene files and assets
UNIT_SCALE: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "ft": 0.3048}


@dataclass(frozen=True, slots=True)
class Transform:
    position: Vec3 = (0.0, 0.0, 0.0)
    rotation: Quat = (0.0, 0.0, 0.0, 1.0)  # quaternion x, y, z, w
    scale: Vec3 = (1.0, 1.0, 1.0)

    def matrix(self) -> math3d.F32:
        return math3d.compose(self.position, self.rotation, self.scale)


@dataclass(frozen=True, slots=True)
class Plant:
    name: str
    site: str = ""
    description: str = ""
    units: str = "m"
    up_axis: Literal["y", "z"] = "y"


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    path: Path  # resolved, absolute
    kind: AssetKind = "mesh"
    scale: float = 1.0  # metres per file unit, times the asset's own scale
    point_budget: int = 500_000  # point clouds: voxel down-sample to at most this many points
    #: the file's own up axis; where it differs from the plant's, the machines and fixtures
    #: using the asset carry the quarter turn between the two in their transforms
    up_axis: Literal["y", "z"] = "y"


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Machine:
    id: str  # binds to the twin stream
    name: str
    type: str
    asset: str
    line: str
    cell: str
    transform: Transform
    #: a node of the (glTF) asset whose subtree is this machine, placed where the file puts
    #: it; "" for a machine that is the whole asset at ``transform``
    node: str = ""


@dataclass(frozen=True, slots=True)
class Fixture:
    """Static geometry not bound to the twin stream: floor, walls, racks."""

    id: str
    asset: str
    transform: Transform


@dataclass(frozen=True, slots=True)
class Viewpoint:
    name: str
    position: Vec3
    target: Vec3
    fov_deg: float = 60.0


@dataclass(frozen=True, slots=True)
class Light:
    kind: LightKind
    color: Vec3 = (1.0, 1.0, 1.0)
    intensity: float = 1.0
    direction: Vec3 = (-0.4, -1.0, -0.3)  # directional: where the light travels
    position: Vec3 = (0.0, 5.0, 0.0)  # point
    ground: Vec3 = (0.3, 0.3, 0.3)  # hemisphere: colour from below (``color`` is the sky)


@dataclass(frozen=True, slots=True)
class OverlayOptions:
    """``[overlays]``: how metric panels are shown over machines."""

    depth: Literal["test", "through"] = "test"  # hidden behind walls, or drawn through them
    near_m: float = 15.0  # full panels within this distance
    far_m: float = 45.0  # name pills within this distance; status dots beyond
    max_panels: int = 12  # full panels at once (the nearest win)
    unit_m: float = 0.2  # panel text line height in metres...
    min_px: float = 9.0  # ...but never smaller than this many pixels
    max_px: float = 22.0  # ...nor larger
    declutter: bool = True  # overlapping pills/panels: the nearest keeps its place


@dataclass(frozen=True, slots=True)
class Scene:
    source: Path
    plant: Plant
    assets: dict[str, Asset]
    lines: tuple[Line, ...]
    machines: tuple[Machine, ...]
    fixtures: tuple[Fixture, ...] = ()
    viewpoints: tuple[Viewpoint, ...] = ()
    lights: tuple[Light, ...] = ()
    format: int = 1
    machine_index: dict[str, int] = field(default_factory=dict, compare=False)
    twin: TwinConfig = field(default_factory=TwinConfig)  # [twin]: default stream and staleness
    bindings: tuple[Binding, ...] = ()  # [[bindings]]: live values -> colours, labels, ...
    overlays: OverlayOptions = field(default_factory=OverlayOptions)
    prediction: PredictionConfig = field(default_factory=PredictionConfig)  # [prediction]
    energy: EnergyConfig = field(default_factory=EnergyConfig)  # [energy]: CO2 factor

    def __post_init__(self) -> None:
        if not self.machine_index:
            self.machine_index.update({m.id: i for i, m in enumerate(self.machines)})

    def viewpoint(self, name: str) -> Viewpoint:
        for vp in self.viewpoints:
            if vp.name == name:
                return vp
        known = ", ".join(vp.name for vp in self.viewpoints) or "none"
        raise KeyError(f"{self.source}: no viewpoint named '{name}' (known: {known})")

    def machine_matrices(self) -> math3d.F32:
        """Model matrices of all machines, shape (N, 4, 4)."""
        return compose_transforms([m.transform for m in self.machines])


def compose_transforms(transforms: Sequence[Transform]) -> math3d.F32:
    """Model matrices ``T * R * S`` of many transforms at once, shape (N, 4, 4)."""
    return math3d.compose_many(
        [t.position for t in transforms],
        [t.rotation for t in transforms],
        [t.scale for t in transforms],
    )
