"""The MQTT connector: plain topics or Sparkplug B from a broker into a ``GatewaySource``.

``run_mqtt`` keeps a broker connection (:mod:`xrclient.gateway.mqtt_link`) for the
mapping's kind until ``stop`` is set:

* ``mqtt``: :class:`TopicReader` subscribes to filters derived from the mapped topics (one
  per group of topics with the same first level and depth, the levels that differ replaced
  by ``+``), looks every message's exact topic up in a dict (a message on an unmapped topic
  is counted, never guessed), parses its payload as the feed says (``number``: the text of
  a number; ``bool``: true/false/1/0; ``string``: UTF-8 text; ``json``: a JSON pointer into
  the document) and stores it. Numbers for number properties are batched into
  ``GatewaySource.put_many`` once per socket read burst. Retained messages give the first
  state, and again after every reconnect.
* ``sparkplug``: :class:`SparkplugSession` wires a ``SparkplugHost``: the client's will is
  the host's offline STATE, the online STATE is published (retained, QoS 1) on connect,
  every message goes through the host, and what it returns (rebirth requests) is
  published.

While the broker is unreachable every machine is offline (``mark_offline``) and
``stats.connected`` is False, so a lost broker shows as stale machines, not silence.
Payloads over ``max_payload`` bytes (256 KiB) are refused and counted; the broker never
sends more than the link's Maximum Packet Size at all.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson

from xrclient.gateway.mapping import Mapping, MqttTarget
from xrclient.gateway.mqtt_link import MqttLink
from xrclient.gateway.mqtt_url import BrokerUrl, MqttSecurity, parse_mqtt_url
from xrclient.gateway.publish import Publish
from xrclient.gateway.source import GatewaySource
from xrclient.progress import Progress

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MISSING",
    "SparkplugSession",
    "TopicReader",
    "parse_pointer",
    "resolve_pointer",
    "run_mqtt",
    "subscription_filters",
]

#: the largest payload converted (bigger ones are counted as refused)
MAX_PAYLOAD_BYTES = 256 * 1024
#: values batched before ``put_many`` is called (also flushed once per read burst)
BATCH = 4096
_TRUE = frozenset((b"true", b"1", b"TRUE", b"True"))
_FALSE = frozenset((b"false", b"0", b"FALSE", b"False"))


# ---- topics and pointers --------------------------------------------------------------------


def subscription_filters(targets: list[MqttTarget]) -> list[tuple[str, int]]:
    """Topic filters covering exactly the groups of ``targets``: topics with the same depth
    and first level share one filter, with ``+`` where their levels differ; the QoS is the
    highest of the group. Groups never overlap, so no message arrives twice."""
    groups: dict[tuple[int, str], tuple[list[str | None], int]] = {}
    for t in targets:
        levels = t.topic.split("/")
        key = (len(levels), levels[0])
        if key not in groups:
            groups[key] = (list(levels), t.qos)
            continue
        pattern, qos = groups[key]
        for i, level in enumerate(levels):
            if pattern[i] is not None and pattern[i] != level:
                pattern[i] = None
        groups[key] = (pattern, max(qos, t.qos))
    out = []
    for pattern, qos in groups.values():
        out.append(("/".join("+" if p is None else p for p in pattern), qos))
    return out


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """RFC 6901: ``""`` is the whole document, ``/a/0/b~1c`` is ("a", "0", "b/c")."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with /: {pointer!r}")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))


MISSING = object()


def resolve_pointer(doc: object, tokens: tuple[str, ...]) -> object:
    """The value at ``tokens`` in ``doc``, or ``MISSING``."""
    for token in tokens:
        if isinstance(doc, dict):
            doc = doc.get(token, MISSING)
        elif isinstance(doc, list):
            if not token.isdigit() or (token != "0" and token.startswith("0")):
                return MISSING
            i = int(token)
            doc = doc[i] if i < len(doc) else MISSING
        else:
            return MISSING
        if doc is MISSING:
            return MISSING
    return doc


# ---- plain topics -----------------------------------------------------------------------------

#: how a payload becomes what ``put`` takes
_FAST, _NUMBER, _BOOL, _TEXT, _JSON = range(5)


@dataclass(frozen=True, slots=True)
class _Route:
    feed: int
    how: int
    pointer: tuple[str, ...]


