"""A Sparkplug B primary host application without I/O: births, data and deaths into the
gateway's twin source.

:class:`SparkplugHost` is fed every message of the groups the mapping uses
(:meth:`~SparkplugHost.on_message`) and answers with the messages to publish: rebirth
requests, and its own STATE when the broker shows it offline. The MQTT transport owns the
connection; it registers :meth:`~SparkplugHost.offline_state` as its will, subscribes to
:meth:`~SparkplugHost.subscriptions`, publishes :meth:`~SparkplugHost.online_state` (with the
same ``now`` as the will, as the specification asks) and then what
:meth:`~SparkplugHost.on_connected` returns.

What the host believes comes from births only. An NBIRTH starts a new table of the node's
metrics (names, aliases, datatypes; everything from the previous birth is forgotten, its
devices included); a DBIRTH does the same for one device. NDATA and DDATA are read by alias
(by name where a metric has no alias) and each value goes to the
:class:`~xrclient.gateway.source.GatewaySource` through the feeds whose
:class:`~xrclient.gateway.mapping.SparkplugTarget` names that group, edge node, device and
metric, with the metric's timestamp (else the payload's) as its source time; ``is_null``
makes the value BAD, noted "null".

The host never guesses. A message whose ``seq`` is not the previous one plus 1 (mod 256;
a duplicate is a gap too), a metric alias or name the birth did not define, data before any
birth, a DBIRTH before its NBIRTH or a payload that does not decode make the host send an
NCMD ``Node Control/Rebirth`` (at most one per edge node every
:data:`REBIRTH_INTERVAL_S`) and drop that message. Until the new NBIRTH arrives the node is
*awaiting rebirth*: its data is dropped and the machines it feeds are OFFLINE, so a value
that may be stale is never shown as live. An NDEATH whose ``bdSeq`` matches the NBIRTH marks
every machine of the node OFFLINE at once (one with an older ``bdSeq`` is a late will of a
previous session and is ignored); a DDEATH marks that device's machines. A machine is online
while every edge node and device that feeds it is born and not awaiting rebirth.

Everything odd is counted in ``source.stats.rejected`` under a ``sparkplug: ...`` reason;
what is merely not used (messages of edge nodes the mapping does not name, historical
values) is counted in :attr:`SparkplugHost.ignored`. Memory is bounded: only edge nodes the
mapping names are tracked, with at most :data:`MAX_DEVICES` devices and
:data:`MAX_METRICS` metrics (names and aliases) per node and per birth, and names of at most
:data:`MAX_NAME_CHARS`; a metric no feed uses is kept as a hash of its name.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from xrclient.gateway import sparkplug_proto as sp
from xrclient.gateway.mapping import Mapping, SparkplugTarget
from xrclient.gateway.publish import Publish
from xrclient.gateway.source import BAD, GatewaySource

__all__ = [
    "MAX_DEVICES",
    "MAX_METRICS",
    "MAX_NAME_CHARS",
    "REBIRTH_INTERVAL_S",
    "SparkplugHost",
]

#: at most one rebirth request per edge node in this many seconds
REBIRTH_INTERVAL_S = 2.0
#: devices tracked per edge node
MAX_DEVICES = 10_000
#: metrics in one birth, and aliases tracked per edge node
MAX_METRICS = 100_000
#: the longest metric name taken from a birth
MAX_NAME_CHARS = 1024
#: the longest group, edge node or device id in a topic
MAX_ID_CHARS = 256
#: the largest STATE payload read
MAX_STATE_BYTES = 4096

_NODE_TYPES = frozenset({"NBIRTH", "NDATA", "NDEATH"})
_DEVICE_TYPES = frozenset({"DBIRTH", "DDATA", "DDEATH"})
_COMMANDS = frozenset({"NCMD", "DCMD"})
_INTEGERS = frozenset(
    int(t)
    for t in (
        sp.DataType.Int8,
        sp.DataType.Int16,
        sp.DataType.Int32,
        sp.DataType.Int64,
        sp.DataType.UInt8,
        sp.DataType.UInt16,
        sp.DataType.UInt32,
        sp.DataType.UInt64,
    )
)

Key = tuple[str, str]  # (group, edge node)
Source = tuple[str, str, str | None]  # (group, edge node, device or None for the node)


@dataclass(slots=True)
class _Metric:
    datatype: int
    feeds: tuple[int, ...]


@dataclass(slots=True)
class _Device:
    """What one birth defined: the mapped metrics by name, the others as hashes."""

    metrics: dict[str, _Metric] = field(default_factory=dict)
    others: set[int] = field(default_factory=set)
    aliases: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Node:
    group: str
    edge_node: str
    #: (device or None, metric) -> feeds, from the mapping
    feeds: dict[tuple[str | None, str], tuple[int, ...]]
    machines: set[int] = field(default_factory=set)
    born: bool = False
    awaiting: bool = False
    bd_seq: int | None = None
    next_seq: int = 0
    #: device (None: the node itself) -> what its birth defined; present = born
    devices: dict[str | None, _Device] = field(default_factory=dict)
    #: alias -> (device, mapped metric name), or None for a metric no feed uses
    aliases: dict[int, tuple[str | None, str] | None] = field(default_factory=dict)
    last_rebirth: float = -math.inf


class _Lost(Exception):
    """The message cannot be applied without guessing: count ``reason``, ask for a rebirth."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ms(now: float) -> int:
    return max(0, round(now * 1000.0))


