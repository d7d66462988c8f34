"""A shared session as a front end holds it, once per frame (like ``LiveTwin``).

``Session`` wraps a ``SessionClient`` (its own thread) and turns the room into what a
frame draws and acts on. Call ``update(now)`` once per frame, then read:

* ``participants``: the others, with interpolated head, hands and pointer, role colour;
* ``annotations``: every pin with its world position (anchored to its machine, so it moves
  with it: machine model matrix times the local offset);
* ``pings``: "look here" markers younger than ``ping_lifetime`` seconds;
* ``notices``: the last few joins, leaves, lost connections and chat lines, for a HUD;
* ``follow``: whom this participant follows, and ``camera_pose(...)`` the smoothed pose
  a follower's camera should take; ``take_summon()`` a pending summon;
* ``shared_timeline``: the moment of the plant's history the room is shown (``None``:
  live), with who set it; ``timeline_version`` bumps at each change, and
  ``follow_timeline(timeline)`` takes a front end's ``Timeline`` there.

Actions (never block; requests return futures): ``send_pose``, ``create_annotation``,
``update_annotation``, ``delete_annotation``, ``ping``, ``chat``, ``lead`` ("follow
me"), ``follow``, ``break_away``, ``summon``, ``share_timeline`` (the leader or an
expert), ``leave_shared_timeline`` / ``rejoin_shared_timeline`` (local only). Following
starts by itself when someone leads (unless ``auto_follow`` is off) and stops at
``break_away``, until ``follow`` is called again. In spectator mode (always for
observers) no presence is sent: the others do not see an avatar.
"""

from __future__ import annotations

import concurrent.futures
import math
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xrclient.core import math3d
from xrclient.core import session_roles as s
from xrclient.core.session_mirror import Notice, Reply
from xrclient.core.session_room import Annotation
from xrclient.core.session_view import (
    ROLE_COLORS,
    PingMarker,
    PlacedAnnotation,
    RemoteParticipant,
    screen_indicator,
)
from xrclient.core.timeline_state import TimelineState
from xrclient.history.timeline import Timeline
from xrclient.net.session_client import SessionClient, SessionStatus
from xrclient.scene.model import Scene

# The types of what the session shows are defined in xrclient.core.session_view and
# re-exported here.
__all__ = [
    "ROLE_COLORS",
    "Anchor",
    "PingMarker",
    "PlacedAnnotation",
    "RemoteParticipant",
    "Session",
    "SessionOptions",
    "SharedMoment",
    "machine_anchors",
    "scene_anchors",
    "screen_indicator",
]

F64 = npt.NDArray[np.float64]
Anchor = Callable[[str], npt.NDArray[np.floating] | None]


@dataclass(frozen=True, slots=True)
class SessionOptions:
    url: str
    token: str
    device: str = "desktop"
    #: offer the token as a subprotocol instead of an Authorization header
    token_in_subprotocol: bool = False
    ssl_context: ssl.SSLContext | None = None
    spectator: bool = False
    auto_follow: bool = True


@dataclass(frozen=True, slots=True)
class SharedMoment:
    """The room's shared timeline: ``state`` is a past moment whose ``wall`` is this
    machine's ``time.time()`` at which ``state.time`` was shown (hand it to
    ``Timeline.follow``); ``by`` and ``name``: who set it."""

    state: TimelineState
    by: int
    name: str


def machine_anchors(matrices: Mapping[str, npt.NDArray[np.floating]]) -> Anchor:
    """An anchor lookup from machine id to model matrix (e.g. ``{m.id:
    m.transform.matrix() for m in scene.machines}``)."""
    return matrices.get


def scene_anchors(scene: Scene) -> Anchor:
    """Annotations anchored to the machines of ``scene`` (their placement in the file)."""
    return machine_anchors({m.id: m.transform.matrix() for m in scene.machines})


