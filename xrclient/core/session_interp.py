"""Presence interpolation: a short history of poses per participant, sampled smoothly.

Poses arrive at up to the hub's tick rate, with network jitter. Each ``PoseTrack`` keeps
the last few samples in fixed arrays (bounded memory) with the sender's clock mapped to
the local one (``offset``: the smallest recent ``received - sent``, which is the transit
time with the least queueing, drifting slowly upward so a changed clock is followed), and
``sample(now)`` interpolates at ``now - delay``: positions linearly, rotations by
normalised linear interpolation along the shorter arc. Past the newest sample it holds
the newest pose (no extrapolation: a stalled stream freezes, it does not fly off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core.session_presence import HAS_LEFT, HAS_POINT, HAS_RIGHT

F64 = npt.NDArray[np.float64]
#: columns of one sample: head (7), left hand (7), right hand (7), pointer ray (6)
_HEAD, _LEFT, _RIGHT, _POINT = slice(0, 7), slice(7, 14), slice(14, 21), slice(21, 27)
_WIDTH = 27
_QUATS = ((3, 7), (10, 14), (17, 21))


@dataclass(frozen=True, slots=True)
class SampledPose:
    """A participant's interpolated presence; hands and pointer ``None`` when absent."""

    head: F64
    left: F64 | None
    right: F64 | None
    point: F64 | None


class PoseTrack:
    def __init__(self, capacity: int = 16, delay: float = 0.1) -> None:
        self.delay = delay
        self._t = np.zeros(capacity)
        self._v = np.zeros((capacity, _WIDTH))
        self._have = np.zeros((capacity, 3), bool)
        self._n = 0
        self.offset: float | None = None
        self._last_sent: float | None = None

    def __len__(self) -> int:
        return self._n

    def push(self, sent: float, row: npt.ArrayLike, mask: int, received: float) -> None:
        """Add a presence sample (``sent``: the sender's clock, ``row``/``mask`` as in
        ``session_presence.Pose.to_row``, ``received``: local clock); older ones are dropped."""
        if self._last_sent is not None and sent <= self._last_sent:
            return
        self._last_sent = sent
        have = (bool(mask & HAS_LEFT), bool(mask & HAS_RIGHT), bool(mask & HAS_POINT))
        d = received - sent
        if self.offset is None or d < self.offset:
            self.offset = d
        else:
            self.offset += (d - self.offset) * 0.01
        t = sent + self.offset
        if self._n and t <= self._t[self._n - 1]:
            t = self._t[self._n - 1] + 1e-6
        if self._n == len(self._t):
            self._t[:-1], self._v[:-1], self._have[:-1] = self._t[1:], self._v[1:], self._have[1:]
            self._n -= 1
        self._t[self._n], self._v[self._n], self._have[self._n] = t, row, have
        self._n += 1

    def latest(self) -> SampledPose | None:
        if not self._n:
            return None
        return _sampled(self._v[self._n - 1].copy(), self._have[self._n - 1])

    def sample(self, now: float) -> SampledPose | None:
        n = self._n
        if not n:
            return None
        t = now - self.delay
        times = self._t[:n]
        k = int(np.searchsorted(times, t))
        if k <= 0:
            return _sampled(self._v[0].copy(), self._have[0])
        if k >= n:
            return _sampled(self._v[n - 1].copy(), self._have[n - 1])
        t0, t1 = times[k - 1], times[k]
        a = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        v0, v1 = self._v[k - 1], self._v[k]
        have = self._have[k - 1] & self._have[k]
        out = v0 + (v1 - v0) * a
        for lo, hi in _QUATS:
            q0, q1 = v0[lo:hi], v1[lo:hi]
            q1 = -q1 if float(q0 @ q1) < 0.0 else q1
            q = q0 + (q1 - q0) * a
            norm = float(np.linalg.norm(q))
            out[lo:hi] = q / norm if norm > 1e-9 else v1[lo:hi]
        # a hand or pointer that appears or disappears does so at the newer sample
        newer = self._have[k] if a >= 0.5 else self._have[k - 1]
        for i, cols in enumerate((_LEFT, _RIGHT, _POINT)):
            if newer[i] and not have[i]:
                out[cols] = (self._v[k] if a >= 0.5 else v0)[cols]
        return _sampled(out, newer)


def _sampled(v: F64, have: npt.NDArray[np.bool_]) -> SampledPose:
    return SampledPose(
        v[_HEAD],
        v[_LEFT] if have[0] else None,
        v[_RIGHT] if have[1] else None,
        v[_POINT] if have[2] else None,
    )
