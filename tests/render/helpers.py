"""Scenes, meshes and pixel helpers shared by the render tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import trimesh

from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.scene.geometry import SceneGeometry, build_geometry
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Fixture, Line, Machine, Plant, Scene, Transform

if TYPE_CHECKING:
    from xrclient.backends.headless import HeadlessBackend
    from xrclient.render.renderer import Renderer

Vec3 = tuple[float, float, float]
Image = npt.NDArray[np.uint8]

GREY = (0.5, 0.5, 0.5, 1.0)
BACKGROUND = (0.62, 0.70, 0.78)
RED = (1.0, 0.0, 0.0)
BLUE = (0.0, 0.0, 1.0)


def mesh_from_trimesh(
    tm: trimesh.Trimesh, rgba: Sequence[float] = GREY, name: str = "mesh"
) -> MeshData:
    """Flat-shaded MeshData of a trimesh shape: one vertex per face corner."""
    tm = tm.copy()
    tm.unmerge_vertices()
    count = len(tm.vertices)
    return MeshData(
        name=name,
        positions=np.asarray(tm.vertices, dtype=np.float32),
        normals=np.repeat(np.asarray(tm.face_normals, dtype=np.float32), 3, axis=0),
        colors=np.tile(np.asarray(rgba, dtype=np.float32), (count, 1)),
        indices=np.asarray(tm.faces, dtype=np.uint32),
    )


def box_mesh(size: Vec3 = (1.0, 1.0, 1.0), rgba: Sequence[float] = GREY) -> MeshData:
    return mesh_from_trimesh(trimesh.creation.box(extents=size), rgba, "box")


def points_mesh(points: npt.ArrayLike, rgba: Sequence[float]) -> MeshData:
    pos = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    return MeshData(
        name="points",
        positions=pos,
        normals=np.zeros_like(pos),
        colors=np.tile(np.asarray(rgba, dtype=np.float32), (len(pos), 1)),
        indices=np.zeros((0, 3), dtype=np.uint32),
        primitive="points",
    )


def scene_of(
    machines: Sequence[tuple[str, Vec3]],
    fixtures: Sequence[tuple[str, Vec3]] = (),
    scale: Vec3 = (1.0, 1.0, 1.0),
) -> Scene:
    """Machines (and fixtures) as ``(asset name, position)``; every asset is declared."""
    names = {a for a, _ in machines} | {a for a, _ in fixtures}
    return Scene(
        source=Path("test.toml"),
        plant=Plant(name="test"),
        assets={n: Asset(name=n, path=Path(f"{n}.glb")) for n in sorted(names)},
        lines=(Line(id="L", name="line"),),
        machines=tuple(
            Machine(
                id=f"M{i}",
                name=f"M{i}",
                type="t",
                asset=a,
                line="L",
                cell="",
                transform=Transform(position=p, scale=scale),
            )
            for i, (a, p) in enumerate(machines)
        ),
        fixtures=tuple(
            Fixture(id=f"F{i}", asset=a, transform=Transform(position=p))
            for i, (a, p) in enumerate(fixtures)
        ),
    )


def geometry_of(scene: Scene, meshes: dict[str, MeshData]) -> SceneGeometry:
    return build_geometry(scene, lambda asset: meshes[asset.name])


def screen_bbox(
    view: View, bounds: npt.ArrayLike, size: tuple[int, int], margin: int = 1
) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` (exclusive ends, top row first) of a world AABB."""
    ndc = math3d.transform_points(view.view_projection, math3d.box_corners(bounds))
    w, h = size
    xs = (ndc[:, 0] + 1.0) / 2.0 * w
    ys = (1.0 - ndc[:, 1]) / 2.0 * h
    x0 = max(int(np.floor(xs.min())) - margin, 0)
    y0 = max(int(np.floor(ys.min())) - margin, 0)
    x1 = min(int(np.ceil(xs.max())) + margin, w)
    y1 = min(int(np.ceil(ys.max())) + margin, h)
    return x0, y0, x1, y1


def box_mask(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(shape[:2], dtype=bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def dominant(img: Image, channel: int, by: int = 80) -> npt.NDArray[np.bool_]:
    """Pixels whose ``channel`` exceeds both others by more than ``by``."""
    c = img.astype(np.int16)
    others = np.delete(c, channel, axis=2).max(axis=2)
    result: npt.NDArray[np.bool_] = c[..., channel] - others > by
    return result


def background_rgb8(srgb: bool = True) -> npt.NDArray[np.int16]:
    bg = np.asarray(BACKGROUND, dtype=np.float64)
    if not srgb:
        bg = np.where(bg <= 0.04045, bg / 12.92, ((bg + 0.055) / 1.055) ** 2.4)
    return np.round(bg * 255.0).astype(np.int16)


def is_background(img: Image, srgb: bool = True, tol: int = 2) -> npt.NDArray[np.bool_]:
    diff = np.abs(img.astype(np.int16) - background_rgb8(srgb))
    result: npt.NDArray[np.bool_] = diff.max(axis=2) <= tol
    return result


def project(view: View, point: Sequence[float], height: int) -> tuple[float, float]:
    """Pixel position (x right, y down from the top row) of a world point."""
    ndc = math3d.transform_points(view.view_projection, [point])[0]
    x0, y0, w, h = view.viewport
    return x0 + (ndc[0] + 1.0) / 2.0 * w, height - (y0 + (ndc[1] + 1.0) / 2.0 * h)


#: the camera the billboard tests use: on +Z, looking at the origin
EYE: Vec3 = (0.0, 0.0, 4.0)
FOV = 60.0


def front_view(headless: HeadlessBackend) -> View:
    return headless.view_from(EYE, (0.0, 0.0, 0.0), fov_deg=FOV)


def render_over(
    headless: HeadlessBackend,
    views: Sequence[View],
    draw: Callable[[Sequence[View]], object],
    renderer: Renderer | None = None,
) -> Image:
    """Clear to black (or draw ``renderer``'s scene), ``draw`` over it, resolve, read back."""
    headless.fbo.use()
    if renderer is not None:
        renderer.draw(views)
    else:
        headless.fbo.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
    draw(views)
    headless.ctx.copy_framebuffer(headless.resolve_fbo, headless.fbo)
    return headless.read_rgb()


def bbox(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the set pixels, exclusive ends."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
