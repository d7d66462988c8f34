"""A parsed trimesh scene flattened into one :class:`MeshData`.

Node transforms are baked into positions and normals (a mirroring transform flips the
winding), ``scale`` is applied, and each part's base colour is baked into per-vertex linear
RGBA colours. The result is validated: triangle indices in range, finite positions, vertex
and triangle counts within the limits, at least one triangle.

Colours: glTF ``baseColorFactor`` and ``COLOR_0`` are linear and used as they are, and so
is OBJ ``Kd`` (exporters write the linear base colour there); 8-bit colours from PLY/OBJ
(vertex or face colours) are sRGB and converted to linear. Parts without any material, and
texture coordinates without a material or texture (a PLY with UVs only), are a neutral grey.

Textures: a part whose material has a base colour texture (glTF ``baseColorTexture``, OBJ
``map_Kd``, a PLY texture file, a ``PBRMaterial`` or ``SimpleMaterial`` image of a scene
built in code) and texture coordinates keeps its UVs (``MeshData.uvs``, v = 0 at the top of
the image) and a texture table entry per (image, sampler, alpha mode): its vertex colours
are then the material colour alone (an OBJ ``map_Kd`` without ``Kd``: white), which the
renderer multiplies with the texture. Parts are ordered by texture so that each texture's
triangles are one range (``MeshData.texture_ranges``); untextured parts come first, in file
order. Each image is decoded once per file, after the file's texture budget is checked
(:mod:`xrclient.scene.textures`): over it, all are shrunk, with an
:class:`~xrclient.scene.notices.AssetWarning`. A textured part without texture coordinates
gets the texture's mean colour instead (averaged in linear space over a 64x64 box-filtered
copy) times the material colour.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import trimesh
from trimesh.visual import ColorVisuals, TextureVisuals
from trimesh.visual.material import PBRMaterial, SimpleMaterial

from xrclient.core.color import srgb_to_linear
from xrclient.errors import AssetLimitError, MalformedAssetError
from xrclient.scene.guards import LoadLimits
from xrclient.scene.mesh import MeshData
from xrclient.scene.notices import warn_asset
from xrclient.scene.textures import (
    SAMPLER_KEY,
    AlphaMode,
    GltfSampling,
    Texture,
    budget_divisor,
    decode_pixels,
    texture_bytes,
)

__all__ = ["flatten_groups", "flatten_scene"]

_F32 = npt.NDArray[np.float32]
_GREY = np.array([0.5, 0.5, 0.5, 1.0], dtype=np.float32)
_SRGB_LUT = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
_EYE = np.eye(4)


@dataclass(frozen=True, slots=True)
class _Part:
    positions: _F32
    normals: _F32 | None  # from the file; None: computed from the triangles
    colors: _F32  # (4,) uniform or (V, 4)
    faces: npt.NDArray[np.int64]
    material: str | None
    uvs: _F32 | None = None  # (V, 2) glTF convention, where the part draws a texture
    texture: int = -1  # index into the file's texture table


_ALPHA_MODES: dict[str, AlphaMode] = {"OPAQUE": "OPAQUE", "MASK": "MASK", "BLEND": "BLEND"}


@dataclass(slots=True)
class _TextureTable:
    """The base colour textures of one file: one entry per (image, sampling, alpha mode);
    ``images`` holds each image object once, whatever the entries that use it."""

    keys: dict[tuple[Any, ...], int]
    entries: list[tuple[Any, str, GltfSampling, str, float]]  # image, name, sampling, alpha
    textures: list[Texture]

    def add(self, image: Any, name: str, sampling: GltfSampling, mode: str, cutoff: float) -> int:
        key = (id(image), sampling, mode, cutoff)
        if key not in self.keys:
            self.keys[key] = len(self.entries)
            self.entries.append((image, name, sampling, mode, cutoff))
        return self.keys[key]

    def decode(self, path: Path, limits: LoadLimits) -> str | None:
        """Decode every image once, shrunk to fit the budget; a warning text if it was."""
        images: dict[int, Any] = {}
        for image, *_ in self.entries:
            images.setdefault(id(image), image)
        sizes = []
        for image in images.values():
            width, height = (int(v) for v in image.size)
            if width * height > limits.max_image_pixels:
                raise AssetLimitError(
                    path,
                    f"a texture is {width}x{height} pixels, above the limit of "
                    f"{limits.max_image_pixels:,} pixels",
                )
            sizes.append((width, height))
        divisor = budget_divisor(path, sizes, limits.max_texture_bytes)
        pixels = {key: decode_pixels(path, image, divisor) for key, image in images.items()}
        for image, name, sampling, mode, cutoff in self.entries:
            self.textures.append(
                Texture(
                    name=name,
                    pixels=pixels[id(image)],
                    wrap_s=sampling.wrap_s,
                    wrap_t=sampling.wrap_t,
                    min_filter=sampling.min_filter,
                    mag_filter=sampling.mag_filter,
                    alpha_mode=_ALPHA_MODES.get(mode, "OPAQUE"),
                    alpha_cutoff=cutoff,
                )
            )
        if divisor == 1:
            return None
        total = sum(texture_bytes(w, h) for w, h in sizes)
        return (
            f"textures need {total:,} bytes on the GPU, above the budget of "
            f"{limits.max_texture_bytes:,}; drawn at 1/{divisor} of their size"
        )


def flatten_scene(
    path: Path,
    scene: Any,
    gltf: bool,
    limits: LoadLimits,
    scale: float,
    batches: Mapping[str, npt.NDArray[np.float64]] | None = None,
) -> MeshData:
    """One :class:`MeshData` of ``scene``; ``batches``: instance transforms by node name.

    A geometry node named in ``batches`` (or a primitive child ``<name>_<id>`` of one) is
    drawn once per ``(4, 4)`` matrix there, at its world matrix times that matrix
    (glTF ``EXT_mesh_gpu_instancing``, see :mod:`xrclient.scene.gltf_instancing`).
    """
    instances = [
        (matrix, name)
        for matrix, name in _world_transforms(scene.graph, batches or {})
        if isinstance(scene.geometry.get(name), trimesh.Trimesh)
    ]
    triangles = _count_triangles(path, scene, instances, limits)
    parts: dict[str, _Part] = {}
    table = _TextureTable({}, [], [])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        vertices = _prepare_all(path, scene, [instances], gltf, limits, parts, table)
        notice = table.decode(path, limits)
        mesh = _assemble(path, instances, parts, vertices, triangles, scale, table.textures)
    if notice:
        warn_asset(path, notice)
    return mesh


def flatten_groups(
    path: Path,
    scene: Any,
    groups: Mapping[str, int],
    count: int,
    limits: LoadLimits,
    scale: float,
    batches: Mapping[str, npt.NDArray[np.float64]] | None = None,
) -> list[MeshData | None]:
    """A glTF ``scene`` split by subtree: one :class:`MeshData` per group, then the rest.

    ``groups`` maps scene node names to group numbers ``0 .. count - 1``; every geometry
    node at or below a grouped node goes to the group of its nearest grouped ancestor, all
    others to the last item (``count + 1`` items in all). An item is None where its group
    holds no triangles. The limits apply to the whole file and are checked before any group
    is assembled.
    """
    owners: list[Any] = []
    placed = _world_transforms(scene.graph, batches or {}, owners)
    parents = getattr(getattr(scene.graph, "transforms", None), "parents", None)
    if not isinstance(parents, dict):
        parents = {}
    group_of: dict[Any, int] = {scene.graph.base_frame: count}

    def group(node: Any) -> int:
        chain: list[Any] = []
        current = node
        while current not in group_of and len(chain) <= len(parents):
            if str(current) in groups:
                group_of[current] = groups[str(current)]
                break
            chain.append(current)
            if current not in parents:
                current = scene.graph.base_frame
                break
            current = parents[current]
        found = group_of.get(current, count)
        for item in chain:
            group_of[item] = found
        return found

    split: list[list[_Instance]] = [[] for _ in range(count + 1)]
    for (matrix, name), node in zip(placed, owners, strict=True):
        if isinstance(scene.geometry.get(name), trimesh.Trimesh):
            split[group(node)].append((matrix, name))
    _count_triangles(path, scene, [item for part in split for item in part], limits)
    parts: dict[str, _Part] = {}
    table = _TextureTable({}, [], [])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        _prepare_all(path, scene, split, True, limits, parts, table)
        notice = table.decode(path, limits)
        out: list[MeshData | None] = []
        for instances in split:
            triangles = sum(len(parts[name].faces) * _copies(m) for m, name in instances)
            vertices = sum(len(parts[name].positions) * _copies(m) for m, name in instances)
            out.append(
                _assemble(path, instances, parts, vertices, triangles, scale, table.textures)
                if triangles
                else None
            )
    if notice:
        warn_asset(path, notice)
    return out


def _count_triangles(path: Path, scene: Any, instances: list[_Instance], limits: LoadLimits) -> int:
    """The triangles ``instances`` draw, checked: at least one, at most the limit."""
    triangles = sum(len(scene.geometry[name].faces) * _copies(m) for m, name in instances)
    if triangles == 0:
        raise MalformedAssetError(path, "file contains no triangle geometry")
    if triangles > limits.max_triangles:
        raise AssetLimitError(
            path, f"mesh holds {triangles:,} triangles, above the limit of {limits.max_triangles:,}"
        )
    return triangles


def _prepare_all(
    path: Path,
    scene: Any,
    groups: list[list[_Instance]],
    gltf: bool,
    limits: LoadLimits,
    parts: dict[str, _Part],
    table: _TextureTable,
) -> int:
    """Prepare every part ``groups`` use into ``parts`` (their textures into ``table``);
    their vertices, checked."""
    # material colour by (material object, texture drawn), shared between parts
    memo: dict[tuple[int, bool], _F32] = {}
    vertices = 0
    for instances in groups:
        for matrix, name in instances:
            if name not in parts:
                parts[name] = _prepare(path, name, scene.geometry[name], gltf, memo, table)
            vertices += len(parts[name].positions) * _copies(matrix)
    if vertices > limits.max_vertices:
        raise AssetLimitError(
            path, f"mesh holds {vertices:,} vertices, above the limit of {limits.max_vertices:,}"
        )
    return vertices


# world matrix (None: identity), or (N, 4, 4) world matrices of N instanced copies
_Instance = tuple[npt.NDArray[np.float64] | None, str]


def _copies(matrix: npt.NDArray[np.float64] | None) -> int:
    return len(matrix) if matrix is not None and matrix.ndim == 3 else 1


def _batched(
    node: Any, matrix: npt.NDArray[np.float64] | None, batches: Mapping[str, Any]
) -> npt.NDArray[np.float64] | None:
    """The world matrices of an instanced node's copies; ``matrix`` for other nodes."""
    if not batches:
        return matrix
    local = batches.get(str(node))
    if local is None:
        local = batches.get(str(node).rpartition("_")[0])
    if local is None:
        return matrix
    return np.asarray(local if matrix is None else matrix @ local, dtype=np.float64)


