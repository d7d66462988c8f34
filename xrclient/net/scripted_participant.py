"""A headless session participant driven by a script: for tests, demos and load.

``ScriptedParticipant`` walks a seeded circle around the plant, points now and then and
(optionally) pins annotations, all through an ordinary ``SessionClient``; ``xrclient demo``
uses one as the colleague who joins the viewer's session.
"""

from __future__ import annotations

import concurrent.futures
import math
import random
import time
from collections.abc import Sequence

from xrclient.core.session_mirror import Reply
from xrclient.net.session_client import SessionClient


class ScriptedParticipant:
    """A headless participant that joins, walks a seeded circle, points now and then and
    annotates (for tests, demos and load): call ``step(now)`` at the frame rate."""

    def __init__(
        self,
        client: SessionClient,
        *,
        machines: Sequence[str] = ("M1",),
        seed: int = 0,
        radius: float = 2.0,
        annotate_every: float = 0.0,
    ) -> None:
        self.client = client
        self.machines = tuple(machines)
        self.rng = random.Random(seed)
        self.radius = radius
        self.phase = self.rng.uniform(0.0, 6.283)
        self.annotate_every = annotate_every
        self._next_note: float | None = None
        self.requests: list[concurrent.futures.Future[Reply]] = []

    def pose_at(self, now: float) -> tuple[list[float], list[float], list[float] | None]:
        """Head, right hand and (every other few seconds) pointer ray at ``now``."""
        a = self.phase + 0.5 * now
        x, z = self.radius * math.cos(a), self.radius * math.sin(a)
        yaw = -a  # facing along the walk
        head = [x, 1.7, z, 0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2)]
        hand = [x + 0.2, 1.2, z, 0.0, 0.0, 0.0, 1.0]
        pointing = int(now / 3.0 + self.phase) % 2 == 0
        point = [x + 0.2, 1.2, z, -math.cos(a), -0.2, -math.sin(a)] if pointing else None
        return head, hand, point

    def step(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        head, hand, point = self.pose_at(now)
        self.client.set_pose(head, right=hand, point=point)
        if self.annotate_every <= 0 or self.client.status.state != "live":
            return
        if self._next_note is None:
            self._next_note = now + self.rng.uniform(0, self.annotate_every)
        if now >= self._next_note:
            self._next_note = now + self.annotate_every
            machine = self.rng.choice(self.machines)
            offset = (self.rng.uniform(-1, 1), self.rng.uniform(0, 2), self.rng.uniform(-1, 1))
            self.requests.append(
                self.client.create_annotation(
                    machine, offset, f"note at {now:.0f}", "#ffcc00", "open"
                )
            )
            del self.requests[:-64]
