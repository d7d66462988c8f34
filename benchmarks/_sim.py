"""Start ``xrclient twin-sim`` as a child process for the stream benchmarks."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def twin_sim(scene: str, rate: float, *args: str) -> Iterator[str]:
    """Serve ``scene`` at ``rate`` Hz on a free loopback port; yields its ws:// URL."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "xrclient", "twin-sim", scene),
            *("--port", "0", "--rate", str(rate), "--fault-rate", "0", *args),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(ws://127\.0\.0\.1:\d+)", line)
        if not match:
            raise RuntimeError(f"twin-sim did not start: {line!r}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