def _world_transforms(
    graph: Any, batches: Mapping[str, Any], owners: list[Any] | None = None
) -> list[_Instance]:
    """Each geometry node's world matrix, accumulated once per node down the scene tree;
    ``owners``, when given, receives the scene node of each item, in the same order.

    Reads trimesh's forest (child -> parent links and per-edge matrices) directly, which
    is several times cheaper than one ``graph[node]`` path query per node; when the
    forest does not have that shape, falls back to those queries.
    """
    forest = getattr(graph, "transforms", None)
    parents = getattr(forest, "parents", None)
    edges = getattr(forest, "edge_data", None)
    nodes = getattr(forest, "node_data", None)
    if not (isinstance(parents, dict) and isinstance(edges, dict) and isinstance(nodes, dict)):
        out: list[_Instance] = []
        for node in graph.nodes_geometry:
            matrix, name = graph[node]
            placed = _batched(node, np.asarray(matrix, dtype=np.float64), batches)
            out.append((placed, str(name)))
            if owners is not None:
                owners.append(node)
        return out
    unreachable = object()
    world: dict[Any, Any] = {graph.base_frame: None}
    instances: list[_Instance] = []
    for node, data in list(nodes.items()):
        name = data.get("geometry")
        if name is None:
            continue
        chain: list[Any] = []
        current = node
        while current not in world and len(chain) <= len(parents):
            chain.append(current)
            current = parents.get(current, unreachable)
        above = world.get(current, unreachable)
        for child in reversed(chain):
            if above is not unreachable:
                local = edges.get((parents[child], child), {}).get("matrix")
                if local is not None and not np.array_equal(local, _EYE):
                    local = np.asarray(local, dtype=np.float64)
                    above = local if above is None else above @ local
            world[child] = above
        matrix = world[node]
        if matrix is not unreachable:
            instances.append((_batched(node, matrix, batches), str(name)))
            if owners is not None:
                owners.append(node)
    return instances


