"""A small, safe expression language over the live twin state.

Scene bindings (alarm conditions, computed colours) and training procedures write rules
such as ``vibration_mm_s > 7.1 and age() < 30``. :func:`compile_expr` parses the text once
(:mod:`xrclient.core.expr_syntax`), checks its types and turns it into numpy closures that
evaluate it for every machine at once: the result is one float64 or bool array indexed like
the store's machines. Nothing is ever handed to Python's ``eval``.

Semantics (documented for users in ``docs/scene-format.md``):

* a missing value (NaN: never received, or a property the stream does not have) makes
  every comparison false, ``!=`` included; arithmetic on it stays missing;
* division or remainder by zero is missing;
* enum and string properties compare with string literals (``state == "RUNNING"``) and with
  each other; in arithmetic and ordering comparisons they read as missing;
* a property used as a condition is true where its value is present and non-zero;
* ``age()`` is the seconds since the machine's last update (infinite if never seen),
  ``age(prop)`` the same for one property (missing if the stream has no such property).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from xrclient.core.expr_syntax import (
    Binary,
    Bool,
    Call,
    ExprError,
    Node,
    Num,
    Prop,
    Str,
    Unary,
    column_of,
    parse,
)
from xrclient.core.twin_schema import PropertySpec

__all__ = ["Expr", "ExprError", "StoreView", "compile_expr"]

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Kind = Literal["number", "bool", "value"]
Type = Literal["number", "bool", "value", "string"]
NumFn = Callable[["StoreView", float], F64]
BoolFn = Callable[["StoreView", float], Bools]

_COMPARE = ("==", "!=", "<", "<=", ">", ">=")
_CODED = ("enum", "string")


class StoreView(Protocol):
    """What expressions read from the live state (``TwinStore`` provides it)."""

    @property
    def machine_ids(self) -> tuple[str, ...]: ...
    @property
    def n_machines(self) -> int: ...
    def prop(self, name: str) -> PropertySpec | None: ...
    def column(self, name: str) -> F64 | None: ...
    def code(self, name: str, text: str) -> float | None: ...
    def age(self, now: float, name: str | None = None) -> F64: ...


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled expression: parse once, evaluate every frame."""

    text: str
    kind: Kind  # "bool": a condition; "number"; "value": a bare property
    properties: frozenset[str]  # property names it reads (to warn once about absent ones)
    machines: frozenset[str]  # machine ids named with machine("ID")
    _number: NumFn | None = field(compare=False, repr=False)
    _truth: BoolFn = field(compare=False, repr=False)
    _shared: bool = field(default=False, compare=False, repr=False)  # may return store arrays
    #: reads ``age()``: its value changes with the time alone, not only with the data
    timed: bool = field(default=False, compare=False)

    def evaluate(self, store: StoreView, now: float) -> F64 | Bools:
        """bool array for conditions, float64 (NaN = missing) otherwise; shape (n_machines,)."""
        return self.truth(store, now) if self._number is None else self.number(store, now)

    def number(self, store: StoreView, now: float) -> F64:
        """The value as float64 (a condition reads as 0 or 1); a new array."""
        with np.errstate(all="ignore"):
            if self._number is None:
                return self._truth(store, now).astype(np.float64)
            out = self._number(store, now)
        return out.copy() if self._shared else out

    def truth(self, store: StoreView, now: float) -> Bools:
        """The value as a condition: true where present and non-zero."""
        with np.errstate(all="ignore"):
            return self._truth(store, now)

    def unknown_properties(self, store: StoreView) -> frozenset[str]:
        """Referenced properties the store's stream does not have."""
        return frozenset(p for p in self.properties if store.prop(p) is None)


def compile_expr(text: str) -> Expr:
    """Parse and type-check ``text``; raises :class:`ExprError` with the column of the fault."""
    node = parse(text)
    kind = type_of(node)
    if kind == "string":
        raise ExprError('a string on its own is not a value (compare it: state == "RUNNING")', 1)
    props: set[str] = set()
    machines: set[str] = set()
    _collect(node, props, machines)
    number = None if kind == "bool" else _num(node)
    if number is not None and kind == "number":
        numeric = number
        truth: BoolFn = lambda store, now: _truthy(numeric(store, now))  # noqa: E731
    else:
        truth = _cond(node)
    # a bare property or age() hands out the store's own arrays: copy those
    shared = isinstance(node, Prop) or (isinstance(node, Call) and node.name == "age")
    timed = _reads_age(node)
    return Expr(text, kind, frozenset(props), frozenset(machines), number, truth, shared, timed)


