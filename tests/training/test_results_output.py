"""``xrclient training results`` prints what trainees sent, never what it does to a terminal."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from xrclient.training.results import SCHEMA, insert

from .test_export_cli import finished_run, main

HOSTILE = {
    "trainee": "eve\tline-b\tlockout\tcompleted\t100\tpassed\n\x1b[2J\x1b[Hroot",
    "procedure_id": "lockout\r\u202eevil\u200b",
    "title": "\x9b31m\x7f",
}


def test_hostile_strings_make_neither_rows_nor_columns_nor_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hub.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA)
    forged = dataclasses.replace(finished_run("tess"), **HOSTILE)
    honest = finished_run("tom", errors=False)
    with conn:
        insert(conn, "line-b", forged)
        insert(conn, "line-b\n\x1b]0;owned\x07", honest)
    conn.close()
    assert main(["training", "results", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2, lines
    assert all(line.count("\t") == 7 for line in lines), lines
    for bad in ("\x1b", "\r", "\x07", "\x7f", "\x9b", "\u202e", "\u200b"):
        assert bad not in out
    assert lines[0].startswith("line-b\teve\\tline-b\\tlockout")
    assert "\\x1b[2J" in lines[0] and "\\u202e" in lines[0]
    assert lines[1].startswith("line-b\\n\\x1b]0;owned\\x07\ttom\t")
