"""Results in SQLite, xAPI statements and the ``procedure`` / ``training`` commands."""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from xrclient.commands import training as training_cli
from xrclient.core.run_result import RunResult
from xrclient.training import TrainingRun, load_procedure
from xrclient.training.results import SCHEMA, insert, read_results
from xrclient.training.xapi import VERBS, check_statement, statements

from .helpers import JAM, LOCKOUT, demo, set_state, set_value, store_for

T0 = 1_760_000_000.0


def finished_run(trainee: str = "tess", errors: bool = True) -> RunResult:
    store, scene = store_for(demo()), demo()
    run = TrainingRun.for_scene(load_procedure(LOCKOUT, scene), scene, trainee=trainee)
    run.update(store, T0)
    if errors:
        run.select("CNV-A3", T0 + 2)
    run.select("PRS-B3", T0 + 4)
    run.confirm(T0 + 6)
    set_state(store, "PRS-B3", "LOCKED_OUT")
    set_value(store, "PRS-B3", "power_kw", 0.0)
    run.update(store, T0 + 30)
    run.point_at("PRS-B3", T0 + 31)
    run.update(store, T0 + 32)
    assert run.status == "completed"
    return run.result()


def main(argv: list[str]) -> int | None:
    parser = argparse.ArgumentParser(prog="xrclient")
    training_cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return training_cli.run(parser.parse_args(argv))


def test_xapi_statements_have_the_documented_fields() -> None:
    result = finished_run()
    stmts = statements(result)
    text = json.dumps(stmts)  # plain JSON, no NaN
    stmts = json.loads(text)
    assert [s["verb"]["id"] for s in stmts] == [VERBS["attempted"]] + [VERBS["completed"]] * 5 + [
        VERBS["passed"]
    ]
    for s in stmts:
        assert check_statement(s) == [], s
        assert s["actor"]["account"]["name"] == "tess"
        assert s["context"]["registration"] == result.run_id
    final = stmts[-1]
    assert final["object"]["id"].endswith("/procedures/lockout-press-b3")
    assert final["object"]["definition"]["name"]["en-US"] == result.title
    res = final["result"]
    assert res["score"] == {"scaled": 0.9, "raw": 90.0, "min": 0, "max": 100}
    assert res["success"] is True and res["completion"] is True
    assert res["duration"] == "PT32.00S"
    errors = next(v for k, v in res["extensions"].items() if k.endswith("/errors"))
    assert [(e["kind"], e["detail"]) for e in errors] == [("wrong_machine", "CNV-A3")]
    first_step = stmts[1]
    assert first_step["object"]["id"].endswith("/steps/find-press")
    assert first_step["context"]["contextActivities"]["parent"][0]["id"] == final["object"]["id"]
    assert first_step["result"]["duration"] == "PT4.00S"
    assert first_step["timestamp"].startswith("2025-10-09T") and final["timestamp"].endswith(
        "+00:00"
    )
    assert statements(result) == statements(result)  # stable ids


def test_check_statement_reports_broken_structure() -> None:
    good = statements(finished_run())[-1]
    assert check_statement([]) == ["a statement must be a JSON object"]
    broken = json.loads(json.dumps(good))
    broken["id"] = "nope"
    broken["verb"]["id"] = "passed"
    broken["result"]["score"]["scaled"] = 1.5
    broken["result"]["duration"] = "32 s"
    broken["timestamp"] = "2025-10-09 12:00"
    del broken["actor"]["account"]
    assert check_statement(broken) == [
        "id is not a UUID",
        "actor must be an Agent with exactly one identifier",
        "verb.id is not an IRI",
        "timestamp has no time zone",
        "result.score.scaled outside -1..1",
        "result.duration is not an ISO 8601 duration",
    ]


def test_results_round_trip_through_sqlite_and_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA)
    first, second = finished_run("tess"), finished_run("tom", errors=False)
    with conn:
        insert(conn, "line-b", first)
        insert(conn, "line-b", second)
        insert(conn, "line-b", first)  # the same run again replaces it
    conn.close()
    rows = read_results(db)
    assert [(r.room, r.result.trainee) for r in rows] == [("line-b", "tess"), ("line-b", "tom")]
    assert rows[0].result == first and rows[1].result.score == 100.0
    out = tmp_path / "out.json"
    assert (
        main(["training", "results", "--db", str(db), "--trainee", "tom", "--xapi", str(out)]) == 0
    )
    stmts = json.loads(out.read_text())
    assert len(stmts) == 7 and {s["actor"]["name"] for s in stmts} == {"tom"}
    assert all(check_statement(s) == [] for s in stmts)
    assert main(["training", "results", "--db", str(tmp_path / "none.sqlite")]) == 1


def test_procedure_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = Path(demo().source)
    assert main(["procedure", "check", str(LOCKOUT), str(JAM), "--scene", str(scene)]) == 0
    out = capsys.readouterr().out
    assert "ok: lockout-press-b3: 5 steps, 2 hazard zones" in out
    assert "ok: clear-jam-conveyor-a3: 5 steps, 1 hazard zone\n" in out
    bad = tmp_path / "bad.toml"
    shutil.copytree(LOCKOUT.parent / "img", tmp_path / "img")  # the steps' images
    bad.write_text(LOCKOUT.read_text().replace('machine = "RBT-B2"', 'machine = "RBT-Z9"'))
    assert main(["procedure", "check", str(LOCKOUT), str(bad), "--scene", str(scene)]) == 1
    err = capsys.readouterr().err
    assert "bad.toml:21: hazards[0].machine: no machine 'RBT-Z9' in the scene" in err
    assert main(["procedure", "check", str(bad)]) == 0  # no scene: ids are not checked


def test_result_maps_from_the_network_are_checked_field_by_field() -> None:
    run = finished_run()
    good = run.to_dict()
    assert RunResult.from_dict(json.loads(json.dumps(good))) == run

    def broken(path: tuple[object, ...], value: object) -> dict[str, object]:
        doc = json.loads(json.dumps(good))
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc  # type: ignore[no-any-return]  # json.loads returns Any; the export is a JSON object

    cases = [
        (("score",), "abc"),
        (("score",), 101.0),
        (("score",), float("nan")),
        (("passed",), 1),
        (("trainee",), ["x"]),
        (("title",), "x" * 2001),
        (("status",), "won"),
        (("restarts",), -1),
        (("extra",), 1),
        (("steps",), {}),
        (("steps", 0, "attempts"), 1.5),
        (("steps", 0, "status"), "great"),
        (("steps", 0, "id"), KeyError),
        (("events", 0, "kind"), "teleported"),
        (("events", 0, "t"), None),
        (("run_id",), KeyError),
    ]
    for path, value in cases:
        with pytest.raises(ValueError, match="malformed result"):
            RunResult.from_dict(broken(path, value))
    with pytest.raises(ValueError):
        RunResult.from_dict([])
