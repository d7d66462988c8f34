"""Load untrusted mesh and scan files into :class:`MeshData`.

Meshes (glTF 2.0 ``.glb``/``.gltf``, OBJ, STL, PLY with faces) are read with trimesh as a
scene and flattened: node transforms baked into positions and normals, ``scale`` applied,
each part's base colour baked into per-vertex linear RGBA colours, see
:mod:`xrclient.scene.flatten`. OBJ and PLY faces of four or more corners are cut into
triangles by ear clipping first (concave faces keep their shape), see
:mod:`xrclient.scene.obj_polygons`, :mod:`xrclient.scene.ply_polygons` and
:mod:`xrclient.scene.polygons`. Scans (PLY without faces, PCD, XYZ) are read with
open3d and voxel down-sampled, see :mod:`xrclient.scene.pointclouds`.

glTF specifics: only the default scene (``scene``, else the first) is drawn; nodes with a
camera, a light or no mesh contribute nothing; skins, morph targets and animations are
ignored (the static bind pose is drawn); primitives other than triangles and triangle strips
(points, lines, fans) are skipped. Quantized (``KHR_mesh_quantization``), normalized and sparse
vertex attributes are decoded to float32 before trimesh reads them, see
:mod:`xrclient.scene.gltf_decode`. Draco-compressed primitives (``KHR_draco_mesh_compression``)
and meshopt-compressed bufferViews (``EXT_meshopt_compression``) are decoded in a child
process (:mod:`xrclient.scene.gltf_draco`, :mod:`xrclient.scene.gltf_meshopt`); nodes with
``EXT_mesh_gpu_instancing`` are expanded into one copy per instance
(:mod:`xrclient.scene.gltf_instancing`). An unknown extension in ``extensionsRequired`` is
refused as unsupported.
:func:`load_nodes` splits a glTF/GLB file into one mesh per claimed node (a machine's
``node =``) and the rest, see :mod:`xrclient.scene.nodes`.
A file that yields no triangles at all (an empty scene, only points or lines) is refused
with :class:`~xrclient.errors.MalformedAssetError` ("no triangle geometry") in every
format; an empty :class:`MeshData` is never returned.

Every file is untrusted. Its size is checked first, then its header is pre-validated by
:mod:`xrclient.scene.guards` / :mod:`xrclient.scene.guards_gltf` before any parser sees
it, and the parsed result is validated again (finite positions, indices in range, limits).
Whatever goes wrong surfaces as an :class:`~xrclient.errors.AssetError` subclass naming
the file and the reason.

Colours: glTF colours and OBJ ``Kd`` are linear, 8-bit PLY/OBJ vertex and face colours sRGB
(converted to linear); parts without any material are a neutral grey. Base colour textures
(glTF ``baseColorTexture``, OBJ ``map_Kd``, PLY texture files) are kept with the parts'
texture coordinates and drawn as textures; for glTF the sampler, ``texCoord`` and
``KHR_texture_transform`` are read from the document (:mod:`xrclient.scene.textures`) and
WebP images (``EXT_texture_webp``) are decoded. One file's textures are held to a GPU
memory budget (``LoadLimits.max_texture_bytes``). Details in :mod:`xrclient.scene.flatten`.
A texture or MTL file that the file names but its folder lacks is an :class:`AssetWarning`
(the material colour is drawn), as is a polygon that had to be fanned.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import trimesh
from trimesh.resolvers import Resolver

from xrclient.errors import (
    AssetError,
    AssetLimitError,
    MalformedAssetError,
    UnsupportedAssetError,
)
from xrclient.scene import gltf_decode
from xrclient.scene.flatten import flatten_scene
from xrclient.scene.guards import (
    DEFAULT_LIMITS,
    MAX_HEADER_BYTES,
    LoadLimits,
    check_file,
    check_obj,
    check_ply,
    check_stl,
    parse_ply_header,
    read_bytes,
)
from xrclient.scene.guards_gltf import (
    GlbContents,
    buffer_bytes,
    check_glb,
    check_gltf,
    check_image_bytes,
    side_file,
)
from xrclient.scene.mesh import MeshData
from xrclient.scene.nodes import NodeSplit, split_nodes
from xrclient.scene.notices import AssetWarning, warn_asset
from xrclient.scene.obj_polygons import check_obj_vertices, triangulated_obj
from xrclient.scene.ply_polygons import triangulated_ply
from xrclient.scene.pointclouds import SCAN_SUFFIXES, load_point_cloud, read_scan
from xrclient.scene.textures import annotate_gltf_scene
from xrclient.scene.usd_load import USD_SUFFIXES, load_usd, load_usd_nodes

__all__ = [
    "MESH_SUFFIXES",
    "SCAN_SUFFIXES",
    "AssetCache",
    "AssetWarning",
    "LoadLimits",
    "describe_file",
    "load_asset",
    "load_mesh",
    "load_nodes",
    "load_point_cloud",
]

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".stl", ".ply", *USD_SUFFIXES)
AssetKind = Literal["mesh", "pointcloud"]
_FORMAT_NAMES = {".glb": "GLB", ".gltf": "glTF", ".obj": "OBJ", ".stl": "STL", ".ply": "PLY"}


def load_mesh(path: Path, limits: LoadLimits = DEFAULT_LIMITS, scale: float = 1.0) -> MeshData:
    """Read a mesh file into one flattened triangle :class:`MeshData` (see module doc)."""
    path = Path(path)
    _check_scale(scale)
    if path.suffix.lower() in USD_SUFFIXES:  # read in a child, see xrclient.scene.usd_load
        return load_usd(path, limits, scale)
    check_file(path, limits)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise UnsupportedAssetError(
            path, f"'{suffix}' is not a mesh format (expected one of {', '.join(MESH_SUFFIXES)})"
        )
    data = read_bytes(path, limits)
    glb = None
    if suffix == ".glb":
        glb = check_glb(path, data, limits)
    elif suffix == ".gltf":
        glb = check_gltf(path, data, limits)
    elif suffix == ".obj":
        check_obj(path, data, limits)
        data = triangulated_obj(path, data, limits)
    elif suffix == ".stl":
        check_stl(path, data, limits)
    else:
        header = parse_ply_header(path, data[:MAX_HEADER_BYTES])
        check_ply(path, header, len(data), limits, as_points=False)
        if header.face_count == 0:
            raise UnsupportedAssetError(
                path, "PLY file has no faces: it is a point cloud, load it as kind 'pointcloud'"
            )
        data = triangulated_ply(path, data, header, limits)
    scene, batches = _parse(path, suffix, data, limits, glb)
    if suffix == ".obj":
        check_obj_vertices(path, data, scene)
    return flatten_scene(path, scene, suffix in (".glb", ".gltf"), limits, scale, batches)


def load_nodes(
    path: Path, claims: tuple[str, ...], limits: LoadLimits = DEFAULT_LIMITS, scale: float = 1.0
) -> NodeSplit:
    """A glTF/GLB (or OpenUSD) file split into one mesh per claimed node and the rest, see
    :mod:`xrclient.scene.nodes`; a bad claim is a :class:`~xrclient.scene.nodes.NodeClaimError`."""
    path = Path(path)
    _check_scale(scale)
    if path.suffix.lower() in USD_SUFFIXES:  # prims as nodes, see xrclient.scene.usd_load
        return load_usd_nodes(path, claims, limits, scale)
    check_file(path, limits)
    suffix = path.suffix.lower()
    if suffix not in (".glb", ".gltf"):
        raise UnsupportedAssetError(
            path, f"machines from nodes need a glTF/GLB or OpenUSD file, not {suffix!r}"
        )
    data = read_bytes(path, limits)
    glb = check_glb(path, data, limits) if suffix == ".glb" else check_gltf(path, data, limits)
    scene, batches = _parse(path, suffix, data, limits, glb)
    return split_nodes(path, scene, glb.document, claims, limits, scale, batches)


def load_asset(
    path: Path,
    kind: AssetKind | None = None,
    limits: LoadLimits = DEFAULT_LIMITS,
    scale: float = 1.0,
    point_budget: int = 500_000,
) -> MeshData:
    """A mesh or a scan; ``kind=None`` decides by extension (PLY: by whether it has faces)."""
    path = Path(path)
    resolved = _kind_of(path, kind, limits)
    if resolved == "mesh":
        return load_mesh(path, limits, scale)
    return load_point_cloud(path, limits, point_budget, scale)


def describe_file(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> dict[str, object]:
    """What ``xrclient inspect`` reports about one mesh or scan; raises AssetError if rejected.

    Scans are down-sampled to the default point budget; ``points_in_file`` is the count
    read from the file before down-sampling.
    """
    path = Path(path)
    kind = _kind_of(path, None, limits)
    in_file = 0
    if kind == "mesh":
        mesh = load_mesh(path, limits)
    else:
        mesh, in_file = read_scan(path, limits, 500_000, 1.0)
    bounds = mesh.bounds.astype(np.float64).round(6).tolist()
    return {
        "file": str(path),
        "ok": True,
        "kind": kind,
        "vertices": mesh.vertex_count,
        "triangles": mesh.triangle_count,
        "points": mesh.vertex_count if mesh.primitive == "points" else 0,
        "points_in_file": in_file,
        "parts": mesh.parts,
        "materials": list(mesh.materials),
        "bounds": bounds,
    }


class AssetCache:
    """Loads each distinct (file, kind, scale, budget) once; meshes are shared read-only."""

    def __init__(self, limits: LoadLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.loads = 0
        self._meshes: dict[tuple[Path, str | None, float, int], MeshData] = {}
        self._splits: dict[tuple[Path, tuple[str, ...], float], NodeSplit] = {}

    def get(
        self,
        path: Path,
        kind: AssetKind | None = None,
        scale: float = 1.0,
        point_budget: int = 500_000,
    ) -> MeshData:
        path = Path(path)
        suffix = path.suffix.lower()
        effective: str | None = kind
        if kind is None and suffix != ".ply":
            effective = "pointcloud" if suffix in SCAN_SUFFIXES else "mesh"
        budget = 0 if effective == "mesh" else int(point_budget)
        key = (path.resolve(), effective, float(scale), budget)
        mesh = self._meshes.get(key)
        if mesh is None:
            mesh = load_asset(path, kind, self.limits, scale, point_budget)
            self.loads += 1
            self._meshes[key] = mesh
        return mesh

    def get_nodes(self, path: Path, claims: tuple[str, ...], scale: float = 1.0) -> NodeSplit:
        """The file split by the claimed nodes (see :func:`load_nodes`), loaded once per
        (file, claims, scale)."""
        key = (Path(path).resolve(), tuple(claims), float(scale))
        split = self._splits.get(key)
        if split is None:
            split = load_nodes(Path(path), tuple(claims), self.limits, scale)
            self.loads += 1
            self._splits[key] = split
        return split

    def __len__(self) -> int:
        return len(self._meshes) + len(self._splits)


# --------------------------------------------------------------------------- parsing


def _check_scale(scale: float) -> None:
    if not (isinstance(scale, int | float) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite positive number, got {scale!r}")


def _kind_of(path: Path, kind: AssetKind | None, limits: LoadLimits) -> AssetKind:
    if kind is not None:
        if kind not in ("mesh", "pointcloud"):
            raise ValueError(f"kind must be 'mesh', 'pointcloud' or None, got {kind!r}")
        return kind
    suffix = path.suffix.lower()
    if suffix == ".ply":
        size = check_file(path, limits)
        header = parse_ply_header(path, read_bytes(path, limits, MAX_HEADER_BYTES))
        check_ply(path, header, size, limits, as_points=header.face_count == 0)
        return "mesh" if header.face_count else "pointcloud"
    if suffix in SCAN_SUFFIXES:
        return "pointcloud"
    if suffix in MESH_SUFFIXES:
        return "mesh"
    check_file(path, limits)  # archives and missing files get their specific errors
    raise UnsupportedAssetError(
        path,
        f"'{suffix}' is not a known mesh or scan format "
        f"(expected one of {', '.join(sorted(set(MESH_SUFFIXES + SCAN_SUFFIXES)))})",
    )


def _parse(
    path: Path, suffix: str, data: bytes, limits: LoadLimits, glb: GlbContents | None = None
) -> tuple[Any, dict[str, Any]]:
    """The parsed scene and, for glTF instancing, the instance transforms by node name."""
    resolver = _FolderResolver(path, limits)
    batches: dict[str, Any] = {}
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if glb is not None and gltf_decode.needs_rewrite(glb.document, glb.binary is not None):
                scene, batches = gltf_decode.scene_from_rewritten(path, glb, resolver, limits)
            elif glb is not None and glb.self_contained and gltf_decode.GLB_BUFFERS is not None:
                scene = gltf_decode.scene_from_glb(glb, resolver)
            else:
                scene = trimesh.load_scene(
                    io.BytesIO(data), file_type=suffix[1:], resolver=resolver, process=False
                )
            if glb is not None:
                contents = glb
                annotate_gltf_scene(
                    path, scene, glb.document, lambda: buffer_bytes(path, contents, limits)
                )
    except AssetError:
        raise
    except MemoryError:
        raise AssetLimitError(path, "ran out of memory while parsing") from None
    except Exception as exc:
        raise MalformedAssetError(
            path,
            f"{_FORMAT_NAMES[suffix]} parser rejected the file: "
            f"{type(exc).__name__}: {str(exc)[:200]}",
        ) from None
    if resolver.error is not None:
        raise resolver.error
    _warn_missing(path, scene, resolver.missing)
    return scene, batches


def _warn_missing(path: Path, scene: Any, missing: list[str]) -> None:
    """One warning per side file the file names but its folder lacks: a material library
    (the parts are drawn grey) or a texture (drawn in the material colour). A texture counts
    only where some part has texture coordinates to use it (MeshLab names "none")."""
    if not missing:
        return
    geometry = getattr(scene, "geometry", {}).values()
    textured = any(getattr(getattr(g, "visual", None), "uv", None) is not None for g in geometry)
    for name in dict.fromkeys(missing):
        if Path(name).suffix.lower() == ".mtl":
            warn_asset(path, f"material library {name[:80]!r} not found; drawn in neutral grey")
        elif textured:
            warn_asset(path, f"texture {name[:80]!r} not found; drawn in its material colour")


class _FolderResolver(Resolver):
    """Serves side files (.bin, .mtl, textures) from the asset's own folder, nothing else."""

    def __init__(self, asset: Path, limits: LoadLimits) -> None:
        self.asset = asset
        self.limits = limits
        self.total = 0
        self.error: AssetError | None = None
        self.missing: list[str] = []  # side files named but not there (warned about)

    def get(self, name: str) -> bytes:
        try:
            try:
                target = side_file(self.asset, str(name), "referenced file")
            except MalformedAssetError:
                # a missing .mtl or texture is tolerated, as the parsers do, and warned about
                self.missing.append(str(name))
                raise FileNotFoundError(name) from None
            self.total += target.stat().st_size
            if self.total > self.limits.max_file_bytes:
                raise AssetLimitError(
                    self.asset,
                    f"side files add up to {self.total:,} bytes, above the limit "
                    f"of {self.limits.max_file_bytes:,}",
                )
            data = target.read_bytes()
            if target.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".webp"):
                check_image_bytes(self.asset, data, f"texture {target.name!r}", self.limits)
            return data
        except AssetError as exc:
            if self.error is None:
                self.error = exc
            raise

    def __getitem__(self, name: str) -> bytes:
        return self.get(name)

    def namespaced(self, namespace: str) -> _FolderResolver:
        # keeps the same root: names below stay confined to the asset's folder
        return self

    def keys(self) -> list[str]:
        return []

    def write(self, name: str, data: object) -> None:
        raise UnsupportedAssetError(self.asset, "loaders never write side files")
