"""The command line as a user runs it: real processes, real files, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from xrclient.resources import data_dir, scene_path


def xrclient(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "xrclient", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


@pytest.mark.parametrize("command", [[], ["snapshot"], ["inspect"], ["demo"], ["twin-sim"]])
def test_help_is_available(command: list[str]) -> None:
    run = xrclient(*command, "--help")
    assert run.returncode == 0
    assert "usage: xrclient" in run.stdout


def test_top_level_help_lists_commands() -> None:
    run = xrclient("--help")
    for command in ("snapshot", "inspect", "demo", "twin-sim"):
        assert command in run.stdout


def test_snapshot_named_view_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "line-a.png"
    run = xrclient(
        "snapshot",
        str(scene_path("demo-plant")),
        "--out",
        str(out),
        "--size",
        "400x240",
        "--view",
        "line-a",
    )
    assert run.returncode == 0, run.stderr
    assert "view 'line-a'" in run.stdout
    with Image.open(out) as image:
        assert image.size == (400, 240)


def test_snapshot_unknown_view_is_a_clear_error(tmp_path: Path) -> None:
    run = xrclient("snapshot", "demo-plant", "--out", str(tmp_path / "x.png"), "--view", "roof")
    assert run.returncode == 1
    assert "no viewpoint named 'roof'" in run.stderr
    assert "overview" in run.stderr  # lists the known ones
    assert not (tmp_path / "x.png").exists()


def test_snapshot_bad_scene_reports_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = scene_path("demo-plant").read_text().replace("../assets/", str(data_dir("assets")) + "/")
    bad.write_text(text.replace('type = "lathe"', 'type = "lathe"\nspindle = 3', 1))
    run = xrclient("snapshot", str(bad), "--out", str(tmp_path / "x.png"))
    assert run.returncode == 1
    assert "spindle: unknown key" in run.stderr and str(bad) in run.stderr
    assert "Traceback" not in run.stderr


def test_snapshot_bad_size_argument() -> None:
    run = xrclient("snapshot", "demo-plant", "--out", "x.png", "--size", "big")
    assert run.returncode == 2
    assert "expected WIDTHxHEIGHT" in run.stderr


def test_demo_without_display_renders_and_says_where(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    run = xrclient("demo", "--out", str(out), "--size", "320x180")
    assert run.returncode == 0, run.stderr
    assert "no display" in run.stderr
    assert str(out.resolve()) in run.stdout
    assert out.is_file()


def test_the_hall_model_becomes_a_live_demo(tmp_path: Path) -> None:
    """The README's bring-your-own-plant path on the shipped one-file hall: scene init,
    then the demo on that scene, every machine a node of the Draco-compressed model."""
    scene = tmp_path / "hall.toml"
    init = xrclient(
        "scene", "init", str(data_dir("assets") / "hall.glb"), "--machines", "*-[A-Z]*[0-9]",
        "--type-from", "extras.type", "--out", str(scene),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert "65 machines on 4 lines" in init.stdout
    assert "every mesh node is part of a machine" not in init.stdout  # the building is not
    out = tmp_path / "hall.png"
    run = xrclient("demo", "--scene", str(scene), "--out", str(out), "--size", "320x180")
    assert run.returncode == 0, run.stderr
    assert "65 machines" in run.stdout
    assert "65/65 machines reporting" in run.stdout
    pixels = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    background = pixels[0, 0]
    assert np.count_nonzero(np.abs(pixels - background).sum(axis=2) > 30) > 0.1 * 320 * 180


def test_inspect_several_files_json(tmp_path: Path) -> None:
    good = tmp_path / "box.stl"
    trimesh.creation.box(extents=(1, 2, 3)).export(good)
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"NOPE" + b"\0" * 40)
    scene = scene_path("demo-plant")
    run = xrclient("inspect", "--json", str(good), str(bad), str(scene))
    assert run.returncode == 1  # one file was rejected
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["file"] for r in records] == [str(good), str(bad), str(scene)]
    assert records[0]["ok"] is True and records[0]["triangles"] == 12
    np.testing.assert_allclose(records[0]["bounds"], [[-0.5, -1, -1.5], [0.5, 1, 1.5]], atol=1e-6)
    assert records[1]["ok"] is False and "bad.glb" in records[1]["error"]
    assert records[2]["ok"] is True and records[2]["kind"] == "scene"
    assert records[2]["machines"] >= 40 and len(records[2]["lines"]) >= 3
    assert records[2]["bindings"] == {"color": 1, "label": 3, "gauge": 4, "alarm": 5}
    assert records[2]["twin_url"] == "ws://127.0.0.1:8765"


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "xrclient", "inspect", *[str(scene_path("demo-plant"))] * 20],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 141)
    assert b"Traceback" not in err


def test_inspect_text_output_and_exit_zero(tmp_path: Path) -> None:
    good = tmp_path / "ball.ply"
    trimesh.creation.icosphere(subdivisions=2).export(good)
    run = xrclient("inspect", str(good))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{good}: mesh")
    assert "triangles: 320" in run.stdout


def test_a_mesh_file_loaded_with_a_part_missing_warns_in_one_line(tmp_path: Path) -> None:
    obj = tmp_path / "part.obj"
    obj.write_text("mtllib gone.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl steel\nf 1 2 3\n")
    run = xrclient("inspect", str(obj))
    assert run.returncode == 0, run.stderr
    warning = [line for line in run.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("xrclient: warning: "), run.stderr
    assert str(obj) in warning[0] and "gone.mtl" in warning[0], run.stderr
    assert "warnings.warn" not in run.stderr and ".py:" not in run.stderr
