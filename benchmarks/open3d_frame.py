"""Frame time of open3d's OffscreenRenderer for meshes saved by bench_render.py.

Runs in its own process, so that open3d's Filament renderer (Vulkan) and our moderngl EGL
context never share one, and so that its minutes-long frames can be given a timeout.
Input: an .npz with, per mesh type k, ``pos_k`` (V, 3), ``tri_k``
(T, 3) and ``col_k`` (V, 3) already merged over all instances, plus ``eye``, ``target``,
``fov``. Its last line holds the seconds of the first frame and the median seconds of the
``--frames`` frames after it (the first again when ``--frames 0``).

usage: python benchmarks/open3d_frame.py MESHES.npz [--frames 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import open3d as o3d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("meshes")
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    data = np.load(args.meshes)
    render = o3d.visualization.rendering.OffscreenRenderer(width, height)
    material = o3d.visualization.rendering.MaterialRecord()
    material.shader = "defaultLit"
    kinds = sorted({k.split("_", 1)[1] for k in data.files if k.startswith("pos_")})
    for k in kinds:
        mesh = o3d.geometry.TriangleMesh(
            o3d.utility.Vector3dVector(data[f"pos_{k}"].astype(np.float64)),
            o3d.utility.Vector3iVector(data[f"tri_{k}"].astype(np.int32)),
        )
        mesh.vertex_colors = o3d.utility.Vector3dVector(data[f"col_{k}"].astype(np.float64))
        mesh.compute_vertex_normals()
        render.scene.add_geometry(f"mesh_{k}", mesh, material)
    up = np.array([0.0, 1.0, 0.0])
    render.setup_camera(float(data["fov"]), data["target"], data["eye"], up)
    start = time.perf_counter()
    image = np.asarray(render.render_to_image())
    first = time.perf_counter() - start
    samples = []
    for _ in range(args.frames):
        start = time.perf_counter()
        image = np.asarray(render.render_to_image())
        samples.append(time.perf_counter() - start)
    covered = float((np.abs(image.astype(int) - image[0, 0]).sum(axis=2) > 30).mean())
    print(f"open3d: {len(kinds)} merged meshes, image coverage {covered:.2f}")
    print(f"{first:.6f} {statistics.median(samples) if samples else first:.6f}")


if __name__ == "__main__":
    main()
