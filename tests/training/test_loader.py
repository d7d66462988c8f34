"""Procedure files: the samples load against the demo plant; bad files fail precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from xrclient.training import (
    ProcedureError,
    load_procedure,
    parse_procedure,
    procedure_path,
    shipped_procedures,
)
from xrclient.training.loader import locate

from .helpers import JAM, LOCKOUT, PROCEDURES, demo

GOOD = """format = 1

[procedure]
id = "p"
title = "T"

[[hazards]]
id = "z"
shape = "box"
machine = "RBT-B2"
size = [2, 2, 2]

[[steps]]
id = "a"
text = "Select the press"
machine = "PRS-B3"
complete = "select"

[[steps]]
id = "b"
text = "Lock it out"
machine = "PRS-B3"
complete = "condition"
condition = 'state == "LOCKED_OUT"'
"""


def test_every_sample_procedure_loads_against_the_demo_plant() -> None:
    files = sorted(PROCEDURES.glob("*.toml"))
    assert LOCKOUT in files and JAM in files
    for file in files:
        p = load_procedure(file, demo())
        assert p.steps and p.source == file
    lockout = load_procedure(LOCKOUT, demo())
    assert "lock" in lockout.title.lower()
    assert [z.machine for z in lockout.hazards] == ["RBT-B2", "RBT-B3"]
    step = lockout.steps[lockout.step_index("lock-out")]
    assert step.condition is not None and step.condition.machines == {"PRS-B3"}
    assert step.time_limit_s == 300 and step.on_fail == "retry" and len(step.hints) == 2


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ('complete = "select"', 'complete = "click"', "test.toml:17: steps[0].complete",
         "expected one of select, point_at, confirm, condition, got 'click'"),
        ('condition = \'state == "LOCKED_OUT"\'', "condition = 'state == '",
         "test.toml:24: steps[1].condition", "column"),
        ('condition = \'state == "LOCKED_OUT"\'', "condition = 'power_kw + 1'",
         "test.toml:24: steps[1].condition", "expected a condition"),
        ('machine = "PRS-B3"\ncomplete = "select"', 'machine = "PRS-X9"\ncomplete = "select"',
         "test.toml:16: steps[0].machine", "no machine 'PRS-X9' in the scene"),
        ('size = [2, 2, 2]', "size = [2, 2]", "test.toml:11: hazards[0].size",
         "expected 3 numbers, got a list of 2"),
        ('size = [2, 2, 2]', "radius = 2", "test.toml:11: hazards[0].radius",
         "a box takes size"),
        ('id = "b"', 'id = "a"', "test.toml:20: steps[1].id", "duplicate id 'a'"),
        ('text = "Lock it out"', 'text = "Lock it out"\nwhen = 1',
         "test.toml:22: steps[1].when", "unknown key (allowed here:"),
        ('title = "T"', 'title = "T"\nowner = "x"', "test.toml:6: procedure.owner",
         "unknown key"),
        ('text = "Lock it out"', 'text = "Lock it out"\non_fail = "nowhere"',
         "test.toml:22: steps[1].on_fail", "expected next, retry, abort or a step id"),
        ('text = "Lock it out"', 'text = "Lock it out"\ntime_limit_s = -4',
         "test.toml:22: steps[1].time_limit_s", "expected a number from 0.1 to 86400"),
        ('text = "Lock it out"', 'text = "Lock it out"\nmedia = "../../etc/passwd.png"',
         "test.toml:22: steps[1].media", "relative path inside"),
        ('text = "Lock it out"', 'text = "Lock it out"\nhazards = ["nope"]',
         "test.toml:22: steps[1].hazards[0]", "no hazard zone 'nope'"),
        ("format = 1", "format = 2", "test.toml:1: format", "expected 1"),
        ('condition = \'state == "LOCKED_OUT"\'',
         "condition = 'machine(\"NOPE-1\").state == \"IDLE\"'",
         "test.toml:24: steps[1].condition", "no machine 'NOPE-1'"),
        ('machine = "PRS-B3"\ncomplete = "select"', 'complete = "select"',
         "test.toml:13: steps[0].machine", "required key is missing (complete = 'select')"),
    ],
)  # fmt: skip
def test_bad_procedures_name_line_key_path_and_fault(
    old: str, new: str, where: str, message: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    with pytest.raises(ProcedureError) as err:
        parse_procedure(text, "test.toml", demo())
    shown = str(err.value)
    assert shown.startswith(where), shown
    assert message in shown, shown


def test_syntax_errors_size_limits_and_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('format = 1\n[procedure\nid = "x"\n')
    with pytest.raises(ProcedureError, match=r"bad\.toml: TOML syntax error: .*line 2"):
        load_procedure(bad)
    bad.write_bytes(b"format = 1\n\xff\xfe")
    with pytest.raises(ProcedureError, match="not UTF-8 text"):
        load_procedure(bad)
    bad.write_bytes(b"#" * (2**20 + 1))
    with pytest.raises(ProcedureError, match="over the"):
        load_procedure(bad)
    with pytest.raises(ProcedureError, match="cannot read"):
        load_procedure(tmp_path / "missing.toml")
    empty = GOOD.split("[[hazards]]")[0]
    with pytest.raises(ProcedureError, match=r"steps: required key is missing"):
        parse_procedure(empty, "t.toml")


def test_media_must_exist_next_to_the_file(tmp_path: Path) -> None:
    text = GOOD.replace('text = "Lock it out"', 'text = "Lock it out"\nmedia = "img/die.png"')
    file = tmp_path / "p.toml"
    file.write_text(text)
    with pytest.raises(ProcedureError, match=r"p\.toml:22: steps\[1\]\.media: no such file"):
        load_procedure(file)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "die.png").write_bytes(b"\x89PNG")
    assert load_procedure(file).steps[1].media == tmp_path / "img" / "die.png"


def test_without_a_scene_machine_ids_are_not_checked() -> None:
    text = GOOD.replace('machine = "PRS-B3"', 'machine = "ELSEWHERE-1"', 1)
    assert parse_procedure(text).steps[0].machine == "ELSEWHERE-1"


def test_locate_finds_array_table_keys() -> None:
    assert locate(GOOD, "steps[1].condition") == 24
    assert locate(GOOD, "steps[1]") == 19
    assert locate(GOOD, "format") == 1
    assert locate(GOOD, "steps[7].id") is None


def test_procedures_are_found_by_name_or_path(tmp_path: Path) -> None:
    assert procedure_path("lockout-press-b3").samefile(LOCKOUT)
    assert procedure_path("clear-jam-conveyor-a3.toml").samefile(JAM)
    own = tmp_path / "mine.toml"
    own.write_text(GOOD)
    assert procedure_path(own) == own
    with pytest.raises(ProcedureError, match=r"nope: no such procedure .*lockout-press-b3"):
        procedure_path("nope")
    assert {p.stem for p in shipped_procedures()} >= {"lockout-press-b3", "clear-jam-conveyor-a3"}
