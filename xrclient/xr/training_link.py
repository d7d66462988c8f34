"""A training procedure in the headset (``xrclient xr --procedure NAME``).

Each frame: the trigger on a machine selects it, the laser resting on one points at it, the
confirm button (A / X) confirms the step (on a controller without one, the trigger on the
step's machine does) and the hint button (thumbstick click) asks for a hint; the run is
checked against the shown store with the head as where the trainee stands (hazard
zones). The :class:`~xrclient.render.training_layer.TrainingLayer` draws the zones, the
step's machine and the instruction panel over it, or, for a step that names no machine, a
little ahead of the trainee at eye height. Progress and the result go to the room's
experts through the session (see :mod:`xrclient.training.driver`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core.view import View
from xrclient.render.font import SdfFont
from xrclient.render.training_layer import TrainingLayer
from xrclient.training.driver import TrainingDriver
from xrclient.xr.controls import ControlsOutput
from xrclient.xr.input import ButtonEdges, HandState
from xrclient.xr.poses import F64, Pose, world_pose

if TYPE_CHECKING:
    from xrclient.core.expr import StoreView
    from xrclient.scene.model import Scene
    from xrclient.session import Session
    from xrclient.training.model import Procedure

#: where the panel floats for a step without a machine: ahead of the head, metres
PANEL_AHEAD_M = 2.5


class XrTraining:
    def __init__(
        self,
        procedure: Procedure,
        scene: Scene,
        machine_bounds: npt.ArrayLike,
        trainee: str,
        session: Session | None,
    ) -> None:
        self.driver = TrainingDriver.for_scene(procedure, scene, trainee, session)
        self.bounds = np.asarray(machine_bounds, np.float64)
        self.layer: TrainingLayer | None = None  # made with the swapchains (colour encoding)
        self._buttons = ButtonEdges("confirm", "hint")

    def prepare(self, ctx: moderngl.Context, font: SdfFont, srgb: bool) -> None:
        if self.layer is None:
            self.layer = TrainingLayer(ctx, font, self.bounds, srgb_output=srgb)

    def update(
        self,
        store: StoreView | None,
        now: float,
        rig: F64,
        head: Pose | None,
        hands: Sequence[HandState],
        output: ControlsOutput,
    ) -> None:
        d = self.driver
        view = d.view
        for laser in output.lasers:  # a trigger pull on a machine (not on the card)
            if laser.pressed and laser.machine is not None and laser.panel is None:
                on_target = view is not None and laser.machine == view.target_machine
                if on_target and view is not None and view.complete == "confirm":
                    d.confirm(now)
                else:
                    d.select(laser.machine, now)
        d.point_at(output.hovered, now)
        pressed = self._buttons.update(hands)
        for _ in pressed["confirm"]:
            d.confirm(now)
        for _ in pressed["hint"]:
            d.hint(now)
        eye: tuple[float, float, float] | None = None
        anchor = None
        if head is not None:
            p, r = world_pose(rig, head)
            eye = (float(p[0]), float(p[1]), float(p[2]))
            forward = -r[:, 2]
            flat = np.array([forward[0], 0.0, forward[2]])
            flat /= max(float(np.linalg.norm(flat)), 1e-6)
            anchor = p + flat * PANEL_AHEAD_M
        view = d.frame(store, now, eye)
        d.said.clear()  # the panel shows the step's feedback and hints
        if self.layer is not None:
            self.layer.update(
                view, anchor, confirm_key="A / X (or the trigger on it)", hint_key="stick click"
            )

    def draw(self, views: Sequence[View], now: float) -> None:
        if self.layer is not None:
            self.layer.draw(views, now)

    def release(self) -> None:
        if self.layer is not None:
            self.layer.release()
            self.layer = None
