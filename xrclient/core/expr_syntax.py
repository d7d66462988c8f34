"""The syntax of twin expressions: tokens, the parser and the syntax tree.

Grammar, loosest binding first::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?     # no chains
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/" | "%") unary)*
    unary    := "-" unary | primary
    primary  := NUMBER | STRING | "true" | "false" | "(" expr ")"
              | NAME "(" [expr ("," expr)*] ")"                        # function call
              | "machine" "(" STRING ")" "." NAME                     # another machine's value
              | NAME                                                  # a property

The text is bounded (``MAX_CHARS``, ``MAX_TOKENS``, ``MAX_DEPTH``) so that hostile input
costs little and never exhausts the stack. Types are checked by :mod:`xrclient.core.expr`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from xrclient.core.twin_schema import MACHINE_ID, PROPERTY_NAME

MAX_CHARS = 1000
MAX_DEPTH = 32
MAX_TOKENS = 256


class ExprError(ValueError):
    """An expression that does not parse or type-check; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} at column {column}")


# ---- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Num:
    col: int
    value: float


@dataclass(frozen=True, slots=True)
class Str:
    col: int
    value: str


@dataclass(frozen=True, slots=True)
class Bool:
    col: int
    value: bool


@dataclass(frozen=True, slots=True)
class Prop:
    col: int
    name: str
    machine: str | None = None  # machine("ID").name


@dataclass(frozen=True, slots=True)
class Unary:
    col: int
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    col: int
    op: str  # arithmetic, comparison, "and", "or"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    col: int
    name: str
    args: tuple[Node, ...]


Node = Num | Str | Bool | Prop | Unary | Binary | Call

# ---- tokens ------------------------------------------------------------------------------


class _Tok(NamedTuple):
    kind: str  # num, str, name, op, end
    text: str
    col: int


_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*')"
    r"|(?P<op>==|!=|<=|>=|[<>+\-*/%(),.])"
)
_ESCAPE = re.compile(r"\\(.)")
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")
_KEYWORDS = ("and", "or", "not", "true", "false")
FUNCTIONS: dict[str, tuple[int, int]] = {
    "abs": (1, 1),
    "age": (0, 1),
    "clamp": (3, 3),
    "is_missing": (1, 1),
    "max": (2, 2),
    "min": (2, 2),
}


