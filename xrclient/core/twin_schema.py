"""What a twin stream carries: its machines and its typed properties.

A stream declares its schema once per connection (the ``welcome`` message); updates then
refer to machines and properties by name (JSON) or by index into these tuples (binary).

Every property value travels and is stored as one float64, by kind:

* ``number``: the value itself, in the property's ``unit``;
* ``bool``: 0.0 or 1.0;
* ``time``: seconds since the Unix epoch (UTC);
* ``enum``: the index of the value in the property's ``values``;
* ``string``: free text, interned by the receiver (the float holds the intern index).

A missing value is NaN. Values are always finite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

PropKind = Literal["number", "enum", "bool", "time", "string"]
PROP_KINDS: tuple[PropKind, ...] = ("number", "enum", "bool", "time", "string")

#: machine ids (as in scene files)
MACHINE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
#: property names: lower-case identifiers, so expressions can name them
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
#: enum values: upper-case-ish identifiers such as RUNNING or LOCKED_OUT
ENUM_VALUE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")

MAX_MACHINES = 100_000
MAX_PROPERTIES = 1_000
MAX_ENUM_VALUES = 256
MAX_UNIT_CHARS = 16
MAX_STRING_CHARS = 256


class SchemaError(ValueError):
    """A schema that breaks the rules above."""


@dataclass(frozen=True, slots=True)
class PropertySpec:
    name: str
    kind: PropKind
    unit: str = ""
    values: tuple[str, ...] = ()  # enum only

    def __post_init__(self) -> None:
        if not PROPERTY_NAME.match(self.name):
            raise SchemaError(f"property name {self.name!r} is not a lower-case identifier")
        if self.kind not in PROP_KINDS:
            raise SchemaError(f"property {self.name}: unknown kind {self.kind!r}")
        if len(self.unit) > MAX_UNIT_CHARS or any(not c.isprintable() for c in self.unit):
            raise SchemaError(f"property {self.name}: bad unit {self.unit!r}")
        if self.kind == "enum":
            if not 1 <= len(self.values) <= MAX_ENUM_VALUES:
                raise SchemaError(
                    f"property {self.name}: an enum needs 1 to {MAX_ENUM_VALUES} values"
                )
            if len(set(self.values)) != len(self.values):
                raise SchemaError(f"property {self.name}: duplicate enum values")
            for v in self.values:
                if not ENUM_VALUE.match(v):
                    raise SchemaError(f"property {self.name}: bad enum value {v!r}")
        elif self.values:
            raise SchemaError(f"property {self.name}: only enums have values")

    @property
    def numeric(self) -> bool:
        """Kinds with a history ring (numbers and times)."""
        return self.kind in ("number", "time")

    def to_wire(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "kind": self.kind}
        if self.unit:
            out["unit"] = self.unit
        if self.values:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True, slots=True)
class StreamSchema:
    machines: tuple[str, ...]
    properties: tuple[PropertySpec, ...]
    machine_index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    property_index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.machines) > MAX_MACHINES:
            raise SchemaError(f"{len(self.machines)} machines (at most {MAX_MACHINES})")
        if len(self.properties) > MAX_PROPERTIES:
            raise SchemaError(f"{len(self.properties)} properties (at most {MAX_PROPERTIES})")
        for m in self.machines:
            if not isinstance(m, str) or not MACHINE_ID.match(m):
                raise SchemaError(f"bad machine id {m!r}")
        self.machine_index.update({m: i for i, m in enumerate(self.machines)})
        self.property_index.update({p.name: i for i, p in enumerate(self.properties)})
        if len(self.machine_index) != len(self.machines):
            raise SchemaError("duplicate machine ids")
        if len(self.property_index) != len(self.properties):
            raise SchemaError("duplicate property names")

    def prop(self, name: str) -> PropertySpec | None:
        i = self.property_index.get(name)
        return None if i is None else self.properties[i]

    def to_wire(self) -> dict[str, object]:
        return {
            "machines": list(self.machines),
            "properties": [p.to_wire() for p in self.properties],
        }
