"""Running the third-party model tools the interop tests use.

The npm tools (gltf-transform, gltfpack, gltf-pipeline, obj2gltf) come from
``tools/gltf/package-lock.json`` through ``scripts/install_gltf_tools.sh``; assimp is Debian's
``assimp-utils`` (installed by ``scripts/bootstrap.sh`` for the ``dev`` extra). A missing tool
fails the test that needs it, with the command that installs it.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "gltf" / "node_modules" / ".bin"


def tool_path(name: str) -> Path:
    """An npm tool from ``tools/gltf``, or Debian's ``assimp``."""
    if name == "assimp":
        found = shutil.which("assimp")
        if found is None:
            pytest.fail("assimp is missing: apt-get install assimp-utils (make test does)")
        return Path(found)
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/install_gltf_tools.sh (make test does)")
    return path


def run_tool(tool: str, *args: str | Path) -> str:
    """Run ``tool`` with ``args``; its stdout, or an AssertionError with its stderr."""
    done = subprocess.run(
        [str(tool_path(tool)), *map(str, args)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise AssertionError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def validator_errors(path: Path) -> list[dict[str, str]]:
    """The Khronos glTF validator's errors (severity 0) for ``path``."""
    done = subprocess.run(
        [str(tool_path("gltf-transform")), "validate", str(path), "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    table = done.stdout[done.stdout.find("code,message,severity,pointer") :]
    rows = list(csv.DictReader(io.StringIO(table)))
    if done.returncode != 0 and not rows:
        raise AssertionError(f"validator did not run: {done.stderr[-2000:]}")
    return [row for row in rows if row.get("severity") == "0"]


def glb_document(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    length = int.from_bytes(data[12:16], "little")
    doc: dict[str, Any] = json.loads(data[20 : 20 + length])
    return doc


def used_extensions(path: Path) -> set[str]:
    return set(glb_document(path).get("extensionsUsed", []))
