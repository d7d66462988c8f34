"""Load time of the large synthetic plant against plain trimesh.load of the same files.

The floor is trimesh parsing each distinct mesh file once (what any loader must at least
pay). Ours is the whole path to GPU-ready data: validate the scene, guard and parse every
file, flatten and bake materials, and build the instanced batches with world bounds, plus
the interleaved vertex arrays the renderer uploads.

usage: python benchmarks/bench_load.py [--machines 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import tomllib
import warnings
from pathlib import Path

import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, timed_interleaved

from plantgen.synthetic import write_large_plant
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import AssetCache, LoadLimits
from xrclient.scene.schema import load_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    with tempfile.TemporaryDirectory() as tmp:
        scene_file = write_large_plant(Path(tmp), machines=args.machines)
        scene = load_scene(scene_file)
        files = sorted({a.path for a in scene.assets.values()})
        size = sum(f.stat().st_size for f in files)

        def floor() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for f in files:
                    trimesh.load(f)

        def ours_assets() -> None:
            cache = AssetCache(LoadLimits())
            for asset in scene.assets.values():
                cache.get(asset.path, kind=asset.kind, scale=asset.scale).interleaved()

        def ours_total() -> None:
            geometry, _ = load_geometry(load_scene(scene_file), LoadLimits())
            for batch in geometry.batches:
                batch.mesh.interleaved()

        text = scene_file.read_text()
        geometry, _ = load_geometry(scene, LoadLimits())
        print(
            f"setup: synthetic plant, {len(scene.machines)} machines, {len(files)} mesh files "
            f"({size / 2**20:.1f} MiB), {geometry.triangle_count:,} instanced triangles, "
            f"median of {args.repeat} interleaved rounds after 1 warm-up"
        )
        results = timed_interleaved(
            {
                "plain trimesh.load of the mesh files (floor)": floor,
                "xrclient: guard + load + bake to GPU-ready arrays": ours_assets,
                "  scene file alone: tomllib.loads (reference)": lambda: tomllib.loads(text),
                "  scene file alone: xrclient load_scene (validated)": lambda: load_scene(
                    scene_file
                ),
                "xrclient: whole plant, scene + assets -> geometry": ours_total,
            },
            args.repeat,
        )
        rows = list(results.items())
        floor_med = rows[0][1][0]
        for label, (med, low) in rows:
            print(
                f"{label:<52} {med * 1000:8.1f} ms (min {low * 1000:6.1f})  "
                f"{med / floor_med:5.2f}x floor"
            )
        print("target: mesh loading within 1.5x of the floor")


if __name__ == "__main__":
    main()