def _show(text: str, limit: int = 40) -> str:
    """``text`` safe to print in a message: ASCII, escapes for the rest, cut at ``limit``."""
    shown = ascii(text)[1:-1] if not text.isprintable() or not text.isascii() else text
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def tokenize(text: str) -> list[_Tok]:
    """Split ``text`` into tokens; raises :class:`ExprError` on the first bad character."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"expression is {len(text)} characters (at most {MAX_CHARS})", 1)
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        col = pos + 1
        if m is None:
            if text[pos] in "\"'":
                raise ExprError("unterminated string", col)
            raise ExprError(f"unexpected character '{_show(text[pos])}'", col)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), col))
            if len(tokens) > MAX_TOKENS:
                raise ExprError(f"expression has more than {MAX_TOKENS} tokens", col)
        pos = m.end()
    tokens.append(_Tok("end", "", len(text) + 1))
    return tokens


# ---- parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.tokens[self.pos]

    def take(self) -> _Tok:
        tok = self.tokens[self.pos]
        if tok.kind != "end":  # the end token stays put: taking it again gets it again
            self.pos += 1
        return tok

    def at(self, *texts: str) -> bool:
        tok = self.tokens[self.pos]
        return tok.kind in ("op", "name") and tok.text in texts

    def unexpected(self, tok: _Tok) -> ExprError:
        if tok.kind == "end":
            return ExprError("unexpected end of expression", tok.col)
        return ExprError(f"unexpected '{_show(tok.text)}'", tok.col)

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            if tok.kind == "end":
                raise ExprError(f"expected '{text}' before the end", tok.col)
            raise ExprError(f"expected '{text}', got '{_show(tok.text)}'", tok.col)
        return tok

    def nest(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH} levels", col)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExprError("empty expression", 1)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise self.unexpected(tok)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at("or"):
            tok = self.take()
            node = Binary(tok.col, "or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.at("and"):
            tok = self.take()
            node = Binary(tok.col, "and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        if self.at("not"):
            tok = self.take()
            self.nest(tok.col)
            node: Node = Unary(tok.col, "not", self.parse_not())
            self.depth -= 1
            return node
        return self.parse_compare()

    def parse_compare(self) -> Node:
        node = self.parse_sum()
        if self.peek().kind == "op" and self.peek().text in _COMPARE:
            tok = self.take()
            node = Binary(tok.col, tok.text, node, self.parse_sum())
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text in _COMPARE:
                raise ExprError("comparisons cannot be chained; join them with 'and'", nxt.col)
        return node

    def parse_sum(self) -> Node:
        node = self.parse_product()
        while self.at("+", "-"):
            tok = self.take()
            node = Binary(tok.col, tok.text, node, self.parse_product())
        return node

    def parse_product(self) -> Node:
        node = self.parse_unary()
        while self.at("*", "/", "%"):
            tok = self.take()
            node = Binary(tok.col, tok.text, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.at("-"):
            tok = self.take()
            self.nest(tok.col)
            node: Node = Unary(tok.col, "-", self.parse_unary())
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            value = float(tok.text)
            if not math.isfinite(value):
                raise ExprError(f"number {tok.text[:20]} is out of range", tok.col)
            return Num(tok.col, value)
        if tok.kind == "str":
            return Str(tok.col, self.unquote(tok))
        if tok.kind == "op" and tok.text == "(":
            self.nest(tok.col)
            node = self.parse_or()
            self.expect(")")
            self.depth -= 1
            return node
        if tok.kind == "name":
            return self.parse_name(tok)
        raise self.unexpected(tok)

    def parse_name(self, tok: _Tok) -> Node:
        name = tok.text
        if name in ("true", "false"):
            return Bool(tok.col, name == "true")
        if name in _KEYWORDS:
            raise self.unexpected(tok)
        if self.at("("):
            if name == "machine":
                return self.parse_machine(tok)
            return self.parse_call(tok)
        if name in ("True", "False"):
            raise ExprError(f"unknown name '{name}' (write {name.lower()})", tok.col)
        if not PROPERTY_NAME.match(name):
            hint = (
                f'; enum values are strings: "{_show(name)}"'
                if name[:1].isupper()
                else " (property names are lower-case identifiers of up to 64 characters)"
            )
            raise ExprError(f"unknown name '{_show(name)}'{hint}", tok.col)
        return Prop(tok.col, name)

    def parse_call(self, tok: _Tok) -> Node:
        if tok.text not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            name = _show(tok.text)
            raise ExprError(f"unknown function '{name}' (known: {known}, machine)", tok.col)
        open_ = self.expect("(")
        self.nest(open_.col)
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.parse_or())
            while self.at(","):
                self.take()
                args.append(self.parse_or())
        self.expect(")")
        self.depth -= 1
        lo, hi = FUNCTIONS[tok.text]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} or {hi}"
            plural = "" if want == "1" else "s"
            raise ExprError(f"{tok.text}() takes {want} argument{plural}, got {len(args)}", tok.col)
        return Call(tok.col, tok.text, tuple(args))

    def parse_machine(self, tok: _Tok) -> Node:
        self.expect("(")
        arg = self.take()
        if arg.kind != "str":
            raise ExprError('machine() takes a machine id in quotes: machine("CNC-A1")', arg.col)
        machine = self.unquote(arg)
        if not MACHINE_ID.match(machine):
            raise ExprError(f"'{_show(machine)}' is not a machine id", arg.col)
        self.expect(")")
        dot = self.take()
        if dot.kind != "op" or dot.text != ".":
            raise ExprError('machine("ID") must be followed by .property', dot.col)
        prop = self.take()
        if prop.kind != "name":
            raise ExprError('machine("ID") must be followed by .property', prop.col)
        node = self.parse_name(prop)
        if not isinstance(node, Prop):
            raise ExprError('machine("ID") must be followed by .property', prop.col)
        return Prop(tok.col, node.name, machine)

    @staticmethod
    def unquote(tok: _Tok) -> str:
        body = tok.text[1:-1]
        for m in _ESCAPE.finditer(body):
            if m.group(1) not in "\\\"'":
                raise ExprError(
                    f"unsupported escape '\\{_show(m.group(1))}' in string", tok.col + m.start() + 1
                )
        return _ESCAPE.sub(r"\1", body)


def parse(text: str) -> Node:
    """The syntax tree of ``text``; raises :class:`ExprError`."""
    if not isinstance(text, str):
        raise ExprError("expected the expression as a string", 1)
    return _Parser(text).parse()


def column_of(node: Node) -> int:
    """The column where the text of ``node`` starts (for error messages)."""
    while isinstance(node, Binary):
        node = node.left
    return node.col
