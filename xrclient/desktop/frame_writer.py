"""PNG files written off the frame loop: screenshots and recorded frames.

A bounded queue feeds one writer thread. When recording outpaces the disk the frame loop
waits for room rather than dropping frames (a recording with holes would mislead); a
screenshot never waits for more than one slot.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from xrclient.errors import XRClientError

_STOP = None


class FrameWriter:
    def __init__(self, depth: int = 8) -> None:
        self._queue: queue.Queue[tuple[Path, npt.NDArray[np.uint8]] | None] = queue.Queue(
            maxsize=max(int(depth), 1)
        )
        self.written = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="xrclient-frames", daemon=True)
        self._thread.start()

    def put(self, path: Path, image: npt.NDArray[np.uint8]) -> None:
        """Queue ``image`` (height, width, 3 uint8, top row first) for ``path``."""
        if self.errors:
            raise XRClientError(f"writing frames failed: {self.errors[0]}")
        self._queue.put((path, image))

    def _run(self) -> None:
        from PIL import Image

        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                path, image = item
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(image, mode="RGB").save(path, format="PNG", compress_level=1)
                    self.written += 1
                except OSError as exc:
                    self.errors.append(f"{path}: {exc}")
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until everything queued is on disk."""
        self._queue.join()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
