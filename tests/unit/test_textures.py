"""Base colour textures in the loaded MeshData: UVs, the texture table and ranges, glTF
sampler / texCoord / KHR_texture_transform, EXT_texture_webp, the texture budget and
hostile image headers. Files are hand-built and written by the tests."""

from __future__ import annotations

import base64
import io
import math
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import trimesh
from interop_builders import CUBE_FACES, CUBE_POSITIONS, GltfBuilder, png_bytes
from PIL import Image
from trimesh.visual import TextureVisuals
from trimesh.visual.material import PBRMaterial

from xrclient.errors import AssetLimitError, MalformedAssetError
from xrclient.scene.flatten import flatten_scene
from xrclient.scene.guards import DEFAULT_LIMITS, LoadLimits
from xrclient.scene.guards_gltf import check_image_bytes
from xrclient.scene.loaders import load_mesh, load_nodes
from xrclient.scene.mesh import MeshData
from xrclient.scene.textures import (
    CLAMP_TO_EDGE,
    MIRRORED_REPEAT,
    NEAREST,
    budget_divisor,
    texture_bytes,
    uv_transform,
)

QUAD = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float32)
QUAD_UV = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], dtype=np.float32)
QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint32)


def solid(rgba: tuple[int, int, int, int], size: tuple[int, int] = (4, 4)) -> npt.NDArray[Any]:
    return np.tile(np.array(rgba, dtype=np.uint8), (size[1], size[0], 1))


def textured_builder(
    images: list[bytes], materials: int = 1, **info: Any
) -> tuple[GltfBuilder, list[int]]:
    """A builder with embedded images, one texture per image and ``materials`` materials,
    material k drawing texture ``k % len(images)``."""
    b = GltfBuilder()
    for data in images:
        b.add("images", {"bufferView": b.view(data), "mimeType": "image/png"})
        b.add("textures", {"source": len(b.doc["textures"]) if "textures" in b.doc else 0})
    mats = [
        b.material(
            f"m{k}", [1.0, 1.0, 1.0, 1.0],
            pbr={"baseColorTexture": {"index": k % len(images), **info}},
        )
        for k in range(materials)
    ]  # fmt: skip
    return b, mats


def quad_primitive(
    b: GltfBuilder, material: int | None, offset: float = 0.0, **attrs: int
) -> dict[str, Any]:
    uv = b.accessor(QUAD_UV)
    corners = QUAD + np.float32([offset, 0, 0])
    return b.primitive(corners, QUAD_FACES, material=material, TEXCOORD_0=uv, **attrs)


def write_glb(b: GltfBuilder, tmp_path: Path, name: str = "model.glb") -> Path:
    path = tmp_path / name
    path.write_bytes(b.glb())
    return path


