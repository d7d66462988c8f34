"""The viewer's controls in one table: the key bindings and the help overlay both come from it.

Each :class:`Control` is one line of the help overlay (``keys`` and ``does``, as people read
them) together with the input it describes: the key presses (:class:`Press`), the typed
characters and the held keys. :class:`~xrclient.desktop.interaction.Interaction` dispatches
key presses and characters through :data:`PRESSES` and :data:`CHARS`, built from
:data:`CONTROLS`, and the help overlay draws :data:`CONTROLS`: a key cannot be bound without
its help line, and a help line cannot name a key that does nothing. Mouse gestures are help
lines only (``mouse=True``): the interaction handles them by event type.
"""

from __future__ import annotations

from dataclasses import dataclass

import glfw


@dataclass(frozen=True, slots=True)
class Press:
    """A key press and the action it triggers.

    ``shift``/``ctrl``: the modifier must be held. A press bound without Shift also fires
    with Shift held when no Shift binding of that key exists; ``always``: it fires whatever
    modifiers are held (Ctrl included). Actions of :data:`LOCAL_ACTIONS` change the
    viewer's own state; every other action is a request the viewer carries out.
    """

    key: int  # glfw.KEY_*
    action: str
    shift: bool = False
    ctrl: bool = False
    always: bool = False


@dataclass(frozen=True, slots=True)
class Control:
    keys: str  # as shown to people
    does: str
    presses: tuple[Press, ...] = ()
    chars: tuple[tuple[str, str], ...] = ()  # (typed character, action)
    held: tuple[int, ...] = ()  # glfw.KEY_* read while held (polled each frame)
    mouse: bool = False  # a mouse gesture: no keys


def _presses(action: str, *keys: int, shift: bool = False) -> tuple[Press, ...]:
    return tuple(Press(k, action, shift=shift) for k in keys)


#: the forward, back, left, right, down and up keys of WASD flight
FLY_KEYS = (glfw.KEY_W, glfw.KEY_S, glfw.KEY_A, glfw.KEY_D, glfw.KEY_Q, glfw.KEY_E)
#: held: flight four times faster
FAST_KEYS = (glfw.KEY_LEFT_SHIFT, glfw.KEY_RIGHT_SHIFT)
#: held in a shared session: point a laser at the cursor
LASER_KEY = glfw.KEY_SPACE

CONTROLS: tuple[Control, ...] = (
    Control("Left drag", "orbit (fly mode: look around)", mouse=True),
    Control("Right drag, Shift + left drag", "pan", mouse=True),
    Control("Wheel", "zoom toward the cursor", mouse=True),
    Control("W A S D, Q E", "move, down / up (Shift: faster)", held=FLY_KEYS + FAST_KEYS),
    Control("Tab", "orbit / fly mode", _presses("fly_mode", glfw.KEY_TAB)),
    Control("Click", "select a machine (click empty space: deselect)", mouse=True),
    Control("Double-click", "fly to a machine", mouse=True),
    Control(
        "1 .. 9",
        "named viewpoints of the scene",
        tuple(Press(glfw.KEY_0 + n, f"viewpoint:{n}") for n in range(1, 10)),
    ),
    Control("R, Home", "reset the view", _presses("home", glfw.KEY_R, glfw.KEY_HOME)),
    Control(
        "/ or Ctrl+F",
        "search machines by id or name (Enter: jump)",
        (Press(glfw.KEY_F, "search", ctrl=True),),
        chars=(("/", "search"),),
    ),
    Control("Click an alarm", "fly to that machine", mouse=True),
    Control(
        "O, H",
        "overlays on / off, HUD on / off",
        (Press(glfw.KEY_O, "overlays"), Press(glfw.KEY_H, "hud")),
    ),
    Control("F12, P", "screenshot (PNG)", _presses("screenshot", glfw.KEY_F12, glfw.KEY_P)),
    Control("Space (hold)", "session: point a laser at the cursor", held=(LASER_KEY,)),
    Control(
        "K, N",
        "session: look-here ping at the cursor, note on the selection",
        (Press(glfw.KEY_K, "ping"),),
        # from the character, so the key does not type itself into the note
        chars=(("n", "note"), ("N", "note")),
    ),
    Control(
        "L, F, G",
        "session: follow me, follow / break away, summon all here",
        (Press(glfw.KEY_L, "lead"), Press(glfw.KEY_F, "follow"), Press(glfw.KEY_G, "summon")),
    ),
    Control(
        "Left, Right (Shift)",
        "history: back, forward 10 s (60 s); click the bar: seek",
        (
            Press(glfw.KEY_LEFT, "tl_back"),
            Press(glfw.KEY_RIGHT, "tl_fwd"),
            Press(glfw.KEY_LEFT, "tl_back_long", shift=True),
            Press(glfw.KEY_RIGHT, "tl_fwd_long", shift=True),
        ),
    ),
    Control(
        "Down, Up, End",
        "history: play / pause, faster, back to live",
        (
            Press(glfw.KEY_DOWN, "tl_play"),
            Press(glfw.KEY_UP, "tl_faster"),
            Press(glfw.KEY_END, "tl_live"),
        ),
    ),
    Control(
        "J",
        "history: rejoin the moment the session's leader shares",
        (Press(glfw.KEY_J, "tl_rejoin"),),
    ),
    Control(
        "C, I, F5",
        "training: confirm the step, a hint, restart the procedure",
        (
            Press(glfw.KEY_C, "tr_confirm"),
            Press(glfw.KEY_I, "tr_hint"),
            Press(glfw.KEY_F5, "tr_restart"),
        ),
    ),
    Control(
        "T, F6, F7, F8",
        "training (expert): next trainee, advance, reset step, restart",
        (
            Press(glfw.KEY_T, "tr_watch"),
            Press(glfw.KEY_F6, "tr_advance"),
            Press(glfw.KEY_F7, "tr_reset_step"),
            Press(glfw.KEY_F8, "tr_restart_trainee"),
        ),
    ),
    Control(
        "Shift + L, U, X",
        "plant: lock out, start, clear the fault of the selection",
        (
            Press(glfw.KEY_L, "plant:lock_out", shift=True),
            Press(glfw.KEY_U, "plant:start", shift=True),
            Press(glfw.KEY_X, "plant:clear_fault", shift=True),
        ),
    ),
    Control(
        "? or F1",
        "this help",
        (Press(glfw.KEY_F1, "help", always=True),),
        chars=(("?", "help"),),
    ),
    Control(
        "Esc",
        "close search / note / help, clear selection",
        (Press(glfw.KEY_ESCAPE, "escape", always=True),),
    ),
    Control("Ctrl+Q", "quit", (Press(glfw.KEY_Q, "quit", ctrl=True),)),
)