class Session:
    def __init__(
        self,
        options: SessionOptions,
        anchors: Anchor | None = None,
        *,
        client: SessionClient | None = None,
        ping_lifetime: float = 6.0,
        follow_time_constant: float = 0.25,
    ) -> None:
        self.options = options
        self.client = client or SessionClient(
            options.url,
            options.token,
            device=options.device,
            header_auth=not options.token_in_subprotocol,
            ssl_context=options.ssl_context,
        )
        self.anchors: Anchor = anchors or (lambda machine: None)
        self.ping_lifetime = ping_lifetime
        self.follow_time_constant = follow_time_constant
        self.spectator = options.spectator
        self.participants: list[RemoteParticipant] = []
        self.annotations: list[PlacedAnnotation] = []
        self.pings: list[PingMarker] = []
        self.notices: deque[Notice] = deque(maxlen=32)
        #: the participant this one follows (``None``: free)
        self.follow: int | None = None
        self._broke_away = False
        self._summon: tuple[float, ...] | None = None
        self._annotations_version = -1
        self._camera: F64 | None = None
        self._camera_at: float | None = None
        #: experts: each trainee's latest training progress (``training_progress`` notices:
        #: ``data`` has procedure, step, step_id, status, completed, count, text, score)
        self.training: dict[int, Notice] = {}
        self._training_controls: deque[Notice] = deque(maxlen=16)
        #: the moment of history the room is shown (``None``: live) and its change counter
        self.shared_timeline: SharedMoment | None = None
        self.timeline_version = 0
        #: this participant left the shared moment for live (until it ends, or rejoin)
        self.timeline_detached = False
        self._leave_to_live = True
        self._timeline_applied = (0, False)
        self._in_shared = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Session:
        self.client.start()
        return self

    def stop(self) -> None:
        self.client.stop()

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def status(self) -> SessionStatus:
        return self.client.status

    @property
    def you(self) -> int | None:
        return self.client.room().you

    @property
    def leader(self) -> int | None:
        return self.client.room().leader

    # -- per frame -------------------------------------------------------------------------

    def update(self, now: float | None = None) -> None:
        """Take in everything received since the last frame (never blocks)."""
        now = time.time() if now is None else now
        view = self.client.room()
        names = {p.pid: p for p in view.participants.values()}
        for notice in self.client.drain_notices():
            self._on_notice(notice, now, names)
        poses = self.client.poses(now)
        self.participants = [
            RemoteParticipant(
                p.pid, p.name, p.role, p.device, ROLE_COLORS[p.role], poses.get(p.pid), p.following
            )
            for p in view.participants.values()
            if p.pid != view.you
        ]
        if view.timeline_version != self.timeline_version:
            self.timeline_version = view.timeline_version
            t = view.timeline
            self.shared_timeline = (
                None
                if t is None
                else SharedMoment(
                    TimelineState("past", t.time, t.playing, t.speed, view.timeline_wall),
                    t.by,
                    t.name,
                )
            )
            if t is None:
                self.timeline_detached = False  # the shared moment is over
        if view.version != self._annotations_version:
            self._annotations_version = view.version
            self.annotations = [self._place(a) for a in view.annotations.values()]
        self.pings = [
            PingMarker(p.position, p.machine, p.by, p.name, p.color, p.at, now - p.at)
            for p in self.pings
            if now - p.at < self.ping_lifetime
        ]
        if self.follow is not None and self.follow not in names:
            self.follow = None
        for gone in [pid for pid in self.training if pid not in names]:
            del self.training[gone]
        if (
            self.options.auto_follow
            and self.follow is None
            and not self._broke_away
            and view.leader is not None
            and view.leader != view.you
            and self.status.state == "live"
        ):
            self.follow_participant(view.leader)

    def refresh_anchors(self) -> None:
        """Recompute annotation positions (after machines moved)."""
        self._annotations_version = -1

    def _place(self, a: Annotation) -> PlacedAnnotation:
        m = self.anchors(a.machine)
        if m is None:
            return PlacedAnnotation(a, None)
        p = math3d.transform_points(np.asarray(m, np.float32), [a.offset])[0]
        return PlacedAnnotation(a, (float(p[0]), float(p[1]), float(p[2])))

    def _on_notice(self, notice: Notice, now: float, names: Mapping[int, object]) -> None:
        kind = notice.kind
        if kind == "ping":
            p = names.get(notice.pid or 0)
            name = getattr(p, "name", "")
            role = getattr(p, "role", s.Role.OBSERVER)
            self.pings.append(
                PingMarker(
                    notice.data["pos"],
                    notice.data["machine"],
                    notice.pid or 0,
                    name,
                    ROLE_COLORS[role],
                    now,
                    0.0,
                )
            )
            del self.pings[:-16]  # bounded: the newest sixteen
        elif kind == "summon":
            self._summon = notice.data["pose"]
        elif kind == "lead":
            if notice.pid is None:
                self.follow = None
            self._broke_away = False  # a new "follow me" asks everyone again
        elif kind in ("joined", "left", "lost", "chat", "training_result", "timeline"):
            self.notices.append(notice)
        elif kind == "training_progress" and notice.pid is not None:
            self.training[notice.pid] = notice
        elif kind == "training_control":
            self._training_controls.append(notice)

    def take_training_control(self) -> Notice | None:
        """The oldest expert command for this participant's run (``data["action"]`` is
        ``advance``, ``reset_step`` or ``restart``; ``pid`` the expert), or ``None``."""
        return self._training_controls.popleft() if self._training_controls else None

    # -- presence and camera ---------------------------------------------------------------

    def send_pose(
        self,
        head: Sequence[float],
        left: Sequence[float] | None = None,
        right: Sequence[float] | None = None,
        point: Sequence[float] | None = None,
    ) -> None:
        """This participant's presence for this frame (7-float poses: position and a
        quaternion x, y, z, w; ``point``: a ray origin and direction while pointing)."""
        role = self.client.room().role
        if self.spectator or role is s.Role.OBSERVER:
            return
        self.client.set_pose(head, left, right, point)

    def take_summon(self) -> tuple[float, ...] | None:
        """The pose an expert summoned this participant to, once; ``None`` otherwise."""
        pose, self._summon = self._summon, None
        return pose

    def camera_pose(self, now: float | None = None) -> F64 | None:
        """While following: the camera pose (7 floats) smoothly tracking the leader's head
        (exponential approach, ``follow_time_constant`` seconds); ``None`` when free."""
        now = time.time() if now is None else now
        target = None
        if self.follow is not None:
            for p in self.participants:
                if p.pid == self.follow and p.pose is not None:
                    target = p.pose.head
        if target is None:
            self._camera = self._camera_at = None
            return None
        if self._camera is None or self._camera_at is None:
            self._camera = np.array(target, np.float64)
        else:
            a = 1.0 - math.exp(-max(0.0, now - self._camera_at) / self.follow_time_constant)
            cam = self._camera
            cam[:3] += (target[:3] - cam[:3]) * a
            q1 = target[3:7] if float(cam[3:7] @ target[3:7]) >= 0 else -target[3:7]
            q = cam[3:7] + (q1 - cam[3:7]) * a
            cam[3:7] = q / max(float(np.linalg.norm(q)), 1e-9)
        self._camera_at = now
        return self._camera.copy()

    # -- remote expert ---------------------------------------------------------------------

    def lead(self, on: bool = True) -> concurrent.futures.Future[Reply]:
        """Ask everyone to follow this participant ("follow me"), or stop."""
        return self.client.request("lead", on=on)

    def follow_participant(self, pid: int) -> concurrent.futures.Future[Reply]:
        self.follow = pid
        self._broke_away = False
        return self.client.request("follow", leader=pid)

    def break_away(self) -> concurrent.futures.Future[Reply]:
        """Stop following (until ``follow_participant`` or a new "follow me")."""
        self.follow = None
        self._broke_away = True
        return self.client.request("follow", leader=None)

    def summon(
        self, pose: Sequence[float], targets: Sequence[int] | None = None
    ) -> concurrent.futures.Future[Reply]:
        """Bring ``targets`` (default: everyone) to ``pose`` (experts only)."""
        fields: dict[str, object] = {"pose": [float(x) for x in pose]}
        if targets is not None:
            fields["targets"] = list(targets)
        return self.client.request("summon", **fields)

    # -- shared timeline -------------------------------------------------------------------

    @property
    def can_share_timeline(self) -> bool:
        """Whether the hub lets this participant set the shared timeline: an expert, or the
        participant leading ("follow me")."""
        view = self.client.room()
        if view.role is s.Role.EXPERT:
            return True
        return (
            view.role is not None
            and s.allowed(view.role, s.Action.TIMELINE)
            and view.leader is not None
            and view.leader == view.you
        )

    def share_timeline(self, state: TimelineState) -> concurrent.futures.Future[Reply]:
        """Take everyone to ``state`` (``Timeline.state(now)``): a past moment, played or
        paused, or live to take everyone back. Send it at each change (seek, play, pause,
        speed, live), not every frame. Refused (``forbidden``) unless this participant
        leads or is an expert."""
        return self.client.share_timeline(state)

    def leave_shared_timeline(self, live: bool = True) -> None:
        """Stop following the shared moment here only (the others stay at it): back to live
        on the next ``follow_timeline``, or, with ``live=False``, left where it is to scrub
        on from there."""
        self.timeline_detached = True
        self._leave_to_live = live
        if not live:
            self._in_shared = False

    def rejoin_shared_timeline(self) -> None:
        """Follow the shared moment again after ``leave_shared_timeline``."""
        self.timeline_detached = False

    def follow_timeline(self, timeline: Timeline, wall: float | None = None) -> bool:
        """Once per frame after ``update``: bring ``timeline`` to the shared moment when it
        changed (``Timeline.follow``), back to live when it ended or this participant left
        it. A moment this participant set is not applied again. Returns whether
        ``timeline`` was changed; between changes it is left alone (local scrubbing)."""
        key = (self.timeline_version, self.timeline_detached)
        if key == self._timeline_applied:
            return False
        self._timeline_applied = key
        shared = self.shared_timeline
        if shared is not None and shared.by != self.you and not self.timeline_detached:
            timeline.follow(shared.state, time.time() if wall is None else wall)
            self._in_shared = True
            return True
        was, self._in_shared = self._in_shared, False
        if was and (shared is None or (self.timeline_detached and self._leave_to_live)):
            timeline.go_live()
            return True
        return False

    @property
    def viewing_shared_past(self) -> bool:
        """Whether this front end is following someone's shared moment (for a HUD badge)."""
        return self._in_shared

    def ping(
        self, position: Sequence[float], machine: str = ""
    ) -> concurrent.futures.Future[Reply]:
        """A transient "look here" marker everyone sees."""
        return self.client.request("ping", pos=[float(x) for x in position], machine=machine)

    def chat(self, text: str) -> concurrent.futures.Future[Reply]:
        return self.client.request("chat", text=text)

    # -- annotations -----------------------------------------------------------------------

    def create_annotation(
        self,
        machine: str,
        offset: Sequence[float],
        text: str,
        color: str = "#ffcc00",
        status: str = "open",
    ) -> concurrent.futures.Future[Reply]:
        """A pin on ``machine`` at ``offset`` (machine-local metres); resolved with the new
        annotation's id once the hub has stored it."""
        return self.client.create_annotation(machine, offset, text, color, status)

    def update_annotation(
        self, annotation: str, **changes: object
    ) -> concurrent.futures.Future[Reply]:
        return self.client.update_annotation(annotation, **changes)

    def delete_annotation(self, annotation: str) -> concurrent.futures.Future[Reply]:
        return self.client.delete_annotation(annotation)
