"""Core does no I/O and reads no clock: what the import contracts of ``make lint`` cannot
see (calls of builtins and of methods on objects) is checked here on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import xrclient.core

CORE = Path(xrclient.core.__file__).parent

#: builtins that reach files, the terminal or the import system
IO_BUILTINS = frozenset({"open", "print", "input", "breakpoint", "__import__", "exec", "eval"})
#: methods that read or write files (pathlib, file objects) or read a clock
IO_METHODS = frozenset(
    {
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "open",
        "exists",
        "is_file",
        "is_dir",
        "stat",
        "iterdir",
        "glob",
        "rglob",
        "mkdir",
        "unlink",
        "touch",
        "now",
        "utcnow",
        "today",
        "monotonic",
        "perf_counter",
        "localtime",
    }
)


def io_calls(source: str, name: str = "<source>") -> list[str]:
    """``file:line: call`` for every call in ``source`` that does I/O or reads a clock."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source, name)):
        if not isinstance(node, ast.Call):
            continue
        func, where = node.func, (node.lineno, node.col_offset)
        if isinstance(func, ast.Name) and func.id in IO_BUILTINS:
            found.append((*where, f"{name}:{node.lineno}: {func.id}()"))
        elif isinstance(func, ast.Attribute) and func.attr in IO_METHODS:
            found.append((*where, f"{name}:{node.lineno}: .{func.attr}()"))
    return [text for *_, text in sorted(found)]


def test_the_checker_finds_io_and_clock_reads() -> None:
    source = (
        "from pathlib import Path\n"
        "def f(p: Path) -> str:\n"
        "    with open(p) as fh:\n"
        "        fh.read()\n"
        "    print(p.read_text())\n"
        "    return str(datetime.now())\n"
    )
    assert io_calls(source) == [
        "<source>:3: open()",
        "<source>:5: print()",
        "<source>:5: .read_text()",
        "<source>:6: .now()",
    ]
    # reading a value passed in is not I/O
    assert io_calls("def g(store, t: float) -> float:\n    return store.value(t) + t\n") == []


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_does_no_io(path: Path) -> None:
    assert io_calls(path.read_text("utf-8"), path.name) == []
