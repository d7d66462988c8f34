"""A Sparkplug B edge node without I/O: the messages a plant's edge node publishes.

:class:`SparkplugEdge` plays one edge node with its devices for the simulator and tests. It
hands out :class:`~xrclient.gateway.publish.Publish` messages and keeps the state the
specification ties them to: the birth/death sequence ``bdSeq`` (the same in the will
registered at CONNECT, in the NBIRTH that follows and in an explicit NDEATH; one more for
each new MQTT session, :meth:`SparkplugEdge.new_session`), the message sequence ``seq``
(0 in NBIRTH, then one more per message up to 255 and round to 0), one alias per metric,
unique across the node and its devices, and each metric's current value for the next birth.

Births carry names, aliases, datatypes and current values (``is_null`` where none is
known); data messages carry aliases only. :meth:`SparkplugEdge.on_message` answers an NCMD
``Node Control/Rebirth`` with fresh births. For throughput one ``Payload`` object is reused
and every call encodes its whole batch of values in one message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xrclient.gateway import sparkplug_proto as sp
from xrclient.gateway.publish import Publish

__all__ = ["SparkplugEdge"]

#: the node's own metrics are kept under this device key
NODE = ""


@dataclass(slots=True)
class _Metric:
    name: str
    datatype: int
    alias: int
    value: object = None


def _ms(now: float) -> int:
    return max(0, round(now * 1000.0))


class SparkplugEdge:
    """One edge node and its devices (see the module docstring).

    ``devices`` maps a device id to its metrics as (name, datatype) pairs; ``node_metrics``
    are metrics of the node itself. Aliases are numbered from ``alias_start``."""

    def __init__(
        self,
        group: str,
        edge_node: str,
        devices: Mapping[str, Sequence[tuple[str, int]]],
        *,
        node_metrics: Sequence[tuple[str, int]] = (),
        bd_seq: int = 0,
        alias_start: int = 1,
        qos: int = 0,
    ) -> None:
        self.group, self.edge_node = group, edge_node
        self.bd_seq = bd_seq % 256
        self.seq = 0
        self.qos = qos
        self._metrics: dict[str, dict[str, _Metric]] = {NODE: {}}
        for name, datatype in node_metrics:
            self._metrics[NODE][name] = _Metric(name, int(datatype), 0)
        for device, metrics in devices.items():
            if not device:
                raise ValueError("a device id is not empty")
            self._metrics[device] = {n: _Metric(n, int(d), 0) for n, d in metrics}
        self.renumber(alias_start)
        self._payload: Any = sp.Payload()
        self.ncmd_topic = sp.topic(group, "NCMD", edge_node)
        self.births_sent = 0

    # -- topics and tables --------------------------------------------------------------------

    @property
    def devices(self) -> list[str]:
        return [d for d in self._metrics if d != NODE]

    def topic(self, message_type: str, device: str | None = None) -> str:
        return sp.topic(self.group, message_type, self.edge_node, device or None)

    def alias(self, device: str | None, metric: str) -> int:
        return self._metrics[device or NODE][metric].alias

    def renumber(self, start: int) -> None:
        """Give every metric a new alias, counting from ``start`` (the next births carry
        them)."""
        n = start
        for metrics in self._metrics.values():
            for m in metrics.values():
                m.alias, n = n, n + 1

    def new_session(self) -> Publish:
        """Start a new MQTT session: the next ``bdSeq``; returns the will to register."""
        self.bd_seq = (self.bd_seq + 1) % 256
        return self.will()

    # -- messages -----------------------------------------------------------------------------

    def will(self) -> Publish:
        """The NDEATH to register as the MQTT will of this session (QoS 1, not retained)."""
        return self._ndeath(None)

    def death(self, now: float | None = None) -> Publish:
        """The NDEATH to publish before disconnecting on purpose."""
        return self._ndeath(time.time() if now is None else now)

    def births(self, now: float) -> list[Publish]:
        """NBIRTH (``seq`` 0, ``bdSeq``, ``Node Control/Rebirth``) then a DBIRTH per device,
        every metric with its alias, datatype and current value."""
        ms = _ms(now)
        self.seq = 0
        p = sp.Payload()
        p.timestamp = ms
        p.seq = self._next_seq()
        m = p.metrics.add()
        m.name, m.timestamp, m.datatype, m.long_value = sp.BDSEQ, ms, sp.DataType.Int64, self.bd_seq
        m = p.metrics.add()
        m.name, m.timestamp, m.datatype = sp.REBIRTH, ms, sp.DataType.Boolean
        m.boolean_value = False
        self._describe(p, self._metrics[NODE].values(), ms)
        out = [Publish(self.topic("NBIRTH"), sp.encode(p), self.qos, False)]
        for device in self.devices:
            p = sp.Payload()
            p.timestamp, p.seq = ms, self._next_seq()
            self._describe(p, self._metrics[device].values(), ms)
            out.append(Publish(self.topic("DBIRTH", device), sp.encode(p), self.qos, False))
        self.births_sent += 1
        return out

    def data(self, device: str | None, values: Mapping[str, object], now: float) -> Publish:
        """DDATA of ``device`` (NDATA for None) with ``values`` by alias, one ``seq``.
        A value that does not fit its datatype raises ``SparkplugError``."""
        table = self._metrics[device or NODE]
        ms = _ms(now)
        p = self._payload
        p.Clear()
        p.timestamp = ms
        metrics = p.metrics
        for name, value in values.items():
            m = table[name]
            out = metrics.add()
            out.alias = m.alias
            out.timestamp = ms
            sp.set_value(out, m.datatype, value)
            m.value = value
        p.seq = self._next_seq()
        kind = "DDATA" if device else "NDATA"
        return Publish(self.topic(kind, device), sp.encode(p), self.qos, False)

    def device_death(self, device: str, now: float | None = None) -> Publish:
        """DDEATH of ``device`` (with the next ``seq``)."""
        if not device or device not in self._metrics:
            raise KeyError(device)
        p = sp.Payload()
        p.timestamp = _ms(time.time() if now is None else now)
        p.seq = self._next_seq()
        return Publish(self.topic("DDEATH", device), sp.encode(p), self.qos, False)

    def on_message(self, topic: str, payload: bytes, now: float) -> list[Publish]:
        """Answer what the node receives: an NCMD ``Node Control/Rebirth`` true gets new
        births; anything else (or anything malformed) nothing."""
        if topic != self.ncmd_topic:
            return []
        try:
            msg = sp.decode(payload)
        except sp.SparkplugError:
            return []
        for m in msg.metrics:
            if m.name == sp.REBIRTH and m.WhichOneof("value") == "boolean_value":
                if m.boolean_value:
                    return self.births(now)
        return []

    # -- inside -------------------------------------------------------------------------------

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (seq + 1) % 256
        return seq

    def _ndeath(self, now: float | None) -> Publish:
        p = sp.Payload()
        if now is not None:
            p.timestamp = _ms(now)
        m = p.metrics.add()
        m.name, m.datatype, m.long_value = sp.BDSEQ, sp.DataType.Int64, self.bd_seq
        return Publish(self.topic("NDEATH"), sp.encode(p), 1, False)

    @staticmethod
    def _describe(p: Any, metrics: Any, ms: int) -> None:
        for m in metrics:
            out = p.metrics.add()
            out.name, out.alias, out.timestamp, out.datatype = m.name, m.alias, ms, m.datatype
            sp.set_value(out, m.datatype, m.value)
