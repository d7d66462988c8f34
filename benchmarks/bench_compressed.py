"""Loading a large single-file plant: uncompressed, Draco- and meshopt-compressed GLB.

The plant is one file of many meshes (``--triangles`` in all, ``--meshes`` of them, icospheres
placed on a grid), written by trimesh's own glTF exporter, plain and with
``KHR_draco_mesh_compression``; the meshopt file is the plain one through gltfpack
(``-c -kn -noq``: ``EXT_meshopt_compression`` with its filters off and float attributes, named
nodes kept; from ``tools/gltf``, installed by ``scripts/install_gltf_tools.sh``). Each figure
is measured in a fresh process, which prints its wall time and peak RSS:

* ours: ``xrclient.scene.loaders.load_mesh`` (guards, Draco and meshopt decoded in their
  child process, flattening into one ``MeshData``; the decoders' child process is not
  counted in the RSS);
* baselines, on the same files: ``trimesh.load`` of the plain file, the bare Draco decoder
  (``DracoPy.decode`` of every compressed primitive, read straight from the GLB) and the bare
  meshopt decoder (``meshopt.decode_gltf_buffer`` of every compressed bufferView).

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
elif what == "dracopy":
    import DracoPy
else:
    import meshopt
import struct
def hwm():  # this process's own peak RSS in KiB (ru_maxrss would count the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
def glb(path):  # the JSON document and the BIN chunk's bytes
    data = path.read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + n]), data[20 + n + 8 :]
base = hwm()
start = time.perf_counter()
if what == "ours":
    mesh = load_mesh(path, LoadLimits(max_triangles=50_000_000, max_file_bytes=2**31))
    tris = mesh.triangle_count
elif what == "trimesh":
    scene = trimesh.load(path, force="scene", process=False)
    tris = sum(len(g.faces) for g in scene.geometry.values())
elif what == "meshopt":
    doc, binary = glb(path)
    tris = 0
    for view in doc["bufferViews"]:
        ext = view.get("extensions", {}).get("EXT_meshopt_compression")
        if ext is None:
            continue
        off = ext.get("byteOffset", 0)
        rows = meshopt.decode_gltf_buffer(
            binary[off : off + ext["byteLength"]], ext["count"], ext["byteStride"],
            ext["mode"], ext.get("filter", "NONE"),
        )
        if ext["mode"] == "TRIANGLES":
            tris += ext["count"] // 3
else:
    doc, binary = glb(path)
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


def write_meshopt(plain: Path) -> Path:
    """The plain plant through gltfpack: meshopt compression, float attributes, nodes kept."""
    tool = Path(__file__).resolve().parents[1] / "tools" / "gltf" / "node_modules" / ".bin"
    out = plain.with_name("plant-meshopt.glb")
    subprocess.run(
        [str(tool / "gltfpack"), "-i", str(plain), "-o", str(out), "-c", "-kn", "-noq"],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return out


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
        squeezed = write_meshopt(plain)
        print(
            f"# plant: {plain.stat().st_size / 2**20:.0f} MiB plain, "
            f"{packed.stat().st_size / 2**20:.0f} MiB Draco, "
            f"{squeezed.stat().st_size / 2**20:.0f} MiB meshopt (written in "
            f"{time.perf_counter() - t0:.0f} s); medians of {args.rounds} rounds, each in a "
            "fresh process; RSS is the process peak minus its peak after imports"
        )
        cases = [
            ("plain", "ours", plain),
            ("plain", "trimesh", plain),
            ("draco", "ours", packed),
            ("draco", "dracopy", packed),
            ("meshopt", "ours", squeezed),
            ("meshopt", "meshopt", squeezed),
        ]
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):  # interleaved rounds
            for file, what, path in cases:
                results.setdefault((file, what), []).append(measure(what, path))
        names = {
            "ours": "xrclient load_mesh",
            "trimesh": "trimesh.load (baseline)",
            "dracopy": "DracoPy.decode only (baseline)",
            "meshopt": "meshopt decode only (baseline)",
        }
        for (file, what), runs in results.items():
            s = statistics.median(r["s"] for r in runs)
            rss = statistics.median((r["rss"] - r["base"]) / 1024 for r in runs)
            print(
                f"{file:7s} {names[what]:32s} {s:7.2f} s  {int(runs[0]['tris']):>11,} triangles"
                f"  peak RSS +{rss:,.0f} MiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
