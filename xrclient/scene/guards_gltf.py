"""Pre-validation of glTF 2.0 files (.glb container and .gltf JSON) before trimesh reads them.

The GLB header and chunk table are checked against the file size, the JSON is parsed once
and every buffer, bufferView, accessor, mesh primitive, node, material texture and image
reference is validated arithmetically: declared element counts against the limits, byte
ranges against the bytes really present, indices against the array they index, the node
hierarchy for cycles, and the triangles instanced by all nodes together against the
triangle limit. Embedded and external images have their declared pixel size read from
their header (Pillow reads headers lazily) so a decompression bomb is refused before it is
decoded. Mesh compression extensions (Draco, meshopt) are refused as unsupported; external
URIs must name files inside the asset's own folder (no absolute paths, no URLs).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import orjson

from xrclient.errors import AssetLimitError, MalformedAssetError, UnsupportedAssetError
from xrclient.scene.guards import LoadLimits

_JSON_CHUNK = 0x4E4F534A
_BIN_CHUNK = 0x004E4942
_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_INDEX_TYPES = frozenset({5121, 5123, 5125})
_TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_COMPRESSION = {
    "KHR_draco_mesh_compression": "Draco mesh compression",
    "EXT_meshopt_compression": "meshopt compression",
    "KHR_meshopt_compression": "meshopt compression",
}
_SUPPORTED_REQUIRED = (
    "KHR_materials_",
    "KHR_texture_transform",
    "KHR_lights_punctual",
    "KHR_mesh_quantization",  # integer attributes are decoded by the loader
)
_MAX_OBJECTS = 200_000  # nodes, meshes, primitives, accessors... in one document
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_TEXTURE_SLOTS = ("normalTexture", "occlusionTexture", "emissiveTexture")
_PBR_SLOTS = ("baseColorTexture", "metallicRoughnessTexture")


@dataclass(slots=True)
class _Doc:
    path: Path
    limits: LoadLimits
    root: dict[str, object]
    bin_chunk: memoryview | None
    buffer_sizes: list[int] = field(default_factory=list)
    external_bytes: int = 0
    loaded: dict[str, bytes] = field(default_factory=dict)
    checked: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    def bad(self, reason: str) -> MalformedAssetError:
        return MalformedAssetError(self.path, reason)

    def items(self, key: str) -> list[dict[str, object]]:
        if key in self.checked:
            return self.checked[key]
        value = self.root.get(key, [])
        # json.loads builds exactly list and dict, so type() checks are exact here
        if type(value) is not list or any(type(v) is not dict for v in value):
            raise self.bad(f"glTF '{key}' must be a list of objects")
        if len(value) > _MAX_OBJECTS:
            raise AssetLimitError(
                self.path,
                f"glTF declares {len(value):,} {key}, above the limit of {_MAX_OBJECTS:,}",
            )
        self.checked[key] = value
        return value

    def int_of(
        self, obj: dict[str, object], key: str, where: str, default: int | None = None
    ) -> int:
        value = obj.get(key, default)
        if type(value) is int and value >= 0:  # not bool, not float
            return value
        raise self.bad(f"{where}: '{key}' must be a non-negative integer, got {value!r:.40}")

    def ref(self, obj: dict[str, object], key: str, where: str, target: str, size: int) -> int:
        index = obj.get(key)
        if type(index) is int and 0 <= index < size:
            return index
        index = self.int_of(obj, key, where)
        raise self.bad(f"{where}: '{key}' {index} is out of range ({size} {target})")


@dataclass(frozen=True, slots=True)
class GlbContents:
    """A validated GLB: its JSON document and its BIN chunk (a view into the file bytes)."""

    document: dict[str, object]
    binary: memoryview | None
    #: every buffer is the BIN chunk (no data: URIs or side files)
    self_contained: bool


def check_glb(path: Path, data: bytes, limits: LoadLimits) -> GlbContents:
    """Validate a binary glTF container and everything its JSON declares."""
    if len(data) < 20:
        raise MalformedAssetError(path, f"{len(data)} bytes is too short for a GLB header")
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF":
        raise MalformedAssetError(path, f"bad GLB magic {magic!r}, expected b'glTF'")
    if version != 2:
        raise UnsupportedAssetError(path, f"GLB container version {version}; only 2 is read")
    if length != len(data):
        raise MalformedAssetError(
            path, f"GLB header declares {length:,} bytes but the file has {len(data):,}"
        )
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != _JSON_CHUNK:
        raise MalformedAssetError(path, "first GLB chunk is not a JSON chunk")
    if json_length > limits.max_json_bytes:
        raise AssetLimitError(
            path,
            f"GLB JSON chunk is {json_length:,} bytes, above the limit of "
            f"{limits.max_json_bytes:,} bytes",
        )
    end = 20 + json_length
    if end > len(data):
        raise MalformedAssetError(
            path, f"GLB JSON chunk of {json_length:,} bytes runs past the end of the file"
        )
    view = memoryview(data)
    bin_chunk: memoryview | None = None
    if end + 8 <= len(data):
        bin_length, bin_type = struct.unpack_from("<II", data, end)
        if bin_type == _BIN_CHUNK:
            if end + 8 + bin_length > len(data):
                raise MalformedAssetError(
                    path, f"GLB BIN chunk of {bin_length:,} bytes runs past the end of the file"
                )
            bin_chunk = view[end + 8 : end + 8 + bin_length]
    elif end != len(data):
        raise MalformedAssetError(path, "GLB file ends inside a chunk header")
    root = _parse_json(path, bytes(view[20:end]))
    doc = _Doc(path, limits, root, bin_chunk)
    _validate(doc)
    self_contained = all("uri" not in buf for buf in doc.items("buffers"))
    return GlbContents(root, bin_chunk, self_contained)


def check_gltf(path: Path, data: bytes, limits: LoadLimits) -> GlbContents:
    """Validate a .gltf JSON file, its data: URIs and the side files it names."""
    if len(data) > limits.max_json_bytes:
        raise AssetLimitError(
            path,
            f".gltf JSON is {len(data):,} bytes, above the limit of "
            f"{limits.max_json_bytes:,} bytes",
        )
    root = _parse_json(path, data)
    _validate(_Doc(path, limits, root, None))
    return GlbContents(root, None, False)


def buffer_bytes(path: Path, contents: GlbContents, limits: LoadLimits) -> list[bytes]:
    """The bytes of every buffer of a validated document (BIN chunk, data: URI or side file)."""
    doc = _Doc(path, limits, contents.document, contents.binary)
    out = []
    for i, buf in enumerate(doc.items("buffers")):
        if "uri" in buf:
            out.append(_uri_bytes(doc, buf["uri"], f"buffer {i}"))
        else:
            assert contents.binary is not None
            out.append(bytes(contents.binary))
    return out


def _parse_json(path: Path, raw: bytes) -> dict[str, object]:
    try:
        # orjson: several times faster than json on glTF documents, strict RFC 8259
        # (no NaN/Infinity literals) and bounded nesting depth
        root = orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError) as exc:
        raise MalformedAssetError(path, f"glTF JSON does not parse: {str(exc)[:120]}") from None
    if not isinstance(root, dict):
        raise MalformedAssetError(path, "glTF JSON is not an object")
    return root


def _validate(doc: _Doc) -> None:
    asset = doc.root.get("asset")
    if not isinstance(asset, dict) or not isinstance(asset.get("version"), str):
        raise doc.bad("glTF JSON has no 'asset.version'")
    version = str(asset["version"])
    if not version.startswith("2."):
        raise UnsupportedAssetError(doc.path, f"glTF version {version[:20]!r}; only 2.x is read")
    minimum = asset.get("minVersion", "2.0")
    if minimum != "2.0":
        raise UnsupportedAssetError(
            doc.path, f"glTF asset.minVersion {str(minimum)[:20]!r}; only 2.0 features are read"
        )
    _check_extensions(doc)
    _check_buffers(doc)
    views = _check_views(doc)
    accessors = _check_accessors(doc, views)
    mesh_tris, mesh_verts = _check_meshes(doc, accessors)
    _check_nodes(doc, mesh_tris, mesh_verts)
    _check_images(doc, views)


def _check_extensions(doc: _Doc) -> None:
    names: set[str] = set()
    for key in ("extensionsUsed", "extensionsRequired"):
        value = doc.root.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise doc.bad(f"glTF '{key}' must be a list of strings")
        names.update(value)
    for name in sorted(names):
        if name in _COMPRESSION:
            raise UnsupportedAssetError(
                doc.path,
                f"uses {name} ({_COMPRESSION[name]}), which is not decoded; "
                "export the asset without mesh compression",
            )
    required = doc.root.get("extensionsRequired", [])
    assert isinstance(required, list)
    for name in required:
        if not str(name).startswith(_SUPPORTED_REQUIRED):
            raise UnsupportedAssetError(doc.path, f"requires unsupported extension {name[:60]!r}")


def _check_buffers(doc: _Doc) -> None:
    for i, buf in enumerate(doc.items("buffers")):
        where = f"buffer {i}"
        declared = doc.int_of(buf, "byteLength", where)
        uri = buf.get("uri")
        if uri is None:
            if i != 0 or doc.bin_chunk is None:
                raise doc.bad(f"{where} has no uri and the file has no BIN chunk")
            present = len(doc.bin_chunk)
        else:
            present = _uri_size(doc, uri, where)
        if declared > present:
            raise doc.bad(f"{where} declares {declared:,} bytes but only {present:,} are present")
        doc.buffer_sizes.append(declared)


def _check_views(doc: _Doc) -> list[tuple[int, int, int, int]]:
    """Each bufferView as (buffer, offset, length, stride or 0)."""
    views = []
    for i, view in enumerate(doc.items("bufferViews")):
        where = f"bufferView {i}"
        if "extensions" in view and isinstance(view["extensions"], dict):
            for name in view["extensions"]:
                if name in _COMPRESSION:
                    raise UnsupportedAssetError(doc.path, f"{where} uses {name}, not decoded")
        buffer = doc.ref(view, "buffer", where, "buffers", len(doc.buffer_sizes))
        offset = doc.int_of(view, "byteOffset", where, 0)
        length = doc.int_of(view, "byteLength", where)
        stride = doc.int_of(view, "byteStride", where, 0)
        if stride and not 4 <= stride <= 252:
            raise doc.bad(f"{where}: byteStride {stride} is outside 4..252")
        if offset + length > doc.buffer_sizes[buffer]:
            raise doc.bad(
                f"{where} (bytes {offset:,}..{offset + length:,}) runs past the end of "
                f"buffer {buffer} ({doc.buffer_sizes[buffer]:,} bytes)"
            )
        views.append((buffer, offset, length, stride))
    return views


def _check_accessors(
    doc: _Doc, views: list[tuple[int, int, int, int]]
) -> list[tuple[int, int, str]]:
    """Each accessor as (count, componentType, type) after checking its byte range."""
    cap = max(doc.limits.max_vertices, 3 * doc.limits.max_triangles)
    out = []
    for i, acc in enumerate(doc.items("accessors")):
        where = f"accessor {i}"
        ctype = acc.get("componentType")
        kind = acc.get("type")
        if ctype not in _COMPONENT_BYTES or kind not in _TYPE_COMPONENTS:
            raise doc.bad(f"{where}: bad componentType/type {ctype!r:.20}/{kind!r:.20}")
        assert isinstance(ctype, int) and isinstance(kind, str)
        count = doc.int_of(acc, "count", where)
        if count > cap:
            raise AssetLimitError(
                doc.path, f"{where} declares {count:,} elements, above the limit of {cap:,}"
            )
        element = _COMPONENT_BYTES[ctype] * _TYPE_COMPONENTS[kind]
        if "bufferView" in acc:
            v = doc.ref(acc, "bufferView", where, "bufferViews", len(views))
            offset = doc.int_of(acc, "byteOffset", where, 0)
            stride = views[v][3] or element
            need = offset + (stride * (count - 1) + element if count else 0)
            if need > views[v][2]:
                raise doc.bad(
                    f"{where} needs {need:,} bytes but bufferView {v} holds {views[v][2]:,}"
                )
        sparse = acc.get("sparse")
        if sparse is not None:
            _check_sparse(doc, sparse, where, count, element, views)
        out.append((count, ctype, kind))
    return out


def _check_sparse(
    doc: _Doc,
    sparse: object,
    where: str,
    count: int,
    element: int,
    views: list[tuple[int, int, int, int]],
) -> None:
    if not isinstance(sparse, dict):
        raise doc.bad(f"{where}: 'sparse' must be an object")
    n = doc.int_of(sparse, "count", where + " sparse")
    if n > count:
        raise doc.bad(f"{where}: sparse count {n:,} exceeds the accessor count {count:,}")
    for key in ("indices", "values"):
        part = sparse.get(key)
        if not isinstance(part, dict):
            raise doc.bad(f"{where}: sparse '{key}' must be an object")
        v = doc.ref(part, "bufferView", f"{where} sparse {key}", "bufferViews", len(views))
        size = element
        if key == "indices":
            ctype = part.get("componentType")
            if ctype not in _INDEX_TYPES:
                raise doc.bad(f"{where}: sparse indices componentType {ctype!r:.20} is invalid")
            assert isinstance(ctype, int)
            size = _COMPONENT_BYTES[ctype]
        need = doc.int_of(part, "byteOffset", where, 0) + n * size
        if need > views[v][2]:
            raise doc.bad(f"{where}: sparse {key} need {need:,} bytes, bufferView {v} is shorter")


def _check_meshes(doc: _Doc, accessors: list[tuple[int, int, str]]) -> tuple[list[int], list[int]]:
    """Triangles and vertices each mesh contributes per instance."""
    n_materials = len(doc.items("materials"))
    tris: list[int] = []
    verts: list[int] = []
    primitives_seen = 0
    for m, mesh in enumerate(doc.items("meshes")):
        prims = mesh.get("primitives")
        if not isinstance(prims, list) or not prims or not all(isinstance(p, dict) for p in prims):
            raise doc.bad(f"mesh {m}: 'primitives' must be a non-empty list of objects")
        primitives_seen += len(prims)
        if primitives_seen > _MAX_OBJECTS:
            raise AssetLimitError(doc.path, f"glTF declares over {_MAX_OBJECTS:,} primitives")
        t_sum = v_sum = 0
        for p, prim in enumerate(prims):
            where = f"mesh {m} primitive {p}"
            ext = prim.get("extensions")
            if isinstance(ext, dict):
                for name in ext:
                    if name in _COMPRESSION:
                        raise UnsupportedAssetError(
                            doc.path, f"{where} uses {name} ({_COMPRESSION[name]}), not decoded"
                        )
            t, v = _check_primitive(doc, prim, where, accessors, n_materials)
            t_sum += t
            v_sum += v
        tris.append(t_sum)
        verts.append(v_sum)
    return tris, verts


def _check_primitive(
    doc: _Doc,
    prim: dict[str, object],
    where: str,
    accessors: list[tuple[int, int, str]],
    n_materials: int,
) -> tuple[int, int]:
    attributes = prim.get("attributes")
    if not isinstance(attributes, dict) or "POSITION" not in attributes:
        raise doc.bad(f"{where} has no POSITION attribute")
    counts = {}
    for name in attributes:
        a = doc.ref(
            attributes, name, f"{where} attribute {name!s:.30}", "accessors", len(accessors)
        )
        counts[name] = accessors[a][0]
    n_vertices = counts["POSITION"]
    if accessors[doc.int_of(attributes, "POSITION", where)][2] != "VEC3":
        raise doc.bad(f"{where}: POSITION accessor is not VEC3")
    for name in ("NORMAL", "TEXCOORD_0", "COLOR_0"):
        if name in counts and counts[name] != n_vertices:
            raise doc.bad(
                f"{where}: {name} has {counts[name]:,} elements but POSITION has {n_vertices:,}"
            )
    if n_vertices > doc.limits.max_vertices:
        raise AssetLimitError(
            doc.path,
            f"{where} declares {n_vertices:,} vertices, above the limit of "
            f"{doc.limits.max_vertices:,}",
        )
    mode = doc.int_of(prim, "mode", where, 4)
    if mode > 6:
        raise doc.bad(f"{where}: primitive mode {mode} is not a glTF mode")
    n = n_vertices
    if "indices" in prim:
        i = doc.ref(prim, "indices", where, "accessors", len(accessors))
        n, ctype, kind = accessors[i]
        if ctype not in _INDEX_TYPES or kind != "SCALAR":
            raise doc.bad(f"{where}: index accessor {i} is not unsigned integer SCALAR")
    if "material" in prim:
        doc.ref(prim, "material", where, "materials", n_materials)
    targets = prim.get("targets", [])
    for target in targets if isinstance(targets, list) else []:
        if isinstance(target, dict):
            for name in target:
                doc.ref(target, name, f"{where} morph target", "accessors", len(accessors))
    if mode == 4:
        if n % 3:
            raise doc.bad(f"{where}: {n:,} triangle indices is not a multiple of 3")
        return n // 3, n_vertices
    if mode in (5, 6):
        return max(n - 2, 0), n_vertices
    return 0, n_vertices


def _check_nodes(doc: _Doc, mesh_tris: list[int], mesh_verts: list[int]) -> None:
    nodes = doc.items("nodes")
    parent = [-1] * len(nodes)
    for i, node in enumerate(nodes):
        where = f"node {i}"
        children = node.get("children", [])
        if not isinstance(children, list):
            raise doc.bad(f"{where}: 'children' must be a list")
        for c in children:
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < len(nodes):
                raise doc.bad(f"{where}: child {c!r:.20} is out of range ({len(nodes)} nodes)")
            if parent[c] != -1 or c == i:
                raise doc.bad(f"{where}: node {c} has more than one parent")
            parent[c] = i
        if "mesh" in node:
            doc.ref(node, "mesh", where, "meshes", len(mesh_tris))
        matrix = node.get("matrix")
        if matrix is not None and (
            not isinstance(matrix, list)
            or len(matrix) != 16
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in matrix)
        ):
            raise doc.bad(f"{where}: 'matrix' must be 16 numbers")
    # with one parent each, a cycle leaves its nodes unreachable from the roots
    stack = [i for i, p in enumerate(parent) if p == -1]
    reached = 0
    while stack:
        i = stack.pop()
        reached += 1
        children = nodes[i].get("children", [])
        assert isinstance(children, list)
        stack.extend(children)
    if reached != len(nodes):
        raise doc.bad("glTF node hierarchy contains a cycle")
    triangles = vertices = 0
    for node in nodes:
        mesh = node.get("mesh")
        if isinstance(mesh, int):
            triangles += mesh_tris[mesh]
            vertices += mesh_verts[mesh]
    if triangles > doc.limits.max_triangles:
        raise AssetLimitError(
            doc.path,
            f"mesh instances add up to {triangles:,} triangles, above the limit of "
            f"{doc.limits.max_triangles:,}",
        )
    if vertices > doc.limits.max_vertices:
        raise AssetLimitError(
            doc.path,
            f"mesh instances add up to {vertices:,} vertices, above the limit of "
            f"{doc.limits.max_vertices:,}",
        )
    for s, scene in enumerate(doc.items("scenes")):
        roots = scene.get("nodes", [])
        for n in roots if isinstance(roots, list) else []:
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < len(nodes):
                raise doc.bad(f"scene {s}: node {n!r:.20} is out of range ({len(nodes)} nodes)")
    if "scene" in doc.root:
        doc.ref(doc.root, "scene", "glTF", "scenes", len(doc.items("scenes")))


def _check_images(doc: _Doc, views: list[tuple[int, int, int, int]]) -> None:
    images = doc.items("images")
    textures = doc.items("textures")
    for t, texture in enumerate(textures):
        if "source" in texture:
            doc.ref(texture, "source", f"texture {t}", "images", len(images))
    for m, material in enumerate(doc.items("materials")):
        slots = [(material, k) for k in _TEXTURE_SLOTS]
        pbr = material.get("pbrMetallicRoughness")
        if isinstance(pbr, dict):
            slots += [(pbr, k) for k in _PBR_SLOTS]
        for owner, key in slots:
            info = owner.get(key)
            if isinstance(info, dict):
                doc.ref(info, "index", f"material {m} {key}", "textures", len(textures))
    for i, image in enumerate(images):
        where = f"image {i}"
        if "bufferView" in image:
            v = doc.ref(image, "bufferView", where, "bufferViews", len(views))
            buffer, offset, length, _ = views[v]
            raw = _buffer_slice(doc, buffer, offset, length)
        elif "uri" in image:
            raw = _uri_bytes(doc, image["uri"], where)
        else:
            raise doc.bad(f"{where} has neither a uri nor a bufferView")
        check_image_bytes(doc.path, raw, where, doc.limits)


def _buffer_slice(doc: _Doc, buffer: int, offset: int, length: int) -> bytes:
    buf = doc.items("buffers")[buffer]
    if "uri" not in buf:
        assert doc.bin_chunk is not None
        return bytes(doc.bin_chunk[offset : offset + length])
    return _uri_bytes(doc, buf["uri"], f"buffer {buffer}")[offset : offset + length]


def check_image_bytes(path: Path, raw: bytes, where: str, limits: LoadLimits) -> None:
    """Refuse an encoded image whose header declares more pixels than the limit."""
    from PIL import Image

    limit = limits.max_image_pixels
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and raw[12:16] == b"IHDR" and len(raw) >= 24:
        width, height = struct.unpack_from(">II", raw, 16)
        if width * height > limit:
            raise AssetLimitError(
                path, f"{where} declares {width}x{height} pixels, above the limit of {limit:,}"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(raw)) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise AssetLimitError(path, f"{where} is a decompression bomb") from None
    except Exception:
        # Pillow cannot identify it, so nothing downstream can decode it either
        return
    if width * height > limit:
        raise AssetLimitError(
            path, f"{where} declares {width}x{height} pixels, above the limit of {limit:,} pixels"
        )


def _uri_size(doc: _Doc, uri: object, where: str) -> int:
    """Decoded size of a data: URI, or size of a side file (which counts towards the limit)."""
    if not isinstance(uri, str):
        raise doc.bad(f"{where}: 'uri' must be a string")
    if uri.startswith("data:"):
        head, sep, payload = uri.partition(",")
        if not sep:
            raise doc.bad(f"{where}: data URI has no ','")
        if not head.endswith(";base64"):
            raise UnsupportedAssetError(doc.path, f"{where}: only base64 data: URIs are read")
        return len(payload) * 3 // 4 - payload[-2:].count("=")
    target = side_file(doc.path, uri, where)
    size = target.stat().st_size
    doc.external_bytes += size
    if doc.external_bytes > doc.limits.max_file_bytes:
        raise AssetLimitError(
            doc.path,
            f"side files add up to {doc.external_bytes:,} bytes, above the limit of "
            f"{doc.limits.max_file_bytes:,}",
        )
    return size


def _uri_bytes(doc: _Doc, uri: object, where: str) -> bytes:
    if not isinstance(uri, str):
        raise doc.bad(f"{where}: 'uri' must be a string")
    if uri.startswith("data:"):
        head, _, payload = uri.partition(",")
        if not head.endswith(";base64"):
            raise UnsupportedAssetError(doc.path, f"{where}: only base64 data: URIs are read")
        try:
            return base64.b64decode(payload)
        except (binascii.Error, ValueError):
            raise doc.bad(f"{where}: data URI is not valid base64") from None
    if uri not in doc.loaded:
        target = side_file(doc.path, uri, where)
        if target.stat().st_size > doc.limits.max_file_bytes:
            raise AssetLimitError(doc.path, f"{where}: side file {uri[:80]!r} is above the limit")
        doc.loaded[uri] = target.read_bytes()
    return doc.loaded[uri]


def side_file(asset: Path, uri: str, where: str) -> Path:
    """The file a relative URI names, refused unless it lies inside the asset's folder."""
    if _SCHEME.match(uri) or uri.startswith("//"):
        raise UnsupportedAssetError(
            asset,
            f"{where} refers to {uri[:80]!r}: URLs and other URI schemes are not "
            "fetched, only files inside the asset's folder",
        )
    name = unquote(uri)
    if "\x00" in name or PurePosixPath(name).is_absolute() or name.startswith("\\"):
        raise UnsupportedAssetError(
            asset,
            f"{where} refers to the absolute path {uri[:80]!r}; only files inside "
            "the asset's folder are read",
        )
    folder = asset.resolve().parent
    target = (folder / name).resolve()
    if not target.is_relative_to(folder):
        raise UnsupportedAssetError(
            asset, f"{where} refers to {uri[:80]!r}, outside the asset's folder; refused"
        )
    if not target.is_file():
        raise MalformedAssetError(asset, f"{where} refers to {uri[:80]!r}, which does not exist")
    return target
