"""The OpenXR session lifecycle as a sans-I/O state machine.

The runtime drives a session through IDLE, READY, SYNCHRONIZED, VISIBLE, FOCUSED, STOPPING,
LOSS_PENDING and EXITING. :class:`Lifecycle` is fed those states (and instance loss, and the
user's wish to quit) and answers with the :class:`Command` list the caller must carry out, in
order; it never calls the runtime itself, so every path is testable without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum


class SessionState(IntEnum):
    """``XrSessionState`` values."""

    UNKNOWN = 0
    IDLE = 1
    READY = 2
    SYNCHRONIZED = 3
    VISIBLE = 4
    FOCUSED = 5
    STOPPING = 6
    LOSS_PENDING = 7
    EXITING = 8


class Command(Enum):
    BEGIN_SESSION = "begin session"  # xrBeginSession
    END_SESSION = "end session"  # xrEndSession
    REQUEST_EXIT = "request exit"  # xrRequestExitSession; the runtime then walks to EXITING
    DESTROY_SESSION = "destroy session"  # release session resources (reverse order)
    RECREATE_SESSION = "recreate session"  # try to get a system and a session again later
    DESTROY_INSTANCE = "destroy instance"  # the instance is lost or we are done
    QUIT = "quit"  # leave the frame loop


#: states in which the application runs the frame loop (between begin and end)
RUNNING_STATES = frozenset({SessionState.SYNCHRONIZED, SessionState.VISIBLE, SessionState.FOCUSED})


@dataclass(slots=True)
class Lifecycle:
    """What the application should do next, given what the runtime said."""

    state: SessionState = SessionState.UNKNOWN
    running: bool = False  # between xrBeginSession and xrEndSession
    exit_requested: bool = False
    done: bool = False
    recreations: int = 0
    reason: str = ""  # why the loop ends, for people
    history: list[SessionState] = field(default_factory=list)

    @property
    def frames_allowed(self) -> bool:
        """Whether wait/begin/end frame must be called (the session is running)."""
        return self.running and not self.done

    @property
    def visible(self) -> bool:
        """Whether rendered frames can be seen (VISIBLE or FOCUSED)."""
        return self.running and self.state in (SessionState.VISIBLE, SessionState.FOCUSED)

    @property
    def focused(self) -> bool:
        """Whether the application receives input (FOCUSED)."""
        return self.running and self.state is SessionState.FOCUSED

    def on_state(self, state: SessionState | int) -> list[Command]:
        """The runtime reports a new session state."""
        state = SessionState(state)
        self.state = state
        self.history.append(state)
        if self.done:
            return []
        if state is SessionState.READY:
            if self.exit_requested:
                # asked to leave before the session ever ran: begin so that exit can be
                # requested through the runtime (xrRequestExitSession needs a running session)
                self.running = True
                return [Command.BEGIN_SESSION, Command.REQUEST_EXIT]
            self.running = True
            return [Command.BEGIN_SESSION]
        if state is SessionState.STOPPING:
            if not self.running:
                return []
            self.running = False
            return [Command.END_SESSION]
        if state is SessionState.EXITING:
            return self._finish("the runtime ended the session", [])
        if state is SessionState.LOSS_PENDING:
            cmds = [Command.END_SESSION] if self.running else []
            self.running = False
            cmds.append(Command.DESTROY_SESSION)
            if self.exit_requested:
                self.done = True
                self.reason = "the headset was lost while exiting"
                return [*cmds, Command.DESTROY_INSTANCE, Command.QUIT]
            self.recreations += 1
            self.state = SessionState.UNKNOWN
            return [*cmds, Command.RECREATE_SESSION]
        return []

    def on_instance_loss(self) -> list[Command]:
        """``XR_EVENT_DATA_INSTANCE_LOSS_PENDING``: the runtime is going away."""
        if self.done:
            return []
        cmds = [Command.END_SESSION] if self.running else []
        self.running = False
        return self._finish("the OpenXR runtime is shutting down (instance loss)", cmds)

    def request_exit(self) -> list[Command]:
        """The user wants to quit (window closed, Ctrl+C, frame limit reached)."""
        if self.done or self.exit_requested:
            return []
        self.exit_requested = True
        if self.running:
            # the runtime walks the session through STOPPING (end) and EXITING (destroy)
            return [Command.REQUEST_EXIT]
        # not running (IDLE, UNKNOWN, SYNCHRONIZED before begin): leave directly
        return self._finish("exit requested", [])

    def _finish(self, reason: str, cmds: list[Command]) -> list[Command]:
        self.done = True
        self.running = False
        if not self.reason:
            self.reason = reason
        return [*cmds, Command.DESTROY_SESSION, Command.DESTROY_INSTANCE, Command.QUIT]
