"""What the MQTT tests share: a demo-plant mapping, the connector running as a task, a test
publisher, and polling with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import aiomqtt
import rtoml

from xrclient.gateway.mapping import Mapping, parse_mapping
from xrclient.gateway.mqtt_client import run_mqtt
from xrclient.gateway.mqtt_url import MqttSecurity, client_options, parse_mqtt_url
from xrclient.gateway.source import GatewaySource
from xrclient.resources import scene_path
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene

T = TypeVar("T")

PLAIN_MAPPING = """
source = "mqtt"

[properties]
temperature_c = { kind = "number", unit = "°C" }
state = { kind = "enum", values = ["RUNNING", "IDLE", "FAULT"] }
program = { kind = "string" }
door_open = { kind = "bool" }
spindle_rpm = { kind = "number", unit = "rpm" }
load_pct = { kind = "number", unit = "%" }

[mqtt]
topic = "plant/{line}/{machine}/{property}"
qos = 1

[templates.cnc_mill.feeds]
temperature_c = {}
state = { payload = "string" }
program = { payload = "string" }
door_open = { payload = "bool" }
spindle_rpm = { topic = "json/{machine}", json = "/spindle/rpm" }
load_pct = { topic = "json/{machine}", json = "/load", qos = 0 }
"""

_SCENE: Scene | None = None


def demo_scene() -> Scene:
    global _SCENE
    if _SCENE is None:
        _SCENE = load_scene(scene_path("demo-plant"))
    return _SCENE


def mapping_from(text: str, scene: Scene | None = None) -> Mapping:
    return parse_mapping(rtoml.loads(text), "test-mapping.toml", scene or demo_scene())


def run(make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
    """Run an async test body with a deadline."""

    async def body() -> T:
        return await asyncio.wait_for(make(), timeout)

    return asyncio.run(body())


async def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


@contextlib.asynccontextmanager
async def gateway(
    url: str, mapping: Mapping, security: MqttSecurity | None = None
) -> AsyncIterator[GatewaySource]:
    """The connector for ``mapping`` running against ``url`` while the block runs."""
    source = GatewaySource(mapping)
    stop = asyncio.Event()
    task = asyncio.create_task(run_mqtt(url, mapping, source, security, stop=stop))
    try:
        yield source
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def publisher(
    url: str, security: MqttSecurity | None = None, **kwargs: Any
) -> AsyncIterator[aiomqtt.Client]:
    """A plain aiomqtt client to publish test messages with."""
    opts = client_options(parse_mqtt_url(url), security or MqttSecurity())
    async with aiomqtt.Client(**opts, **kwargs) as client:
        yield client


def cell(source: GatewaySource, machine: str, prop: str) -> float:
    m = source.schema.machines.index(machine)
    return float(source.values[m, source.schema.property_index[prop]])
