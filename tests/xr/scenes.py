"""Small scenes for the headset tests, written next to a copy of a shipped asset."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the AGV model's box: x -0.42..0.42, y 0..0.42, z -0.65..0.65
AGV_LIFT = 1.1
#: centre of the machine in front of the user (world)
TARGET_CENTRE = (0.0, AGV_LIFT + 0.21, 0.0)


def agv_scene(folder: Path) -> Path:
    """An AGV raised to chest height 2 m in front of where the user starts (the scene's
    viewpoint, facing -Z), and a second one on the floor behind the user (it sets the
    floor at y = 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "assets" / "agv.glb", folder / "agv.glb")
    path = folder / "agv.toml"
    path.write_text(
        f"""format = 1

[plant]
name = "Test cell"

[assets.agv]
path = "agv.glb"

[[lines]]
id = "A"
name = "Line"

[[machines]]
id = "AGV-1"
name = "AGV in front"
type = "agv"
asset = "agv"
line = "A"
transform = {{ position = [0.0, {AGV_LIFT}, 0.0] }}

[[machines]]
id = "AGV-2"
name = "AGV behind"
type = "agv"
asset = "agv"
line = "A"
transform = {{ position = [0.0, 0.0, 30.0] }}

[[viewpoints]]
name = "front"
position = [0.0, 1.6, 2.0]
target = [0.0, 1.3, 0.0]
fov = 60.0
""",
        encoding="utf-8",
    )
    return path
