"""Print the import cycles between the packages of xrclient, with the imports that make them.

``make lint`` refuses any such cycle (the acyclic contract in ``pyproject.toml``) and names
one set of imports that would break them all; this lists each cycle as it is, so the type
or function that causes it can be moved down a layer.

Usage: ``python scripts/import_cycles.py`` (exit status 1 when there is a cycle)
"""

from __future__ import annotations

import sys
from collections import defaultdict

import grimp


def package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def cycles(graph: grimp.ImportGraph) -> list[tuple[list[str], dict[tuple[str, str], list[str]]]]:
    """Each group of packages that import each other in a circle, with the imports
    between them (``"module > imported"`` per package pair)."""
    edges: dict[str, set[str]] = defaultdict(set)
    imports: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            a, b = package(module), package(imported)
            if a and b and a != b:
                edges[a].add(b)
                imports[(a, b)].append(f"{module} > {imported}")
    out = []
    for group in _strongly_connected(edges):
        if len(group) > 1:
            members = set(group)
            inside = {k: v for k, v in imports.items() if k[0] in members and k[1] in members}
            out.append((sorted(group), inside))
    return out


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative over the (small) package graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def main() -> int:
    found = cycles(grimp.build_graph("xrclient", cache_dir=None))
    for group, inside in found:
        print(" <-> ".join(group))
        for (a, b), lines in sorted(inside.items()):
            print(f"  {a} -> {b}: {', '.join(lines)}")
    if not found:
        print("no import cycles between the packages of xrclient")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
