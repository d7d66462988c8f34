"""The scene's ``[twin]`` table and ``[[bindings]]`` rules, validated into frozen data.

A binding selects machines (by type, id glob or line) and maps their live values to what
the viewer sees: a colour, a label, a gauge, an alarm. Expressions are compiled here, so a
syntax or type error is reported on load with its key path and column, for example
``scene.toml: bindings[3].alarm.when: unexpected ')' at column 14``. Selectors are checked
against the scene's machines: one that matches nothing is an error naming its key.

The rules themselves are plain data in :mod:`xrclient.core.rules`;
:mod:`xrclient.core.bindings` evaluates them every frame. The format is documented in
``docs/scene-format.md`` ("Twin bindings").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from xrclient.core.expr import Expr, ExprError, compile_expr
from xrclient.core.rules import (
    AlarmRule,
    Binding,
    ColorRule,
    Direction,
    GaugeRule,
    GaugeStyle,
    Gradient,
    LabelRule,
    Selector,
    Severity,
    TwinConfig,
)
from xrclient.core.twin_schema import ENUM_VALUE, MACHINE_ID, PROPERTY_NAME
from xrclient.scene.reader import Reader

if TYPE_CHECKING:
    from xrclient.scene.model import Line, Machine


MAX_BINDINGS = 1000
MAX_SELECT_ITEMS = 256
MAX_STEPS = 32  # thresholds, gradient colours, states
MAX_TEXT = 200  # titles, messages
MAX_URL = 2048
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
GLOB = re.compile(r"^[A-Za-z0-9._:\-*?\[\]!]{1,64}$")
# a numeric format spec: fill/align, sign, #, 0, width <= 99, grouping, precision <= 99, type
FORMAT = re.compile(
    r"^\{:((?:[^{}]?[<>=^])?[+\- ]?#?0?(?:[1-9][0-9]?)?[,_]?(?:\.[0-9]{1,2})?[eEfFgG%]?)\}$"
)

# ---- [twin] ------------------------------------------------------------------------------


def parse_twin(r: Reader, value: object) -> TwinConfig:
    t = r.table(value, "twin", set(), {"url", "stale_after_s", "stale_color"})
    url = r.string(t.get("url", ""), "twin.url")
    if url and not _ws_url(url):
        raise r.fail("twin.url", f"expected a ws:// or wss:// URL, got {url[:80]!r}")
    return TwinConfig(
        url=url,
        stale_after_s=r.number(t.get("stale_after_s", 10.0), "twin.stale_after_s", positive=True),
        stale_color=_colour(r, t.get("stale_color", "#8a8f96"), "twin.stale_color"),
    )


def _ws_url(url: str) -> bool:
    if len(url) > MAX_URL or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("ws", "wss") and bool(parts.hostname)


# ---- [[bindings]] ------------------------------------------------------------------------


def parse_bindings(
    r: Reader, value: object, machines: Sequence[Machine], lines: Sequence[Line]
) -> tuple[Binding, ...]:
    items = r.array_of_tables(value, "bindings")
    if len(items) > MAX_BINDINGS:
        raise r.fail("bindings", f"{len(items)} bindings (at most {MAX_BINDINGS})")
    ids = {m.id for m in machines}
    return tuple(
        _binding(r, item, f"bindings[{i}]", machines, lines, ids) for i, item in enumerate(items)
    )


def _binding(
    r: Reader,
    value: object,
    path: str,
    machines: Sequence[Machine],
    lines: Sequence[Line],
    ids: set[str],
) -> Binding:
    kinds = {"color", "label", "gauge", "alarm"}
    t = r.table(value, path, set(), {"select", "stale_after_s"} | kinds)
    if not kinds & set(t) and "stale_after_s" not in t:
        raise r.fail(path, "expected at least one of alarm, color, gauge, label, stale_after_s")
    select = _selector(r, t["select"], f"{path}.select", machines, lines) if "select" in t else None
    ttl = None
    if "stale_after_s" in t:
        ttl = r.number(t["stale_after_s"], f"{path}.stale_after_s", positive=True)
    return Binding(
        select=select or Selector(),
        color=_color(r, t["color"], f"{path}.color", ids) if "color" in t else None,
        label=_label(r, t["label"], f"{path}.label", ids) if "label" in t else None,
        gauge=_gauge(r, t["gauge"], f"{path}.gauge", ids) if "gauge" in t else None,
        alarm=_alarm(r, t["alarm"], f"{path}.alarm", ids) if "alarm" in t else None,
        stale_after_s=ttl,
    )


def _strings(r: Reader, value: object, path: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise r.fail(path, f"expected a non-empty list of strings, got {r.describe(value)}")
    if len(value) > MAX_SELECT_ITEMS:
        raise r.fail(path, f"{len(value)} items (at most {MAX_SELECT_ITEMS})")
    out = []
    for i, item in enumerate(value):
        text = r.string(item, f"{path}[{i}]")
        if not pattern.match(text):
            raise r.fail(f"{path}[{i}]", f"expected an id or an id pattern, got {text[:80]!r}")
        out.append(text)
    return tuple(out)


def _selector(
    r: Reader, value: object, path: str, machines: Sequence[Machine], lines: Sequence[Line]
) -> Selector:
    t = r.table(value, path, set(), {"types", "ids", "lines"})
    if not t:
        raise r.fail(path, "expected at least one of ids, lines, types (omit select for all)")
    sel = Selector(
        types=_strings(r, t["types"], f"{path}.types", MACHINE_ID) if "types" in t else (),
        ids=_strings(r, t["ids"], f"{path}.ids", GLOB) if "ids" in t else (),
        lines=_strings(r, t["lines"], f"{path}.lines", MACHINE_ID) if "lines" in t else (),
    )
    known_types = sorted({m.type for m in machines})
    for i, name in enumerate(sel.types):
        if name not in known_types:
            raise r.fail(
                f"{path}.types[{i}]",
                f"no machine has type {name!r} (types here: {', '.join(known_types)})",
            )
    line_ids = [line.id for line in lines]
    for i, name in enumerate(sel.lines):
        if name not in line_ids:
            raise r.fail(
                f"{path}.lines[{i}]", f"unknown line {name!r} (declared: {', '.join(line_ids)})"
            )
    for i, pattern in enumerate(sel.ids):
        if not any(fnmatchcase(m.id, pattern) for m in machines):
            raise r.fail(f"{path}.ids[{i}]", f"{pattern!r} matches no machine")
    if not sel.mask(machines).any():
        raise r.fail(path, "matches no machine (its keys together exclude every machine)")
    return sel


def _colour(r: Reader, value: object, path: str) -> str:
    text = r.string(value, path)
    if not COLOUR.match(text):
        raise r.fail(path, f'expected a colour "#rrggbb", got {text[:40]!r}')
    return text.lower()


def _expr(r: Reader, value: object, path: str, ids: set[str], want: str) -> Expr:
    text = r.string(value, path)
    try:
        expr = compile_expr(text)
    except ExprError as exc:
        raise r.fail(path, str(exc)) from None
    for machine in sorted(expr.machines - ids):
        raise r.fail(path, f'machine("{machine}"): no such machine in this scene')
    if want == "condition" and expr.kind == "number":
        raise r.fail(path, "expected a condition (a comparison, and/or/not), got a number")
    if want == "number" and expr.kind == "bool":
        raise r.fail(path, "expected a number, got a condition")
    return expr


def _source(
    r: Reader, t: dict[str, Any], path: str, ids: set[str], allow_when: bool = False
) -> tuple[str, str, Expr]:
    """(key, property, expression) of a rule's value: ``property``, ``expr`` or ``when``."""
    keys = [k for k in ("property", "expr", "when") if k in t and (allow_when or k != "when")]
    options = "property, expr or when" if allow_when else "property or expr"
    if len(keys) != 1:
        where = f"{path}.{keys[1]}" if len(keys) > 1 else path
        raise r.fail(where, f"give exactly one of {options}")
    key = keys[0]
    if key == "property":
        name = r.string(t[key], f"{path}.property")
        if not PROPERTY_NAME.match(name):
            raise r.fail(f"{path}.property", f"expected a property name, got {name[:80]!r}")
        return key, name, compile_expr(name)
    want = "condition" if key == "when" else "number"
    return key, "", _expr(r, t[key], f"{path}.{key}", ids, want)


