"""Reading and appending glTF accessors of a validated document (shared by the glTF decoders).

Only for documents :mod:`xrclient.scene.guards_gltf` validated: byte ranges, component
types and counts are trusted here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["append_accessors", "read_accessor"]

_NUMPY_TYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def append_accessors(
    doc: dict[str, Any], buffers: list[bytes], arrays: dict[int, npt.NDArray[Any]]
) -> dict[str, Any]:
    """A copy of ``doc`` whose accessors ``arrays`` keys name read the given rows instead.

    The rows go into one new buffer appended to ``buffers`` (in place); an index past the
    end of the accessor list appends a new accessor. Attributes are float32, indices uint32.
    """
    accessors = list(doc.get("accessors", []))
    views = list(doc.get("bufferViews", []))
    blob = bytearray()
    for index, values in sorted(arrays.items()):
        rows = np.ascontiguousarray(values.reshape(len(values), -1))
        blob += b"\x00" * (-len(blob) % 4)
        views.append({"buffer": len(buffers), "byteOffset": len(blob), "byteLength": rows.nbytes})
        blob += rows.tobytes()
        ctype = {np.dtype("<f4"): 5126, np.dtype("<u4"): 5125}[rows.dtype]
        width = rows.shape[1]
        kind = "SCALAR" if ctype == 5125 else {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}[width]
        new: dict[str, Any] = {"bufferView": len(views) - 1, "componentType": ctype}
        new.update(count=len(rows), type=kind)
        if index < len(accessors):
            accessors[index] = new
        else:
            accessors.append(new)
    buffers.append(bytes(blob))
    out = dict(doc)
    out.update(accessors=accessors, bufferViews=views)
    out["buffers"] = [*doc.get("buffers", []), {"byteLength": len(blob)}]
    return out


def read_accessor(
    doc: dict[str, Any], buffers: list[bytes], acc: dict[str, Any]
) -> npt.NDArray[Any]:
    """An accessor's raw elements (its own component type, sparse applied), ``(count, width)``.

    Only for accessors the guard validated (byte ranges checked).
    """
    dtype = np.dtype(_NUMPY_TYPES[acc["componentType"]])
    width, count = _WIDTHS[acc["type"]], acc["count"]
    if "bufferView" in acc:
        values = _read_view(doc, buffers, acc["bufferView"], acc.get("byteOffset", 0), count,
                            dtype, width)  # fmt: skip
    else:
        values = np.zeros((count, width), dtype=dtype)
    sparse = acc.get("sparse")
    if sparse and sparse["count"]:
        n, where, what = sparse["count"], sparse["indices"], sparse["values"]
        itype = np.dtype(_NUMPY_TYPES[where["componentType"]])
        rows = _read_view(doc, buffers, where["bufferView"], where.get("byteOffset", 0), n,
                          itype, 1, tight=True)[:, 0]  # fmt: skip
        if int(rows.max()) >= count:
            raise ValueError(f"sparse index {int(rows.max())} is out of range ({count})")
        values[rows] = _read_view(doc, buffers, what["bufferView"], what.get("byteOffset", 0),
                                  n, dtype, width, tight=True)  # fmt: skip
    return values


def _read_view(
    doc: dict[str, Any],
    buffers: list[bytes],
    view_index: int,
    offset: int,
    count: int,
    dtype: np.dtype[Any],
    width: int,
    tight: bool = False,
) -> npt.NDArray[Any]:
    """``count`` rows of ``width`` values from a (possibly strided) bufferView; a copy."""
    view = doc["bufferViews"][view_index]
    start = view.get("byteOffset", 0) + offset
    stride = (0 if tight else view.get("byteStride", 0)) or dtype.itemsize * width
    raw = np.frombuffer(buffers[view["buffer"]], dtype=np.uint8)
    rows = np.lib.stride_tricks.as_strided(
        raw[start:], shape=(count, width * dtype.itemsize), strides=(stride, 1), writeable=False
    )
    return np.array(rows).view(dtype).reshape(count, width)  # a writable copy
