"""A procedure step's image is untrusted input: checked before decoding, scaled to fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xrclient.render.image_file import MAX_BYTES, load_image


def test_a_png_is_scaled_to_fit_and_keeps_its_colours(tmp_path: Path) -> None:
    path = tmp_path / "step.png"
    Image.new("RGB", (800, 400), (250, 200, 40)).save(path)
    pixels = load_image(path, fit=320)
    assert pixels.shape == (160, 320, 4) and pixels.dtype == np.uint8
    assert tuple(pixels[80, 160]) == (250, 200, 40, 255)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.png", None, "cannot read missing.png"),
        ("text.png", b"not an image at all", "text.png: not a readable image"),
        ("big.png", b"\x89PNG" + b"\0" * (MAX_BYTES + 1), f"over the {MAX_BYTES} limit"),
    ],
)
def test_bad_files_say_why(tmp_path: Path, name: str, content: bytes | None, expected: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=expected):
        load_image(path)


def test_other_formats_and_huge_dimensions_are_refused(tmp_path: Path) -> None:
    bmp = tmp_path / "step.png"  # the name says PNG; the content decides
    Image.new("RGB", (8, 8)).save(bmp, format="BMP")
    with pytest.raises(ValueError, match="expected a PNG or JPEG image, got BMP"):
        load_image(bmp)
    wide = tmp_path / "wide.png"
    Image.new("1", (9000, 1)).save(wide)
    with pytest.raises(ValueError, match="9000x1 is over 8192"):
        load_image(wide)
