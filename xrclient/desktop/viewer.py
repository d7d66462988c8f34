"""The desktop viewer: a window onto the plant, live state, overlays, picking and a HUD.

:class:`Viewer` composes what the other front ends use too (scene loading, the renderer,
:class:`~xrclient.live.LiveTwin`, overlays, the picker) around a GLFW window. ``step`` runs
one frame and never waits on the network: twin updates arrive on the client's thread and
are drained here. ``run`` loops until the window closes, Ctrl+Q, a frame or time limit, or
SIGINT/SIGTERM, then shuts every thread down.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from xrclient.core.view import View
from xrclient.desktop.camera_rig import CameraRig
from xrclient.desktop.frame_writer import FrameWriter
from xrclient.desktop.hud import AlarmRow, Hud, HudModel, Line, SearchBox, TimelineBar
from xrclient.desktop.hud_content import (
    alarm_rows,
    insight_lines,
    selection_lines,
    status_lines,
)
from xrclient.desktop.interaction import Interaction
from xrclient.desktop.keymap import LASER_KEY
from xrclient.desktop.machine_search import MachineSearch
from xrclient.desktop.window import Window
from xrclient.frame import PlantFrame, compose_plant
from xrclient.progress import Progress, quiet
from xrclient.render.camera import fit_view
from xrclient.render.renderer import Renderer
from xrclient.scene.load import load_geometry, machine_index
from xrclient.scene.model import Viewpoint
from xrclient.scene.picking import Picker, ray_from_pixel
from xrclient.scene.schema import load_scene
from xrclient.settings import Settings

if TYPE_CHECKING:
    from xrclient.core.bindings import Bindings
    from xrclient.desktop.insight_link import InsightLink
    from xrclient.desktop.session_link import SessionLink
    from xrclient.desktop.training_link import TrainingLink
    from xrclient.live import LiveTwin
    from xrclient.render.insight_layer import InsightLayer
    from xrclient.render.overlays import Overlays
    from xrclient.training.model import Procedure

#: seconds between refreshes of the HUD's status text and alarm list
STATUS_REFRESH_S = 0.25


@dataclass(slots=True)
class FrameTimes:
    """Recent frame times: wall (frame start to frame start), this thread's CPU in the frame,
    and the frame's time outside GL draw calls and the buffer swap (``own``: what xrclient's
    code costs; on a software rasteriser the GL calls are most of the frame)."""

    wall: deque[float] = field(default_factory=lambda: deque(maxlen=120))
    cpu: deque[float] = field(default_factory=lambda: deque(maxlen=120))
    own: deque[float] = field(default_factory=lambda: deque(maxlen=120))

    def fps(self) -> float:
        return len(self.wall) / sum(self.wall) if self.wall and sum(self.wall) > 0 else 0.0

    def wall_ms(self) -> float:
        return 1000.0 * float(np.median(self.wall)) if self.wall else 0.0

    def cpu_ms(self) -> float:
        return 1000.0 * float(np.median(self.cpu)) if self.cpu else 0.0

    def own_ms(self) -> float:
        return 1000.0 * float(np.median(self.own)) if self.own else 0.0


class Viewer:
    def __init__(self, options: Settings, progress: Progress = quiet) -> None:
        self.options = options
        scene = load_scene(options.scene)
        self.scene = scene
        selected = machine_index(scene, options.select)
        start_vp = scene.viewpoint(options.view) if options.view is not None else None
        procedure = None
        if options.procedure is not None:  # a bad file fails before any window opens
            from xrclient.training.loader import load_procedure, procedure_path

            procedure = load_procedure(procedure_path(options.procedure), scene)
        geometry, _cache = load_geometry(scene, options.limits, progress)
        self.geometry = geometry
        title = options.title or f"xrclient - {scene.plant.name}"
        self.window = Window(title, options.size, vsync=options.vsync, samples=options.samples)
        self.plant: PlantFrame | None = None
        self.live: LiveTwin | None = None
        self.overlays: Overlays | None = None
        self.insight_layer: InsightLayer | None = None
        self.writer: FrameWriter | None = None
        self.link: SessionLink | None = None
        self.bindings: Bindings | None = None
        self.insight: InsightLink | None = None
        self.training: TrainingLink | None = None
        try:
            self._build(start_vp, selected, procedure, progress)
        except BaseException:
            self.close()
            raise

    def _build(
        self,
        start_vp: Viewpoint | None,
        selected: int | None,
        procedure: Procedure | None,
        progress: Progress,
    ) -> None:
        from xrclient.render.font import load_font

        scene, geometry, ctx = self.scene, self.geometry, self.window.ctx
        self.renderer = Renderer(ctx, geometry, scene.lights)
        self.font = load_font()
        self.hud = Hud(ctx, self.font)
        w, h = self.window.framebuffer_size
        if scene.viewpoints:
            vp = start_vp if start_vp is not None else scene.viewpoints[0]
            home = (vp.position, vp.target)
            fov = float(vp.fov_deg)
        else:
            eye, target, _near, _far = fit_view(geometry.bounds, w / max(h, 1))
            home, fov = (eye, target), 60.0
        self.rig = CameraRig(home[0], home[1], fov)
        self.ui = Interaction(
            self.rig,
            Picker(geometry),
            geometry,
            MachineSearch(scene.machines),
            scene.viewpoints,
            home,
        )
        self.ui.state.selected = selected
        self.ui.state.overlays = self.options.overlays
        from xrclient.desktop.insight_link import InsightLink

        plant = compose_plant(
            scene,
            self.options.twin,
            self.options.history,
            progress,
            insight_type=InsightLink,
            foresight=True,
        )
        self.plant = plant
        live, bindings = plant.live, plant.bindings
        insight = plant.insight
        assert insight is None or isinstance(insight, InsightLink)
        if bindings is not None:
            from xrclient.render.insight_layer import InsightLayer
            from xrclient.render.overlays import Overlays

            self.overlays = Overlays(ctx, scene, geometry, bindings, self.font)
            self.insight_layer = InsightLayer.for_scene(ctx, self.font, scene, geometry)
        self.live, self.insight, self.bindings = live, insight, bindings
        if self.options.session is not None:
            from xrclient.desktop.session_link import SessionLink

            progress(f"joining session {self.options.session.url}")
            self.link = SessionLink(self.options.session, scene, ctx, self.font)
        # training keys, an expert's trainees and plant controls (GL only with a procedure)
        from xrclient.desktop.training_link import TrainingLink

        session = self.link.session if self.link is not None else None
        self.plant.session = session
        self.training = TrainingLink(
            scene, geometry, ctx, self.font, procedure, self.options.trainee, session
        )
        self.plant.training = self.training.driver
        if self.options.record is not None:
            self.writer = FrameWriter()
        self.frame = 0
        self.times = FrameTimes()
        self.last_view = self.rig.view((max(w, 1), max(h, 1)), geometry.bounds)
        self._started = time.monotonic()
        self._last_frame: float | None = None
        self._status_at = -math.inf
        self._status: tuple[tuple[Line, ...], tuple[AlarmRow, ...], int] = ((), (), 0)
        self._quit = threading.Event()
        self.screenshots: list[Path] = []

    # --- control ---------------------------------------------------------------------------

    def request_quit(self) -> None:
        """Stop after the current frame (safe from signal handlers and other threads)."""
        self._quit.set()

    @property
    def selected(self) -> int | None:
        return self.ui.state.selected

    @property
    def quitting(self) -> bool:
        o = self.options
        return (
            self._quit.is_set()
            or self.ui.state.quit
            or self.window.should_close
            or (o.frames is not None and self.frame >= o.frames)
            or (o.seconds is not None and time.monotonic() - self._started >= o.seconds)
        )

    # --- the frame ------------------------------------------------------------------------

    def step(self) -> bool:
        """Run one frame: input, live state, camera, draw, swap. False once quitting."""
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        now = time.time()
        window, ui = self.window, self.ui
        dt = 0.0 if self._last_frame is None else wall0 - self._last_frame
        window.poll()
        view = self.last_view
        while window.events:
            ui.handle(window.events.popleft(), view, now, self.hud.hit)
        ui.fly(window.key_down, dt)
        if self.link is not None:
            self.link.steer(self.rig, now)
        self.rig.advance(now)
        size = window.framebuffer_size
        if size[0] > 0 and size[1] > 0:  # 0 x 0 while minimised: nothing to draw
            view = self.rig.view(size, self.geometry.bounds)
            self.last_view = view
            ui.hover(view)
            self._session_frame(view, now)
            gl = self._draw(view, size, now)
            self._capture(size)
            t0 = time.perf_counter()
            window.swap()
            gl += time.perf_counter() - t0
        else:
            gl = 0.0
        self.frame += 1
        if self._last_frame is not None:
            self.times.wall.append(wall0 - self._last_frame)
        self._last_frame = wall0
        self.times.cpu.append(time.thread_time() - cpu0)
        self.times.own.append(time.perf_counter() - wall0 - gl)
        return not self.quitting

    def _draw(self, view: View, size: tuple[int, int], now: float) -> float:
        """Draw the frame; returns the seconds spent inside GL draw calls."""
        state = self.ui.state
        plant = self.plant
        assert plant is not None
        store = plant.update(now)
        t = plant.t
        if self.insight_layer is not None and store is not None and self.insight is not None:
            self.insight_layer.update(self.insight.prediction, self.insight.energy, now)
        training = self.training
        if training is not None:
            for said in training.frame(store, t, view.eye_position, state.selected, state.hovered):
                state.say(said, now)
        plant.mark(state.selected, state.hovered, now)
        visuals = plant.visuals
        bindings = plant.bindings
        ctx = self.window.ctx
        ctx.screen.use()
        t0 = time.perf_counter()
        stats = self.renderer.draw([view], visuals)
        gl = time.perf_counter() - t0 - stats.prepare_s
        if self.link is not None:
            t0 = time.perf_counter()
            self.link.draw([view], now)
            gl += time.perf_counter() - t0
        if training is not None:
            t0 = time.perf_counter()
            training.draw([view], now)
            gl += time.perf_counter() - t0
        overlays = self.overlays
        if overlays is not None and bindings is not None and store is not None and state.overlays:
            if overlays.due(now, state.selected):
                overlays.update(store, bindings.state, view, t, state.selected)
            t0 = time.perf_counter()
            overlays.draw([view], t)
            if self.insight_layer is not None:
                self.insight_layer.draw([view])
            gl += time.perf_counter() - t0
        self.hud.visible = state.hud
        if state.hud:
            self.hud.show(self._hud_model(size, now), size)
            t0 = time.perf_counter()
            self.hud.draw(size, now)
            if self.training is not None:
                self.training.draw_image(self.hud.image_at, size)
            gl += time.perf_counter() - t0
        return gl

    def _hud_model(self, size: tuple[int, int], now: float) -> HudModel:
        state, scene = self.ui.state, self.scene
        if now - self._status_at >= STATUS_REFRESH_S:
            self._status_at = now
            mode = "fly" if state.fly_mode else "orbit"
            rows, total = alarm_rows(scene, self.live)
            lines = status_lines(scene, self.live, self.times, mode, now)
            extra: list[Line] = []
            if self.insight is not None:
                extra += insight_lines(self.insight)
            if self.link is not None:
                extra += self.link.status_lines(now)
            lines = (*lines[:-1], *extra, lines[-1])
            self._status = (lines, rows, total)
        status, alarms, total = self._status
        hover = None
        if state.hovered is not None and self.ui.cursor is not None:
            m = scene.machines[state.hovered]
            hover = (m.id if m.name in ("", m.id) else f"{m.id}  {m.name}", *self.ui.cursor)
        search = None
        if state.query is not None:
            labels = self.ui.search.labels
            matches = tuple((i, labels[i]) for i in state.matches)
            search = SearchBox(state.query, matches, state.chosen)
        prompt = None
        if state.note is not None and state.selected is not None:
            prompt = f"Note on {scene.machines[state.selected].id}: {state.note}_"
        selection: tuple[Line, ...] = ()
        if state.selected is not None:
            selection = selection_lines(scene, state.selected, self.live is not None)
        return HudModel(
            status=status,
            alarms=alarms,
            alarms_total=total,
            selection=selection,
            hover=hover,
            search=search,
            prompt=prompt,
            help=state.help,
            timeline=self._timeline_bar(),
            training=self.training.hud_lines() if self.training is not None else (),
            warning=self.training.warning() if self.training is not None else "",
            image=self.training.image_size() if self.training is not None else None,
            toast=state.toast if now < state.toast_until else "",
        )

    def _timeline_bar(self) -> TimelineBar | None:
        bar = self.insight.bar() if self.insight is not None else None
        link = self.link
        if bar is not None and link is not None and link.session.viewing_shared_past:
            shared = link.session.shared_timeline
            who = shared.name if shared is not None else "the leader"
            bar = replace(bar, label=f"SHARED by {who}: {bar.label}  (scrub: leave, J: rejoin)")
        return bar

    def _session_frame(self, view: View, now: float) -> None:
        """Presence out, avatars in, and the session actions asked for by keys."""
        state, link = self.ui.state, self.link
        requests, state.requests = state.requests, []
        history = [r for r in requests if r.startswith(("tl_", "seek:"))]
        training = [r for r in requests if r.startswith(("tr_", "plant:"))]
        requests = [r for r in requests if r not in history and r not in training]
        for request in training:
            if self.training is not None and (
                said := self.training.request(request, now, state.selected, self.live)
            ):
                state.say(said, now)
        for request in history:
            if said := self._timeline_request(request, now):
                state.say(said, now)
        if link is None:
            if requests:
                state.say("no shared session: start with --session URL --token TOKEN", now)
            return
        pointing = None
        cursor = self.ui.cursor
        if cursor is not None and self.window.key_down(LASER_KEY):
            pointing = ray_from_pixel(view, *cursor)
        link.publish(view, pointing, now)
        for request in requests:
            self._session_request(link, request, view, now)

    def _timeline_request(self, request: str, now: float) -> str:
        """A history key or a click on the bar (see ``PlantFrame.timeline_request``)."""
        plant = self.plant
        assert plant is not None
        if request == "tl_rejoin":
            return plant.rejoin_shared_timeline()
        said, shared = plant.timeline_request(request, now)
        if shared is not None and self.link is not None:
            self.link.share_timeline(shared)
        return said

    def _session_request(self, link: SessionLink, request: str, view: View, now: float) -> None:
        state = self.ui.state
        if request == "lead":
            link.toggle_lead()
        elif request == "follow":
            state.say(link.toggle_follow(), now)
        elif request == "summon":
            link.summon_here(view)
        elif request == "ping":
            cursor = self.ui.cursor
            machine, point = self.ui.pick(view, *cursor) if cursor else (None, None)
            if point is None:
                state.say("nothing under the cursor to point at", now)
            else:
                link.ping(point, machine)
        elif request == "note" and state.selected is not None:
            b = self.geometry.machine_bounds[state.selected].astype(np.float64)
            top = ((b[0, 0] + b[1, 0]) / 2, b[1, 1], (b[0, 2] + b[1, 2]) / 2)
            link.annotate(state.selected, top, state.note_text)

    def read_rgb(self, size: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
        """The frame just drawn (before the swap), (height, width, 3) uint8, top row first."""
        w, h = size if size is not None else self.window.framebuffer_size
        raw = self.window.ctx.screen.read(viewport=(0, 0, w, h), components=3, alignment=1)
        image = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
        return np.ascontiguousarray(image[::-1])

    def _capture(self, size: tuple[int, int]) -> None:
        state = self.ui.state
        if self.writer is not None and self.options.record is not None:
            path = self.options.record / f"frame-{self.frame:06d}.png"
            self.writer.put(path, self.read_rgb(size))
        if state.screenshot:
            state.screenshot = False
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.options.screenshots / f"xrclient-{stamp}-{self.frame:06d}.png"
            if self.writer is None:
                self.writer = FrameWriter()
            self.writer.put(path, self.read_rgb(size))
            self.screenshots.append(path)
            state.say(f"screenshot: {path}", time.time())

    # --- loop and shutdown ----------------------------------------------------------------

    def run(self) -> int:
        """Loop until quitting; returns the exit status (0)."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            while self.step():
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.request_quit()

    def close(self) -> None:
        """Stop the network thread, finish writing frames, release GL and the window."""
        if self.plant is not None:
            self.plant.close()  # the stream's thread and the history
            self.plant = None
        self.live = self.insight = None
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.training is not None:
            self.training.close()
            self.training = None
        for name in ("overlays", "insight_layer", "hud", "renderer"):
            part = getattr(self, name, None)
            if part is not None:
                part.release()
                setattr(self, name, None)
        self.window.close()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
