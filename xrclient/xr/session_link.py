"""The headset's side of a shared session.

Each frame: take in the room, send the head, both hands and (while a laser rests on a
machine) the pointer in plant coordinates, go where a summon says, and keep up with a
leader being followed. In a headset the view is never moved smoothly by someone else
(that makes people sick): following teleports next to the leader whenever they get more
than ``FOLLOW_RADIUS_M`` away, and a summon teleports once. The menu button pings "look
here" where the laser points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import moderngl
import numpy as np

from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.render.avatars import Avatars
from xrclient.render.font import SdfFont
from xrclient.scene.model import Scene
from xrclient.session import Session, SessionOptions, scene_anchors
from xrclient.xr import locomotion
from xrclient.xr.controls import Controls, ControlsOutput
from xrclient.xr.input import ButtonEdges, HandState
from xrclient.xr.poses import F64, Pose, world_pose

#: a follower is teleported beside the leader once this far away (metres, horizontal)
FOLLOW_RADIUS_M = 2.5
#: and lands this far behind the leader's head, on the floor
FOLLOW_BEHIND_M = 1.2


def world_pose7(rig: F64, pose: Pose) -> list[float]:
    """A tracked pose as the session's 7 floats in plant coordinates."""
    return list(math3d.pose7(*world_pose(rig, pose)))


class XrSessionLink:
    def __init__(self, options: SessionOptions, scene: Scene) -> None:
        self.session = Session(options, anchors=scene_anchors(scene))
        self.avatars: Avatars | None = None  # made with the swapchains (colour encoding)
        self._menu = ButtonEdges("menu")
        self.teleports = 0
        self.session.start()

    def prepare(self, ctx: moderngl.Context, font: SdfFont, srgb: bool) -> None:
        if self.avatars is None:
            self.avatars = Avatars(ctx, font, srgb_output=srgb)

    def update(
        self,
        controls: Controls,
        hands: Sequence[HandState],
        head: Pose | None,
        output: ControlsOutput,
        view: View | None,
        now: float,
    ) -> None:
        s = self.session
        s.update(now)
        if head is not None:
            self._steer(controls, head)
            rig = controls.rig
            grips = [h.grip or h.aim for h in hands]
            left = world_pose7(rig, grips[0]) if grips and grips[0] is not None else None
            right = world_pose7(rig, grips[1]) if len(grips) > 1 and grips[1] else None
            point = None
            laser = next((la for la in output.lasers if la.machine is not None), None)
            if laser is not None:
                d = laser.end - laser.start
                d = d / max(float(np.linalg.norm(d)), 1e-9)
                point = [*(float(c) for c in laser.start), *(float(c) for c in d)]
            s.send_pose(world_pose7(rig, head), left, right, point)
            self._pings(hands, output)
        if self.avatars is not None:
            self.avatars.update(s.participants, s.annotations, s.pings, view=view)

    def _steer(self, controls: Controls, head: Pose) -> None:
        s = self.session
        floor = controls.floor_y
        summon = s.take_summon()
        if summon is not None and len(summon) >= 3:
            controls.rig = locomotion.teleport(
                controls.rig, head.position, (summon[0], floor, summon[2])
            )
            self.teleports += 1
            return
        if s.follow is None:
            return
        leader = next(
            (p.pose for p in s.participants if p.pid == s.follow and p.pose is not None), None
        )
        if leader is None:
            return
        mine, _ = world_pose(controls.rig, head)
        lx, lz = float(leader.head[0]), float(leader.head[2])
        if math.hypot(lx - mine[0], lz - mine[2]) <= FOLLOW_RADIUS_M:
            return
        # the leader looks along their -Z axis; land behind them, level
        ahead = -np.asarray(math3d.quat_matrix(tuple(leader.head[3:7].tolist()))[:3, 2], np.float64)
        ahead[1] = 0.0
        norm = float(np.linalg.norm(ahead))
        ahead = ahead / norm if norm > 1e-6 else np.array([0.0, 0.0, -1.0])
        target = (lx - ahead[0] * FOLLOW_BEHIND_M, floor, lz - ahead[2] * FOLLOW_BEHIND_M)
        controls.rig = locomotion.teleport(controls.rig, head.position, target)
        self.teleports += 1

    def _pings(self, hands: Sequence[HandState], output: ControlsOutput) -> None:
        for i in self._menu.update(hands)["menu"]:
            laser = next((la for la in output.lasers if la.hand == i), None)
            if laser is not None:
                self.session.ping([float(c) for c in laser.end])

    def draw(self, views: Sequence[View], now: float) -> None:
        if self.avatars is not None:
            self.avatars.draw(views, now)

    def close(self) -> None:
        self.session.stop()
        if self.avatars is not None:
            self.avatars.release()
            self.avatars = None
