"""Guards the servers share: loopback checks and per-connection token buckets."""

from __future__ import annotations

import ipaddress
import time


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenBucket:
    """``rate`` messages per second with bursts of ``burst``. ``refused`` counts refusals
    since the bucket last refilled to ``forgive`` of its size (a quiet spell forgives)."""

    def __init__(self, rate: float, burst: int, forgive: float = 1.0) -> None:
        self.rate, self.burst = rate, float(burst)
        self.forgive_level = forgive * self.burst
        self.level, self.at = float(burst), time.monotonic()
        self.refused = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level >= self.forgive_level:
            self.refused = 0
        if self.level >= 1.0:
            self.level -= 1.0
            return True
        self.refused += 1
        return False
