"""The frame sink of the headset: the plant, overlays and hand markers drawn for two eyes.

``update`` reads the controllers and moves the user, then runs the plant frame (the twin
queue drained without waiting, the store and time shown: live, or with ``--history`` the
chosen moment of a recording, and the bindings over them), and lays the overlays out for
it. ``render`` draws both eyes with the desktop's renderer through a list of two Views.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import moderngl

from xrclient.core.view import View
from xrclient.frame import PlantFrame
from xrclient.render.renderer import Renderer
from xrclient.xr.controls import Controls, ControlsOutput
from xrclient.xr.frame_loop import Eye
from xrclient.xr.input import NO_HANDS, HandInput, HandState
from xrclient.xr.markers import Markers
from xrclient.xr.passthrough import TransparentBackground
from xrclient.xr.poses import Pose, eye_view

if TYPE_CHECKING:
    from xrclient.core.visuals import MachineVisuals
    from xrclient.render.overlays import Overlays, OverlayStats
    from xrclient.scene.model import Scene
    from xrclient.xr.history_link import XrHistoryLink
    from xrclient.xr.mirror import Mirror
    from xrclient.xr.session_link import XrSessionLink
    from xrclient.xr.training_link import XrTraining

#: called after both eyes are drawn, before the images go back to the runtime
RenderHook = Callable[[Sequence[Eye], Sequence[View]], None]
#: rewrites the hand states of frame N before they are used (scripted input: tests, tools)
InputScript = Callable[[int, tuple[HandState, ...]], tuple[HandState, ...]]


@dataclass(slots=True)
class SceneParts:
    ctx: moderngl.Context
    renderer: Renderer
    markers: Markers
    controls: Controls
    #: live state, history and bindings, once per frame
    plant: PlantFrame
    overlays: Overlays | None = None
    transparent: TransparentBackground | None = None
    session: XrSessionLink | None = None
    history: XrHistoryLink | None = None
    training: XrTraining | None = None
    scene: Scene | None = None
    near: float = 0.05
    far: float = 500.0


def head_pose(eyes: Sequence[Eye]) -> Pose | None:
    """Between the eyes, looking where the first eye looks."""
    if not eyes:
        return None
    n = len(eyes)
    x = sum(e.pose.position[0] for e in eyes) / n
    y = sum(e.pose.position[1] for e in eyes) / n
    z = sum(e.pose.position[2] for e in eyes) / n
    return Pose((x, y, z), eyes[0].pose.orientation)


class SceneView:
    """Implements :class:`~.frame_loop.FrameSink`."""

    def __init__(
        self, parts: SceneParts, hook: RenderHook | None = None, script: InputScript | None = None
    ) -> None:
        self.parts = parts
        self.hook = hook
        self.script = script
        self.updates = 0
        self.hands: tuple[HandState, ...] = NO_HANDS
        self.input: HandInput | None = None
        self.space: Any = None
        self.focused: Callable[[], bool] = lambda: False
        self.mirror: Mirror | None = None
        self.output = ControlsOutput()
        self.now = 0.0
        self.shown_t = 0.0  # the time rendered: now, or the chosen moment of a recording
        self.views: list[View] = []
        self.eye_size = (640, 480)  # set to the swapchain size by the client
        self.overlay_stats: OverlayStats | None = None
        #: seconds of the last render spent inside the renderer's GL draw calls (on a software
        #: rasteriser this is the GPU's work done on the CPU)
        self.driver_s = 0.0
        self.overlay_draw_s = 0.0  # seconds of the last render in Overlays.draw
        self.overlay_layout_s = 0.0  # seconds of the last update in Overlays.update (0: not due)

    def attach(self, hand_input: HandInput | None, space: Any, focused: Callable[[], bool]) -> None:
        self.input, self.space, self.focused = hand_input, space, focused

    def update(self, display_time: int, eyes: Sequence[Eye]) -> None:
        p = self.parts
        if self.input is not None:
            self.hands = self.input.poll(display_time, self.space, self.focused())
        if self.script is not None:
            self.hands = self.script(self.updates, self.hands)
        self.updates += 1
        self.now = now = time.time()
        history, hands = p.history, self.hands
        head = head_pose(eyes)
        if history is not None:
            hands = history.before_controls(p.controls, hands, head)
        self.output = p.controls.step(hands, head)
        if history is not None:
            history.after_controls(self.hands, self.output, now)
        p.markers.update(self.output)
        plant = p.plant
        store = plant.update(now)
        t = self.shown_t = plant.t
        if history is not None:
            history.frame(now)
        if p.training is not None:
            p.training.update(store, t, p.controls.rig, head, self.hands, self.output)
        selected = p.controls.selected
        plant.mark(selected, None, now)
        if p.session is not None:
            first = self._view(eyes[0], self.eye_size, None) if eyes else None
            p.session.update(p.controls, self.hands, head, self.output, first, now)
        overlays, state = p.overlays, plant.state
        self.overlay_layout_s = 0.0
        if overlays is not None and state is not None and store is not None and eyes:
            if overlays.due(now, selected):
                started = time.perf_counter()
                view = self._view(eyes[0], self.eye_size, None)
                self.overlay_stats = overlays.update(store, state, view, t, selected)
                self.overlay_layout_s = time.perf_counter() - started

    @property
    def visuals(self) -> MachineVisuals:
        return self.parts.plant.visuals

    def _view(self, eye: Eye, size: tuple[int, int], fbo: moderngl.Framebuffer | None) -> View:
        p = self.parts
        return eye_view(p.controls.rig, eye.pose, eye.fov, p.near, p.far, (0, 0, *size), fbo)

    def render(self, eyes: Sequence[Eye], targets: Sequence[moderngl.Framebuffer]) -> None:
        p = self.parts
        views = [self._view(e, fbo.size, fbo) for e, fbo in zip(eyes, targets, strict=True)]
        self.views = views
        started = time.perf_counter()
        stats = p.renderer.draw(views, self.visuals)
        self.driver_s = time.perf_counter() - started - stats.prepare_s
        if p.transparent is not None:
            p.transparent.apply(views)
        if p.overlays is not None:
            started = time.perf_counter()
            p.overlays.draw(views, self.shown_t)
            self.overlay_draw_s = time.perf_counter() - started
        if p.history is not None:
            p.history.draw(views)
        if p.training is not None:
            p.training.draw(views, self.now)
        if p.session is not None:
            p.session.draw(views, self.now)
        p.markers.draw(views)
        if self.mirror is not None and targets:
            self.mirror.copy(targets[0], targets[0].size)
        if self.hook is not None:
            self.hook(eyes, views)
