"""The recording file format: framed, checksummed records of update batches.

A recording is a 16-byte file header (``MAGIC``, a format version, reserved bytes) followed
by records. Each record is a 17-byte header ``<IIBd``: payload length, CRC-32 of everything
after the CRC (kind, time and payload), the record kind and its time (server clock, epoch
seconds), then the payload. Kinds:

* ``SCHEMA``: msgpack ``{"schema": <wire schema>}``; every batch after it refers to it;
* ``KEYFRAME``: the full state at its time, as a snapshot batch (see :func:`pack_batch`);
* ``DELTA``: one decoded update batch as received.

Payloads of batch records may be zlib-compressed (``COMPRESSED`` bit of the kind). Records
are only appended, so a writer killed mid-record leaves a file whose last record is short
(its length runs past the end) or fails its checksum; readers stop before it.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import msgpack
import numpy as np

from xrclient.core.twin_schema import StreamSchema
from xrclient.core.updates import UpdateBatch
from xrclient.core.wire import WireError, decode_schema

MAGIC = b"XRTWINREC"
VERSION = 1
FILE_HEADER = MAGIC + bytes([VERSION]) + b"\x00" * 6
RECORD = struct.Struct("<IIBd")
SCHEMA, KEYFRAME, DELTA = 1, 2, 3
COMPRESSED = 0x80
KINDS = frozenset({SCHEMA, KEYFRAME, DELTA})
#: largest payload accepted (a keyframe of 100,000 machines x 64 properties fits)
MAX_PAYLOAD = 256 * 2**20
_COMPRESS_OVER = 512


class RecordingError(ValueError):
    """A file that is not a recording, or one damaged before its end."""


def frame(kind: int, time: float, payload: bytes, *, compress: bool = True) -> bytes:
    """One record, ready to append."""
    if compress and kind != SCHEMA and len(payload) > _COMPRESS_OVER:
        packed = zlib.compress(payload, 1)
        if len(packed) < len(payload):
            payload, kind = packed, kind | COMPRESSED
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"record of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack("<Bd", kind, time) + payload
    return struct.pack("<II", len(payload), zlib.crc32(body)) + body


def pack_schema(schema: StreamSchema) -> bytes:
    return bytes(msgpack.packb({"schema": schema.to_wire()}, use_bin_type=True))


def unpack_schema(payload: bytes) -> StreamSchema:
    doc = _unpack(payload)
    try:
        return decode_schema(doc.get("schema"))
    except WireError as exc:
        raise RecordingError(f"bad schema record: {exc}") from None


def pack_batch(batch: UpdateBatch) -> bytes:
    doc = {
        "s": batch.snapshot,
        "q": batch.seq,
        "t": batch.sent,
        "m": batch.machine.astype("<i4").tobytes(),
        "p": batch.prop.astype("<i4").tobytes(),
        "v": batch.value.astype("<f8").tobytes(),
        "ts": batch.time.astype("<f8").tobytes(),
        "x": list(batch.texts),
    }
    return bytes(msgpack.packb(doc, use_bin_type=True))


def unpack_batch(payload: bytes, schema: StreamSchema) -> UpdateBatch:
    """A batch record's payload, validated against ``schema`` (files are untrusted)."""
    doc = _unpack(payload)
    try:
        snap, seq, sent = doc["s"], doc["q"], doc["t"]
        cols = [doc[k] for k in ("m", "p", "v", "ts")]
        texts = doc["x"]
    except KeyError as exc:
        raise RecordingError(f"batch record lacks field {exc}") from None
    if not isinstance(snap, bool) or not isinstance(seq, int) or not isinstance(sent, float):
        raise RecordingError("batch record: bad header fields")
    if not all(isinstance(c, bytes) for c in cols) or not isinstance(texts, list):
        raise RecordingError("batch record: bad columns")
    if not all(isinstance(x, str) for x in texts):
        raise RecordingError("batch record: texts must be strings")
    n = len(cols[0]) // 4
    if [len(c) for c in cols] != [4 * n, 4 * n, 8 * n, 8 * n]:
        raise RecordingError("batch record: column lengths differ")
    m = np.frombuffer(cols[0], "<i4").astype(np.int32)
    p = np.frombuffer(cols[1], "<i4").astype(np.int32)
    v = np.frombuffer(cols[2], "<f8").astype(np.float64)
    t = np.frombuffer(cols[3], "<f8").astype(np.float64)
    n_m, n_p = len(schema.machines), len(schema.properties)
    if n and (m.min() < 0 or m.max() >= n_m or p.min() < -1 or p.max() >= n_p):
        raise RecordingError("batch record: machine or property index out of range")
    if n:
        # codes must index their table: the replay server turns them back into texts
        limit = np.array(
            [
                len(texts) if s.kind == "string" else len(s.values) if s.kind == "enum" else 2
                for s in schema.properties
            ]
            + [np.inf]
        )
        coded = np.array(
            [s.kind in ("string", "enum", "bool") for s in schema.properties] + [False]
        )
        sel = coded[p]
        codes, top = v[sel], limit[p[sel]]
        ok = (codes >= 0) & (codes < top) & (codes == np.floor(codes))  # NaN fails
        if not ok.all():
            raise RecordingError("batch record: an enum, bool or string value out of range")
    return UpdateBatch(
        schema, snap, seq, sent if math.isfinite(sent) else 0.0, m, p, v, t, tuple(texts)
    )


def decode_payload(kind: int, payload: bytes) -> tuple[int, bytes]:
    """(plain kind, uncompressed payload) of a record."""
    if kind & COMPRESSED:
        try:
            d = zlib.decompressobj()
            payload = d.decompress(payload, MAX_PAYLOAD)
        except zlib.error as exc:
            raise RecordingError(f"bad compressed record: {exc}") from None
        if d.unconsumed_tail:
            raise RecordingError("compressed record too large")
    return kind & ~COMPRESSED, payload


def _unpack(payload: bytes) -> Mapping[str, Any]:
    try:
        doc = msgpack.unpackb(payload, raw=False, strict_map_key=True, max_bin_len=MAX_PAYLOAD)
    except (ValueError, msgpack.UnpackException) as exc:
        raise RecordingError(f"undecodable record: {exc}") from None
    if not isinstance(doc, dict):
        raise RecordingError("record payload is not a map")
    return doc