def test_untextured_meshes_keep_their_layout(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.scene(b.node(mesh=b.cube_mesh(b.material("grey", [0.5, 0.5, 0.5, 1.0]))))
    mesh = load_mesh(write_glb(b, tmp_path))
    assert mesh.uvs is None and mesh.textures == () and not mesh.textured
    assert mesh.texture_ranges.shape == (0, 3)
    assert mesh.interleaved().shape == (mesh.vertex_count, 10)
    direct = MeshData("m", QUAD, np.zeros_like(QUAD), np.ones((4, 4), np.float32), QUAD_FACES)
    assert direct.uvs is None and direct.texture_ranges.shape == (0, 3)


def test_textures_get_contiguous_ranges_and_each_image_is_decoded_once(tmp_path: Path) -> None:
    red, blue = png_bytes(solid((255, 0, 0, 255))), png_bytes(solid((0, 0, 255, 255)))
    b, mats = textured_builder([red, blue], materials=3)  # m0: red, m1: blue, m2: red
    b.doc["materials"][mats[2]]["alphaMode"] = "MASK"  # another entry, the same image
    plain = b.material("plain", [0.0, 1.0, 0.0, 1.0])
    prims = [quad_primitive(b, m, 3.0 * k) for k, m in enumerate([mats[0], plain, mats[1]])]
    prims.append(quad_primitive(b, mats[2], 9.0))
    b.scene(*(b.node(mesh=b.mesh(p, name=f"q{k}")) for k, p in enumerate(prims)))
    mesh = load_mesh(write_glb(b, tmp_path))
    assert mesh.textured and mesh.uvs is not None and mesh.uvs.shape == (mesh.vertex_count, 2)
    ranges = mesh.texture_ranges.tolist()
    assert sum(count for _, count, _ in ranges) == mesh.triangle_count == 8
    assert [first for first, _, _ in ranges] == [0, 2, 4, 6]
    assert [index for _, _, index in ranges] == [-1, 0, 1, 2]  # untextured part first
    by_name = {t.name: t for t in mesh.textures}
    assert sorted(by_name) == ["m0", "m1", "m2"] and by_name["m2"].alpha_mode == "MASK"
    assert by_name["m0"].pixels is by_name["m2"].pixels  # one image, decoded once
    assert by_name["m0"].pixels[0, 0].tolist() == [255, 0, 0, 255]
    assert by_name["m1"].pixels[0, 0].tolist() == [0, 0, 255, 255]
    # the untextured part keeps its colour; textured ones the (white) factor
    green = mesh.colors[mesh.indices[ranges[0][0]][0]]
    np.testing.assert_allclose(green, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(mesh.colors[mesh.indices[2][0]], [1.0, 1.0, 1.0, 1.0])


def test_sampler_modes_are_kept(tmp_path: Path) -> None:
    b, (mat,) = textured_builder([png_bytes(solid((9, 9, 9, 255)))])
    b.add("samplers", {"wrapS": CLAMP_TO_EDGE, "wrapT": MIRRORED_REPEAT, "magFilter": NEAREST,
                       "minFilter": NEAREST})  # fmt: skip
    b.doc["textures"][0]["sampler"] = 0
    b.scene(b.node(mesh=b.mesh(quad_primitive(b, mat))))
    (texture,) = load_mesh(write_glb(b, tmp_path)).textures
    assert (texture.wrap_s, texture.wrap_t) == (CLAMP_TO_EDGE, MIRRORED_REPEAT)
    assert (texture.min_filter, texture.mag_filter) == (NEAREST, NEAREST)


@pytest.mark.parametrize("where", ["info", "transform"])
def test_tex_coord_picks_the_second_uv_set(tmp_path: Path, where: str) -> None:
    info: dict[str, Any] = (
        {"texCoord": 1}
        if where == "info"
        else {"extensions": {"KHR_texture_transform": {"texCoord": 1}}}
    )
    b, (mat,) = textured_builder([png_bytes(solid((9, 9, 9, 255)))], **info)
    second = np.array([[0.25, 0.5], [0.75, 0.5], [0.75, 0.0], [0.25, 0.0]], dtype=np.float32)
    prim = quad_primitive(b, mat, TEXCOORD_1=b.accessor(second))
    b.scene(b.node(mesh=b.mesh(prim)))
    mesh = load_mesh(write_glb(b, tmp_path))
    assert mesh.uvs is not None
    np.testing.assert_allclose(mesh.uvs, second, atol=1e-6)


def test_texture_transform_matrix_is_t_r_s() -> None:
    m = uv_transform({"offset": [0.5, 0.25], "rotation": math.pi / 2, "scale": [2.0, 3.0]})
    # u' = cos * 2u + sin * 3v + 0.5, v' = -sin * 2u + cos * 3v + 0.25
    np.testing.assert_allclose(m @ [1.0, 0.0, 1.0], [0.5, -1.75, 1.0], atol=1e-12)
    np.testing.assert_allclose(m @ [0.0, 1.0, 1.0], [3.5, 0.25, 1.0], atol=1e-12)
    np.testing.assert_allclose(uv_transform({"scale": "bad", "offset": [None, "x"]}), np.eye(3))


def test_texture_transform_applies_to_the_uvs(tmp_path: Path) -> None:
    ext = {"KHR_texture_transform": {"offset": [0.5, 0.0], "scale": [0.5, 1.0]}}
    b, (mat,) = textured_builder([png_bytes(solid((9, 9, 9, 255)))], extensions=ext)
    b.doc["extensionsUsed"] = b.doc["extensionsRequired"] = ["KHR_texture_transform"]
    b.scene(b.node(mesh=b.mesh(quad_primitive(b, mat))))
    mesh = load_mesh(write_glb(b, tmp_path))
    assert mesh.uvs is not None
    np.testing.assert_allclose(mesh.uvs[:, 0], 0.5 * QUAD_UV[:, 0] + 0.5, atol=1e-6)
    np.testing.assert_allclose(mesh.uvs[:, 1], QUAD_UV[:, 1], atol=1e-6)


def webp_bytes(rgba: npt.NDArray[Any]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="WEBP", lossless=True)
    return out.getvalue()


def test_required_webp_texture_is_decoded(tmp_path: Path) -> None:
    b = GltfBuilder()
    b.add("images", {"bufferView": b.view(webp_bytes(solid((0, 200, 0, 255)))),
                     "mimeType": "image/webp"})  # fmt: skip
    b.add("textures", {"extensions": {"EXT_texture_webp": {"source": 0}}})
    b.doc["extensionsUsed"] = b.doc["extensionsRequired"] = ["EXT_texture_webp"]
    mat = b.material("w", [1.0, 1.0, 1.0, 1.0], pbr={"baseColorTexture": {"index": 0}})
    b.scene(b.node(mesh=b.mesh(quad_primitive(b, mat))))
    (texture,) = load_mesh(write_glb(b, tmp_path)).textures
    assert texture.pixels[0, 0].tolist() == [0, 200, 0, 255]
    b.doc["textures"][0]["extensions"]["EXT_texture_webp"]["source"] = 5
    with pytest.raises(MalformedAssetError, match="EXT_texture_webp"):
        load_mesh(write_glb(b, tmp_path, "bad.glb"))


def test_budget_halves_until_it_fits_or_refuses(tmp_path: Path) -> None:
    assert texture_bytes(256, 256) == 349_525
    assert budget_divisor(tmp_path, [(256, 256)], 400_000) == 1
    assert budget_divisor(tmp_path, [(256, 256), (256, 256)], 400_000) == 2
    assert budget_divisor(tmp_path, [(256, 256)], 1_400) == 16
    with pytest.raises(AssetLimitError, match="even at 1/16 of their size"):
        budget_divisor(tmp_path, [(256, 256)], 1_300)
    b, (mat,) = textured_builder([png_bytes(solid((1, 2, 3, 255), (256, 256)))])
    b.scene(b.node(mesh=b.mesh(quad_primitive(b, mat))))
    path = write_glb(b, tmp_path)
    with pytest.raises(AssetLimitError, match="above the budget of 1,000"):
        load_mesh(path, LoadLimits(max_texture_bytes=1_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_mesh(path).textures[0].size == (256, 256)  # the default budget: no warning


def riff(chunk: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


@pytest.mark.parametrize(
    "raw",
    [
        # PNG IHDR claiming 100k x 100k
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
        + struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0) + b"\x00" * 4,
        # WebP extended header (VP8X) with a 16384 x 16384 canvas
        riff(b"VP8X", b"\x00" * 4 + (16383).to_bytes(3, "little") * 2),
        # lossless WebP (VP8L) header of 16384 x 16384
        riff(b"VP8L", b"\x2f" + (16383 | 16383 << 14).to_bytes(4, "little") + b"\x00" * 8),
    ],
    ids=["png", "webp-vp8x", "webp-vp8l"],
)  # fmt: skip
def test_image_headers_that_claim_too_many_pixels_are_refused(raw: bytes) -> None:
    with pytest.raises(AssetLimitError, match="declares"):
        check_image_bytes(Path("x.glb"), raw, "image 0", DEFAULT_LIMITS)


def test_a_real_webp_header_is_read(tmp_path: Path) -> None:
    raw = webp_bytes(solid((1, 2, 3, 255), (300, 200)))
    check_image_bytes(tmp_path, raw, "image 0", DEFAULT_LIMITS)
    with pytest.raises(AssetLimitError, match="300x200"):
        check_image_bytes(tmp_path, raw, "image 0", LoadLimits(max_image_pixels=59_999))


def test_hostile_webp_in_a_glb_is_refused_before_decoding(tmp_path: Path) -> None:
    b = GltfBuilder()
    huge = riff(b"VP8X", b"\x00" * 4 + (16383).to_bytes(3, "little") * 2)
    b.add("images", {"uri": "data:image/webp;base64," + base64.b64encode(huge).decode()})
    b.add("textures", {"extensions": {"EXT_texture_webp": {"source": 0}}})
    mat = b.material("w", [1.0, 1.0, 1.0, 1.0], pbr={"baseColorTexture": {"index": 0}})
    b.scene(b.node(mesh=b.mesh(quad_primitive(b, mat))))
    with pytest.raises(AssetLimitError, match="16384x16384"):
        load_mesh(write_glb(b, tmp_path))


def test_textures_survive_the_node_split(tmp_path: Path) -> None:
    b, (mat,) = textured_builder([png_bytes(solid((255, 0, 0, 255)))])
    grey = b.material("grey", [0.5, 0.5, 0.5, 1.0])
    label = b.node(name="Label", mesh=b.mesh(quad_primitive(b, mat), name="label"))
    frame = b.node(name="Frame", mesh=b.cube_mesh(grey))
    b.scene(b.node(name="Cell", children=[label, frame]))
    split = load_nodes(write_glb(b, tmp_path), ("Label",))
    (machine,) = split.machines
    assert machine.textured and machine.texture_ranges.tolist() == [[0, 2, 0]]
    assert machine.textures[0].pixels[0, 0].tolist() == [255, 0, 0, 255]
    assert split.rest is not None and not split.rest.textured


def pbr_quad(image: Image.Image, factor: list[float], uv: Any = QUAD_UV) -> trimesh.Trimesh:
    quad = trimesh.Trimesh(vertices=QUAD, faces=QUAD_FACES, process=False)
    flipped = None if uv is None else np.column_stack([uv[:, 0], 1.0 - uv[:, 1]])
    quad.visual = TextureVisuals(
        uv=flipped, material=PBRMaterial(baseColorTexture=image, baseColorFactor=factor)
    )
    return quad


def test_a_scene_built_in_code_draws_its_texture(tmp_path: Path) -> None:
    """What a USD reader hands over: TextureVisuals with a PBRMaterial and a PIL image."""
    image = Image.fromarray(solid((0, 0, 255, 255), (8, 4)), "RGBA")
    scene = trimesh.Scene()
    scene.add_geometry(pbr_quad(image, [0.5, 1.0, 1.0, 1.0]), node_name="a", geom_name="a")
    matrices = np.stack([np.eye(4), np.eye(4)])
    matrices[1, 0, 3] = 3.0
    scene.add_geometry(pbr_quad(image, [1.0, 1.0, 1.0, 1.0]), node_name="b", geom_name="b")
    mesh = flatten_scene(tmp_path / "plant.usd", scene, True, DEFAULT_LIMITS, 1.0, {"b": matrices})
    # one image, one sampling: one texture (the factors live in the vertex colours)
    assert mesh.textured and mesh.triangle_count == 6 and len(mesh.textures) == 1
    assert mesh.texture_ranges.tolist() == [[0, 6, 0]]
    assert mesh.textures[0].size == (8, 4)
    assert mesh.uvs is not None
    np.testing.assert_allclose(mesh.uvs, np.tile(QUAD_UV, (3, 1)), atol=1e-6)  # 1 + 2 copies
    np.testing.assert_allclose(mesh.colors[0], [0.5, 1.0, 1.0, 1.0], atol=3e-3)


def test_without_uvs_the_texture_gives_its_mean_colour(tmp_path: Path) -> None:
    pixels = solid((255, 255, 255, 255), (2, 1))
    pixels[0, 1] = (0, 0, 0, 255)
    scene = trimesh.Scene(pbr_quad(Image.fromarray(pixels, "RGBA"), [1.0, 1.0, 1.0, 1.0], None))
    mesh = flatten_scene(tmp_path / "a.glb", scene, True, DEFAULT_LIMITS, 1.0)
    assert not mesh.textured and mesh.uvs is None
    np.testing.assert_allclose(mesh.colors[0], [0.5, 0.5, 0.5, 1.0], atol=1e-3)


def test_an_image_over_the_pixel_limit_is_refused_in_code_scenes(tmp_path: Path) -> None:
    image = Image.fromarray(solid((1, 1, 1, 255), (64, 64)), "RGBA")
    scene = trimesh.Scene(pbr_quad(image, [1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(AssetLimitError, match="64x64 pixels"):
        flatten_scene(tmp_path / "a.usd", scene, True, LoadLimits(max_image_pixels=4000), 1.0)


def test_obj_materials_with_map_kd_become_ranges(tmp_path: Path) -> None:
    Image.fromarray(solid((255, 0, 0, 255)), "RGBA").save(tmp_path / "red.png")
    Image.fromarray(solid((0, 0, 255, 255)), "RGBA").save(tmp_path / "blue.png")
    (tmp_path / "m.mtl").write_text(
        "newmtl red\nKd 1 1 1\nmap_Kd red.png\nnewmtl blue\nmap_Kd blue.png\n"
    )
    (tmp_path / "m.obj").write_text(
        "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
        "usemtl red\nf 1/1 2/2 3/3\nusemtl blue\nf 1/1 3/3 4/4\n"
    )
    mesh = load_mesh(tmp_path / "m.obj")
    assert mesh.textured and len(mesh.textures) == 2
    assert sorted(t.pixels[0, 0, :3].tolist() for t in mesh.textures) == [[0, 0, 255], [255, 0, 0]]
    assert [c for _, c, _ in mesh.texture_ranges.tolist()] == [1, 1]
    np.testing.assert_allclose(mesh.colors[:, :3], 1.0)  # Kd 1 or no Kd: the image as it is


def test_cube_with_zero_uvs_still_loads(tmp_path: Path) -> None:
    b, (mat,) = textured_builder([png_bytes(solid((10, 20, 30, 255)))])
    prim = b.primitive(CUBE_POSITIONS, CUBE_FACES, material=mat,
                       TEXCOORD_0=b.accessor(np.zeros((8, 2))))  # fmt: skip
    b.scene(b.node(mesh=b.mesh(prim)))
    mesh = load_mesh(write_glb(b, tmp_path))
    assert mesh.triangle_count == 12 and mesh.textured


def test_ply_texture_file_is_drawn(tmp_path: Path) -> None:
    Image.fromarray(solid((255, 0, 0, 255)), "RGBA").save(tmp_path / "tex.png")
    (tmp_path / "q.ply").write_text(
        "ply\nformat ascii 1.0\ncomment TextureFile tex.png\nelement vertex 4\n"
        "property float x\nproperty float y\nproperty float z\nproperty float s\n"
        "property float t\nelement face 2\nproperty list uchar int vertex_indices\n"
        "end_header\n-1 -1 0 0 0\n1 -1 0 1 0\n1 1 0 1 1\n-1 1 0 0 1\n3 0 1 2\n3 0 2 3\n"
    )
    mesh = load_mesh(tmp_path / "q.ply")
    assert mesh.textured and mesh.textures[0].pixels[0, 0].tolist() == [255, 0, 0, 255]
    assert mesh.uvs is not None
    np.testing.assert_allclose(mesh.uvs, [[0, 1], [1, 1], [1, 0], [0, 0]], atol=1e-6)
