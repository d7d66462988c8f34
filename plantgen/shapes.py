"""Mesh-building blocks for the procedural factory models: finishes, styles, primitives.

All primitives return fresh trimesh meshes in model coordinates (metres, Y up).
:class:`PartBuilder` collects named parts, each with one finish, into a multi-part,
multi-material trimesh scene whose vertices are split at creases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import trimesh
from trimesh.visual import TextureVisuals
from trimesh.visual.material import PBRMaterial

Vec = tuple[float, float, float]
RGBA = tuple[float, float, float, float]
F64 = npt.NDArray[np.float64]
Trimesh = trimesh.Trimesh

#: crease angle (radians) above which normals are split
CREASE = np.radians(35.0)


@dataclass(frozen=True, slots=True)
class Finish:
    """A PBR surface: linear base colour (alpha < 1 blends), metalness, roughness."""

    color: RGBA
    metallic: float = 0.0
    roughness: float = 0.6

    def material(self, name: str) -> PBRMaterial:
        blend = self.color[3] < 1.0
        return PBRMaterial(  # type: ignore[no-untyped-call]  # trimesh ships no type information
            name=name,
            baseColorFactor=list(self.color),
            metallicFactor=self.metallic,
            roughnessFactor=self.roughness,
            alphaMode="BLEND" if blend else None,
            doubleSided=blend,
        )


FINISHES: dict[str, Finish] = {
    "paint": Finish((0.72, 0.73, 0.70, 1.0), 0.1, 0.5),
    "accent": Finish((0.04, 0.16, 0.45, 1.0), 0.1, 0.45),
    "machine_grey": Finish((0.22, 0.24, 0.25, 1.0), 0.2, 0.55),
    "cast": Finish((0.09, 0.09, 0.10, 1.0), 0.3, 0.7),
    "steel": Finish((0.56, 0.57, 0.59, 1.0), 0.9, 0.35),
    "stainless": Finish((0.70, 0.72, 0.75, 1.0), 0.95, 0.22),
    "rubber": Finish((0.02, 0.02, 0.02, 1.0), 0.0, 0.85),
    "screen": Finish((0.01, 0.03, 0.07, 1.0), 0.0, 0.15),
    "glass": Finish((0.55, 0.70, 0.80, 0.30), 0.0, 0.05),
    "fence_mesh": Finish((0.03, 0.03, 0.03, 0.55), 0.4, 0.6),
    "signal_green": Finish((0.03, 0.60, 0.08, 1.0), 0.0, 0.3),
    "signal_amber": Finish((1.00, 0.45, 0.00, 1.0), 0.0, 0.3),
    "signal_red": Finish((0.75, 0.02, 0.02, 1.0), 0.0, 0.3),
    "safety_yellow": Finish((0.90, 0.62, 0.00, 1.0), 0.1, 0.5),
    "beam_orange": Finish((0.85, 0.22, 0.02, 1.0), 0.2, 0.5),
    "wood": Finish((0.42, 0.26, 0.11, 1.0), 0.0, 0.9),
    "cardboard": Finish((0.52, 0.36, 0.18, 1.0), 0.0, 0.95),
    "concrete": Finish((0.33, 0.33, 0.31, 1.0), 0.0, 0.9),
    "lane_yellow": Finish((0.85, 0.58, 0.02, 1.0), 0.0, 0.7),
    "walkway_green": Finish((0.05, 0.33, 0.10, 1.0), 0.0, 0.75),
    "cladding": Finish((0.58, 0.60, 0.62, 1.0), 0.5, 0.5),
    "door": Finish((0.78, 0.80, 0.82, 1.0), 0.6, 0.4),
}


@dataclass(frozen=True, slots=True)
class Style:
    """Variation knobs: tessellation, the two model colours (``None`` keeps the model's), size."""

    sections: int = 20
    paint: RGBA | None = None
    accent: RGBA | None = None
    scale: Vec = (1.0, 1.0, 1.0)  # baked into the vertices


DEFAULT_STYLE = Style()


# ---- primitives (all return fresh meshes in model coordinates) -------------------------


def rotation(deg: float, axis: Sequence[float], point: Sequence[float] = (0.0, 0.0, 0.0)) -> F64:
    """4x4 rotation by ``deg`` degrees about ``axis`` through ``point`` (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    a = np.radians(deg)
    skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    m = np.eye(4)
    m[:3, :3] = np.eye(3) + np.sin(a) * skew + (1.0 - np.cos(a)) * (skew @ skew)
    p = np.asarray(point, float)
    m[:3, 3] = p - m[:3, :3] @ p
    return m


def _z_to(axis: Sequence[float]) -> F64:
    """A rotation taking +Z onto ``axis``."""
    v = np.asarray(axis, float) / np.linalg.norm(axis)
    cross = np.cross((0.0, 0.0, 1.0), v)
    if np.linalg.norm(cross) < 1e-9:
        return np.eye(4) if v[2] > 0 else rotation(180.0, (1.0, 0.0, 0.0))
    return rotation(float(np.degrees(np.arccos(np.clip(v[2], -1.0, 1.0)))), cross.tolist())


def _clean(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces, process=False)


def box(lo: Sequence[float], hi: Sequence[float]) -> trimesh.Trimesh:
    """Axis-aligned box from its min and max corners."""
    a, b = np.asarray(lo, float), np.asarray(hi, float)
    tf = np.eye(4)
    tf[:3, 3] = (a + b) / 2.0
    return _clean(trimesh.creation.box(extents=np.abs(b - a), transform=tf))


def cyl(p0: Sequence[float], p1: Sequence[float], r: float, n: int) -> trimesh.Trimesh:
    """Closed cylinder of radius ``r`` from ``p0`` to ``p1``."""
    return _clean(trimesh.creation.cylinder(radius=r, segment=[p0, p1], sections=n))


def ball(c: Sequence[float], r: float) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=1, radius=r)
    m.apply_translation(c)
    return _clean(m)


def ring(c: Sequence[float], axis: Sequence[float], major: float, minor: float, n: int) -> Trimesh:
    """Torus around ``axis`` through ``c`` (handwheels)."""
    tf = _z_to(axis)
    tf[:3, 3] = c
    m = trimesh.creation.torus(major, minor, major_sections=n, minor_sections=8, transform=tf)
    return _clean(m)


def revolve_y(profile: Sequence[tuple[float, float]], n: int, c: Vec = (0.0, 0.0, 0.0)) -> Trimesh:
    """Surface of revolution about the vertical axis through ``c``; profile is (radius, y)."""
    m = trimesh.creation.revolve(np.asarray(profile, float), sections=n)
    m.apply_transform(rotation(-90.0, (1.0, 0.0, 0.0)))
    m.apply_translation(c)
    return _clean(m)


_AXES = {"x": (1, 2, 0), "y": (2, 0, 1), "z": (0, 1, 2)}


def prism(outline: Sequence[tuple[float, float]], axis: str, w0: float, w1: float) -> Trimesh:
    """Convex counter-clockwise outline extruded along ``axis`` from ``w0`` to ``w1``.

    The outline's coordinates are (y, z) for axis x, (z, x) for axis y and (x, y) for axis z.
    """
    uv = np.asarray(outline, float)
    k = len(uv)
    local = np.zeros((2 * k, 3))
    local[:k, :2] = uv
    local[k:, :2] = uv
    local[:k, 2] = w0
    local[k:, 2] = w1
    verts = np.zeros_like(local)
    for src, dst in enumerate(_AXES[axis]):
        verts[:, dst] = local[:, src]
    faces: list[tuple[int, int, int]] = []
    for i in range(1, k - 1):
        faces.append((0, i + 1, i))
        faces.append((k, k + i, k + i + 1))
    for i in range(k):
        j = (i + 1) % k
        faces.append((i, j, k + j))
        faces.append((i, k + j, k + i))
    return trimesh.Trimesh(vertices=verts, faces=np.asarray(faces), process=False)


def beam(p0: Sequence[float], p1: Sequence[float], w: float, h: float, side: Vec) -> Trimesh:
    """Box of cross-section ``w`` (along ``side``) by ``h`` from ``p0`` to ``p1``."""
    a, b = np.asarray(p0, float), np.asarray(p1, float)
    z = (b - a) / np.linalg.norm(b - a)
    x = np.asarray(side, float) - np.dot(side, z) * z
    x /= np.linalg.norm(x)
    tf = np.eye(4)
    tf[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    tf[:3, 3] = (a + b) / 2.0
    length = float(np.linalg.norm(b - a))
    return _clean(trimesh.creation.box(extents=(w, h, length), transform=tf))


def rotated(mesh: Trimesh, deg: float, axis: Vec, point: Vec) -> Trimesh:
    mesh.apply_transform(rotation(deg, axis, point))
    return mesh


class PartBuilder:
    """Collects parts (name -> finish + meshes) and turns them into a trimesh scene."""

    def __init__(self, style: Style, paint: RGBA | None = None, accent: RGBA | None = None):
        self.n = max(6, int(style.sections))
        self.scale = style.scale
        self.finishes = dict(FINISHES)
        base_paint, base_accent = FINISHES["paint"], FINISHES["accent"]
        colour = style.paint or paint
        if colour is not None:
            self.finishes["paint"] = replace(base_paint, color=colour)
        colour = style.accent or accent
        if colour is not None:
            self.finishes["accent"] = replace(base_accent, color=colour)
        self.parts: dict[str, tuple[str, list[Trimesh]]] = {}

    def add(self, part: str, finish: str, *meshes: Trimesh) -> None:
        entry = self.parts.setdefault(part, (finish, []))
        if entry[0] != finish:
            raise ValueError(f"part '{part}' already uses finish '{entry[0]}'")
        entry[1].extend(meshes)

    def scene(self) -> trimesh.Scene:
        scene = trimesh.Scene()
        materials: dict[str, PBRMaterial] = {}
        for part, (finish, meshes) in self.parts.items():
            merged = trimesh.util.concatenate(meshes)
            if self.scale != (1.0, 1.0, 1.0):
                merged.apply_transform(np.diag([*self.scale, 1.0]))
            mesh = trimesh.graph.smooth_shade(merged, angle=CREASE, facet_minarea=None)
            if finish not in materials:
                materials[finish] = self.finishes[finish].material(finish)
            mesh.visual = TextureVisuals(material=materials[finish])  # type: ignore[no-untyped-call]  # trimesh ships no type information
            scene.add_geometry(mesh, node_name=part, geom_name=part)
        return scene
