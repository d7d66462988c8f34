"""The twin expression language: parsing, type errors with columns, vectorised evaluation."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xrclient.core.expr import Expr, ExprError, compile_expr
from xrclient.core.expr_syntax import (
    MAX_CHARS,
    MAX_DEPTH,
    MAX_TOKENS,
    Binary,
    Bool,
    Call,
    Num,
    Prop,
    Str,
    Unary,
    parse,
)
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch

NAN = np.nan
NOW = 1_000.0
STATES = ("RUNNING", "IDLE", "FAULT")
IDS = ("M0", "M1", "M2", "M3", "M4")


def make_store() -> TwinStore:
    """Five machines with known values; M3 has never reported anything."""
    props = (
        PropertySpec("state", "enum", values=STATES),
        PropertySpec("temp", "number", "°C"),
        PropertySpec("door", "bool"),
        PropertySpec("code", "string"),
        PropertySpec("since", "time"),
    )
    store = TwinStore(IDS)
    store.set_schema(StreamSchema(IDS, props))
    store.value[:, 0] = [0, 1, 2, NAN, 0]
    store.value[:, 1] = [10, 20, NAN, NAN, 50]
    store.value[:, 2] = [1, 0, 1, NAN, NAN]
    store.value[:, 4] = [NOW - 60, NAN, NAN, NAN, NAN]
    store.source_time[:, :] = NOW - 3.0
    store.source_time[3, :] = NAN
    store.source_time[4, :] = NOW - 40.0
    return store


def ev(text: str, store: TwinStore | None = None) -> list[object]:
    out = compile_expr(text).evaluate(store or make_store(), NOW)
    return [None if isinstance(v, float) and np.isnan(v) else v for v in out.tolist()]


# ---- parsing ---------------------------------------------------------------------------


def test_precedence_of_arithmetic_and_unary_minus() -> None:
    assert parse("1 + 2 * 3") == Binary(
        3, "+", Num(1, 1.0), Binary(7, "*", Num(5, 2.0), Num(9, 3.0))
    )
    assert parse("-a * b") == Binary(4, "*", Unary(1, "-", Prop(2, "a")), Prop(6, "b"))
    assert parse("8 - 2 - 1") == Binary(
        7, "-", Binary(3, "-", Num(1, 8.0), Num(5, 2.0)), Num(9, 1.0)
    )
    assert ev("2 + 3 * 4 - 10 / 4 % 2") == [2 + 3 * 4 - (10 / 4) % 2] * 5
    assert ev("-(2 + 3) * -2") == [10.0] * 5


def test_precedence_of_logic() -> None:
    node = parse("not a > 1 and b or c")
    assert isinstance(node, Binary) and node.op == "or"
    assert isinstance(node.left, Binary) and node.left.op == "and"
    assert node.left.left == Unary(1, "not", Binary(7, ">", Prop(5, "a"), Num(9, 1.0)))
    assert ev("true or false and false") == [True] * 5
    assert ev("not false and false") == [False] * 5


def test_literals_strings_and_machine_references() -> None:
    assert parse("1.5e3") == Num(1, 1500.0)
    assert parse(".5") == Num(1, 0.5)
    assert parse("true") == Bool(1, True)
    assert parse(r'state == "a\"b\\c"') == Binary(7, "==", Prop(1, "state"), Str(10, 'a"b\\c'))
    assert parse("state == 'IDLE'") == Binary(7, "==", Prop(1, "state"), Str(10, "IDLE"))
    assert parse('machine("CNC-A1").temp') == Prop(1, "temp", "CNC-A1")
    assert parse("age()") == Call(1, "age", ())
    assert parse("clamp(x, 0, 1)") == Call(1, "clamp", (Prop(7, "x"), Num(10, 0.0), Num(13, 1.0)))


def test_compiled_expression_reports_kind_and_names() -> None:
    e = compile_expr('temp > 3 and machine("M1").state == "IDLE" or age(door) < 5')
    assert e.kind == "bool"
    assert e.properties == frozenset({"temp", "state", "door"})
    assert e.machines == frozenset({"M1"})
    assert compile_expr("temp * 2").kind == "number"
    assert compile_expr("temp").kind == "value"
    assert compile_expr("temp") == compile_expr("temp")  # compares by text and meaning


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"a" + 1', "'+' needs numbers, got a string at column 1"),
        ("1 + (b > 1)", "'+' needs numbers, got a condition at column 6"),
        ("true < 3", "conditions cannot be ordered with '<' at column 6"),
        ("(a > 1) == 3", "cannot compare a condition with a number at column 9"),
        (
            "foo(1)",
            "unknown function 'foo' (known: abs, age, clamp, is_missing, max, min, machine)",
        ),
        ("abs(1, 2)", "abs() takes 1 argument, got 2 at column 1"),
        ("clamp(1)", "clamp() takes 3 arguments, got 1 at column 1"),
        ("age(1, 2)", "age() takes 0 or 1 arguments, got 2 at column 1"),
        ("age(temp + 1)", "age() takes a property name at column 5"),
        ("is_missing(3)", "is_missing() takes a property name at column 12"),
        (
            '"a" == "b"',
            'a string can only be compared with a property, e.g. state == "RUNNING" at column 1',
        ),
        ('state < "IDLE"', "strings can only be compared with == or !=, not '<' at column 7"),
        ('"RUNNING"', "a string on its own is not a value"),
        (
            "state == RUNNING",
            "unknown name 'RUNNING'; enum values are strings: \"RUNNING\" at column 10",
        ),
        ("True", "unknown name 'True' (write true) at column 1"),
        ("a < b < c", "comparisons cannot be chained; join them with 'and' at column 7"),
        ("a == b != c", "comparisons cannot be chained; join them with 'and' at column 8"),
        ("not 3", "expected a condition, got a number at column 5"),
        ("1 and a", "expected a condition, got a number at column 1"),
        ("-(a > 1)", "expected a number, got a condition at column 3"),
        ("a +", "unexpected end of expression at column 4"),
        ("(a", "expected ')' before the end at column 3"),
        ("a)", "unexpected ')' at column 2"),
        ("1 2", "unexpected '2' at column 3"),
        ("x.y", "unexpected '.' at column 2"),
        ("and", "unexpected 'and' at column 1"),
        ("", "empty expression at column 1"),
        ("   ", "empty expression at column 1"),
        ("x == 'open", "unterminated string at column 6"),
        ('x == "a\\n"', "unsupported escape '\\n' in string at column 8"),
        ("temp > 3 ; drop", "unexpected character ';' at column 10"),
        ("tempé", "unexpected character '\\xe9' at column 5"),
        ("1e999 > 0", "number 1e999 is out of range at column 1"),
        ("machine(1).x", 'machine() takes a machine id in quotes: machine("CNC-A1") at column 9'),
        ('machine("a b").x', "'a b' is not a machine id at column 9"),
        ('machine("A")', 'machine("ID") must be followed by .property at column 13'),
        ('machine("A").', 'machine("ID") must be followed by .property at column 14'),
        ("__import__('os')", "unknown function '__import__'"),
        ("x.__class__", "unexpected '.' at column 2"),
    ],
)
def test_errors_name_the_fault_and_column(text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        compile_expr(text)
    assert str(info.value).startswith(message)
    assert info.value.column >= 1


def test_limits() -> None:
    deep = "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    assert ev(deep) == [1.0] * 5
    with pytest.raises(ExprError, match=f"nested deeper than {MAX_DEPTH} levels at column 33"):
        compile_expr("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExprError, match="nested deeper"):
        compile_expr("-" * 200 + "1")
    with pytest.raises(ExprError, match="nested deeper"):
        compile_expr("not " * 40 + "true")
    with pytest.raises(ExprError, match="nested deeper"):
        compile_expr("abs(" * 40 + "1" + ")" * 40)
    with pytest.raises(ExprError, match=f"more than {MAX_TOKENS} tokens"):
        compile_expr("+".join(["1"] * 200))
    with pytest.raises(ExprError, match=f"at most {MAX_CHARS}"):
        compile_expr("a" * (MAX_CHARS + 1))
    chain = "+".join(["temp"] * (MAX_TOKENS // 2))  # the longest left-nested chain allowed
    assert ev(chain)[0] == 10.0 * (MAX_TOKENS // 2)


def test_hostile_inputs_raise_only_expr_errors() -> None:
    words = 'and or not true machine age abs clamp min 1 2.5 1e3 x state "IDLE" é \x00'
    alphabet = [*"()+-*/%<>=!.,'\"\\ \n\t", *words.split(" ")]
    rng = random.Random(1234)
    store = make_store()
    compiled = 0
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            e = compile_expr(text)
        except ExprError as exc:
            assert 1 <= exc.column <= len(text) + 1
            continue
        compiled += 1
        out = e.evaluate(store, NOW)
        assert out.shape == (5,)
        assert out.dtype in (np.float64, np.bool_)
    assert compiled > 50  # the generator does produce valid expressions too


# ---- evaluation --------------------------------------------------------------------------


def test_enum_comparisons_resolve_through_the_store() -> None:
    assert ev('state == "RUNNING"') == [True, False, False, False, True]
    assert ev('"IDLE" == state') == [False, True, False, False, False]
    # a comparison with a missing value is false, != included
    assert ev('state != "RUNNING"') == [False, True, True, False, False]
    # a literal that is not a value of the enum: never equal, differs wherever present
    assert ev('state == "BOGUS"') == [False] * 5
    assert ev('state != "BOGUS"') == [True, True, True, False, True]
    # enums are not numbers
    assert ev("state > 0") == [False] * 5
    assert ev("state + 1") == [None] * 5


def test_string_properties_compare_with_interned_texts() -> None:
    store = make_store()
    e = compile_expr('code == "E-42"')
    assert e.evaluate(store, NOW).tolist() == [False] * 5  # text never seen yet
    assert store.schema is not None
    batch = UpdateBatch.build(store.schema, [0, 4], [3, 3], [0, 0], NOW, sent=NOW, texts=["E-42"])
    store.apply(batch, NOW)
    assert e.evaluate(store, NOW).tolist() == [True, False, False, False, True]


def test_missing_values_make_comparisons_false() -> None:
    assert ev("temp > 15") == [False, True, False, False, True]
    assert ev("temp <= 15") == [True, False, False, False, False]
    assert ev("temp != 20") == [True, False, False, False, True]
    assert ev("temp == temp") == [True, True, False, False, True]
    assert ev("not (temp > 15)") == [True, False, True, True, False]


def test_arithmetic_division_by_zero_is_missing_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ev("temp / (temp - 20)") == [-1.0, None, None, None, 50 / 30]
        assert ev("temp % 0") == [None] * 5
        assert ev("7 % 3") == [1.0] * 5
        assert ev("-7 % 3") == [2.0] * 5
        assert ev("1e300 * 1e300 > 0") == [True] * 5  # overflow to inf, silently
        assert ev("age() - age() > 0") == [False] * 5  # inf - inf is missing


def test_bools_conditions_and_truthiness() -> None:
    assert ev("door") == [1.0, 0.0, 1.0, None, None]
    assert ev("door == true") == [True, False, True, False, False]
    assert ev("door != false") == [True, False, True, False, False]
    assert ev("door and temp > 5") == [True, False, False, False, False]
    assert ev("not door") == [False, True, False, True, True]
    assert ev("(temp > 15) == door") == [False, False, False, False, False]
    assert ev("temp or door") == [True, True, True, False, True]
    assert compile_expr("temp - 10").truth(make_store(), NOW).tolist() == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert compile_expr("temp > 15").number(make_store(), NOW).tolist() == [0, 1, 0, 0, 1]


def test_functions() -> None:
    assert ev("abs(10 - temp)") == [0.0, 10.0, None, None, 40.0]
    assert ev("min(temp, 30)") == [10.0, 20.0, None, None, 30.0]
    assert ev("max(temp, 30)") == [30.0, 30.0, None, None, 50.0]
    assert ev("clamp(temp, 15, 45)") == [15.0, 20.0, None, None, 45.0]
    assert ev("is_missing(temp)") == [False, False, True, True, False]
    assert ev("is_missing(nothing)") == [True] * 5
    assert ev("age()") == [3.0, 3.0, 3.0, float("inf"), 40.0]
    assert ev("age(temp)") == [3.0, 3.0, 3.0, float("inf"), 40.0]
    assert ev("age(nothing)") == [None] * 5
    assert ev("age() > 30") == [False, False, False, True, True]
    assert ev("since") == [NOW - 60, None, None, None, None]
    assert ev("since < 1000 - 30") == [True, False, False, False, False]


def test_another_machines_value_is_broadcast() -> None:
    assert ev('machine("M1").temp') == [20.0] * 5
    assert ev('machine("M1").temp < temp') == [False, False, False, False, True]
    assert ev('machine("M4").state == state') == [True, False, False, False, True]
    assert ev('machine("M4").state == "RUNNING"') == [True] * 5
    assert ev('machine("M4").state != "RUNNING"') == [False] * 5
    assert ev('machine("M0").temp') == [10.0] * 5
    assert ev('age(machine("M4").temp)') == [40.0] * 5
    assert ev('machine("NOPE").temp') == [None] * 5
    assert ev('is_missing(machine("NOPE").temp)') == [True] * 5


def test_unknown_properties_read_as_missing_and_are_listed() -> None:
    store = make_store()
    e = compile_expr('pressure > 2 or temp > 45 or machine("M1").flow < 1')
    assert e.evaluate(store, NOW).tolist() == [False, False, False, False, True]
    assert e.unknown_properties(store) == frozenset({"pressure", "flow"})
    assert np.isnan(compile_expr("pressure").evaluate(store, NOW)).all()


def test_results_are_fresh_arrays() -> None:
    store = make_store()
    out = compile_expr("temp").evaluate(store, NOW)
    out[:] = -1.0
    assert store.value[0, 1] == 10.0


def test_before_any_schema_everything_is_missing() -> None:
    store = TwinStore(IDS)
    assert compile_expr("temp > 1 or door").evaluate(store, NOW).tolist() == [False] * 5
    assert compile_expr("age() > 5").evaluate(store, NOW).tolist() == [True] * 5
    assert compile_expr('state != "IDLE"').evaluate(store, NOW).tolist() == [False] * 5


def test_evaluation_scales_to_many_machines() -> None:
    n = 20_000
    ids = tuple(f"M{i}" for i in range(n))
    store = TwinStore(ids)
    store.set_schema(
        StreamSchema(
            ids, (PropertySpec("state", "enum", values=STATES), PropertySpec("temp", "number"))
        )
    )
    store.value[:, 0] = np.arange(n) % 3
    store.value[:, 1] = np.arange(n, dtype=np.float64)
    e: Expr = compile_expr('temp % 2 == 0 and state == "FAULT" or temp < 3')
    out = e.evaluate(store, NOW)
    expected = ((np.arange(n) % 2 == 0) & (np.arange(n) % 3 == 2)) | (np.arange(n) < 3)
    assert out.dtype == np.bool_ and np.array_equal(out, expected)


# ---- properties --------------------------------------------------------------------------

Tree = float | str | tuple[str, "Tree"] | tuple[str, "Tree", "Tree"]
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}
leaves = st.one_of(st.integers(0, 20).map(float), st.just("temp"))
trees: st.SearchStrategy[Tree] = st.recursive(
    leaves,
    lambda sub: st.one_of(
        st.tuples(st.just("neg"), sub),
        st.tuples(st.sampled_from(sorted(PRECEDENCE)), sub, sub),
    ),
    max_leaves=12,
)


def render(tree: Tree) -> tuple[str, int]:
    """Text with only the parentheses precedence needs, and the precedence of its top."""
    if isinstance(tree, float):
        return f"{tree:g}", 9
    if isinstance(tree, str):
        return tree, 9
    if len(tree) == 2:
        text, p = render(tree[1])
        return ("-" + (text if p >= 3 else f"({text})")), 3
    op, left, right = tree
    (lt, lp), (rt, rp), p = render(left), render(right), PRECEDENCE[op]
    lt = lt if lp >= p else f"({lt})"
    rt = rt if rp > p else f"({rt})"  # left-associative: equal precedence on the right nests
    return f"{lt} {op} {rt}", p


def reference(tree: Tree, temp: float) -> float:
    if isinstance(tree, float):
        return tree
    if isinstance(tree, str):
        return temp
    if len(tree) == 2:
        return -reference(tree[1], temp)
    op, left, right = tree
    a, b = reference(left, temp), reference(right, temp)
    if op in "/%" and b == 0.0:
        return NAN
    if op == "/":
        return a / b
    if op == "%":
        return a % b
    return a + b if op == "+" else a - b if op == "-" else a * b


@settings(max_examples=150, deadline=None)
@given(trees)
def test_arithmetic_follows_precedence_and_associativity(tree: Tree) -> None:
    text, _ = render(tree)
    out = compile_expr(text).number(make_store(), NOW)
    expected = [reference(tree, t) for t in (10.0, 20.0, NAN, NAN, 50.0)]
    assert np.allclose(out, expected, rtol=1e-9, atol=1e-12, equal_nan=True), text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_z019.()+-*/%<>=! '\"\\,é\x00")), max_size=40))
def test_arbitrary_text_compiles_or_raises_expr_error(text: str) -> None:
    try:
        e = compile_expr(text)
    except ExprError as exc:
        assert 1 <= exc.column <= len(text) + 1
        return
    assert e.evaluate(make_store(), NOW).shape == (5,)
