"""A private MQTT broker on loopback: Debian's ``mosquitto`` with its own configuration, for
``xrclient demo --via mqtt`` (and the tests, which add TLS and passwords).

:class:`LocalBroker` writes a ``mosquitto.conf`` into its folder (one listener on
127.0.0.1, anonymous clients, no persistence unless asked), starts the broker, waits until
it accepts connections and stops it on :meth:`stop` (or :meth:`kill`, to stand for a
crash). :meth:`start` again serves the same port. A missing ``mosquitto`` is an error that
says which package to install.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from xrclient.errors import XRClientError

#: where Debian installs the broker (it is not on a normal user's PATH)
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalBroker:
    """One mosquitto process on ``127.0.0.1:port`` (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        port: int = 0,
        *,
        tls_lines: Sequence[str] = (),
        password_file: Path | None = None,
        scheme: str = "mqtt",
    ) -> None:
        exe = find_mosquitto()
        if exe is None:
            raise XRClientError(
                "no MQTT broker found: install Debian's mosquitto (apt-get install mosquitto)"
            )
        self.exe = exe
        self.folder = folder
        self.port = port or free_port()
        self.tls_lines = tuple(tls_lines)
        self.password_file = password_file
        self.scheme = scheme
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def config(self) -> str:
        """The broker's configuration: one loopback listener (with ``tls_lines``), anonymous
        clients unless there is a password file, no persistence."""
        lines = [f"listener {self.port} 127.0.0.1", *self.tls_lines]
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        with contextlib.suppress(KeyError, OSError):
            # run as whoever starts it (as root mosquitto would switch to its own user,
            # who may not read this folder)
            lines.append(f"user {getpass.getuser()}")
        lines += ["persistence false", "log_dest stderr", "log_type error", "log_type warning"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> LocalBroker:
        if self.running:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "mosquitto.conf"
        conf.write_text(self.config(), encoding="utf-8")
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [self.exe, "-c", str(conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.folder / "mosquitto.log").read_text(errors="replace")[-500:]
                raise XRClientError(f"mosquitto exited at start: {tail.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise XRClientError(f"mosquitto did not listen on port {self.port} within {timeout:g} s")

    def stop(self) -> None:
        """Stop the broker and wait for it (SIGTERM, then SIGKILL after 5 s)."""
        p, self.process = self.process, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(5.0)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5.0)

    def kill(self) -> None:
        """End the broker the way a crash would (SIGKILL; no clean disconnects)."""
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(5.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