def type_of(node: Node) -> Type:
    """The static type of a node (its operands are checked when it is compiled)."""
    if isinstance(node, Num):
        return "number"
    if isinstance(node, Bool):
        return "bool"
    if isinstance(node, Str):
        return "string"
    if isinstance(node, Prop):
        return "value"
    if isinstance(node, Unary):
        return "bool" if node.op == "not" else "number"
    if isinstance(node, Call):
        return "bool" if node.name == "is_missing" else "number"
    return "bool" if node.op in ("and", "or", *_COMPARE) else "number"


def _collect(node: Node, props: set[str], machines: set[str]) -> None:
    if isinstance(node, Prop):
        props.add(node.name)
        if node.machine is not None:
            machines.add(node.machine)
    elif isinstance(node, Unary):
        _collect(node.operand, props, machines)
    elif isinstance(node, Binary):
        _collect(node.left, props, machines)
        _collect(node.right, props, machines)
    elif isinstance(node, Call):
        for arg in node.args:
            _collect(arg, props, machines)


def _reads_age(node: Node) -> bool:
    if isinstance(node, Call):
        return node.name == "age" or any(_reads_age(arg) for arg in node.args)
    if isinstance(node, Unary):
        return _reads_age(node.operand)
    if isinstance(node, Binary):
        return _reads_age(node.left) or _reads_age(node.right)
    return False


def _what(kind: Type) -> str:
    return {"bool": "a condition", "string": "a string"}.get(kind, "a number")


def _nan(n: int) -> F64:
    return np.full(n, np.nan, dtype=np.float64)


def _truthy(v: F64) -> Bools:
    out: Bools = (v != 0.0) & ~np.isnan(v)
    return out


# ---- properties --------------------------------------------------------------------------


def _machine_row(store: StoreView, machine: str, cache: list[object]) -> int:
    """Row of ``machine`` in the store, cached for as long as the store's id tuple lives."""
    ids = store.machine_ids
    if cache[0] is not ids:
        cache[0] = ids
        cache[1] = ids.index(machine) if machine in ids else -1
    row = cache[1]
    assert isinstance(row, int)
    return row


def _raw(node: Prop) -> NumFn:
    """The stored values of a property (enum indices and string codes included)."""
    name, machine = node.name, node.machine
    if machine is None:

        def local(store: StoreView, now: float) -> F64:
            col = store.column(name)
            return col if col is not None else _nan(store.n_machines)

        return local
    cache: list[object] = [None, -1]

    def other(store: StoreView, now: float) -> F64:
        row = _machine_row(store, machine, cache)
        col = store.column(name)
        value = np.nan if col is None or row < 0 else col[row]
        return np.full(store.n_machines, value, dtype=np.float64)

    return other


def _numeric(node: Prop) -> NumFn:
    """A property as a number: enum and string properties read as missing."""
    raw, name = _raw(node), node.name

    def f(store: StoreView, now: float) -> F64:
        spec = store.prop(name)
        if spec is None or spec.kind in _CODED:
            return _nan(store.n_machines)
        return raw(store, now)

    return f


def _age(node: Prop) -> NumFn:
    name, machine = node.name, node.machine
    cache: list[object] = [None, -1]

    def f(store: StoreView, now: float) -> F64:
        n = store.n_machines
        if store.prop(name) is None:
            return _nan(n)
        ages = store.age(now, name)
        if machine is None:
            return ages
        row = _machine_row(store, machine, cache)
        return np.full(n, ages[row] if row >= 0 else np.nan, dtype=np.float64)

    return f


# ---- numbers -----------------------------------------------------------------------------


def _num(node: Node) -> NumFn:
    """Compile a node that must be a number."""
    if isinstance(node, Num):
        v = node.value
        return lambda store, now: np.full(store.n_machines, v, dtype=np.float64)
    if isinstance(node, Prop):
        return _numeric(node)
    kind = type_of(node)
    if kind != "number":
        raise ExprError(f"expected a number, got {_what(kind)}", column_of(node))
    if isinstance(node, Unary):
        x = _num(node.operand)
        return lambda store, now: -x(store, now)
    if isinstance(node, Call):
        return _call(node)
    assert isinstance(node, Binary)
    for side in (node.left, node.right):
        side_kind = type_of(side)
        if side_kind in ("bool", "string"):
            raise ExprError(f"'{node.op}' needs numbers, got {_what(side_kind)}", column_of(side))
    a, b, op = _num(node.left), _num(node.right), node.op
    if op == "+":
        return lambda store, now: a(store, now) + b(store, now)
    if op == "-":
        return lambda store, now: a(store, now) - b(store, now)
    if op == "*":
        return lambda store, now: a(store, now) * b(store, now)
    divide = np.divide if op == "/" else np.mod

    def quotient(store: StoreView, now: float) -> F64:
        x, y = a(store, now), b(store, now)
        out = _nan(x.shape[0])
        divide(x, y, out=out, where=y != 0.0)
        return out

    return quotient


