"""The plant frame every front end runs: history -> bindings -> visuals -> highlights, with
no window, no GL and no network (a recording stands in for the stream)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from xrclient.core.bindings import Bindings
from xrclient.core.visuals import MachineVisuals
from xrclient.frame import HOVER_HIGHLIGHT, PlantFrame, compose_plant, step_pulse

from .helpers import demo_scene, record, sim_batches, store_after


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plant-frame") / "plant.xrrec"
    record(path, sim_batches(90.0, rate_hz=2.0))
    return path


class Step:
    def __init__(self, machine: int | None) -> None:
        self.machine = machine

    def target(self) -> int | None:
        return self.machine


def test_without_state_the_visuals_are_plain() -> None:
    plant = PlantFrame(len(demo_scene().machines))
    assert plant.update(1000.0) is None
    assert not plant.shown and plant.state is None
    plain = MachineVisuals(len(demo_scene().machines))
    assert np.array_equal(plant.visuals.data, plain.data)
    said, shared = plant.timeline_request("tl_back", 1000.0)
    assert "no history" in said and shared is None


def test_a_recording_is_shown_through_the_scenes_bindings(recording: Path) -> None:
    scene = demo_scene()
    plant = compose_plant(scene, None, recording)
    try:
        assert plant.live is None and plant.insight is not None and plant.bindings is not None
        assert plant.insight.timeline is not None
        first, last = plant.insight.timeline.range
        store = plant.update(5000.0)
        assert store is not None and plant.shown
        assert plant.t == pytest.approx(last)  # a recording alone opens at its end
        # the same bindings evaluated by hand over the reference store give the same colours
        reference = Bindings.compile(scene)
        reference.evaluate(store_after(sim_batches(90.0, rate_hz=2.0), plant.t), plant.t)
        expected = MachineVisuals(len(scene.machines))
        reference.apply(expected)
        assert np.array_equal(plant.visuals.tint, expected.tint)
        assert np.array_equal(plant.visuals.emissive, expected.emissive)
        # a step back moves the shown moment and the colours follow it
        said, shared = plant.timeline_request("tl_back_long", 5000.0)
        assert said == "" and shared is None
        plant.update(5001.0)
        assert plant.t == pytest.approx(max(last - 60.0, first))
        assert plant.t < last
    finally:
        plant.close()


def test_highlights_in_priority_order() -> None:
    n = len(demo_scene().machines)
    plant = PlantFrame(n)
    plant.training = Step(3)
    plant.update(10.0)
    plant.mark(selected=5, hovered=4, now=10.0)
    h = plant.visuals.highlight
    assert h[3] == pytest.approx(step_pulse(10.0))
    assert h[4] == pytest.approx(HOVER_HIGHLIGHT) and h[5] == 1.0
    assert np.count_nonzero(h) == 3
    # the step's machine pulses with time; selection wins over hover and the step
    assert step_pulse(10.0) != pytest.approx(step_pulse(10.3))
    plant.mark(selected=3, hovered=3, now=10.3)
    assert h[3] == 1.0 and np.count_nonzero(h) == 1
    plant.training = Step(None)
    plant.mark(now=11.0)
    assert not h.any()
    assert 0.35 <= min(step_pulse(t / 10) for t in range(100))
    assert max(step_pulse(t / 10) for t in range(100)) <= 0.7 + 1e-9
    assert not math.isnan(step_pulse(1e9))
