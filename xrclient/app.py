"""Composition root: builds scenes, geometry and renderers from one frozen Settings."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xrclient.core.visuals import MachineVisuals
from xrclient.errors import XRClientError
from xrclient.resources import scene_path
from xrclient.scene.geometry import SceneGeometry, build_geometry
from xrclient.scene.loaders import AssetCache, LoadLimits
from xrclient.scene.mesh import MeshData
from xrclient.scene.model import Asset, Scene
from xrclient.scene.schema import load_scene

if TYPE_CHECKING:
    from xrclient.core.bindings import Bindings, BindingState
    from xrclient.core.twin_store import TwinStore
    from xrclient.live import TwinOptions

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def quiet(_message: str) -> None:
    """A progress sink that drops messages."""


@dataclass(frozen=True, slots=True)
class Settings:
    scene: Path
    size: tuple[int, int] = (1280, 720)
    view: str | None = None
    samples: int = 4
    limits: LoadLimits = field(default_factory=LoadLimits)
    twin: TwinOptions | None = None
    overlays: bool = True  # metric overlays over machines (with live state only)
    select: str | None = None  # machine id whose detail panel is shown


def resolve_scene(name_or_path: str) -> Path:
    """A scene file path, or the name of a scene shipped with the package (``demo-plant``)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        return path
    shipped = scene_path(name_or_path)
    if shipped.is_file():
        return shipped
    raise XRClientError(f"{name_or_path}: no such scene file, and no shipped scene of that name")


def load_geometry(
    scene: Scene, limits: LoadLimits, progress: Progress = quiet
) -> tuple[SceneGeometry, AssetCache]:
    """Load every asset the scene uses once, and build the instanced geometry."""
    cache = AssetCache(limits)
    used = {m.asset for m in scene.machines} | {f.asset for f in scene.fixtures}
    total = len(used)
    started = time.perf_counter()

    def load(asset: Asset) -> MeshData:
        mesh = cache.get(
            asset.path, kind=asset.kind, scale=asset.scale, point_budget=asset.point_budget
        )
        if total > 4:
            progress(f"  loaded asset {cache.loads}/{total}: {asset.path.name}")
        return mesh

    geometry = build_geometry(scene, load)
    progress(
        f"{scene.source}: {len(scene.machines)} machines, {total} assets, "
        f"{geometry.triangle_count:,} triangles drawn "
        f"(loaded in {time.perf_counter() - started:.2f} s)"
    )
    return geometry, cache


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
    geometry, _cache = load_geometry(scene, settings.limits, progress)
    frame = read_twin_once(scene, settings.twin, progress) if settings.twin is not None else None
    selected = None
    if settings.select is not None:
        if settings.select not in scene.machine_index:
            raise XRClientError(f"--select: no machine {settings.select!r} in {scene.source}")
        selected = scene.machine_index[settings.select]
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
                visuals = frame.visuals
                if selected is not None:
                    visuals.highlight[selected] = 1.0
                if settings.overlays:
                    from xrclient.render.font import load_font
                    from xrclient.render.overlays import Overlays

                    overlays = Overlays(backend.ctx, scene, geometry, frame.bindings, load_font())
                    overlays.update(frame.store, frame.state, view, frame.now, selected)
            draw = None
            if overlays is not None and frame is not None:
                layer, at = overlays, frame.now
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
    """Live state read once: the store and evaluated bindings at ``now``."""

    store: TwinStore
    bindings: Bindings
    state: BindingState
    visuals: MachineVisuals
    summary: str
    now: float


def read_twin_once(scene: Scene, options: TwinOptions, progress: Progress = quiet) -> TwinFrame:
    """Connect, wait for the first full state, and turn it into machine visuals."""
    from xrclient.live import LiveTwin

    progress(f"connecting to twin stream {options.url} (waiting up to {options.wait:g} s)")
    with LiveTwin(scene, options) as live:
        if not live.wait_for_state(options.wait):
            st = live.status
            why = st.last_error or st.state
            raise XRClientError(
                f"no state from twin stream {options.url} within {options.wait:g} s ({why})"
            )
        now = time.time()
        live.update(now)
        missing = live.bindings.missing_properties(live.store)
        if missing:
            progress(f"warning: the stream has no {', '.join(missing)} (bindings read them)")
        visuals = MachineVisuals(len(scene.machines))
        live.apply_visuals(visuals, now)
        return TwinFrame(
            live.store, live.bindings, live.bindings.state, visuals, live.summary(), now
        )
