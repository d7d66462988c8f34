"""Input to camera and UI state, with real picking on the demo plant and no window."""

from __future__ import annotations

import glfw
import numpy as np
import pytest

from xrclient.desktop.camera_rig import CameraRig
from xrclient.desktop.interaction import Interaction
from xrclient.desktop.machine_search import MachineSearch
from xrclient.desktop.window import Button, Char, Cursor, Key, Leave, Scroll

from .scenes import clickable, demo

SIZE = (960, 540)


@pytest.fixture
def ui() -> Interaction:
    scene, geometry, picker = demo()
    vp = scene.viewpoints[0]
    rig = CameraRig(vp.position, vp.target, vp.fov_deg)
    return Interaction(
        rig,
        picker,
        geometry,
        MachineSearch(scene.machines),
        scene.viewpoints,
        (vp.position, vp.target),
    )


def no_hud(_x: float, _y: float) -> None:
    return None


def click(ui: Interaction, x: float, y: float, now: float, hud=no_hud) -> None:  # type: ignore[no-untyped-def]  # hud is a HUD hit-test callable; default kept untyped for brevity
    view = ui.rig.view(SIZE, demo()[1].bounds)
    ui.handle(Cursor(x, y), view, now, hud)
    ui.handle(Button(glfw.MOUSE_BUTTON_LEFT, glfw.PRESS, 0, x, y), view, now, hud)
    ui.handle(Button(glfw.MOUSE_BUTTON_LEFT, glfw.RELEASE, 0, x, y), view, now, hud)


def key(ui: Interaction, k: int, now: float = 0.0, mods: int = 0) -> None:
    ui.handle(Key(k, glfw.PRESS, mods), ui.rig.view(SIZE, demo()[1].bounds), now, no_hud)


def typed(ui: Interaction, text: str) -> None:
    view = ui.rig.view(SIZE, demo()[1].bounds)
    for ch in text:
        ui.handle(Char(ch), view, 0.0, no_hud)


