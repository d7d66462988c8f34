"""One OpenXR frame: wait, begin, locate the eyes, render into the swapchains, end.

Nothing here blocks between ``wait_frame`` and ``end_frame`` except the runtime's own
swapchain wait; the sink's ``update`` and ``render`` must not block either (twin updates are
drained from a queue, network I/O stays on its own thread).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import moderngl
import xr

from xrclient.xr.poses import Fov, Pose
from xrclient.xr.session import STEREO, XrSession
from xrclient.xr.swapchains import Swapchains

_VIEWS_VALID = xr.ViewStateFlags.POSITION_VALID_BIT | xr.ViewStateFlags.ORIENTATION_VALID_BIT


@dataclass(frozen=True, slots=True)
class Eye:
    """Where one eye is at the predicted display time, in the reference space."""

    pose: Pose
    fov: Fov


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What happened in one frame (for logs, tests and benchmarks)."""

    index: int
    display_time: int  # predicted display time, ns on the runtime's clock
    period: int  # predicted display period, ns
    should_render: bool
    rendered: bool
    eyes: tuple[Eye, ...]
    ours_s: float  # wall seconds in our code (update + render), runtime waits excluded
    update_s: float  # of which input, interaction and twin state
    render_s: float  # of which drawing both eyes (on a software GL driver: its CPU work too)
    wait_s: float  # seconds spent in xrWaitFrame and swapchain image waits


class FrameSink(Protocol):
    def update(self, display_time: int, eyes: Sequence[Eye]) -> None:
        """Input, interaction and twin state for this frame (never blocks)."""

    def render(self, eyes: Sequence[Eye], targets: Sequence[moderngl.Framebuffer]) -> None:
        """Draw every eye into its target framebuffer."""


def _fov(f: Any) -> Fov:
    return Fov(f.angle_left, f.angle_right, f.angle_up, f.angle_down)


def _pose(p: Any) -> Pose:
    return Pose(
        (p.position.x, p.position.y, p.position.z),
        (p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w),
    )


class FrameLoop:
    def __init__(
        self,
        session: XrSession,
        swapchains: Swapchains,
        blend_mode: int = int(xr.EnvironmentBlendMode.OPAQUE),
    ) -> None:
        self.session = session
        self.swapchains = swapchains
        self.blend_mode = xr.EnvironmentBlendMode(blend_mode)
        self.index = 0

    def frame(self, sink: FrameSink) -> FrameInfo:
        handle = self.session.handle
        lifecycle = self.session.lifecycle
        t0 = time.perf_counter()
        state = xr.wait_frame(handle, xr.FrameWaitInfo())
        wait_s = time.perf_counter() - t0
        xr.begin_frame(handle, xr.FrameBeginInfo())
        display_time = int(state.predicted_display_time)
        update_s = render_s = 0.0
        eyes: tuple[Eye, ...] = ()
        layers: list[Any] = []
        rendered = False
        try:
            view_state, xr_views = xr.locate_views(
                handle,
                xr.ViewLocateInfo(
                    view_configuration_type=STEREO,
                    display_time=display_time,
                    space=self.session.space,
                ),
            )
            if int(view_state.view_state_flags) & int(_VIEWS_VALID) == int(_VIEWS_VALID):
                eyes = tuple(Eye(_pose(v.pose), _fov(v.fov)) for v in xr_views)
            a = time.perf_counter()
            sink.update(display_time, eyes)
            update_s = time.perf_counter() - a
            if state.should_render and lifecycle.visible and eyes:
                targets = []
                for eye in self.swapchains.eyes:
                    a = time.perf_counter()
                    targets.append(eye.acquire())
                    wait_s += time.perf_counter() - a
                try:
                    a = time.perf_counter()
                    sink.render(eyes, targets)
                    render_s = time.perf_counter() - a
                finally:
                    for eye in self.swapchains.eyes:
                        eye.release()
                layers.append(self._projection_layer(xr_views))
                rendered = True
        finally:
            xr.end_frame(
                handle,
                xr.FrameEndInfo(
                    display_time=display_time,
                    environment_blend_mode=self.blend_mode,
                    layers=layers,
                ),
            )
        self.index += 1
        return FrameInfo(
            self.index - 1,
            display_time,
            int(state.predicted_display_period),
            bool(state.should_render),
            rendered,
            eyes,
            update_s + render_s,
            update_s,
            render_s,
            wait_s,
        )

    def _projection_layer(self, xr_views: Sequence[Any]) -> Any:
        proj_views = [
            xr.CompositionLayerProjectionView(
                pose=v.pose,
                fov=v.fov,
                sub_image=xr.SwapchainSubImage(
                    swapchain=eye.swapchain,
                    image_rect=xr.Rect2Di(
                        offset=xr.Offset2Di(0, 0), extent=xr.Extent2Di(*eye.size)
                    ),
                ),
            )
            for v, eye in zip(xr_views, self.swapchains.eyes, strict=True)
        ]
        flags = xr.CompositionLayerFlags.BLEND_TEXTURE_SOURCE_ALPHA_BIT
        layer = xr.CompositionLayerProjection(
            layer_flags=flags, space=self.session.space, views=proj_views
        )
        self._keep = (proj_views, layer)  # the runtime reads them during end_frame
        return ctypes.cast(ctypes.pointer(layer), ctypes.POINTER(xr.CompositionLayerBaseHeader))