def _assemble(
    path: Path,
    instances: list[_Instance],
    parts: dict[str, _Part],
    vertices: int,
    triangles: int,
    scale: float,
    table: list[Texture],
) -> MeshData:
    # the parts of one texture next to each other (a stable sort: untextured first, as given)
    instances = sorted(instances, key=lambda item: parts[item[1]].texture)
    textured = any(parts[name].texture >= 0 for _, name in instances)
    uvs = np.zeros((vertices, 2), dtype=np.float32) if textured else None
    ranges: list[list[int]] = []
    positions = np.empty((vertices, 3), dtype=np.float32)
    normals = np.zeros((vertices, 3), dtype=np.float32)
    colors = np.empty((vertices, 4), dtype=np.float32)
    indices = np.empty((triangles, 3), dtype=np.uint32)
    computed: list[tuple[int, int]] = []  # triangle ranges whose normals are computed
    materials: dict[str, None] = {}
    v0 = t0 = 0
    for matrix, name in instances:
        part = parts[name]
        if uvs is not None:
            if ranges and ranges[-1][2] == part.texture:
                ranges[-1][1] += len(part.faces) * _copies(matrix)
            else:
                ranges.append([t0, len(part.faces) * _copies(matrix), part.texture])
            if part.uvs is not None:
                n = _copies(matrix)
                uvs[v0 : v0 + n * len(part.uvs)] = np.tile(part.uvs, (n, 1)) if n > 1 else part.uvs
        if matrix is not None and matrix.ndim == 3:
            v1, t1 = _place_copies(part, matrix, positions, normals, indices, v0, t0)
            if part.normals is None:
                computed.append((t0, t1))
            if part.colors.ndim == 2:
                colors[v0:v1] = np.tile(part.colors, (len(matrix), 1))
            else:
                colors[v0:v1] = part.colors
            if part.material:
                materials[part.material] = None
            v0, t0 = v1, t1
            continue
        v1, t1 = v0 + len(part.positions), t0 + len(part.faces)
        faces = part.faces
        if matrix is None:
            positions[v0:v1] = part.positions
            if part.normals is not None:
                normals[v0:v1] = part.normals
        else:
            linear = matrix[:3, :3]
            positions[v0:v1] = part.positions @ linear.T.astype(np.float32)
            positions[v0:v1] += matrix[:3, 3].astype(np.float32)
            if part.normals is not None:
                det = np.linalg.det(linear)
                cofactor = np.linalg.inv(linear).T * det if det else linear
                normals[v0:v1] = part.normals @ cofactor.T.astype(np.float32)
                # the cofactor keeps orientation; a mirror flips normals and winding together
                normals[v0:v1] *= np.float32(np.sign(det) or 1.0)
            if np.linalg.det(linear) < 0:
                faces = faces[:, ::-1]
        if part.normals is None:
            computed.append((t0, t1))
        colors[v0:v1] = part.colors
        np.add(faces, v0, out=indices[t0:t1], casting="unsafe")
        if part.material:
            materials[part.material] = None
        v0, t0 = v1, t1
    if scale != 1.0:
        positions *= np.float32(scale)
    if not np.isfinite(positions).all():
        raise MalformedAssetError(
            path, "non-finite vertex positions (NaN or inf in the file or its node transforms)"
        )
    if computed:
        rows = np.concatenate([indices[a:b] for a, b in computed])
        normals += _face_normals_at(positions, rows)
    used = sorted({r[2] for r in ranges if r[2] >= 0})
    local = {index: k for k, index in enumerate(used)}
    texture_ranges = np.array(
        [[first, count, local.get(index, -1)] for first, count, index in ranges], dtype=np.int32
    ).reshape(-1, 3)
    return MeshData(
        name=path.stem,
        positions=positions,
        normals=_unit(normals, positions, indices),
        colors=colors,
        indices=indices,
        primitive="triangles",
        parts=sum(_copies(m) for m, _ in instances),
        materials=tuple(materials),
        uvs=uvs,
        textures=tuple(table[index] for index in used),
        texture_ranges=texture_ranges,
    )


