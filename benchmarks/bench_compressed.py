"""Loading a large single-file plant: uncompressed and Draco-compressed GLB.

The plant is one file of many meshes (``--triangles`` in all, ``--meshes`` of them, icospheres
placed on a grid), written by trimesh's own glTF exporter, plain and with
``KHR_draco_mesh_compression``. Each figure is measured in a fresh process, which prints its
wall time and peak RSS:

* ours: ``xrclient.scene.loaders.load_mesh`` (guards, Draco decoded in its child process,
  flattening into one ``MeshData``; the Draco decoder's own child process is not counted);
* baselines, on the same files: ``trimesh.load`` of the plain file, and the bare Draco
  decoder (``DracoPy.decode`` of every compressed primitive, read straight from the GLB).

usage: python benchmarks/bench_compressed.py [--triangles N] [--meshes K] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import trimesh
from _common import machine_line

CHILD = r"""
import json, sys, time
from pathlib import Path
what, path = sys.argv[1], Path(sys.argv[2])
if what == "ours":
    from xrclient.scene.loaders import LoadLimits, load_mesh
elif what == "trimesh":
    import trimesh
else:
    import struct
    import DracoPy
def hwm():  # this process's own peak RSS in KiB (ru_maxrss would count the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
base = hwm()
start = time.perf_counter()
if what == "ours":
    mesh = load_mesh(path, LoadLimits(max_triangles=50_000_000, max_file_bytes=2**31))
    tris = mesh.triangle_count
elif what == "trimesh":
    scene = trimesh.load(path, force="scene", process=False)
    tris = sum(len(g.faces) for g in scene.geometry.values())
else:
    data = path.read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + n])
    binary = data[20 + n + 8 :]
    tris = 0
    for mesh in doc["meshes"]:
        for prim in mesh["primitives"]:
            ext = prim["extensions"]["KHR_draco_mesh_compression"]
            view = doc["bufferViews"][ext["bufferView"]]
            off = view.get("byteOffset", 0)
            tris += len(DracoPy.decode(binary[off : off + view["byteLength"]]).faces)
seconds = time.perf_counter() - start
print(json.dumps({"s": seconds, "tris": int(tris), "rss": hwm(), "base": base}))
"""


def write_plant(folder: Path, triangles: int, meshes: int) -> tuple[Path, Path]:
    per = max(80, triangles // meshes)
    subdivisions = max(1, round(float(np.log(per / 20) / np.log(4))))
    ball = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.4)
    count = max(1, triangles // len(ball.faces))
    scene = trimesh.Scene()
    side = int(np.ceil(np.sqrt(count)))
    for i in range(count):
        x, z = divmod(i, side)
        part = ball.copy()
        part.vertices *= 1.0 + 1e-4 * i  # no two parts alike, or the exporter shares one mesh
        scene.add_geometry(
            part,
            node_name=f"part-{i}",
            transform=trimesh.transformations.translation_matrix([x * 1.0, 0.0, z * 1.0]),
        )
    plain, packed = folder / "plant.glb", folder / "plant-draco.glb"
    plain.write_bytes(trimesh.exchange.gltf.export_glb(scene, include_normals=True))
    packed.write_bytes(
        trimesh.exchange.gltf.export_glb(scene, include_normals=True, extension_draco=True)
    )
    return plain, packed


def measure(what: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, what, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triangles", type=int, default=10_000_000)
    ap.add_argument("--meshes", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 M triangles, one round")
    args = ap.parse_args()
    if args.quick:
        args.triangles, args.rounds = 1_000_000, 1
    print(f"# {machine_line()}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        plain, packed = write_plant(Path(tmp), args.triangles, args.meshes)
        print(
            f"# plant: {plain.stat().st_size / 2**20:.0f} MiB plain, "
            f"{packed.stat().st_size / 2**20:.0f} MiB Draco (written by trimesh in "
            f"{time.perf_counter() - t0:.0f} s); medians of {args.rounds} rounds, each in a "
            "fresh process; RSS is the process peak minus its peak after imports"
        )
        cases = [
            ("plain", "ours", plain),
            ("plain", "trimesh", plain),
            ("draco", "ours", packed),
            ("draco", "dracopy", packed),
        ]
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):  # interleaved rounds
            for file, what, path in cases:
                results.setdefault((file, what), []).append(measure(what, path))
        names = {
            "ours": "xrclient load_mesh",
            "trimesh": "trimesh.load (baseline)",
            "dracopy": "DracoPy.decode only (baseline)",
        }
        for (file, what), runs in results.items():
            s = statistics.median(r["s"] for r in runs)
            rss = statistics.median((r["rss"] - r["base"]) / 1024 for r in runs)
            print(
                f"{file:6s} {names[what]:32s} {s:7.2f} s  {int(runs[0]['tris']):>11,} triangles"
                f"  peak RSS +{rss:,.0f} MiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
