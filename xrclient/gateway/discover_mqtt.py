"""What an MQTT broker carries, found by listening: plain topics and Sparkplug B metrics.

:func:`listen_mqtt` subscribes to ``#`` for a bounded time (retained messages arrive at
once; live ones as they come) and turns what it saw into
:class:`~xrclient.gateway.discovered.Found` points:

* a plain topic whose payload is a number, ``true``/``false``, an ISO 8601 time or other
  UTF-8 text is one point (names: the topic levels above the last one; leaf: the last
  level; feed: ``{"topic": ...}`` plus ``payload`` when it is not a number); a JSON object
  gives one point per scalar leaf (feed: ``{"topic": ..., "payload": "json", "json":
  pointer}``);
* Sparkplug B (``spBv1.0/...``): every edge node seen is asked once for a rebirth (NCMD
  ``Node Control/Rebirth``), and each metric of its NBIRTH and DBIRTHs becomes a point
  (names: group, edge node, device and the metric's folders; feed: ``{"metric": ...,
  "group": ..., "edge_node": ..., "device": ...}``), its kind from the birth's datatype.

Everything is bounded: ``limit_topics`` topics, the first :data:`SAMPLE_BYTES` of a payload
kept, :data:`MAX_JSON_POINTS` points per JSON document, births decoded up to the Sparkplug
payload limit; anything else is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import time
from dataclasses import dataclass, field

import orjson

from xrclient.core.twin_schema import PropKind
from xrclient.errors import XRClientError
from xrclient.gateway import sparkplug_proto as sp
from xrclient.gateway.discovered import Found
from xrclient.gateway.mapping import PayloadKind
from xrclient.gateway.mqtt_client import MAX_PAYLOAD_BYTES
from xrclient.gateway.mqtt_link import MqttLink
from xrclient.gateway.mqtt_url import BrokerUrl, MqttSecurity, parse_mqtt_url
from xrclient.gateway.publish import Publish
from xrclient.progress import Progress

__all__ = ["MAX_JSON_POINTS", "SAMPLE_BYTES", "listen_mqtt", "payload_points"]

SAMPLE_BYTES = 64 * 1024
MAX_JSON_POINTS = 1_000
MAX_JSON_DEPTH = 16
MAX_EDGE_NODES = 10_000
_NUMERIC = frozenset(
    {
        sp.DataType.Int8, sp.DataType.Int16, sp.DataType.Int32, sp.DataType.Int64,
        sp.DataType.UInt8, sp.DataType.UInt16, sp.DataType.UInt32, sp.DataType.UInt64,
        sp.DataType.Float, sp.DataType.Double,
    }
)  # fmt: skip
_KINDS: dict[int, PropKind] = {
    **{int(t): "number" for t in _NUMERIC},
    int(sp.DataType.Boolean): "bool",
    int(sp.DataType.String): "string",
    int(sp.DataType.Text): "string",
    int(sp.DataType.DateTime): "time",
}


def _scalar_kind(text: str) -> tuple[PropKind, PayloadKind] | None:
    """(kind, payload) of a text payload: a number, a bool, a time or a string."""
    t = text.strip()
    if not t or len(t) > 256:
        return None
    try:
        if math.isfinite(float(t)):
            return "number", "number"
    except ValueError:
        pass
    if t.lower() in ("true", "false"):
        return "bool", "bool"
    try:
        dt.datetime.fromisoformat(t)
        return "time", "string"
    except ValueError:
        pass
    return "string", "string"


def _json_points(doc: object, pointer: str, depth: int, out: list[tuple[str, PropKind]]) -> None:
    if len(out) >= MAX_JSON_POINTS or depth > MAX_JSON_DEPTH:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            token = str(key).replace("~", "~0").replace("/", "~1")
            _json_points(value, f"{pointer}/{token}", depth + 1, out)
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:MAX_JSON_POINTS]):
            _json_points(value, f"{pointer}/{i}", depth + 1, out)
    elif isinstance(doc, bool):
        out.append((pointer, "bool"))
    elif isinstance(doc, int | float):
        if math.isfinite(float(doc)):
            out.append((pointer, "number"))
    elif isinstance(doc, str):
        kind = _scalar_kind(doc)
        if kind is not None:
            out.append((pointer, kind[0]))


def payload_points(topic: str, payload: bytes) -> list[Found]:
    """The points one plain-topic message shows (see the module)."""
    levels = topic.split("/")
    names, leaf = tuple(levels[:-1]), levels[-1]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return []
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict | list):
            leaves: list[tuple[str, PropKind]] = []
            _json_points(doc, "", 0, leaves)
            out = []
            for pointer, kind in leaves:
                parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
                out.append(
                    Found(
                        names=(*levels, *parts[:-1]),
                        leaf=parts[-1],
                        kind=kind,
                        unit="",
                        feed={"topic": topic, "payload": "json", "json": pointer},
                    )
                )
            return out
    scalar = _scalar_kind(text)
    if scalar is None:
        return []
    feed: dict[str, object] = {"topic": topic}
    if scalar[1] != "number":
        feed["payload"] = scalar[1]
    return [Found(names=names, leaf=leaf, kind=scalar[0], unit="", feed=feed)]


def _rebirth_request(group: str, edge_node: str, now: float) -> Publish:
    p = sp.Payload()
    p.timestamp = max(0, round(now * 1000))
    m = p.metrics.add()
    m.name, m.datatype, m.boolean_value = sp.REBIRTH, sp.DataType.Boolean, True
    m.timestamp = p.timestamp
    return Publish(sp.topic(group, "NCMD", edge_node), sp.encode(p), 0, False)


@dataclass
class _Listener:
    """The link session that collects what the broker carries."""

    sparkplug_too: bool
    limit_topics: int
    topics: dict[str, bytes] = field(default_factory=dict)
    births: dict[tuple[str, str, str | None], bytes] = field(default_factory=dict)
    nodes: set[tuple[str, str]] = field(default_factory=set)
    skipped: int = 0
    link: MqttLink | None = None

    def will(self, now: float) -> Publish | None:
        return None

    def subscriptions(self) -> list[tuple[str, int]]:
        return [("#", 0)]

    def on_connected(self, link: MqttLink, now: float) -> None:
        self.link = link

    def on_disconnected(self, error: str, now: float) -> None:
        self.link = None

    def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        if topic.startswith(f"{sp.NAMESPACE}/"):
            if self.sparkplug_too:
                self._sparkplug(topic, payload)
            return
        if not topic or len(payload) > MAX_PAYLOAD_BYTES:
            self.skipped += 1
            return
        if topic in self.topics or len(self.topics) < self.limit_topics:
            self.topics[topic] = payload[:SAMPLE_BYTES] if len(payload) > SAMPLE_BYTES else payload
        else:
            self.skipped += 1

    def _sparkplug(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[1] == "STATE":
            return
        group, kind, edge_node = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        key = (group, edge_node)
        if key not in self.nodes and len(self.nodes) < MAX_EDGE_NODES:
            self.nodes.add(key)
            if self.link is not None:
                self.link.send(_rebirth_request(group, edge_node, time.time()))
        if kind in ("NBIRTH", "DBIRTH") and (kind == "DBIRTH") == (device is not None):
            if len(self.births) < self.limit_topics and len(payload) <= sp.MAX_PAYLOAD_BYTES:
                self.births[(group, edge_node, device)] = payload

    def found(self) -> list[Found]:
        out: list[Found] = []
        for topic in sorted(self.topics):
            out.extend(payload_points(topic, self.topics[topic]))
        for (group, edge_node, device), payload in sorted(
            self.births.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
        ):
            out.extend(_birth_points(group, edge_node, device, payload))
        return out


def _birth_points(group: str, edge_node: str, device: str | None, payload: bytes) -> list[Found]:
    try:
        msg = sp.decode(payload)
    except sp.SparkplugError:
        return []
    out = []
    for m in msg.metrics:
        name = m.name
        if not name or name == sp.BDSEQ or name.startswith(("Node Control/", "Device Control/")):
            continue
        kind = _KINDS.get(int(m.datatype)) if m.HasField("datatype") else None
        if kind is None:
            continue
        folders = name.split("/")
        where = (group, edge_node) if device is None else (group, edge_node, device)
        out.append(
            Found(
                names=(*where, *folders[:-1]),
                leaf=folders[-1],
                kind=kind,
                unit="",
                feed={
                    "metric": name,
                    "group": group,
                    "edge_node": edge_node,
                    "device": device or "",
                },
            )
        )
    return out


async def listen_mqtt(
    url: str | BrokerUrl,
    security: MqttSecurity | None = None,
    *,
    seconds: float = 10.0,
    sparkplug_too: bool = True,
    limit_topics: int = 100_000,
    progress: Progress | None = None,
) -> list[Found]:
    """Listen to everything at ``url`` for ``seconds`` and return the points seen."""
    if not 0 < seconds <= 3600:
        raise ValueError(f"listen for 0 to 3600 s, not {seconds}")
    broker = url if isinstance(url, BrokerUrl) else parse_mqtt_url(url)
    link = MqttLink(broker, security or MqttSecurity())
    listener = _Listener(sparkplug_too, max(1, limit_topics))
    stop = asyncio.Event()
    task = asyncio.create_task(link.run(listener, stop))
    if progress is not None:
        progress(f"listening to {broker.text()} for {seconds:g} s")
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), seconds)
    finally:
        stop.set()
        await task
    if link.connections == 0:
        raise XRClientError(f"could not reach {broker.text()}: {link.last_error or 'no answer'}")
    found = listener.found()
    if progress is not None:
        progress(
            f"{len(listener.topics):,} topics, {len(listener.nodes):,} Sparkplug edge nodes, "
            f"{len(found):,} points"
            + (f" ({listener.skipped:,} messages skipped)" if listener.skipped else "")
        )
    return found