class TopicReader:
    """The plain-topic session: messages by exact topic into the source (see the module)."""

    def __init__(
        self,
        mapping: Mapping,
        source: GatewaySource,
        *,
        max_payload: int = MAX_PAYLOAD_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mapping.kind != "mqtt":
            raise ValueError(
                f"{mapping.file}: a TopicReader reads mqtt mappings, not {mapping.kind}"
            )
        self.source = source
        self.stats = source.stats
        self.max_payload = max_payload
        self.clock = clock
        self.routes: dict[str, list[_Route]] = {}
        self.json_topics: set[str] = set()
        targets: list[MqttTarget] = []
        for f in mapping.feeds:
            t = f.target
            if not isinstance(t, MqttTarget):
                raise ValueError(f"{mapping.file}: {f.key} is not an MQTT topic")
            targets.append(t)
            kind = mapping.properties[f.prop].kind
            if t.payload == "json":
                how, pointer = _JSON, parse_pointer(t.pointer or "")
                self.json_topics.add(t.topic)
            elif t.payload == "number":
                how, pointer = (_FAST if kind == "number" else _NUMBER), ()
            elif t.payload == "bool":
                how, pointer = _BOOL, ()
            else:
                how, pointer = _TEXT, ()
            self.routes.setdefault(t.topic, []).append(_Route(f.index, how, pointer))
        self.filters = subscription_filters(targets)
        self.messages = 0
        self._bf: list[int] = []
        self._bv: list[float] = []
        self._bt: list[float] = []
        self._flush_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # LinkSession ---------------------------------------------------------------------------

    def will(self, now: float) -> Publish | None:
        return None

    def subscriptions(self) -> list[tuple[str, int]]:
        return list(self.filters)

    def on_connected(self, link: MqttLink, now: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.stats.connected = True
        self.source.mark_online()

    def on_disconnected(self, error: str, now: float) -> None:
        self.flush()
        if self.stats.connected:
            self.stats.reconnects += 1
        self.stats.connected = False
        if error:
            self.stats.last_error = error
        self.source.mark_offline()

    def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        self.messages += 1
        routes = self.routes.get(topic)
        stats = self.stats
        if routes is None:
            stats.received += 1
            stats.rejected["unmapped topic"] += 1
            return
        if len(payload) > self.max_payload:
            stats.received += len(routes)
            stats.rejected["payload too large"] += len(routes)
            return
        now = self.clock()
        if len(routes) == 1 and routes[0].how == _FAST:
            try:
                value = float(payload)
            except ValueError:
                stats.received += 1
                stats.rejected["not a number"] += 1
                return
            self._bf.append(routes[0].feed)
            self._bv.append(value)
            self._bt.append(now)
            if len(self._bf) >= BATCH:
                self.flush()
            elif not self._flush_pending:
                self._flush_pending = True
                loop = self._loop or asyncio.get_running_loop()
                loop.call_soon(self.flush)
            return
        doc: object = MISSING
        for r in routes:
            if r.how == _JSON:
                if doc is MISSING:
                    try:
                        doc = orjson.loads(payload)
                    except orjson.JSONDecodeError:
                        stats.received += len(routes)
                        stats.rejected["invalid JSON"] += len(routes)
                        return
                self._put_json(r, doc, now)
            else:
                self._put_plain(r, payload, now)

    # inside --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand the batched numbers to the source (once per burst of socket reads)."""
        self._flush_pending = False
        if not self._bf:
            return
        feeds = np.array(self._bf, np.intp)
        values = np.array(self._bv, np.float64)
        times = np.array(self._bt, np.float64)
        self._bf, self._bv, self._bt = [], [], []
        self.source.put_many(feeds, values, times)

    def _put_plain(self, r: _Route, payload: bytes, now: float) -> None:
        if r.how == _FAST or r.how == _NUMBER:
            try:
                value = float(payload)
            except ValueError:
                self.stats.received += 1
                self.stats.rejected["not a number"] += 1
                return
            self.source.put(r.feed, value, now)
        elif r.how == _BOOL:
            word = payload.strip()
            if word in _TRUE:
                self.source.put(r.feed, True, now)
            elif word in _FALSE:
                self.source.put(r.feed, False, now)
            else:
                self.stats.received += 1
                self.stats.rejected["not a boolean"] += 1
        else:
            self.source.put(r.feed, payload, now)

    def _put_json(self, r: _Route, doc: object, now: float) -> None:
        value = resolve_pointer(doc, r.pointer)
        if value is MISSING:
            self.stats.received += 1
            self.stats.rejected["JSON pointer not found"] += 1
        elif value is None or isinstance(value, dict | list):
            self.stats.received += 1
            self.stats.rejected["JSON value is not a scalar"] += 1
        elif isinstance(value, float) and not math.isfinite(value):
            self.stats.received += 1
            self.stats.rejected["not a finite number"] += 1
        else:
            self.source.put(r.feed, value, now)


# ---- Sparkplug B ------------------------------------------------------------------------------


class SparkplugSession:
    """The Sparkplug host application over a link (see the module)."""

    def __init__(
        self,
        mapping: Mapping,
        source: GatewaySource,
        *,
        host_id: str | None = None,
        max_payload: int = MAX_PAYLOAD_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from xrclient.gateway.sparkplug_host import SparkplugHost

        if mapping.kind != "sparkplug":
            raise ValueError(f"{mapping.file}: not a sparkplug mapping ({mapping.kind})")
        self.source = source
        self.stats = source.stats
        self.max_payload = max_payload
        self.clock = clock
        self.host = SparkplugHost(mapping, source, host_id or mapping.sparkplug.host_id)
        self.link: MqttLink | None = None
        self.messages = 0
        self.unsent = 0
        self._state_time = clock()
        self._leaving = False

    def will(self, now: float) -> Publish | None:
        self._state_time = now  # birth and death STATE carry the same timestamp
        return self.host.offline_state(now)

    def subscriptions(self) -> list[tuple[str, int]]:
        return self.host.subscriptions()

    def on_connected(self, link: MqttLink, now: float) -> None:
        self.link = link
        self._leaving = False
        self.stats.connected = True
        self._send(self.host.online_state(self._state_time))
        for p in self.host.on_connected(now):
            self._send(p)

    def on_disconnected(self, error: str, now: float) -> None:
        self.link = None
        if self.stats.connected:
            self.stats.reconnects += 1
        self.stats.connected = False
        if error:
            self.stats.last_error = error
        self.host.on_disconnected(now)

    def leaving(self) -> list[Publish]:
        """What to publish before a clean disconnect: the offline STATE (no will fires).
        From here on messages are ignored, so the host does not answer its own goodbye
        with a new online STATE."""
        self._leaving = True
        return [self.host.offline_state(self._state_time)]

    def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        self.messages += 1
        if self._leaving:
            return
        if len(payload) > self.max_payload:
            self.stats.received += 1
            self.stats.rejected["payload too large"] += 1
            return
        for p in self.host.on_message(topic, payload, self.clock()):
            self._send(p)

    def _send(self, p: Publish) -> None:
        if self.link is None or not self.link.send(p):
            self.unsent += 1


# ---- the connector ----------------------------------------------------------------------------


async def run_mqtt(
    url: str | BrokerUrl,
    mapping: Mapping,
    source: GatewaySource,
    security: MqttSecurity | None = None,
    *,
    stop: asyncio.Event,
    progress: Progress | None = None,
    client_id: str | None = None,
) -> None:
    """Feed ``source`` from the broker at ``url`` per ``mapping`` until ``stop`` is set."""
    broker = url if isinstance(url, BrokerUrl) else parse_mqtt_url(url)
    link = MqttLink(broker, security or MqttSecurity(), client_id=client_id)
    source.mark_offline()
    source.stats.connected = False
    if mapping.kind == "mqtt":
        reader = TopicReader(mapping, source)
        if progress is not None:
            progress(
                f"{broker.text()}: {len(reader.routes):,} topics in "
                f"{len(reader.filters)} subscriptions"
            )
        await link.run(reader, stop)
        reader.flush()
    elif mapping.kind == "sparkplug":
        session = SparkplugSession(mapping, source)
        if progress is not None:
            progress(f"{broker.text()}: Sparkplug host {session.host.state_topic}")
        await link.run(session, stop, leaving=session.leaving)
    else:
        raise ValueError(f"{mapping.file}: an {mapping.kind} mapping is not read over MQTT")
