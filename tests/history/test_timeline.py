"""The front ends' timeline: live and past, seek, play, and two participants together."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from xrclient.core.twin_store import TwinStore
from xrclient.history.reader import Reader
from xrclient.history.timeline import Timeline, TimelineState

from .helpers import START, demo_scene, record, same_store, sim_batches, store_after

BATCHES = sim_batches(60.0)
IDS = [m.id for m in demo_scene().machines]
WALL = 9_000_000.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tl") / "plant.xrrec"
    record(path, BATCHES, keyframe_s=5.0)
    return path


@pytest.fixture
def timeline(recording: Path) -> Timeline:
    reader = Reader(recording)
    yield Timeline(reader, IDS, history_capacity=20)
    reader.close()


def test_live_mode_renders_the_live_store(timeline: Timeline) -> None:
    live = TwinStore(IDS)
    store, now = timeline.view(live, WALL)
    assert store is live and now == WALL and math.isnan(timeline.time())


def test_seek_shows_the_recorded_state_with_history_behind_it(timeline: Timeline) -> None:
    live = TwinStore(IDS)
    timeline.seek(START + 42.3)
    store, now = timeline.view(live, WALL)
    assert store is not live and now == START + 42.3
    assert same_store(store, store_after(BATCHES, START + 42.3))
    times, values = store.history("temperature_c")
    assert times[-1] <= now and times[0] >= now - 21
    assert len(times) == 20
    # the sparkline's past samples are the recorded values at those seconds
    ref = store_after(BATCHES, times[-3] - 1e-6)  # a bucket holds the values before its end
    col = ref.prop_index("temperature_c")
    assert np.allclose(values[:, -3], ref.value[:, col], equal_nan=True, atol=1e-4)


def test_play_pause_speed_and_seeking_back(timeline: Timeline) -> None:
    live = TwinStore(IDS)
    timeline.seek(START + 10.0)
    timeline.view(live, WALL)
    timeline.play(speed=2.0)
    store, now = timeline.view(live, WALL + 3.0)
    assert now == START + 16.0
    assert same_store(store, store_after(BATCHES, START + 16.0))
    timeline.pause()
    store, now = timeline.view(live, WALL + 10.0)
    assert now == START + 16.0
    timeline.seek(START + 4.0)  # backwards: rebuilt
    store, now = timeline.view(live, WALL + 11.0)
    assert same_store(store, store_after(BATCHES, START + 4.0))
    timeline.play(speed=8.0)
    store, now = timeline.view(live, WALL + 11.0)
    store, now = timeline.view(live, WALL + 30.0)  # runs past the end: stops there
    assert now == START + 60.0 and not timeline.playing
    assert same_store(store, store_after(BATCHES, START + 60.0))
    timeline.go_live()
    assert timeline.view(live, WALL + 31.0) == (live, WALL + 31.0)


def test_seek_is_clamped_and_checked(timeline: Timeline) -> None:
    timeline.seek(START - 1000.0)
    assert timeline.time() == START
    with pytest.raises(ValueError):
        timeline.seek(math.nan)
    with pytest.raises(ValueError):
        timeline.set_speed(0.0)


def test_apply_to_copies_the_moment_into_another_store(timeline: Timeline) -> None:
    timeline.seek(START + 33.0)
    timeline.update(WALL)
    other = TwinStore(IDS)
    timeline.apply_to(other)
    assert same_store(other, store_after(BATCHES, START + 33.0))


def test_two_participants_end_up_at_the_same_replay_time(recording: Path) -> None:
    with Reader(recording) as r1, Reader(recording) as r2:
        leader, follower = Timeline(r1, IDS), Timeline(r2, IDS)
        live = TwinStore(IDS)
        leader.seek(START + 20.0)
        leader.play(speed=1.5)
        leader.view(live, WALL)
        sent = TimelineState.from_wire(leader.state(WALL + 2.0).to_wire() | {"time": 23.0 + START})
        follower.follow(sent, WALL + 2.5)  # half a second in transit
        a, ta = leader.view(live, WALL + 4.0)
        b, tb = follower.view(live, WALL + 4.0)
        assert ta == tb == START + 26.0
        assert same_store(a, b)
        follower.follow(TimelineState("live", math.nan, False, 1.0, WALL + 5.0), WALL + 5.0)
        assert follower.view(live, WALL + 5.0)[0] is live


@pytest.mark.parametrize(
    "doc",
    [
        {"mode": "future", "time": 1.0, "playing": False, "speed": 1.0, "wall": 1.0},
        {"mode": "past", "time": math.nan, "playing": False, "speed": 1.0, "wall": 1.0},
        {"mode": "past", "time": 1.0, "playing": "yes", "speed": 1.0, "wall": 1.0},
        {"mode": "past", "time": 1.0, "playing": True, "speed": 1e9, "wall": 1.0},
        {"mode": "past", "time": True, "playing": True, "speed": 1.0, "wall": 1.0},
    ],
)
def test_timeline_state_from_the_network_is_validated(doc: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TimelineState.from_wire(doc)
