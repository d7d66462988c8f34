"""The same part through the converters plants use: obj2gltf, gltf-pipeline and assimp.

A C-frame (a concave outline extruded, two materials given as OBJ ``Kd``) is written as OBJ
and converted by each tool; every conversion must load as the same part as the OBJ itself:
the same triangles' area (the opening kept), the same bounds and the same colours (OBJ
``Kd`` and glTF ``baseColorFactor`` are both linear, so the two files look the same).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from gltf_tools import glb_document, run_tool, validator_errors

from xrclient.scene.loaders import load_mesh
from xrclient.scene.mesh import MeshData

#: the C outline (concave), extruded 1 m along z: faces of 7 m^2 each, sides of 16 m^2
OUTLINE = [(0, 0), (3, 0), (3, 1), (1, 1), (1, 2), (3, 2), (3, 3), (0, 3)]
AREA = 2 * 7.0 + 16.0
RED = (0.8, 0.1, 0.05)
GREY = (0.3, 0.3, 0.3)


def write_cframe(folder: Path) -> Path:
    n = len(OUTLINE)
    lines = ["mtllib cframe.mtl", "o cframe"]
    lines += [f"v {x} {y} 0" for x, y in OUTLINE] + [f"v {x} {y} 1" for x, y in OUTLINE]
    lines.append("usemtl red")
    lines.append("f " + " ".join(str(i) for i in range(n, 0, -1)))
    lines.append("f " + " ".join(str(n + i) for i in range(1, n + 1)))
    lines.append("usemtl grey")
    for i in range(1, n + 1):
        j = i % n + 1
        lines.append(f"f {i} {j} {n + j} {n + i}")
    kd = {name: " ".join(map(str, rgb)) for name, rgb in (("red", RED), ("grey", GREY))}
    (folder / "cframe.mtl").write_text("".join(f"newmtl {k}\nKd {v}\n" for k, v in kd.items()))
    path = folder / "cframe.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def _area(mesh: MeshData) -> float:
    tri = mesh.positions[mesh.indices].astype(np.float64)
    return float(
        np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum() / 2
    )


def _colours(mesh: MeshData) -> npt.NDArray[np.float64]:
    """The distinct RGB colours of the part's triangles, sorted."""
    rgb = mesh.colors[mesh.indices[:, 0], :3].astype(np.float64)
    return np.unique(rgb.round(2), axis=0)


def assert_same_part(got: MeshData, want: MeshData) -> None:
    assert _area(got) == pytest.approx(AREA, rel=1e-3)
    assert _area(want) == pytest.approx(AREA, rel=1e-6)
    np.testing.assert_allclose(got.bounds, want.bounds, atol=1e-3)
    # within one 8-bit step: the tools store colours at 8 bits or round them
    np.testing.assert_allclose(_colours(got), _colours(want), atol=0.011)
    np.testing.assert_allclose(_colours(want), np.array(sorted([GREY, RED])), atol=0.005)


@pytest.fixture(scope="module")
def cframe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cframe(tmp_path_factory.mktemp("exporters"))


def test_obj2gltf_output_looks_like_the_obj(cframe: Path, tmp_path: Path) -> None:
    out = tmp_path / "cframe.glb"
    run_tool("obj2gltf", "-i", cframe, "-o", out)
    assert validator_errors(out) == []
    assert_same_part(load_mesh(out), load_mesh(cframe))


@pytest.mark.parametrize(
    ("args", "name"),
    [(("-d",), "draco.glb"), (("-s",), "separate/cframe.gltf")],
    ids=["draco", "separate-resources"],
)
def test_gltf_pipeline_output_looks_like_the_obj(
    cframe: Path, tmp_path: Path, args: tuple[str, ...], name: str
) -> None:
    source = tmp_path / "source.glb"
    run_tool("obj2gltf", "-i", cframe, "-o", source)
    out = tmp_path / name
    run_tool("gltf-pipeline", "-i", source, "-o", out, *args)
    if args == ("-d",):
        assert "KHR_draco_mesh_compression" in glb_document(out).get("extensionsRequired", [])
    else:
        assert list(out.parent.glob("*.bin"))  # the buffer is a side file
    assert validator_errors(out) == []
    assert_same_part(load_mesh(out), load_mesh(cframe))


@pytest.mark.parametrize("fmt", ["glb2", "gltf2"])
def test_assimp_output_looks_like_the_obj(cframe: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / ("cframe.glb" if fmt == "glb2" else "cframe.gltf")
    run_tool("assimp", "export", cframe, out, "-f", fmt)
    if fmt == "glb2":
        # assimp writes specular-glossiness next to the metallic-roughness values: the
        # latter are what the author meant for a metallic-roughness renderer
        doc = glb_document(out)
        assert any(
            "KHR_materials_pbrSpecularGlossiness" in m.get("extensions", {})
            for m in doc["materials"]
        )
    assert_same_part(load_mesh(out), load_mesh(cframe))


def test_assimp_ply_to_gltf_keeps_the_concave_faces(tmp_path: Path) -> None:
    n = len(OUTLINE)
    vertices = [f"{x} {y} 0" for x, y in OUTLINE] + [f"{x} {y} 1" for x, y in OUTLINE]
    faces = [" ".join([str(n)] + [str(i) for i in range(n - 1, -1, -1)])]
    faces.append(" ".join([str(n)] + [str(n + i) for i in range(n)]))
    for i in range(n):
        j = (i + 1) % n
        faces.append(f"4 {i} {j} {n + j} {n + i}")
    header = (
        f"ply\nformat ascii 1.0\nelement vertex {2 * n}\nproperty float x\nproperty float y\n"
        f"property float z\nelement face {len(faces)}\nproperty list uchar int vertex_indices\n"
        "end_header\n"
    )
    ply = tmp_path / "cframe.ply"
    ply.write_text(header + "\n".join(vertices + faces) + "\n")
    out = tmp_path / "from-ply.glb"
    run_tool("assimp", "export", ply, out, "-f", "glb2")
    direct, converted = load_mesh(ply), load_mesh(out)
    assert _area(direct) == pytest.approx(AREA, rel=1e-6)
    assert _area(converted) == pytest.approx(AREA, rel=1e-3)
    np.testing.assert_allclose(converted.bounds, direct.bounds, atol=1e-3)
