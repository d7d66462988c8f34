"""The headset's timeline without a runtime: controller states to timeline requests (the
card's layout, lasers on it, the left thumbstick, the timeline button), and those requests
moving a real recording's shown moment through the headset's history link (EGL context)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.history.helpers import demo_scene, record, sim_batches
from xrclient.backends.headless import HeadlessBackend
from xrclient.core import math3d
from xrclient.frame import compose_plant
from xrclient.history.insight import REQUESTS
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.xr.bindings import PROFILES, suggested_paths
from xrclient.xr.controls import Controls
from xrclient.xr.history_link import XrHistoryLink
from xrclient.xr.input import HandState
from xrclient.xr.poses import Pose
from xrclient.xr.timeline_input import TimelineInput
from xrclient.xr.timeline_layout import (
    BAR_X,
    BAR_Y,
    BUTTON_Y,
    BUTTONS,
    PanelRect,
    ahead_of,
    on_hand,
    target_at,
)
from xrclient.xr.timeline_panel import PanelModel, card_quads

HEAD = Pose((0.0, 1.6, 0.0))
GRIP = Pose((-0.2, 1.3, -0.5))  # the left controller, level, pointing -Z
RIGHT = (0.2, 1.3, -0.2)


def aim_at(origin: tuple[float, float, float], target: np.ndarray) -> Pose:
    """A pose at ``origin`` whose -Z points at ``target``."""
    z = np.asarray(origin) - target
    z /= np.linalg.norm(z)
    x = np.cross((0.0, 1.0, 0.0), z)
    x /= np.linalg.norm(x)
    m = np.eye(4, dtype=np.float32)
    m[:3, 0], m[:3, 1], m[:3, 2] = x, np.cross(z, x), z
    return Pose(origin, math3d.matrix_quat(m))


def bar_point(rect: PanelRect, fraction: float) -> np.ndarray:
    return rect.point(BAR_X[0] + (BAR_X[1] - BAR_X[0]) * fraction, (BAR_Y[0] + BAR_Y[1]) / 2)


def test_the_card_maps_points_to_requests() -> None:
    mid_y = (BAR_Y[0] + BAR_Y[1]) / 2
    assert target_at(BAR_X[0], mid_y) == "seek:0"
    assert target_at(0.0, mid_y) == "seek:500"
    assert target_at(BAR_X[1] + 0.005, mid_y) == "seek:1000"
    button_y = (BUTTON_Y[0] + BUTTON_Y[1]) / 2
    assert [target_at((x0 + x1) / 2, button_y) for _, x0, x1 in BUTTONS] == [
        "tl_back_long",
        "tl_play",
        "tl_faster",
        "tl_live",
    ]
    assert {r for r, _, _ in BUTTONS} <= set(REQUESTS)
    assert target_at(0.0, 0.06) is None  # the status line does nothing


def test_the_card_sits_above_the_hand_and_lasers_hit_it() -> None:
    rect = on_hand(np.eye(4), GRIP)
    assert rect.centre[1] > GRIP.position[1] and np.dot(np.cross(rect.ex, rect.ey), (0, 0, 1)) > 0
    target = bar_point(rect, 0.25)
    aim = aim_at(RIGHT, target)
    origin = np.asarray(RIGHT, np.float64)
    direction = (target - origin) / np.linalg.norm(target - origin)
    hit = rect.hit(origin, direction, 40.0)
    assert hit is not None
    assert hit[1] == pytest.approx(BAR_X[0] + 0.25 * (BAR_X[1] - BAR_X[0]), abs=1e-6)
    assert rect.hit(origin, -direction, 40.0) is None  # behind the hand
    # a scaled rig keeps the card in the hand: same panel coordinates
    rig = np.diag([2.0, 2.0, 2.0, 1.0])
    big = on_hand(rig, GRIP)
    assert np.linalg.norm(big.ex) == pytest.approx(2.0)
    c = Controls(rig, panel=big)
    out = c.step([HandState(grip=GRIP), HandState(aim=aim)], HEAD)
    assert out.lasers[0].panel is not None
    assert out.lasers[0].panel[0] == pytest.approx(hit[1], abs=1e-6)
    floating = ahead_of(np.eye(4), HEAD)
    assert floating.centre[2] == pytest.approx(-0.6) and floating.centre[1] < 1.6


def test_the_trigger_on_the_card_scrubs_instead_of_selecting() -> None:
    rect = on_hand(np.eye(4), GRIP)
    c = Controls(np.eye(4), panel=rect, selected=7)
    ti = TimelineInput()
    left = HandState(grip=GRIP)

    def frame(fraction: float, trigger: float) -> list[str]:
        right = HandState(aim=aim_at(RIGHT, bar_point(rect, fraction)), select=trigger)
        out = c.step([left, right], HEAD)
        return ti.step([left, right], out.lasers, 0.0)

    assert frame(0.2, 0.0) == []
    assert frame(0.2, 1.0) == ["seek:200"]
    assert c.selected == 7  # the selection stays
    assert frame(0.2, 1.0) == []  # held still: nothing new
    assert frame(0.6, 1.0) == ["seek:600"]  # held and swept: scrubs
    assert frame(0.9, 0.0) == []  # let go
    assert frame(0.9, 0.2) == []
    # a button acts once per pull
    play = next((x0 + x1) / 2 for r, x0, x1 in BUTTONS if r == "tl_play")
    button = rect.point(play, (BUTTON_Y[0] + BUTTON_Y[1]) / 2)
    right = HandState(aim=aim_at(RIGHT, button), select=1.0)
    out = c.step([left, right], HEAD)
    assert out.lasers[0].pressed and ti.step([left, right], out.lasers, 0.0) == ["tl_play"]
    out = c.step([left, right], HEAD)
    assert not out.lasers[0].pressed and ti.step([left, right], out.lasers, 0.0) == []


def test_the_left_stick_drives_the_timeline_while_the_card_is_up() -> None:
    ti = TimelineInput()

    def push(x: float, y: float, now: float, timeline: bool = False) -> list[str]:
        return ti.step([HandState(stick=(x, y), timeline=timeline), HandState()], [], now)

    assert push(1.0, 0.0, 0.0) == ["tl_fwd"]
    assert push(1.0, 0.0, 0.3) == []
    assert push(1.0, 0.0, 0.5) == ["tl_fwd_long"]  # held: long steps repeat
    assert push(1.0, 0.0, 0.6) == []
    assert push(1.0, 0.0, 0.75) == ["tl_fwd_long"]
    assert push(0.0, 0.0, 0.8) == []
    assert push(-0.9, 0.1, 1.0) == ["tl_back"]
    assert push(0.0, 0.0, 1.1) == []
    assert push(0.0, 1.0, 1.2) == ["tl_play"]
    assert push(0.0, 1.0, 5.0) == []  # play does not repeat
    assert push(0.0, 0.0, 5.1) == []
    assert push(0.0, -1.0, 5.2) == ["tl_live"]
    assert push(0.0, 0.0, 5.3) == []
    # the left stick does not move the user while the card is up; the right one does
    hands = (HandState(stick=(1.0, 0.0)), HandState(stick=(0.0, 1.0)))
    assert [h.stick for h in ti.mask(hands)] == [(0.0, 0.0), (0.0, 1.0)]
    # the timeline button hides the card: the stick is the user's again, no requests
    assert push(0.0, 0.0, 6.0, timeline=True) == []
    assert not ti.shown
    assert push(1.0, 0.0, 6.1, timeline=True) == []  # held: no second toggle
    assert ti.mask(hands) == hands
    assert push(0.0, 0.0, 6.2) == []
    assert push(0.0, 0.0, 6.3, timeline=True) == []
    assert ti.shown


def test_the_card_fills_the_bar_up_to_the_moment() -> None:
    buttons = ("-1 min", "play", "2x", "live")
    past = card_quads(PanelModel("PAST", 0.5, False, buttons))
    live = card_quads(PanelModel("LIVE", 1.0, True, buttons))
    start = card_quads(PanelModel("PAST", 0.0, False, buttons))
    assert len(past[0]) == len(live[0]) == len(start[0]) + 6  # no fill at the very start
    fill = past[0][12:18]  # card, track, then the fill
    assert fill[:, 0].max() == pytest.approx(0.0)  # half way along the centred bar
    assert tuple(past[1][12]) != tuple(live[1][12])  # past and live colours differ


def test_every_profile_binds_the_same_actions_on_both_hands() -> None:
    for profile in PROFILES:
        paths = suggested_paths(profile)
        for action in {a for a, _ in paths}:
            hands = [p.split("/input/")[0] for a, p in paths if a == action]
            assert sorted(hands) == ["/user/hand/left", "/user/hand/right"], (profile, action)
    touch = dict(
        (p, a) for a, p in suggested_paths("/interaction_profiles/oculus/touch_controller")
    )
    assert touch["/user/hand/left/input/y/click"] == "timeline"
    assert touch["/user/hand/right/input/b/click"] == "timeline"


@pytest.fixture(scope="module")
def link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[XrHistoryLink, float, float]]:
    path = tmp_path_factory.mktemp("xr-timeline") / "plant.xrrec"
    record(path, sim_batches(120.0, rate_hz=2.0))
    scene = demo_scene()
    geometry, _ = load_geometry(scene, LoadLimits())
    with HeadlessBackend((160, 120), samples=0) as backend:
        plant = compose_plant(scene, None, Path(path))
        hl = XrHistoryLink(scene, geometry, backend.ctx, plant)
        try:
            tl = hl.insight.timeline
            assert tl is not None
            yield hl, *tl.range
        finally:
            hl.close()
            plant.close()


def test_controller_input_moves_the_shown_moment(link: tuple[XrHistoryLink, float, float]) -> None:
    hl, first, last = link
    controls = Controls(np.eye(4))
    now = 1000.0

    def frame(left: HandState, right: HandState) -> float:
        hands = hl.before_controls(controls, (left, right), HEAD)
        out = controls.step(hands, HEAD)
        hl.after_controls((left, right), out, now)
        store = hl.plant.update(now)
        hl.frame(now)
        assert store is not None
        return hl.plant.t

    left = HandState(grip=GRIP)
    assert frame(left, HandState()) == pytest.approx(last)  # opens at the end, in the past
    assert controls.panel is not None and hl.panel.count > 0
    assert hl.panel.model is not None and hl.panel.model.label.startswith("PAST")
    target = bar_point(controls.panel, 0.5)
    right = HandState(aim=aim_at(RIGHT, target))
    frame(left, right)
    assert hl.panel.model.hot is None
    t = frame(left, dataclasses.replace(right, select=1.0))
    assert t == pytest.approx(first + 0.5 * (last - first), abs=0.01 * (last - first))
    frame(left, HandState())
    # left stick: back 10 s, then play; the moment advances with the clock
    t0 = frame(dataclasses.replace(left, stick=(-1.0, 0.0)), HandState())
    assert t0 == pytest.approx(t - 10.0)
    frame(left, HandState())
    frame(dataclasses.replace(left, stick=(0.0, 1.0)), HandState())
    assert hl.insight.timeline is not None and hl.insight.timeline.playing
    assert "playing 1x" in hl.panel.model.label
    now += 2.0
    assert frame(left, HandState()) == pytest.approx(t0 + 2.0)
    # down: back to live, which a recording alone cannot do: the card says so
    frame(dataclasses.replace(left, stick=(0.0, -1.0)), HandState())
    assert "no live stream" in hl.panel.model.label
    assert hl.report.requests == ["seek:500", "tl_back", "tl_play", "tl_live"]
    # the timeline button hides the card
    frame(dataclasses.replace(left, timeline=True), HandState())
    frame(left, HandState())
    placed: PanelRect | None = controls.panel
    assert placed is None and hl.panel.count == 0


def test_the_headset_follows_a_shared_moment_and_scrubs_away_from_it(
    tmp_path: Path, link: tuple[XrHistoryLink, float, float]
) -> None:
    """A real hub on loopback: an expert shares a moment; the headset (an operator) goes
    there, and a step back takes it away from the moment here only."""
    import time

    from tests.hub.helpers import running_hub, token, wait_until
    from xrclient.history.timeline import TimelineState
    from xrclient.session import Session, SessionOptions

    hl, first, _last = link
    controls = Controls(np.eye(4))
    with running_hub(tmp_path / "hub.sqlite") as hub:
        expert = Session(SessionOptions(hub.room_url("plant"), token(name="eddie", role="expert")))
        me = Session(SessionOptions(hub.room_url("plant"), token(name="hana", role="operator")))
        with expert, me:
            hl.plant.session = me
            try:
                wait_until(lambda: expert.status.state == me.status.state == "live", 10)

                def frame(left: HandState) -> float:
                    now = time.time()
                    me.update(now)
                    hands = hl.before_controls(controls, (left, HandState()), HEAD)
                    out = controls.step(hands, HEAD)
                    hl.after_controls((left, HandState()), out, now)
                    hl.plant.update(now)
                    hl.frame(now)
                    return hl.plant.t

                moment = first + 40.0
                state = TimelineState("past", moment, False, 1.0, time.time())
                assert expert.share_timeline(state).result(5).code == ""
                wait_until(lambda: abs(frame(HandState(grip=GRIP)) - moment) < 0.01, 10)
                assert me.viewing_shared_past
                hl.control("tl_back", time.time())  # what the left stick asks for
                t = frame(HandState(grip=GRIP))
                assert t == pytest.approx(moment - 10.0) and not me.viewing_shared_past
                frame(HandState(grip=GRIP))
                assert frame(HandState(grip=GRIP)) == pytest.approx(moment - 10.0)
                expert.update()
                assert expert.shared_timeline is not None  # the room is still at the moment
            finally:
                hl.plant.session = None
