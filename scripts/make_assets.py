"""Regenerate the shipped factory models (``assets/*.glb``), the demo scene and the hall model.

Usage: ``python scripts/make_assets.py [--out-assets DIR] [--out-scene FILE]``

Both outputs are deterministic: running the script twice writes the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plantgen import factory_models as fm  # noqa: E402
from plantgen.hall import hall_glb  # noqa: E402
from plantgen.synthetic import demo_plant_toml  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-assets", type=Path, default=ROOT / "assets")
    parser.add_argument("--out-scene", type=Path, default=ROOT / "scenes" / "demo-plant.toml")
    args = parser.parse_args(argv)

    args.out_assets.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in fm.MODELS:
        scene = fm.build(name)
        data = fm.export_glb(scene)
        (args.out_assets / f"{name}.glb").write_bytes(data)
        total += len(data)
        lo, hi = scene.bounds
        size = " x ".join(f"{v:.2f}" for v in hi - lo)
        print(
            f"{name:13s} {len(scene.geometry):3d} parts {fm.triangle_count(scene):6d} triangles "
            f"{len(data) / 1024:7.1f} KiB  {size} m"
        )
    print(f"assets: {total / 1024:.1f} KiB in {len(fm.MODELS)} files -> {args.out_assets}")

    args.out_scene.parent.mkdir(parents=True, exist_ok=True)
    args.out_scene.write_text(demo_plant_toml(), encoding="utf-8")
    print(f"scene: {args.out_scene}")
    # the whole hall as one model file (machines as named nodes), from the scene just written
    hall = hall_glb(demo_plant_toml(), ROOT / "scenes")
    (args.out_assets / "hall.glb").write_bytes(hall)
    print(f"hall model: {len(hall) / 1024:.1f} KiB -> {args.out_assets / 'hall.glb'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
