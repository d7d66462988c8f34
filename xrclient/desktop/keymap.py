"""The viewer's controls in one table: what the help overlay shows is what the keys do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Control:
    keys: str  # as shown to people
    does: str


CONTROLS: tuple[Control, ...] = (
    Control("Left drag", "orbit (fly mode: look around)"),
    Control("Right drag, Shift + left drag", "pan"),
    Control("Wheel", "zoom toward the cursor"),
    Control("W A S D, Q E", "move, down / up (Shift: faster)"),
    Control("Tab", "orbit / fly mode"),
    Control("Click", "select a machine (click empty space: deselect)"),
    Control("Double-click", "fly to a machine"),
    Control("1 .. 9", "named viewpoints of the scene"),
    Control("R, Home", "reset the view"),
    Control("/ or Ctrl+F", "search machines by id or name (Enter: jump)"),
    Control("Click an alarm", "fly to that machine"),
    Control("O, H", "overlays on / off, HUD on / off"),
    Control("F12, P", "screenshot (PNG)"),
    Control("Space (hold)", "session: point a laser at the cursor"),
    Control("K, N", "session: look-here ping at the cursor, note on the selection"),
    Control("L, F, G", "session: follow me, follow / break away, summon all here"),
    Control("Left, Right (Shift)", "history: back, forward 10 s (60 s); click the bar: seek"),
    Control("Down, Up, End", "history: play / pause, faster, back to live"),
    Control("J", "history: rejoin the moment the session's leader shares"),
    Control("C, I, F5", "training: confirm the step, a hint, restart the procedure"),
    Control("T, F6, F7, F8", "training (expert): next trainee, advance, reset step, restart"),
    Control("Shift + L, U, X", "plant: lock out, start, clear the fault of the selection"),
    Control("? or F1", "this help"),
    Control("Esc", "close search / note / help, clear selection"),
    Control("Ctrl+Q", "quit"),
)

#: seconds between two clicks that make a double-click
DOUBLE_CLICK_S = 0.35
#: pixels the cursor may move between press and release and still click
CLICK_SLOP_PX = 4.0
#: metres per second of WASD flight per metre of distance to the target (Shift: x4)
FLY_SPEED_PER_M = 0.6
