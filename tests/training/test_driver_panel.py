"""The front ends' shared training parts without a window: the driver and the panel text."""

from __future__ import annotations

from xrclient.training import load_procedure
from xrclient.training.driver import TrainingDriver
from xrclient.training.panel import clock, panel_lines, result_lines, step_marks

from .helpers import LOCKOUT, demo, set_state, set_value, store_for

T0 = 1_760_000_000.0
OUTSIDE = (30.0, 1.7, 30.0)


def driver() -> TrainingDriver:
    return TrainingDriver.for_scene(load_procedure(LOCKOUT, demo()), demo(), "tess")


def test_panel_lines_follow_the_run_step_by_step() -> None:
    d, store = driver(), store_for(demo())
    view = d.frame(store, T0, OUTSIDE)
    lines = panel_lines(view)
    assert [line.kind for line in lines[:3]] == ["title", "step", "text"]
    assert lines[1].text == "Step 1 of 5  [o....]  2:00 left"
    assert lines[-2].text == "(select the machine)" and lines[-1].text == "I: a hint"
    d.hint(T0 + 1)
    assert d.said.pop().startswith("hint: Line B runs along")
    view = d.frame(store, T0 + 2, OUTSIDE)
    assert any(line.kind == "hint" for line in panel_lines(view))
    assert not any(line.text == "I: a hint" for line in panel_lines(view))
    d.confirm(T0 + 3)  # a select step: confirming says how it completes instead
    assert d.said.pop() == "this step is not confirmed by hand: select the machine"
    d.select(demo().machine_index["PRS-B3"], T0 + 4)
    view = d.frame(store, T0 + 5, OUTSIDE)
    assert step_marks(view) == "#o..." and view.complete == "confirm"
    details = [line.text for line in panel_lines(view, confirm_key="trigger")]
    assert "at: operator panel  (press trigger when done)" in details
    d.confirm(T0 + 6)
    set_state(store, "PRS-B3", "LOCKED_OUT")
    set_value(store, "PRS-B3", "power_kw", 0.0)
    d.frame(store, T0 + 7, OUTSIDE)
    d.point_at(demo().machine_index["PRS-B3"], T0 + 8)
    view = d.frame(store, T0 + 9, OUTSIDE)
    assert view.status == "completed"
    lines = panel_lines(view)
    assert lines[1].kind == "done" and lines[1].text == "Procedure completed: 5 of 5 steps done"
    summary = result_lines(d.run.result())
    assert summary[0].text.endswith(": PASSED") and summary[0].kind == "done"
    d.confirm(T0 + 10)
    assert d.said.pop() == "the procedure is over: restart it to run it again"
    d.restart(T0 + 11)
    assert d.frame(store, T0 + 12, OUTSIDE).step_index == 0 and d.said.pop() != ""


def test_warnings_lead_the_panel_and_clock_rounds_up() -> None:
    d, store = driver(), store_for(demo())
    set_state(store, "RBT-B2", "RUNNING")
    view = d.frame(store, T0, (-12.0, 1.7, -1.0))  # inside robot cell B2's envelope
    lines = panel_lines(view)
    assert lines[0].kind == "warning" and lines[0].text.startswith("WARNING: Robot cell B2")
    assert (clock(0.2), clock(59.5), clock(61.0), clock(-3.0)) == ("0:01", "1:00", "1:01", "0:00")
