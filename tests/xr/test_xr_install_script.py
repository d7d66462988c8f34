"""scripts/install_monado.sh: the cached runtime, and the mirror it reads from apt sources."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.xr.xr_runtime import CACHED_MANIFEST, ROOT

SCRIPT = ROOT / "scripts" / "install_monado.sh"
pytestmark = pytest.mark.timeout(120)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env=dict(os.environ, **(env or {})),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_built_runtime_is_reused_and_its_manifest_printed() -> None:
    if not CACHED_MANIFEST.is_file():
        pytest.fail(f"{CACHED_MANIFEST} missing: run scripts/install_monado.sh", pytrace=False)
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    manifest = Path(proc.stdout.strip())
    assert manifest == CACHED_MANIFEST
    assert manifest.name == "openxr_monado-dev.json" and manifest.is_file()
    assert '"library_path"' in manifest.read_text()
    assert "building" not in proc.stderr  # nothing was rebuilt


def test_mirror_comes_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: trixie-security\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://off.test/debian\nSuites: trixie\nComponents: main\n"
        "Enabled: no\n\n"
        "Types: deb deb-src\nURIs: https://mirror.test/debian/ http://other.test/debian\n"
        "Suites: trixie trixie-updates\nComponents: main contrib\n"
    )
    env = {"MONADO_APT_ETC": str(tmp_path), "MONADO_HOST_CODENAME": "trixie"}
    proc = _run("--print-mirror", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "https://mirror.test/debian"


def test_mirror_comes_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# a comment\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://one.test/debian "
        "bookworm main\n"
        "deb http://security.test/debian-security bookworm-security main\n"
    )
    env = {"MONADO_APT_ETC": str(tmp_path), "MONADO_HOST_CODENAME": "bookworm"}
    proc = _run("--print-mirror", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "http://one.test/debian"


def test_no_mirror_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://one.test/debian bookworm main\n")
    env = {"MONADO_APT_ETC": str(tmp_path), "MONADO_HOST_CODENAME": "trixie"}
    proc = _run("--print-mirror", env=env)
    assert proc.returncode == 1
    assert "ERROR: could not find the Debian mirror for 'trixie'" in proc.stderr