def _call(node: Call) -> NumFn:
    name, args = node.name, node.args
    if name == "age":
        if not args:
            return lambda store, now: store.age(now)
        if not isinstance(args[0], Prop):
            raise ExprError("age() takes a property name", column_of(args[0]))
        return _age(args[0])
    fns = [_num(arg) for arg in args]
    if name == "abs":
        (x,) = fns
        return lambda store, now: np.abs(x(store, now))
    if name == "min":
        a, b = fns
        return lambda store, now: np.minimum(a(store, now), b(store, now))
    if name == "max":
        a, b = fns
        return lambda store, now: np.maximum(a(store, now), b(store, now))
    assert name == "clamp", name
    x, lo, hi = fns
    return lambda store, now: np.minimum(np.maximum(x(store, now), lo(store, now)), hi(store, now))


# ---- conditions --------------------------------------------------------------------------


def _cond(node: Node) -> BoolFn:
    """Compile a node that must be a condition (a property counts: present and non-zero)."""
    if isinstance(node, Bool):
        flag = node.value
        return lambda store, now: np.full(store.n_machines, flag, dtype=np.bool_)
    if isinstance(node, Prop):
        numeric = _numeric(node)
        return lambda store, now: _truthy(numeric(store, now))
    kind = type_of(node)
    if kind != "bool":
        raise ExprError(f"expected a condition, got {_what(kind)}", column_of(node))
    if isinstance(node, Unary):
        x = _cond(node.operand)
        return lambda store, now: ~x(store, now)
    if isinstance(node, Call):
        if not isinstance(node.args[0], Prop):
            raise ExprError("is_missing() takes a property name", column_of(node.args[0]))
        raw = _raw(node.args[0])
        return lambda store, now: np.isnan(raw(store, now))
    assert isinstance(node, Binary)
    if node.op in ("and", "or"):
        a, b = _cond(node.left), _cond(node.right)
        if node.op == "and":
            return lambda store, now: a(store, now) & b(store, now)
        return lambda store, now: a(store, now) | b(store, now)
    return _compare(node)


_UFUNCS: dict[str, np.ufunc] = {
    "==": np.equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _differs(a: F64, b: F64) -> Bools:
    """``a != b``, false where either side is missing."""
    out: Bools = np.less(a, b) | np.greater(a, b)
    return out


def _comparison(op: str, x: NumFn, y: NumFn) -> BoolFn:
    if op == "!=":
        return lambda store, now: _differs(x(store, now), y(store, now))
    ufunc = _UFUNCS[op]
    return lambda store, now: ufunc(x(store, now), y(store, now))


def _compare(node: Binary) -> BoolFn:
    op, left, right = node.op, node.left, node.right
    lk, rk = type_of(left), type_of(right)
    if "string" in (lk, rk):
        return _compare_string(node, lk)
    if "bool" in (lk, rk):
        if op not in ("==", "!="):
            raise ExprError(f"conditions cannot be ordered with '{op}'", node.col)
        if "number" in (lk, rk):
            raise ExprError("cannot compare a condition with a number", node.col)
        return _comparison(op, _as_float(left), _as_float(right))
    if isinstance(left, Prop) and isinstance(right, Prop) and op in ("==", "!="):
        # stored values, so an enum compares with the same enum of another machine
        return _comparison(op, _raw(left), _raw(right))
    return _comparison(op, _num(left), _num(right))


def _as_float(node: Node) -> NumFn:
    if type_of(node) == "bool" and not isinstance(node, Prop):
        c = _cond(node)
        return lambda store, now: c(store, now).astype(np.float64)
    return _num(node)


def _compare_string(node: Binary, left_kind: Type) -> BoolFn:
    lit, other = (node.left, node.right) if left_kind == "string" else (node.right, node.left)
    assert isinstance(lit, Str)
    if not isinstance(other, Prop):
        raise ExprError(
            'a string can only be compared with a property, e.g. state == "RUNNING"', lit.col
        )
    if node.op not in ("==", "!="):
        raise ExprError(f"strings can only be compared with == or !=, not '{node.op}'", node.col)
    raw, name, text, equal = _raw(other), other.name, lit.value, node.op == "=="

    def f(store: StoreView, now: float) -> Bools:
        col = raw(store, now)
        code = store.code(name, text)
        if code is None:  # not a value of this property: never equal, differs where present
            return np.zeros(col.shape[0], np.bool_) if equal else ~np.isnan(col)
        value = np.full(col.shape[0], code, dtype=np.float64)
        return np.equal(col, value) if equal else _differs(col, value)

    return f