def _place_copies(
    part: _Part,
    matrices: npt.NDArray[np.float64],
    positions: _F32,
    normals: _F32,
    indices: npt.NDArray[np.uint32],
    v0: int,
    t0: int,
) -> tuple[int, int]:
    """Write ``len(matrices)`` transformed copies of ``part`` at ``v0``/``t0``, vectorised."""
    n, nv, nt = len(matrices), len(part.positions), len(part.faces)
    v1, t1 = v0 + n * nv, t0 + n * nt
    linear = matrices[:, :3, :3]
    placed = np.einsum("nij,vj->nvi", linear.astype(np.float32), part.positions)
    placed += matrices[:, None, :3, 3].astype(np.float32)
    positions[v0:v1] = placed.reshape(-1, 3)
    det = np.linalg.det(linear) if n else np.zeros(0)
    if part.normals is not None:
        singular = det == 0
        safe = np.where(singular[:, None, None], np.eye(3), linear)
        cofactor = np.transpose(np.linalg.inv(safe), (0, 2, 1)) * det[:, None, None]
        cofactor = np.where(singular[:, None, None], linear, cofactor)
        cofactor *= np.where(det < 0, -1.0, 1.0)[:, None, None]
        turned = np.einsum("nij,vj->nvi", cofactor.astype(np.float32), part.normals)
        normals[v0:v1] = turned.reshape(-1, 3)
    faces = np.broadcast_to(part.faces, (n, nt, 3)).copy()
    faces[det < 0] = faces[det < 0][:, :, ::-1]  # a mirror flips the winding
    faces += (v0 + nv * np.arange(n, dtype=np.int64))[:, None, None]
    indices[t0:t1] = faces.reshape(-1, 3)
    return v1, t1


