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
import warnings
from pathlib import Path

import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, timed
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.synthetic import write_large_plant

from xrclient.app import load_geometry
from xrclient.scene.schema import load_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
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

        def ours() -> None:
            geometry, _ = load_geometry(load_scene(scene_file), LoadLimits())
            for batch in geometry.batches:
                batch.mesh.interleaved()

        geometry, _ = load_geometry(scene, LoadLimits())
        print(
            f"setup: synthetic plant, {len(scene.machines)} machines, {len(files)} mesh files "
            f"({size / 2**20:.1f} MiB), {geometry.triangle_count:,} instanced triangles, "
            f"median of {args.repeat} runs after 1 warm-up"
        )
        floor_med, floor_min = timed(floor, args.repeat)
        ours_med, ours_min = timed(ours, args.repeat)
        print(
            f"plain trimesh.load of the {len(files)} files (floor): {floor_med * 1000:8.1f} ms "
            f"(min {floor_min * 1000:.1f})"
        )
        print(
            f"xrclient scene -> GPU-ready geometry:            {ours_med * 1000:8.1f} ms "
            f"(min {ours_min * 1000:.1f})"
        )
        print(f"ratio ours / floor: {ours_med / floor_med:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
