"""Training over the hub: progress to experts, expert control, results stored in SQLite."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from xrclient.core import session_roles as roles
from xrclient.core.run_result import Event, RunResult, StepResult
from xrclient.core.session_mirror import Notice
from xrclient.net.session_client import RequestRefused, SessionClient
from xrclient.training.results import read_results

from .helpers import client, raw, recv_until, running_hub, send, token, wait_until


def result(trainee: str = "someone else", score: float = 80.0) -> RunResult:
    step = StepResult("a", "done", 1, 4.0, 1, 0, 0, 0, 0, 0)
    return RunResult(
        "lockout-press-b3", "Lock out", trainee, "run-1", 1.7e9, 1.7e9 + 60, "completed",
        score, True, 75.0, 0, (step,), (Event(1.7e9 + 2, "wrong_machine", "a", "CNV-A3"),),
    )  # fmt: skip


def notices(c: SessionClient, kind: str, timeout: float = 5.0) -> Notice:
    got: list[Notice] = []

    def seen() -> bool:
        got.extend(n for n in c.drain_notices() if n.kind == kind)
        return bool(got)

    wait_until(seen, timeout, kind)
    return got[0]


def progress(step: int = 1, status: str = "running") -> dict[str, object]:
    return {
        "procedure": "lockout-press-b3",
        "step": step,
        "step_id": "notify",
        "status": status,
        "completed": 1,
        "count": 5,
        "text": "Tell the operators",
    }


def test_progress_reaches_experts_and_experts_control_trainees(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        with (
            client(hub, token("plant", "tess", "trainee")) as trainee,
            client(hub, token("plant", "oli", "operator")) as operator,
        ):
            wait_until(lambda: trainee.room().you is not None and operator.room().you is not None)
            tid = trainee.room().you
            assert tid is not None
            trainee.request("tr_progress", **progress(), score=90.0).result(5)
            with client(hub, token("plant", "ana", "expert")) as expert:
                # the latest progress is handed to an expert who joins later
                seen = notices(expert, "training_progress")
                assert seen.pid == tid and seen.data["step_id"] == "notify"
                assert seen.data["completed"] == 1 and seen.data["score"] == 90.0
                trainee.request("tr_progress", **progress(2)).result(5)
                assert notices(expert, "training_progress").data["step"] == 2
                assert expert.control_trainee(tid, "advance").result(5).code == ""
                ctl = notices(trainee, "training_control")
                assert ctl.data == {"action": "advance", "name": "ana"}
                assert ctl.pid == expert.room().you
                with pytest.raises(RequestRefused, match="not_found"):
                    expert.control_trainee(99999, "reset_step").result(5)
            time.sleep(0.1)
            assert not [n for n in operator.drain_notices() if n.kind.startswith("training")]


def test_only_experts_control_and_read_and_trainees_report_only_themselves(
    tmp_path: Path,
) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        with raw(hub, token("plant", "tess", "trainee")) as ws:
            welcome = recv_until(ws, "welcome")
            send(ws, {"t": "tr_control", "id": 1, "target": welcome["you"], "action": "advance"})
            assert recv_until(ws, "error")["code"] == "forbidden"
            send(ws, {"t": "tr_results", "id": 2})
            assert recv_until(ws, "error")["code"] == "forbidden"
            # no field says whose progress it is: it is always the sender's
            send(ws, {"t": "tr_progress", "id": 3, **progress(), "pid": 7})
            assert recv_until(ws, "error")["code"] == "bad_request"
            for bad in (
                {**progress(), "step": 9},
                {**progress(), "status": "won"},
                {**progress(), "procedure": "x y"},
                {**progress(), "score": -1},
            ):
                send(ws, {"t": "tr_progress", "id": 4, **bad})
                assert recv_until(ws, "error")["code"] == "bad_request"
            send(ws, {"t": "tr_result", "id": 5, "result": {"score": 100}})
            err = recv_until(ws, "error")
            assert err["code"] == "bad_request" and err["id"] == 5
        with raw(hub, token("plant", "vic", "observer")) as ws:
            recv_until(ws, "welcome")
            send(ws, {"t": "tr_progress", "id": 1, **progress()})
            assert recv_until(ws, "error")["code"] == "forbidden"
    assert roles.allowed(roles.Role.EXPERT, roles.Action.TRAIN_CONTROL)
    assert not roles.allowed(roles.Role.OPERATOR, roles.Action.TRAIN_CONTROL)


def test_results_are_acknowledged_after_commit_and_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    with running_hub(db) as hub, client(hub, token("plant", "tess", "trainee")) as trainee:
        wait_until(lambda: trainee.status.state == "live")
        reply = trainee.send_result(result()).result(5)
        assert reply.code == "" and reply.data["seq"] == 1
        # on disk when acknowledged: another connection to the file sees it
        stored = read_results(db)
        assert [(r.room, r.result.trainee, r.result.score) for r in stored] == [
            ("plant", "tess", 80.0)  # the token's name, not the one claimed
        ]
    with (
        running_hub(db) as hub,
        client(hub, token("plant", "ana", "expert")) as expert,
        client(hub, token("other", "bob", "expert"), room="other") as elsewhere,
    ):
        wait_until(lambda: expert.status.state == "live" and elsewhere.status.state == "live")
        found = expert.training_results().result(5).data["results"]
        assert len(found) == 1 and found[0]["seq"] == 1
        back = RunResult.from_dict(found[0]["result"])
        assert back == RunResult.from_dict({**result().to_dict(), "trainee": "tess"})
        assert expert.training_results(trainee="nobody").result(5).data["results"] == []
        assert elsewhere.training_results().result(5).data["results"] == []  # per room


def test_front_end_session_keeps_progress_and_hands_over_controls(tmp_path: Path) -> None:
    from xrclient.session import Session, SessionOptions

    with running_hub(tmp_path / "hub.sqlite") as hub:
        t_client = client(hub, token("plant", "tess", "trainee"))
        e_client = client(hub, token("plant", "ana", "expert"))
        trainee = Session(SessionOptions(hub.room_url("plant"), "unused"), client=t_client)
        expert = Session(SessionOptions(hub.room_url("plant"), "unused"), client=e_client)
        with trainee, expert:
            wait_until(lambda: t_client.status.state == e_client.status.state == "live")
            t_client.request("tr_progress", **progress()).result(5)

            def watched() -> bool:
                expert.update()
                return bool(expert.training)

            wait_until(watched)
            ((tid, seen),) = expert.training.items()
            assert tid == trainee.you and seen.data["step_id"] == "notify"
            e_client.control_trainee(tid, "restart").result(5)

            def told() -> bool:
                trainee.update()
                return bool(trainee._training_controls)

            wait_until(told)
            ctl = trainee.take_training_control()
            assert ctl is not None and ctl.data["action"] == "restart"
            assert trainee.take_training_control() is None
        expert.update()