def _prepare(
    path: Path,
    name: str,
    geom: Any,
    gltf: bool,
    memo: dict[tuple[int, bool], _F32],
    table: _TextureTable,
) -> _Part:
    vertices = np.asarray(geom.vertices)
    faces = np.asarray(geom.faces, dtype=np.int64).reshape(-1, 3)
    label = f"part {name[:60]!r}"
    # one reduction: as unsigned, a negative index is larger than any vertex count
    if faces.size and int(faces.view(np.uint64).max()) >= len(vertices):
        bad = int(faces.max()) if faces.max() >= len(vertices) else int(faces.min())
        raise MalformedAssetError(
            path, f"{label}: triangle index {bad} is out of range ({len(vertices)} vertices)"
        )
    positions = vertices.astype(np.float32)
    # normals read from the file (glTF NORMAL, OBJ vn) sit in trimesh's cache; reading the
    # dict directly skips a hash of the whole mesh and keeps the file's hard edges
    given = getattr(getattr(geom, "_cache", None), "cache", {}).get("vertex_normals")
    normals: _F32 | None = None
    if given is not None and np.shape(given) == positions.shape:
        normals = np.asarray(given, dtype=np.float32)
    uvs, texture = _part_texture(geom, len(positions), table)
    colors, per_face = _part_colors(
        path, geom, len(positions), len(faces), gltf, memo, texture >= 0
    )
    material = getattr(getattr(geom.visual, "material", None), "name", None)
    if per_face:
        # unshare vertices so each triangle keeps its own colour
        flat = faces.reshape(-1)
        positions = positions[flat]
        normals = normals[flat] if normals is not None else None
        colors = np.repeat(colors, 3, axis=0)
        faces = np.arange(len(flat), dtype=np.int64).reshape(-1, 3)
    return _Part(
        positions, normals, colors, faces, str(material) if material else None, uvs, texture
    )