class SparkplugHost:
    """The primary host application for one mapping (see the module docstring)."""

    def __init__(
        self,
        mapping: Mapping,
        source: GatewaySource,
        host_id: str,
        *,
        max_payload: int = sp.MAX_PAYLOAD_BYTES,
        rebirth_interval: float = REBIRTH_INTERVAL_S,
    ) -> None:
        self.mapping, self.source, self.host_id = mapping, source, host_id
        self.state_topic = sp.state_topic(host_id)
        self.max_payload = max_payload
        self.rebirth_interval = rebirth_interval
        #: messages not used that are not faults, by reason
        self.ignored: Counter[str] = Counter()
        #: rebirth requests sent, and messages handled
        self.rebirths = self.messages = 0
        self._nodes: dict[Key, _Node] = {}
        self._machine_sources: dict[int, set[Source]] = {}
        groups: set[str] = set()
        for f in mapping.feeds:
            t = f.target
            if not isinstance(t, SparkplugTarget):
                continue
            key = (t.group, t.edge_node)
            node = self._nodes.get(key)
            if node is None:
                node = self._nodes[key] = _Node(t.group, t.edge_node, {})
            feed_key = (t.device or None, t.metric)
            node.feeds[feed_key] = (*node.feeds.get(feed_key, ()), f.index)
            node.machines.add(f.machine)
            self._machine_sources.setdefault(f.machine, set()).add(
                (t.group, t.edge_node, t.device or None)
            )
            groups.add(t.group)
        self.groups = tuple(sorted(groups))
        self._online: dict[int, bool] = dict.fromkeys(self._machine_sources, False)
        if self._online:
            source.mark_offline(sorted(self._online))

    # -- the session --------------------------------------------------------------------------

    def subscriptions(self) -> list[tuple[str, int]]:
        """(topic filter, QoS): every message of the mapped groups, and the host's STATE."""
        subs = [(f"{sp.NAMESPACE}/{g}/#", 1) for g in self.groups]
        return [*subs, (self.state_topic, 1)]

    def online_state(self, now: float) -> Publish:
        """The STATE birth: retained, QoS 1, ``{"online": true, "timestamp": ms}``."""
        return self._state(True, now)

    def offline_state(self, now: float) -> Publish:
        """The STATE death to register as the will (same ``now`` as the birth that follows)."""
        return self._state(False, now)

    def on_connected(self, now: float) -> list[Publish]:
        """A new session: nothing from before can be trusted, so every mapped edge node is
        asked for a rebirth (publish these after :meth:`online_state`)."""
        out: list[Publish] = []
        for node in self._nodes.values():
            self._forget(node)
            node.last_rebirth = -math.inf
            out.extend(self._rebirth(node, now))
        self._refresh(self._nodes.values())
        return out

    def on_disconnected(self, now: float) -> None:
        """The broker is gone: every machine is OFFLINE until births arrive again."""
        for node in self._nodes.values():
            self._forget(node)
        self._refresh(self._nodes.values())
        self.source.mark_offline(None)

    # -- messages -----------------------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes, now: float) -> list[Publish]:
        """Handle one received message; returns what to publish in answer."""
        self.messages += 1
        if topic == self.state_topic:
            return self._on_state(payload, now)
        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[0] != sp.NAMESPACE:
            self._reject("sparkplug: not a Sparkplug topic")
            return []
        group, kind, edge_node = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        if kind in _COMMANDS or group == "STATE":
            return []  # commands (ours included) and other hosts' STATE
        if kind not in _NODE_TYPES and kind not in _DEVICE_TYPES:
            self._reject("sparkplug: unknown message type")
            return []
        if (kind in _DEVICE_TYPES) != (device is not None) or any(
            not p or len(p) > MAX_ID_CHARS for p in parts
        ):
            self._reject("sparkplug: malformed topic")
            return []
        node = self._nodes.get((group, edge_node))
        if node is None:
            self.ignored["edge node not mapped"] += 1
            return []
        try:
            msg = sp.decode(payload, self.max_payload)
        except sp.SparkplugError as exc:
            reason = "payload too large" if "limit" in str(exc) else "invalid protobuf"
            if kind in ("NDEATH", "DDEATH"):
                self._reject(f"sparkplug: {reason}")
                return []
            return self._lost(node, f"sparkplug: {reason}", now)
        try:
            if kind == "NBIRTH":
                self._nbirth(node, msg, now)
            elif kind == "NDEATH":
                self._ndeath(node, msg)
            elif kind == "DDEATH":
                assert device is not None
                return self._ddeath(node, device, msg, now)
            else:
                self._check_seq(node, msg, kind)
                if kind == "DBIRTH":
                    assert device is not None
                    self._dbirth(node, device, msg, now)
                else:
                    self._data(node, device, msg, now)
        except _Lost as lost:
            return self._lost(node, lost.reason, now)
        return []

    # -- births, data, deaths -----------------------------------------------------------------

    def _nbirth(self, node: _Node, msg: Any, now: float) -> None:
        if len(msg.metrics) > MAX_METRICS:
            self._forget(node)
            self._refresh((node,))
            raise _Lost("sparkplug: birth has too many metrics")
        if not msg.HasField("seq") or msg.seq > 255:
            raise _Lost("sparkplug: birth without a valid seq")
        bd_seq = self._bd_seq(msg)
        if bd_seq is None:
            self._reject("sparkplug: NBIRTH without bdSeq")
        self._forget(node)
        node.born, node.bd_seq, node.next_seq = True, bd_seq, (msg.seq + 1) % 256
        values = self._define(node, None, msg.metrics)
        self._refresh((node,))
        self._apply(values, msg, now)

    def _dbirth(self, node: _Node, device: str, msg: Any, now: float) -> None:
        if device not in node.devices and len(node.devices) > MAX_DEVICES:  # + the node
            self._reject("sparkplug: too many devices")
            return
        if len(msg.metrics) > MAX_METRICS:
            self._drop_device(node, device)
            self._refresh((node,))
            raise _Lost("sparkplug: birth has too many metrics")
        self._drop_device(node, device)
        values = self._define(node, device, msg.metrics)
        self._refresh((node,))
        self._apply(values, msg, now)

    def _data(self, node: _Node, device: str | None, msg: Any, now: float) -> None:
        table = node.devices.get(device)
        if table is None:
            raise _Lost("sparkplug: data before birth")
        resolved: list[tuple[Any, _Metric]] = []
        for m in msg.metrics:
            if m.HasField("alias"):
                if m.alias not in node.aliases:
                    raise _Lost("sparkplug: unknown alias")
                entry = node.aliases[m.alias]
                if entry is None:
                    continue
                if entry[0] != device:
                    raise _Lost("sparkplug: alias of another device")
                resolved.append((m, table.metrics[entry[1]]))
            elif m.name:
                known = table.metrics.get(m.name)
                if known is not None:
                    resolved.append((m, known))
                elif hash(m.name) not in table.others:
                    raise _Lost("sparkplug: unknown metric")
            else:
                raise _Lost("sparkplug: metric without name or alias")
        self._apply(resolved, msg, now)

    def _ndeath(self, node: _Node, msg: Any) -> None:
        bd_seq = self._bd_seq(msg)
        if bd_seq is None:
            self._reject("sparkplug: NDEATH without bdSeq")
        elif node.born and node.bd_seq is not None and bd_seq != node.bd_seq:
            self._reject("sparkplug: stale NDEATH")
            return
        self._forget(node)
        self._refresh((node,))

    def _ddeath(self, node: _Node, device: str, msg: Any, now: float) -> list[Publish]:
        if not node.born or node.awaiting:
            self._drop_device(node, device)
            return []
        # a death is applied even out of sequence: marking OFFLINE invents nothing
        self._drop_device(node, device)
        self._refresh((node,))
        try:
            self._check_seq(node, msg, "DDEATH")
        except _Lost as lost:
            return self._lost(node, lost.reason, now)
        return []

    # -- inside -------------------------------------------------------------------------------

    def _check_seq(self, node: _Node, msg: Any, kind: str) -> None:
        if not node.born:
            raise _Lost(
                "sparkplug: DBIRTH before NBIRTH"
                if kind == "DBIRTH"
                else "sparkplug: data before birth"
            )
        if node.awaiting:
            raise _Lost("sparkplug: awaiting rebirth")
        if not msg.HasField("seq") or msg.seq > 255:
            raise _Lost("sparkplug: missing seq")
        if msg.seq != node.next_seq:
            raise _Lost("sparkplug: seq gap")
        node.next_seq = (msg.seq + 1) % 256

    def _define(
        self, node: _Node, device: str | None, metrics: Iterable[Any]
    ) -> list[tuple[Any, _Metric]]:
        """Record one birth's metrics for ``device``; returns the mapped ones to apply."""
        table = _Device()
        used = sum(len(d.metrics) + len(d.others) for d in node.devices.values())
        node.devices[device] = table
        values: list[tuple[Any, _Metric]] = []
        for m in metrics:
            if used >= MAX_METRICS:
                self._reject("sparkplug: too many metrics on one edge node")
                break
            used += 1
            name = m.name
            if not name or len(name) > MAX_NAME_CHARS:
                self._reject("sparkplug: birth metric without a usable name")
                continue
            if not m.HasField("datatype"):
                self._reject("sparkplug: birth metric without datatype")
                continue
            feeds = node.feeds.get((device, name))
            info = None
            if feeds:
                info = table.metrics[name] = _Metric(m.datatype, feeds)
                values.append((m, info))
            else:
                table.others.add(hash(name))
            if m.HasField("alias"):
                alias = m.alias
                if alias in node.aliases:
                    self._reject("sparkplug: duplicate alias")
                    node.aliases[alias] = None  # ambiguous: its values are not used
                elif len(node.aliases) >= MAX_METRICS:
                    self._reject("sparkplug: too many aliases")
                else:
                    node.aliases[alias] = None if info is None else (device, name)
                    table.aliases.append(alias)
        return values

    def _apply(self, values: list[tuple[Any, _Metric]], msg: Any, now: float) -> None:
        default_ms = msg.timestamp if msg.HasField("timestamp") else _ms(now)
        put = self.source.put
        for m, info in values:
            if m.is_historical:
                self.ignored["historical value"] += 1
                continue
            if m.HasField("datatype") and m.datatype != info.datatype:
                self._reject("sparkplug: datatype differs from birth")
                continue
            when = (m.timestamp if m.HasField("timestamp") else default_ms) / 1000.0
            if m.is_null:
                for f in info.feeds:
                    put(f, None, when, BAD, status_note="null")
                continue
            try:
                value = sp.get_value(m, info.datatype)
            except sp.SparkplugError:
                self._reject("sparkplug: value does not match its datatype")
                continue
            if info.datatype == sp.DataType.DateTime and isinstance(value, int):
                value = value / 1000.0
            elif not isinstance(value, int | float | str | bytes):
                self._reject("sparkplug: datatype not supported for a twin property")
                continue
            for f in info.feeds:
                put(f, value, when)

    def _bd_seq(self, msg: Any) -> int | None:
        for m in msg.metrics:
            if m.name == sp.BDSEQ and m.HasField("datatype") and m.datatype in _INTEGERS:
                try:
                    value = sp.get_value(m, m.datatype)
                except sp.SparkplugError:
                    return None
                return value if isinstance(value, int) else None
        return None

    def _drop_device(self, node: _Node, device: str) -> None:
        table = node.devices.pop(device, None)
        if table is not None:
            for alias in table.aliases:
                node.aliases.pop(alias, None)

    def _forget(self, node: _Node) -> None:
        node.born = node.awaiting = False
        node.devices.clear()
        node.aliases.clear()

    def _lost(self, node: _Node, reason: str, now: float) -> list[Publish]:
        self._reject(reason)
        if node.born and not node.awaiting:
            node.awaiting = True
            self._refresh((node,))
        return self._rebirth(node, now)

    def _rebirth(self, node: _Node, now: float) -> list[Publish]:
        if now - node.last_rebirth < self.rebirth_interval:
            self.ignored["rebirth request held back"] += 1
            return []
        node.last_rebirth = now
        self.rebirths += 1
        p = sp.Payload()
        p.timestamp = _ms(now)
        m = p.metrics.add()
        m.name, m.timestamp, m.datatype = sp.REBIRTH, _ms(now), sp.DataType.Boolean
        m.boolean_value = True
        topic = sp.topic(node.group, "NCMD", node.edge_node)
        return [Publish(topic, sp.encode(p), 0, False)]

    def _live(self, source: Source) -> bool:
        node = self._nodes.get((source[0], source[1]))
        return (
            node is not None
            and node.born
            and not node.awaiting
            and (source[2] is None or source[2] in node.devices)
        )

    def _refresh(self, nodes: Iterable[_Node]) -> None:
        """Mark online or OFFLINE the machines of ``nodes`` whose state changed."""
        up: list[int] = []
        down: list[int] = []
        for node in nodes:
            for machine in node.machines:
                live = all(self._live(s) for s in self._machine_sources[machine])
                if live != self._online[machine]:
                    self._online[machine] = live
                    (up if live else down).append(machine)
        if up:
            self.source.mark_online(sorted(set(up)))
        if down:
            self.source.mark_offline(sorted(set(down)))

    def _on_state(self, payload: bytes, now: float) -> list[Publish]:
        if len(payload) > MAX_STATE_BYTES:
            self._reject("sparkplug: STATE too large")
            return [self.online_state(now)]
        try:
            doc = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict) and doc.get("online") is True:
            return []
        # the broker shows this host offline (a late will, a stale retained message):
        # the specification asks the host to say it is online again
        return [self.online_state(now)]

    def _state(self, online: bool, now: float) -> Publish:
        body = json.dumps({"online": online, "timestamp": _ms(now)}, separators=(",", ":"))
        return Publish(self.state_topic, body.encode(), 1, True)

    def _reject(self, reason: str) -> None:
        self.source.stats.reject(reason)
