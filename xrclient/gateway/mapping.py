"""Plant mapping files: which OPC UA node, MQTT topic or Sparkplug metric feeds which machine
property, validated into frozen data.

A mapping (TOML, documented in ``docs/connectors.md``) names its ``source`` kind, the twin
``[properties]`` it feeds, per-kind defaults (``[opcua]``, ``[mqtt]``, ``[sparkplug]``),
``[templates]`` that apply to machine types, and per-machine ``[machines.ID]`` overrides.
Addresses are patterns: ``{machine}``, ``{name}``, ``{line}``, ``{cell}``, ``{type}`` and
``{property}`` are the scene's values, other names come from ``vars`` tables. Resolving a
mapping against a scene gives one :class:`Feed` per (machine, property) with a concrete
address, so 2,000 machines need one template, not 2,000 entries.

Every error names the file and the key path, as scene errors do. OPC UA nodes name their
namespace by URI (``nsu=``) or by an alias of ``[opcua.namespaces]``, never by index, since
a server may renumber its namespaces on restart.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import rtoml

from xrclient.core.twin_schema import (
    ENUM_VALUE,
    MAX_ENUM_VALUES,
    MAX_PROPERTIES,
    PROP_KINDS,
    PROPERTY_NAME,
    PropertySpec,
    PropKind,
    SchemaError,
)
from xrclient.errors import SceneError
from xrclient.scene.model import Machine, Scene
from xrclient.scene.reader import Reader
from xrclient.scene.schema import read_text_file

SourceKind = Literal["opcua", "mqtt", "sparkplug"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("opcua", "mqtt", "sparkplug")
PayloadKind = Literal["number", "string", "json", "bool"]
PAYLOAD_KINDS: tuple[PayloadKind, ...] = ("number", "string", "json", "bool")

#: the properties every gateway stream adds after the mapped ones (see ``gateway.source``)
RESERVED_PROPERTIES = ("quality", "quality_note")
MAX_MAPPING_BYTES = 16 * 1024 * 1024
MAX_FEEDS = 1_000_000
MAX_TEMPLATES = 1_000
MAX_ADDRESS_CHARS = 1024
MAX_NAME_CHARS = 256
NAMESPACE_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}\Z")
PLACEHOLDER = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")
#: Sparkplug group, edge node and device ids: no topic separators or wildcards
SPARKPLUG_ID = re.compile(r"^[^/+#\x00-\x1f]{1,128}\Z")
BUILTIN_PLACEHOLDERS = ("machine", "name", "line", "cell", "type", "property")
#: NodeId identifiers, after the namespace part: numeric, string, GUID, opaque
_NODE_IDENT = re.compile(
    r"^(i=[0-9]{1,10}|s=.{1,4096}|g=[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"|b=[A-Za-z0-9+/=]{1,5464})\Z",
    re.S,
)
_OPCUA_NS0 = "http://opcfoundation.org/UA/"


class MappingError(SceneError):
    """A mapping file is invalid: ``<file>: <key path>: <what was expected>``."""


# ---- resolved data -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deadband:
    kind: Literal["absolute", "percent"]
    value: float


@dataclass(frozen=True, slots=True)
class OpcuaTarget:
    """A node: ``start`` (a NodeId as ``nsu=URI;s=..`` or ``i=..`` for namespace 0; None is
    the Objects folder), then a browse path of (namespace URI, browse name) pairs."""

    start: str | None
    path: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        head = self.start if self.start is not None else "Objects"
        return "/".join([head, *(f"{{{uri}}}{name}" for uri, name in self.path)])


@dataclass(frozen=True, slots=True)
class MqttTarget:
    topic: str
    payload: PayloadKind = "number"
    pointer: str | None = None  # a JSON pointer (RFC 6901) into a JSON payload
    qos: int = 1

    def text(self) -> str:
        return self.topic + (f" #{self.pointer}" if self.pointer is not None else "")


@dataclass(frozen=True, slots=True)
class SparkplugTarget:
    group: str
    edge_node: str
    device: str | None  # None: a metric of the edge node itself
    metric: str

    def text(self) -> str:
        where = "/".join(p for p in (self.group, self.edge_node, self.device) if p)
        return f"{where}:{self.metric}"


Target = OpcuaTarget | MqttTarget | SparkplugTarget


@dataclass(frozen=True, slots=True)
class Feed:
    """One machine property and where its values come from."""

    index: int
    machine: int
    prop: int
    key: str  # the mapping key path it came from, for messages
    target: Target
    scale: float = 1.0
    offset: float = 0.0
    enum: MappingABC[str, str] = field(default_factory=dict)
    sampling_ms: float = 1000.0
    queue_size: int = 1
    deadband: Deadband | None = None


@dataclass(frozen=True, slots=True)
class OpcuaOptions:
    namespaces: MappingABC[str, str] = field(default_factory=dict)
    publishing_ms: float = 500.0
    sampling_ms: float = 1000.0
    queue_size: int = 1
    deadband: Deadband | None = None


@dataclass(frozen=True, slots=True)
class MqttOptions:
    qos: int = 1
    topic: str | None = None  # the default topic pattern
    payload: PayloadKind = "number"
    json: str | None = None  # the default JSON pointer


@dataclass(frozen=True, slots=True)
class SparkplugOptions:
    group: str = "plant"
    host_id: str = "xrclient"
    edge_node: str = "{line}"
    device: str = "{machine}"


@dataclass(frozen=True, slots=True)
class Mapping:
    file: str
    kind: SourceKind
    properties: tuple[PropertySpec, ...]
    machines: tuple[str, ...]
    feeds: tuple[Feed, ...]
    opcua: OpcuaOptions = field(default_factory=OpcuaOptions)
    mqtt: MqttOptions = field(default_factory=MqttOptions)
    sparkplug: SparkplugOptions = field(default_factory=SparkplugOptions)

    def describe(self, feed: Feed) -> str:
        """``machine.property <- address`` for people."""
        prop = self.properties[feed.prop].name
        return f"{self.machines[feed.machine]}.{prop} <- {feed.target.text()}"


# ---- loading -----------------------------------------------------------------------------


def load_mapping(path: str | Path, scene: Scene) -> Mapping:
    """Read and validate a mapping file against ``scene``; raises :class:`MappingError`."""
    shown = os.fspath(path)
    try:
        text = read_text_file(Path(path), MAX_MAPPING_BYTES)
    except ValueError as exc:
        raise MappingError(shown, "", str(exc)) from None
    try:
        document = rtoml.loads(text)
    except rtoml.TomlParsingError as exc:
        raise MappingError(shown, "", f"TOML syntax error: {exc}") from None
    return parse_mapping(document, shown, scene)


def parse_mapping(document: dict[str, Any], file: str, scene: Scene) -> Mapping:
    """Validate a parsed mapping document against ``scene`` (see the module docstring)."""
    return _Parser(file, scene).mapping(document)


_TOP = {"version", "source", "properties", "opcua", "mqtt", "sparkplug", "templates", "machines"}
_FEED_COMMON = {"scale", "offset", "map"}
_FEED_KEYS: dict[SourceKind, set[str]] = {
    "opcua": {"node", "sampling_ms", "queue_size", "deadband"},
    "mqtt": {"topic", "payload", "json", "qos"},
    "sparkplug": {"metric", "group", "edge_node", "device"},
}
_TEMPLATE_KEYS = {"types", "object", "vars", "feeds", "edge_node", "device", "group"}
_MACHINE_KEYS = {"template", "object", "vars", "feeds", "edge_node", "device", "group"}


class _Formatter(string.Formatter):
    """``str.format`` for address patterns: plain ``{name}`` fields only."""

    def check(self, pattern: str) -> list[str]:
        names = []
        for _text, name, spec, conv in self.parse(pattern):
            if name is None:
                continue
            if spec or conv or not PLACEHOLDER.match(name):
                raise ValueError(f"{{{name}}} is not a placeholder (write {{name}} only)")
            names.append(name)
        return names


_FMT = _Formatter()


class _Reader(Reader):
    def fail(self, path: str, message: str) -> MappingError:
        return MappingError(self.file, path, message)


class _Parser:
    def __init__(self, file: str, scene: Scene) -> None:
        self.file = file
        self.scene = scene
        self.r = _Reader(file)

    def fail(self, path: str, message: str) -> MappingError:
        return MappingError(self.file, path, message)

    # -- top level --------------------------------------------------------------------------

    def mapping(self, doc: dict[str, Any]) -> Mapping:
        t = self.r.table(doc, "", {"source", "properties"}, _TOP)
        if "version" in t and t["version"] != 1:
            raise self.fail(
                "version", f"this xrclient reads mapping version 1, got {t['version']!r}"
            )
        kind = cast(SourceKind, self.r.choice(t["source"], "source", SOURCE_KINDS))
        props = self.properties(t["properties"])
        opcua = self.opcua(t.get("opcua", {}))
        mqtt = self.mqtt(t.get("mqtt", {}))
        sparkplug = self.sparkplug(t.get("sparkplug", {}))
        for other in SOURCE_KINDS:
            if other != kind and other in t:
                raise self.fail(other, f"a {kind} mapping has no [{other}] table")
        self.kind = kind
        self.props = props
        self.prop_index = {p.name: i for i, p in enumerate(props)}
        self.opts = (opcua, mqtt, sparkplug)
        templates = self.templates(t.get("templates", {}))
        machines = self.machine_entries(t.get("machines", {}), templates)
        feeds = self.resolve(templates, machines)
        return Mapping(
            file=self.file,
            kind=kind,
            properties=props,
            machines=tuple(m.id for m in self.scene.machines),
            feeds=feeds,
            opcua=opcua,
            mqtt=mqtt,
            sparkplug=sparkplug,
        )

    def properties(self, value: object) -> tuple[PropertySpec, ...]:
        if not isinstance(value, dict) or not value:
            raise self.fail("properties", "expected a table of at least one property")
        if len(value) > MAX_PROPERTIES - len(RESERVED_PROPERTIES):
            raise self.fail("properties", f"more than {MAX_PROPERTIES - 2} properties")
        out = []
        for name, spec in value.items():
            path = f"properties.{name}"
            if not PROPERTY_NAME.match(name):
                raise self.fail(path, "a property name is a lower-case identifier")
            if name in RESERVED_PROPERTIES:
                raise self.fail(path, "reserved: the gateway reports each machine's quality")
            p = self.r.table(spec, path, {"kind"}, {"unit", "values"})
            kind = cast(PropKind, self.r.choice(p["kind"], f"{path}.kind", PROP_KINDS))
            values: tuple[str, ...] = ()
            if "values" in p:
                raw = p["values"]
                if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ENUM_VALUES:
                    raise self.fail(f"{path}.values", f"expected 1 to {MAX_ENUM_VALUES} names")
                values = tuple(self.r.string(v, f"{path}.values[{i}]") for i, v in enumerate(raw))
                for i, v in enumerate(values):
                    if not ENUM_VALUE.match(v):
                        raise self.fail(f"{path}.values[{i}]", f"not an enum value name: {v!r}")
            try:
                out.append(
                    PropertySpec(
                        name, kind, self.r.string(p.get("unit", ""), f"{path}.unit"), values
                    )
                )
            except SchemaError as exc:
                raise self.fail(path, str(exc)) from None
        return tuple(out)

    def deadband(self, value: object, path: str) -> Deadband:
        if isinstance(value, dict):
            d = self.r.table(value, path, set(), {"absolute", "percent"})
            if len(d) != 1:
                raise self.fail(path, "expected one of absolute = X or percent = X")
            ((kind, number),) = d.items()
            amount = self.r.number(number, f"{path}.{kind}", minimum=0.0)
            if kind == "percent" and amount > 100:
                raise self.fail(f"{path}.percent", "a percent deadband is 0..100")
            return Deadband(cast(Literal["absolute", "percent"], kind), amount)
        return Deadband("absolute", self.r.number(value, path, minimum=0.0))

    def sampling(self, value: object, path: str) -> float:
        ms = self.r.number(value, path, minimum=0.0)
        if ms > 3_600_000:
            raise self.fail(path, "at most 3600000 ms")
        return ms

    def queue(self, value: object, path: str) -> int:
        n = self.r.integer(value, path, 1)
        if n > 10_000:
            raise self.fail(path, "at most 10000")
        return n

    def qos(self, value: object, path: str) -> int:
        q = self.r.integer(value, path, 0)
        if q > 2:
            raise self.fail(path, "QoS is 0, 1 or 2")
        return q

    def opcua(self, value: object) -> OpcuaOptions:
        t = self.r.table(
            value,
            "opcua",
            set(),
            {"namespaces", "publishing_ms", "sampling_ms", "queue_size", "deadband"},
        )
        namespaces: dict[str, str] = {}
        ns = t.get("namespaces", {})
        if not isinstance(ns, dict):
            raise self.fail("opcua.namespaces", 'expected a table of alias = "namespace URI"')
        for alias, uri in ns.items():
            path = f"opcua.namespaces.{alias}"
            if not NAMESPACE_ALIAS.match(alias):
                raise self.fail(path, "an alias is a letter then letters, digits or _")
            text = self.r.string(uri, path)
            if not 0 < len(text) <= MAX_ADDRESS_CHARS:
                raise self.fail(path, "expected a namespace URI")
            namespaces[alias] = text
        publishing = self.sampling(t.get("publishing_ms", 500.0), "opcua.publishing_ms")
        if publishing < 10:
            raise self.fail("opcua.publishing_ms", "at least 10 ms")
        return OpcuaOptions(
            namespaces=namespaces,
            publishing_ms=publishing,
            sampling_ms=self.sampling(t.get("sampling_ms", 1000.0), "opcua.sampling_ms"),
            queue_size=self.queue(t.get("queue_size", 1), "opcua.queue_size"),
            deadband=self.deadband(t["deadband"], "opcua.deadband") if "deadband" in t else None,
        )

    def mqtt(self, value: object) -> MqttOptions:
        t = self.r.table(value, "mqtt", set(), {"qos", "topic", "payload", "json"})
        topic = None
        if "topic" in t:
            topic = self.r.string(t["topic"], "mqtt.topic")
            self.pattern(topic, "mqtt.topic")
        payload = cast(
            PayloadKind, self.r.choice(t.get("payload", "number"), "mqtt.payload", PAYLOAD_KINDS)
        )
        pointer = self.pointer(t["json"], "mqtt.json") if "json" in t else None
        if pointer is not None:
            payload = "json"
        return MqttOptions(self.qos(t.get("qos", 1), "mqtt.qos"), topic, payload, pointer)

    def sparkplug(self, value: object) -> SparkplugOptions:
        t = self.r.table(value, "sparkplug", set(), {"group", "host_id", "edge_node", "device"})
        kwargs: dict[str, str] = {}
        for key in ("group", "host_id", "edge_node", "device"):
            if key in t:
                text = self.r.string(t[key], f"sparkplug.{key}")
                self.pattern(text, f"sparkplug.{key}", allow_empty=key == "device")
                kwargs[key] = text
        if "host_id" in kwargs and not SPARKPLUG_ID.match(kwargs["host_id"]):
            raise self.fail("sparkplug.host_id", "no /, +, # or control characters")
        return SparkplugOptions(**kwargs)

    def pointer(self, value: object, path: str) -> str:
        text = self.r.string(value, path)
        if text and not text.startswith("/"):
            raise self.fail(path, "a JSON pointer is empty or starts with / (RFC 6901)")
        if re.search(r"~[^01]|~\Z", text):
            raise self.fail(path, "in a JSON pointer ~ is written ~0 and / is ~1")
        if len(text) > MAX_ADDRESS_CHARS:
            raise self.fail(path, "too long")
        return text

    def pattern(self, text: str, path: str, allow_empty: bool = False) -> list[str]:
        if not text and not allow_empty:
            raise self.fail(path, "must not be empty")
        if len(text) > MAX_ADDRESS_CHARS:
            raise self.fail(path, f"longer than {MAX_ADDRESS_CHARS} characters")
        try:
            return _FMT.check(text)
        except ValueError as exc:
            raise self.fail(path, f"{exc} (a literal brace is written {{{{ or }}}})") from None

    # -- templates and machines ----------------------------------------------------------------

    def templates(self, value: object) -> dict[str, dict[str, Any]]:
        if not isinstance(value, dict):
            raise self.fail("templates", "expected a table of templates")
        if len(value) > MAX_TEMPLATES:
            raise self.fail("templates", f"more than {MAX_TEMPLATES} templates")
        known_types = {m.type for m in self.scene.machines}
        out: dict[str, dict[str, Any]] = {}
        for name, body in value.items():
            path = f"templates.{name}"
            t = self.r.table(body, path, set(), _TEMPLATE_KEYS)
            types = t.get("types", [name])
            if not isinstance(types, list) or not all(isinstance(x, str) for x in types):
                raise self.fail(f"{path}.types", 'expected a list of machine types (or ["*"])')
            for i, ty in enumerate(types):
                if ty != "*" and ty not in known_types:
                    raise self.fail(
                        f"{path}.types[{i}]" if "types" in t else path,
                        f"no machine of type {ty!r} in {self.scene.source} "
                        f"(types: {', '.join(sorted(known_types))})",
                    )
            out[name] = {**t, "types": types}
        return out

    def machine_entries(
        self, value: object, templates: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        if not isinstance(value, dict):
            raise self.fail("machines", "expected a table of machine ids")
        known = self.scene.machine_index
        out: dict[str, dict[str, Any]] = {}
        for mid, body in value.items():
            path = f"machines.{mid}"
            if mid not in known:
                raise self.fail(path, f"no machine {mid!r} in {self.scene.source}")
            t = self.r.table(body, path, set(), _MACHINE_KEYS)
            if "template" in t:
                name = self.r.string(t["template"], f"{path}.template")
                if name not in templates:
                    raise self.fail(f"{path}.template", f"no template {name!r}")
            out[mid] = t
        return out

    def template_of(
        self, machine: Machine, templates: dict[str, dict[str, Any]], entry: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any]] | None:
        if entry is not None and "template" in entry:
            name = entry["template"]
            return name, templates[name]
        for name, t in templates.items():
            if machine.type in t["types"]:
                return name, t
        for name, t in templates.items():
            if "*" in t["types"]:
                return name, t
        return None

    def resolve(
        self, templates: dict[str, dict[str, Any]], machines: dict[str, dict[str, Any]]
    ) -> tuple[Feed, ...]:
        feeds: list[Feed] = []
        for mi, machine in enumerate(self.scene.machines):
            entry = machines.get(machine.id)
            tpl = self.template_of(machine, templates, entry)
            layers: list[tuple[str, dict[str, Any]]] = []
            if tpl is not None:
                layers.append((f"templates.{tpl[0]}", tpl[1]))
            if entry is not None:
                layers.append((f"machines.{machine.id}", entry))
            if not layers:
                continue
            vars_ = self.variables(machine, layers)
            own: dict[str, tuple[str, dict[str, Any]]] = {}  # property -> (key path, feed table)
            context: dict[str, tuple[str, object]] = {}  # object / edge_node / device / group
            for path, layer in layers:
                for key in ("object", "edge_node", "device", "group"):
                    if key in layer:
                        context[key] = (f"{path}.{key}", layer[key])
                fs = layer.get("feeds", {})
                if not isinstance(fs, dict):
                    raise self.fail(f"{path}.feeds", "expected a table of property = { ... }")
                for prop, body in fs.items():
                    fpath = f"{path}.feeds.{prop}"
                    if prop not in self.prop_index:
                        raise self.fail(fpath, f"no property {prop!r} in [properties]")
                    if body is False:
                        own.pop(prop, None)  # a machine may drop a template's feed
                        continue
                    allowed = _FEED_KEYS[self.kind] | _FEED_COMMON
                    own[prop] = (fpath, self.r.table(body, fpath, set(), allowed))
            for prop, (fpath, body) in own.items():
                if len(feeds) >= MAX_FEEDS:
                    raise self.fail(fpath, f"more than {MAX_FEEDS} feeds")
                feeds.append(
                    self.feed(
                        len(feeds), mi, prop, fpath, body, {**vars_, "property": prop}, context
                    )
                )
        return tuple(feeds)

    def variables(
        self, machine: Machine, layers: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, str]:
        out = {
            "machine": machine.id,
            "name": machine.name,
            "line": machine.line,
            "cell": machine.cell,
            "type": machine.type,
        }
        for path, layer in layers:
            v = layer.get("vars", {})
            if not isinstance(v, dict):
                raise self.fail(f"{path}.vars", 'expected a table of name = "text"')
            for name, text in v.items():
                if not PLACEHOLDER.match(name) or name in BUILTIN_PLACEHOLDERS:
                    raise self.fail(f"{path}.vars.{name}", "not a free placeholder name")
                s = self.r.string(text, f"{path}.vars.{name}")
                if len(s) > MAX_NAME_CHARS:
                    raise self.fail(f"{path}.vars.{name}", "too long")
                out[name] = s
        return out

    def fill(
        self, pattern: str, path: str, vars_: dict[str, str], allow_empty: bool = False
    ) -> str:
        for name in self.pattern(pattern, path, allow_empty):
            if name not in vars_:
                raise self.fail(path, f"unknown placeholder {{{name}}} (known: {', '.join(vars_)})")
        return pattern.format_map(vars_)

    # -- one feed -------------------------------------------------------------------------------

    def feed(
        self,
        index: int,
        machine: int,
        prop: str,
        path: str,
        body: dict[str, Any],
        vars_: dict[str, str],
        context: dict[str, tuple[str, object]],
    ) -> Feed:
        pi = self.prop_index[prop]
        spec = self.props[pi]
        opcua, mqtt, sparkplug = self.opts
        scale = self.r.number(body.get("scale", 1.0), f"{path}.scale")
        offset = self.r.number(body.get("offset", 0.0), f"{path}.offset")
        if (scale != 1.0 or offset != 0.0) and spec.kind != "number":
            raise self.fail(
                f"{path}.scale", f"only number properties scale ({prop} is {spec.kind})"
            )
        enum: dict[str, str] = {}
        if "map" in body:
            if spec.kind != "enum":
                raise self.fail(
                    f"{path}.map", f"only enum properties have a map ({prop} is {spec.kind})"
                )
            m = body["map"]
            if not isinstance(m, dict) or not m:
                raise self.fail(f"{path}.map", 'expected a table of source value = "ENUM_VALUE"')
            for k, v in m.items():
                name = self.r.string(v, f"{path}.map.{k}")
                if name not in spec.values:
                    raise self.fail(f"{path}.map.{k}", f"{name!r} is not a value of {prop}")
                enum[str(k)] = name
        common: dict[str, Any] = {"scale": scale, "offset": offset, "enum": enum}
        if self.kind == "opcua":
            return Feed(
                index, machine, pi, path, self.opcua_target(body, path, vars_, context),
                sampling_ms=self.sampling(body["sampling_ms"], f"{path}.sampling_ms")
                if "sampling_ms" in body else opcua.sampling_ms,
                queue_size=self.queue(body["queue_size"], f"{path}.queue_size")
                if "queue_size" in body else opcua.queue_size,
                deadband=self.deadband(body["deadband"], f"{path}.deadband")
                if "deadband" in body else opcua.deadband,
                **common,
            )  # fmt: skip
        if self.kind == "mqtt":
            return Feed(
                index, machine, pi, path, self.mqtt_target(body, path, vars_, mqtt), **common
            )
        return Feed(
            index, machine, pi, path, self.sparkplug_target(body, path, vars_, context, sparkplug),
            **common,
        )  # fmt: skip

    def opcua_target(
        self,
        body: dict[str, Any],
        path: str,
        vars_: dict[str, str],
        context: dict[str, tuple[str, object]],
    ) -> OpcuaTarget:
        node = self.r.string(body.get("node", "{property}"), f"{path}.node")
        key = f"{path}.node" if "node" in body else path
        text = self.fill(node, key, vars_)
        if text.startswith(("nsu=", "ns=", "i=", "s=", "g=", "b=")):
            return OpcuaTarget(self.node_id(text, key))
        if text.startswith("/"):
            return OpcuaTarget(None, self.browse_path(text[1:], key))
        start: OpcuaTarget = OpcuaTarget(None)
        if "object" in context:
            opath, obj = context["object"]
            otext = self.fill(self.r.string(obj, opath), opath, vars_)
            if otext.startswith(("nsu=", "ns=", "i=", "s=", "g=", "b=")):
                start = OpcuaTarget(self.node_id(otext, opath))
            else:
                start = OpcuaTarget(None, self.browse_path(otext.lstrip("/"), opath))
        inherit = start.path[-1][0] if start.path else None
        return OpcuaTarget(start.start, start.path + self.browse_path(text, key, inherit))

    def node_id(self, text: str, path: str) -> str:
        if text.startswith("ns="):
            head, _, rest = text.partition(";")
            if head != "ns=0":
                raise self.fail(
                    path,
                    "name the namespace by URI (nsu=URI;...) or an alias of [opcua.namespaces], "
                    "not by index: a server may renumber its namespaces",
                )
            text = rest
        if text.startswith("nsu="):
            head, sep, ident = text.partition(";")
            if not sep:
                raise self.fail(path, "expected nsu=URI;i=.. / s=.. / g=.. / b=..")
            uri = head[4:]
            uri = self.opts[0].namespaces.get(uri, uri)  # an alias stands for its URI
            if not uri:
                raise self.fail(path, "empty namespace URI")
            if not _NODE_IDENT.match(ident):
                raise self.fail(path, f"not a NodeId identifier: {ident[:80]!r}")
            if uri == _OPCUA_NS0:
                return ident
            return f"nsu={uri};{ident}"
        if not _NODE_IDENT.match(text):
            raise self.fail(path, f"not a NodeId: {text[:80]!r}")
        if not text.startswith("i="):
            raise self.fail(path, "a node outside namespace 0 names its namespace (nsu=URI;...)")
        return text

    def browse_path(
        self, text: str, path: str, inherit: str | None = None
    ) -> tuple[tuple[str, str], ...]:
        """``alias:Name/alias:Name`` as (URI, name) pairs; a step without ``alias:`` is in the
        namespace of the step before it (or ``inherit``, or the only alias there is)."""
        if not text:
            raise self.fail(path, "empty browse path")
        out: list[tuple[str, str]] = []
        ns = self.opts[0].namespaces
        previous = (
            inherit if inherit is not None else (next(iter(ns.values())) if len(ns) == 1 else None)
        )
        for part in text.split("/"):
            alias, sep, name = part.partition(":")
            if not sep:
                alias, name = "", part
                if previous is None:
                    raise self.fail(
                        path, f"{part!r}: write alias:Name (aliases are set in [opcua.namespaces])"
                    )
                uri = previous
            elif alias not in ns:
                known = ", ".join(ns) or "none"
                raise self.fail(
                    path, f"unknown namespace alias {alias!r} (in [opcua.namespaces]: {known})"
                )
            else:
                uri = ns[alias]
            if not name or len(name) > MAX_NAME_CHARS:
                raise self.fail(path, f"a browse name is 1 to {MAX_NAME_CHARS} characters")
            out.append((uri, name))
            previous = uri
        return tuple(out)

    def mqtt_target(
        self, body: dict[str, Any], path: str, vars_: dict[str, str], opts: MqttOptions
    ) -> MqttTarget:
        if "topic" in body:
            pattern, key = self.r.string(body["topic"], f"{path}.topic"), f"{path}.topic"
        elif opts.topic is not None:
            pattern, key = opts.topic, "mqtt.topic"
        else:
            raise self.fail(f"{path}.topic", "required key is missing (or set [mqtt] topic)")
        topic = self.fill(pattern, key, vars_)
        if "+" in topic or "#" in topic or "\x00" in topic or len(topic.encode()) > 65535:
            raise self.fail(key, f"a topic to read has no wildcards or NUL: {topic[:80]!r}")
        payload = opts.payload
        if "payload" in body:
            payload = cast(
                PayloadKind, self.r.choice(body["payload"], f"{path}.payload", PAYLOAD_KINDS)
            )
        pointer = self.pointer(body["json"], f"{path}.json") if "json" in body else opts.json
        if "json" in body:
            payload = "json"
        if payload == "json" and pointer is None:
            pointer = ""
        if payload != "json":
            pointer = None
        qos = self.qos(body["qos"], f"{path}.qos") if "qos" in body else opts.qos
        return MqttTarget(topic, payload, pointer, qos)

    def sparkplug_target(
        self,
        body: dict[str, Any],
        path: str,
        vars_: dict[str, str],
        context: dict[str, tuple[str, object]],
        opts: SparkplugOptions,
    ) -> SparkplugTarget:
        def part(key: str, default: str) -> str:
            if key in body:
                where, raw = f"{path}.{key}", body[key]
            elif key in context:
                where, raw = context[key]
            else:
                where, raw = f"sparkplug.{key}", default
            text = self.fill(self.r.string(raw, where), where, vars_, allow_empty=key == "device")
            if text and not SPARKPLUG_ID.match(text):
                raise self.fail(
                    where, f"a Sparkplug id has no /, +, # or control characters: {text!r}"
                )
            if not text and key != "device":
                raise self.fail(where, "must not be empty")
            return text

        metric = self.fill(
            self.r.string(body.get("metric", "{property}"), f"{path}.metric"),
            f"{path}.metric" if "metric" in body else path,
            vars_,
        )
        if not 0 < len(metric) <= MAX_NAME_CHARS:
            raise self.fail(f"{path}.metric", "a metric name is 1 to 256 characters")
        device = part("device", opts.device)
        return SparkplugTarget(
            part("group", opts.group), part("edge_node", opts.edge_node), device or None, metric
        )
