"""An expert's side of training in the viewer, over a real hub: the trainee's front end (a
``TrainingDriver`` in a real ``Session``) reports each step; the expert's ``TrainingLink``
lists the trainee, advances and restarts the run; the result is stored by the hub."""

from __future__ import annotations

import time
from pathlib import Path

from tests.hub.helpers import running_hub, token, wait_until
from tests.training.helpers import LOCKOUT, demo, store_for
from xrclient.desktop.training_link import TrainingLink
from xrclient.session import Session, SessionOptions
from xrclient.training import load_procedure
from xrclient.training.driver import TrainingDriver

OUTSIDE = (30.0, 1.7, 30.0)


def test_an_expert_picks_a_trainee_advances_and_restarts_the_run(tmp_path: Path) -> None:
    scene = demo()
    store = store_for(scene)  # every machine IDLE: the live conditions never hold
    with running_hub(tmp_path / "hub.sqlite") as hub:
        trainee = Session(SessionOptions(hub.room_url("plant"), token(name="tess", role="trainee")))
        expert = Session(SessionOptions(hub.room_url("plant"), token(name="eddie", role="expert")))
        with trainee, expert:
            driver = TrainingDriver.for_scene(
                load_procedure(LOCKOUT, scene), scene, "tess", trainee
            )
            # no procedure of its own: no GL needed for the expert's side
            link = TrainingLink(scene, None, None, None, None, "eddie", expert)  # type: ignore[arg-type]  # the links the test does not use are None
            said: list[str] = []

            def pump() -> None:
                now = time.time()
                trainee.update(now)
                expert.update(now)
                driver.frame(store, now, OUTSIDE)
                said.extend(link.frame(None, now, (0.0, 0.0, 0.0), None, None))

            def until(predicate: object, what: str) -> None:
                def check() -> bool:
                    pump()
                    return bool(predicate())  # type: ignore[operator]  # predicate is a zero-argument callable

                wait_until(check, 10, what)

            assert link.request("tr_advance", 0.0, None, None) == (
                "no trainee in the room is running a procedure"
            )
            until(lambda: expert.training, "tess's progress at the expert")
            assert link.request("tr_watch", 0.0, None, None) == "watching tess"
            lines = [line.text for line in link.hud_lines()]
            assert lines[-1] == "> tess: lockout-press-b3 step 1 of 5, score 100"
            assert link.request("tr_advance", 0.0, None, None) == "tess: advance sent"
            until(lambda: driver.view is not None and driver.view.step_index == 1, "advanced")
            assert "eddie: advance" in driver.said  # told to the trainee
            until(
                lambda: link.hud_lines()[-1].text.startswith("> tess: lockout-press-b3 step 2"),
                "the new step at the expert",
            )
            assert link.request("tr_restart_trainee", 0.0, None, None) == "tess: restart sent"
            until(lambda: driver.run.restarts == 1, "the restart")
            assert driver.view is not None and driver.view.step_index == 0
            # the expert skips every step: the run completes, scored, and the hub stores it
            for k in range(5):
                link.request("tr_advance", 0.0, None, None)
                until(
                    lambda k=k: driver.view is not None and driver.view.completed > k,
                    f"step {k + 1} skipped",
                )
            until(lambda: driver.result_seq is not None, "the stored result")
            result = driver.run.result()
            assert result.status == "completed" and result.score == 50.0 and not result.passed
            until(
                lambda: expert.training[min(expert.training)].data["status"] == "completed",
                "the end at the expert",
            )
    assert said == [], said  # every request was acknowledged: nothing to report
