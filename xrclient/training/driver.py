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
from typing import TYPE_CHECKING, Any, Protocol

from xrclient.replies import Pending
from xrclient.training.runner import TrainingRun, TrainingView

if TYPE_CHECKING:
    from xrclient.core.expr import StoreView
    from xrclient.core.run_result import RunResult
    from xrclient.core.session_mirror import Notice
    from xrclient.scene.model import Scene
    from xrclient.training.model import Procedure, Vec3

#: most messages kept for the front end to show
MAX_SAID = 8


class LinkStatus(Protocol):
    """What the driver reads of a session's link state."""

    @property
    def state(self) -> str: ...

    @property
    def connects(self) -> int: ...


class TrainingReporter(Protocol):
    """The requests the driver sends to the room (a session client has them)."""

    def report_progress(
        self, view: TrainingView, score: float | None = None
    ) -> concurrent.futures.Future[Any]: ...

    def send_result(self, result: RunResult) -> concurrent.futures.Future[Any]: ...


class TrainingSession(Protocol):
    """The part of a shared session the driver uses (:class:`xrclient.session.Session`
    has it); typed here so that training does not depend on the session front end."""

    @property
    def status(self) -> LinkStatus: ...

    @property
    def client(self) -> TrainingReporter: ...

    def take_training_control(self) -> Notice | None: ...


class TrainingDriver:
    def __init__(self, run: TrainingRun, session: TrainingSession | None = None) -> None:
        self.run = run
        self.session = session
        self.view: TrainingView | None = None
        #: what to tell the trainee (toasts), oldest first; the front end drains it
        self.said: deque[str] = deque(maxlen=MAX_SAID)
        self.result_sent = False
        self.result_seq: int | None = None
        self._reported: tuple[object, ...] | None = None
        self._connects = -1
        self._pending: Pending[str] = Pending()
        self._last_message: tuple[object, ...] | None = None
        self._result_failed = False  # resend after the next reconnect

    @classmethod
    def for_scene(
        cls,
        procedure: Procedure,
        scene: Scene,
        trainee: str = "",
        session: TrainingSession | None = None,
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

    def target(self) -> int | None:
        """The running step's machine (scene index), if it names one."""
        view = self.view
        if view is None or view.status != "running" or view.target_machine < 0:
            return None
        return view.target_machine

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

    def _report(self, session: TrainingSession, view: TrainingView) -> None:
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
            self._pending.add(session.client.report_progress(view, score), "progress")
        if view.status != "running" and not self.result_sent:
            self.result_sent = True
            self._pending.add(session.client.send_result(self.run.result()), "result")

    def _collect(self) -> None:
        for answer in self._pending.settled():
            what = answer.tag
            if answer.error is not None:  # the hub refused or the link dropped
                if what == "result":
                    self._result_failed = True  # try again after a reconnect
                self.said.append(f"training {what} not sent: {answer.error}")
            elif what == "result":
                seq = getattr(answer.result, "data", {}).get("seq")
                whole = isinstance(seq, int | float) and float(seq).is_integer()
                self.result_seq = int(seq) if whole and isinstance(seq, int | float) else 0
                self.said.append("result stored by the hub")


def _how(view: TrainingView) -> str:
    from xrclient.training.panel import HOW

    return HOW.get(view.complete or "", "")
