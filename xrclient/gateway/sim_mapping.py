"""The mapping that reads the plant simulator through its OPC UA server, its MQTT topics or
its Sparkplug B edge nodes (the demo's chain; what ``gateway discover`` finds there too).

One template per machine type feeds the properties that type has, addressed the way
:mod:`~xrclient.gateway.opcua_server` and :mod:`~xrclient.gateway.mqtt_publish` publish
them: ``Objects/Plant/<machine>/<property>`` in the simulator's namespace, topics
``plant/<line>/<machine>/<property>``, and Sparkplug edge node ``<line>``, device
``<machine>``, metric ``<property>`` in group ``xrclient``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xrclient.gateway.mapping import SourceKind
from xrclient.scene.model import Scene
from xrclient.server.simulator import PlantSimulator

SIM_TOPIC = "plant/{line}/{machine}/{property}"
SIM_GROUP = "xrclient"


def sim_mapping(
    sim: PlantSimulator, scene: Scene, kind: SourceKind, namespace: str = ""
) -> dict[str, Any]:
    """A mapping document (as parsed TOML) for ``sim`` served as ``kind``."""
    props = sim.schema.properties
    present = ~np.isnan(sim.values)
    doc: dict[str, Any] = {"version": 1, "source": kind}
    doc["properties"] = {
        p.name: {k: v for k, v in p.to_wire().items() if k != "name"}
        for i, p in enumerate(props)
        if present[:, i].any()
    }
    templates: dict[str, Any] = {}
    for m, machine in enumerate(scene.machines):
        if machine.type in templates:
            continue
        have = [props[i].name for i in np.flatnonzero(present[m])]
        templates[machine.type] = {"feeds": {name: {} for name in have}}
        if kind == "opcua":
            templates[machine.type]["object"] = "/sim:Plant/sim:{machine}"
    doc["templates"] = templates
    if kind == "opcua":
        doc["opcua"] = {"namespaces": {"sim": namespace}, "publishing_ms": 100, "sampling_ms": 0}
    elif kind == "mqtt":
        doc["mqtt"] = {"topic": SIM_TOPIC, "payload": "string", "qos": 0}
    else:
        doc["sparkplug"] = {"group": SIM_GROUP, "edge_node": "{line}", "device": "{machine}"}
    return doc
