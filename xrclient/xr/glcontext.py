"""The OpenGL context the headset renders with: a glfw window (hidden unless it mirrors),
its context current on this thread, wrapped by moderngl, and the GLX handles OpenXR's
Xlib graphics binding wants."""

from __future__ import annotations

import os
import sys
from typing import Any

import glfw
import moderngl
import xr

from xrclient.xr.runtime import XrUnavailable


class GLWindow:
    """A glfw window with an OpenGL 3.3+ core context; hidden unless ``visible``."""

    def __init__(
        self, size: tuple[int, int] = (640, 480), *, visible: bool = False, title: str = "xrclient"
    ) -> None:
        if sys.platform.startswith("linux"):
            # OpenXR's OpenGL binding on Linux is Xlib/GLX: the window must be an X11 one
            os.environ.setdefault("PYOPENGL_PLATFORM", "glx")
            if hasattr(glfw, "PLATFORM") and hasattr(glfw, "init_hint"):
                glfw.init_hint(glfw.PLATFORM, glfw.PLATFORM_X11)
        if not glfw.init():
            raise XrUnavailable(
                "cannot open an OpenGL window (no display: set DISPLAY, or run under Xvfb)"
            )
        try:
            glfw.default_window_hints()
            glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
            glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
            glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
            glfw.window_hint(glfw.VISIBLE, visible)
            glfw.window_hint(glfw.DOUBLEBUFFER, True)
            window = glfw.create_window(size[0], size[1], title, None, None)
            if not window:
                raise XrUnavailable("cannot create an OpenGL 3.3 core context for the headset")
            self.window: Any = window
            glfw.make_context_current(window)
            glfw.swap_interval(0)  # the headset paces the loop, never the mirror window
            self.ctx = moderngl.create_context(require=330)
        except BaseException:
            glfw.terminate()
            raise
        self.visible = visible
        self._closed = False

    def graphics_binding(self) -> Any:
        """The session's graphics binding for this context (Xlib/GLX on Linux, Win32 WGL
        on Windows)."""
        if sys.platform == "win32":
            from OpenGL import WGL  # type: ignore[import-untyped]  # PyOpenGL ships no type information

            return xr.GraphicsBindingOpenGLWin32KHR(
                h_dc=WGL.wglGetCurrentDC(), h_glrc=WGL.wglGetCurrentContext()
            )
        from OpenGL import GLX  # type: ignore[import-untyped]  # PyOpenGL ships no type information

        return xr.GraphicsBindingOpenGLXlibKHR(
            x_display=GLX.glXGetCurrentDisplay(),
            glx_drawable=GLX.glXGetCurrentDrawable(),
            glx_context=GLX.glXGetCurrentContext(),
        )

    @property
    def renderer_name(self) -> str:
        return str(self.ctx.info.get("GL_RENDERER", "?"))

    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self.window))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.ctx.release()
        glfw.destroy_window(self.window)
        glfw.terminate()

    def __enter__(self) -> GLWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
