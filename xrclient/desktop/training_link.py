"""The desktop viewer's side of training: a trainee's procedure, an expert's trainees, and
the plant controls a procedure asks for.

* ``--procedure NAME``: a :class:`~xrclient.training.driver.TrainingDriver` runs the
  procedure against the store the viewer renders, with the camera as the trainee's head
  (hazard zones), selection and hover as select and point-at, and keys to confirm, ask for
  a hint and restart; the :class:`~xrclient.render.training_layer.TrainingLayer` draws the
  zones and the step's machine, and the HUD shows the progress panel and any hazard
  warning in large type.
* In a shared session, an expert sees each trainee's step in the HUD and can pick one and
  advance, reset the step or restart the run (experts only: the hub refuses others).
* Shift + L / U / X operate the selected machine through the twin stream's ``set_state`` and
  ``clear_fault`` controls (a simulator or a gateway that accepts them): lock out, start,
  clear the fault. Answers arrive on later frames and are told through ``say``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import moderngl

from xrclient.core.view import View
from xrclient.desktop.hud import BAD, MUTED, OK, WARN, WHITE, Line
from xrclient.desktop.hud_image import HudImage
from xrclient.render.font import SdfFont
from xrclient.render.training_layer import TrainingLayer
from xrclient.replies import Pending
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.model import Scene
from xrclient.training.driver import TrainingDriver
from xrclient.training.panel import Kind, panel_lines

if TYPE_CHECKING:
    from xrclient.core.expr import StoreView
    from xrclient.live import LiveTwin
    from xrclient.session import Session
    from xrclient.training.model import Procedure

RGBA = tuple[float, float, float, float]
KIND_COLORS: dict[Kind, RGBA] = {
    "title": (0.75, 0.9, 1.0, 1.0),
    "step": (0.2, 0.85, 1.0, 1.0),
    "text": WHITE,
    "detail": MUTED,
    "hint": WARN,
    "warning": BAD,
    "message": WARN,
    "done": OK,
    "failed": BAD,
}
#: what each plant request sends through the twin stream
PLANT_CONTROLS: dict[str, tuple[str, dict[str, str]]] = {
    "lock_out": ("set_state", {"state": "LOCKED_OUT"}),
    "start": ("set_state", {"state": "RUNNING"}),
    "clear_fault": ("clear_fault", {}),
}
EXPERT_ACTIONS = {
    "tr_advance": "advance",
    "tr_reset_step": "reset_step",
    "tr_restart_trainee": "restart",
}


class TrainingLink:
    def __init__(
        self,
        scene: Scene,
        geometry: SceneGeometry,
        ctx: moderngl.Context,
        font: SdfFont,
        procedure: Procedure | None,
        trainee: str,
        session: Session | None,
    ) -> None:
        self.scene = scene
        self.session = session
        self.driver: TrainingDriver | None = None
        self.layer: TrainingLayer | None = None
        self.image: HudImage | None = None
        if procedure is not None:
            self.driver = TrainingDriver.for_scene(procedure, scene, trainee, session)
            self.layer = TrainingLayer(ctx, font, geometry.machine_bounds)
            self.image = HudImage(ctx)
        self.watched: int | None = None  # the trainee an expert's keys act on
        self._pending: Pending[str] = Pending()
        self._selected: int | None = None
        self._told: set[str] = set()

    # --- per frame ------------------------------------------------------------------------

    def frame(
        self,
        store: StoreView | None,
        now: float,
        head: tuple[float, float, float],
        selected: int | None,
        hovered: int | None,
    ) -> list[str]:
        """Run the procedure one frame; returns what to tell the user."""
        said: list[str] = []
        driver = self.driver
        if driver is not None:
            if selected != self._selected and selected is not None:
                driver.select(selected, now)
            driver.point_at(hovered, now)
            view = driver.frame(store, now, head)
            if self.layer is not None:
                self.layer.update(view, panel=False)
            if self.image is not None:
                running = view.status == "running"
                self.image.show(view.media if running else None)
                if self.image.message and self.image.message not in self._told:
                    self._told.add(self.image.message)
                    said.append(self.image.message)
            while driver.said:
                said.append(driver.said.popleft())
        self._selected = selected
        said += self._collect()
        return said

    def draw(self, views: list[View], now: float) -> float:
        return self.layer.draw(views, now) if self.layer is not None else 0

    # --- requests -------------------------------------------------------------------------

    def request(self, request: str, now: float, selected: int | None, live: LiveTwin | None) -> str:
        """Carry out a training or plant request; returns what to tell ('' for nothing)."""
        if request.startswith("plant:"):
            return self._plant(request[6:], selected, live)
        if request in ("tr_watch", *EXPERT_ACTIONS):
            return self._expert(request)
        driver = self.driver
        if driver is None:
            return "no procedure: start with --procedure NAME (xrclient procedure list)"
        if request == "tr_confirm":
            driver.confirm(now)
        elif request == "tr_hint":
            driver.hint(now)
        elif request == "tr_restart":
            driver.restart(now)
        return ""

    def _plant(self, what: str, selected: int | None, live: LiveTwin | None) -> str:
        if live is None:
            return "no twin stream to operate machines through (--twin URL)"
        if selected is None:
            return "select a machine first"
        action, fields = PLANT_CONTROLS[what]
        machine = self.scene.machines[selected].id
        try:
            fut = live.client.control(action, machine=machine, **fields)
        except ConnectionError as exc:
            return f"{machine}: {exc}"
        self._pending.add(fut, machine)
        return f"{machine}: {what.replace('_', ' ')} requested"

    def _expert(self, request: str) -> str:
        session = self.session
        if session is None:
            return "no shared session: start with --session URL --token TOKEN"
        trainees = sorted(session.training)
        if not trainees:
            return "no trainee in the room is running a procedure"
        if request == "tr_watch" or self.watched not in trainees:
            i = trainees.index(self.watched) + 1 if self.watched in trainees else 0
            self.watched = trainees[i % len(trainees)]
            if request == "tr_watch":
                return f"watching {self._name(self.watched)}"
        assert self.watched is not None
        action = EXPERT_ACTIONS[request]
        fut = session.client.control_trainee(self.watched, action)
        self._pending.add(fut, self._name(self.watched))
        return f"{self._name(self.watched)}: {action.replace('_', ' ')} sent"

    def _name(self, pid: int) -> str:
        notice = self.session.training.get(pid) if self.session is not None else None
        return str(notice.data.get("name", "")) if notice is not None else f"#{pid}"

    def _collect(self) -> list[str]:
        said = []
        for answer in self._pending.settled():
            if answer.error is not None:  # refused by the server or the hub, or disconnected
                said.append(f"{answer.tag}: {answer.error}")
            elif isinstance(answer.result, str) and answer.result:
                said.append(answer.result)
        return said

    # --- HUD ------------------------------------------------------------------------------

    def hud_lines(self) -> tuple[Line, ...]:
        """The trainee's progress panel, then (experts) the room's trainees."""
        out: list[Line] = []
        driver = self.driver
        if driver is not None and driver.view is not None:
            lines = panel_lines(driver.view)
            out += [Line(p.text, KIND_COLORS[p.kind]) for p in lines if p.kind != "warning"]
            if driver.view.status != "running":
                result = driver.run.result()
                verdict = "passed" if result.passed else "not passed"
                color = OK if result.passed else BAD
                stored = "stored by the hub" if driver.result_seq is not None else ""
                out.append(Line(f"score {result.score:.0f}: {verdict}  {stored}", color))
                out.append(Line("F5: run it again", MUTED))
        session = self.session
        if session is not None and session.training:
            out.append(Line("Trainees (T: pick, F6 advance, F7 reset step, F8 restart)", MUTED))
            for pid, notice in sorted(session.training.items()):
                d = notice.data
                mark = ">" if pid == self.watched else " "
                step = f"step {d.get('step', -1) + 1} of {d.get('count', 0)}"
                if d.get("status") != "running":
                    step = str(d.get("status", ""))
                score = d.get("score")
                text = f"{mark} {d.get('name', pid)}: {d.get('procedure', '')} {step}"
                if isinstance(score, float):
                    text += f", score {score:.0f}"
                out.append(Line(text, WHITE if pid == self.watched else MUTED))
        return tuple(out)

    def image_size(self) -> tuple[int, int] | None:
        """Room for the step's image in the HUD, while it has one to show."""
        if self.image is None or self.image.size == (0, 0):
            return None
        return self.image.size

    def draw_image(self, at: tuple[float, float] | None, window: tuple[int, int]) -> None:
        if self.image is not None and at is not None:
            self.image.draw(at[0], at[1], window)

    def warning(self) -> str:
        view = self.driver.view if self.driver is not None else None
        return f"HAZARD: {view.warnings[0]}" if view is not None and view.warnings else ""

    def close(self) -> None:
        if self.layer is not None:
            self.layer.release()
            self.layer = None
        if self.image is not None:
            self.image.release()
            self.image = None
