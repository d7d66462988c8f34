"""What the hands do, as a sans-I/O state machine: point, select, teleport, turn, grab.

Fed the hand states and the head pose once per frame; keeps the rig (``world_from_stage``)
and the selected machine, and says what to draw (lasers, the teleport arc and its target).

- trigger: select the machine the laser points at (pointing at nothing clears the selection)
- thumbstick forward: aim a teleport arc; let go to jump to its target on the floor
- thumbstick left/right: snap turn
- grip: hold to drag the plant; with both hands, also turn and scale it

A ``panel`` (the timeline card, :mod:`.timeline_layout`) in front of a machine stops the
laser: the laser then reports the panel point, and the trigger does not change the
selection (the panel's owner reads ``Laser.panel``, ``pressed`` and ``held``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from xrclient.scene.picking import Picker, Ray
from xrclient.xr import locomotion
from xrclient.xr.input import HandState
from xrclient.xr.poses import F64, Pose, world_pose
from xrclient.xr.timeline_layout import PanelRect


@dataclass(frozen=True, slots=True)
class ControlsConfig:
    snap_degrees: float = 30.0
    trigger_on: float = 0.75
    trigger_off: float = 0.35
    squeeze_on: float = 0.6
    squeeze_off: float = 0.3
    stick_on: float = 0.7
    stick_off: float = 0.3
    laser_length: float = 40.0  # metres (world)


@dataclass(frozen=True, slots=True)
class Laser:
    hand: int
    start: F64
    end: F64
    machine: int | None
    panel: tuple[float, float] | None = None  # the panel point it rests on
    held: bool = False  # the trigger is down
    pressed: bool = False  # the trigger went down this frame


@dataclass(frozen=True, slots=True)
class ControlsOutput:
    lasers: tuple[Laser, ...] = ()
    arc: F64 | None = None  # (N, 3) world points
    target: F64 | None = None  # teleport target on the floor (world)
    hovered: int | None = None


@dataclass(slots=True)
class _Hand:
    trigger: bool = False
    squeeze: bool = False
    turn_latched: bool = False
    aiming: bool = False


@dataclass(slots=True)
class _Grab:
    hands: tuple[int, ...]
    rig: F64
    points: tuple[F64, ...]


def _position(hand: HandState) -> F64 | None:
    pose = hand.grip or hand.aim
    return None if pose is None else np.asarray(pose.position, np.float64)


@dataclass(slots=True)
class Controls:
    rig: F64
    picker: Picker | None = None
    floor_y: float = 0.0
    config: ControlsConfig = field(default_factory=ControlsConfig)
    selected: int | None = None
    panel: PanelRect | None = None
    teleports: int = 0
    turns: int = 0
    _hands: list[_Hand] = field(default_factory=lambda: [_Hand(), _Hand()])
    _grab: _Grab | None = None
    _target: F64 | None = None

    def step(self, hands: Sequence[HandState], head: Pose | None) -> ControlsOutput:
        cfg = self.config
        head_pos = head.position if head is not None else (0.0, 1.6, 0.0)
        self._update_grab(hands)
        arc: F64 | None = None
        target: F64 | None = None
        lasers: list[Laser] = []
        for i, (hand, st) in enumerate(zip(hands, self._hands, strict=False)):
            if self._grab is not None and i in self._grab.hands:
                continue
            sx, sy = hand.stick
            # snap turn: once per push
            if st.turn_latched and abs(sx) < cfg.stick_off:
                st.turn_latched = False
            elif not st.turn_latched and abs(sx) > cfg.stick_on and abs(sx) > abs(sy):
                st.turn_latched = True
                self.rig = locomotion.snap_turn(
                    self.rig, head_pos, cfg.snap_degrees if sx > 0 else -cfg.snap_degrees
                )
                self.turns += 1
            # teleport: aim while pushed forward, jump on release
            if hand.aim is not None and sy > cfg.stick_on and not st.turn_latched:
                st.aiming = True
                origin, rot = world_pose(self.rig, hand.aim)
                thrown = locomotion.teleport_arc(origin, -rot[:, 2], floor_y=self.floor_y)
                arc, target = thrown.points, thrown.target
                self._target = target
                continue
            if st.aiming and sy < cfg.stick_off:
                st.aiming = False
                if self._target is not None:
                    self.rig = locomotion.teleport(self.rig, head_pos, self._target)
                    self.teleports += 1
                self._target = None
            # select on the trigger's rising edge
            held = hand.select > (cfg.trigger_off if st.trigger else cfg.trigger_on)
            edge = held and not st.trigger
            st.trigger = held
            if hand.aim is not None:
                laser = self._laser(i, hand.aim, held, edge)
                lasers.append(laser)
                if edge and laser.panel is None:
                    self.selected = laser.machine
        hovered = next((la.machine for la in reversed(lasers) if la.machine is not None), None)
        return ControlsOutput(tuple(lasers), arc, target, hovered)

    def _laser(self, index: int, aim: Pose, held: bool, pressed: bool) -> Laser:
        origin, rot = world_pose(self.rig, aim)
        direction = -rot[:, 2]
        length = self.config.laser_length
        on_panel = None if self.panel is None else self.panel.hit(origin, direction, length)
        if on_panel is not None:
            length = on_panel[0]  # a machine in front of the panel still wins
        hit = None
        if self.picker is not None:
            hit = self.picker.pick(Ray(tuple(origin), tuple(direction)), length)
        if hit is not None:
            point = np.asarray(hit.point, np.float64)
            return Laser(index, origin, point, hit.machine, None, held, pressed)
        xy = None if on_panel is None else (on_panel[1], on_panel[2])
        return Laser(index, origin, origin + direction * length, None, xy, held, pressed)

    def _update_grab(self, hands: Sequence[HandState]) -> None:
        cfg = self.config
        holding: list[int] = []
        for i, (hand, st) in enumerate(zip(hands, self._hands, strict=False)):
            st.squeeze = hand.squeeze > (cfg.squeeze_off if st.squeeze else cfg.squeeze_on)
            if st.squeeze and _position(hand) is not None:
                holding.append(i)
        now = tuple(holding)
        if not now:
            self._grab = None
            return
        points = tuple(p for i in now if (p := _position(hands[i])) is not None)
        if self._grab is None or self._grab.hands != now:
            # a hand joined or left: restart from the current rig so nothing jumps
            self._grab = _Grab(now, self.rig.copy(), points)
            return
        g = self._grab
        if len(now) == 1:
            self.rig = locomotion.grab_one(g.rig, g.points[0], points[0])
        else:
            self.rig = locomotion.grab_two(g.rig, g.points[0], g.points[1], points[0], points[1])
