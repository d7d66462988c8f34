"""A trainee's run inside a front end: the runner, the shared session and what to tell.

:class:`TrainingDriver` is what the desktop viewer and the headset client hold for
``--procedure NAME``. Each frame, ``frame(store, now, head)`` takes an expert's commands
from the session (advance, reset the step, restart), updates the run against the live (or
replayed) store and the trainee's head position, reports progress to the room's experts
when it changes (and again after a reconnect), sends the result once when the run ends,
and returns the :class:`TrainingView` to draw. Inputs (``select``, ``point_at``,
``confirm``, ``hint``, ``restart``) go straight to the run. Nothing here waits on the
network: requests go out and their answers are read on later frames.
"""

from __future__ import annotations

import concurrent.futures
from collections import deque
from typing import TYPE_CHECKING, Any

from xrclient.training.runner import TrainingRun, TrainingView

if TYPE_CHECKING:
    from xrclient.core.expr import StoreView
    from xrclient.scene.model import Scene
    from xrclient.session import Session
    from xrclient.training.model import Procedure, Vec3

#: most messages kept for the front end to show
MAX_SAID = 8


class TrainingDriver:
    def __init__(self, run: TrainingRun, session: Session | None = None) -> None:
        self.run = run
        self.session = session
        self.view: TrainingView | None = None
        #: what to tell the trainee (toasts), oldest first; the front end drains it
        self.said: deque[str] = deque(maxlen=MAX_SAID)
        self.result_sent = False
        self.result_seq: int | None = None
        self._reported: tuple[object, ...] | None = None
        self._connects = -1
        self._pending: list[tuple[concurrent.futures.Future[Any], str]] = []
        self._last_message: tuple[object, ...] | None = None
        self._result_failed = False  # resend after the next reconnect

    @classmethod
    def for_scene(
        cls,
        procedure: Procedure,
        scene: Scene,
        trainee: str = "",
        session: Session | None = None,
    ) -> TrainingDriver:
        return cls(TrainingRun.for_scene(procedure, scene, trainee=trainee), session)

    # -- inputs ----------------------------------------------------------------------------

    def select(self, machine: int | None, now: float) -> None:
        if machine is not None and self.running:
            self.run.select(machine, now)

    def point_at(self, machine: int | None, now: float) -> None:
        if self.running:
            self.run.point_at(machine, now)

    def confirm(self, now: float) -> None:
        view = self.view
        if not self.running:
            self.said.append("the procedure is over: restart it to run it again")
        elif not self.run.confirm(now) and view is not None and view.complete != "confirm":
            self.said.append("this step is not confirmed by hand: " + _how(view))

    def hint(self, now: float) -> None:
        hint = self.run.hint(now) if self.running else None
        self.said.append(f"hint: {hint}" if hint else "no more hints for this step")

    def restart(self, now: float) -> None:
        self.run.restart(now)
        self.result_sent, self.result_seq = False, None
        self.said.append("procedure restarted")

    @property
    def running(self) -> bool:
        return self.run.status == "running"

    # -- per frame ---------------------------------------------------------------------------

    def frame(self, store: StoreView | None, now: float, head: Vec3 | None) -> TrainingView:
        session = self.session
        if session is not None:
            while (notice := session.take_training_control()) is not None:
                action = str(notice.data.get("action", ""))
                who = str(notice.data.get("name", "")) or "the expert"
                if action == "restart":
                    self.result_sent, self.result_seq = False, None
                if self.run.apply_control(action, now, by=who):
                    self.said.append(f"{who}: {action.replace('_', ' ')}")
        view = self.run.update(store, now, head)
        self.view = view
        if view.message:
            key = (view.message, view.step_index, view.status)
            if key != self._last_message:
                self._last_message = key
                self.said.append(view.message)
        if session is not None:
            self._report(session, view)
        self._collect()
        return view

    def _report(self, session: Session, view: TrainingView) -> None:
        status = session.status
        if status.state != "live":
            return
        connects = status.connects
        key = (view.step_index, view.status, view.completed, view.step_id)
        reconnected = connects != self._connects
        if key != self._reported or reconnected:
            self._reported, self._connects = key, connects
            if reconnected and self._result_failed:
                self._result_failed, self.result_sent = False, False
            score = self.run.result().score
            self._pending.append((session.client.report_progress(view, score), "progress"))
        if view.status != "running" and not self.result_sent:
            self.result_sent = True
            self._pending.append((session.client.send_result(self.run.result()), "result"))

    def _collect(self) -> None:
        still = []
        for fut, what in self._pending:
            if not fut.done():
                still.append((fut, what))
                continue
            try:
                reply = fut.result()
            except Exception as exc:  # the hub refused or the link dropped
                if what == "result":
                    self._result_failed = True  # try again after a reconnect
                self.said.append(f"training {what} not sent: {exc}")
                continue
            if what == "result":
                seq = getattr(reply, "data", {}).get("seq")
                ok = isinstance(seq, int | float) and float(seq).is_integer()
                self.result_seq = int(seq) if ok else 0  # type: ignore[arg-type]
                self.said.append("result stored by the hub")
        self._pending = still


def _how(view: TrainingView) -> str:
    from xrclient.training.panel import HOW

    return HOW.get(view.complete or "", "")
