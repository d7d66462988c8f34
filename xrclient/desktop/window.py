"""A GLFW window with an OpenGL 3.3 core context, and its input as a queue of events.

GLFW (through the ``glfw`` package, which ships the library) gives a window, a context and
raw input callbacks and nothing else: the frame loop stays ours, which is what the OpenXR
client needs too (it opens a hidden GLFW window for its context). Callbacks only append to
``events``; the viewer consumes them once per frame, so input handling never runs inside
GLFW.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from typing import Any

from xrclient.errors import XRClientError


class NoDisplayError(XRClientError):
    """There is no display to open a window on."""


@dataclass(frozen=True, slots=True)
class Key:
    key: int  # glfw.KEY_*
    action: int  # glfw.PRESS / RELEASE / REPEAT
    mods: int


@dataclass(frozen=True, slots=True)
class Char:
    text: str


@dataclass(frozen=True, slots=True)
class Button:
    button: int  # glfw.MOUSE_BUTTON_*
    action: int
    mods: int
    x: float  # framebuffer pixels, origin top-left
    y: float


@dataclass(frozen=True, slots=True)
class Cursor:
    x: float  # framebuffer pixels, origin top-left
    y: float


@dataclass(frozen=True, slots=True)
class Leave:
    """The cursor left the window."""


@dataclass(frozen=True, slots=True)
class Scroll:
    dy: float
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Resize:
    width: int  # framebuffer pixels
    height: int


Event = Key | Char | Button | Cursor | Leave | Scroll | Resize


def display_available() -> bool:
    """Whether a window could be opened (an X11 or Wayland display is named)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """One resizable window; ``ctx`` is its moderngl context (current on this thread).

    ``samples`` asks for a multisampled default framebuffer and falls back to none where the
    display offers no such visual. Cursor positions are reported in framebuffer pixels, so
    they match the renderer's viewport on high-DPI screens too.
    """

    def __init__(
        self,
        title: str,
        size: tuple[int, int] = (1280, 720),
        *,
        vsync: bool = True,
        samples: int = 4,
        visible: bool = True,
    ) -> None:
        if not display_available():
            raise NoDisplayError(
                "no display: DISPLAY and WAYLAND_DISPLAY are unset, so no window can open "
                "(use `xrclient snapshot` to render without one)"
            )
        import glfw
        import moderngl

        self._glfw = glfw
        if not glfw.init():
            raise NoDisplayError(f"cannot open the display: {self._last_error()}")
        self.events: deque[Event] = deque(maxlen=4096)
        # the window's context becomes current on this thread (GLFW does so while creating
        # it), displacing what was current, as within one API; libglvnd refuses GLX while an
        # EGL context is current, so unbind that first
        from xrclient.backends.headless import release_current_egl

        release_current_egl()
        try:
            self._handle = self._create(title, size, samples, visible)
        except BaseException:
            glfw.terminate()
            raise
        glfw.make_context_current(self._handle)
        glfw.swap_interval(1 if vsync else 0)
        self.vsync = vsync
        self.ctx = moderngl.create_context(require=330)
        self._scale = (1.0, 1.0)
        self._update_scale()
        self._install_callbacks()

    # --- creation ---------------------------------------------------------------------------

    def _last_error(self) -> str:
        code, text = self._glfw.get_error()
        if not code:
            return "unknown error"
        raw: object = text  # bytes from the C library, whatever the stubs say
        return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)

    def _create(self, title: str, size: tuple[int, int], samples: int, visible: bool) -> Any:
        glfw = self._glfw
        for msaa in dict.fromkeys((max(int(samples), 0), 0)):
            glfw.default_window_hints()
            glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
            glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
            glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
            glfw.window_hint(glfw.RESIZABLE, True)
            glfw.window_hint(glfw.SCALE_TO_MONITOR, True)
            glfw.window_hint(glfw.SAMPLES, msaa)
            glfw.window_hint(glfw.VISIBLE, visible)
            handle = glfw.create_window(int(size[0]), int(size[1]), title, None, None)
            if handle:
                self.samples = msaa
                return handle
        raise NoDisplayError(f"cannot create an OpenGL 3.3 window: {self._last_error()}")

    def _install_callbacks(self) -> None:
        glfw, h, ev = self._glfw, self._handle, self.events
        glfw.set_key_callback(
            h, lambda _w, key, _sc, action, mods: ev.append(Key(key, action, mods))
        )
        glfw.set_char_callback(h, lambda _w, cp: ev.append(Char(chr(cp))))
        glfw.set_mouse_button_callback(
            h, lambda _w, b, action, mods: ev.append(Button(b, action, mods, *self.cursor))
        )
        glfw.set_cursor_pos_callback(h, lambda _w, x, y: ev.append(Cursor(*self._scaled(x, y))))
        glfw.set_cursor_enter_callback(
            h, lambda _w, entered: None if entered else ev.append(Leave())
        )
        glfw.set_scroll_callback(h, lambda _w, _dx, dy: ev.append(Scroll(dy, *self.cursor)))
        glfw.set_framebuffer_size_callback(h, lambda _w, w, hh: self._resized(w, hh))

    def _resized(self, width: int, height: int) -> None:
        self._update_scale()
        self.events.append(Resize(int(width), int(height)))

    def _update_scale(self) -> None:
        glfw = self._glfw
        fw, fh = glfw.get_framebuffer_size(self._handle)
        ww, wh = glfw.get_window_size(self._handle)
        self._scale = (fw / ww if ww else 1.0, fh / wh if wh else 1.0)

    def _scaled(self, x: float, y: float) -> tuple[float, float]:
        return x * self._scale[0], y * self._scale[1]

    # --- per frame --------------------------------------------------------------------------

    @property
    def cursor(self) -> tuple[float, float]:
        """The cursor in framebuffer pixels, origin top-left."""
        x, y = self._glfw.get_cursor_pos(self._handle)
        return self._scaled(x, y)

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        w, h = self._glfw.get_framebuffer_size(self._handle)
        return int(w), int(h)

    @property
    def should_close(self) -> bool:
        return bool(self._glfw.window_should_close(self._handle))

    def request_close(self) -> None:
        self._glfw.set_window_should_close(self._handle, True)

    def key_down(self, key: int) -> bool:
        return self._glfw.get_key(self._handle, key) == self._glfw.PRESS

    def poll(self) -> None:
        """Run GLFW's event processing (fills ``events``); never waits."""
        self._glfw.poll_events()

    def swap(self) -> None:
        self._glfw.swap_buffers(self._handle)

    def set_title(self, title: str) -> None:
        self._glfw.set_window_title(self._handle, title)

    def close(self) -> None:
        if self._handle is None:
            return
        self.ctx.release()
        self._glfw.destroy_window(self._handle)
        self._handle = None
        self._glfw.terminate()
