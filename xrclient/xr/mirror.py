"""A desktop window showing the left eye, drawn from the same GL context."""

from __future__ import annotations

import glfw
import moderngl
from OpenGL import GL  # type: ignore[import-untyped]  # PyOpenGL ships no type information

from xrclient.xr.glcontext import GLWindow


class Mirror:
    def __init__(self, window: GLWindow, eye_size: tuple[int, int]) -> None:
        self.window = window
        w, h = eye_size
        scale = max(1, 720 // max(h, 1))
        glfw.set_window_size(window.window, w * scale, h * scale)
        glfw.set_window_title(window.window, "xrclient: headset mirror (left eye)")
        glfw.show_window(window.window)
        self.frames = 0

    def copy(self, source: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        """Blit the eye image into the window's back buffer (call before the image is
        released to the runtime)."""
        width, height = glfw.get_framebuffer_size(self.window.window)
        if width <= 0 or height <= 0:
            return
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, source.glo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glBlitFramebuffer(
            0, 0, size[0], size[1], 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR
        )
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def present(self) -> bool:
        """Show the copied image (after ``end_frame``); False once the window was closed."""
        glfw.swap_buffers(self.window.window)
        glfw.poll_events()
        self.frames += 1
        return not self.window.should_close()
