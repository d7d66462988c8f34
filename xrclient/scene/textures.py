"""Base colour textures of a loaded mesh: the texture table, glTF sampler and UV details,
and the per-file texture memory budget.

A :class:`Texture` is one image as one material draws it: RGBA8 pixels, sRGB-encoded, row
0 the top of the image (texture coordinate ``v = 0``, glTF's convention), with the glTF
sampler's wrap and filter modes and the material's alpha mode. The renderer uploads the
pixels as an sRGB texture, so the GPU decodes them to linear before filtering.

glTF details trimesh does not read are taken from the document here
(:func:`annotate_gltf_scene`): the sampler, ``texCoord`` (trimesh reads ``TEXCOORD_0``
only) and ``KHR_texture_transform`` on ``baseColorTexture`` (offset, rotation, scale and its
``texCoord`` override), applied to the part's texture coordinates at load.

Budget: one file's textures may take at most ``LoadLimits.max_texture_bytes`` on the GPU
(RGBA8 with mipmaps, 4/3 x width x height x 4 bytes each). Past it every texture is halved
until they fit, down to 1/16 of their size, with a warning; a file that does not fit even
then is refused. The sizes are read from the image headers, so nothing is decoded first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xrclient.errors import AssetLimitError, MalformedAssetError

__all__ = [
    "CLAMP_TO_EDGE",
    "LINEAR",
    "LINEAR_MIPMAP_LINEAR",
    "MIRRORED_REPEAT",
    "NEAREST",
    "REPEAT",
    "SAMPLER_KEY",
    "AlphaMode",
    "GltfSampling",
    "Texture",
    "annotate_gltf_scene",
    "budget_divisor",
    "decode_pixels",
    "texture_bytes",
    "uv_transform",
]

# glTF sampler values (the OpenGL enums)
NEAREST, LINEAR = 9728, 9729
NEAREST_MIPMAP_NEAREST, LINEAR_MIPMAP_NEAREST = 9984, 9985
NEAREST_MIPMAP_LINEAR, LINEAR_MIPMAP_LINEAR = 9986, 9987
REPEAT, CLAMP_TO_EDGE, MIRRORED_REPEAT = 10497, 33071, 33648
_WRAPS = (REPEAT, CLAMP_TO_EDGE, MIRRORED_REPEAT)
_MAG = (NEAREST, LINEAR)
_MIN = (NEAREST, LINEAR, *range(9984, 9988))

#: where a glTF part's sampling details are kept in its trimesh geometry's metadata
SAMPLER_KEY = "xrclient_sampling"
#: the most times textures are halved to fit the budget (1/16 of their size)
MAX_HALVINGS = 4

AlphaMode = Literal["OPAQUE", "MASK", "BLEND"]
_U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True, eq=False)
class Texture:
    """One base colour image as a material draws it (see module doc)."""

    name: str
    pixels: _U8  # (H, W, 4) sRGB-encoded RGBA, row 0 at v = 0
    wrap_s: int = REPEAT
    wrap_t: int = REPEAT
    min_filter: int = LINEAR_MIPMAP_LINEAR
    mag_filter: int = LINEAR
    alpha_mode: AlphaMode = "OPAQUE"
    alpha_cutoff: float = 0.5

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


@dataclass(frozen=True, slots=True)
class GltfSampling:
    """A glTF part's base colour sampler (modes as glTF numbers them)."""

    wrap_s: int = REPEAT
    wrap_t: int = REPEAT
    min_filter: int = LINEAR_MIPMAP_LINEAR
    mag_filter: int = LINEAR


def texture_bytes(width: int, height: int) -> int:
    """GPU bytes of an RGBA8 texture with its mipmaps (4/3 of the base level)."""
    return (width * height * 4 * 4) // 3


