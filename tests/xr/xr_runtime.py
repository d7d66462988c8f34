"""The OpenXR runtime the XR tests run against: Monado, built by scripts/install_monado.sh.

Scenarios run in a child process each (``probe.py``) with the runtime's environment: the
in-process runtime then starts and stops with that process, and nothing leaks between
tests. A missing runtime fails these tests; it never skips them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHED_MANIFEST = ROOT / ".cache" / "monado" / "build" / "openxr_monado-dev.json"
PROBE = Path(__file__).with_name("probe.py")


def runtime_manifest() -> Path:
    env = os.environ.get("XR_RUNTIME_JSON")
    path = Path(env) if env else CACHED_MANIFEST
    if not path.is_file():
        pytest.fail(
            f"no OpenXR runtime for the XR tests: {path} is missing. "
            "Build Monado with scripts/install_monado.sh (or set XR_RUNTIME_JSON to a runtime "
            "manifest).",
            pytrace=False,
        )
    return path


def runtime_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Monado in-process with the null compositor, a simulated headset and two simple
    controllers (left at (-0.2, 1.3, -0.5), right at (0.2, 1.3, -0.5), pointing -Z)."""
    env = dict(os.environ if base is None else base)
    env.update(
        XR_RUNTIME_JSON=str(runtime_manifest()),
        XRT_COMPOSITOR_NULL="1",
        XRT_LOG="warning",
        SIMULATED_ENABLE="1",
        SIMULATED_LEFT="simple",
        SIMULATED_RIGHT="simple",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_probe(args: list[str], env: dict[str, str], timeout: float = 120.0) -> str:
    proc = subprocess.run(
        [sys.executable, str(PROBE), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0 or "probe done" not in proc.stdout:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise AssertionError(f"probe {args[0]} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout + proc.stderr
