"""Child process that runs native decoders (Draco, meshopt) on streams from an untrusted file.

Run as ``python -m xrclient.scene.decode_worker`` by :mod:`xrclient.scene.gltf_draco`,
never in the viewer's own process: a decoder crash, a runaway allocation (the address
space is limited with ``resource.setrlimit`` before the first stream is decoded) or a hang
(the parent kills the child after its timeout) ends this process only.

Protocol, both ways: an 8-byte little-endian length, a JSON header of that length, then raw
bytes. Request header: ``{"memory_bytes": int, "items": [...]}`` followed by the streams back
to back; an item is ``{"codec": "draco", "size", "points", "faces", "attributes":
[[unique_id, components], ...]}`` or ``{"codec": "meshopt", "size", "count", "stride",
"mode", "filter"}`` (one ``EXT_meshopt_compression`` bufferView, replied as one ``|u1``
array of ``count x stride`` bytes).
Reply header: ``{"items": [{"ok": true, "arrays": [[dtype, shape], ...]} | {"ok": false,
"reason": str, "limit": bool}]}`` followed by the arrays (faces first, then the requested
attributes in order), C-contiguous. Counts are checked here already (a stream that yields
more or fewer points or faces than its accessors declare is refused) and again by the
parent.
"""

from __future__ import annotations

import importlib
import struct
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

__all__ = ["decode_request", "limit_memory", "main", "serve_stdio"]

_ALLOWED = frozenset({"<f4", "<f8", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4"})


def limit_memory(extra_bytes: int) -> None:
    """Cap the address space at what is mapped now plus ``extra_bytes`` (POSIX only)."""
    try:
        import resource
    except ImportError:  # not POSIX: the timeout still applies
        return
    try:
        with open("/proc/self/statm", "rb") as handle:
            mapped = int(handle.read().split()[0]) * resource.getpagesize()
    except OSError:
        mapped = 1 << 30
    limit = mapped + max(int(extra_bytes), 0)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _decode_one(draco: Any, stream: bytes, item: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    try:
        mesh = draco.decode(stream)
    except MemoryError:
        return {"ok": False, "reason": "decoder ran out of memory", "limit": True}, b""
    except Exception as exc:
        reason = f"stream does not decode: {type(exc).__name__}: {str(exc)[:160]}"
        return {"ok": False, "reason": reason, "limit": False}, b""
    if not isinstance(mesh, draco.DracoMesh):
        reason = "stream holds a point cloud, not a mesh"
        return {"ok": False, "reason": reason, "limit": False}, b""
    faces = np.ascontiguousarray(np.asarray(mesh.faces, dtype=np.uint32).reshape(-1, 3))
    points = len(np.asarray(mesh.points).reshape(-1, 3))
    if points != item["points"] or len(faces) != item["faces"]:
        reason = (
            f"stream decodes to {points:,} vertices and {len(faces):,} triangles, "
            f"its accessors declare {item['points']:,} and {item['faces']:,}"
        )
        return {"ok": False, "reason": reason, "limit": False}, b""
    arrays = [faces]
    for unique_id, components in item["attributes"]:
        attribute = mesh.get_attribute_by_unique_id(int(unique_id))
        data = None if attribute is None else attribute.get("data")
        if data is None:
            reason = f"stream has no attribute with unique id {unique_id}"
            return {"ok": False, "reason": reason, "limit": False}, b""
        data = np.ascontiguousarray(np.asarray(data))
        data = data.reshape(len(data), -1) if data.ndim else data.reshape(0, 1)
        if data.shape != (points, components) or data.dtype.str not in _ALLOWED:
            reason = (
                f"attribute {unique_id} decodes to {data.shape} {data.dtype}, "
                f"expected ({points}, {components})"
            )
            return {"ok": False, "reason": reason, "limit": False}, b""
        arrays.append(data)
    head = {"ok": True, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}
    return head, b"".join(a.tobytes() for a in arrays)


def _meshopt_one(meshopt: Any, stream: bytes, item: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    count, stride = int(item["count"]), int(item["stride"])
    try:
        rows = meshopt.decode_gltf_buffer(stream, count, stride, item["mode"], item["filter"])
    except MemoryError:
        return {"ok": False, "reason": "decoder ran out of memory", "limit": True}, b""
    except Exception as exc:
        reason = f"stream does not decode: {type(exc).__name__}: {str(exc)[:160]}"
        return {"ok": False, "reason": reason, "limit": False}, b""
    data = np.ascontiguousarray(rows).view(np.uint8).reshape(-1)
    if len(data) != count * stride:
        reason = f"stream decodes to {len(data):,} bytes, the bufferView holds {count * stride:,}"
        return {"ok": False, "reason": reason, "limit": False}, b""
    return {"ok": True, "arrays": [["|u1", [count * stride, 1]]]}, data.tobytes()


def decode_request(request: bytes) -> bytes:
    """The reply to one request (see module doc); the memory limit is applied first."""
    (length,) = struct.unpack_from("<Q", request, 0)
    header = orjson.loads(request[8 : 8 + length])
    codecs = {str(item.get("codec", "draco")) for item in header["items"]}
    modules = {
        "draco": importlib.import_module("DracoPy") if "draco" in codecs else None,
        "meshopt": importlib.import_module("meshopt") if "meshopt" in codecs else None,
    }
    limit_memory(int(header["memory_bytes"]))
    offset = 8 + length
    heads: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for item in header["items"]:
        stream = request[offset : offset + int(item["size"])]
        offset += int(item["size"])
        if item.get("codec", "draco") == "meshopt":
            head, payload = _meshopt_one(modules["meshopt"], stream, item)
        else:
            head, payload = _decode_one(modules["draco"], stream, item)
        heads.append(head)
        chunks.append(payload)
    text = orjson.dumps({"items": heads})
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def serve_stdio(handle: Callable[[bytes], bytes]) -> int:
    """Read one request from stdin, write ``handle``'s reply to stdout (every child's main)."""
    request = sys.stdin.buffer.read()
    reply = handle(request)
    del request
    sys.stdout.buffer.write(reply)
    sys.stdout.buffer.flush()
    return 0


def main() -> int:
    return serve_stdio(decode_request)


if __name__ == "__main__":
    sys.exit(main())
