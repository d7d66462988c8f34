"""Regenerate the golden overlay image the render tests compare against.

usage: python scripts/update_golden.py   (or: make golden)
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.render.golden import GOLDEN, render_golden


def main() -> int:
    image = render_golden()
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, mode="RGB").save(GOLDEN)
    print(f"wrote {GOLDEN} ({image.shape[1]}x{image.shape[0]}); look at it before committing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
