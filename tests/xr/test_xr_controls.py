"""Pointing, selecting, teleporting, turning and grabbing with hand states, against a real
Picker over real geometry; plus the pure tables and choices of the headset client."""

from __future__ import annotations

import numpy as np
import pytest

from tests.render.helpers import box_mesh, scene_of
from xrclient.scene.geometry import build_geometry
from xrclient.scene.picking import Picker
from xrclient.xr.bindings import ACTIONS, HANDS, PROFILES, suggested_paths
from xrclient.xr.controls import Controls
from xrclient.xr.input import HandState
from xrclient.xr.markers import marker_lines
from xrclient.xr.passthrough import ADDITIVE, ALPHA_BLEND, OPAQUE, choose_blend_mode
from xrclient.xr.poses import Pose, rig_scale, translate
from xrclient.xr.runtime import negotiate
from xrclient.xr.swapchains import GL_RGBA8, GL_SRGB8_ALPHA8, choose_format

HEAD = Pose((0.0, 1.6, 0.0))
AHEAD = Pose((0.2, 1.0, 0.0))  # identity orientation: pointing -Z
DOWN_FORWARD = Pose((0.2, 1.2, 0.0), (-0.2588, 0.0, 0.0, 0.9659))  # 30 degrees down


@pytest.fixture(scope="module")
def picker() -> Picker:
    # two 1 m boxes: M0 5 m ahead at chest height, M1 far to the right
    scene = scene_of([("box", (0.0, 1.0, -5.0)), ("box", (20.0, 1.0, 0.0))])
    geometry = build_geometry(scene, lambda asset: box_mesh())
    return Picker(geometry)


def _controls(picker: Picker) -> Controls:
    return Controls(np.eye(4), picker)


def test_laser_points_at_the_machine_and_the_trigger_selects_it(picker: Picker) -> None:
    c = _controls(picker)
    out = c.step([HandState(), HandState(aim=AHEAD)], HEAD)
    assert out.hovered == 0 and c.selected is None
    laser = out.lasers[0]
    assert laser.machine == 0 and laser.end[2] == pytest.approx(-4.5)  # the box's front face
    c.step([HandState(), HandState(aim=AHEAD, select=1.0)], HEAD)
    assert c.selected == 0
    # holding the trigger does not select again; pointing away and clicking clears it
    away = Pose((0.2, 1.0, 0.0), (0.0, 0.7071, 0.0, 0.7071))  # pointing -X
    c.step([HandState(), HandState(aim=away, select=1.0)], HEAD)
    assert c.selected == 0
    c.step([HandState(), HandState(aim=away, select=0.0)], HEAD)
    c.step([HandState(), HandState(aim=away, select=1.0)], HEAD)
    assert c.selected is None


def test_thumbstick_forward_aims_and_release_teleports(picker: Picker) -> None:
    c = _controls(picker)
    out = c.step([HandState(), HandState(aim=DOWN_FORWARD, stick=(0.0, 1.0))], HEAD)
    assert out.arc is not None and out.target is not None
    target = out.target.copy()
    assert target[1] == 0.0 and target[2] < -1.0
    assert out.lasers == ()  # the aiming hand shows the arc instead of its laser
    c.step([HandState(), HandState(aim=DOWN_FORWARD, stick=(0.0, 0.0))], HEAD)
    assert c.teleports == 1
    feet = c.rig @ np.array([0.0, 0.0, 0.0, 1.0])
    assert feet[:3] == pytest.approx(target)


def test_thumbstick_sideways_snap_turns_once_per_push(picker: Picker) -> None:
    c = _controls(picker)
    for _ in range(3):
        c.step([HandState(), HandState(aim=AHEAD, stick=(1.0, 0.0))], HEAD)
    assert c.turns == 1
    c.step([HandState(), HandState(aim=AHEAD, stick=(0.0, 0.0))], HEAD)
    c.step([HandState(), HandState(aim=AHEAD, stick=(-1.0, 0.0))], HEAD)
    assert c.turns == 2
    assert c.rig == pytest.approx(np.eye(4), abs=1e-9)  # right then left: back where it was


def test_grip_drags_and_two_grips_scale_the_plant(picker: Picker) -> None:
    c = _controls(picker)
    left0, right0 = Pose((-0.2, 1.0, -0.3)), Pose((0.2, 1.0, -0.3))
    c.step([HandState(grip=left0, squeeze=1.0), HandState()], HEAD)
    left1 = Pose((-0.2, 1.0, 0.2))  # pulled 0.5 m towards the user
    c.step([HandState(grip=left1, squeeze=1.0), HandState()], HEAD)
    assert c.rig[:3, 3] == pytest.approx([0.0, 0.0, -0.5])  # the plant came closer
    # the second hand joins: restart from here, then spread the hands to twice the span
    c.step([HandState(grip=left1, squeeze=1.0), HandState(grip=right0, squeeze=1.0)], HEAD)
    wide_l, wide_r = Pose((-0.6, 1.0, 0.2)), Pose((0.6, 1.0, -0.3))
    before = rig_scale(c.rig)
    c.step([HandState(grip=wide_l, squeeze=1.0), HandState(grip=wide_r, squeeze=1.0)], HEAD)
    assert rig_scale(c.rig) < before
    c.step([HandState(), HandState()], HEAD)
    assert c._grab is None


def test_marker_lines_cover_lasers_arc_and_target(picker: Picker) -> None:
    c = Controls(translate((0.0, 0.0, 0.0)), picker)
    out = c.step([HandState(aim=AHEAD), HandState(aim=DOWN_FORWARD, stick=(0.0, 1.0))], HEAD)
    pos, col = marker_lines(out)
    assert len(pos) == len(col) and len(pos) % 2 == 0
    assert len(pos) > 2 + 2 * 32  # a laser, the arc and the target rings
    assert np.isfinite(pos).all()


def test_every_profile_binds_both_hands_to_known_actions() -> None:
    names = {a.name for a in ACTIONS}
    for profile in PROFILES:
        paths = suggested_paths(profile)
        assert {a for a, _ in paths} <= names
        assert {"aim", "grip", "select"} <= {a for a, _ in paths}
        for hand in HANDS:
            assert sum(p.startswith(hand + "/") for _, p in paths) == len(paths) // 2


def test_negotiation_enables_what_is_there_and_reports_the_rest() -> None:
    got = negotiate(["A", "B", "C"], ["A", "X"], ["C", "D", "A"])
    assert got.enabled == ("A", "C")
    assert got.missing_required == ("X",)
    assert got.missing_optional == ("D",)


def test_format_and_blend_mode_choices() -> None:
    assert choose_format([GL_RGBA8, GL_SRGB8_ALPHA8]) == (GL_SRGB8_ALPHA8, True)
    assert choose_format([0x1234, GL_RGBA8]) == (GL_RGBA8, False)
    with pytest.raises(Exception, match="no 8-bit colour"):
        choose_format([0x1234])
    assert choose_blend_mode([OPAQUE, ADDITIVE, ALPHA_BLEND], True) == ALPHA_BLEND
    assert choose_blend_mode([OPAQUE, ADDITIVE], True) == ADDITIVE
    assert choose_blend_mode([OPAQUE], True) == OPAQUE
    assert choose_blend_mode([ADDITIVE], False) == ADDITIVE
    assert choose_blend_mode([OPAQUE, ALPHA_BLEND], False) == OPAQUE
