"""One property of every kind, the schema the twin-stream unit tests share."""

from __future__ import annotations

from xrclient.core.twin_schema import PropertySpec

PROPS = (
    PropertySpec("state", "enum", values=("RUNNING", "IDLE", "FAULT")),
    PropertySpec("temperature_c", "number", "°C"),
    PropertySpec("door_open", "bool"),
    PropertySpec("program", "string"),
    PropertySpec("last_maintenance", "time"),
)
