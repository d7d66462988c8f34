"""The plant simulator served as a real OPC UA server (demos, tests, benchmarks).

Address space, in namespace ``urn:xrclient:sim:<plant slug>``::

    Objects/Plant                      (object, NodeId s=Plant)
      <machine id>                     (object, DisplayName = machine name, s=<id>)
        <property name>                (variable, s=<id>.<property>)

one variable per property the machine's type has: numbers as Double with an
``EngineeringUnits`` (EUInformation) property when the property has a unit, bools as
Boolean, strings as String, enums as String holding the enum value name (e.g. ``RUNNING``),
times as DateTime.

:meth:`SimOpcuaServer.update` steps the simulator and writes the changed cells, with the
simulator's change time as SourceTimestamp, straight into the address space (no service
round trip). Security: ``None`` plus Basic256Sha256 Sign and SignAndEncrypt with a
self-signed certificate kept in ``pki_dir`` (made on first start); with ``users`` the
server accepts only those user names and passwords (anonymous sessions are refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.internal_server import InternalServer
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes

from xrclient.gateway.opcua_client import ua_node, ua_time
from xrclient.gateway.opcua_security import ensure_certificate
from xrclient.scene.model import Scene
from xrclient.server.simulator import PlantSimulator

__all__ = ["SimOpcuaServer", "namespace_uri", "node_id"]


def namespace_uri(plant_name: str) -> str:
    """``urn:xrclient:sim:<slug of the plant name>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", plant_name.lower()).strip("-") or "plant"
    return f"urn:xrclient:sim:{slug}"


def node_id(uri: str, machine: str, prop: str | None = None) -> str:
    """The NodeId string (namespace-URI form) of a machine object or one of its variables."""
    ident = machine if prop is None else f"{machine}.{prop}"
    return f"nsu={uri};s={ident}"


def _name(name: str, namespace: int) -> ua.QualifiedName:
    return ua.QualifiedName(ua.String(name), ua.UInt16(namespace))


_NO_DATA = ua.StatusCode(ua.UInt32(StatusCodes.BadNoData))


_TYPES = {
    "number": ObjectIds.Double,
    "bool": ObjectIds.Boolean,
    "string": ObjectIds.String,
    "enum": ObjectIds.String,
    "time": ObjectIds.DateTime,
}


def _object(
    parent: ua.NodeId, node: ua.NodeId, browse: str, display: str, idx: int, ref: int
) -> ua.AddNodesItem:
    attrs = ua.ObjectAttributes(
        DisplayName=ua.LocalizedText(display), Description=ua.LocalizedText(display)
    )
    return ua.AddNodesItem(
        ParentNodeId=parent,
        ReferenceTypeId=ua_node(ref),
        RequestedNewNodeId=node,
        BrowseName=_name(browse, idx),
        NodeClass=ua.NodeClass.Object,
        NodeAttributes=attrs,
        TypeDefinition=ua_node(ObjectIds.BaseObjectType),
    )


def _variable(
    parent: ua.NodeId,
    node: ua.NodeId,
    name: ua.QualifiedName,
    value: ua.Variant,
    data_type: int,
    *,
    prop: bool = False,
) -> ua.AddNodesItem:
    read = ua.Byte(ua.AccessLevel.CurrentRead.mask)
    attrs = ua.VariableAttributes(
        DisplayName=ua.LocalizedText(name.Name),
        Description=ua.LocalizedText(name.Name),
        Value=value,
        DataType=ua_node(data_type),
        ValueRank=ua.Int32(ua.ValueRank.Scalar),
        AccessLevel=read,
        UserAccessLevel=read,
    )
    return ua.AddNodesItem(
        ParentNodeId=parent,
        ReferenceTypeId=ua_node(ObjectIds.HasProperty if prop else ObjectIds.HasComponent),
        RequestedNewNodeId=node,
        BrowseName=name,
        NodeClass=ua.NodeClass.Variable,
        NodeAttributes=attrs,
        TypeDefinition=ua_node(ObjectIds.PropertyType if prop else ObjectIds.BaseDataVariableType),
    )


