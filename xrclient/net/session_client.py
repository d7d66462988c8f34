"""The session-hub client: websockets + asyncio on a background thread.

The thread connects to ``wss://host:port/ROOM`` with the join token (``Authorization:
Bearer`` by default, or offered as the ``xrsession.bearer.<token>`` subprotocol), feeds
every frame to the sans-I/O ``SessionMirror`` and keeps presence tracks for interpolation.
It reconnects with exponential backoff and full jitter; every new connection starts from
the hub's full state (``welcome``, then the annotations in pages), so the copy converges
after any loss.

The frame loop never blocks on it: ``set_pose`` overwrites one latest-value slot (the
thread sends it at most ``pose_hz`` times a second, never queues poses), ``room()``
returns an immutable copy of the room (made only when it changed), ``poses(now)`` the
interpolated presence of the others, ``drain_notices()`` what happened since the last call
(bounded). Requests (annotations, chat, pings, follow, summon, the shared timeline)
return futures resolved by the hub's acknowledgement, which for annotations comes only
after the change is on disk.

The room's shared timeline is in ``room().timeline`` (hub clock) with
``room().timeline_wall``: the local ``time.time()`` at which its ``time`` was shown,
worked out when the frame that brought it arrived, so participants' clocks need not agree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import ssl
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from xrclient.core import redaction
from xrclient.core import session_checks as checks
from xrclient.core import session_codec as codec
from xrclient.core import session_messages as messages
from xrclient.core import session_presence as presence
from xrclient.core import session_roles as roles
from xrclient.core.session_interp import PoseTrack, SampledPose
from xrclient.core.session_mirror import Notice, Reply, SessionMirror
from xrclient.core.session_room import Annotation, Participant, SharedTimeline
from xrclient.net.client_thread import ClientThread
from xrclient.net.reconnect import Backoff

if TYPE_CHECKING:
    from xrclient.core.run_result import RunResult
    from xrclient.core.timeline_state import TimelineState
    from xrclient.training.runner import TrainingView

log = logging.getLogger("xrclient.session_client")

SessionState = Literal["connecting", "live", "disconnected", "stopped"]
MAX_PENDING = 256


@dataclass(frozen=True, slots=True)
class SessionStatus:
    url: str
    state: SessionState = "connecting"
    since: float = 0.0  # time.time() of the last state change
    last_error: str = ""
    #: HTTP status of the last refused handshake (401: token, 403: room or origin)
    refused: int | None = None
    connects: int = 0
    retry_in: float | None = None
    you: int | None = None
    role: str = ""
    invalid_messages: int = 0
    presence_frames: int = 0


@dataclass(frozen=True, slots=True)
class RoomView:
    """An immutable copy of the room as this participant knows it."""

    version: int
    you: int | None
    role: roles.Role | None
    room: str
    participants: Mapping[int, Participant] = field(default_factory=dict)
    annotations: Mapping[str, Annotation] = field(default_factory=dict)
    leader: int | None = None
    #: the moment of history the room is shown (``None``: live), its change counter, and
    #: the local ``time.time()`` at which ``timeline.time`` was shown
    timeline: SharedTimeline | None = None
    timeline_version: int = 0
    timeline_wall: float = math.nan
    #: false from a (re)connect until every annotation of the room has arrived (the hub
    #: sends them in pages after its welcome; ``annotations`` grows meanwhile)
    annotations_loaded: bool = False


class RequestRefused(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SessionClient(ClientThread[SessionStatus]):
    thread_name = "session-client"
    label = "session"
    stop_timeout = 5.0
    report_refused = True

    def __init__(
        self,
        url: str,
        token: str,
        *,
        device: str = "desktop",
        header_auth: bool = True,
        backoff: Backoff | None = None,
        open_timeout: float = 5.0,
        pose_hz: float = 30.0,
        interpolation_delay: float = 0.1,
        ssl_context: ssl.SSLContext | None = None,
        seed: int | None = None,
    ) -> None:
        parts = check_session_url(url)
        if device not in checks.DEVICES:
            raise ValueError(f"device must be one of {checks.DEVICES}")
        query = urllib.parse.urlencode({"device": device})
        super().__init__(
            url,
            SessionStatus(url, since=time.time()),
            backoff=backoff or Backoff(),
            seed=seed,
            log=log,
        )
        self._connect_url = urllib.parse.urlunsplit(parts._replace(query=query))
        self.token = token
        self.header_auth = header_auth
        self.open_timeout = open_timeout
        self.pose_period = 1.0 / pose_hz
        self.interpolation_delay = interpolation_delay
        self.ssl_context = ssl_context
        self._lock = threading.Lock()
        self._mirror = SessionMirror()
        self._tracks: dict[int, PoseTrack] = {}
        self._notices: deque[Notice] = deque(maxlen=512)
        self._view = RoomView(-1, None, None, "")
        self._timeline_version = 0
        self._timeline_wall = math.nan
        self._pose: dict[str, Any] | None = None
        self._pose_event: asyncio.Event | None = None
        self._ws: ClientConnection | None = None

    def drop_connection(self) -> None:
        """Cut the connection without a close handshake, as a network failure would (the
        client then reconnects with backoff); for tests and demos of loss handling."""
        ws = self._ws
        if ws is not None:
            self._loops.call_soon(ws.transport.abort)

    # -- frame-loop accessors (never block) ----------------------------------------------

    def set_pose(
        self,
        head: Sequence[float],
        left: Sequence[float] | None = None,
        right: Sequence[float] | None = None,
        point: Sequence[float] | None = None,
    ) -> None:
        """Latest presence (7-float poses: position, quaternion x y z w; ``point`` a ray:
        origin, direction); replaces any unsent one."""
        self._pose = presence.pose_message(time.time(), head, left, right, point)
        event = self._pose_event
        if event is not None:
            self._loops.call_soon(event.set)

    def room(self) -> RoomView:
        """The room as known now (an immutable copy, rebuilt only after a change)."""
        with self._lock:
            m = self._mirror
            if m.version != self._view.version:
                self._view = RoomView(
                    m.version,
                    m.you,
                    m.role,
                    m.room,
                    MappingProxyType(dict(m.participants)),
                    MappingProxyType(dict(m.annotations)),
                    m.leader,
                    m.timeline,
                    m.timeline_version,
                    self._timeline_wall,
                    m.annotations_loaded,
                )
            return self._view

    def poses(self, now: float | None = None) -> dict[int, SampledPose]:
        """Interpolated presence of every other participant that has sent one."""
        now = time.time() if now is None else now
        with self._lock:
            you = self._mirror.you
            out = {}
            for pid, track in self._tracks.items():
                if pid != you:
                    sample = track.sample(now)
                    if sample is not None:
                        out[pid] = sample
            return out

    def drain_notices(self) -> list[Notice]:
        with self._lock:
            out = list(self._notices)
            self._notices.clear()
            return out

    # -- requests ------------------------------------------------------------------------

    def request(self, kind: str, **fields: Any) -> concurrent.futures.Future[Reply]:
        """Send a reliable message; the future gives the hub's ``Reply`` or raises
        ``RequestRefused`` (its code) or ``ConnectionError``."""
        fut: concurrent.futures.Future[Reply] = concurrent.futures.Future()
        return self._hand_over(fut, self._status.state == "live", self._send_request, kind, fields)

    def create_annotation(
        self,
        machine: str,
        offset: Sequence[float] = (0.0, 0.0, 0.0),
        text: str = "",
        color: str = "#ffcc00",
        status: str = "",
    ) -> concurrent.futures.Future[Reply]:
        """A new pin on ``machine`` at ``offset`` (metres, machine-local); the reply's
        ``annotation`` is its id, sent once the hub has stored it."""
        return self.request(
            "ann_create",
            machine=machine,
            offset=[float(x) for x in offset],
            text=text,
            color=color,
            status=status,
        )

    def update_annotation(
        self, annotation: str, **changes: Any
    ) -> concurrent.futures.Future[Reply]:
        if "offset" in changes:
            changes["offset"] = [float(x) for x in changes["offset"]]
        return self.request("ann_update", ann=annotation, **changes)

    def delete_annotation(self, annotation: str) -> concurrent.futures.Future[Reply]:
        return self.request("ann_delete", ann=annotation)

    # -- shared timeline -----------------------------------------------------------------

    def share_timeline(
        self, state: TimelineState, now: float | None = None
    ) -> concurrent.futures.Future[Reply]:
        """Show the room ``state`` (the leader or an expert only): a past moment, or live to
        take everyone back. A playing moment is sent as it stands ``now`` (default: this
        clock), since the hub takes it as of its arrival. Refused with ``forbidden`` for
        anyone else; ``ValueError`` here for a state the hub would refuse."""
        if state.mode == "live":
            return self.request("timeline", mode="live")
        t = state.time
        if state.playing:
            now = time.time() if now is None else now
            t += max(0.0, now - state.wall) * state.speed
        fields = {"mode": "past", "time": t, "playing": state.playing, "speed": state.speed}
        try:
            checks.timeline_fields(fields)
        except codec.SessionError as exc:
            raise ValueError(exc.message) from None
        return self.request("timeline", **fields)

    # -- training ------------------------------------------------------------------------

    def report_progress(
        self, view: TrainingView, score: float | None = None
    ) -> concurrent.futures.Future[Reply]:
        """Tell the room's experts where you are in a procedure (send it when the step,
        status or progress changes, and again after a reconnect)."""
        fields: dict[str, Any] = {
            "procedure": view.procedure_id,
            "step": view.step_index,
            "step_id": view.step_id,
            "status": view.status,
            "completed": view.completed,
            "count": view.step_count,
            "text": view.text[: checks.MAX_TEXT],
        }
        if score is not None:
            fields["score"] = float(score)
        return self.request("tr_progress", **fields)

    def send_result(self, result: RunResult) -> concurrent.futures.Future[Reply]:
        """Store a finished run on the hub; acknowledged (``data["seq"]``) after commit. The
        event log is cut to the errors when the whole would not fit in one frame."""
        doc = result.to_dict()
        if (
            len(codec.encode({"t": "tr_result", "id": 0, "result": doc}))
            > codec.MAX_CLIENT_FRAME - 64
        ):
            doc["events"] = [
                e for e in doc["events"] if e["kind"] in ("wrong_machine", "hazard_entered")
            ]
        return self.request("tr_result", result=doc)

    def control_trainee(self, pid: int, action: str) -> concurrent.futures.Future[Reply]:
        """Expert only: ``advance``, ``reset_step`` or ``restart`` participant ``pid``'s run."""
        return self.request("tr_control", target=pid, action=action)

    def training_results(
        self, trainee: str | None = None, limit: int = messages.MAX_RESULTS
    ) -> concurrent.futures.Future[Reply]:
        """Expert only: the room's stored results (newest ``limit``), in ``data["results"]``."""
        fields: dict[str, Any] = {"limit": limit}
        if trainee is not None:
            fields["trainee"] = trainee
        return self.request("tr_results", **fields)

    # -- the thread ----------------------------------------------------------------------

    def _on_loop(self) -> None:
        self._pose_event = asyncio.Event()

    async def _session(self) -> None:
        """One connection, until it ends; sets ``_went_live`` when it ends cleanly after a
        welcome (a session lost with an error does not start the backoff over)."""
        self._went_live = False
        protocols = [Subprotocol(codec.SUBPROTOCOL)]
        headers = None
        if self.header_auth:
            headers = {"Authorization": f"Bearer {self.token}"}
        else:
            protocols.append(Subprotocol(codec.TOKEN_SUBPROTOCOL_PREFIX + self.token))
        live = False
        async with connect(
            self._connect_url,
            subprotocols=protocols,
            additional_headers=headers,
            ssl=self.ssl_context if self._connect_url.startswith("wss:") else None,
            max_size=16 * 2**20,
            open_timeout=self.open_timeout,
            ping_interval=5,
            ping_timeout=10,
            compression=None,
            max_queue=64,
            close_timeout=1.0,
            logger=redaction.quiet_logger("xrclient.session_client.ws"),
        ) as ws:
            self._ws = ws
            self._set(connects=self._status.connects + 1, last_error="", refused=None)
            sender = asyncio.create_task(self._pose_loop(ws))
            try:
                async for frame in ws:
                    if isinstance(frame, bytes):
                        live = self._on_frame(frame) or live
            except asyncio.CancelledError:  # stopping: leave cleanly, so nobody sees a loss
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(1000, "bye"), 1.0)
                raise
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await sender
                self._ws = None
                self._fail_pending("connection lost")
            if ws.close_code is not None and ws.close_code not in (1000, 1001):
                reason = ws.close_reason or ""
                self._set(last_error=f"closed by the hub ({ws.close_code} {reason})".strip())
        self._went_live = live

    def _on_frame(self, frame: bytes) -> bool:
        now = time.time()
        welcomed = False
        with self._lock:
            events = self._mirror.receive(frame)
            if self._mirror.timeline_version != self._timeline_version:
                self._timeline_version = self._mirror.timeline_version
                self._timeline_wall = now - self._mirror.timeline_age
            for event in events:
                if isinstance(event, presence.PresenceColumns):
                    self._on_presence(event, now)
                elif isinstance(event, Notice):
                    if event.kind == "welcome":
                        welcomed = True
                        keep = self._mirror.participants
                        self._tracks = {p: t for p, t in self._tracks.items() if p in keep}
                    elif event.kind in ("left", "lost") and event.pid is not None:
                        self._tracks.pop(event.pid, None)
                    if event.kind not in ("welcome",):
                        self._notices.append(event)
            invalid = self._mirror.invalid_messages
            you, role = self._mirror.you, self._mirror.role
        for event in events:
            if isinstance(event, Reply):
                self._reply(event)
        changes: dict[str, Any] = {"invalid_messages": invalid}
        if welcomed:
            changes.update(state="live", you=you, role=role.value if role else "")
        self._set(**changes)
        return welcomed

    def _on_presence(self, frame: presence.PresenceColumns, now: float) -> None:
        tracks = self._tracks
        known = self._mirror.participants
        for pid, sent, row, mask in zip(
            frame.pids.tolist(), frame.sent.tolist(), frame.rows, frame.masks.tolist(), strict=True
        ):
            if pid not in known:
                continue
            track = tracks.get(pid)
            if track is None:
                track = tracks[pid] = PoseTrack(delay=self.interpolation_delay)
            track.push(sent, row, mask, now)
        self._set(presence_frames=self._status.presence_frames + 1)

    async def _pose_loop(self, ws: ClientConnection) -> None:
        event = self._pose_event
        assert event is not None
        while True:
            await event.wait()
            event.clear()
            doc, self._pose = self._pose, None
            if doc is not None:
                await ws.send(codec.encode(doc))
                await asyncio.sleep(self.pose_period)

    def _send_request(
        self, fut: concurrent.futures.Future[Reply], kind: str, fields: dict[str, Any]
    ) -> None:
        ws = self._ws
        if ws is None:
            fut.set_exception(ConnectionError(f"not connected to {self.url}"))
            return
        if len(self._pending) >= MAX_PENDING:
            fut.set_exception(RuntimeError("too many requests waiting for the hub"))
            return
        rid = self._register(fut)
        self._send_soon(ws, codec.encode({"t": kind, "id": rid, **fields}))

    def _reply(self, reply: Reply) -> None:
        if reply.code:
            self._resolve(reply.id, error=RequestRefused(reply.code, reply.message))
        else:
            self._resolve(reply.id, result=reply)

    def _describe(self, exc: BaseException) -> str:
        return _describe(exc)


def check_session_url(url: str) -> urllib.parse.SplitResult:
    """``ws[s]://host[:port]/ROOM``, or ``ValueError`` with a clear message."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError as exc:
        raise ValueError(f"bad session URL {url!r}: {exc}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"a session URL looks like wss://host:8766/ROOM, got {url!r}")
    checks.room_name(parts.path.lstrip("/"))
    return parts


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        hint = {
            401: " (missing, expired or forged token)",
            403: " (wrong room or origin)",
            429: " (too many connection attempts from this address, or connections with "
            "this name in this room; retrying later)",
        }
        return f"hub refused the connection: HTTP {code}{hint.get(code, '')}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionClosed):
        return f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
    return str(exc) or type(exc).__name__
