"""What the viewer's input does: window events in, camera moves and UI state out.

No GL and no window here: :class:`Interaction` takes the events :mod:`window` queues (plus
the frame's View, to pick through), moves the :class:`CameraRig` and updates
:class:`UiState`, so the viewer's frame loop only draws what the state says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import glfw
import numpy as np

from xrclient.core.view import View
from xrclient.desktop import keymap
from xrclient.desktop.camera_rig import CameraRig
from xrclient.desktop.keymap import CLICK_SLOP_PX, DOUBLE_CLICK_S, FLY_SPEED_PER_M
from xrclient.desktop.machine_search import MachineSearch
from xrclient.desktop.window import Button, Char, Cursor, Event, Key, Leave, Resize, Scroll
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.model import Viewpoint
from xrclient.scene.picking import Picker, ray_from_pixel

#: longest note text typed in the viewer
NOTE_MAX = 200
#: zoom factor per wheel notch
ZOOM_STEP = 0.85
TOAST_S = 3.0

HudHit = Callable[[float, float], "tuple[str, int] | None"]


@dataclass(slots=True)
class UiState:
    selected: int | None = None
    hovered: int | None = None
    query: str | None = None  # None: search closed
    note: str | None = None  # None: no note being written
    chosen: int = 0  # highlighted search match
    matches: tuple[int, ...] = ()
    help: bool = False
    fly_mode: bool = False
    overlays: bool = True
    hud: bool = True
    screenshot: bool = False  # a screenshot is requested for this frame
    quit: bool = False
    toast: str = ""
    toast_until: float = 0.0
    #: session actions asked for since the viewer last looked: lead, follow, summon, ping,
    #: note (the text is in ``note_text``)
    requests: list[str] = field(default_factory=list)
    note_text: str = ""

    def say(self, text: str, now: float) -> None:
        self.toast, self.toast_until = text, now + TOAST_S


@dataclass(slots=True)
class _Drag:
    mode: str  # "orbit", "look" or "pan"
    x: float
    y: float
    start_x: float
    start_y: float
    moved: bool = False


class Interaction:
    def __init__(
        self,
        rig: CameraRig,
        picker: Picker,
        geometry: SceneGeometry,
        search: MachineSearch,
        viewpoints: Sequence[Viewpoint],
        home: tuple[Sequence[float], Sequence[float]],
    ) -> None:
        self.rig = rig
        self.picker = picker
        self.search = search
        self.viewpoints = tuple(viewpoints)
        self.home = home
        self.state = UiState()
        self.cursor: tuple[float, float] | None = None
        self._bounds = geometry.machine_bounds.astype(np.float64)
        self._drag: _Drag | None = None
        self._last_click: tuple[float, float, float, int | None] | None = None  # t, x, y, hit

    # --- helpers -------------------------------------------------------------------------

    def pick(self, view: View, x: float, y: float) -> tuple[int | None, tuple[float, ...] | None]:
        """The machine and the surface point (machine or fixture) under pixel ``(x, y)``."""
        try:
            ray = ray_from_pixel(view, x, y)
        except ValueError:
            return None, None
        hit = self.picker.cast(ray)
        if hit is None:
            return None, None
        return (hit.machine if hit.machine >= 0 else None), hit.point

    def focus(self, machine: int, now: float) -> None:
        """Fly to ``machine`` and select it."""
        b = self._bounds[machine]
        center = (b[0] + b[1]) / 2.0
        radius = float(np.linalg.norm(b[1] - b[0])) / 2.0
        self.rig.focus(center, radius, now)
        self.state.selected = machine

    def go_home(self, now: float) -> None:
        self.rig.fly_to(self.home[0], self.home[1], now)

    def viewpoint(self, number: int, now: float) -> None:
        if 1 <= number <= len(self.viewpoints):
            vp = self.viewpoints[number - 1]
            self.rig.fly_to(vp.position, vp.target, now)
            self.state.say(f"viewpoint {number}: {vp.name}", now)
        else:
            self.state.say(f"no viewpoint {number} (the scene has {len(self.viewpoints)})", now)

    # --- events --------------------------------------------------------------------------

    def handle(self, event: Event, view: View, now: float, hud_hit: HudHit) -> None:
        if isinstance(event, Key):
            if event.action in (glfw.PRESS, glfw.REPEAT):
                self._key(event, now)
        elif isinstance(event, Char):
            self._char(event.text, now)
        elif isinstance(event, Button):
            self._button(event, view, now, hud_hit)
        elif isinstance(event, Cursor):
            self._cursor(event.x, event.y, view)
        elif isinstance(event, Scroll):
            _, point = self.pick(view, event.x, event.y)
            self.rig.zoom(ZOOM_STEP ** float(event.dy), point)
        elif isinstance(event, Leave):
            self.cursor = None
        elif isinstance(event, Resize):
            self._drag = None

    def _key(self, e: Key, now: float) -> None:
        s = self.state
        ctrl = bool(e.mods & glfw.MOD_CONTROL)
        action = keymap.press_action(e.key, shift=bool(e.mods & glfw.MOD_SHIFT), ctrl=ctrl)
        if action == "quit":
            s.quit = True
        elif s.query is not None:
            self._search_key(e.key, now)
        elif s.note is not None:
            self._note_key(e.key, now)
        elif action is not None:
            self._do(action, now)

    def _do(self, action: str, now: float) -> None:
        """Carry out a key binding's action (:mod:`keymap`): the viewer's own state here,
        anything else is a request for the viewer."""
        s = self.state
        if action == "escape":
            if s.help:
                s.help = False
            else:
                s.selected = None
        elif action == "help":
            s.help = not s.help
        elif action == "search":
            self._open_search()
        elif action == "note":
            if s.selected is None:
                s.say("select a machine first, then N to pin a note on it", now)
            else:
                s.note = ""
        elif action == "fly_mode":
            s.fly_mode = not s.fly_mode
            s.say("fly mode: drag to look, W A S D to move" if s.fly_mode else "orbit mode", now)
        elif action == "home":
            self.go_home(now)
        elif action.startswith("viewpoint:"):
            self.viewpoint(int(action.removeprefix("viewpoint:")), now)
        elif action == "overlays":
            s.overlays = not s.overlays
        elif action == "hud":
            s.hud = not s.hud
        elif action == "screenshot":
            s.screenshot = True
        elif action not in keymap.LOCAL_ACTIONS:
            s.requests.append(action)

    def _open_search(self) -> None:
        self.state.query, self.state.chosen, self.state.matches = "", 0, ()

    def _search_key(self, key: int, now: float) -> None:
        s = self.state
        if key == glfw.KEY_ESCAPE:
            s.query = None
        elif key == glfw.KEY_BACKSPACE and s.query:
            self._set_query(s.query[:-1])
        elif key in (glfw.KEY_DOWN, glfw.KEY_TAB) and s.matches:
            s.chosen = (s.chosen + 1) % len(s.matches)
        elif key == glfw.KEY_UP and s.matches:
            s.chosen = (s.chosen - 1) % len(s.matches)
        elif key in (glfw.KEY_ENTER, glfw.KEY_KP_ENTER):
            if s.matches:
                self.focus(s.matches[s.chosen], now)
                s.query = None
            else:
                s.say(f"no machine matches {s.query!r}", now)

    def _note_key(self, key: int, now: float) -> None:
        s = self.state
        if key == glfw.KEY_ESCAPE:
            s.note = None
        elif key == glfw.KEY_BACKSPACE and s.note:
            s.note = s.note[:-1]
        elif key in (glfw.KEY_ENTER, glfw.KEY_KP_ENTER):
            if s.note and s.note.strip():
                s.note_text = s.note.strip()
                s.requests.append("note")
            s.note = None

    def _set_query(self, query: str) -> None:
        s = self.state
        s.query = query[:64]
        s.matches = tuple(self.search.find(s.query))
        s.chosen = 0

    def _char(self, text: str, now: float) -> None:
        s = self.state
        if s.query is not None:
            if text.isprintable():
                self._set_query(s.query + text)
        elif s.note is not None:
            if text.isprintable():
                s.note = (s.note + text)[:NOTE_MAX]
        elif text in keymap.CHARS:
            self._do(keymap.CHARS[text], now)

    def _button(self, e: Button, view: View, now: float, hud_hit: HudHit) -> None:
        if e.action == glfw.PRESS:
            shift = bool(e.mods & glfw.MOD_SHIFT)
            if e.button == glfw.MOUSE_BUTTON_LEFT and not shift:
                mode = "look" if self.state.fly_mode else "orbit"
            else:
                mode = "pan"
            self._drag = _Drag(mode, e.x, e.y, e.x, e.y)
            return
        drag, self._drag = self._drag, None
        if e.action != glfw.RELEASE or e.button != glfw.MOUSE_BUTTON_LEFT:
            return
        if drag is not None and drag.moved:
            return
        self._click(e.x, e.y, view, now, hud_hit)

    def _click(self, x: float, y: float, view: View, now: float, hud_hit: HudHit) -> None:
        s = self.state
        action = hud_hit(x, y) if s.hud else None
        if action is not None:
            if action[0] == "machine":
                self.focus(action[1], now)
                s.query = None
            elif action[0] == "seek":
                s.requests.append(f"seek:{action[1]}")
            return
        machine, _ = self.pick(view, x, y)
        last = self._last_click
        double = (
            last is not None
            and now - last[0] <= DOUBLE_CLICK_S
            and math.dist((x, y), last[1:3]) <= 2 * CLICK_SLOP_PX
            and machine == last[3]
        )
        self._last_click = None if double else (now, x, y, machine)
        if machine is None:
            s.selected = None
        elif double:
            self.focus(machine, now)
        else:
            s.selected = machine

    def _cursor(self, x: float, y: float, view: View) -> None:
        self.cursor = (x, y)
        d = self._drag
        if d is None:
            return
        if not d.moved and math.dist((x, y), (d.start_x, d.start_y)) <= CLICK_SLOP_PX:
            return
        d.moved = True
        dx, dy = x - d.x, y - d.y
        d.x, d.y = x, y
        if d.mode == "orbit":
            self.rig.orbit(dx, dy)
        elif d.mode == "look":
            self.rig.look(-dx, -dy)
        else:
            self.rig.pan(dx, dy, view.viewport[3])

    # --- per frame ------------------------------------------------------------------------

    def fly(self, key_down: Callable[[int], bool], dt: float) -> None:
        """Move with held W A S D Q E (Shift: four times faster)."""
        if self.state.query is not None or self.state.note is not None or dt <= 0.0:
            return
        ahead, back, left, right_key, down, up_key = keymap.FLY_KEYS
        forward = float(key_down(ahead)) - float(key_down(back))
        right = float(key_down(right_key)) - float(key_down(left))
        up = float(key_down(up_key)) - float(key_down(down))
        if forward or right or up:
            fast = any(key_down(k) for k in keymap.FAST_KEYS)
            speed = FLY_SPEED_PER_M * max(self.rig.distance, 2.0) * (4.0 if fast else 1.0)
            self.rig.move(forward, right, up, speed * min(dt, 0.1))

    def hover(self, view: View) -> None:
        """Pick under the cursor (not while dragging)."""
        if self.cursor is None or self._drag is not None:
            self.state.hovered = None
            return
        self.state.hovered, _ = self.pick(view, *self.cursor)
