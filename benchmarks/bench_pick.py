"""Picking a machine with a ray in the large synthetic plant: time per pick, on one core.

Three sets of rays, each timed pick by pick (after one warm-up pass), median and 99th
percentile:

* aimed: from a random viewpoint of the plant (overview, along a line, centre, corner,
  entrance) toward a random point inside a random machine's bounding box; most hit that
  machine or one in front of it, some slip past its parts or are hidden by a wall;
* pixels: through a random pixel of a viewpoint's 1280x720 view, as a mouse click would;
  the floor, walls and gaps make most of them misses (a fixture first is no pick);
* aisles: nearly horizontal rays 0.3-3 m above the floor along the lines, from one end
  of the hall; they cross many machine boxes, the hardest case for the box stage.

For scale, the aimed rays against the machines' world boxes only (the first stage of a
pick, no exact triangle test).

usage: python benchmarks/bench_pick.py [--machines 2000] [--rays 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line

from plantgen.synthetic import write_large_plant
from xrclient.core.picking_mesh import box_rows, slab, slab_hits
from xrclient.render.camera import view_for_viewpoint
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.model import Scene
from xrclient.scene.picking import Picker, Ray, ray_from_pixel
from xrclient.scene.schema import load_scene

SIZE = (1280, 720)


def aimed_rays(scene: Scene, geometry: SceneGeometry, count: int, seed: int) -> list[Ray]:
    rng = np.random.default_rng(seed)
    boxes = geometry.machine_bounds.astype(np.float64)
    rays: list[Ray] = []
    for _ in range(count):
        eye = np.asarray(scene.viewpoints[int(rng.integers(len(scene.viewpoints)))].position)
        box = boxes[int(rng.integers(len(boxes)))]
        target = box[0] + rng.uniform(0.1, 0.9, 3) * (box[1] - box[0])
        rays.append(Ray(tuple(eye), tuple(target - eye)))
    return rays


def pixel_rays(scene: Scene, geometry: SceneGeometry, count: int, seed: int) -> list[Ray]:
    rng = np.random.default_rng(seed)
    views = [view_for_viewpoint(vp, SIZE, geometry.bounds) for vp in scene.viewpoints]
    rays: list[Ray] = []
    for _ in range(count):
        x, y = rng.uniform((0.0, 0.0), SIZE)
        rays.append(ray_from_pixel(views[int(rng.integers(len(views)))], float(x), float(y)))
    return rays


def aisle_rays(geometry: SceneGeometry, count: int, seed: int) -> list[Ray]:
    rng = np.random.default_rng(seed)
    lo, hi = geometry.bounds.astype(np.float64)
    rays: list[Ray] = []
    for _ in range(count):
        origin = (lo[0] + 1.0, rng.uniform(0.3, 3.0), rng.uniform(lo[2] + 5.0, hi[2] - 5.0))
        direction = (1.0, rng.uniform(-0.01, 0.01), rng.uniform(-0.02, 0.02))
        rays.append(Ray(origin, direction))
    return rays


def per_call(call: Callable[[Ray], object], rays: list[Ray]) -> npt.NDArray[np.float64]:
    """Seconds per call, one call per ray, after a warm-up pass."""
    for ray in rays:
        call(ray)
    out = np.empty(len(rays))
    for i, ray in enumerate(rays):
        start = time.perf_counter()
        call(ray)
        out[i] = time.perf_counter() - start
    return out


def summary(label: str, seconds: npt.NDArray[np.float64], extra: str = "") -> str:
    med, p99 = np.median(seconds) * 1e3, np.percentile(seconds, 99) * 1e3
    return f"  {label:10s} median {med:.3f} ms, p99 {p99:.3f} ms{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--rays", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    with tempfile.TemporaryDirectory() as tmp:
        scene = load_scene(write_large_plant(Path(tmp), machines=args.machines))
        geometry, _ = load_geometry(scene, LoadLimits())
    start = time.perf_counter()
    picker = Picker(geometry)
    build = time.perf_counter() - start
    sets = {
        "aimed": aimed_rays(scene, geometry, args.rays, args.seed),
        "pixels": pixel_rays(scene, geometry, args.rays, args.seed + 1),
        "aisles": aisle_rays(geometry, args.rays, args.seed + 2),
    }
    boxes = box_rows(geometry.machine_bounds[:, 0], geometry.machine_bounds[:, 1])

    def boxes_only(ray: Ray) -> object:
        enter, leave = slab(boxes, np.asarray(ray.origin), np.asarray(ray.direction))
        return slab_hits(enter, leave, np.inf)

    print(
        f"\n## Picking ({len(scene.machines)} machines, {picker.instance_count} instances "
        f"with fixtures, {geometry.triangle_count:,} instanced triangles)"
    )
    print(f"  picker build: {build * 1e3:.0f} ms; {args.rays} rays per set")
    everything = []
    for label, rays in sets.items():
        seconds = per_call(picker.pick, rays)
        everything.append(seconds)
        rate = sum(picker.pick(r) is not None for r in rays) / len(rays)
        print(summary(label, seconds, f", {rate:.0%} pick a machine"))
    print(summary("all", np.concatenate(everything)))
    print(summary("boxes only", per_call(boxes_only, sets["aimed"]), " (aimed rays, stage 1)"))


if __name__ == "__main__":
    main()
