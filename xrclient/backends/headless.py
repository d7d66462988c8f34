"""Off-screen rendering through EGL: no window, no display, images as numpy arrays."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.view import View
from xrclient.core.visuals import MachineVisuals
from xrclient.render.camera import clip_planes, make_view
from xrclient.render.renderer import FrameStats, Renderer


def release_current_egl() -> None:
    """Unbind this thread's current EGL context, if any (contexts stay alive).

    Destroying an EGL context leaves it current on its thread until it is unbound, and with
    libglvnd a thread whose current context is EGL cannot make a GLX context current (a
    window's): a window opened after off-screen rendering on the same thread calls this.
    """
    try:
        egl = ctypes.CDLL("libEGL.so.1")
    except OSError:
        return
    egl.eglGetCurrentContext.restype = ctypes.c_void_p
    egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
    egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    if egl.eglGetCurrentContext():
        egl.eglMakeCurrent(egl.eglGetCurrentDisplay(), None, None, None)


def create_egl_context() -> moderngl.Context:
    """A standalone OpenGL 3.3+ core context on EGL (works with no display)."""
    settings: dict[str, Any] = {"backend": "egl"}
    return moderngl.create_standalone_context(require=330, **settings)


class HeadlessBackend:
    """Renders into a multisampled off-screen framebuffer and resolves it for read-back.

    ``samples`` is clamped to what the context offers; 0 or 1 renders without MSAA.
    """

    def __init__(self, size: tuple[int, int] = (1280, 720), samples: int = 4) -> None:
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0:
            raise ValueError(f"size must be positive, got {size}")
        self.size = (width, height)
        self.ctx = create_egl_context()
        self.samples = min(max(int(samples), 0), int(self.ctx.max_samples))
        if self.samples <= 1:
            self.samples = 0
        self._attachments: list[moderngl.Renderbuffer] = []
        self.resolve_fbo = self._framebuffer(0, depth=self.samples == 0)
        # without MSAA the scene is drawn straight into the read-back framebuffer
        self.fbo = self.resolve_fbo
        if self.samples:
            self.fbo = self._framebuffer(self.samples, depth=True)

    def _framebuffer(self, samples: int, *, depth: bool) -> moderngl.Framebuffer:
        color = self.ctx.renderbuffer(self.size, 4, samples=samples)
        self._attachments.append(color)
        depth_rb = None
        if depth:
            depth_rb = self.ctx.depth_renderbuffer(self.size, samples=samples)
            self._attachments.append(depth_rb)
        return self.ctx.framebuffer(color_attachments=[color], depth_attachment=depth_rb)

    def view_from(
        self,
        eye: Sequence[float],
        target: Sequence[float],
        fov_deg: float = 60.0,
        near: float = 0.1,
        far: float | None = None,
        bounds: npt.ArrayLike | None = None,
    ) -> View:
        """A full-frame view; ``far`` defaults to cover ``bounds`` or else 100x the distance."""
        if far is None:
            if bounds is not None:
                far = max(clip_planes(eye, bounds)[1], near * 2.0)
            else:
                dist = math.dist(tuple(eye), tuple(target))
                far = max(100.0 * dist, 100.0)
        return make_view(eye, target, self.size, fov_deg, near, far)

    def render(
        self,
        renderer: Renderer,
        views: Sequence[View],
        visuals: MachineVisuals | None = None,
        overlay: Callable[[Sequence[View]], object] | None = None,
    ) -> FrameStats:
        """Draw ``views`` (framebuffer ``None`` = this backend's), then ``overlay`` over them
        (e.g. ``Overlays.draw``), and resolve the MSAA image."""
        self.fbo.use()
        stats = renderer.draw(views, visuals)
        if overlay is not None:
            self.fbo.use()
            overlay(views)
        if self.fbo is not self.resolve_fbo:
            self.ctx.copy_framebuffer(self.resolve_fbo, self.fbo)
        return stats

    def read_rgb(self) -> npt.NDArray[np.uint8]:
        """The last image, (height, width, 3) uint8, top row first."""
        raw = self.resolve_fbo.read(components=3, alignment=1)
        image = np.frombuffer(raw, dtype=np.uint8).reshape(self.size[1], self.size[0], 3)
        return np.ascontiguousarray(image[::-1])

    def save_png(self, path: Path) -> None:
        from PIL import Image

        Image.fromarray(self.read_rgb(), mode="RGB").save(Path(path), format="PNG")

    def close(self) -> None:
        for fbo in {id(self.fbo): self.fbo, id(self.resolve_fbo): self.resolve_fbo}.values():
            fbo.release()
        for attachment in self._attachments:
            attachment.release()
        self._attachments.clear()
        self.ctx.release()

    def __enter__(self) -> HeadlessBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