def _color(r: Reader, value: object, path: str, ids: set[str]) -> ColorRule:
    keys = {"property", "expr", "when", "states", "thresholds", "below", "gradient", "color"}
    t = r.table(value, path, set(), keys | {"strength"})
    key, prop, expr = _source(r, t, path, ids, allow_when=True)
    strength = r.number(t.get("strength", 0.85), f"{path}.strength", minimum=0.0)
    if strength > 1.0:
        raise r.fail(f"{path}.strength", f"expected a number in 0..1, got {strength:g}")
    allowed = {"when": {"color"}, "property": {"states", "thresholds", "below", "gradient"}}
    allowed["expr"] = allowed["property"] - {"states"}
    for k in sorted(keys - {"property", "expr", "when"} - allowed[key]):
        if k in t:
            raise r.fail(f"{path}.{k}", f"not used with {key} (use: {', '.join(allowed[key])})")
    if key == "when":
        if "color" not in t:
            raise r.fail(f"{path}.color", "required key is missing")
        color = _colour(r, t["color"], f"{path}.color")
        return ColorRule("when", expr, color=color, strength=strength)
    modes = [k for k in ("states", "thresholds", "gradient") if k in t]
    if len(modes) != 1:
        where = f"{path}.{modes[1]}" if len(modes) > 1 else path
        raise r.fail(where, f"give exactly one of {', '.join(sorted(allowed[key] - {'below'}))}")
    mode = modes[0]
    if "below" in t and mode != "thresholds":
        raise r.fail(f"{path}.below", "only used with thresholds")
    if mode == "states":
        states = _states(r, t["states"], f"{path}.states")
        return ColorRule("states", expr, prop, states=states, strength=strength)
    if mode == "gradient":
        gradient = _gradient(r, t["gradient"], f"{path}.gradient")
        return ColorRule("gradient", expr, prop, gradient=gradient, strength=strength)
    below = _colour(r, t["below"], f"{path}.below") if "below" in t else None
    steps = _thresholds(r, t["thresholds"], f"{path}.thresholds")
    return ColorRule("thresholds", expr, prop, thresholds=steps, below=below, strength=strength)


