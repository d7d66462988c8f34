"""``KHR_draco_mesh_compression``: Draco-compressed glTF primitives, decoded in a child process.

The compressed primitives of one file are decoded together in one round trip to a child
process (:mod:`xrclient.scene.decode_worker`, the native DracoPy decoder) with a timeout
and an address-space limit, so a hostile stream that crashes, hangs or balloons the
decoder ends that child, not the viewer: the load fails with an
:class:`~xrclient.errors.AssetError` naming the file.

The accessors of a compressed primitive keep their ``count`` (the extension requires
them to match the decompressed data), so the guard has already checked the vertex and
triangle counts against the limits before anything is decoded; a stream that decodes to
other counts than its accessors declare is refused. The decoded rows replace the
primitive's accessors in a copy of the document (attributes as float32, normalized
integers scaled, indices as uint32) and the extension is dropped from the primitive, so
trimesh reads plain data. Attributes of the primitive that the extension does not list
are read from their own accessors as usual.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import selectors
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from xrclient.errors import AssetError, AssetLimitError, MalformedAssetError
from xrclient.scene.gltf_accessors import append_accessors
from xrclient.scene.guards import LoadLimits

__all__ = [
    "EXTENSION",
    "available",
    "decode_primitives",
    "draco_primitives",
    "run_worker",
    "worker_command",
]

EXTENSION = "KHR_draco_mesh_compression"
#: a child gets this long, plus a second per 5 MB of compressed data
BASE_TIMEOUT_S = 30.0
#: address space a child may map beyond what it holds after its imports, plus 16x the
#: decoded output and twice the compressed input
BASE_MEMORY_BYTES = 256 * 2**20

_NUMPY_TYPES = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_REPLY_DTYPES = frozenset({"<f4", "<f8", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4"})


@functools.cache
def available() -> bool:
    """Whether the Draco decoder (the DracoPy package) is installed."""
    return importlib.util.find_spec("DracoPy") is not None  # asked per primitive: cached


def worker_command() -> list[str]:
    """The command line of the decoding child."""
    return [sys.executable, "-m", "xrclient.scene.decode_worker"]


def draco_primitives(doc: dict[str, Any]) -> list[tuple[int, int]]:
    """(mesh, primitive) of every primitive with the extension."""
    out = []
    for m, mesh in enumerate(doc.get("meshes", [])):
        for p, prim in enumerate(mesh.get("primitives", [])):
            ext = prim.get("extensions")
            if isinstance(ext, dict) and EXTENSION in ext:
                out.append((m, p))
    return out


@dataclass(frozen=True, slots=True)
class _Job:
    mesh: int
    primitive: int
    stream: bytes
    points: int
    faces: int
    names: tuple[str, ...]  # glTF attribute names, in request order
    ids: tuple[int, ...]  # their Draco unique ids
    widths: tuple[int, ...]


def decode_primitives(
    path: Path,
    doc: dict[str, Any],
    buffers: list[bytes],
    limits: LoadLimits,
    *,
    command: list[str] | None = None,
    timeout_s: float | None = None,
    memory_bytes: int | None = None,
) -> dict[str, Any]:
    """A copy of ``doc`` with every Draco primitive decoded (``buffers`` gains one buffer).

    ``command``, ``timeout_s`` and ``memory_bytes`` override the child command line (see
    :func:`worker_command`), its timeout and its address-space allowance.
    """
    found = draco_primitives(doc)
    if not found:
        return doc
    jobs = [_job(path, doc, buffers, m, p) for m, p in found]
    output = sum(j.faces * 12 + sum(j.points * w * 8 for w in j.widths) for j in jobs)
    streams = sum(len(j.stream) for j in jobs)
    if memory_bytes is None:
        memory_bytes = BASE_MEMORY_BYTES + 16 * output + 2 * streams
    if timeout_s is None:
        timeout_s = BASE_TIMEOUT_S + streams / 5e6
    header = {
        "memory_bytes": int(memory_bytes),
        "items": [
            {
                "codec": "draco",
                "size": len(j.stream),
                "points": j.points,
                "faces": j.faces,
                "attributes": [[i, w] for i, w in zip(j.ids, j.widths, strict=True)],
            }
            for j in jobs
        ],
    }
    text = orjson.dumps(header)
    request = struct.pack("<Q", len(text)) + text + b"".join(j.stream for j in jobs)
    reply = run_worker(path, command or worker_command(), request, timeout_s, output + 2**20)
    results = _parse_reply(path, reply, jobs)
    return _rewrite(doc, buffers, jobs, results)


def _job(path: Path, doc: dict[str, Any], buffers: list[bytes], m: int, p: int) -> _Job:
    prim = doc["meshes"][m]["primitives"][p]
    ext = prim["extensions"][EXTENSION]
    where = f"mesh {m} primitive {p} {EXTENSION}"
    view = doc["bufferViews"][ext["bufferView"]]
    start = view.get("byteOffset", 0)
    stream = bytes(buffers[view["buffer"]][start : start + view["byteLength"]])
    accessors = doc["accessors"]
    points = accessors[prim["attributes"]["POSITION"]]["count"]
    faces = (accessors[prim["indices"]]["count"] if "indices" in prim else points) // 3
    names: list[str] = []
    ids: list[int] = []
    widths: list[int] = []
    for name, unique_id in sorted(ext["attributes"].items()):
        acc = accessors[prim["attributes"][name]]
        if acc["count"] != points:
            raise MalformedAssetError(
                path, f"{where}: {name} declares {acc['count']:,} elements, POSITION {points:,}"
            )
        names.append(name)
        ids.append(unique_id)
        widths.append(_WIDTHS[acc["type"]])
    return _Job(m, p, stream, points, faces, tuple(names), tuple(ids), tuple(widths))


def run_worker(
    path: Path, command: list[str], request: bytes, timeout_s: float, cap: int, codec: str = "Draco"
) -> bytes:
    """Send ``request`` to a fresh child, return its stdout; typed errors for every failure.

    Also used by :mod:`xrclient.scene.gltf_meshopt`; ``codec`` names the decoder in messages.
    """
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"  # no thread pools (and their address space) in the child
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        raise AssetError(path, f"cannot start the {codec} decoder: {exc}") from None
    try:
        out, err, timed_out, too_big = _exchange(proc, request, timeout_s, cap)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass
    if timed_out:
        raise AssetLimitError(path, f"{codec} decoding took longer than {timeout_s:.0f} s; stopped")
    if too_big:
        raise AssetLimitError(path, f"{codec} decoder replied with over {cap:,} bytes; stopped")
    code = proc.returncode
    if code != 0:
        detail = err.decode("utf-8", "replace").strip().splitlines()
        if "MemoryError" in err.decode("utf-8", "replace"):
            raise AssetLimitError(path, f"{codec} decoding ran out of its memory allowance")
        reason = f"signal {-code}" if code < 0 else f"exit status {code}"
        last = f": {detail[-1][:160]}" if detail else ""
        raise MalformedAssetError(path, f"{codec} decoder failed ({reason}){last}")
    return out


def _exchange(
    proc: subprocess.Popen[bytes], request: bytes, timeout_s: float, cap: int
) -> tuple[bytes, bytes, bool, bool]:
    """Write ``request``, read stdout (at most ``cap`` bytes) and stderr, within the deadline."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    if os.name != "posix":  # pipes cannot be selected: bounded by the timeout only
        try:
            output, errors = proc.communicate(request, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return b"", b"", True, False
        return output, errors, False, len(output) > cap
    deadline = time.monotonic() + timeout_s
    out: bytearray = bytearray()
    err: bytearray = bytearray()
    sent = 0
    view = memoryview(request)
    with selectors.DefaultSelector() as selector:
        os.set_blocking(proc.stdin.fileno(), False)
        selector.register(proc.stdin, selectors.EVENT_WRITE)
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return b"", b"", True, False
            for key, _ in selector.select(left):
                if key.fileobj is proc.stdin:
                    try:
                        sent += os.write(proc.stdin.fileno(), view[sent : sent + 65536])
                    except BrokenPipeError:
                        sent = len(request)
                    if sent >= len(request):
                        selector.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 1 << 20)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer: bytearray = key.data
                buffer += chunk
                if len(out) > cap:
                    return b"", b"", False, True
                if len(err) > 65536:
                    del err[:-32768]
    return bytes(out), bytes(err), False, False