class _Written(ua.DataValue):
    """A DataValue this server made and never changes: the server's monitored items copy
    each value they see (``copy.deepcopy``, the most costly step of a write); sharing it
    instead is safe and makes a write several times cheaper."""

    def __deepcopy__(self, memo: dict[int, object]) -> _Written:
        return self


class _Users(UserManager):
    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)

    def get_user(
        self,
        iserver: InternalServer,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username is None or password is None:
            return None
        expected = self._users.get(username)
        if expected is None or expected != password:
            return None
        return User(role=UserRole.User, name=username)


class SimOpcuaServer:
    """Serves a :class:`PlantSimulator` over OPC UA (see the module docstring)."""

    def __init__(
        self,
        sim: PlantSimulator,
        scene: Scene,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pki_dir: Path | None = None,
        users: Mapping[str, str] | None = None,
        secure_only: bool = False,
        tick_s: float | None = None,
        time_offset_s: float = 0.0,
    ) -> None:
        self.sim = sim
        self.scene = scene
        self.host = host
        self._port = port
        self.pki_dir = pki_dir
        self.users = dict(users) if users else None
        self.secure_only = secure_only
        self.uri = namespace_uri(scene.plant.name)
        self._server: Server | None = None
        #: (machine, property) -> NodeId of each variable, and its value encoder
        self._nodes: dict[tuple[int, int], ua.NodeId] = {}
        self._kinds = tuple(spec.kind for spec in sim.schema.properties)
        self.writes = 0
        #: with ``tick_s`` the server steps the simulator itself every ``tick_s`` seconds
        self.tick_s = tick_s
        #: while set, the ticking server does not step the simulator
        self.paused = False
        self._ticker: asyncio.Task[None] | None = None
        #: the simulator runs this far ahead of the wall clock (a benchmark at night can
        #: simulate the day shift); written source timestamps are wall-clock times
        self.time_offset_s = time_offset_s

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self._port}/xrclient/sim"

    @property
    def certificate(self) -> Path | None:
        """Our certificate (DER), once made."""
        return None if self.pki_dir is None else self.pki_dir / "own" / "cert.der"

    def _variant(self, m: int, p: int, v: float) -> ua.Variant:
        kind = self._kinds[p]
        if kind == "number":
            return ua.Variant(float(v), ua.VariantType.Double)
        if kind == "bool":
            return ua.Variant(bool(v), ua.VariantType.Boolean)
        if kind == "time":
            return ua.Variant(ua_time(float(v)), ua.VariantType.DateTime)
        if kind == "enum":
            names = self.sim.schema.properties[p].values
            return ua.Variant(names[int(v)], ua.VariantType.String)
        return ua.Variant(self.sim.text(m, p) or "", ua.VariantType.String)

    async def start(self) -> None:
        if self._port == 0:
            with socket.socket() as s:
                s.bind((self.host, 0))
                self._port = s.getsockname()[1]
        server = Server(user_manager=_Users(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name(f"xrclient simulator: {self.scene.plant.name}")
        policies = [] if self.secure_only else [ua.SecurityPolicyType.NoSecurity]
        if self.pki_dir is not None:
            app_uri = f"urn:xrclient:sim:{socket.gethostname()}"
            await server.set_application_uri(app_uri)
            cert, key = ensure_certificate(self.pki_dir / "own", app_uri, server=True)
            await server.load_certificate(str(cert))
            await server.load_private_key(str(key))
            policies += [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        server.set_security_policy(policies)
        if self.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        idx = await server.register_namespace(self.uri)
        await self._build(server, idx)
        await server.start()
        self._server = server
        await self.write_all()
        if self.tick_s is not None:
            self._ticker = asyncio.create_task(self._tick(self.tick_s))

    async def _tick(self, period: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if not self.paused:
                await self.update(time.time())

    async def _build(self, server: Server, idx: int) -> None:
        """Add the plant's nodes in batches straight to the address space (one AddNodes
        item per node; node by node through the high-level API is ten times slower)."""
        sim = self.sim
        objects = ua_node(ObjectIds.ObjectsFolder)
        plant = ua_node("Plant", idx)
        items = [_object(objects, plant, "Plant", "Plant", idx, ObjectIds.Organizes)]
        names = {m.id: m.name for m in self.scene.machines}
        present = ~np.isnan(sim.source_time)
        for m, mid in enumerate(sim.schema.machines):
            obj = ua_node(mid, idx)
            items.append(_object(plant, obj, mid, names.get(mid, mid), idx, ObjectIds.HasComponent))
            for p, spec in enumerate(sim.schema.properties):
                if not present[m, p]:
                    continue
                var = ua_node(f"{mid}.{spec.name}", idx)
                value = self._variant(m, p, sim.values[m, p])
                items.append(_variable(obj, var, _name(spec.name, idx), value, _TYPES[spec.kind]))
                if spec.kind == "number" and spec.unit:
                    eu = ua.EUInformation(
                        NamespaceUri=ua.String("http://www.opcfoundation.org/UA/units/un/cefact"),
                        UnitId=ua.Int32(-1),
                        DisplayName=ua.LocalizedText(spec.unit),
                        Description=ua.LocalizedText(spec.unit),
                    )
                    items.append(
                        _variable(
                            var,
                            ua_node(f"{mid}.{spec.name}.EngineeringUnits", idx),
                            _name("EngineeringUnits", 0),
                            ua.Variant(eu),
                            ObjectIds.EUInformation,
                            prop=True,
                        )
                    )
                self._nodes[(m, p)] = var
        session = server.iserver.isession
        for i in range(0, len(items), 5000):
            for result in await session.add_nodes(items[i : i + 5000]):
                result.StatusCode.check()

    async def update(self, now: float) -> int:
        """Step the simulator to ``now`` and write the changed cells; returns how many."""
        server = self._server
        if server is None:
            raise RuntimeError("not started")
        changed = self.sim.step(now + self.time_offset_s)
        return await self._write_cells(server, changed)

    async def _write_cells(
        self, server: Server, changed: np.ndarray[Any, np.dtype[np.bool_]]
    ) -> int:
        aspace = server.iserver.aspace
        values, times = self.sim.values, self.sim.source_time
        rows, cols = np.nonzero(changed)
        n = 0
        stamp = ua_time(time.time())
        offset = self.time_offset_s
        for m, p in zip(rows.tolist(), cols.tolist(), strict=True):
            nid = self._nodes.get((m, p))
            if nid is None:
                continue
            v, t = values[m, p], times[m, p]
            if np.isnan(v):
                dv = _Written(
                    StatusCode=_NO_DATA,
                    SourceTimestamp=stamp,
                    ServerTimestamp=stamp,
                )
            else:
                dv = _Written(
                    self._variant(m, p, v),
                    SourceTimestamp=ua_time(float(t) - offset) if np.isfinite(t) else stamp,
                    ServerTimestamp=stamp,
                )
            await aspace.write_attribute_value(nid, AttributeIds.Value, dv)
            n += 1
        self.writes += n
        return n

    async def write(self, changed: np.ndarray[Any, np.dtype[np.bool_]]) -> int:
        """Write the simulator's current value of the ``changed`` cells (for a caller that
        changes ``sim.values`` itself, e.g. a load test); returns how many were written."""
        if self._server is None:
            raise RuntimeError("not started")
        return await self._write_cells(self._server, changed)

    async def write_all(self) -> int:
        """Write every cell again (after a restart, so the values carry their source times)."""
        if self._server is None:
            raise RuntimeError("not started")
        return await self._write_cells(self._server, ~np.isnan(self.sim.source_time))

    async def stop(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
            await asyncio.sleep(0)
