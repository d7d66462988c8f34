"""One MQTT message to send: what a connector or a Sparkplug state machine hands the transport."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Publish"]


@dataclass(frozen=True, slots=True)
class Publish:
    """A message for the broker: its topic, payload bytes, QoS level and retain flag."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
