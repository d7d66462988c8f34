"""A trainee in a shared session: the procedure runs against the live simulator while an
expert on the hub follows each step and resets one; the result is stored by the hub,
survives a hub restart and is exported as xAPI statements."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xrclient.core.session_mirror import Notice
from xrclient.hub.background import HubThread
from xrclient.hub.config import HubConfig
from xrclient.net.session_client import SessionClient
from xrclient.net.twin_client import Backoff
from xrclient.training import TrainingRun, TrainingView, load_procedure
from xrclient.training.results import read_results
from xrclient.training.xapi import check_statement

from .helpers import LOCKOUT, SECRET, demo, hub_token
from .test_export_cli import main
from .test_simulator_trainee import control, drive, live, live_plant

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.3)


@contextmanager
def hub_on(db: Path) -> Iterator[HubThread]:
    hub = HubThread(HubConfig(db=db, secret=SECRET, port=0))
    hub.start()
    try:
        yield hub
    finally:
        hub.close()


def session(hub: HubThread, name: str, role: str) -> SessionClient:
    return SessionClient(hub.room_url("line-b"), hub_token(name, role), backoff=FAST)


class Expert:
    """Collects what the expert's client hears about trainees."""

    def __init__(self, client: SessionClient) -> None:
        self.client = client
        self.progress: list[Notice] = []
        self.results: list[Notice] = []

    def poll(self) -> None:
        for n in self.client.drain_notices():
            if n.kind == "training_progress":
                self.progress.append(n)
            elif n.kind == "training_result":
                self.results.append(n)


def test_expert_watches_a_trainee_and_results_survive_a_hub_restart(tmp_path: Path) -> None:
    scene, db = demo(), tmp_path / "hub.sqlite"
    run = TrainingRun.for_scene(load_procedure(LOCKOUT, scene), scene, trainee="tess")
    with (
        hub_on(db) as hub,
        session(hub, "tess", "trainee") as trainee,
        session(hub, "ana", "expert") as expert_client,
        live_plant() as (twin, store),
    ):
        expert = Expert(expert_client)
        reported: list[tuple[int, int, str]] = []

        def report(view: TrainingView) -> None:
            """What a front end does each frame: report changes, obey the expert."""
            key = (view.step_index, view.completed, view.status)
            if trainee.status.state == "live" and (not reported or reported[-1] != key):
                trainee.report_progress(view, run.result().score).result(5)
                reported.append(key)
            for n in trainee.drain_notices():
                if n.kind == "training_control":
                    run.apply_control(n.data["action"], by=n.data["name"])
            expert.poll()

        def step(until: object) -> TrainingView:
            def check(view: TrainingView) -> bool:
                report(view)
                return until(view)  # type: ignore[operator, no-any-return]  # until is the polling helper; it returns the view it waited for

            return drive(run, twin, store, check)

        step(lambda v: live(twin, store) and expert_client.status.state == "live")
        assert run.select("PRS-B3")
        step(lambda v: any(p.data["step_id"] == "notify" for p in expert.progress))
        tess = expert.progress[-1].pid
        assert tess is not None and tess == trainee.room().you
        assert expert.progress[-1].data["completed"] == 1
        # the expert sends the trainee back to the start of the current step
        assert expert_client.control_trainee(tess, "reset_step").result(5).code == ""
        step(lambda v: run.records[1].attempts == 2)
        assert run.confirm()
        step(lambda v: v.step_id == "lock-out")
        control(twin, "set_state", machine="PRS-B3", state="LOCKED_OUT")
        step(lambda v: v.step_id == "verify")
        assert run.point_at("PRS-B3")
        view = step(lambda v: v.status == "completed")
        step(lambda v: expert.progress[-1].data["status"] == "completed")
        done = [p.data["completed"] for p in expert.progress]
        assert done == sorted(done) and {1, 2, 3, 5} <= set(done) and done[-1] == 5
        res = run.result()
        assert res.passed and res.score == 100.0 and view.completed == 5
        reply = trainee.send_result(res).result(5)
        assert reply.code == "" and reply.data["seq"] == 1
        step(lambda v: bool(expert.results))
        assert expert.results[0].data["passed"] is True and expert.results[0].pid == tess
    # a new hub on the same database
    with hub_on(db) as hub, session(hub, "ana", "expert") as expert_client:
        deadline = time.monotonic() + 10
        while expert_client.status.state != "live" and time.monotonic() < deadline:
            time.sleep(0.01)
        found = expert_client.training_results(trainee="tess").result(10).data["results"]
        assert [f["result"]["run_id"] for f in found] == [run.run_id]
    assert [r.result.trainee for r in read_results(db)] == ["tess"]
    out = tmp_path / "xapi.json"
    assert main(["training", "results", "--db", str(db), "--xapi", str(out)]) == 0
    statements = json.loads(out.read_text())
    assert all(check_statement(st) == [] for st in statements)
    assert statements[-1]["verb"]["display"]["en-US"] == "passed"
