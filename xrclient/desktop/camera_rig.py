"""The desktop camera as data: orbit, pan, zoom to cursor, fly, and smooth fly-to.

No window and no GL here: the viewer feeds pixel deltas, key state and times in, and takes a
:class:`~xrclient.core.view.View` out, so every move is testable on its own. The scene is
y-up (glTF); the camera orbits a ``target`` at ``distance`` with ``yaw`` around +Y and
``pitch`` above the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core.view import View
from xrclient.render.camera import clip_planes, make_view

F64 = npt.NDArray[np.float64]

#: radians of orbit per pixel of drag
ORBIT_RAD_PER_PX = 0.006
#: pitch limits (radians): a little below the horizon up to nearly straight down
PITCH_MIN, PITCH_MAX = math.radians(-80.0), math.radians(89.0)
#: closest and farthest the camera gets to its target (metres)
DISTANCE_MIN, DISTANCE_MAX = 0.25, 5000.0
#: seconds a fly-to takes
FLY_SECONDS = 0.6


def _vec(values: Sequence[float] | F64, what: str) -> F64:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape != (3,) or not np.isfinite(v).all():
        raise ValueError(f"{what} must be 3 finite numbers, got {values!r}")
    return v


def _smoothstep(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(slots=True)
class _Flight:
    start: float
    duration: float
    from_eye: F64
    from_target: F64
    to_eye: F64
    to_target: F64


class CameraRig:
    """An orbit camera with a fly mode; ``view(size, bounds)`` gives the frame's View."""

    def __init__(
        self, eye: Sequence[float], target: Sequence[float], fov_deg: float = 60.0
    ) -> None:
        if not 5.0 <= fov_deg <= 150.0:
            raise ValueError(f"fov_deg must be 5 to 150 degrees, got {fov_deg}")
        self.fov_deg = float(fov_deg)
        self.target = np.zeros(3)
        self.distance = 1.0
        self.yaw = 0.0
        self.pitch = 0.0
        self._flight: _Flight | None = None
        self.look_at(eye, target)

    # --- state ------------------------------------------------------------------------------

    @property
    def forward(self) -> F64:
        """Unit vector from the eye toward the target."""
        cp = math.cos(self.pitch)
        return -np.array([cp * math.sin(self.yaw), math.sin(self.pitch), cp * math.cos(self.yaw)])

    @property
    def eye(self) -> F64:
        return self.target - self.forward * self.distance

    @property
    def right(self) -> F64:
        return np.array([math.cos(self.yaw), 0.0, -math.sin(self.yaw)])

    @property
    def up(self) -> F64:
        return np.cross(self.right, self.forward)

    @property
    def flying(self) -> bool:
        """A fly-to is in progress."""
        return self._flight is not None

    def look_at(self, eye: Sequence[float] | F64, target: Sequence[float] | F64) -> None:
        """Put the camera at ``eye`` looking at ``target`` (cancels a fly-to)."""
        e, t = _vec(eye, "eye"), _vec(target, "target")
        offset = e - t
        dist = float(np.linalg.norm(offset))
        if dist < 1e-6:
            raise ValueError("eye and target must differ")
        self._flight = None
        self.target = t
        self.distance = min(max(dist, DISTANCE_MIN), DISTANCE_MAX)
        self.pitch = min(max(math.asin(offset[1] / dist), PITCH_MIN), PITCH_MAX)
        self.yaw = math.atan2(offset[0], offset[2])

    # --- direct manipulation (each cancels a fly-to) -----------------------------------------

    def orbit(self, dx_px: float, dy_px: float) -> None:
        """Turn around the target: drag right turns the plant right, drag down looks from
        higher up."""
        self._flight = None
        self.yaw -= dx_px * ORBIT_RAD_PER_PX
        self.pitch = min(max(self.pitch + dy_px * ORBIT_RAD_PER_PX, PITCH_MIN), PITCH_MAX)

    def look(self, dx_px: float, dy_px: float) -> None:
        """Turn the head in place (fly mode): the eye stays, the target moves."""
        self._flight = None
        eye = self.eye
        self.yaw -= dx_px * ORBIT_RAD_PER_PX
        self.pitch = min(max(self.pitch + dy_px * ORBIT_RAD_PER_PX, PITCH_MIN), PITCH_MAX)
        self.target = eye + self.forward * self.distance

    def pan(self, dx_px: float, dy_px: float, viewport_h: int) -> None:
        """Slide the camera so the point under the cursor follows it."""
        self._flight = None
        per_px = 2.0 * self.distance * math.tan(math.radians(self.fov_deg) / 2.0)
        per_px /= max(int(viewport_h), 1)
        self.target = self.target - self.right * dx_px * per_px + self.up * dy_px * per_px

    def zoom(self, factor: float, pivot: Sequence[float] | F64 | None = None) -> None:
        """Scale the eye's distance by ``factor`` about ``pivot`` (the point under the
        cursor; the target when None), so that point stays under the cursor."""
        if not (math.isfinite(factor) and factor > 0.0):
            raise ValueError(f"zoom factor must be positive, got {factor}")
        self._flight = None
        new_distance = min(max(self.distance * factor, DISTANCE_MIN), DISTANCE_MAX)
        factor = new_distance / self.distance
        if pivot is not None:
            p = _vec(pivot, "pivot")
            self.target = p + (self.target - p) * factor
        self.distance = new_distance

    def move(self, forward: float, right: float, up: float, metres: float) -> None:
        """Fly: move eye and target together, ``forward``/``right`` along the ground heading
        and ``up`` vertically, by ``metres`` per unit of input."""
        self._flight = None
        heading = np.array([-math.sin(self.yaw), 0.0, -math.cos(self.yaw)])
        step = heading * forward + self.right * right + np.array([0.0, 1.0, 0.0]) * up
        self.target = self.target + step * metres

    # --- animation ------------------------------------------------------------------------

    def fly_to(
        self,
        eye: Sequence[float] | F64,
        target: Sequence[float] | F64,
        now: float,
        duration: float = FLY_SECONDS,
    ) -> None:
        """Move smoothly to ``eye``/``target`` over ``duration`` seconds from ``now``."""
        to_eye, to_target = _vec(eye, "eye"), _vec(target, "target")
        if float(np.linalg.norm(to_eye - to_target)) < 1e-6:
            raise ValueError("eye and target must differ")
        if duration <= 0.0:
            self.look_at(to_eye, to_target)
            return
        self._flight = _Flight(now, duration, self.eye, self.target.copy(), to_eye, to_target)

    def focus(self, center: Sequence[float] | F64, radius: float, now: float) -> None:
        """Fly to frame a sphere (a machine): same viewing direction, sphere filling about
        half the height of the view."""
        c = _vec(center, "center")
        r = max(float(radius), 0.1)
        dist = 2.2 * r / math.tan(math.radians(self.fov_deg) / 2.0)
        dist = min(max(dist, DISTANCE_MIN * 2), DISTANCE_MAX)
        self.fly_to(c - self.forward * dist, c, now)

    def advance(self, now: float) -> bool:
        """Step a fly-to to ``now``; True while one is running."""
        f = self._flight
        if f is None:
            return False
        s = _smoothstep((now - f.start) / f.duration)
        eye = f.from_eye + (f.to_eye - f.from_eye) * s
        target = f.from_target + (f.to_target - f.from_target) * s
        done = now >= f.start + f.duration
        self.look_at(eye, target)  # clears the flight
        if not done:
            self._flight = f
        return not done

    # --- output ---------------------------------------------------------------------------

    def view(self, size: tuple[int, int], bounds: npt.ArrayLike) -> View:
        """The View for a ``size`` framebuffer, clip planes covering ``bounds`` and the
        target."""
        b = np.asarray(bounds, dtype=np.float64).reshape(2, 3)
        b = np.stack([np.minimum(b[0], self.target), np.maximum(b[1], self.target)])
        eye = tuple(self.eye.tolist())
        near, far = clip_planes(eye, b)
        near = min(near, max(self.distance * 0.05, 0.01))
        return make_view(eye, tuple(self.target.tolist()), size, self.fov_deg, near, far)
