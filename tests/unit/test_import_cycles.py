"""scripts/import_cycles.py finds the cycles between packages and the imports in them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import grimp

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "import_cycles.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_cycle_between_packages_is_listed_with_its_imports() -> None:
    graph = grimp.ImportGraph()
    for name in ("xrclient", "xrclient.core.a", "xrclient.scene.b", "xrclient.render.c"):
        graph.add_module(name)
    graph.add_import(importer="xrclient.scene.b", imported="xrclient.core.a")
    graph.add_import(importer="xrclient.render.c", imported="xrclient.scene.b")
    assert load().cycles(graph) == []
    graph.add_import(importer="xrclient.core.a", imported="xrclient.scene.b")  # upward
    [(group, inside)] = load().cycles(graph)
    assert group == ["core", "scene"]
    assert inside == {
        ("core", "scene"): ["xrclient.core.a > xrclient.scene.b"],
        ("scene", "core"): ["xrclient.scene.b > xrclient.core.a"],
    }
