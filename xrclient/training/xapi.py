"""Training results as xAPI statements (JSON) for learning record stores.

Per run: one ``attempted`` statement for the procedure, one per step reached
(``completed``, ``failed`` or ``skipped``), and one ``passed`` or ``failed`` statement for
the procedure carrying the score. The fields are documented in ``docs/training.md``;
:func:`check_statement` verifies the structure the xAPI 1.0.3 specification requires of the
parts used here.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from typing import Any

from xrclient.core.run_result import RunResult, StepResult

VERBS = {
    "attempted": "http://adlnet.gov/expapi/verbs/attempted",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "passed": "http://adlnet.gov/expapi/verbs/passed",
    "failed": "http://adlnet.gov/expapi/verbs/failed",
    "skipped": "http://id.tincanapi.com/verb/skipped",
}
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"
INTERACTION = "http://adlnet.gov/expapi/activities/interaction"
DEFAULT_BASE = "https://xrclient.invalid/training"
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_DURATION = re.compile(r"^PT(\d+(\.\d+)?S)$")
_NS = uuid.UUID("5d0b9d3e-6f8c-4a53-9a5e-1c1f6a0b7e21")


def iso_duration(seconds: float) -> str:
    return f"PT{max(0.0, seconds):.2f}S"


def iso_time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


def _registration(run_id: str) -> str:
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_NS, run_id))


def statements(
    result: RunResult, *, base: str = DEFAULT_BASE, home_page: str = DEFAULT_BASE
) -> list[dict[str, Any]]:
    """The statements for one run (ids are stable: exporting twice gives the same ids)."""
    actor = {
        "objectType": "Agent",
        "name": result.trainee,
        "account": {"homePage": home_page, "name": result.trainee or "anonymous"},
    }
    procedure = {
        "objectType": "Activity",
        "id": f"{base}/procedures/{result.procedure_id}",
        "definition": {"name": {"en-US": result.title}, "type": ASSESSMENT},
    }
    registration = _registration(result.run_id)
    ext = f"{base}/extensions"
    out: list[dict[str, Any]] = []

    def add(
        verb: str, obj: dict[str, Any], t: float, res: dict[str, Any] | None, parent: bool
    ) -> None:
        stmt: dict[str, Any] = {
            "id": str(uuid.uuid5(_NS, f"{registration}/{len(out)}")),
            "actor": actor,
            "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
            "object": obj,
            "timestamp": iso_time(t),
            "context": {"registration": registration},
        }
        if parent:
            stmt["context"]["contextActivities"] = {"parent": [{"id": procedure["id"]}]}
        if res is not None:
            stmt["result"] = res
        out.append(stmt)

    add("attempted", procedure, result.started, None, False)
    ends = {e.step: e.t for e in result.events if e.kind.startswith("step_")}
    for step in result.steps:
        if step.status in ("pending", "active"):
            continue  # not reached, or still in progress
        verb = {"done": "completed", "skipped": "skipped"}.get(step.status, "failed")
        add(verb, _step_object(base, result, step), ends.get(step.id, result.finished),
            _step_result(ext, step), True)  # fmt: skip
    add(
        "passed" if result.passed else "failed",
        procedure,
        result.finished,
        {
            "score": {"scaled": result.score / 100.0, "raw": result.score, "min": 0, "max": 100},
            "success": result.passed,
            "completion": result.status == "completed",
            "duration": iso_duration(result.duration_s),
            "extensions": {
                f"{ext}/pass-score": result.pass_score,
                f"{ext}/restarts": result.restarts,
                f"{ext}/errors": [
                    {"kind": e.kind, "step": e.step, "detail": e.detail, "t": e.t}
                    for e in result.errors
                ],
            },
        },
        False,
    )
    return out


def _step_object(base: str, result: RunResult, step: StepResult) -> dict[str, Any]:
    return {
        "objectType": "Activity",
        "id": f"{base}/procedures/{result.procedure_id}/steps/{step.id}",
        "definition": {"name": {"en-US": step.id}, "type": INTERACTION},
    }


def _step_result(ext: str, step: StepResult) -> dict[str, Any]:
    return {
        "success": step.status == "done",
        "completion": step.status in ("done", "skipped"),
        "duration": iso_duration(step.duration_s),
        "extensions": {
            f"{ext}/status": step.status,
            f"{ext}/attempts": step.attempts,
            f"{ext}/wrong-machine": step.wrong_machine,
            f"{ext}/hazard-entries": step.hazard_entries,
            f"{ext}/hints": step.hints_used,
            f"{ext}/timeouts": step.timeouts,
        },
    }


def export(results: Iterable[RunResult], **kw: str) -> list[dict[str, Any]]:
    return [s for r in results for s in statements(r, **kw)]


def check_statement(stmt: object) -> list[str]:
    """Problems with one statement's structure (empty when it is valid)."""
    p: list[str] = []
    if not isinstance(stmt, dict):
        return ["a statement must be a JSON object"]
    for key in ("id", "actor", "verb", "object", "timestamp"):
        if key not in stmt:
            p.append(f"missing {key}")
    if p:
        return p
    try:
        uuid.UUID(str(stmt["id"]))
    except ValueError:
        p.append("id is not a UUID")
    actor = stmt["actor"]
    ifis = [k for k in ("mbox", "mbox_sha1sum", "openid", "account") if k in actor]
    if actor.get("objectType", "Agent") != "Agent" or len(ifis) != 1:
        p.append("actor must be an Agent with exactly one identifier")
    elif "account" in actor:
        acc = actor["account"]
        if not (_IRI.match(str(acc.get("homePage", ""))) and acc.get("name")):
            p.append("actor.account needs homePage (IRL) and name")
    verb = stmt["verb"]
    if not _IRI.match(str(verb.get("id", ""))):
        p.append("verb.id is not an IRI")
    obj = stmt["object"]
    if obj.get("objectType", "Activity") != "Activity" or not _IRI.match(str(obj.get("id", ""))):
        p.append("object must be an Activity with an IRI id")
    try:
        when = dt.datetime.fromisoformat(str(stmt["timestamp"]))
        if when.tzinfo is None:
            p.append("timestamp has no time zone")
    except ValueError:
        p.append("timestamp is not ISO 8601")
    res = stmt.get("result")
    if res is not None:
        score = res.get("score")
        if score is not None:
            scaled = score.get("scaled")
            if scaled is not None and not -1.0 <= scaled <= 1.0:
                p.append("result.score.scaled outside -1..1")
            if "raw" in score and not score.get("min", score["raw"]) <= score["raw"] <= score.get(
                "max", score["raw"]
            ):
                p.append("result.score.raw outside min..max")
        if "duration" in res and not _DURATION.match(str(res["duration"])):
            p.append("result.duration is not an ISO 8601 duration")
        for key in ("success", "completion"):
            if key in res and not isinstance(res[key], bool):
                p.append(f"result.{key} must be a boolean")
        for key in res.get("extensions", {}):
            if not _IRI.match(key):
                p.append(f"extension key {key!r} is not an IRI")
    ctx = stmt.get("context", {})
    if "registration" in ctx:
        try:
            uuid.UUID(str(ctx["registration"]))
        except ValueError:
            p.append("context.registration is not a UUID")
    return p
