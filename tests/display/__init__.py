"""A private X server (Xvfb) for tests that open real windows.

``xvfb`` starts one server per test session on a free display number (``-displayfd``), with
GLX so Mesa can give windows an OpenGL context, and stops it afterwards. The suite's setup
installs Xvfb (``scripts/bootstrap.sh``); a missing Xvfb fails the tests that need it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class XServer:
    display: str  # e.g. ":5"
    size: tuple[int, int]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for a child process that uses this server."""
        env = dict(os.environ if base is None else base)
        env["DISPLAY"] = self.display
        env.pop("WAYLAND_DISPLAY", None)
        env["PYGLFW_LIBRARY_VARIANT"] = "x11"
        return env


@contextmanager
def running_xvfb(size: tuple[int, int] = (1280, 720)) -> Iterator[XServer]:
    binary = shutil.which("Xvfb")
    if binary is None:
        raise RuntimeError("Xvfb is not installed (scripts/bootstrap.sh installs it)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            binary,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{size[0]}x{size[1]}x24",
            "+extension",
            "GLX",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 20.0
        with os.fdopen(read_fd, "rb") as pipe:
            while not number.endswith(b"\n") and time.monotonic() < deadline:
                chunk = pipe.read(1)
                if not chunk:
                    break
                number += chunk
        if not number.strip():
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"Xvfb did not start: {err.strip()[-500:]}")
        yield XServer(f":{int(number)}", size)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
