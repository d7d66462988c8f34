"""One table for the key bindings and the help overlay: every bound key has its help line,
every key a help line names is bound in that line, and every binding does what it says."""

from __future__ import annotations

import re

import glfw
import pytest

from xrclient.desktop import keymap
from xrclient.desktop.interaction import Interaction
from xrclient.desktop.keymap import CONTROLS, Control, Press, key_name, press_action

from .test_interaction import key, ui  # noqa: F401  (the fixture)

#: words of a help line's ``keys`` that name no key
FILLER = {"or", "hold", ""}
#: the requests the viewer carries out (desktop/viewer.py and its links)
REQUESTS = {
    "lead",
    "follow",
    "summon",
    "ping",
    "tl_back",
    "tl_fwd",
    "tl_back_long",
    "tl_fwd_long",
    "tl_play",
    "tl_faster",
    "tl_live",
    "tl_rejoin",
    "tr_confirm",
    "tr_hint",
    "tr_restart",
    "tr_watch",
    "tr_advance",
    "tr_reset_step",
    "tr_restart_trainee",
    "plant:lock_out",
    "plant:start",
    "plant:clear_fault",
}


def named(text: str) -> set[str]:
    """The keys a help line's ``keys`` text names ("1 .. 9" names all nine)."""
    words = [w for w in re.split(r"[\s,()+]+", text) if w not in FILLER]
    out: set[str] = set()
    for i, word in enumerate(words):
        if word == "..":
            out.update(str(n) for n in range(int(words[i - 1]), int(words[i + 1]) + 1))
        else:
            out.add(word)
    return out


def bound(control: Control) -> set[str]:
    """The names of the keys and characters a help line binds, modifiers included."""
    out = {key_name(p.key) for p in control.presses} | {key_name(k) for k in control.held}
    out |= {c.upper() for c, _ in control.chars}
    if any(p.shift for p in control.presses):
        out.add("Shift")
    if any(p.ctrl for p in control.presses):
        out.add("Ctrl")
    return out


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.keys)
def test_each_help_line_names_exactly_the_keys_it_binds(control: Control) -> None:
    if control.mouse:
        assert not control.presses and not control.chars and not control.held
    else:
        assert bound(control), "a keyboard help line binds something"
        # "(Shift: faster)" in the description names a modifier too
        shift = {"Shift"} if "(Shift:" in control.does else set()
        assert named(control.keys) | shift == bound(control)


def test_every_binding_comes_from_a_help_line() -> None:
    presses = [p for c in CONTROLS for p in c.presses]
    assert sorted(keymap.PRESSES.values(), key=repr) == sorted(presses, key=repr)
    assert keymap.CHARS == {ch: a for c in CONTROLS for ch, a in c.chars}
    actions = {p.action for p in presses} | set(keymap.CHARS.values())
    assert actions - keymap.LOCAL_ACTIONS == REQUESTS
    assert keymap.LOCAL_ACTIONS <= actions


def test_a_key_bound_twice_is_refused() -> None:
    twice = (
        Control("A", "one", (Press(glfw.KEY_A, "one"),)),
        Control("A", "two", (Press(glfw.KEY_A, "two"),)),
    )
    with pytest.raises(ValueError, match="bound twice"):
        keymap._press_table(twice)
    with pytest.raises(ValueError, match="bound twice"):
        keymap._char_table((Control("/", "x", chars=(("/", "x"),)),) * 2)


def test_modifiers_pick_the_binding() -> None:
    assert press_action(glfw.KEY_LEFT, shift=True, ctrl=False) == "tl_back_long"
    assert press_action(glfw.KEY_LEFT, shift=False, ctrl=False) == "tl_back"
    assert press_action(glfw.KEY_L, shift=True, ctrl=False) == "plant:lock_out"
    assert press_action(glfw.KEY_L, shift=False, ctrl=False) == "lead"
    assert press_action(glfw.KEY_O, shift=True, ctrl=False) == "overlays"  # no Shift binding
    assert press_action(glfw.KEY_O, shift=False, ctrl=True) is None  # Ctrl: only its own
    assert press_action(glfw.KEY_ESCAPE, shift=False, ctrl=True) == "escape"
    assert press_action(glfw.KEY_Q, shift=True, ctrl=True) == "quit"
    assert press_action(glfw.KEY_Q, shift=False, ctrl=False) is None  # Q alone flies down
    assert press_action(glfw.KEY_Z, shift=False, ctrl=False) is None


@pytest.mark.parametrize("press", list(keymap.PRESSES.values()), ids=lambda p: p.action)
def test_each_binding_does_what_its_action_says(ui: Interaction, press: Press) -> None:  # noqa: F811
    mods = (glfw.MOD_SHIFT if press.shift else 0) | (glfw.MOD_CONTROL if press.ctrl else 0)
    s = ui.state
    before = (s.help, s.fly_mode, s.overlays, s.hud, s.screenshot, s.quit, s.query)
    ui.rig.advance(100.0)
    key(ui, press.key, 1.0, mods)
    after = (s.help, s.fly_mode, s.overlays, s.hud, s.screenshot, s.quit, s.query)
    if press.action in REQUESTS:
        assert s.requests == [press.action]
        assert after == before
        return
    assert s.requests == []
    if press.action.startswith("viewpoint:"):
        number = int(press.action.split(":")[1])
        known = number <= len(ui.viewpoints)
        assert ui.rig.flying if known else f"no viewpoint {number}" in s.toast
    elif press.action == "home":
        assert ui.rig.flying
    elif press.action == "escape":
        assert after == before and s.selected is None
    else:
        assert after != before
