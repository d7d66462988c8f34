"""Browsing an OPC UA server's address space for data points (``xrclient gateway discover``).

:func:`browse_opcua` walks breadth-first from the Objects folder along hierarchical
references, in batched Browse calls (BrowseNext for continuation points), never into
namespace 0 (the server's own diagnostics), and stops after ``limit_nodes`` nodes, saying
so. Every scalar variable of a supported data type becomes a :class:`Found`: the names of
the objects above it, its browse name, its kind, its engineering unit (from an
``EngineeringUnits`` property) and enum values (from ``EnumStrings``), and the feed table
that maps it (its NodeId in the namespace-URI form). Browse results and texts are bounded.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from xrclient.core.twin_schema import ENUM_VALUE, MAX_ENUM_VALUES, PropKind
from xrclient.gateway.discovered import Found
from xrclient.gateway.opcua_client import connect, ua_node
from xrclient.gateway.opcua_security import OpcuaSecurity

__all__ = ["browse_opcua", "kind_of"]

#: nodes per Browse/Read call and references kept per node
BATCH = 500
MAX_REFERENCES_PER_NODE = 10_000
MAX_NAME_CHARS = 256
MAX_DEPTH = 64
_META = frozenset({"EngineeringUnits", "EnumStrings", "EURange", "InstrumentRange", "EnumValues"})
_KINDS: dict[int, PropKind] = {
    1: "bool",
    **{i: "number" for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 26, 27, 28, 50, 290)},
    12: "string",
    21: "string",
    13: "time",
    294: "time",
    29: "enum",
}


def kind_of(data_type: ua.NodeId, has_enum_strings: bool) -> PropKind | None:
    """The property kind of a variable's DataType (None: not a kind the twin carries)."""
    if has_enum_strings:
        return "enum"
    if data_type.NamespaceIndex != 0 or not isinstance(data_type.Identifier, int):
        return None
    return _KINDS.get(data_type.Identifier)


@dataclass(slots=True)
class _Var:
    node: ua.NodeId
    names: tuple[str, ...]
    leaf: str
    unit_node: ua.NodeId | None = None
    enum_node: ua.NodeId | None = None


def _text(value: object) -> str:
    if isinstance(value, ua.LocalizedText):
        value = value.Text
    return "" if value is None else str(value)[:MAX_NAME_CHARS]


async def _browse(
    client: Client, nodes: Sequence[ua.NodeId]
) -> list[list[ua.ReferenceDescription]]:
    params = ua.BrowseParameters()
    params.View = ua.ViewDescription()
    params.RequestedMaxReferencesPerNode = 1000
    params.NodesToBrowse = [
        ua.BrowseDescription(
            NodeId=n,
            BrowseDirection=ua.BrowseDirection.Forward,
            ReferenceTypeId=ua_node(ObjectIds.HierarchicalReferences),
            IncludeSubtypes=True,
            NodeClassMask=ua.NodeClass.Object | ua.NodeClass.Variable,
            ResultMask=ua.BrowseResultMask.All,
        )
        for n in nodes
    ]
    results = await client.uaclient.browse(params)
    out: list[list[ua.ReferenceDescription]] = []
    for result in results:
        refs = list(result.References or [])[:MAX_REFERENCES_PER_NODE]
        point = result.ContinuationPoint
        while point and len(refs) < MAX_REFERENCES_PER_NODE:
            more = ua.BrowseNextParameters(
                ReleaseContinuationPoints=False, ContinuationPoints=[point]
            )
            (next_result,) = await client.uaclient.browse_next(more)
            refs.extend((next_result.References or [])[: MAX_REFERENCES_PER_NODE - len(refs)])
            point = next_result.ContinuationPoint
        if point:
            with contextlib.suppress(Exception):
                await client.uaclient.browse_next(
                    ua.BrowseNextParameters(
                        ReleaseContinuationPoints=True, ContinuationPoints=[point]
                    )
                )
        out.append(refs)
    return out


async def _read(
    client: Client, nodes: Sequence[ua.NodeId], attr: AttributeIds
) -> list[ua.DataValue]:
    values: list[ua.DataValue] = []
    for i in range(0, len(nodes), BATCH):
        values += await client.uaclient.read_attributes(list(nodes[i : i + BATCH]), attr)
    return values


