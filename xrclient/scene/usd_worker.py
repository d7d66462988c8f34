"""Child process that opens an untrusted OpenUSD stage with usd-core and sends back plain data.

Run as ``python -m xrclient.scene.usd_worker`` by :mod:`xrclient.scene.usd_load`, never in
the viewer's own process: a crash of the native reader, a runaway allocation (the address
space is limited with ``resource.setrlimit`` before the stage is opened) or a hang (the
parent kills the child after its timeout) ends this process only. Nothing here is trusted
by the parent, which checks every count, index and value again.

Protocol, both ways: an 8-byte little-endian length, a JSON header of that length, then raw
bytes. Request header: ``{"mode": "read" | "meta", "path": str, "folder": str,
"memory_bytes": int, "max_prims": int, "max_elements": int}``. ``meta`` opens the root
layer only and replies ``{"ok": true, "up_axis": "Y" | "Z", "meters_per_unit": float}``.
``read`` composes the stage and replies ``{"ok": true, "up_axis", "meters_per_unit",
"meters_authored", "nodes", "meshes", "materials", "placements", "instancers", "arrays"}``
(see :func:`read_stage`; a mesh record's ``subsets`` are its material-bind GeomSubsets of
faces) followed by the arrays, C-contiguous, in the order ``arrays`` lists them as
``[dtype, shape]``. A failure replies ``{"ok": false, "reason": str, "limit":
bool}``.
"""

from __future__ import annotations

import importlib
import math
import os
import struct
import sys
from typing import Any

import numpy as np
import orjson

from xrclient.scene.decode_worker import limit_memory, serve_stdio

__all__ = ["handle_request", "main", "read_stage"]

#: at most this many string properties per prim are sent, each cut to this many characters
_MAX_PROPS = 64
_MAX_PROP_CHARS = 256
_SKIPPED_PURPOSES = frozenset({"proxy", "guide"})


