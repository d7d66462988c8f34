"""The desktop viewer's side of a shared session.

Each frame: take in the room (``Session.update``), go where a summon or the followed leader
says, send this camera as presence (a desktop participant: head only, a laser while
pointing), and rebuild the avatars, pins and pings to draw. Actions (lead, follow, summon,
ping, annotate) go out as requests whose answers arrive later; their outcome is reported
through ``say``, never waited for.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from xrclient.core import math3d
from xrclient.core.view import View
from xrclient.desktop.camera_rig import CameraRig
from xrclient.desktop.hud import BAD, MUTED, OK, WARN, Line
from xrclient.render.avatars import Avatars
from xrclient.render.font import SdfFont
from xrclient.replies import Pending
from xrclient.scene.model import Scene
from xrclient.scene.picking import Ray, ray_from_pose
from xrclient.session import Session, SessionOptions, scene_anchors

#: seconds a join / leave / chat line stays in the HUD
NOTICE_S = 8.0


def camera_pose(view: View) -> tuple[float, ...]:
    """The camera of ``view`` as a 7-float pose: position, then quaternion x, y, z, w."""
    world_from_view = np.linalg.inv(view.view.astype(np.float64))
    return math3d.pose7(view.eye_position, world_from_view[:3, :3])


def look_from_pose(
    rig: CameraRig, pose: Sequence[float] | npt.NDArray[np.floating]
) -> tuple[tuple[float, ...], ...]:
    """Eye and target for the rig looking along ``pose`` (its -Z axis), at the rig's
    current orbit distance."""
    ray = ray_from_pose(pose[:3], pose[3:7])
    return ray.origin, ray.at(max(rig.distance, 1.0))


def _timeline_notice(data: dict[str, Any], who: str) -> str:
    if data.get("mode") == "past":
        clock = time.strftime("%H:%M:%S", time.localtime(float(data.get("time", 0.0))))
        return f"{who} took everyone to {clock} (J: rejoin after leaving it)"
    return f"{who} took everyone back to live" if who else "the shared moment ended"


class SessionLink:
    def __init__(
        self, options: SessionOptions, scene: Scene, ctx: moderngl.Context, font: SdfFont
    ) -> None:
        self.scene = scene
        self.session = Session(options, anchors=scene_anchors(scene))
        self.avatars = Avatars(ctx, font)
        self.notices: deque[tuple[str, float]] = deque(maxlen=4)
        self._seen: set[int] = set()
        #: per request: what to say when it is done, and what it was (for a refusal)
        self._pending: Pending[tuple[str, str]] = Pending()
        self.session.start()

    # --- per frame ------------------------------------------------------------------------

    def steer(self, rig: CameraRig, now: float) -> None:
        """Take in the room; go where a summon or the followed leader says."""
        s = self.session
        s.update(now)
        summon = s.take_summon()
        if summon is not None and len(summon) >= 7:
            eye, target = look_from_pose(rig, summon)
            rig.fly_to(eye, target, now)
            self.notices.append(("summoned to the expert's view", now))
        follow = s.camera_pose(now)
        if follow is not None:
            eye, target = look_from_pose(rig, follow)
            rig.look_at(eye, target)

    def publish(self, view: View, pointing: Ray | None, now: float) -> None:
        """Send this frame's camera (and laser) and rebuild what the others look like."""
        s = self.session
        point = None
        if pointing is not None:
            point = (*pointing.origin, *pointing.direction)
        s.send_pose(camera_pose(view), point=point)
        self.avatars.update(s.participants, s.annotations, s.pings, view=view)
        self._take_notices(now)
        self._settle(now)

    def draw(self, views: Sequence[View], now: float) -> None:
        self.avatars.draw(views, now)

    def _take_notices(self, now: float) -> None:
        names = {p.pid: p.name for p in self.session.participants}
        for n in list(self.session.notices):
            if id(n) in self._seen:
                continue
            self._seen.add(id(n))
            who = str(n.data.get("name") or names.get(n.pid or -1, f"participant {n.pid}"))
            text = {
                "joined": f"{who} ({n.data.get('role', '')}) joined",
                "left": f"{who} left",
                "lost": f"{who}: connection lost",
                "chat": f"{who}: {n.data.get('text', '')}",
            }.get(n.kind)
            if n.kind == "timeline":
                text = _timeline_notice(n.data, who if n.pid is not None else "")
            if text:
                self.notices.append((text[:80], now))
        if len(self._seen) > 256:  # ids of notices long gone from the deque
            self._seen = {id(n) for n in self.session.notices}

    def _settle(self, now: float) -> None:
        """Report answers that arrived: refusals name the hub's reason."""
        for answer in self._pending.settled():
            done_text, what = answer.tag
            text = f"{what} refused: {answer.error}" if answer.error is not None else done_text
            if text:
                self.notices.append((text[:80], now))

    # --- actions --------------------------------------------------------------------------

    def _ask(self, future: concurrent.futures.Future[Any], done: str, what: str) -> None:
        self._pending.add(future, (done, what))

    def toggle_lead(self) -> None:
        s = self.session
        leading = s.leader is not None and s.leader == s.you
        self._ask(
            s.lead(not leading),
            "stopped leading" if leading else "everyone is asked to follow you",
            "follow me",
        )

    def toggle_follow(self) -> str:
        s = self.session
        if s.follow is not None:
            s.break_away()
            return "stopped following"
        if s.leader is None or s.leader == s.you:
            return "nobody is leading"
        s.follow_participant(s.leader)
        return "following the leader"

    def share_timeline(self, future: concurrent.futures.Future[Any]) -> None:
        """Report a refused shared moment (the hub's reason); an accepted one says nothing
        here: everyone's timeline notice does."""
        self._ask(future, "", "shared moment")

    def summon_here(self, view: View) -> None:
        self._ask(
            self.session.summon(camera_pose(view)),
            "summoned everyone here",
            "summon",
        )

    def ping(self, point: Sequence[float], machine: int | None) -> None:
        mid = self.scene.machines[machine].id if machine is not None else ""
        self._ask(self.session.ping(point, mid), "look-here sent", "ping")

    def annotate(self, machine: int, point: Sequence[float], text: str) -> None:
        """A pin on ``machine`` at world ``point`` (stored machine-local, so it follows)."""
        m = self.scene.machines[machine]
        local = np.linalg.inv(m.transform.matrix().astype(np.float64)) @ np.array([*point, 1.0])
        offset = [float(c) for c in local[:3] / local[3]]
        self._ask(
            self.session.create_annotation(m.id, offset, text),
            f"note added to {m.id}",
            "note",
        )

    # --- HUD ------------------------------------------------------------------------------

    def status_lines(self, now: float) -> tuple[Line, ...]:
        s = self.session
        st = s.status
        if st.state == "live":
            others = len(s.participants)
            role = f" as {st.role}" if st.role else ""
            text, color = f"session: live{role}, {others} other(s) here", OK
            if s.follow is not None:
                leader = next((p.name for p in s.participants if p.pid == s.follow), "?")
                text += f", following {leader} (F: break away)"
            elif s.leader is not None and s.leader == s.you:
                text += ", you lead"
        elif st.state in ("connecting",):
            text, color = f"session: connecting to {st.url}", WARN
        else:
            retry = f", retry in {st.retry_in:.1f} s" if st.retry_in is not None else ""
            why = f": {st.last_error}" if st.last_error else ""
            text, color = f"session: {st.state}{retry}{why}", BAD
        lines = [Line(text[:90], color)]
        lines += [Line(t, MUTED) for t, at in self.notices if now - at < NOTICE_S]
        return tuple(lines)

    def close(self) -> None:
        self.session.stop()
        self.avatars.release()
