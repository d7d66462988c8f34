"""``EXT_meshopt_compression``: meshopt-compressed glTF bufferViews, decoded in a child process.

The extension compresses whole bufferViews (vertex attributes, indices, instance data). Each
compressed view declares its decoded layout (``count`` elements of ``byteStride`` bytes,
equal to the parent view's ``byteLength``), so the guard checks the decoded sizes against
the limits before anything is decoded. All compressed views of one file are decoded in one
round trip to the child process of :mod:`xrclient.scene.decode_worker` (the native meshopt
decoder, with a timeout and an address-space limit, as for Draco); each view then points
into one new buffer with the decoded bytes, and the fallback buffers (placeholders without
data) are no longer referenced.
"""

from __future__ import annotations

import functools
import importlib.util
import struct
from pathlib import Path
from typing import Any

import orjson

from xrclient.errors import AssetLimitError, MalformedAssetError
from xrclient.scene import gltf_draco
from xrclient.scene.guards import LoadLimits

__all__ = ["EXTENSION", "available", "compressed_views", "decode_views"]

EXTENSION = "EXT_meshopt_compression"


@functools.cache
def available() -> bool:
    """Whether the meshopt decoder (the meshopt package) is installed."""
    return importlib.util.find_spec("meshopt") is not None  # asked per primitive: cached


def compressed_views(doc: dict[str, Any]) -> list[int]:
    """Indices of the bufferViews with the extension."""
    out = []
    for i, view in enumerate(doc.get("bufferViews", [])):
        ext = view.get("extensions")
        if isinstance(ext, dict) and isinstance(ext.get(EXTENSION), dict):
            out.append(i)
    return out


def decode_views(
    path: Path, doc: dict[str, Any], buffers: list[bytes], limits: LoadLimits
) -> dict[str, Any]:
    """A copy of ``doc`` whose compressed views read decoded bytes (``buffers`` gains one)."""
    found = compressed_views(doc)
    if not found:
        return doc
    views = list(doc["bufferViews"])
    items: list[dict[str, Any]] = []
    streams: list[bytes] = []
    for i in found:
        ext = views[i]["extensions"][EXTENSION]
        start = ext.get("byteOffset", 0)
        stream = bytes(buffers[ext["buffer"]][start : start + ext["byteLength"]])
        streams.append(stream)
        items.append(
            {
                "codec": "meshopt",
                "size": len(stream),
                "count": ext["count"],
                "stride": ext["byteStride"],
                "mode": ext["mode"],
                "filter": ext.get("filter", "NONE"),
            }
        )
    output = sum(item["count"] * item["stride"] for item in items)
    total = sum(len(s) for s in streams)
    header = {
        "memory_bytes": gltf_draco.BASE_MEMORY_BYTES + 4 * output + 2 * total,
        "items": items,
    }
    text = orjson.dumps(header)
    request = struct.pack("<Q", len(text)) + text + b"".join(streams)
    timeout = gltf_draco.BASE_TIMEOUT_S + total / 5e6
    reply = gltf_draco.run_worker(
        path, gltf_draco.worker_command(), request, timeout, output + 2**20, "meshopt"
    )
    decoded = _parse_reply(path, reply, found, items)
    blob = bytearray()
    for i, data in zip(found, decoded, strict=True):
        blob += b"\x00" * (-len(blob) % 4)
        view = {k: v for k, v in views[i].items() if k != "extensions"}
        extensions = {k: v for k, v in views[i]["extensions"].items() if k != EXTENSION}
        if extensions:
            view["extensions"] = extensions
        view.update(buffer=len(buffers), byteOffset=len(blob), byteLength=len(data))
        views[i] = view
        blob += data
    buffers.append(bytes(blob))
    out = dict(doc)
    out["bufferViews"] = views
    out["buffers"] = [*doc.get("buffers", []), {"byteLength": len(blob)}]
    return out


def _parse_reply(
    path: Path, reply: bytes, found: list[int], items: list[dict[str, Any]]
) -> list[bytes]:
    bad = MalformedAssetError(path, "meshopt decoder sent a malformed reply")
    if len(reply) < 8:
        raise bad
    (length,) = struct.unpack_from("<Q", reply, 0)
    try:
        heads = orjson.loads(reply[8 : 8 + length])["items"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise bad from None
    if not isinstance(heads, list) or len(heads) != len(items):
        raise bad
    offset = 8 + length
    out = []
    for index, item, head in zip(found, items, heads, strict=True):
        where = f"bufferView {index}: meshopt"
        if not isinstance(head, dict) or not head.get("ok"):
            reason = head.get("reason", "decoding failed") if isinstance(head, dict) else "?"
            kind = AssetLimitError if isinstance(head, dict) and head.get("limit") else None
            raise (kind or MalformedAssetError)(path, f"{where} {str(reason)[:200]}")
        size = item["count"] * item["stride"]
        if head.get("arrays") != [["|u1", [size, 1]]] or offset + size > len(reply):
            raise bad
        out.append(reply[offset : offset + size])
        offset += size
    return out
