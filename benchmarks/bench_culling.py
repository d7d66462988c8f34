"""View-frustum culling: headless frame time with culling on and off on a large plant.

The plant: one single-file plant mesh of ``--triangles`` triangles (icospheres on a grid,
built in numpy: file parsing is not what is measured), placed once as a fixture, so that
``build_geometry`` splits it into spatial chunks; plus ``--machines`` instanced box
machines and a tenth as many instanced pillars over the same floor. Two cameras: one above
a corner looking down at about a tenth of the plant, and the overview (everything seen,
culling's cost with nothing to cull). Each frame is ``Renderer.draw`` + ``glFinish`` at
1280x720, culling on and off in interleaved frames, after a warm-up frame each.

usage: python benchmarks/bench_culling.py [--triangles 10000000] [--machines 2000]
                                          [--frames 5] [--samples 4]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, timed_interleaved

from xrclient.backends.headless import HeadlessBackend
from xrclient.core.view import View
from xrclient.render.renderer import FrameStats, Renderer
from xrclient.scene.geometry import SceneGeometry, build_geometry
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Fixture, Line, Machine, Plant, Scene, Transform

SIZE = (1280, 720)
SPACING = 1.0  # metres between the plant mesh's parts


def plant_mesh(triangles: int) -> MeshData:
    """Icospheres of about 1,280 triangles on a square grid, merged into one mesh."""
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    parts = max(1, triangles // len(ball.faces))
    side = math.ceil(math.sqrt(parts))
    grid = np.stack(np.divmod(np.arange(parts), side), axis=1) * SPACING
    offsets = np.zeros((parts, 3), dtype=np.float32)
    offsets[:, 0], offsets[:, 2] = grid[:, 0], grid[:, 1]
    verts = np.asarray(ball.vertices, dtype=np.float32)
    positions = (verts[None] + offsets[:, None]).reshape(-1, 3)
    normals = np.tile(np.asarray(ball.vertex_normals, dtype=np.float32), (parts, 1))
    faces = np.asarray(ball.faces, dtype=np.uint32)
    indices = faces[None] + (np.arange(parts, dtype=np.uint32) * len(verts))[:, None, None]
    colors = np.tile(np.float32([0.55, 0.6, 0.65, 1.0]), (len(positions), 1))
    return MeshData("plant", positions, normals, colors, indices.reshape(-1, 3), parts=parts)


def box(size: tuple[float, float, float], rgba: tuple[float, ...]) -> MeshData:
    tm = trimesh.creation.box(extents=size)
    tm.unmerge_vertices()
    n = len(tm.vertices)
    return MeshData(
        "box",
        np.asarray(tm.vertices, dtype=np.float32),
        np.repeat(np.asarray(tm.face_normals, dtype=np.float32), 3, axis=0),
        np.tile(np.asarray(rgba, dtype=np.float32), (n, 1)),
        np.asarray(tm.faces, dtype=np.uint32),
    )


def plant(triangles: int, machines: int) -> tuple[SceneGeometry, float, float]:
    """The geometry, its width in metres and the seconds build_geometry took."""
    mesh = plant_mesh(triangles)
    width = float(mesh.bounds[1, 0])
    rng = np.random.default_rng(1)
    spots = rng.uniform(0.0, width, (machines + machines // 10, 2))
    meshes = {
        "plant": mesh,
        "machine": box((0.5, 1.2, 0.5), (0.8, 0.5, 0.2, 1.0)),
        "pillar": box((0.3, 4.0, 0.3), (0.4, 0.4, 0.45, 1.0)),
    }
    scene = Scene(
        source=Path("bench-culling.toml"),
        plant=Plant(name="bench"),
        assets={n: Asset(name=n, path=Path(f"{n}.glb")) for n in meshes},
        lines=(Line(id="L", name="line"),),
        machines=tuple(
            Machine(
                id=f"M{i}",
                name=f"M{i}",
                type="t",
                asset="machine",
                line="L",
                cell="",
                transform=Transform(position=(float(x), 1.0, float(z))),
            )
            for i, (x, z) in enumerate(spots[:machines])
        ),
        fixtures=(
            Fixture(id="plant", asset="plant", transform=Transform()),
            *(
                Fixture(id=f"P{i}", asset="pillar", transform=Transform((float(x), 2.0, float(z))))
                for i, (x, z) in enumerate(spots[machines:])
            ),
        ),
    )
    start = time.perf_counter()
    geometry = build_geometry(scene, lambda asset: meshes[asset.name])
    return geometry, width, time.perf_counter() - start


def cameras(backend: HeadlessBackend, geometry: SceneGeometry, width: float) -> dict[str, View]:
    """Above a corner, looking down at about a tenth of the floor; and the overview."""
    bounds = geometry.bounds
    fov = 60.0
    # seen from above, the field of view spans side x side * aspect: a tenth of the floor
    side = math.sqrt(0.1 / (SIZE[0] / SIZE[1])) * width
    height = side / 2.0 / math.tan(math.radians(fov) / 2.0)
    corner = (0.2 * width, 0.2 * width)
    center = (0.5 * width, 0.5 * width)
    return {
        "a tenth": backend.view_from(
            (corner[0], height, corner[1] + 0.05 * side),
            (corner[0], 0.0, corner[1]),
            fov_deg=fov,
            bounds=bounds,
        ),
        "overview": backend.view_from(
            (center[0], 0.9 * width, center[1] + 0.9 * width),
            (center[0], 0.0, center[1]),
            fov_deg=fov,
            bounds=bounds,
        ),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triangles", type=int, default=10_000_000)
    ap.add_argument("--machines", type=int, default=2_000)
    ap.add_argument("--frames", type=int, default=5, help="timed frames per case")
    ap.add_argument("--samples", type=int, default=4, help="MSAA samples (0: none)")
    args = ap.parse_args()
    print(f"# {machine_line()}")
    geometry, width, build_s = plant(args.triangles, args.machines)
    chunks = sum(b.asset == "plant" for b in geometry.batches)
    print(
        f"# plant: {geometry.triangle_count:,} triangles, {geometry.instance_count:,} "
        f"instances in {len(geometry.batches)} batches ({chunks} chunks of the plant mesh), "
        f"{width:.0f} m wide; build_geometry {build_s:.2f} s"
    )
    print(
        f"# headless EGL {SIZE[0]}x{SIZE[1]}, MSAA {args.samples}x; per case the median "
        f"(min) of {args.frames} frames, draw + glFinish, culling on and off interleaved"
    )
    with HeadlessBackend(SIZE, samples=args.samples) as backend:
        start = time.perf_counter()
        on = Renderer(backend.ctx, geometry)
        off = Renderer(backend.ctx, geometry, culling=False)
        backend.ctx.finish()
        print(f"# two renderers built and uploaded in {time.perf_counter() - start:.1f} s")
        print(
            f"{'view':<10} {'culling':>8} {'frame ms':>18} {'drawn triangles':>16} "
            f"{'instances':>10} {'draw calls':>11} {'culled':>7} {'prep ms':>8}"
        )
        for name, view in cameras(backend, geometry, width).items():
            stats: dict[str, FrameStats] = {}

            def frame(
                r: Renderer, key: str, v: View = view, out: dict[str, FrameStats] = stats
            ) -> None:
                out[key] = backend.render(r, [v])
                backend.ctx.finish()

            times = timed_interleaved(
                {"on": lambda: frame(on, "on"), "off": lambda: frame(off, "off")},
                repeat=args.frames,
            )
            for key in ("on", "off"):
                median, best = times[key]
                s = stats[key]
                print(
                    f"{name:<10} {key:>8} {median * 1e3:>9.1f} ({best * 1e3:.1f}) "
                    f"{s.triangles:>16,} {s.instances:>10,} {s.draw_calls:>11} {s.culled:>7,} "
                    f"{s.prepare_s * 1e3:>8.2f}"
                )
            ratio = times["off"][0] / times["on"][0]
            print(f"{name:<10} {'speed-up':>8} {ratio:>9.1f}x", flush=True)
        on.release()
        off.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