class _Refused(Exception):
    """The stage is refused; ``limit`` marks a limit rather than a malformed file."""

    def __init__(self, reason: str, limit: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


class _Out:
    """The reply being built: JSON-able records and the arrays they refer to by number."""

    def __init__(self, max_elements: int) -> None:
        self.specs: list[list[Any]] = []
        self.chunks: list[bytes] = []
        self.elements = 0
        self.max_elements = max_elements

    def array(self, values: Any, dtype: str, width: int) -> int:
        data = np.ascontiguousarray(np.asarray(values, dtype=dtype))
        data = data.reshape(-1, width) if width > 1 else data.reshape(-1)
        self.elements += int(data.size)
        if self.elements > self.max_elements:
            raise _Refused(
                f"the stage holds over {self.max_elements:,} values of geometry", limit=True
            )
        self.specs.append([data.dtype.str, list(data.shape)])
        self.chunks.append(data.tobytes())
        return len(self.specs) - 1


def _matrix(m: Any) -> list[float]:
    """A USD row-vector matrix as 16 floats of the column-vector matrix, row-major."""
    rows = np.asarray(m, dtype=np.float64).reshape(4, 4).T
    return [float(v) for v in rows.reshape(-1)]


def _meta(stage_or_layer: Any) -> tuple[str, float]:
    from pxr import UsdGeom

    up = str(UsdGeom.GetStageUpAxis(stage_or_layer))
    meters = float(UsdGeom.GetStageMetersPerUnit(stage_or_layer))
    return ("Z" if up == "Z" else "Y"), meters


def _meters_authored(stage: Any) -> bool:
    from pxr import UsdGeom

    return bool(UsdGeom.StageHasAuthoredMetersPerUnit(stage))


def _props(prim: Any) -> dict[str, str]:
    """A prim's string and token attributes and string customData, cut to size."""
    out: dict[str, str] = {}
    for spec in prim.GetPrimStack():  # authored customData only, strongest first
        for key, value in (spec.customData or {}).items():
            if isinstance(value, str) and len(out) < _MAX_PROPS:
                out.setdefault(str(key)[:_MAX_PROP_CHARS], value[:_MAX_PROP_CHARS])
    for attr in prim.GetAuthoredAttributes():
        if len(out) >= _MAX_PROPS:
            break
        if str(attr.GetTypeName()) not in ("string", "token"):
            continue
        value = attr.Get()
        if isinstance(value, str) and value:
            out[attr.GetName()[:_MAX_PROP_CHARS]] = value[:_MAX_PROP_CHARS]
    return out


def _primvar(api: Any, name: str) -> tuple[Any, str] | None:
    primvar = api.GetPrimvar(name)
    if not primvar or not primvar.HasAuthoredValue():
        return None
    values = primvar.ComputeFlattened()
    if values is None:
        raise _Refused(f"primvar {name!r} of {api.GetPrim().GetPath()} cannot be read")
    return values, str(primvar.GetInterpolation())


class _Reader:
    def __init__(self, stage: Any, out: _Out, folder: str, max_prims: int) -> None:
        from pxr import Usd, UsdGeom

        self.stage = stage
        self.out = out
        self.folder = folder
        self.max_prims = max_prims
        self.time = Usd.TimeCode.EarliestTime()
        self.xforms = UsdGeom.XformCache(self.time)
        self.nodes: list[dict[str, Any]] = []
        self.meshes: list[dict[str, Any]] = []
        self.mesh_keys: dict[str, int] = {}
        self.materials: list[dict[str, Any]] = []
        self.material_keys: dict[str, int] = {}
        self.placements: list[dict[str, Any]] = []
        self.instancers: list[dict[str, Any]] = []
        self.prims = 0
        self.prototypes: set[str] = set()

    def count(self) -> None:
        self.prims += 1
        if self.prims > self.max_prims:
            raise _Refused(f"the stage holds over {self.max_prims:,} prims", limit=True)

    def run(self) -> None:
        default = self.stage.GetDefaultPrim()
        roots: list[Any] = []
        if default:
            from pxr import UsdGeom

            if default.IsA(UsdGeom.Gprim) or default.IsA(UsdGeom.PointInstancer):
                roots.append(default)
            else:
                roots.extend(self._children(default))
        for prim in self.stage.GetPseudoRoot().GetChildren():
            if not default or prim.GetPath() != default.GetPath():
                roots.append(prim)
        for prim in roots:
            self.visit(prim, -1)

    def _children(self, prim: Any) -> list[Any]:
        from pxr import Usd

        predicate = Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate)
        return list(prim.GetFilteredChildren(predicate))

    def visit(self, root: Any, root_parent: int) -> None:
        from pxr import UsdGeom

        stack = [(root, root_parent)]
        while stack:
            prim, parent = stack.pop()
            self.count()
            if not prim.IsActive() or not prim.IsDefined() or prim.IsAbstract():
                continue
            path = str(prim.GetPath())
            if path in self.prototypes:
                continue
            typed = bool(prim.GetTypeName())
            imageable = UsdGeom.Imageable(prim) if prim.IsA(UsdGeom.Imageable) else None
            if typed and imageable is None:
                continue  # materials, shaders, subsets: not drawn, not nodes
            if imageable is not None:
                if imageable.ComputeVisibility(self.time) == UsdGeom.Tokens.invisible:
                    continue
                if str(imageable.ComputePurpose()) in _SKIPPED_PURPOSES:
                    continue
            node = len(self.nodes)
            record: dict[str, Any] = {"name": prim.GetName(), "parent": parent, "path": path}
            props = _props(prim)
            if props:
                record["extras"] = props
            self.nodes.append(record)
            if prim.IsA(UsdGeom.Mesh):
                mesh = self.mesh(prim)
                if mesh >= 0:
                    world = self.xforms.GetLocalToWorldTransform(prim)
                    self.placements.append({"node": node, "mesh": mesh, "matrix": _matrix(world)})
                    record["mesh"] = mesh
            elif prim.IsA(UsdGeom.PointInstancer):
                self.instancer(prim, node)
                record["mesh"] = -1
            for child in reversed(self._children(prim)):
                stack.append((child, node))

    def mesh(self, prim: Any) -> int:
        """The number of the mesh record of ``prim`` (one per prototype prim); -1: empty."""
        from pxr import UsdGeom

        source = prim.GetPrimInPrototype() if prim.IsInstanceProxy() else prim
        key = str(source.GetPath())
        if key in self.mesh_keys:
            return self.mesh_keys[key]
        geom = UsdGeom.Mesh(prim)
        points = geom.GetPointsAttr().Get(self.time)
        counts = geom.GetFaceVertexCountsAttr().Get(self.time)
        indices = geom.GetFaceVertexIndicesAttr().Get(self.time)
        if points is None or counts is None or indices is None or len(counts) == 0:
            self.mesh_keys[key] = -1
            return -1
        out = self.out
        record: dict[str, Any] = {
            "path": str(prim.GetPath()),
            "points": out.array(points, "<f4", 3),
            "counts": out.array(counts, "<i4", 1),
            "indices": out.array(indices, "<i4", 1),
            "left_handed": str(geom.GetOrientationAttr().Get()) == "leftHanded",
        }
        api = UsdGeom.PrimvarsAPI(prim)
        normals = _primvar(api, "normals")
        if normals is None:
            attr = geom.GetNormalsAttr()
            values = attr.Get(self.time) if attr.HasAuthoredValue() else None
            if values is not None and len(values):
                normals = (values, str(geom.GetNormalsInterpolation()))
        if normals is not None:
            record["normals"] = [out.array(normals[0], "<f4", 3), normals[1]]
        for name, width, field in (
            ("st", 2, "st"),
            ("displayColor", 3, "color"),
            ("displayOpacity", 1, "opacity"),
        ):
            found = _primvar(api, name)
            if found is not None and len(found[0]):
                record[field] = [out.array(found[0], "<f4", width), found[1]]
        record["material"] = self.material(prim)
        subsets = self.subsets(prim)
        if subsets:
            record["subsets"] = subsets
        number = len(self.meshes)
        self.meshes.append(record)
        self.mesh_keys[key] = number
        return number

    def subsets(self, prim: Any) -> list[list[int]]:
        """The mesh's material-bind GeomSubsets of faces: [face indices array, material]."""
        from pxr import UsdGeom, UsdShade

        out: list[list[int]] = []
        for subset in UsdShade.MaterialBindingAPI(prim).GetMaterialBindSubsets():
            if str(subset.GetElementTypeAttr().Get()) != UsdGeom.Tokens.face:
                continue
            faces = subset.GetIndicesAttr().Get(self.time)
            if faces is None or len(faces) == 0:
                continue
            material = self.material(subset.GetPrim())
            out.append([self.out.array(faces, "<i4", 1), material])
        return out

    def material(self, prim: Any) -> int:
        from pxr import UsdShade

        bound = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()[0]
        if not bound:
            return -1
        key = str(bound.GetPath())
        if key in self.material_keys:
            return self.material_keys[key]
        record: dict[str, Any] = {"name": bound.GetPrim().GetName()}
        shader = bound.ComputeSurfaceSource()[0]
        if shader and str(shader.GetIdAttr().Get()) == "UsdPreviewSurface":
            diffuse = shader.GetInput("diffuseColor")
            if diffuse:
                source = diffuse.GetConnectedSource() if diffuse.HasConnectedSource() else None
                if source:
                    texture = UsdShade.Shader(source[0].GetPrim())
                    if texture and str(texture.GetIdAttr().Get()) == "UsdUVTexture":
                        file_input = texture.GetInput("file")
                        asset = file_input.Get() if file_input else None
                        if asset is not None:
                            record["texture"] = [str(asset.path), str(asset.resolvedPath)]
                else:
                    value = diffuse.Get()
                    if value is not None:
                        record["diffuse"] = [float(c) for c in value][:3]
            opacity = shader.GetInput("opacity")
            if opacity and not opacity.HasConnectedSource():
                value = opacity.Get()
                if value is not None:
                    record["opacity"] = float(value)
        number = len(self.materials)
        self.materials.append(record)
        self.material_keys[key] = number
        return number

    def instancer(self, prim: Any, node: int) -> None:
        """The raw arrays of a point instancer and the meshes of its prototypes."""
        from pxr import Usd, UsdGeom

        geom = UsdGeom.PointInstancer(prim)
        targets = geom.GetPrototypesRel().GetTargets()
        prototypes: list[list[dict[str, Any]]] = []
        for target in targets:
            self.prototypes.add(str(target))
        for target in targets:
            root = self.stage.GetPrimAtPath(target)
            items: list[dict[str, Any]] = []
            if root:
                base = root.GetParent()
                predicate = Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate)
                for item in Usd.PrimRange(root, predicate):
                    self.count()
                    if not item.IsA(UsdGeom.Mesh):
                        continue
                    imageable = UsdGeom.Imageable(item)
                    if str(imageable.ComputePurpose()) in _SKIPPED_PURPOSES:
                        continue
                    if imageable.ComputeVisibility(self.time) == UsdGeom.Tokens.invisible:
                        continue
                    mesh = self.mesh(item)
                    if mesh < 0:
                        continue
                    relative, _ = self.xforms.ComputeRelativeTransform(item, base)
                    items.append({"mesh": mesh, "matrix": _matrix(relative)})
            prototypes.append(items)
        record: dict[str, Any] = {
            "node": node,
            "path": str(prim.GetPath()),
            "matrix": _matrix(self.xforms.GetLocalToWorldTransform(prim)),
            "prototypes": prototypes,
        }
        out = self.out
        for name, attr, dtype, width in (
            ("proto_indices", geom.GetProtoIndicesAttr(), "<i4", 1),
            ("positions", geom.GetPositionsAttr(), "<f4", 3),
            ("orientations", geom.GetOrientationsAttr(), "<f4", 4),
            ("scales", geom.GetScalesAttr(), "<f4", 3),
            ("ids", geom.GetIdsAttr(), "<i8", 1),
            ("invisible", geom.GetInvisibleIdsAttr(), "<i8", 1),
        ):
            value = attr.Get(self.time)
            if value is not None and len(value):
                record[name] = out.array(value, dtype, width)
        self.instancers.append(record)


