"""Presence on the session wire: a participant's pose message and the hub's columns.

A pose is one row of ``POSE_WIDTH`` float32 (head, hands, pointer ray) with a mask of the
parts present (``HAS_*``); the hub sends a room's rows as little-endian columns (like the
twin stream's msgpack layout) that numpy reads without copying.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from xrclient.core.session_checks import MAX_COORD, number
from xrclient.core.session_codec import SessionError

#: presence rows: head pose (7), left hand (7), right hand (7), pointer ray (6)
POSE_WIDTH = 27
HAS_LEFT, HAS_RIGHT, HAS_POINT = 1, 2, 4
MAX_PRESENCE = 4096


@dataclass(frozen=True, slots=True)
class Pose:
    """Presence: head (or desktop camera) pose, hands and pointer; ``sent`` is the
    sender's clock (seconds), only used for interpolation and latency figures."""

    sent: float
    head: tuple[float, ...]
    left: tuple[float, ...] | None = None
    right: tuple[float, ...] | None = None
    point: tuple[float, ...] | None = None

    def to_row(self) -> tuple[npt.NDArray[np.float32], int]:
        """The presence row (``POSE_WIDTH`` float32) and its mask (``HAS_*`` bits)."""
        row = np.zeros(POSE_WIDTH, np.float32)
        row[0:7] = self.head
        mask = 0
        for bit, lo, v in ((HAS_LEFT, 7, self.left), (HAS_RIGHT, 14, self.right)):
            if v is not None:
                row[lo : lo + 7] = v
                mask |= bit
        if self.point is not None:
            row[21:27] = self.point
            mask |= HAS_POINT
        return row, mask


@dataclass(frozen=True, slots=True)
class PresenceColumns:
    """One presence frame: per entry the participant, its send time, row and mask."""

    at: float
    pids: npt.NDArray[np.uint32]
    sent: npt.NDArray[np.float64]
    rows: npt.NDArray[np.float32]
    masks: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.pids)


def pose_message(
    sent: float,
    head: Sequence[float],
    left: Sequence[float] | None = None,
    right: Sequence[float] | None = None,
    point: Sequence[float] | None = None,
) -> dict[str, Any]:
    """A participant's ``pose`` frame (7-float poses, a 6-float pointer ray)."""
    doc: dict[str, Any] = {"t": "pose", "s": float(sent), "h": [float(x) for x in head]}
    for key, v in (("l", left), ("r", right), ("p", point)):
        if v is not None:
            doc[key] = [float(x) for x in v]
    return doc


def encode_presence(
    at: float,
    pids: npt.NDArray[np.uint32],
    sent: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float32],
    masks: npt.NDArray[np.uint8],
) -> dict[str, Any]:
    """A ``poses`` frame: little-endian columns, like the twin stream's msgpack layout."""
    return {
        "t": "poses",
        "at": at,
        "pid": pids.astype("<u4").tobytes(),
        "s": sent.astype("<f8").tobytes(),
        "v": rows.astype("<f4").tobytes(),
        "m": masks.astype("u1").tobytes(),
    }


def decode_presence(doc: Mapping[str, Any]) -> PresenceColumns:
    at = number(doc.get("at"), "at", 1e12)
    cols = []
    for key, dtype in (("pid", "<u4"), ("s", "<f8"), ("v", "<f4"), ("m", "u1")):
        raw = doc.get(key)
        size = np.dtype(dtype).itemsize
        if not isinstance(raw, bytes) or len(raw) % size:
            raise SessionError("bad_request", f"'{key}' must be bytes of {dtype} values")
        cols.append(np.frombuffer(raw, dtype))
    pids, sent, flat, masks = cols
    n = len(pids)
    if n > MAX_PRESENCE or len(sent) != n or len(masks) != n or len(flat) != n * POSE_WIDTH:
        raise SessionError("bad_request", "presence columns do not match")
    rows = flat.reshape(n, POSE_WIDTH)
    if n and (
        not np.isfinite(rows).all()
        or not np.isfinite(sent).all()
        or int(pids.min()) == 0
        or int(pids.max()) >= 2**31
        or np.abs(rows).max() > MAX_COORD
    ):
        raise SessionError("bad_request", "presence values out of range")
    return PresenceColumns(at, pids, sent, rows, (masks & 7).astype(np.uint8))
