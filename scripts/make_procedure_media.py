"""Draw the sample procedures' step images (``scenes/procedures/img/*.png``).

Usage: ``python scripts/make_procedure_media.py [--out DIR]``. Deterministic: running it
twice writes the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent

GREY = (86, 92, 100)
DARK = (38, 42, 48)
RED = (205, 40, 32)
YELLOW = (245, 196, 40)
WHITE = (240, 242, 245)


def lockout_disconnect() -> Image.Image:
    """The press cabinet's main disconnect turned to OFF, with a padlock and a tag."""
    img = Image.new("RGB", (320, 240), (24, 28, 34))
    d = ImageDraw.Draw(img)
    d.rectangle((40, 20, 280, 225), fill=GREY, outline=DARK, width=4)  # cabinet door
    d.rectangle((60, 40, 130, 90), fill=DARK)  # name plate
    d.text((68, 50), "PRS-B3", fill=WHITE)
    d.text((68, 66), "MAIN", fill=WHITE)
    d.ellipse((70, 110, 170, 210), fill=YELLOW, outline=DARK, width=3)  # switch plate
    d.text((80, 118), "ON", fill=DARK)
    d.text((140, 118), "OFF", fill=DARK)
    d.ellipse((100, 140, 140, 180), fill=RED)  # the rotary handle ...
    d.rectangle((112, 128, 168, 150), fill=RED)  # ... turned to OFF
    d.rectangle((160, 150, 200, 182), fill=DARK)  # padlock body
    d.arc((164, 128, 196, 160), 180, 360, fill=DARK, width=6)  # shackle
    d.rectangle((205, 120, 265, 200), fill=WHITE, outline=RED, width=4)  # tag
    d.text((214, 136), "DANGER", fill=RED)
    d.text((214, 156), "LOCKED", fill=DARK)
    d.text((214, 172), "OUT", fill=DARK)
    d.line((200, 166, 205, 160), fill=DARK, width=2)
    return img


IMAGES = {"lockout-disconnect.png": lockout_disconnect}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "scenes" / "procedures" / "img")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in IMAGES.items():
        path = args.out / name
        draw().save(path, optimize=True)
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