def _parse_reply(path: Path, reply: bytes, jobs: list[_Job]) -> list[list[npt.NDArray[Any]]]:
    """The reply's arrays per job, after checking every shape, dtype and byte count."""
    bad = MalformedAssetError(path, "Draco decoder sent a malformed reply")
    if len(reply) < 8:
        raise bad
    (length,) = struct.unpack_from("<Q", reply, 0)
    try:
        header = orjson.loads(reply[8 : 8 + length])
        items = header["items"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise bad from None
    if not isinstance(items, list) or len(items) != len(jobs):
        raise bad
    offset = 8 + length
    out: list[list[npt.NDArray[Any]]] = []
    for job, item in zip(jobs, items, strict=True):
        where = f"mesh {job.mesh} primitive {job.primitive}: Draco"
        if not item.get("ok"):
            reason = f"{where} {str(item.get('reason', 'decoding failed'))[:200]}"
            raise (AssetLimitError if item.get("limit") else MalformedAssetError)(path, reason)
        expected = [(job.faces, 3)] + [(job.points, w) for w in job.widths]
        specs = item.get("arrays")
        if not isinstance(specs, list) or len(specs) != len(expected):
            raise bad
        arrays = []
        for spec, shape in zip(specs, expected, strict=True):
            dtype, got = spec
            if dtype not in _REPLY_DTYPES or tuple(got) != shape:
                raise MalformedAssetError(
                    path, f"{where} decoded {tuple(got)} values, the accessors declare {shape}"
                )
            size = np.dtype(dtype).itemsize * shape[0] * shape[1]
            if offset + size > len(reply):
                raise bad
            arrays.append(np.frombuffer(reply, dtype=dtype, count=size // np.dtype(dtype).itemsize,
                                        offset=offset).reshape(shape))  # fmt: skip
            offset += size
        faces = arrays[0]
        if faces.size and int(faces.max()) >= job.points:
            raise MalformedAssetError(
                path, f"{where} triangle index {int(faces.max())} is out of range ({job.points})"
            )
        out.append(arrays)
    return out


def _rewrite(
    doc: dict[str, Any],
    buffers: list[bytes],
    jobs: list[_Job],
    results: list[list[npt.NDArray[Any]]],
) -> dict[str, Any]:
    accessors = doc["accessors"]
    next_index = len(accessors)
    arrays: dict[int, npt.NDArray[Any]] = {}
    meshes = list(doc["meshes"])
    for job, decoded in zip(jobs, results, strict=True):
        mesh = meshes[job.mesh] = {**meshes[job.mesh]}
        prims = mesh["primitives"] = list(mesh["primitives"])
        prim = {**prims[job.primitive]}
        attributes = dict(prim["attributes"])
        for name, values in zip(job.names, decoded[1:], strict=True):
            acc = accessors[attributes[name]]
            arrays[next_index] = _as_float(values, acc)
            attributes[name] = next_index
            next_index += 1
        arrays[next_index] = decoded[0].astype(np.uint32).reshape(-1, 1)
        prim["indices"] = next_index
        next_index += 1
        prim["attributes"] = attributes
        extensions = {k: v for k, v in prim["extensions"].items() if k != EXTENSION}
        if extensions:
            prim["extensions"] = extensions
        else:
            del prim["extensions"]
        prims[job.primitive] = prim
    return append_accessors({**doc, "meshes": meshes}, buffers, arrays)


def _as_float(values: npt.NDArray[Any], acc: dict[str, Any]) -> npt.NDArray[np.float32]:
    """Decoded rows as float32; integers of a ``normalized`` accessor scaled to -1..1 / 0..1."""
    out = values.astype(np.float32)
    dtype = np.dtype(_NUMPY_TYPES[acc["componentType"]])
    if acc.get("normalized") and values.dtype.kind in "iu" and dtype.kind in "iu":
        out *= np.float32(1.0 / np.iinfo(values.dtype).max)
        np.maximum(out, -1.0, out=out)
    return out
