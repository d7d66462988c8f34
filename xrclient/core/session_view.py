"""What a shared session shows of the others, as plain data: remote participants, pinned
annotations and pings, the colours of the roles, and where an off-screen marker sits.

:class:`xrclient.session.Session` builds these every frame; the renderer's avatar layer
(:mod:`xrclient.render.avatars`) draws them. They live in core so that the renderer needs
neither the session nor the network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core import session_roles as s
from xrclient.core.session_interp import SampledPose
from xrclient.core.session_room import Annotation

#: display colours (sRGB RGBA) of the roles, for avatars and name tags
ROLE_COLORS: Mapping[s.Role, tuple[float, float, float, float]] = {
    s.Role.EXPERT: (0.95, 0.55, 0.10, 1.0),
    s.Role.OPERATOR: (0.20, 0.60, 0.95, 1.0),
    s.Role.TRAINEE: (0.35, 0.80, 0.35, 1.0),
    s.Role.OBSERVER: (0.65, 0.65, 0.70, 1.0),
}


@dataclass(frozen=True, slots=True)
class RemoteParticipant:
    pid: int
    name: str
    role: s.Role
    device: str
    color: tuple[float, float, float, float]
    #: interpolated presence; ``None`` until the first pose arrives (spectators: never)
    pose: SampledPose | None
    following: int | None


@dataclass(frozen=True, slots=True)
class PlacedAnnotation:
    annotation: Annotation
    #: world position; ``None`` when the machine is not in this scene
    position: tuple[float, float, float] | None


@dataclass(frozen=True, slots=True)
class PingMarker:
    position: tuple[float, float, float]
    machine: str
    by: int
    name: str
    color: tuple[float, float, float, float]
    at: float  # local time.time() it arrived
    age: float


def screen_indicator(
    view_projection: npt.NDArray[np.floating],
    viewport: tuple[int, int, int, int],
    point: Sequence[float],
    margin: float = 24.0,
) -> tuple[float, float, float, bool]:
    """Where to show a marker for ``point``: ``(x, y, angle, on_screen)`` in viewport
    pixels (y up). Off screen (or behind the viewer) it sits on the border, ``margin``
    pixels in, and ``angle`` (radians, 0 = right, counter-clockwise) points toward it."""
    clip = np.asarray(view_projection, np.float64) @ np.array([*point, 1.0])
    x0, y0, w, h = viewport
    cx, cy = w / 2.0, h / 2.0
    if clip[3] > 1e-6:
        ndc = clip[:2] / clip[3]
        if abs(ndc[0]) <= 1.0 and abs(ndc[1]) <= 1.0:
            return x0 + cx + ndc[0] * cx, y0 + cy + ndc[1] * cy, 0.0, True
        d = ndc
    else:  # behind: the side it lies on (clip x, y before the division flips them)
        d = clip[:2] if abs(clip[0]) + abs(clip[1]) > 1e-9 else np.array([0.0, -1.0])
    angle = math.atan2(d[1] * cy, d[0] * cx)
    hx, hy = cx - margin, cy - margin
    ux, uy = math.cos(angle), math.sin(angle)
    t = min(
        hx / abs(ux) if abs(ux) > 1e-9 else math.inf, hy / abs(uy) if abs(uy) > 1e-9 else math.inf
    )
    return x0 + cx + ux * t, y0 + cy + uy * t, angle, False
