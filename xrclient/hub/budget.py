"""A room's fan-out budget: how many reliable frames it may send out per second.

A message that reaches everyone in a room costs as many frames as the room has
receivers; a room that spent its budget has its messages refused (``rate_limited``) until
it refills, so one busy room cannot take the hub's time from the others.
"""

from __future__ import annotations

import time


class FanoutBudget:
    """``rate`` frames per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.level, self.at = float(burst), time.monotonic()

    def take(self, frames: int) -> bool:
        """Spend ``frames`` if they are there (a message larger than the burst may spend a
        full budget)."""
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        cost = min(float(frames), self.burst)
        if self.level >= cost:
            self.level -= cost
            return True
        return False