def test_click_selects_the_machine_under_the_cursor_and_empty_space_clears(ui: Interaction) -> None:
    view = ui.rig.view(SIZE, demo()[1].bounds)
    targets = clickable(view)
    assert len(targets) >= 5
    index, x, y = targets[len(targets) // 2]
    click(ui, x, y, 0.0)
    assert ui.state.selected == index
    ui.hover(view)
    assert ui.state.hovered == index
    ui.handle(Leave(), view, 0.5, no_hud)
    ui.hover(view)
    assert ui.state.hovered is None
    click(ui, 5.0, 5.0, 1.0)  # sky above the hall
    assert ui.state.selected is None


def test_double_click_flies_to_the_machine(ui: Interaction) -> None:
    _scene, geometry, _ = demo()
    index, x, y = clickable(ui.rig.view(SIZE, geometry.bounds))[0]
    click(ui, x, y, 10.0)
    assert not ui.rig.flying
    click(ui, x + 1, y, 10.2)
    assert ui.rig.flying and ui.state.selected == index
    ui.rig.advance(20.0)
    b = geometry.machine_bounds[index]
    assert np.allclose(ui.rig.target, (b[0] + b[1]) / 2, atol=1e-4)


def test_a_drag_orbits_and_does_not_select(ui: Interaction) -> None:
    view = ui.rig.view(SIZE, demo()[1].bounds)
    _index, x, y = clickable(view)[0]
    yaw = ui.rig.yaw
    ui.handle(Button(glfw.MOUSE_BUTTON_LEFT, glfw.PRESS, 0, x, y), view, 0.0, no_hud)
    for step in range(1, 6):
        ui.handle(Cursor(x + 20 * step, y), view, 0.0, no_hud)
    ui.handle(Button(glfw.MOUSE_BUTTON_LEFT, glfw.RELEASE, 0, x + 100, y), view, 0.0, no_hud)
    assert ui.state.selected is None
    assert ui.rig.yaw != pytest.approx(yaw)
    # shift + drag pans: the target moves, the angles stay
    target, yaw = ui.rig.target.copy(), ui.rig.yaw
    ui.handle(Button(glfw.MOUSE_BUTTON_LEFT, glfw.PRESS, glfw.MOD_SHIFT, x, y), view, 0, no_hud)
    ui.handle(Cursor(x + 60, y + 10), view, 0.0, no_hud)
    ui.handle(Button(glfw.MOUSE_BUTTON_LEFT, glfw.RELEASE, 0, x + 60, y + 10), view, 0, no_hud)
    assert ui.rig.yaw == pytest.approx(yaw) and not np.allclose(ui.rig.target, target)


def test_wheel_zooms_toward_what_is_under_the_cursor(ui: Interaction) -> None:
    view = ui.rig.view(SIZE, demo()[1].bounds)
    _, x, y = clickable(view)[0]
    distance = ui.rig.distance
    eye = ui.rig.eye.copy()
    ui.handle(Scroll(2.0, x, y), view, 0.0, no_hud)
    assert ui.rig.distance < distance
    _, point = ui.pick(view, x, y)
    assert point is not None
    # the eye moved along the line toward the picked point
    towards = (np.asarray(point) - eye) / np.linalg.norm(np.asarray(point) - eye)
    moved = (ui.rig.eye - eye) / np.linalg.norm(ui.rig.eye - eye)
    assert float(towards @ moved) > 0.999


def test_search_by_typing_then_enter_selects_and_flies(ui: Interaction) -> None:
    scene, _geometry, _ = demo()
    typed(ui, "/")
    assert ui.state.query == ""
    typed(ui, "prs-b")
    assert ui.state.matches and all(
        scene.machines[i].id.startswith("PRS-B") for i in ui.state.matches
    )
    key(ui, glfw.KEY_BACKSPACE)
    assert ui.state.query == "prs-"
    typed(ui, "b4")
    key(ui, glfw.KEY_W)  # keys type into the box; they do not act while it is open
    key(ui, glfw.KEY_ENTER, now=5.0)
    assert ui.state.query is None
    assert scene.machines[ui.state.selected or 0].id == "PRS-B4"
    assert ui.rig.flying
    key(ui, glfw.KEY_ESCAPE)
    assert ui.state.selected is None


def test_a_search_without_matches_says_so(ui: Interaction) -> None:
    key(ui, glfw.KEY_F, mods=glfw.MOD_CONTROL)
    typed(ui, "no such machine")
    key(ui, glfw.KEY_ENTER, now=1.0)
    assert ui.state.query == "no such machine" and "no machine matches" in ui.state.toast


def test_clicking_a_hud_row_flies_to_its_machine(ui: Interaction) -> None:
    scene, _, _ = demo()
    target = scene.machine_index["TNK-C2"]

    def hud(x: float, y: float) -> tuple[str, int] | None:
        return ("machine", target) if x > 900 and y < 60 else None

    click(ui, 930.0, 30.0, 0.0, hud)
    assert ui.state.selected == target and ui.rig.flying


def test_keys_toggle_help_modes_overlays_hud_screenshot_and_quit(ui: Interaction) -> None:
    s = ui.state
    typed(ui, "?")
    assert s.help
    key(ui, glfw.KEY_ESCAPE)
    assert not s.help
    key(ui, glfw.KEY_F1)
    assert s.help
    key(ui, glfw.KEY_TAB)
    assert s.fly_mode and "fly" in s.toast
    key(ui, glfw.KEY_O)
    key(ui, glfw.KEY_H)
    assert not s.overlays and not s.hud
    key(ui, glfw.KEY_F12)
    assert s.screenshot
    key(ui, glfw.KEY_Q)  # Q alone flies down; Ctrl+Q quits
    assert not s.quit
    key(ui, glfw.KEY_Q, mods=glfw.MOD_CONTROL)
    assert s.quit


def test_number_keys_fly_to_viewpoints_and_r_goes_home(ui: Interaction) -> None:
    scene, _, _ = demo()
    vp = scene.viewpoints[1]
    key(ui, glfw.KEY_2, now=0.0)
    ui.rig.advance(5.0)
    assert np.allclose(ui.rig.eye, vp.position, atol=1e-4)
    key(ui, glfw.KEY_9, now=6.0)
    assert "no viewpoint 9" in ui.state.toast or len(scene.viewpoints) >= 9
    key(ui, glfw.KEY_R, now=7.0)
    ui.rig.advance(20.0)
    assert np.allclose(ui.rig.eye, scene.viewpoints[0].position, atol=1e-4)


def test_held_keys_fly_in_fly_mode_and_orbit_mode(ui: Interaction) -> None:
    eye = ui.rig.eye.copy()
    held = {glfw.KEY_W, glfw.KEY_E}
    ui.fly(lambda k: k in held, 0.05)
    moved = ui.rig.eye - eye
    assert moved[1] > 0  # E: up
    heading = np.array([-np.sin(ui.rig.yaw), 0.0, -np.cos(ui.rig.yaw)])
    assert float(moved @ heading) > 0  # W: forward


def test_session_keys_ask_for_actions_and_n_writes_a_note_on_the_selection(
    ui: Interaction,
) -> None:
    s = ui.state
    for k in (glfw.KEY_L, glfw.KEY_F, glfw.KEY_G, glfw.KEY_K):
        key(ui, k)
    assert s.requests == ["lead", "follow", "summon", "ping"]
    s.requests.clear()
    typed(ui, "n")
    assert s.note is None and "select a machine first" in s.toast
    s.selected = 3
    key(ui, glfw.KEY_N)  # the key itself does nothing: its character opens the field
    typed(ui, "n")
    assert s.note == ""
    typed(ui, "oil leak")
    key(ui, glfw.KEY_BACKSPACE)
    key(ui, glfw.KEY_L)  # keys type into the note; they do not act
    key(ui, glfw.KEY_ENTER)
    assert s.note is None and s.note_text == "oil lea" and s.requests == ["note"]
    typed(ui, "n")
    typed(ui, "   ")
    key(ui, glfw.KEY_ENTER)  # nothing but spaces: no note
    assert s.requests == ["note"]


def test_training_keys_and_shift_keys_for_the_plant_ask_for_actions(ui: Interaction) -> None:
    s = ui.state
    for k in (glfw.KEY_C, glfw.KEY_I, glfw.KEY_F5, glfw.KEY_T, glfw.KEY_F6, glfw.KEY_F7):
        key(ui, k)
    key(ui, glfw.KEY_F8)
    assert s.requests == [
        "tr_confirm", "tr_hint", "tr_restart", "tr_watch", "tr_advance", "tr_reset_step",
        "tr_restart_trainee",
    ]  # fmt: skip
    s.requests.clear()
    for k in (glfw.KEY_L, glfw.KEY_U, glfw.KEY_X):
        key(ui, k, mods=glfw.MOD_SHIFT)
    key(ui, glfw.KEY_L)  # without Shift, L is still "lead"
    assert s.requests == ["plant:lock_out", "plant:start", "plant:clear_fault", "lead"]