def _outside(layer_path: str, folder: str) -> bool:
    real = layer_path.split("[", 1)[0]
    if not real:
        return False
    return os.path.commonpath([os.path.realpath(real), folder]) != folder


def read_stage(
    path: str, folder: str, max_prims: int, max_elements: int
) -> tuple[dict[str, Any], list[bytes]]:
    """Compose the stage at ``path`` and return the reply header and its array chunks."""
    from pxr import Usd

    stage = Usd.Stage.Open(path, Usd.Stage.LoadAll)
    if stage is None:
        raise _Refused("usd-core cannot open the file")
    errors = stage.GetCompositionErrors() if hasattr(stage, "GetCompositionErrors") else []
    if errors:
        kinds = sorted({type(e).__name__.removeprefix("Error") for e in errors})
        first = str(errors[0]).splitlines()[0][:160]
        raise _Refused(f"composition errors ({', '.join(kinds)}): {first}")
    for layer in stage.GetUsedLayers():
        if layer.anonymous:
            continue
        if _outside(layer.realPath, folder):
            raise _Refused(
                f"the stage uses the layer {layer.identifier[:120]!r}, outside the asset's folder"
            )
    up, meters = _meta(stage)
    out = _Out(max_elements)
    reader = _Reader(stage, out, folder, max_prims)
    reader.run()
    head = {
        "ok": True,
        "up_axis": up,
        "meters_per_unit": meters if math.isfinite(meters) else 1.0,
        "meters_authored": _meters_authored(stage),
        "nodes": reader.nodes,
        "meshes": reader.meshes,
        "materials": reader.materials,
        "placements": reader.placements,
        "instancers": reader.instancers,
        "arrays": out.specs,
    }
    return head, out.chunks


