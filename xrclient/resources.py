"""Where the shipped data lives: ``shaders/``, ``assets/`` and ``scenes/``.

In an installed wheel they sit inside the package (``xrclient/shaders`` ...); in a source
checkout (editable install) they sit at the repository root beside ``xrclient/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder holding the shipped ``name`` data (``"shaders"``, ``"assets"``, ``"scenes"``)."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"xrclient data folder '{name}' not found beside {_PACKAGE}")


def shader_source(name: str) -> str:
    return (data_dir("shaders") / name).read_text(encoding="utf-8")


def scene_path(name: str) -> Path:
    """A shipped scene by name (``"demo-plant"``) or file name (``"demo-plant.toml"``)."""
    file = name if name.endswith(".toml") else f"{name}.toml"
    return data_dir("scenes") / file


DEMO_SCENE = "demo-plant"
