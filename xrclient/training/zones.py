"""Hazard zones as numpy arrays: where they are and who is inside (no per-zone loops)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from xrclient.training.model import HazardZone, Vec3

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


class ZoneGeometry:
    """World-space volumes of ``zones``.

    A box is centred on its machine's position plus ``offset`` and spans ``size`` (full
    extents along x, y, z). A cylinder stands upright (y up): its axis passes through the
    machine's position plus ``offset``, its base is at that point's height, and it reaches
    ``height`` above it."""

    def __init__(self, zones: Sequence[HazardZone], positions: Mapping[str, Vec3]) -> None:
        n = len(zones)
        self.centers: F64 = np.zeros((n, 3), dtype=np.float64)
        self.extents: F64 = np.zeros((n, 3), dtype=np.float64)
        self.is_box: Bools = np.zeros(n, dtype=np.bool_)
        for i, zone in enumerate(zones):
            base = positions.get(zone.machine, (0.0, 0.0, 0.0)) if zone.machine else (0, 0, 0)
            self.centers[i] = np.add(base, zone.offset)
            self.extents[i] = zone.size
            self.is_box[i] = zone.shape == "box"

    def inside(self, point: Vec3 | None) -> Bools:
        """Which zones contain ``point`` (none when it is None)."""
        n = self.centers.shape[0]
        if point is None or n == 0:
            return np.zeros(n, dtype=np.bool_)
        d = np.asarray(point, dtype=np.float64)[None, :] - self.centers
        in_box = np.all(np.abs(d) <= self.extents * 0.5, axis=1)
        radius, height = self.extents[:, 0], self.extents[:, 1]
        in_cyl = (d[:, 0] ** 2 + d[:, 2] ** 2 <= radius**2) & (d[:, 1] >= 0) & (d[:, 1] <= height)
        out: Bools = np.where(self.is_box, in_box, in_cyl)
        return out
