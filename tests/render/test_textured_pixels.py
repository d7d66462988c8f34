"""Base colour textures drawn as textures: real files loaded, drawn through EGL, pixels read.

The quad faces the camera and is lit by ambient light of radiance pi only, so a pixel's
linear value is its albedo: what the texture says, decoded from sRGB once.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from xrclient.backends.headless import HeadlessBackend
from xrclient.core.color import linear_to_srgb
from xrclient.render.renderer import Renderer
from xrclient.scene.guards import LoadLimits
from xrclient.scene.loaders import load_mesh
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Light

from .helpers import geometry_of, scene_of

AMBIENT = (Light("ambient", color=(1.0, 1.0, 1.0), intensity=math.pi),)
RED, BLUE, GREEN, WHITE = (255, 0, 0, 255), (0, 0, 255, 255), (0, 255, 0, 255), (255,) * 4
# the quad: x, y in -1..1 at z = 0; glTF UVs with v = 0 at the top of the image
QUAD = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float32)
QUAD_UV = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], dtype=np.float32)
QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.uint16)


def image(rows: Sequence[Sequence[tuple[int, int, int, int]]]) -> npt.NDArray[np.uint8]:
    return np.array(rows, dtype=np.uint8)


HALVES = image([[RED, BLUE]])  # left red, right blue


def encoded(pixels: npt.NDArray[np.uint8], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(out, format=fmt, **({"lossless": True} if fmt == "WEBP"
                                                            else {}))  # fmt: skip
    return out.getvalue()


def quad_glb(
    images: Sequence[bytes],
    texture: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    sampler: dict[str, Any] | None = None,
    uv: npt.NDArray[np.float32] = QUAD_UV,
    required: Sequence[str] = (),
    factor: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    alpha_mode: str = "OPAQUE",
) -> bytes:
    """A GLB of the quad with one base colour texture (``images`` embedded in order)."""
    blob = bytearray()
    views: list[dict[str, Any]] = []

    def view(data: bytes) -> int:
        blob.extend(b"\x00" * (-len(blob) % 4))
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
        blob.extend(data)
        return len(views) - 1

    accessors = [
        {"bufferView": view(QUAD.tobytes()), "componentType": 5126, "count": 4, "type": "VEC3",
         "min": [-1, -1, 0], "max": [1, 1, 0]},
        {"bufferView": view(np.asarray(uv, np.float32).tobytes()), "componentType": 5126,
         "count": 4, "type": "VEC2"},
        {"bufferView": view(QUAD_FACES.tobytes()), "componentType": 5123, "count": 6,
         "type": "SCALAR"},
    ]  # fmt: skip
    doc: dict[str, Any] = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"name": "quad", "primitives": [
            {"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "indices": 2, "material": 0}]}],
        "materials": [{"alphaMode": alpha_mode, "pbrMetallicRoughness": {
            "baseColorFactor": list(factor), "metallicFactor": 0.0,
            "baseColorTexture": {"index": 0, **(info or {})}}}],
        "textures": [texture if texture is not None else {"source": 0}],
        "images": [{"bufferView": view(data), "mimeType": "image/png"} for data in images],
        "accessors": accessors,
    }  # fmt: skip
    if sampler is not None:
        doc["samplers"] = [sampler]
        doc["textures"][0]["sampler"] = 0
    used = set(required)
    for obj in (texture or {}, info or {}):
        used.update(obj.get("extensions", {}))
    if used:
        doc["extensionsUsed"] = sorted(used)
    if required:
        doc["extensionsRequired"] = list(required)
    blob.extend(b"\x00" * (-len(blob) % 4))
    doc["buffers"] = [{"byteLength": len(blob)}]
    doc["bufferViews"] = views
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    chunks += struct.pack("<II", len(blob), 0x004E4942) + bytes(blob)
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


@pytest.fixture(scope="module")
def backend() -> Iterator[HeadlessBackend]:
    with HeadlessBackend((160, 120), samples=0) as b:
        yield b


def draw(
    backend: HeadlessBackend,
    mesh: MeshData,
    eye: tuple[float, float, float] = (0.0, 0.0, 2.2),
    target: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> npt.NDArray[np.uint8]:
    geometry = geometry_of(scene_of([("quad", (0.0, 0.0, 0.0))]), {"quad": mesh})
    renderer = Renderer(backend.ctx, geometry, AMBIENT)
    try:
        backend.render(renderer, [backend.view_from(eye, target, fov_deg=60.0)])
        return backend.read_rgb()
    finally:
        renderer.release()


def row(img: npt.NDArray[np.uint8], fractions: Sequence[float]) -> list[tuple[int, ...]]:
    """Pixels along the middle row at ``fractions`` of the quad's width (head-on view)."""
    h, w = img.shape[:2]
    half = w / 2 / math.tan(math.radians(30)) / 2.2 * h / w  # pixels per unit at z = 0
    xs = [int(w / 2 + (f * 2 - 1) * half * 0.98) for f in fractions]
    return [tuple(int(c) for c in img[h // 2, x]) for x in xs]


def load(tmp_path: Path, data: bytes, name: str = "quad.glb", **limits: int) -> MeshData:
    path = tmp_path / name
    path.write_bytes(data)
    return load_mesh(path, LoadLimits(**limits))


def test_glb_texture_draws_its_two_halves_not_their_mean(
    backend: HeadlessBackend, tmp_path: Path
) -> None:
    mesh = load(tmp_path, quad_glb([encoded(HALVES)], sampler={"magFilter": 9728}))
    assert mesh.textured and len(mesh.textures) == 1
    left, right = row(draw(backend, mesh), [0.1, 0.9])
    assert left == (255, 0, 0) and right == (0, 0, 255)


def test_obj_map_kd_texture_draws_its_two_halves(backend: HeadlessBackend, tmp_path: Path) -> None:
    wide = np.repeat(np.repeat(HALVES, 8, axis=0), 16, axis=1)  # 32x8: blends at seams only
    (tmp_path / "halves.png").write_bytes(encoded(wide))
    (tmp_path / "quad.mtl").write_text("newmtl label\nmap_Kd halves.png\n")
    (tmp_path / "quad.obj").write_text(
        "mtllib quad.mtl\n"
        "v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
        "usemtl label\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n"
    )
    mesh = load_mesh(tmp_path / "quad.obj")
    assert mesh.textured
    img = draw(backend, mesh)
    (lr, lg, lb), (rr, rg, rb) = row(img, [0.1, 0.9])
    assert lr > 200 and lg < 40 and lb < 40
    assert rb > 200 and rr < 40 and rg < 40


def test_srgb_texel_is_decoded_once(backend: HeadlessBackend, tmp_path: Path) -> None:
    """Texel 128 (sRGB) draws like a vertex colour of linear 0.2158 (= 128 decoded)."""
    grey = image([[(128, 128, 128, 255)] * 4] * 4)
    textured = row(draw(backend, load(tmp_path, quad_glb([encoded(grey)]))), [0.5])[0]
    plain = MeshData(
        name="quad",
        positions=QUAD,
        normals=np.tile(np.float32([0, 0, 1]), (4, 1)),
        colors=np.tile(np.float32([0.2158, 0.2158, 0.2158, 1.0]), (4, 1)),
        indices=QUAD_FACES.astype(np.uint32),
    )
    untextured = row(draw(backend, plain), [0.5])[0]
    assert abs(textured[0] - untextured[0]) <= 1 and abs(textured[0] - 128) <= 1
    assert int(linear_to_srgb(0.2158) * 255 + 0.5) == 128


def test_far_checker_is_filtered_to_grey(backend: HeadlessBackend, tmp_path: Path) -> None:
    """A 1-pixel checker repeated 16 times: about 11 texels per pixel, which unfiltered
    sampling aliases into stripes; the mipmaps average it to linear 0.5 (sRGB 188)."""
    checker = np.zeros((64, 64, 4), dtype=np.uint8)
    checker[..., 3] = 255
    checker[(np.indices((64, 64)).sum(axis=0) % 2) == 0, :3] = 255
    mesh = load(tmp_path, quad_glb([encoded(checker)], uv=QUAD_UV * 16))
    img = draw(backend, mesh)
    h, w = img.shape[:2]
    patch = img[h // 2 - 10 : h // 2 + 10, w // 2 - 10 : w // 2 + 10].astype(np.float64)
    assert 178 < patch.mean() < 198  # grey, neither black nor white
    assert patch.std() < 6  # not the aliasing of an unfiltered checker (std 28)


def test_texture_transform_flips_and_offsets(backend: HeadlessBackend, tmp_path: Path) -> None:
    flip = {"extensions": {"KHR_texture_transform": {"offset": [1.0, 0.0], "scale": [-1, 1]}}}
    mesh = load(tmp_path, quad_glb([encoded(HALVES)], info=flip, sampler={"magFilter": 9728}))
    assert row(draw(backend, mesh), [0.1, 0.9]) == [(0, 0, 255), (255, 0, 0)]
    right = {"extensions": {"KHR_texture_transform": {"offset": [0.5, 0.0], "scale": [0.5, 1]}}}
    mesh = load(tmp_path, quad_glb([encoded(HALVES)], info=right, sampler={"magFilter": 9728}))
    assert row(draw(backend, mesh), [0.1, 0.5, 0.9]) == [(0, 0, 255)] * 3


def test_texture_transform_rotation_turns_uvs_counter_clockwise(
    backend: HeadlessBackend, tmp_path: Path
) -> None:
    """rotation pi/2 with offset (0, 1): u' = v, v' = 1 - u (glTF UVs, v down)."""
    quarters = image([[RED, BLUE], [GREEN, WHITE]])
    turn = {"KHR_texture_transform": {"rotation": math.pi / 2, "offset": [0.0, 1.0]}}
    data = quad_glb([encoded(quarters)], info={"extensions": turn}, sampler={"magFilter": 9728})
    img = draw(backend, load(tmp_path, data))
    h, w = img.shape[:2]
    half = int(w / 2 / math.tan(math.radians(30)) / 2.2 * h / w * 0.6)
    top_left = tuple(int(c) for c in img[h // 2 - half, w // 2 - half])
    top_right = tuple(int(c) for c in img[h // 2 - half, w // 2 + half])
    bottom_left = tuple(int(c) for c in img[h // 2 + half, w // 2 - half])
    assert (top_left, top_right, bottom_left) == ((0, 255, 0), (255, 0, 0), (255, 255, 255))


@pytest.mark.parametrize(
    ("wrap", "expected"),
    [
        (10497, ["r", "b", "r", "b"]),  # REPEAT
        (33071, ["r", "b", "b", "b"]),  # CLAMP_TO_EDGE
        (33648, ["r", "b", "b", "r"]),  # MIRRORED_REPEAT
    ],
)
def test_wrap_modes_with_uvs_to_two(
    backend: HeadlessBackend, tmp_path: Path, wrap: int, expected: list[str]
) -> None:
    uv = QUAD_UV * np.float32([2, 1])
    sampler = {"wrapS": wrap, "magFilter": 9728, "minFilter": 9728}
    mesh = load(tmp_path, quad_glb([encoded(HALVES)], uv=uv, sampler=sampler))
    pixels = row(draw(backend, mesh), [0.125, 0.375, 0.625, 0.875])
    names = {(255, 0, 0): "r", (0, 0, 255): "b"}
    assert [names.get(p, str(p)) for p in pixels] == expected


@pytest.mark.parametrize("fallback", [False, True])
def test_webp_texture_is_drawn(backend: HeadlessBackend, tmp_path: Path, fallback: bool) -> None:
    green = encoded(image([[GREEN]]))
    webp = encoded(HALVES, "WEBP")
    ext = {"extensions": {"EXT_texture_webp": {"source": 1}}}
    texture = {"source": 0, **ext} if fallback else ext
    required = () if fallback else ("EXT_texture_webp",)
    data = quad_glb([green, webp], texture=texture, sampler={"magFilter": 9728}, required=required)
    mesh = load(tmp_path, data)
    assert row(draw(backend, mesh), [0.1, 0.9]) == [(255, 0, 0), (0, 0, 255)]


def test_over_budget_textures_are_drawn_smaller_with_a_warning(
    backend: HeadlessBackend, tmp_path: Path
) -> None:
    big = np.zeros((256, 256, 4), dtype=np.uint8)
    big[..., 3] = 255
    big[:, :128, 0] = 255
    big[:, 128:, 2] = 255
    budget = 100_000  # 256x256 needs 349,525 bytes; 128x128 fits
    with pytest.warns(UserWarning) as caught:
        mesh = load(tmp_path, quad_glb([encoded(big)]), max_texture_bytes=budget)
    text = " ".join(str(w.message) for w in caught)
    assert "textures need 349,525 bytes on the GPU, above the budget of 100,000" in text
    assert "drawn at 1/2 of their size" in text
    assert mesh.textures[0].size == (128, 128)
    geometry = geometry_of(scene_of([("quad", (0.0, 0.0, 0.0))]), {"quad": mesh})
    renderer = Renderer(backend.ctx, geometry, AMBIENT)
    try:
        (batch,) = renderer._all
        assert [t.size for t in renderer._textures.values()] == [(128, 128)]
        assert batch.draw_calls == 1
        backend.render(renderer, [backend.view_from((0.0, 0.0, 2.2), (0.0, 0.0, 0.0))])
        left, right = row(backend.read_rgb(), [0.1, 0.9])
        assert left == (255, 0, 0) and right == (0, 0, 255)
    finally:
        renderer.release()


def test_mask_discards_texels_under_the_cutoff(backend: HeadlessBackend, tmp_path: Path) -> None:
    holes = image([[(255, 0, 0, 255), (0, 0, 255, 10)]])
    data = quad_glb([encoded(holes)], sampler={"magFilter": 9728}, alpha_mode="MASK")
    mesh = load(tmp_path, data)
    assert mesh.textures[0].alpha_mode == "MASK"
    left, right = row(draw(backend, mesh), [0.1, 0.9])
    assert left == (255, 0, 0)
    assert right == (158, 178, 199)  # the background shows through the hole


def test_blended_texture_alpha_makes_the_batch_translucent(
    backend: HeadlessBackend, tmp_path: Path
) -> None:
    half = image([[(255, 0, 0, 128)]])
    mesh = load(tmp_path, quad_glb([encoded(half)], alpha_mode="BLEND"))
    geometry = geometry_of(scene_of([("quad", (0.0, 0.0, 0.0))]), {"quad": mesh})
    renderer = Renderer(backend.ctx, geometry, AMBIENT)
    try:
        (batch,) = renderer._all
        assert batch.translucent
        backend.render(renderer, [backend.view_from((0.0, 0.0, 2.2), (0.0, 0.0, 0.0))])
        drawn = np.array(row(backend.read_rgb(), [0.5])[0])
        # half red over the background (blended as stored: sRGB-encoded, see renderer)
        expected = 0.5 * np.array([255, 0, 0]) + 0.5 * np.array([158, 178, 199])
        assert np.abs(drawn - expected).max() <= 3
    finally:
        renderer.release()


def test_a_mixed_batch_draws_one_call_per_range(backend: HeadlessBackend, tmp_path: Path) -> None:
    """A file of a textured quad (left) and a plain green one (right): two ranges."""
    import trimesh
    from trimesh.visual import TextureVisuals
    from trimesh.visual.material import PBRMaterial

    from xrclient.scene.flatten import flatten_scene
    from xrclient.scene.guards import DEFAULT_LIMITS

    left = trimesh.Trimesh(QUAD * [0.5, 1, 1] - [0.5, 0, 0], QUAD_FACES, process=False)
    flipped = np.column_stack([QUAD_UV[:, 0], 1.0 - QUAD_UV[:, 1]])
    texture = Image.fromarray(image([[BLUE]]), "RGBA")
    left.visual = TextureVisuals(uv=flipped, material=PBRMaterial(baseColorTexture=texture))
    right = trimesh.Trimesh(QUAD * [0.5, 1, 1] + [0.5, 0, 0], QUAD_FACES, process=False)
    right.visual.face_colors = [0, 255, 0, 255]
    scene = trimesh.Scene([left, right])
    mesh = flatten_scene(tmp_path / "mixed.usd", scene, True, DEFAULT_LIMITS, 1.0)
    assert sorted(mesh.texture_ranges[:, 2].tolist()) == [-1, 0]
    geometry = geometry_of(scene_of([("quad", (0.0, 0.0, 0.0))]), {"quad": mesh})
    renderer = Renderer(backend.ctx, geometry, AMBIENT)
    try:
        (batch,) = renderer._all
        assert batch.draw_calls == 2
        stats = backend.render(renderer, [backend.view_from((0.0, 0.0, 2.2), (0.0, 0.0, 0.0))])
        assert stats.draw_calls == 2
        assert row(backend.read_rgb(), [0.25, 0.75]) == [(0, 0, 255), (0, 255, 0)]
    finally:
        renderer.release()
    plain = geometry_of(scene_of([("quad", (0.0, 0.0, 0.0))]), {"quad": mesh_untextured()})
    renderer = Renderer(backend.ctx, plain, AMBIENT)
    try:
        stats = backend.render(renderer, [backend.view_from((0.0, 0.0, 2.2), (0.0, 0.0, 0.0))])
        assert stats.draw_calls == 1 and renderer._all[0].ranges == ()
    finally:
        renderer.release()


def mesh_untextured() -> MeshData:
    return MeshData(
        name="quad",
        positions=QUAD,
        normals=np.tile(np.float32([0, 0, 1]), (4, 1)),
        colors=np.ones((4, 4), dtype=np.float32),
        indices=QUAD_FACES.astype(np.uint32),
    )


def test_the_chunks_of_a_large_textured_mesh_share_one_upload(backend: HeadlessBackend) -> None:
    """A 48,000-triangle textured grid placed once is drawn as spatial chunks, yet its
    image goes to the GPU once, and every chunk samples it (left red, right blue)."""
    from xrclient.scene.textures import Texture

    cells = 120
    xs, ys = np.meshgrid(np.linspace(-1, 1, cells + 1), np.linspace(-1, 1, cells + 1))
    positions = np.column_stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)]).astype(np.float32)
    uvs = np.column_stack([(xs.ravel() + 1) / 2, (1 - ys.ravel()) / 2]).astype(np.float32)
    corner = (np.arange(cells)[None, :] + (cells + 1) * np.arange(cells)[:, None]).ravel()
    quads = np.stack([corner, corner + 1, corner + cells + 2, corner + cells + 1], axis=1)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.uint32)
    faces = np.concatenate([faces, faces])  # 57,600 triangles: over the chunking threshold
    texture = Texture("halves", image([[RED, BLUE]]), min_filter=9728, mag_filter=9728)
    mesh = MeshData(
        name="grid",
        positions=positions,
        normals=np.tile(np.float32([0, 0, 1]), (len(positions), 1)),
        colors=np.ones((len(positions), 4), dtype=np.float32),
        indices=faces,
        uvs=uvs,
        textures=(texture,),
        texture_ranges=np.array([[0, len(faces), 0]], dtype=np.int32),
    )
    geometry = geometry_of(scene_of([], [("grid", (0.0, 0.0, 0.0))]), {"grid": mesh})
    assert len(geometry.batches) > 1  # chunked
    renderer = Renderer(backend.ctx, geometry, AMBIENT)
    try:
        assert renderer.texture_count == 1
        backend.render(renderer, [backend.view_from((0.0, 0.0, 3.0), (0.0, 0.0, 0.0))])
        h, w = backend.size[1], backend.size[0]
        img = backend.read_rgb()
        assert tuple(int(c) for c in img[h // 2, w // 2 - 20]) == RED[:3]
        assert tuple(int(c) for c in img[h // 2, w // 2 + 20]) == BLUE[:3]
    finally:
        renderer.release()
