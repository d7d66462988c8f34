"""The installed wheel, not the checkout, finds its shaders, assets and scenes and renders."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("xrclient-*.whl")
    return found


def test_wheel_ships_data_inside_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "xrclient/scenes/demo-plant.toml" in names
    assert "xrclient/assets/cnc_mill.glb" in names
    assert any(n.startswith("xrclient/shaders/") and n.endswith(".frag") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/", "scripts/")) for n in names)
    # build-time tooling stays in the checkout: the generators of the sample models
    assert not any(n.startswith("plantgen/") or "factory_models" in n for n in names)
    assert "xrclient/scene/schema.py" in names


def test_installed_wheel_renders_the_demo_scene(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "wheel.png"
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("DISPLAY", None)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import xrclient, xrclient.resources as r; print(xrclient.__file__); "
            "print(r.data_dir('shaders')); print(r.scene_path('demo-plant'))",
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    for line in probe.stdout.split():
        assert line.startswith(str(target)), f"{line} is not from the installed wheel"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xrclient",
            "snapshot",
            "demo-plant",
            "--out",
            str(out),
            "--size",
            "320x180",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout
    with Image.open(out) as png:
        image = np.asarray(png.convert("RGB"))
    assert image.shape == (180, 320, 3)
    background = image[0, 0].astype(int)
    differs = np.abs(image.astype(int) - background).sum(axis=2) > 30
    assert differs.mean() > 0.2, "the plant should cover a good part of the image"