#: actions that change the viewer's own state (the rest are requests the viewer carries out)
LOCAL_ACTIONS = frozenset(
    {"quit", "escape", "help", "search", "note", "fly_mode", "home", "overlays", "hud"}
    | {"screenshot"}
    | {f"viewpoint:{n}" for n in range(1, 10)}
)


def _press_table(controls: tuple[Control, ...]) -> dict[tuple[int, bool, bool], Press]:
    table: dict[tuple[int, bool, bool], Press] = {}
    for control in controls:
        for press in control.presses:
            chord = (press.key, press.shift, press.ctrl)
            if chord in table:
                raise ValueError(f"{control.keys}: key {press.key} is bound twice")
            table[chord] = press
    return table


def _char_table(controls: tuple[Control, ...]) -> dict[str, str]:
    table: dict[str, str] = {}
    for control in controls:
        for char, action in control.chars:
            if char in table:
                raise ValueError(f"{control.keys}: character {char!r} is bound twice")
            table[char] = action
    return table


#: (glfw key, Shift held, Ctrl held) -> binding, from :data:`CONTROLS`
PRESSES: dict[tuple[int, bool, bool], Press] = _press_table(CONTROLS)
#: typed character -> action, from :data:`CONTROLS`
CHARS: dict[str, str] = _char_table(CONTROLS)
_ALWAYS = {p.key: p for p in PRESSES.values() if p.always}


def press_action(key: int, *, shift: bool, ctrl: bool) -> str | None:
    """The action of pressing ``key`` with these modifiers held, or ``None``."""
    if ctrl:
        press = PRESSES.get((key, False, True)) or _ALWAYS.get(key)
    else:
        press = (PRESSES.get((key, True, False)) if shift else None) or PRESSES.get(
            (key, False, False)
        )
    return None if press is None else press.action


_NAMED_KEYS = {
    glfw.KEY_ESCAPE: "Esc",
    glfw.KEY_TAB: "Tab",
    glfw.KEY_HOME: "Home",
    glfw.KEY_END: "End",
    glfw.KEY_LEFT: "Left",
    glfw.KEY_RIGHT: "Right",
    glfw.KEY_UP: "Up",
    glfw.KEY_DOWN: "Down",
    glfw.KEY_SPACE: "Space",
    glfw.KEY_LEFT_SHIFT: "Shift",
    glfw.KEY_RIGHT_SHIFT: "Shift",
}


def key_name(key: int) -> str:
    """How the help overlay names a glfw key: ``A``, ``7``, ``F5``, ``Esc``, ``Left``."""
    if key in _NAMED_KEYS:
        return _NAMED_KEYS[key]
    if glfw.KEY_A <= key <= glfw.KEY_Z or glfw.KEY_0 <= key <= glfw.KEY_9:
        return chr(key)
    if glfw.KEY_F1 <= key <= glfw.KEY_F25:
        return f"F{key - glfw.KEY_F1 + 1}"
    raise KeyError(f"no name for key {key}")


#: seconds between two clicks that make a double-click
DOUBLE_CLICK_S = 0.35
#: pixels the cursor may move between press and release and still click
CLICK_SLOP_PX = 4.0
#: metres per second of WASD flight per metre of distance to the target (Shift: x4)
FLY_SPEED_PER_M = 0.6
