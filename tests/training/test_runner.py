"""The runner state machine driven by inputs and a real twin store, without sockets."""

from __future__ import annotations

import pytest

from xrclient.training import TrainingRun, load_procedure
from xrclient.training.runner import MAX_ATTEMPTS

from .helpers import LOCKOUT, demo, procedure, set_state, set_value, store_for

T0 = 1_760_000_000.0
OUTSIDE = (30.0, 1.7, 30.0)
IN_ROBOT_B2 = (-12.0, 1.7, -1.0)  # RBT-B2 stands at (-12, 0, -1.5)


def lockout_run() -> TrainingRun:
    return TrainingRun.for_scene(load_procedure(LOCKOUT, demo()), demo(), trainee="tess")


def test_lockout_procedure_step_by_step_with_errors_and_hazard() -> None:
    scene, store, run = demo(), store_for(demo()), lockout_run()
    view = run.update(store, T0, OUTSIDE)
    assert (view.status, view.step_id, view.completed, view.step_count) == (
        "running", "find-press", 0, 5,
    )  # fmt: skip
    assert view.target_machine == scene.machine_index["PRS-B3"]
    assert view.complete == "select" and view.time_left_s == 120.0
    assert run.select("CNV-A3", T0 + 3) is False
    view = run.update(store, T0 + 3.5, OUTSIDE)
    assert view.message == "Wrong machine: CNV-A3" and view.step_id == "find-press"
    assert run.select(len(scene.machines), T0 + 9) is False  # no such index: ignored
    assert run.select(scene.machine_index["PRS-B3"], T0 + 10)
    view = run.update(store, T0 + 11, OUTSIDE)
    assert (view.step_id, view.completed, view.complete) == ("notify", 1, "confirm")
    assert view.step_states[:2] == ("done", "active")
    # robots idle: their zones are inactive, so walking through one is no error
    view = run.update(store, T0 + 12, IN_ROBOT_B2)
    assert not any(z.active for z in view.zones) and view.warnings == ()
    set_state(store, "RBT-B2", "RUNNING")
    view = run.update(store, T0 + 13, IN_ROBOT_B2)
    b2 = view.zones[0]
    assert b2.id == "robot-b2-envelope" and b2.active and b2.inside
    assert b2.center == (-12.0, 0.0, -1.5) and b2.size == (2.0, 2.5, 2.0)
    assert view.warnings == (b2.message,)
    run.update(store, T0 + 14, IN_ROBOT_B2)  # staying inside is one entry
    view = run.update(store, T0 + 15, OUTSIDE)
    assert view.warnings == ()
    assert run.confirm(T0 + 16)
    assert run.select("PRS-B3", T0 + 17) is False  # the wrong input for a condition step
    view = run.update(store, T0 + 20, OUTSIDE)
    assert view.step_id == "lock-out" and view.part == "main disconnect"
    set_state(store, "PRS-B3", "LOCKED_OUT")  # still drawing power: not yet
    assert run.update(store, T0 + 21, OUTSIDE).step_id == "lock-out"
    set_value(store, "PRS-B3", "power_kw", 0.0)
    view = run.update(store, T0 + 25, OUTSIDE)
    assert view.step_id == "verify" and view.complete == "point_at"
    assert run.point_at("CNC-A1", T0 + 26) is False  # pointing elsewhere is no error
    assert run.point_at("PRS-B3", T0 + 27)
    view = run.update(store, T0 + 28, OUTSIDE)  # zero-energy holds at once
    assert view.status == "completed" and view.step_index == -1 and view.completed == 5
    result = run.result()
    assert [s.status for s in result.steps] == ["done"] * 5
    assert [(e.kind, e.step, e.detail) for e in result.errors] == [
        ("wrong_machine", "find-press", "CNV-A3"),
        ("hazard_entered", "notify", "robot-b2-envelope"),
    ]
    assert result.steps[0].duration_s == 10.0 and result.steps[0].wrong_machine == 1
    assert result.steps[2].duration_s == 9.0
    assert result.score == 100 - 10 - 20 and result.pass_score == 75 and not result.passed
    assert result.started == T0 and result.finished == T0 + 28 and result.trainee == "tess"
    kinds = [e.kind for e in run.take_events()]
    assert kinds[0] == "step_started" and kinds[-1] == "completed" and run.take_events() == []