def _part_texture(geom: Any, n_vertices: int, table: _TextureTable) -> tuple[_F32 | None, int]:
    """The part's texture coordinates (glTF convention) and texture table index, or
    ``(None, -1)`` where it draws no texture (no image, or no coordinates to place it)."""
    visual = geom.visual
    if not isinstance(visual, TextureVisuals):
        return None, -1
    material: Any = visual.material
    if isinstance(material, PBRMaterial):
        image = material.baseColorTexture
        mode = str(material.alphaMode or "OPAQUE").upper()
        cutoff = material.alphaCutoff
    elif isinstance(material, SimpleMaterial):
        image = getattr(material, "image", None)
        if _placeholder(material, image):
            return None, -1
        mode, cutoff = "BLEND", None
    else:
        return None, -1
    uv = visual.uv
    if image is None or not hasattr(image, "size") or uv is None:
        return None, -1
    uv = np.asarray(uv)
    if uv.ndim != 2 or uv.shape[0] != n_vertices or uv.shape[1] < 2:
        return None, -1
    coords = np.empty((n_vertices, 2), dtype=np.float32)
    coords[:, 0] = uv[:, 0]
    coords[:, 1] = 1.0 - uv[:, 1]  # trimesh keeps v = 0 at the bottom of the image
    if not np.isfinite(coords).all():
        coords = np.nan_to_num(coords, nan=0.0, posinf=0.0, neginf=0.0)
    metadata = getattr(geom, "metadata", None)
    sampling = metadata.get(SAMPLER_KEY) if isinstance(metadata, dict) else None
    if not isinstance(sampling, GltfSampling):
        sampling = GltfSampling()
    try:
        limit = float(cutoff) if cutoff is not None else 0.5
    except (TypeError, ValueError):
        limit = 0.5
    limit = min(max(limit, 0.0), 1.0) if np.isfinite(limit) else 0.5
    name = str(getattr(material, "name", None) or f"texture {len(table.entries)}")[:80]
    return coords, table.add(image, name, sampling, mode, limit)


def _face_normals_at(positions: _F32, faces: npt.NDArray[Any]) -> _F32:
    """Area-weighted vertex normals: each face's cross product summed onto its corners."""
    a, b, c = (positions[faces[:, k]] for k in range(3))
    u, v = b - a, c - a
    cross = np.empty_like(u)
    cross[:, 0] = u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1]
    cross[:, 1] = u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2]
    cross[:, 2] = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    out = np.zeros(positions.shape, dtype=np.float64)
    n = len(positions)
    for k in range(3):
        for axis in range(3):
            out[:, axis] += np.bincount(faces[:, k], weights=cross[:, axis], minlength=n)
    return out.astype(np.float32)


def _unit(vectors: _F32, positions: _F32, faces: npt.NDArray[Any]) -> _F32:
    """Unit rows; zero or non-finite rows get normals computed from the triangles (or +Y)."""
    length = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))[:, None]
    ok = (length > 1e-12) & np.isfinite(length)
    if ok.all():
        vectors /= length
        return vectors
    out = np.where(ok, vectors / np.where(ok, length, 1.0), 0.0).astype(np.float32)
    bad = ~ok[:, 0]
    fallback = _face_normals_at(positions, faces)[bad]
    size = np.sqrt(np.einsum("ij,ij->i", fallback, fallback))[:, None]
    good = (size > 1e-12) & np.isfinite(size)
    up = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    out[bad] = np.where(good, fallback / np.where(good, size, 1.0), up)
    return out


# --------------------------------------------------------------------------- colours


def _part_colors(
    path: Path,
    geom: Any,
    n_vertices: int,
    n_faces: int,
    gltf: bool,
    memo: dict[tuple[int, bool], _F32],
    textured: bool = False,
) -> tuple[_F32, bool]:
    """Linear RGBA: one (4,) colour, (V, 4) per vertex, or (F, 4) per face (second item True).

    ``textured``: the part draws its base colour texture, which the colour then leaves out.
    """
    visual = geom.visual
    if isinstance(visual, TextureVisuals):
        key = (id(visual.material), textured)
        if key not in memo:
            memo[key] = _material_color(path, visual.material, textured)
        base = memo[key]
        attrs = getattr(visual, "vertex_attributes", {})
        color = attrs.get("color") if hasattr(attrs, "get") else None
        if color is not None and len(color) == n_vertices:
            return _unit_rgba(np.asarray(color), linear=gltf) * base, False
        return base, False
    if isinstance(visual, ColorVisuals):
        if visual.kind == "vertex":
            return _unit_rgba(np.asarray(visual.vertex_colors), linear=gltf), False
        if visual.kind == "face":
            face = np.asarray(visual.face_colors)
            if len(face) == n_faces and not (face == face[:1]).all():
                return _unit_rgba(face, linear=gltf), True
            if len(face):
                return _unit_rgba(face[:1], linear=gltf)[0], False
    return _GREY, False


