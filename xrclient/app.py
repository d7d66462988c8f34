"""Composition root: each front end built from one frozen :class:`~xrclient.settings.Settings`.

``render_snapshot`` renders a headless picture, ``build_viewer`` builds the desktop viewer
and ``run_headset`` the OpenXR client; all three load the scene and its geometry the same
way and run the same :class:`~xrclient.frame.PlantFrame` over live state. The front ends
are imported lazily, so a command pays only for what it opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xrclient.errors import XRClientError
from xrclient.frame import PlantFrame
from xrclient.progress import Progress, quiet
from xrclient.scene.load import load_geometry, machine_index
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene
from xrclient.settings import Settings

if TYPE_CHECKING:
    from xrclient.desktop.viewer import Viewer
    from xrclient.live import TwinOptions
    from xrclient.xr.client import XrReport
    from xrclient.xr.scene_view import InputScript, RenderHook


def build_viewer(settings: Settings, progress: Progress = quiet) -> Viewer:
    """The desktop viewer for ``settings`` (a window opens; ``run`` it, then ``close``)."""
    from xrclient.desktop.viewer import Viewer

    return Viewer(settings, progress)


def run_headset(
    settings: Settings,
    progress: Progress = quiet,
    hook: RenderHook | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    script: InputScript | None = None,
) -> XrReport:
    """Run the headset client for ``settings`` until the runtime or the user ends it."""
    from xrclient.xr.client import run_xr

    return run_xr(settings, progress, hook, should_stop, script)


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    out: Path
    size: tuple[int, int]
    view: str
    machines: int
    triangles: int
    draw_calls: int
    seconds: float
    twin: str | None = None  # one line on the live state used, when a twin stream was read


def render_snapshot(settings: Settings, out: Path, progress: Progress = quiet) -> SnapshotReport:
    """Render the scene headlessly (EGL) from a named viewpoint (or a fitted overview) to PNG."""
    from xrclient.backends.headless import HeadlessBackend
    from xrclient.render.camera import fit_view, view_for_viewpoint
    from xrclient.render.renderer import Renderer

    started = time.perf_counter()
    scene = load_scene(settings.scene)
    selected = machine_index(scene, settings.select)
    geometry, _cache = load_geometry(scene, settings.limits, progress)
    frame = read_twin_once(scene, settings.twin, progress) if settings.twin is not None else None
    width, height = settings.size
    with HeadlessBackend(settings.size, samples=settings.samples) as backend:
        if settings.view is not None:
            vp = scene.viewpoint(settings.view)
            view = view_for_viewpoint(vp, settings.size, geometry.bounds)
            view_name = vp.name
        elif scene.viewpoints:
            view = view_for_viewpoint(scene.viewpoints[0], settings.size, geometry.bounds)
            view_name = scene.viewpoints[0].name
        else:
            eye, target, near, far = fit_view(geometry.bounds, width / height)
            view = backend.view_from(eye, target, near=near, far=far)
            view_name = "fitted overview"
        renderer = Renderer(backend.ctx, geometry, scene.lights)
        overlays = None
        try:
            visuals = None
            if frame is not None:
                frame.plant.mark(selected)
                visuals = frame.plant.visuals
                store, state, bindings = frame.plant.store, frame.plant.state, frame.plant.bindings
                if settings.overlays and store is not None and state is not None:
                    from xrclient.render.font import load_font
                    from xrclient.render.overlays import Overlays

                    assert bindings is not None
                    overlays = Overlays(backend.ctx, scene, geometry, bindings, load_font())
                    overlays.update(store, state, view, frame.plant.t, selected)
            draw = None
            if overlays is not None and frame is not None:
                layer, at = overlays, frame.plant.t
                draw = lambda views: layer.draw(views, at)  # noqa: E731
            stats = backend.render(renderer, [view], visuals, draw)
        finally:
            renderer.release()
            if overlays is not None:
                overlays.release()
        out.parent.mkdir(parents=True, exist_ok=True)
        backend.save_png(out)
    return SnapshotReport(
        out=out,
        size=settings.size,
        view=view_name,
        machines=len(scene.machines),
        triangles=geometry.triangle_count,
        draw_calls=stats.draw_calls,
        seconds=time.perf_counter() - started,
        twin=frame.summary if frame is not None else None,
    )


@dataclass(frozen=True, slots=True)
class TwinFrame:
    """Live state read once: the plant frame at its first full state (stream stopped)."""

    plant: PlantFrame
    summary: str


def read_twin_once(scene: Scene, options: TwinOptions, progress: Progress = quiet) -> TwinFrame:
    """Connect, wait for the first full state, and run the plant frame over it once."""
    from xrclient.live import LiveTwin

    progress(f"connecting to twin stream {options.url} (waiting up to {options.wait:g} s)")
    plant = PlantFrame(len(scene.machines), live=LiveTwin(scene, options).start())
    try:
        live = plant.live
        assert live is not None
        if not live.wait_for_state(options.wait):
            st = live.status
            why = st.last_error or st.state
            raise XRClientError(
                f"no state from twin stream {options.url} within {options.wait:g} s ({why})"
            )
        plant.update(time.time())
        missing = live.bindings.missing_properties(live.store)
        if missing:
            progress(f"warning: the stream has no {', '.join(missing)} (bindings read them)")
        return TwinFrame(plant, live.summary())
    finally:
        plant.close()
