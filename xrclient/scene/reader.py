"""A reader for parsed TOML documents that keeps the key path for its error messages.

Scene files (:mod:`xrclient.scene.schema`), their bindings
(:mod:`xrclient.scene.schema_bindings`) and procedure files share it, so every error reads
``file: key.path: what was expected``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from xrclient.errors import SceneError

T = TypeVar("T")
Vec3 = tuple[float, float, float]


def describe_value(value: object) -> str:
    """What a TOML value is, for error messages: "a string", "a list of 3", "a table"."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def check_table(
    value: object,
    path: str,
    required: set[str],
    optional: set[str],
    fail: Callable[[str, str], Exception],
) -> dict[str, Any]:
    """``value`` as a TOML table with all of ``required`` and nothing beyond ``optional``;
    otherwise raises ``fail(key path, message)`` (scene and procedure files)."""
    if not isinstance(value, dict):
        raise fail(path, f"expected a table, got {describe_value(value)}")
    unknown = sorted(set(value) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise fail(where, f"unknown key (allowed here: {allowed})")
    for key in sorted(required):
        if key not in value:
            raise fail(f"{path}.{key}" if path else key, "required key is missing")
    return cast(dict[str, Any], value)


class Reader:
    """Walks a parsed TOML document, keeping the key path for error messages."""

    describe = staticmethod(describe_value)

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, path: str, message: str) -> SceneError:
        return SceneError(self.file, path, message)

    def table(
        self, value: object, path: str, required: set[str], optional: set[str]
    ) -> dict[str, Any]:
        return check_table(value, path, required, optional, self.fail)

    def string(self, value: object, path: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {describe_value(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(
                path, f"expected an id of 1-64 letters, digits or . _ : -, got {value!r}"
            )
        return value

    def choice(self, value: object, path: str, options: tuple[str, ...]) -> str:
        text = self.string(value, path)
        if text not in options:
            raise self.fail(path, f"expected one of {', '.join(options)}, got {text!r}")
        return text

    def number(
        self, value: object, path: str, minimum: float | None = None, positive: bool = False
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number, got {describe_value(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise self.fail(path, f"expected a finite number, got {value}")
        if positive and number <= 0:
            raise self.fail(path, f"expected a number > 0, got {value}")
        if minimum is not None and number < minimum:
            raise self.fail(path, f"expected a number >= {minimum:g}, got {value}")
        return number

    def integer(self, value: object, path: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected an integer, got {describe_value(value)}")
        if value < minimum:
            raise self.fail(path, f"expected an integer >= {minimum}, got {value}")
        return value

    def numbers(self, value: object, path: str, count: int) -> tuple[float, ...]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected {count} numbers, got {describe_value(value)}")
        if len(value) != count:
            raise self.fail(path, f"expected {count} numbers, got {len(value)}")
        return tuple(self.number(v, f"{path}[{i}]") for i, v in enumerate(value))

    def vec3(self, value: object, path: str) -> Vec3:
        x, y, z = self.numbers(value, path, 3)
        return (x, y, z)

    def colour(self, value: object, path: str) -> Vec3:
        rgb = self.vec3(value, path)
        for i, c in enumerate(rgb):
            if not 0.0 <= c <= 1.0:
                raise self.fail(f"{path}[{i}]", f"expected a colour component in 0..1, got {c:g}")
        return rgb

    def array_of_tables(self, value: object, path: str) -> list[object]:
        if not isinstance(value, list):
            raise self.fail(
                path, f"expected an array of tables ([[{path}]]), got {describe_value(value)}"
            )
        return value

    def unique(self, items: list[T], key: Callable[[T], str], path: str, what: str) -> None:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            k = key(item)
            if k in seen:
                raise self.fail(
                    f"{path}[{i}].{what}", f"duplicate {what} {k!r} (first at {path}[{seen[k]}])"
                )
            seen[k] = i
