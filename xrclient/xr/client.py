"""``xrclient xr``: load the plant, connect to the runtime and run the headset frame loop.

Everything acquired is released in reverse order on every path (normal exit, runtime exit,
headset lost, errors) through one exit stack; session resources are released by the session.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xrclient.errors import XRClientError
from xrclient.frame import compose_plant
from xrclient.progress import Progress, quiet
from xrclient.render.renderer import Renderer
from xrclient.scene.load import load_geometry, machine_index
from xrclient.scene.model import Scene
from xrclient.scene.picking import Picker
from xrclient.scene.schema import load_scene
from xrclient.settings import Settings
from xrclient.xr.controls import Controls
from xrclient.xr.frame_loop import FrameInfo, FrameLoop
from xrclient.xr.glcontext import GLWindow
from xrclient.xr.input import ActionSet, HandInput
from xrclient.xr.lifecycle import Command
from xrclient.xr.markers import Markers
from xrclient.xr.mirror import Mirror
from xrclient.xr.passthrough import OPAQUE, TransparentBackground, choose_blend_mode
from xrclient.xr.poses import F64, initial_rig, rotation_y, translate
from xrclient.xr.runtime import Runtime, open_runtime
from xrclient.xr.scene_view import InputScript, RenderHook, SceneParts, SceneView
from xrclient.xr.session import XrSession
from xrclient.xr.swapchains import Swapchains

if TYPE_CHECKING:
    from xrclient.core.run_result import RunResult
    from xrclient.render.overlays import OverlayStats
    from xrclient.training.runner import TrainingView
    from xrclient.xr.history_link import HistoryReport

log = logging.getLogger(__name__)
EXIT_GRACE_S = 5.0  # how long the runtime gets to walk the session to EXITING
RECREATE_TRIES = 10


@dataclass(slots=True)
class XrReport:
    runtime: str = ""
    system: str = ""
    space: str = ""
    blend_mode: int = 1
    swapchain_format: int = 0
    srgb_swapchain: bool = False
    eye_size: tuple[int, int] = (0, 0)
    frames: int = 0
    rendered: int = 0
    reason: str = ""
    states: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    frame_log: list[FrameInfo] = field(default_factory=list)
    ours_s: float = 0.0  # total wall seconds in our code, runtime waits excluded
    selected: int | None = None
    hovered: int | None = None  # machine under a laser in the last frame
    twin: str | None = None  # one line on the live state, at the end
    twin_batches: int = 0
    overlays: OverlayStats | None = None  # overlay levels of the last frame
    #: per frame kept: seconds inside the renderer's GL draw calls, in ``Overlays.draw``, and
    #: in the overlay layout (``Overlays.update``: 0 on frames where it is not due)
    draw_log: list[tuple[float, float, float]] = field(default_factory=list)
    history: HistoryReport | None = None  # the timeline (with --history)
    #: with --procedure: the run's assessment and the last step shown, at the end
    training: RunResult | None = None
    training_view: TrainingView | None = None


def start_rig(scene: Scene, bounds: F64, view: str | None) -> F64:
    """The user's first place: under the named viewpoint (default: the first one standing
    inside the plant's footprint, else the first), facing its target, feet on the plant's
    floor; with no viewpoints, in front of the plant facing it."""
    floor = float(bounds[0, 1])
    if view is not None:
        vp = scene.viewpoint(view)
    elif scene.viewpoints:
        inside = [
            v
            for v in scene.viewpoints
            if bounds[0, 0] <= v.position[0] <= bounds[1, 0]
            and bounds[0, 2] <= v.position[2] <= bounds[1, 2]
        ]
        vp = (inside or list(scene.viewpoints))[0]
    else:
        return initial_rig(bounds)
    pos, target = np.asarray(vp.position, np.float64), np.asarray(vp.target, np.float64)
    f = target - pos
    yaw = math.atan2(-f[0], -f[2]) if math.hypot(f[0], f[2]) > 1e-6 else 0.0
    return translate((pos[0], floor, pos[2])) @ rotation_y(yaw)


def run_xr(
    options: Settings,
    progress: Progress = quiet,
    hook: RenderHook | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    script: InputScript | None = None,
) -> XrReport:
    """Run the headset client until the runtime or the user ends it (or ``frames``)."""

    scene = load_scene(options.scene)
    procedure = None
    if options.procedure is not None:  # a bad file fails before the runtime is touched
        from xrclient.training.loader import load_procedure, procedure_path

        procedure = load_procedure(procedure_path(options.procedure), scene)
    geometry, _cache = load_geometry(scene, options.limits, progress)
    selected = machine_index(scene, options.select)
    bounds = geometry.bounds.astype(np.float64)
    rig = start_rig(scene, bounds, options.view)
    report = XrReport()
    with ExitStack() as stack:
        runtime = open_runtime()  # first: "no runtime" is the likeliest problem to report
        stack.callback(runtime.destroy)
        window = stack.enter_context(GLWindow(visible=options.mirror))
        report.runtime, report.system = runtime.runtime_name, runtime.system_name
        progress(f"OpenXR runtime {runtime.runtime_name}: {runtime.system_name}")
        report.blend_mode = choose_blend_mode(runtime.blend_modes, options.mixed_reality)
        if options.mixed_reality and report.blend_mode == OPAQUE:
            progress(
                "warning: the runtime offers no additive or alpha-blend mode; --mr renders "
                "over a transparent background that this headset shows as black"
            )
        plant = compose_plant(scene, options.twin, options.history, progress)
        stack.callback(plant.close)
        history = None
        if plant.insight is not None:
            from xrclient.xr.history_link import XrHistoryLink

            history = XrHistoryLink(
                scene, geometry, window.ctx, plant, keep_frames=options.keep_frames
            )
            stack.callback(history.close)
            report.history = history.report
        live = plant.live
        if live is not None and options.twin is not None and options.twin_wait > 0:
            if not live.wait_for_state(options.twin_wait):
                st = live.status
                progress(
                    f"warning: no state from {options.twin.url} within "
                    f"{options.twin_wait:g} s ({st.last_error or st.state}); going on"
                )
        link = None
        if options.session is not None:
            from xrclient.xr.session_link import XrSessionLink

            progress(f"joining session {options.session.url}")
            link = XrSessionLink(options.session, scene)
            stack.callback(link.close)
            plant.session = link.session
        training = None
        if procedure is not None:
            from xrclient.xr.training_link import XrTraining

            session = link.session if link is not None else None
            training = XrTraining(
                procedure, scene, geometry.machine_bounds, options.trainee, session
            )
            stack.callback(training.release)
            plant.training = training.driver
        ctx = window.ctx
        diag = float(np.linalg.norm(bounds[1] - bounds[0]))
        mr = options.mixed_reality
        # mixed reality: a black clear colour (see-through on additive displays)
        renderer = (
            Renderer(ctx, geometry, scene.lights, background=(0.0, 0.0, 0.0))
            if mr
            else Renderer(ctx, geometry, scene.lights)
        )
        stack.callback(renderer.release)
        markers = Markers(ctx)
        stack.callback(markers.release)
        controls = Controls(rig, Picker(geometry), floor_y=float(bounds[0, 1]), selected=selected)
        parts = SceneParts(
            ctx,
            renderer,
            markers,
            controls,
            plant,
            far=max(100.0, 2.0 * diag),
            session=link,
            history=history,
            training=training,
            scene=scene,
        )
        if mr:
            parts.transparent = TransparentBackground(ctx)
            stack.callback(parts.transparent.release)
        sink = SceneView(parts, hook, script)
        stack.callback(_release_overlays, parts)  # made with the first session's swapchains
        losses = 0
        while _run_session(runtime, window, sink, options, report, should_stop) is (
            Command.RECREATE_SESSION
        ):
            losses += 1
            if losses > RECREATE_TRIES:
                raise XRClientError(f"the headset was lost {losses} times; giving up")
            report.reason = ""
            progress(f"headset lost; waiting up to {RECREATE_TRIES} s for it to come back")
            for _ in range(RECREATE_TRIES):
                time.sleep(1.0)
                if runtime.find_system():
                    break
            else:
                raise XRClientError("the headset did not come back")
        report.selected = controls.selected
        report.hovered = sink.output.hovered
        report.overlays = sink.overlay_stats
        if live is not None:
            report.twin, report.twin_batches = live.summary(), live.batches
        if training is not None:
            report.training = training.driver.run.result()
            report.training_view = training.driver.view
    return report


def _release_overlays(parts: SceneParts) -> None:
    if parts.overlays is not None:
        parts.overlays.release()
        parts.overlays = None


def _run_session(
    runtime: Runtime,
    window: GLWindow,
    sink: SceneView,
    options: Settings,
    report: XrReport,
    should_stop: Callable[[], bool],
) -> Command:
    """One session from creation to teardown; returns QUIT or RECREATE_SESSION."""
    session = XrSession(runtime, window.graphics_binding(), space=options.space)
    try:
        report.space = session.space_name
        actions = ActionSet(runtime)
        session.on_teardown(actions.destroy)
        report.profiles = list(actions.profiles)
        hands = HandInput(actions, session.handle)
        session.on_teardown(hands.destroy)
        swapchains = Swapchains(window.ctx, session.handle, runtime.view_sizes)
        session.on_teardown(swapchains.release)
        report.swapchain_format, report.srgb_swapchain = swapchains.format, swapchains.srgb
        report.eye_size = swapchains.eyes[0].size
        _prepare_gl(sink, options, swapchains.srgb, report.eye_size)
        sink.attach(hands, session.space, lambda: session.lifecycle.focused)
        if options.mirror:
            sink.mirror = Mirror(window, report.eye_size)
        loop = FrameLoop(session, swapchains, report.blend_mode)
        return _loop(session, loop, sink, options, report, should_stop)
    finally:
        session.destroy()
        report.states = [s.name for s in session.lifecycle.history]
        if not report.reason:
            report.reason = session.lifecycle.reason


def _prepare_gl(sink: SceneView, options: Settings, srgb: bool, eye_size: tuple[int, int]) -> None:
    """Colour handling follows the swapchain: an sRGB image stores sRGB-encoded bytes
    (the renderer encodes); a linear one gets linear values."""
    p = sink.parts
    sink.eye_size = eye_size
    p.renderer.srgb_output = srgb
    p.markers.srgb_output = srgb
    if p.session is not None:
        from xrclient.render.font import load_font

        p.session.prepare(p.ctx, load_font(), srgb)
    if p.history is not None:
        p.history.set_srgb_output(srgb)
    if p.training is not None:
        from xrclient.render.font import load_font

        p.training.prepare(p.ctx, load_font(), srgb)
    bindings = p.plant.bindings
    if bindings is not None and p.scene is not None and options.overlays and p.overlays is None:
        from xrclient.render.font import load_font
        from xrclient.render.overlays import Overlays

        p.overlays = Overlays(
            p.ctx, p.scene, p.renderer.geometry, bindings, load_font(), srgb_output=srgb
        )


def _loop(
    session: XrSession,
    loop: FrameLoop,
    sink: SceneView,
    options: Settings,
    report: XrReport,
    should_stop: Callable[[], bool],
) -> Command:
    lifecycle = session.lifecycle
    exit_deadline: float | None = None

    def ask_exit() -> None:
        nonlocal exit_deadline
        if exit_deadline is None:
            exit_deadline = time.monotonic() + EXIT_GRACE_S
            for cmd in session.request_exit():
                if cmd is Command.QUIT:
                    raise _Quit

    try:
        while True:
            try:
                for cmd in session.poll():
                    if cmd is Command.RECREATE_SESSION:
                        return cmd
                    if cmd is Command.QUIT:
                        return cmd
                if exit_deadline is not None and time.monotonic() > exit_deadline:
                    report.reason = "the runtime did not end the session in time; closed it"
                    return Command.QUIT
                if lifecycle.frames_allowed:
                    info = loop.frame(sink)
                    report.frames += 1
                    report.rendered += int(info.rendered)
                    report.ours_s += info.ours_s
                    if options.keep_frames:
                        report.frame_log.append(info)
                        drawn = (sink.driver_s, sink.overlay_draw_s) if info.rendered else (0, 0)
                        report.draw_log.append((*drawn, sink.overlay_layout_s))
                    if sink.mirror is not None and not sink.mirror.present():
                        ask_exit()
                    if options.frames is not None and report.frames >= options.frames:
                        ask_exit()
                else:
                    time.sleep(0.005)  # no frame loop yet (IDLE/READY) or winding down
                if should_stop():
                    ask_exit()
            except KeyboardInterrupt:
                report.reason = "interrupted"
                ask_exit()
    except _Quit:
        return Command.QUIT


class _Quit(Exception):
    pass