def test_a_step_with_a_time_limit_times_out_and_goes_on() -> None:
    p = procedure(
        '[[steps]]\nid = "fast"\ntext = "Confirm quickly"\ncomplete = "confirm"\n'
        "time_limit_s = 5\n"
        '[[steps]]\nid = "then"\ntext = "Then confirm"\ncomplete = "confirm"\n'
    )
    run = TrainingRun.for_scene(p, demo())
    view = run.update(None, T0)
    assert view.time_left_s == 5.0
    view = run.update(None, T0 + 4.5)
    assert view.step_id == "fast" and view.time_left_s == pytest.approx(0.5)
    view = run.update(None, T0 + 5.0)
    assert view.step_id == "then" and view.step_states == ("timed_out", "active")
    assert view.message.startswith("Time is up")
    run.confirm(T0 + 6)
    result = run.result()
    assert result.status == "completed" and result.steps[0].timeouts == 1
    assert result.steps[0].status == "timed_out" and result.steps[0].duration_s == 5.0
    assert result.score == 90.0 and result.passed


def test_retry_branch_and_abort_on_failure() -> None:
    p = procedure(
        '[[steps]]\nid = "intro"\ntext = "Read"\ncomplete = "confirm"\n'
        '[[steps]]\nid = "pick"\ntext = "Select the press"\nmachine = "PRS-B3"\n'
        'complete = "select"\nmax_errors = 2\non_fail = "intro"\n'
        '[[steps]]\nid = "wait"\ntext = "Wait"\ncomplete = "confirm"\ntime_limit_s = 1\n'
        'on_fail = "retry"\n'
    )
    run = TrainingRun.for_scene(p, demo())
    run.update(None, T0)
    run.confirm(T0 + 1)
    run.select("PRS-B1", T0 + 2)
    assert run.update(None, T0 + 2).step_id == "pick"
    run.select("PRS-B2", T0 + 3)  # second error: the step fails, back to the intro
    view = run.update(None, T0 + 3)
    assert view.step_id == "intro" and view.step_states == ("active", "failed", "pending")
    run.confirm(T0 + 4)
    run.select("PRS-B3", T0 + 5)
    t = T0 + 5
    for _ in range(MAX_ATTEMPTS):
        t += 1
        view = run.update(None, t)
    assert view.status == "aborted" and view.message.startswith("Procedure aborted")
    result = run.result()
    assert result.steps[1].status == "done" and result.steps[1].attempts == 2
    assert result.steps[1].failures == 1 and result.steps[2].timeouts == MAX_ATTEMPTS
    assert not result.passed and result.score == 0.0


def test_hints_restart_and_expert_controls() -> None:
    run, store = lockout_run(), store_for(demo())
    run.update(store, T0)
    assert run.hint(T0 + 1) is not None and run.hint(T0 + 2) is None  # one hint only
    assert run.update(store, T0 + 3).hints == (run.procedure.steps[0].hints[0],)
    assert run.advance(T0 + 4)  # the expert skips the first step
    view = run.update(store, T0 + 5)
    assert view.step_id == "notify" and view.step_states[0] == "skipped" and view.completed == 1
    assert run.result().score == 100 - 2 - 10
    run.update(store, T0 + 8, IN_ROBOT_B2)  # robots idle: no error
    assert run.reset_step(T0 + 9)
    view = run.update(store, T0 + 10)
    assert view.step_id == "notify" and run.records[1].attempts == 2
    run.restart(T0 + 20)
    view = run.update(store, T0 + 21)
    assert view.step_id == "find-press" and view.completed == 0 and view.hints == ()
    result = run.result()
    assert result.restarts == 1 and result.score == 100 and result.started == T0 + 20


def test_zones_follow_the_steps_hazard_list_and_shapes() -> None:
    p = procedure(
        '[[hazards]]\nid = "box"\nshape = "box"\nmachine = "PRS-B3"\noffset = [0, 1, 0]\n'
        "size = [2, 2, 4]\n"
        '[[hazards]]\nid = "fixed"\nshape = "cylinder"\nradius = 1\nheight = 2\n'
        "offset = [100, 0, 100]\n"
        '[[steps]]\nid = "a"\ntext = "A"\ncomplete = "confirm"\nhazards = ["fixed"]\n'
        '[[steps]]\nid = "b"\ntext = "B"\ncomplete = "confirm"\n'
    )
    run = TrainingRun.for_scene(p, demo())
    view = run.update(None, T0, (-8.0, 1.0, -1.5))
    assert [z.active for z in view.zones] == [False, True] and view.warnings == ()
    view = run.update(None, T0 + 1, (100.5, 1.9, 100.5))
    assert view.zones[1].inside and view.warnings == ("Hazard zone fixed: keep out",)
    run.update(None, T0 + 2, (100.5, 2.1, 100.5))  # above the cylinder
    run.update(None, T0 + 3, (100.0, 0.5, 100.0))  # in again: a second entry
    run.confirm(T0 + 4)
    for head in [(-8.9, 1.9, 0.4), OUTSIDE, (-7.0, 1.5, -3.4), (-9.1, 1.0, -1.5), (-8, 2.1, -1.5)]:
        run.update(None, T0 + 5, head)
    result = run.result()
    assert [s.hazard_entries for s in result.steps] == [2, 2]
