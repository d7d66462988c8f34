"""Pre-validation of glTF 2.0 files (.glb container and .gltf JSON) before trimesh reads them.

The GLB header and chunk table are checked against the file size, the JSON is parsed once
and every buffer, bufferView, accessor, mesh primitive, node, material texture and image
reference is validated arithmetically: declared element counts against the limits, byte
ranges against the bytes really present, indices against the array they index, the node
hierarchy for cycles, and the triangles instanced by all nodes together against the
triangle limit. Embedded and external images have their declared pixel size read from
their header (PNG and WebP directly, other formats by Pillow, which reads headers lazily)
so a decompression bomb is refused before it is decoded; ``EXT_texture_webp`` sources are
checked like ``source``. ``EXT_mesh_gpu_instancing`` nodes count their mesh once per
instance, and their instance accessors are checked for type and count. Draco-compressed primitives
(``KHR_draco_mesh_compression``) are accepted when DracoPy is installed: their accessors
keep their counts, so the limits apply before anything is decoded. meshopt-compressed
bufferViews (``EXT_meshopt_compression``) are accepted when the meshopt package is
installed: their decoded layout is checked against the spec's rules and their decoded size
against the file size limit; ``KHR_meshopt_compression`` is refused with a command to
convert the file. External URIs must name files inside the asset's own folder (no absolute
paths, no URLs).
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
from xrclient.scene import gltf_draco, gltf_meshopt
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
_DRACO = gltf_draco.EXTENSION
_MESHOPT = gltf_meshopt.EXTENSION
_MESHOPT_MODES = frozenset({"ATTRIBUTES", "TRIANGLES", "INDICES"})
_MESHOPT_FILTERS = frozenset({"NONE", "OCTAHEDRAL", "QUATERNION", "EXPONENTIAL"})
_INSTANCING = "EXT_mesh_gpu_instancing"
#: how to turn a meshopt-compressed file into one this loader reads: gltfpack (releases
#: after June 2024) decompresses meshopt input and, without -c/-cc, writes none; -noq keeps
#: the attributes unquantized
_MESHOPT_FIX = (
    "convert it without compression, e.g. gltfpack -i in.glb -o out.glb -noq "
    "(a gltfpack release after June 2024)"
)
#: what to run to convert a file that requires an extension this loader does not read
_CONVERSIONS = {
    "KHR_texture_basisu": "decompress its KTX2 textures to PNG first, e.g. "
    "gltf-transform ktxdecompress in.glb out.glb",
    "EXT_texture_avif": "convert its AVIF textures to PNG first, e.g. "
    "gltf-transform png in.glb out.glb",
}
_ANY_CONVERSION = "export the model again without it (an option of the exporter)"
_SUPPORTED_REQUIRED = (
    "KHR_materials_",
    "KHR_texture_transform",
    "EXT_texture_webp",  # Pillow decodes WebP
    "KHR_lights_punctual",
    "KHR_mesh_quantization",  # integer attributes are decoded by the loader
    _INSTANCING,  # instances are expanded into copies by the loader
)
#: instance attribute: (accessor type, allowed component types (normalized for integers))
_INSTANCE_ATTRIBUTES = {
    "TRANSLATION": ("VEC3", (5126,)),
    "ROTATION": ("VEC4", (5126, 5120, 5122)),
    "SCALE": ("VEC3", (5126,)),
}
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
    #: meshopt placeholder buffers (no data; only compressed views refer to them)
    virtual: set[int] = field(default_factory=set)
    #: bufferViews holding meshopt-compressed data
    compressed: set[int] = field(default_factory=set)

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
        elif i == 0 and contents.binary is not None:
            out.append(bytes(contents.binary))
        else:
            out.append(b"")  # a meshopt placeholder: only compressed views refer to it
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
        if name == _DRACO and gltf_draco.available():
            continue
        if name == _MESHOPT and gltf_meshopt.available():
            continue
        if name == _DRACO:
            raise UnsupportedAssetError(
                doc.path,
                f"uses {name} ({_COMPRESSION[name]}), which needs the DracoPy package "
                "(pip install DracoPy) or an export without mesh compression",
            )
        if name == _MESHOPT:
            raise UnsupportedAssetError(
                doc.path,
                f"uses {name} ({_COMPRESSION[name]}), which needs the meshopt package "
                f"(pip install meshopt); or {_MESHOPT_FIX}",
            )
        if name in _COMPRESSION:
            raise UnsupportedAssetError(
                doc.path,
                f"uses {name} ({_COMPRESSION[name]}), which is not decoded; {_MESHOPT_FIX}",
            )
    required = doc.root.get("extensionsRequired", [])
    assert isinstance(required, list)
    for name in required:
        if name in (_DRACO, _MESHOPT):
            continue  # refused above unless the decoder is installed
        if not str(name).startswith(_SUPPORTED_REQUIRED):
            fix = _CONVERSIONS.get(str(name), _ANY_CONVERSION)
            raise UnsupportedAssetError(
                doc.path, f"requires unsupported extension {name[:60]!r}; {fix}"
            )


def _check_buffers(doc: _Doc) -> None:
    for i, buf in enumerate(doc.items("buffers")):
        where = f"buffer {i}"
        declared = doc.int_of(buf, "byteLength", where)
        uri = buf.get("uri")
        if uri is None and (i != 0 or doc.bin_chunk is None):
            # no data: a meshopt placeholder (compressed views decode into its layout) or
            # a buffer nothing refers to, both valid; a plain view of it is refused below
            present = declared
            doc.virtual.add(i)
        elif uri is None and doc.bin_chunk is not None:
            present = len(doc.bin_chunk)
        else:
            present = _uri_size(doc, uri, where)
        if declared > present:
            raise doc.bad(f"{where} declares {declared:,} bytes but only {present:,} are present")
        doc.buffer_sizes.append(declared)


def _check_views(doc: _Doc) -> list[tuple[int, int, int, int]]:
    """Each bufferView as (buffer, offset, length, stride or 0)."""
    views = []
    decoded = 0
    for i, view in enumerate(doc.items("bufferViews")):
        where = f"bufferView {i}"
        ext = view.get("extensions")
        if isinstance(ext, dict):
            for name in ext:
                if name == _MESHOPT and gltf_meshopt.available():
                    continue
                if name in _COMPRESSION and name != _DRACO:
                    raise UnsupportedAssetError(
                        doc.path, f"{where} uses {name}, not decoded; {_MESHOPT_FIX}"
                    )
        if isinstance(ext, dict) and _MESHOPT in ext and gltf_meshopt.available():
            decoded += _check_meshopt_view(doc, view, ext[_MESHOPT], where)
            doc.compressed.add(i)
            if decoded > doc.limits.max_file_bytes:
                raise AssetLimitError(
                    doc.path,
                    f"meshopt-compressed views decode to over {doc.limits.max_file_bytes:,} "
                    "bytes, the limit of an uncompressed file",
                )
        buffer = doc.ref(view, "buffer", where, "buffers", len(doc.buffer_sizes))
        if buffer in doc.virtual and i not in doc.compressed:
            raise doc.bad(
                f"{where} refers to buffer {buffer}, which has no uri and no BIN chunk to read"
            )
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


def _check_meshopt_view(doc: _Doc, view: dict[str, object], ext: object, where: str) -> int:
    """The extension object of a compressed view (per the spec's validity rules); its size."""
    where = f"{where} {_MESHOPT}"
    if not isinstance(ext, dict):
        raise doc.bad(f"{where} must be an object")
    source = doc.ref(ext, "buffer", where, "buffers", len(doc.buffer_sizes))
    if source in doc.virtual:
        raise doc.bad(f"{where}: compressed data in buffer {source}, which has no data")
    offset = doc.int_of(ext, "byteOffset", where, 0)
    length = doc.int_of(ext, "byteLength", where)
    if offset + length > doc.buffer_sizes[source]:
        raise doc.bad(f"{where}: compressed bytes run past the end of buffer {source}")
    stride = doc.int_of(ext, "byteStride", where)
    count = doc.int_of(ext, "count", where)
    mode, filt = ext.get("mode"), ext.get("filter", "NONE")
    if not isinstance(mode, str) or not isinstance(filt, str):
        raise doc.bad(f"{where}: 'mode' and 'filter' must be strings")
    if mode not in _MESHOPT_MODES or filt not in _MESHOPT_FILTERS:
        raise doc.bad(f"{where}: mode {mode!r:.20} / filter {filt!r:.20} is not a meshopt one")
    outer = doc.int_of(view, "byteLength", where)
    if outer != stride * count or view.get("byteStride", stride) != stride:
        raise doc.bad(f"{where}: {count:,} x {stride} bytes does not fill the bufferView")
    valid = {
        "ATTRIBUTES": stride % 4 == 0 and 0 < stride <= 256,
        "TRIANGLES": stride in (2, 4) and count % 3 == 0 and filt == "NONE",
        "INDICES": stride in (2, 4) and filt == "NONE",
    }[str(mode)]
    valid = (
        valid
        and {
            "NONE": True,
            "OCTAHEDRAL": stride in (4, 8),
            "QUATERNION": stride == 8,
            "EXPONENTIAL": stride % 4 == 0,
        }[str(filt)]
    )
    if not valid:
        raise doc.bad(f"{where}: byteStride {stride} / count {count:,} invalid for {mode}/{filt}")
    return outer


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
        # type() first: a list or object from the JSON is not hashable
        if type(ctype) is not int or type(kind) is not str:
            raise doc.bad(f"{where}: bad componentType/type {ctype!r:.20}/{kind!r:.20}")
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
            if type(ctype) is not int or ctype not in _INDEX_TYPES:
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
                    if name == _DRACO and gltf_draco.available():
                        continue
                    if name in _COMPRESSION:
                        raise UnsupportedAssetError(
                            doc.path, f"{where} uses {name} ({_COMPRESSION[name]}), not decoded"
                        )
            t, v = _check_primitive(doc, prim, where, accessors, n_materials)
            if isinstance(ext, dict) and _DRACO in ext:
                _check_draco(doc, prim, ext[_DRACO], where, accessors)
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


def _check_draco(
    doc: _Doc,
    prim: dict[str, object],
    ext: object,
    where: str,
    accessors: list[tuple[int, int, str]],
) -> None:
    """The Draco extension object of a primitive the guard already checked."""
    where = f"{where} {_DRACO}"
    if not isinstance(ext, dict):
        raise doc.bad(f"{where} must be an object")
    doc.ref(ext, "bufferView", where, "bufferViews", len(doc.items("bufferViews")))
    mode = prim.get("mode", 4)
    if mode != 4:
        raise UnsupportedAssetError(
            doc.path, f"{where}: mode {mode!r:.20} is not read compressed, only triangles (4)"
        )
    attributes = ext.get("attributes")
    declared = prim.get("attributes")
    assert isinstance(declared, dict)
    if not isinstance(attributes, dict) or not attributes:
        raise doc.bad(f"{where}: 'attributes' must be a non-empty object")
    points = accessors[doc.int_of(declared, "POSITION", where)][0]
    for name in attributes:
        if name not in declared:
            raise doc.bad(f"{where}: attribute {name!s:.30} is not an attribute of the primitive")
        doc.int_of(attributes, name, where)
        count, _, kind = accessors[doc.int_of(declared, name, where)]
        if count != points or kind not in ("SCALAR", "VEC2", "VEC3", "VEC4"):
            raise doc.bad(
                f"{where}: {name!s:.30} accessor ({count:,} {kind}) does not match "
                f"POSITION ({points:,})"
            )


def _instance_count(doc: _Doc, node: dict[str, object], where: str) -> int:
    """How many copies of its mesh a node draws: 1, or its EXT_mesh_gpu_instancing count."""
    ext = node.get("extensions")
    if "mesh" not in node or not isinstance(ext, dict) or _INSTANCING not in ext:
        return 1
    where = f"{where} {_INSTANCING}"
    inst = ext[_INSTANCING]
    attributes = inst.get("attributes", {}) if isinstance(inst, dict) else None
    if not isinstance(attributes, dict):
        raise doc.bad(f"{where}: 'attributes' must be an object")
    accessors = doc.items("accessors")
    counts = set()
    for name, (kind, ctypes) in _INSTANCE_ATTRIBUTES.items():
        if name not in attributes:
            continue
        acc = accessors[doc.ref(attributes, name, where, "accessors", len(accessors))]
        ctype = acc.get("componentType")
        normalized = acc.get("normalized") is True
        if acc.get("type") != kind or ctype not in ctypes or (ctype != 5126) != normalized:
            allowed = "float" if len(ctypes) == 1 else "float or normalized byte/short"
            raise doc.bad(f"{where}: {name} accessor must be {kind} of {allowed}")
        counts.add(doc.int_of(acc, "count", where))
    if len(counts) > 1:
        raise doc.bad(f"{where}: attribute accessors have different counts {sorted(counts)}")
    n = counts.pop() if counts else 1
    if n > doc.limits.max_triangles:
        raise AssetLimitError(
            doc.path,
            f"{where} declares {n:,} instances, above the limit of {doc.limits.max_triangles:,}",
        )
    return n


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
    triangles = vertices = instanced = 0
    for i, node in enumerate(nodes):
        mesh = node.get("mesh")
        if isinstance(mesh, int):
            copies = _instance_count(doc, node, f"node {i}")
            triangles += mesh_tris[mesh] * copies
            vertices += mesh_verts[mesh] * copies
            ext = node.get("extensions")
            instanced += copies if isinstance(ext, dict) and _INSTANCING in ext else 0
    if instanced > doc.limits.max_triangles:
        raise AssetLimitError(
            doc.path,
            f"{_INSTANCING} nodes add up to {instanced:,} instances, above the limit of "
            f"{doc.limits.max_triangles:,}",
        )
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
        extensions = texture.get("extensions")
        webp = extensions.get("EXT_texture_webp") if isinstance(extensions, dict) else None
        if isinstance(webp, dict) and "source" in webp:
            doc.ref(webp, "source", f"texture {t} EXT_texture_webp", "images", len(images))
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
            if v in doc.compressed:
                raise UnsupportedAssetError(
                    doc.path, f"{where} is stored meshopt-compressed, which is not read"
                )
            buffer, offset, length, _ = views[v]
            raw = _buffer_slice(doc, buffer, offset, length)
        elif "uri" in image:
            uri = image["uri"]
            if isinstance(uri, str) and not uri.startswith("data:"):
                try:
                    side_file(doc.path, uri, where)
                except MalformedAssetError:
                    continue  # a missing texture: the loader warns, the material colour shows
            raw = _uri_bytes(doc, uri, where)
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
    declared = None
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and raw[12:16] == b"IHDR" and len(raw) >= 24:
        declared = struct.unpack_from(">II", raw, 16)
    elif raw.startswith(b"RIFF") and raw[8:12] == b"WEBP" and len(raw) >= 30:
        declared = _webp_size(raw)
    if declared is not None and declared[0] * declared[1] > limit:
        width, height = declared
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


def _webp_size(raw: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares (VP8X, lossy VP8 or lossless VP8L chunk)."""
    chunk = raw[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(raw[24:27], "little") + 1
        height = int.from_bytes(raw[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and raw[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", raw, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and raw[20:21] == b"\x2f" and len(raw) >= 25:
        bits = int.from_bytes(raw[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


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
