"""Pictures from files (a procedure step's ``media``): checked, decoded off the frame loop,
uploaded as one texture.

The file is untrusted: it must be at most ``MAX_BYTES`` and ``MAX_SIDE`` pixels a side, and
Pillow decodes it (PNG or JPEG) under its own decompression-bomb guard; it is scaled to fit
``fit`` pixels. :class:`ImageTexture` decodes on one worker thread, so a large picture never
stalls a frame (a headset drops frames at once); a file that cannot be shown leaves a
message instead, never an exception in the frame loop.
"""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

import moderngl
import numpy as np
import numpy.typing as npt

MAX_BYTES = 8 * 1024 * 1024
MAX_SIDE = 8192
FIT_PX = 320

U8 = npt.NDArray[np.uint8]


def load_image(path: Path, fit: int = FIT_PX) -> U8:
    """RGBA pixels (height, width, 4; top row first) of ``path`` scaled to fit ``fit``
    pixels; raises ``ValueError`` saying why a file cannot be shown."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if size > MAX_BYTES:
        raise ValueError(f"{path.name} is {size} bytes, over the {MAX_BYTES} limit")
    try:
        with Image.open(path) as img:
            if img.format not in ("PNG", "JPEG"):
                raise ValueError(f"{path.name}: expected a PNG or JPEG image, got {img.format}")
            if max(img.size) > MAX_SIDE:
                raise ValueError(f"{path.name}: {img.size[0]}x{img.size[1]} is over {MAX_SIDE}")
            img.thumbnail((fit, fit))
            rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path.name}: not a readable image ({exc})") from None
    return np.ascontiguousarray(rgba)


class ImageTexture:
    """The texture of the picture last asked for with :meth:`show`.

    ``show`` is cheap to call every frame: a new path drops the old texture and starts its
    decode on a thread of its own (a daemon: the size limits bound a decode); the texture
    appears on the first call after the decode is done. Display (sRGB-encoded) RGBA,
    linear filtering.
    """

    def __init__(self, ctx: moderngl.Context, fit: int = FIT_PX) -> None:
        self.ctx = ctx
        self.fit = fit
        self.texture: moderngl.Texture | None = None
        self.path: Path | None = None
        self.size = (0, 0)  # width, height in pixels
        self.message = ""  # why the picture is not shown
        self._loading: concurrent.futures.Future[U8] | None = None

    def show(self, path: Path | None) -> None:
        """Show ``path`` (None: nothing)."""
        if path != self.path:
            self.path, self.message, self.size = path, "", (0, 0)
            self._drop()
            if self._loading is not None:
                self._loading.cancel()  # one already running finishes unseen
                self._loading = None
            if path is not None:
                self._loading = _decode(path, self.fit)
        loading = self._loading
        if loading is None or not loading.done():
            return
        self._loading = None
        try:
            pixels = loading.result()
        except ValueError as exc:
            self.message = f"image not shown: {exc}"
            return
        h, w = pixels.shape[:2]
        self.texture = self.ctx.texture((w, h), 4, pixels.tobytes())
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.size = (w, h)

    def release(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            self._loading = None
        self._drop()

    def _drop(self) -> None:
        if self.texture is not None:
            self.texture.release()
            self.texture = None


def _decode(path: Path, fit: int) -> concurrent.futures.Future[U8]:
    """``load_image`` on a daemon thread; any failure arrives as a ``ValueError``."""
    future: concurrent.futures.Future[U8] = concurrent.futures.Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(load_image(path, fit))
        except ValueError as exc:
            future.set_exception(exc)
        except Exception as exc:  # a decoder bug must not vanish with the thread
            future.set_exception(ValueError(f"{path.name}: not a readable image ({exc})"))

    threading.Thread(target=work, name="image-decode", daemon=True).start()
    return future