def budget_divisor(path: Path, sizes: list[tuple[int, int]], budget: int) -> int:
    """By how much (1, 2, 4 .. 16) every texture must be shrunk for ``sizes`` to fit.

    Raises :class:`AssetLimitError` when even 1/16 of their size does not fit."""
    total = sum(texture_bytes(w, h) for w, h in sizes)
    for halvings in range(MAX_HALVINGS + 1):
        k: int = 2**halvings
        if sum(texture_bytes(max(1, w // k), max(1, h // k)) for w, h in sizes) <= budget:
            return k
    raise AssetLimitError(
        path,
        f"textures need {total:,} bytes on the GPU, above the budget of {budget:,} "
        f"even at 1/{2**MAX_HALVINGS} of their size",
    )


def decode_pixels(path: Path, image: Any, divisor: int = 1) -> _U8:
    """A PIL image as (H, W, 4) uint8 RGBA (its sRGB values), ``divisor`` times smaller."""
    from PIL import Image

    try:
        width, height = image.size
        size = (max(1, width // divisor), max(1, height // divisor))
        if divisor > 1:
            image.draft("RGB", size)  # JPEG: decode at reduced resolution
        rgba = image.convert("RGBA")
        if rgba.size != size:
            rgba = rgba.resize(size, Image.Resampling.BOX)
        return np.ascontiguousarray(np.asarray(rgba, dtype=np.uint8).reshape(size[1], size[0], 4))
    except Exception as exc:
        raise MalformedAssetError(
            path, f"base colour texture cannot be decoded: {type(exc).__name__}: {str(exc)[:120]}"
        ) from None


# --------------------------------------------------------------------------- glTF


def _geometry_names(doc: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(trimesh geometry name, primitive) per primitive trimesh keeps, in its naming."""
    from trimesh.util import unique_name

    taken: dict[str, None] = {}
    counts: dict[str | None, int] = {}
    out: list[tuple[str, dict[str, Any]]] = []
    for mesh in doc.get("meshes", []):
        for prim in mesh.get("primitives", []):
            name = unique_name(mesh.get("name", "GLTF"), taken, counts=counts)
            if prim.get("mode", 4) in (0, 1, 4, 5):  # points, lines, triangles, strips
                taken[name] = None
                out.append((name, prim))
    return out


def _texture_info(doc: Mapping[str, Any], prim: Mapping[str, Any]) -> dict[str, Any] | None:
    materials = doc.get("materials", [])
    index = prim.get("material")
    if not isinstance(index, int) or not 0 <= index < len(materials):
        return None
    pbr = materials[index].get("pbrMetallicRoughness")
    info = pbr.get("baseColorTexture") if isinstance(pbr, dict) else None
    return info if isinstance(info, dict) else None


def _sampling(doc: Mapping[str, Any], info: Mapping[str, Any]) -> GltfSampling:
    textures = doc.get("textures", [])
    index = info.get("index")
    texture = textures[index] if isinstance(index, int) and 0 <= index < len(textures) else {}
    samplers = doc.get("samplers", [])
    s = texture.get("sampler") if isinstance(texture, dict) else None
    sampler = samplers[s] if isinstance(s, int) and 0 <= s < len(samplers) else {}
    if not isinstance(sampler, dict):
        sampler = {}

    def mode(key: str, allowed: tuple[int, ...], default: int) -> int:
        value = sampler.get(key, default)
        return value if value in allowed else default

    return GltfSampling(
        wrap_s=mode("wrapS", _WRAPS, REPEAT),
        wrap_t=mode("wrapT", _WRAPS, REPEAT),
        min_filter=mode("minFilter", _MIN, LINEAR_MIPMAP_LINEAR),
        mag_filter=mode("magFilter", _MAG, LINEAR),
    )


def _number(value: Any, default: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    return float(value) if ok else default


def _pair(value: Any, default: float) -> tuple[float, float]:
    if isinstance(value, list) and len(value) == 2:
        return _number(value[0], default), _number(value[1], default)
    return default, default


def uv_transform(ext: Mapping[str, Any]) -> npt.NDArray[np.float64]:
    """The 3x3 matrix ``T * R * S`` of a ``KHR_texture_transform`` object, for glTF UVs
    (origin at the image's top left): ``u' = cos * u + sin * v``, ``v' = cos * v - sin * u``
    before the offset, the sign the conformance model (TextureTransformTest) checks."""
    ox, oy = _pair(ext.get("offset"), 0.0)
    sx, sy = _pair(ext.get("scale"), 1.0)
    angle = _number(ext.get("rotation"), 0.0)
    c, s = np.cos(angle), np.sin(angle)
    translation = np.array([[1.0, 0.0, ox], [0.0, 1.0, oy], [0.0, 0.0, 1.0]])
    rotation = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    scale = np.diag([sx, sy, 1.0])
    out: npt.NDArray[np.float64] = translation @ rotation @ scale
    return out


def annotate_gltf_scene(
    path: Path,
    scene: Any,
    doc: Mapping[str, Any],
    buffers: Callable[[], list[bytes]],
) -> None:
    """Apply the document's base colour texture details to the parsed ``scene``'s parts:
    the sampler (kept in the geometry's metadata under :data:`SAMPLER_KEY`), ``texCoord``
    (its ``TEXCOORD_<n>`` replaces trimesh's ``TEXCOORD_0``) and ``KHR_texture_transform``
    (applied to the texture coordinates). ``buffers`` gives the document's buffer bytes,
    called only when a ``TEXCOORD_<n>`` other than 0 must be read."""
    geometry = getattr(scene, "geometry", {})
    loaded: list[list[bytes]] = []
    for name, prim in _geometry_names(doc):
        geom = geometry.get(name)
        visual: Any = getattr(geom, "visual", None)
        info = _texture_info(doc, prim)
        if geom is None or info is None or getattr(visual, "kind", None) != "texture":
            continue
        metadata = getattr(geom, "metadata", None)
        if isinstance(metadata, dict):
            metadata[SAMPLER_KEY] = _sampling(doc, info)
        ext = info.get("extensions", {})
        ext = ext.get("KHR_texture_transform") if isinstance(ext, dict) else None
        ext = ext if isinstance(ext, dict) else {}
        coord = ext.get("texCoord", info.get("texCoord", 0))
        uv = getattr(visual, "uv", None)
        if isinstance(coord, int) and coord != 0:
            if not loaded:
                loaded.append(buffers())
            uv = _read_texcoord(path, doc, prim, coord, loaded[0], len(geom.vertices))
        if uv is None:
            continue
        uv = np.array(uv, dtype=np.float64)
        if ext:
            uv[:, 1] = 1.0 - uv[:, 1]  # trimesh's (bottom-left origin) to glTF's UVs
            matrix = uv_transform(ext)
            uv = uv @ matrix[:2, :2].T + matrix[:2, 2]
            uv[:, 1] = 1.0 - uv[:, 1]
        visual.uv = uv


def _read_texcoord(
    path: Path,
    doc: Mapping[str, Any],
    prim: Mapping[str, Any],
    coord: int,
    buffers: list[bytes],
    vertices: int,
) -> npt.NDArray[np.float64] | None:
    """``TEXCOORD_<coord>`` of ``prim`` in trimesh's convention (v flipped); None (the
    part keeps ``TEXCOORD_0``) where it is missing or stored compressed."""
    from xrclient.scene.gltf_accessors import read_accessor

    index = prim.get("attributes", {}).get(f"TEXCOORD_{coord}")
    accessors = doc.get("accessors", [])
    if not isinstance(index, int) or not 0 <= index < len(accessors):
        return None
    acc = accessors[index]
    if acc.get("type") != "VEC2" or acc.get("count") != vertices or "bufferView" not in acc:
        return None
    view = doc.get("bufferViews", [])[acc["bufferView"]]
    if view.get("buffer", 0) >= len(buffers) or not buffers[view.get("buffer", 0)]:
        return None
    try:
        raw = read_accessor(dict(doc), buffers, acc)
    except (ValueError, KeyError, IndexError) as exc:
        raise MalformedAssetError(path, f"accessor {index}: {exc}") from None
    uv = raw.astype(np.float64)
    if raw.dtype.kind in "iu":
        uv /= float(np.iinfo(raw.dtype).max)
    uv[:, 1] = 1.0 - uv[:, 1]
    return uv
