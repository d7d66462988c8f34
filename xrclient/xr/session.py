"""An OpenXR session driven by :class:`~.lifecycle.Lifecycle`: events in, commands out.

:class:`XrSession` owns the session handle and its reference space; resources made for the
session (swapchains, action spaces) are registered with :meth:`XrSession.on_teardown` and
released in reverse order whichever way the session ends.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import xr

from xrclient.xr.lifecycle import Command, Lifecycle, SessionState
from xrclient.xr.runtime import Runtime, XrUnavailable

log = logging.getLogger(__name__)
STEREO = xr.ViewConfigurationType.PRIMARY_STEREO


@dataclass(frozen=True, slots=True)
class Event:
    """One runtime event, reduced to what the client acts on."""

    kind: str  # "state", "instance_loss", "space_change", "profile_change", "other"
    state: SessionState | None = None
    time: int = 0


def _read_event(buffer: Any) -> Event:
    stype = xr.StructureType(buffer.type)
    if stype == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
        e = ctypes.cast(ctypes.byref(buffer), ctypes.POINTER(xr.EventDataSessionStateChanged))
        return Event("state", SessionState(int(e.contents.state)), int(e.contents.time))
    if stype == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
        return Event("instance_loss")
    if stype == xr.StructureType.EVENT_DATA_REFERENCE_SPACE_CHANGE_PENDING:
        return Event("space_change")
    if stype == xr.StructureType.EVENT_DATA_INTERACTION_PROFILE_CHANGED:
        return Event("profile_change")
    return Event("other")


class XrSession:
    """Session, reference space and lifecycle for one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        graphics_binding: Any | None = None,
        *,
        space: str = "auto",
    ) -> None:
        if graphics_binding is None and not runtime.headless:
            raise XrUnavailable("an OpenGL session needs a graphics binding")
        self.runtime = runtime
        self.lifecycle = Lifecycle()
        self.events: list[Event] = []
        self._binding = graphics_binding
        self._teardown: list[Callable[[], None]] = []
        self._space_kind = space
        self.handle: Any = None
        self.space: Any = None
        self.space_name = ""
        self._create()

    # -- creation and teardown -------------------------------------------------------------

    def _create(self) -> None:
        rt = self.runtime
        if self._binding is not None:
            # the OpenGL binding requires asking for the requirements first
            xr.get_opengl_graphics_requirements_khr(rt.instance, rt.system)
        info = xr.SessionCreateInfo(system_id=rt.system, next=self._binding)
        try:
            self.handle = xr.create_session(rt.instance, info)
        except xr.XrException as exc:
            raise XrUnavailable(f"the OpenXR runtime refused a session ({exc})") from exc
        try:
            self.space, self.space_name = self._reference_space()
        except BaseException:
            xr.destroy_session(self.handle)
            self.handle = None
            raise

    def _reference_space(self) -> tuple[Any, str]:
        offered = {int(s) for s in xr.enumerate_reference_spaces(self.handle)}
        order = {
            "auto": ("STAGE", "LOCAL_FLOOR_EXT", "LOCAL"),
            "stage": ("STAGE",),
            "local": ("LOCAL",),
        }[self._space_kind]
        for name in order:
            kind = getattr(xr.ReferenceSpaceType, name, None)
            if kind is None or int(kind) not in offered:
                continue
            if name == "LOCAL_FLOOR_EXT" and "XR_EXT_local_floor" not in self.runtime.extensions:
                continue
            space = xr.create_reference_space(
                self.handle,
                xr.ReferenceSpaceCreateInfo(
                    reference_space_type=kind, pose_in_reference_space=xr.Posef()
                ),
            )
            log.info("OpenXR reference space: %s", name)
            return space, name
        raise XrUnavailable(f"the runtime offers none of the reference spaces {', '.join(order)}")

    def on_teardown(self, release: Callable[[], None]) -> None:
        """Register a release for something made for this session (run in reverse order)."""
        self._teardown.append(release)

    def destroy(self) -> None:
        """Release everything made for the session, then the space, then the session."""
        while self._teardown:
            release = self._teardown.pop()
            try:
                release()
            except Exception:  # keep releasing the rest
                log.exception("releasing a session resource failed")
        if self.space is not None:
            xr.destroy_space(self.space)
            self.space = None
        if self.handle is not None:
            xr.destroy_session(self.handle)
            self.handle = None

    # -- events ------------------------------------------------------------------------------

    def poll(self) -> list[Command]:
        """Read every pending event; carry out begin/end/exit; return the other commands
        (destroy, recreate, quit) for the owner."""
        out: list[Command] = []
        while True:
            try:
                buffer = xr.poll_event(self.runtime.instance)
            except xr.EventUnavailable:
                break
            event = _read_event(buffer)
            self.events.append(event)
            if event.kind == "state" and event.state is not None:
                log.info("OpenXR session state: %s", event.state.name)
                out += self._carry_out(self.lifecycle.on_state(event.state))
            elif event.kind == "instance_loss":
                out += self._carry_out(self.lifecycle.on_instance_loss())
            elif event.kind == "space_change":
                log.info("OpenXR reference space changes (recentred); poses follow")
        return out

    def request_exit(self) -> list[Command]:
        return self._carry_out(self.lifecycle.request_exit())

    def _carry_out(self, commands: list[Command]) -> list[Command]:
        rest: list[Command] = []
        for cmd in commands:
            if cmd is Command.BEGIN_SESSION:
                xr.begin_session(
                    self.handle, xr.SessionBeginInfo(primary_view_configuration_type=STEREO)
                )
            elif cmd is Command.END_SESSION:
                xr.end_session(self.handle)
            elif cmd is Command.REQUEST_EXIT:
                xr.request_exit_session(self.handle)
            else:
                rest.append(cmd)
        return rest