async def browse_opcua(
    url: str,
    security: OpcuaSecurity,
    *,
    limit_nodes: int = 200_000,
    progress: Callable[[str], None] | None = None,
) -> list[Found]:
    """The data points of the server at ``url`` (see the module docstring)."""
    client, _ = await connect(url, security)
    try:
        return await _walk(client, limit_nodes, progress)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def _walk(
    client: Client, limit_nodes: int, progress: Callable[[str], None] | None
) -> list[Found]:
    array = await client.get_namespace_array()
    objects = ua_node(ObjectIds.ObjectsFolder)
    queue: deque[tuple[ua.NodeId, tuple[str, ...], _Var | None]] = deque([(objects, (), None)])
    seen = {objects}
    variables: list[_Var] = []
    truncated = False
    while queue:
        batch = [queue.popleft() for _ in range(min(BATCH, len(queue)))]
        results = await _browse(client, [node for node, _, _ in batch])
        for (_, names, parent_var), refs in zip(batch, results, strict=True):
            for ref in refs:
                node = ua.NodeId(
                    ref.NodeId.Identifier, ref.NodeId.NamespaceIndex, ref.NodeId.NodeIdType
                )
                if node.NamespaceIndex == 0 or node in seen:
                    continue
                if len(seen) >= limit_nodes:
                    truncated = True
                    break
                seen.add(node)
                browse = _text(ref.BrowseName.Name)
                if parent_var is not None:  # a property of a variable
                    if browse == "EngineeringUnits":
                        parent_var.unit_node = node
                    elif browse == "EnumStrings":
                        parent_var.enum_node = node
                    continue
                if ref.NodeClass == ua.NodeClass.Variable:
                    if browse in _META:
                        continue
                    var = _Var(node, names, browse)
                    variables.append(var)
                    if len(names) < MAX_DEPTH:
                        queue.append((node, names, var))
                elif len(names) < MAX_DEPTH:
                    display = _text(ref.DisplayName) or browse
                    queue.append((node, (*names, display), None))
            if truncated:
                break
        if truncated:
            queue.clear()
        if progress is not None:
            progress(f"browsed {len(seen):,} nodes, {len(variables):,} variables")
    if truncated and progress is not None:
        progress(f"stopped browsing at {limit_nodes:,} nodes; the address space is larger")
    return await _describe(client, variables, array)


async def _describe(client: Client, variables: list[_Var], array: list[str]) -> list[Found]:
    nodes = [v.node for v in variables]
    types = await _read(client, nodes, AttributeIds.DataType)
    ranks = await _read(client, nodes, AttributeIds.ValueRank)
    with_units = [v for v in variables if v.unit_node is not None]
    with_enums = [v for v in variables if v.enum_node is not None]
    units = await _read(
        client, [v.unit_node for v in with_units if v.unit_node], AttributeIds.Value
    )
    enums = await _read(
        client, [v.enum_node for v in with_enums if v.enum_node], AttributeIds.Value
    )
    unit_of = {id(v): _unit(dv) for v, dv in zip(with_units, units, strict=True)}
    enum_of = {id(v): _enum_values(dv) for v, dv in zip(with_enums, enums, strict=True)}
    found: list[Found] = []
    for var, dtype, rank in zip(variables, types, ranks, strict=True):
        data_type = dtype.Value.Value if dtype.Value is not None else None
        value_rank = rank.Value.Value if rank.Value is not None else -1
        if not isinstance(data_type, ua.NodeId) or value_rank not in (-1, -2, None):
            continue
        values = enum_of.get(id(var), ())
        kind = kind_of(data_type, bool(values))
        if kind is None:
            continue
        uri = array[var.node.NamespaceIndex] if var.node.NamespaceIndex < len(array) else ""
        ident = var.node.to_string().split(";", 1)[-1]
        found.append(
            Found(
                names=var.names,
                leaf=var.leaf,
                kind=kind,
                unit=unit_of.get(id(var), ""),
                feed={"node": f"nsu={uri};{ident}"},
                values=values,
            )
        )
    return found


def _unit(dv: ua.DataValue) -> str:
    value = dv.Value.Value if dv.Value is not None else None
    if isinstance(value, ua.EUInformation):
        return _text(value.DisplayName)[:32]
    return ""


def _enum_values(dv: ua.DataValue) -> tuple[str, ...]:
    value = dv.Value.Value if dv.Value is not None else None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ENUM_VALUES:
        return ()
    names = tuple(_text(v) for v in value)
    if not all(ENUM_VALUE.match(n) for n in names) or len(set(names)) != len(names):
        return ()
    return names
