"""The plant simulator as an MQTT publisher: plain topics or Sparkplug B edge nodes.

:class:`SimMqttPublisher` steps a :class:`~xrclient.server.simulator.PlantSimulator` at a
fixed rate and publishes what changed.

* Plain topics (``sparkplug=False``): one retained message per changed cell on the topic
  ``topic`` makes of the machine (``{line}``, ``{machine}``, ``{cell}``, ``{type}``,
  ``{name}``, ``{property}``). Payloads are UTF-8 text: a number as Python's shortest
  round-trip ``repr`` of the float (``71.25``), an enum as its value name (``RUNNING``), a
  bool as ``true``/``false``, a string as itself, a time as ISO 8601 in UTC
  (``2026-12-08T02:50:00.250000+00:00``). On every (re)connect every known cell is
  published again, so the broker's retained messages are the plant's whole state.
* Sparkplug B (``sparkplug=True``): one edge node per scene line (its own MQTT connection,
  its NDEATH as the will) with one device per machine, in ``group``. Metrics are the
  machine's properties: numbers as Double, enums and strings as String, bools as Boolean,
  times as DateTime. Births on connect and whenever a host asks for a rebirth, then DDATA
  by alias with what changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from xrclient.core.twin_schema import PropertySpec
from xrclient.gateway import sparkplug_proto as sp
from xrclient.gateway.mqtt_link import MqttLink
from xrclient.gateway.mqtt_url import BrokerUrl, MqttSecurity, parse_mqtt_url
from xrclient.gateway.publish import Publish
from xrclient.gateway.sparkplug_edge import SparkplugEdge
from xrclient.scene.model import Scene
from xrclient.server.simulator import PlantSimulator

__all__ = ["DEFAULT_TOPIC", "SimMqttPublisher", "payload_text"]

DEFAULT_TOPIC = "plant/{line}/{machine}/{property}"
_DATATYPES = {
    "number": sp.DataType.Double,
    "enum": sp.DataType.String,
    "string": sp.DataType.String,
    "bool": sp.DataType.Boolean,
    "time": sp.DataType.DateTime,
}


def payload_text(spec: PropertySpec, value: float, text: str | None) -> str:
    """A plain-topic payload for one cell (see the module); ``text`` for string cells."""
    if spec.kind == "number":
        return repr(float(value))
    if spec.kind == "enum":
        return spec.values[int(value)]
    if spec.kind == "bool":
        return "true" if value else "false"
    if spec.kind == "time":
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
    return text or ""


def metric_value(spec: PropertySpec, value: float, text: str | None) -> object:
    """A Sparkplug metric value for one cell (see the module)."""
    if spec.kind == "number":
        return float(value)
    if spec.kind == "enum":
        return spec.values[int(value)]
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "time":
        return round(value * 1000.0)
    return text or ""


@dataclass
class _PlainSession:
    """The link session of the plain-topic publisher."""

    owner: SimMqttPublisher

    def will(self, now: float) -> Publish | None:
        return None

    def subscriptions(self) -> list[tuple[str, int]]:
        return []

    def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        return None

    def on_connected(self, link: MqttLink, now: float) -> None:
        self.owner.publish_all(link)

    def on_disconnected(self, error: str, now: float) -> None:
        return None


class _EdgeSession:
    """The link session of one Sparkplug edge node (one scene line)."""

    def __init__(self, owner: SimMqttPublisher, edge: SparkplugEdge) -> None:
        self.owner, self.edge = owner, edge
        self.link: MqttLink | None = None
        self.rebirths = 0

    def will(self, now: float) -> Publish | None:
        return self.edge.new_session()

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(self.edge.ncmd_topic, 1)]

    def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        out = self.edge.on_message(topic, payload, self.owner.clock())
        if out:
            self.rebirths += 1
        if self.link is not None:
            for p in out:
                self.link.send(p)

    def on_connected(self, link: MqttLink, now: float) -> None:
        self.link = link
        for p in self.edge.births(now):
            link.send(p)

    def on_disconnected(self, error: str, now: float) -> None:
        self.link = None

    def leaving(self) -> list[Publish]:
        return [self.edge.death(self.owner.clock())]


class SimMqttPublisher:
    """Publishes a simulator's state (see the module)."""

    def __init__(
        self,
        sim: PlantSimulator,
        url: str | BrokerUrl,
        security: MqttSecurity | None = None,
        *,
        sparkplug: bool,
        scene: Scene | None = None,
        topic: str = DEFAULT_TOPIC,
        group: str = "xrclient",
        rate_hz: float = 10.0,
        qos: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0.1 <= rate_hz <= 1000:
            raise ValueError(f"the publish rate is 0.1 to 1000 Hz, got {rate_hz}")
        self.sim = sim
        self.url = url if isinstance(url, BrokerUrl) else parse_mqtt_url(url)
        self.security = security or MqttSecurity()
        self.sparkplug = sparkplug
        self.group = group
        self.rate_hz = rate_hz
        self.qos = qos
        self.clock = clock
        self.published = 0
        schema = sim.schema
        self.props: Sequence[PropertySpec] = schema.properties
        machines = {m.id: m for m in scene.machines} if scene is not None else {}
        self.lines: list[str] = [
            machines[mid].line if mid in machines else "plant" for mid in schema.machines
        ]
        self.topics: list[list[str]] = []
        for i, mid in enumerate(schema.machines):
            m = machines.get(mid)
            fields = {
                "machine": mid,
                "line": self.lines[i],
                "name": m.name if m is not None else mid,
                "cell": m.cell if m is not None else "",
                "type": m.type if m is not None else sim.machine_type(i),
            }
            try:
                row = [topic.format_map({**fields, "property": p.name}) for p in self.props]
            except (KeyError, ValueError, IndexError) as exc:
                raise ValueError(
                    f"topic pattern {topic!r}: use only {{line}}, {{machine}}, {{name}}, "
                    f"{{cell}}, {{type}} and {{property}} ({exc})"
                ) from None
            if any("+" in t or "#" in t or "\x00" in t for t in row):
                raise ValueError(f"a topic to publish has no + # or NUL: {row[0]!r}")
            self.topics.append(row)
        self.has = np.isfinite(sim.source_time)  # the cells a machine's type reports
        self._edges: dict[str, _EdgeSession] = {}
        if sparkplug:
            by_line: dict[str, dict[str, list[tuple[str, int]]]] = {}
            for i, mid in enumerate(schema.machines):
                metrics = [
                    (p.name, int(_DATATYPES[p.kind]))
                    for j, p in enumerate(self.props)
                    if self.has[i, j]
                ]
                by_line.setdefault(self.lines[i], {})[mid] = metrics
            for line, devices in by_line.items():
                edge = SparkplugEdge(group, line, devices, qos=qos)
                self._edges[line] = _EdgeSession(self, edge)
            for i, mid in enumerate(schema.machines):  # births carry the current values
                values = self._device_values(i, np.flatnonzero(self.has[i]))
                if values:
                    self._edges[self.lines[i]].edge.data(mid, values, sim.time)
        self._plain = _PlainSession(self)
        self._links: list[MqttLink] = []

    @property
    def edges(self) -> dict[str, SparkplugEdge]:
        """The Sparkplug edge nodes by line id (empty for plain topics)."""
        return {line: s.edge for line, s in self._edges.items()}

    def _cell_text(self, m: int, p: int) -> str | None:
        return self.sim.text(m, p) if self.props[p].kind == "string" else None

    def _device_values(self, m: int, props: Sequence[int] | np.ndarray) -> dict[str, object]:
        out: dict[str, object] = {}
        row = self.sim.values[m]
        for p in props:
            v = float(row[p])
            if math.isnan(v):
                continue
            spec = self.props[int(p)]
            out[spec.name] = metric_value(spec, v, self._cell_text(m, int(p)))
        return out

    def publish_all(self, link: MqttLink) -> None:
        """Every known cell, retained (plain topics; on each connect)."""
        cells = np.argwhere(self.has & np.isfinite(self.sim.values))
        self._publish_cells(link, cells)

    def _publish_cells(self, link: MqttLink, cells: np.ndarray) -> None:
        values = self.sim.values
        for m, p in cells.tolist():
            v = float(values[m, p])
            if math.isnan(v):
                continue
            text = payload_text(self.props[p], v, self._cell_text(m, p))
            if link.send(Publish(self.topics[m][p], text.encode(), self.qos, True)):
                self.published += 1

    def publish_changes(self, changed: np.ndarray, now: float) -> None:
        """Publish the cells ``changed`` marks (after ``sim.step``)."""
        if not self.sparkplug:
            if self._links and self._links[0].connected:
                self._publish_cells(self._links[0], np.argwhere(changed))
            return
        for m in np.flatnonzero(changed.any(axis=1)).tolist():
            session = self._edges[self.lines[m]]
            values = self._device_values(m, np.flatnonzero(changed[m]))
            if not values:
                continue
            # encoded even while disconnected: the edge keeps the values for its next births
            message = session.edge.data(self.sim.schema.machines[m], values, now)
            if session.link is not None and session.link.send(message):
                self.published += 1

    async def run(self, stop: asyncio.Event, *, step: bool = True) -> None:
        """Step and publish at ``rate_hz`` until ``stop`` is set; with ``step=False`` only
        keep the broker connections, while the caller steps the simulator and calls
        :meth:`publish_changes` (``twin-sim``, whose twin server steps it)."""
        tasks: list[asyncio.Task[None]] = []
        if self.sparkplug:
            for line, session in self._edges.items():
                link = MqttLink(self.url, self.security, client_id=f"{self.group}-{line}-sim")
                self._links.append(link)
                tasks.append(asyncio.create_task(link.run(session, stop, leaving=session.leaving)))
        else:
            link = MqttLink(self.url, self.security)
            self._links.append(link)
            tasks.append(asyncio.create_task(link.run(self._plain, stop)))
        period = 1.0 / self.rate_hz
        try:
            while not stop.is_set():
                if step:
                    now = self.clock()
                    self.publish_changes(self.sim.step(now), now)
                try:
                    await asyncio.wait_for(stop.wait(), period)
                except TimeoutError:
                    pass
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
