"""One colour swapchain per eye, its GL images wrapped as moderngl framebuffers.

sRGB: an sRGB swapchain format is preferred; the renderer then writes linear colour and
the hardware encodes (``GL_FRAMEBUFFER_SRGB``). With a linear (UNORM) format the renderer
encodes sRGB itself (``Renderer.srgb_output``). Either way the headset shows the same
colours as the desktop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import moderngl
import xr

from xrclient.xr.runtime import XrUnavailable

log = logging.getLogger(__name__)

GL_SRGB8_ALPHA8 = 0x8C43
GL_RGBA8 = 0x8058
GL_RGB10_A2 = 0x8059
GL_RGBA16F = 0x881A
#: preferred first; the sRGB ones mean "the hardware encodes"
FORMAT_PREFERENCE = ((GL_SRGB8_ALPHA8, True), (GL_RGBA8, False), (GL_RGB10_A2, False))


def choose_format(offered: Sequence[int]) -> tuple[int, bool]:
    """``(GL internal format, is sRGB)`` from what the runtime offers, or raise."""
    have = set(offered)
    for fmt, srgb in FORMAT_PREFERENCE:
        if fmt in have:
            return fmt, srgb
    raise XrUnavailable(
        "the runtime offers no 8-bit colour swapchain format "
        f"(offered: {', '.join(hex(f) for f in offered)})"
    )


@dataclass(slots=True)
class EyeTarget:
    """One eye's swapchain: the runtime handle, GL images and their framebuffers."""

    swapchain: Any
    size: tuple[int, int]
    textures: list[moderngl.Texture]
    framebuffers: list[moderngl.Framebuffer]
    depth: moderngl.Renderbuffer
    acquired: int | None = None

    def acquire(self) -> moderngl.Framebuffer:
        index = xr.acquire_swapchain_image(self.swapchain, xr.SwapchainImageAcquireInfo())
        xr.wait_swapchain_image(
            self.swapchain, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION)
        )
        self.acquired = index
        fbo: moderngl.Framebuffer = self.framebuffers[index]
        return fbo

    def release(self) -> None:
        if self.acquired is not None:
            self.acquired = None
            xr.release_swapchain_image(self.swapchain, xr.SwapchainImageReleaseInfo())


class Swapchains:
    """Colour swapchains for the views of a stereo session."""

    def __init__(
        self,
        ctx: moderngl.Context,
        session: Any,
        sizes: Sequence[tuple[int, int]],
    ) -> None:
        self.ctx = ctx
        offered = [int(f) for f in xr.enumerate_swapchain_formats(session)]
        self.format, self.srgb = choose_format(offered)
        log.info("swapchain format 0x%x (%s)", self.format, "sRGB" if self.srgb else "linear")
        self.eyes: list[EyeTarget] = []
        try:
            for size in sizes:
                self.eyes.append(self._make(session, size))
        except BaseException:
            self.release()
            raise

    def _make(self, session: Any, size: tuple[int, int]) -> EyeTarget:
        width, height = size
        swapchain = xr.create_swapchain(
            session,
            xr.SwapchainCreateInfo(
                usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                | xr.SwapchainUsageFlags.SAMPLED_BIT,
                format=self.format,
                sample_count=1,
                width=width,
                height=height,
                face_count=1,
                array_size=1,
                mip_count=1,
            ),
        )
        images = xr.enumerate_swapchain_images(swapchain, xr.SwapchainImageOpenGLKHR)
        depth = self.ctx.depth_renderbuffer((width, height))
        textures = [
            self.ctx.external_texture(int(img.image), (width, height), 4, 0, "f1") for img in images
        ]
        fbos = [
            self.ctx.framebuffer(color_attachments=[t], depth_attachment=depth) for t in textures
        ]
        return EyeTarget(swapchain, (width, height), textures, fbos, depth)

    def release(self) -> None:
        for eye in reversed(self.eyes):
            eye.release()
            for fbo in eye.framebuffers:
                fbo.release()
            eye.depth.release()
            xr.destroy_swapchain(eye.swapchain)
        self.eyes = []