def _states(r: Reader, value: object, path: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not value:
        raise r.fail(path, f"expected a table of value = colour, got {r.describe(value)}")
    if len(value) > MAX_STEPS * 8:
        raise r.fail(path, f"{len(value)} states (at most {MAX_STEPS * 8})")
    out = []
    for name, colour in value.items():
        if not ENUM_VALUE.match(name):
            raise r.fail(f"{path}.{name[:40]}", "expected an enum value name (letters, digits, _)")
        out.append((name, _colour(r, colour, f"{path}.{name}")))
    return tuple(out)


def _thresholds(r: Reader, value: object, path: str) -> tuple[tuple[float, str], ...]:
    if not isinstance(value, list) or not value:
        raise r.fail(path, f"expected a list of [value, colour] pairs, got {r.describe(value)}")
    if len(value) > MAX_STEPS:
        raise r.fail(path, f"{len(value)} thresholds (at most {MAX_STEPS})")
    out: list[tuple[float, str]] = []
    for i, pair in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise r.fail(where, f"expected a [value, colour] pair, got {r.describe(pair)}")
        level = r.number(pair[0], f"{where}[0]")
        if out and level <= out[-1][0]:
            raise r.fail(f"{where}[0]", f"expected a value above {out[-1][0]:g} (ascending)")
        out.append((level, _colour(r, pair[1], f"{where}[1]")))
    return tuple(out)


def _gradient(r: Reader, value: object, path: str) -> Gradient:
    t = r.table(value, path, {"min", "max", "colors"}, set())
    lo = r.number(t["min"], f"{path}.min")
    hi = r.number(t["max"], f"{path}.max")
    if hi <= lo:
        raise r.fail(f"{path}.max", f"expected a number above min ({lo:g}), got {hi:g}")
    colors = t["colors"]
    if not isinstance(colors, list) or not 2 <= len(colors) <= MAX_STEPS:
        raise r.fail(
            f"{path}.colors", f"expected 2 to {MAX_STEPS} colours, got {r.describe(colors)}"
        )
    return Gradient(
        lo, hi, tuple(_colour(r, c, f"{path}.colors[{i}]") for i, c in enumerate(colors))
    )


def _text(r: Reader, value: object, path: str) -> str:
    text = r.string(value, path)
    if len(text) > MAX_TEXT or not text.isprintable():
        raise r.fail(path, f"expected printable text of at most {MAX_TEXT} characters")
    return text


def _format(r: Reader, value: object, path: str) -> str:
    text = r.string(value, path)
    m = FORMAT.match(text)
    if m is not None:
        try:
            format(1234.5, m.group(1))
        except ValueError:
            m = None
    if m is None:
        raise r.fail(path, f'expected a number format such as "{{:.1f}}", got {text[:40]!r}')
    return m.group(1)


def _display(r: Reader, t: dict[str, Any], path: str, expr: Expr) -> tuple[str, str | None, str]:
    """Title (default: the property or the expression), unit (None: the stream's), format."""
    title = _text(r, t.get("title", " ".join(expr.text.split())[:60]), f"{path}.title")
    unit = _text(r, t["unit"], f"{path}.unit") if "unit" in t else None
    fmt = _format(r, t["format"], f"{path}.format") if "format" in t else ""
    return title, unit, fmt


def _label(r: Reader, value: object, path: str, ids: set[str]) -> LabelRule:
    t = r.table(value, path, set(), {"property", "expr", "title", "unit", "format"})
    _, prop, expr = _source(r, t, path, ids)
    title, unit, fmt = _display(r, t, path, expr)
    return LabelRule(expr, prop, title, unit, fmt)


def _gauge(r: Reader, value: object, path: str, ids: set[str]) -> GaugeRule:
    keys = {"property", "expr", "title", "unit", "format", "min", "max", "warn", "alarm"}
    t = r.table(value, path, {"max"}, keys | {"direction", "style"})
    _, prop, expr = _source(r, t, path, ids)
    title, unit, fmt = _display(r, t, path, expr)
    lo = r.number(t.get("min", 0.0), f"{path}.min")
    hi = r.number(t["max"], f"{path}.max")
    if hi <= lo:
        raise r.fail(f"{path}.max", f"expected a number above min ({lo:g}), got {hi:g}")
    direction = cast(
        Direction, r.choice(t.get("direction", "high"), f"{path}.direction", ("high", "low"))
    )
    warn = r.number(t["warn"], f"{path}.warn") if "warn" in t else None
    alarm = r.number(t["alarm"], f"{path}.alarm") if "alarm" in t else None
    if warn is not None and alarm is not None:
        if direction == "high" and alarm <= warn:
            raise r.fail(f"{path}.alarm", f"expected a value above warn ({warn:g}), got {alarm:g}")
        if direction == "low" and alarm >= warn:
            raise r.fail(f"{path}.alarm", f"expected a value below warn ({warn:g}), got {alarm:g}")
    style = cast(GaugeStyle, r.choice(t.get("style", "bar"), f"{path}.style", ("bar", "radial")))
    return GaugeRule(expr, prop, title, unit, fmt, lo, hi, warn, alarm, direction, style)


def _alarm(r: Reader, value: object, path: str, ids: set[str]) -> AlarmRule:
    t = r.table(value, path, {"when"}, {"severity", "message"})
    when = _expr(r, t["when"], f"{path}.when", ids, "condition")
    severity = r.choice(t.get("severity", "warning"), f"{path}.severity", ("warning", "critical"))
    default = " ".join(when.text.split())[:MAX_TEXT]
    message = _text(r, t["message"], f"{path}.message") if "message" in t else default
    return AlarmRule(when, cast(Severity, severity), message)