def handle_request(request: bytes) -> bytes:
    """The reply to one request (see module doc); the memory limit is applied first."""
    (length,) = struct.unpack_from("<Q", request, 0)
    header = orjson.loads(request[8 : 8 + length])
    os.environ["PXR_WORK_THREAD_LIMIT"] = "1"
    # the libraries are mapped before the limit, which then bounds what reading maps
    for module in ("pxr.Usd", "pxr.UsdGeom", "pxr.UsdShade", "pxr.Sdf"):
        importlib.import_module(module)

    limit_memory(int(header["memory_bytes"]))
    chunks: list[bytes] = []
    try:
        if header["mode"] == "meta":
            from pxr import Sdf

            layer = Sdf.Layer.FindOrOpen(str(header["path"]))
            if layer is None:
                raise _Refused("usd-core cannot open the file")
            from pxr import Usd

            up, meters = _meta(Usd.Stage.Open(layer, Usd.Stage.LoadNone))
            head: dict[str, Any] = {"ok": True, "up_axis": up, "meters_per_unit": meters}
        else:
            head, chunks = read_stage(
                str(header["path"]),
                str(header["folder"]),
                int(header["max_prims"]),
                int(header["max_elements"]),
            )
    except _Refused as exc:
        head, chunks = {"ok": False, "reason": exc.reason, "limit": exc.limit}, []
    except MemoryError:
        head, chunks = {"ok": False, "reason": "ran out of memory", "limit": True}, []
    except Exception as exc:
        reason = f"usd-core rejected the file: {type(exc).__name__}: {str(exc)[:200]}"
        head, chunks = {"ok": False, "reason": reason, "limit": False}, []
    text = orjson.dumps(head)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def main() -> int:
    return serve_stdio(handle_request)


if __name__ == "__main__":
    sys.exit(main())
