"""From what a source offers to a first mapping file: ``xrclient gateway discover``.

The connectors' discovery (``discover_opcua``, ``discover_mqtt``) lists the points a source
has as :class:`~xrclient.gateway.discovered.Found` items. :func:`match` pairs each with a
scene machine and a property, and only where the names say so: a point belongs to a
machine when one of the names above it is the machine's id or name (compared without case,
spaces or punctuation); its property is its own name in lower-case snake case. Nothing is
guessed: every point that names no machine, or whose property clashes with another's kind,
is listed in :attr:`Discovery.unmatched` with the reason.

:func:`render` writes the mapping. Where every machine of a type has the same point under
the same address pattern (its id, name or line replaced by ``{machine}``, ``{name}``,
``{line}``), that feed becomes one template entry; the rest are per-machine entries.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import rtoml

from xrclient.core.twin_schema import PROPERTY_NAME
from xrclient.gateway.discovered import Found
from xrclient.gateway.mapping import RESERVED_PROPERTIES, SourceKind
from xrclient.scene.model import Machine, Scene

_PLACEHOLDER_KEYS = ("machine", "name", "line")


def normalise(text: str) -> str:
    """What two names have in common when they name the same thing."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def property_name(leaf: str) -> str | None:
    """A point's name as a twin property name (``SpindleSpeed`` -> ``spindle_speed``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", leaf.strip())
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if text and text[0].isdigit():
        text = f"p_{text}"
    text = text[:64]
    return text if PROPERTY_NAME.match(text) and text not in RESERVED_PROPERTIES else None


@dataclass(frozen=True, slots=True)
class Matched:
    machine: int
    prop: str
    found: Found


@dataclass
class Discovery:
    kind: SourceKind
    matched: list[Matched] = field(default_factory=list)
    unmatched: list[tuple[Found, str]] = field(default_factory=list)
    properties: dict[str, Found] = field(default_factory=dict)  # property -> first point
    namespaces: dict[str, str] = field(default_factory=dict)

    def machines(self) -> set[int]:
        return {m.machine for m in self.matched}


def match(found: Iterable[Found], scene: Scene, kind: SourceKind) -> Discovery:
    """Pair points with machines and properties (see the module docstring)."""
    by_name: dict[str, int] = {}
    for i, m in enumerate(scene.machines):
        by_name.setdefault(normalise(m.id), i)
        by_name.setdefault(normalise(m.name), i)
    out = Discovery(kind)
    taken: dict[tuple[int, str], Found] = {}
    for point in found:
        machine = next(
            (by_name[k] for k in map(normalise, reversed(point.names)) if k in by_name), None
        )
        if machine is None:
            out.unmatched.append((point, "no scene machine among the names above it"))
            continue
        prop = property_name(point.leaf)
        if prop is None:
            out.unmatched.append((point, "its name makes no property name"))
            continue
        first = out.properties.get(prop)
        if first is not None and (first.kind, first.unit) != (point.kind, point.unit):
            out.unmatched.append(
                (point, f"{prop} is already a {first.kind} in {first.unit or 'no unit'}")
            )
            continue
        if (machine, prop) in taken:
            out.unmatched.append((point, f"{scene.machines[machine].id}.{prop} is mapped already"))
            continue
        taken[(machine, prop)] = point
        out.properties.setdefault(prop, point)
        for alias, uri in point.namespaces.items():
            if out.namespaces.setdefault(alias, uri) != uri:
                out.unmatched.append((point, f"namespace alias {alias} names two URIs"))
                break
        else:
            out.matched.append(Matched(machine, prop, point))
    return out


def _pattern(value: object, machine: Machine) -> object:
    """A feed value with the machine's id, name and line as placeholders."""
    if not isinstance(value, str):
        return value
    words = {"machine": machine.id, "name": machine.name, "line": machine.line}
    for key in _PLACEHOLDER_KEYS:
        if value == words[key]:  # the whole value, even a one-letter line
            return "{" + key + "}"
    text = value.replace("{", "{{").replace("}", "}}")
    for key in _PLACEHOLDER_KEYS:
        word = words[key]
        if len(word) < 2:  # a one-letter line would replace letters of other words
            continue
        text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(word)}(?![0-9A-Za-z])", "{" + key + "}", text)
    return text


def render(found: Discovery, scene: Scene, source: str) -> str:
    """The mapping file of a discovery, with the unmatched points listed as comments."""
    doc: dict[str, object] = {"version": 1, "source": found.kind}
    props: dict[str, dict[str, object]] = {}
    for name, point in sorted(found.properties.items()):
        spec: dict[str, object] = {"kind": point.kind}
        if point.unit:
            spec["unit"] = point.unit
        if point.kind == "enum":
            spec["values"] = list(point.values)
        props[name] = spec
    doc["properties"] = props
    if found.kind == "opcua" and found.namespaces:
        doc["opcua"] = {"namespaces": dict(sorted(found.namespaces.items()))}
    per_type: dict[tuple[str, str], list[Matched]] = defaultdict(list)
    for m in found.matched:
        per_type[(scene.machines[m.machine].type, m.prop)].append(m)
    count: dict[str, int] = defaultdict(int)
    for machine in scene.machines:
        count[machine.type] += 1
    templates: dict[str, dict[str, object]] = {}
    machines: dict[str, dict[str, object]] = {}
    for (mtype, prop), items in sorted(per_type.items()):
        patterns = [
            {k: _pattern(v, scene.machines[m.machine]) for k, v in m.found.feed.items()}
            for m in items
        ]
        same = all(p == patterns[0] for p in patterns)
        if len(items) == count[mtype] and same and len(items) > 1:
            feeds = templates.setdefault(mtype, {"feeds": {}})["feeds"]
            assert isinstance(feeds, dict)
            feeds[prop] = patterns[0]
            continue
        for m in items:
            entry = machines.setdefault(scene.machines[m.machine].id, {"feeds": {}})["feeds"]
            assert isinstance(entry, dict)
            entry[prop] = {k: _escape(v) for k, v in m.found.feed.items()}
    if templates:
        doc["templates"] = templates
    if machines:
        doc["machines"] = machines
    head = [
        f"# Mapping discovered from {source} for {scene.plant.name} ({scene.source.name}).",
        f"# {len(found.matched)} points matched on {len(found.machines())} of "
        f"{len(scene.machines)} machines; {len(found.unmatched)} not matched (listed at the end).",
        "# Check units, scales and enum maps before use: docs/connectors.md.",
        "",
    ]
    tail = _unmatched_comments(found.unmatched)
    return (
        "\n".join(head) + rtoml.dumps(doc, pretty=True) + ("\n" + "\n".join(tail) if tail else "")
    )


def _escape(value: object) -> object:
    return value.replace("{", "{{").replace("}", "}}") if isinstance(value, str) else value


def _unmatched_comments(unmatched: Sequence[tuple[Found, str]], limit: int = 2000) -> list[str]:
    if not unmatched:
        return []
    lines = [f"# Not matched ({len(unmatched)}):"]
    for point, why in unmatched[:limit]:
        where = "/".join([*point.names, point.leaf])
        lines.append(f"#   {_comment(where)}  ({why})")
    if len(unmatched) > limit:
        lines.append(f"#   ... and {len(unmatched) - limit} more")
    return lines


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)[:300]