def _unit_rgba(values: npt.NDArray[Any], linear: bool) -> _F32:
    """Colours of any integer or float dtype as float32 RGBA in 0..1, linearised if sRGB."""
    values = values.reshape(len(values), -1)
    if values.dtype == np.uint8:
        rgb = values[:, :3] * np.float32(1 / 255) if linear else _SRGB_LUT[values[:, :3]]
        alpha = values[:, 3:4] * np.float32(1 / 255) if values.shape[1] > 3 else None
    else:
        scaled = values.astype(np.float32)
        if np.issubdtype(values.dtype, np.integer):
            scaled /= np.float32(np.iinfo(values.dtype).max)
        scaled = np.clip(np.nan_to_num(scaled), 0.0, 1.0)
        rgb = scaled[:, :3] if linear else srgb_to_linear(scaled[:, :3])
        alpha = scaled[:, 3:4] if values.shape[1] > 3 else None
    if rgb.shape[1] < 3:
        rgb = np.repeat(rgb[:, :1], 3, axis=1)
    if alpha is None:
        alpha = np.ones((len(values), 1), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=1), dtype=np.float32)


def _material_color(path: Path, material: Any, textured: bool = False) -> _F32:
    if isinstance(material, PBRMaterial):
        factor = material.baseColorFactor
        if factor is None:
            color = np.ones(4, dtype=np.float32)
        elif np.shape(factor) == (4,) and np.asarray(factor).dtype == np.uint8:
            color = np.asarray(factor, dtype=np.float32) * np.float32(1 / 255)
        else:
            color = _unit_rgba(np.asarray(factor).reshape(1, -1), linear=True)[0]
        texture = material.baseColorTexture
    elif isinstance(material, SimpleMaterial):
        texture = getattr(material, "image", None)
        if _placeholder(material, texture):
            return _GREY.copy()
        color = _kd_color(material)
        if textured and getattr(material, "kwargs", {}).get("kd") is None:
            color = np.ones(4, dtype=np.float32)  # map_Kd without Kd: the image as it is
    else:
        return _GREY.copy()
    if texture is not None and not textured:
        color = color * _texture_mean(path, texture)
    return color.astype(np.float32)


def _kd_color(material: Any) -> _F32:
    """An OBJ material's ``Kd`` as linear RGBA: exporters write the linear base colour
    there (Blender: the Principled BSDF base colour), the same value as glTF's
    ``baseColorFactor``. The float values of the MTL file are used, not 8-bit copies."""
    diffuse = np.asarray(material.diffuse).reshape(1, -1)
    color: _F32 = _unit_rgba(diffuse, linear=True)[0]
    kd = getattr(material, "kwargs", {}).get("kd")
    if isinstance(kd, int | float):
        kd = [kd] * 3  # a single value is a grey
    if isinstance(kd, list) and len(kd) >= 3 and all(isinstance(v, int | float) for v in kd):
        values = np.asarray(kd[:3], dtype=np.float64)
        if np.isfinite(values).all():
            color[:3] = np.clip(values, 0.0, 1.0)
    return color


def _placeholder(material: Any, image: Any) -> bool:
    """Whether ``material`` is the stand-in trimesh gives texture coordinates that come
    with no material (a PLY with UVs and no texture): a 2x2 grey image, no ``Kd``."""
    if getattr(material, "kwargs", {}).get("kd") is not None or image is None:
        return False
    if getattr(image, "size", None) != (2, 2) or "file_path" in getattr(image, "info", {}):
        return False
    try:
        pixels = np.asarray(image.convert("RGBA"), dtype=np.uint8).reshape(-1, 4)
    except Exception:  # not an image after all: treat as a real texture
        return False
    return bool((pixels == np.array([100, 100, 100, 255], dtype=np.uint8)).all())


def _texture_mean(path: Path, image: Any) -> _F32:
    from PIL import Image

    try:
        image.draft("RGB", (64, 64))  # JPEG: decode at reduced resolution
        small = image.convert("RGBA").resize((64, 64), Image.Resampling.BOX)
    except Exception as exc:
        raise MalformedAssetError(
            path, f"base colour texture cannot be decoded: {type(exc).__name__}: {str(exc)[:120]}"
        ) from None
    pixels = np.asarray(small, dtype=np.uint8).reshape(-1, 4)
    mean: _F32 = _unit_rgba(pixels, linear=False).mean(axis=0).astype(np.float32)
    return mean
