"""The OPC UA connector against real asyncua servers on loopback: values reach a real twin
client, outages are visible and healed, security and trust, setup errors, odd nodes,
browsing."""

from __future__ import annotations

import asyncio
import datetime
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.server.server import Server
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes

from tests.net.proxy import FaultyProxy
from xrclient.core.twin_schema import PropertySpec
from xrclient.core.twin_store import TwinStore
from xrclient.gateway.discover_opcua import browse_opcua
from xrclient.gateway.mapping import Deadband, Feed, Mapping, OpcuaOptions, OpcuaTarget
from xrclient.gateway.opcua_client import OpcuaConnector, ua_node, ua_time
from xrclient.gateway.opcua_security import (
    OpcuaError,
    OpcuaSecurity,
    thumbprint,
)
from xrclient.gateway.opcua_server import namespace_uri
from xrclient.gateway.source import GatewaySource
from xrclient.net.twin_client import Backoff, TwinClient
from xrclient.server.simulator import PlantSimulator

from .opcua_fixtures import (
    NO_SECURITY,
    OpcuaThread,
    running_gateway,
    sim_mapping,
    source_matches_sim,
    store_matches_source,
    synthetic_scene,
    wait_until,
)

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.3)


def drain(store: TwinStore, client: TwinClient) -> None:
    for batch in client.queue.drain():
        store.apply(batch, time.time())


def make_sim(n: int = 6) -> tuple[PlantSimulator, object]:
    scene = synthetic_scene(n)
    return PlantSimulator(scene, seed=3, start=time.time(), fault_rate_per_hour=0.0), scene


def test_values_reach_the_twin_client_and_an_outage_is_visible_and_healed() -> None:
    sim, scene = make_sim(6)
    opc = OpcuaThread(sim, scene, tick_s=0.1)  # type: ignore[arg-type]  # a Scene
    opc.start()
    try:
        uri = namespace_uri("Test Plant")
        mapping = sim_mapping(sim, uri)
        with running_gateway(opc.opc_url, mapping, NO_SECURITY) as gw:
            store = TwinStore(mapping.machines)
            with TwinClient(gw.ws_url, backoff=FAST) as client:
                wait_until(lambda: client.status.state == "live", 10, "live stream")
                time.sleep(0.5)  # changes flow through both hops
                opc.pause()
                values, texts = opc.values()

                def converged() -> bool:
                    drain(store, client)
                    return bool(
                        gw.read(lambda s: source_matches_sim(s, values, texts))
                        and gw.read(lambda s: store_matches_source(store, s))
                    )

                wait_until(converged, 10, "simulator == gateway == client store")
                assert gw.read(lambda s: s.stats.connected)
                assert gw.read(lambda s: s.stats.rejected) == {}
                quality = store.column("quality")
                assert quality is not None and np.all(quality == 0)  # GOOD
                assert gw.connector.publishing_ms == pytest.approx(50.0)

                # kill the OPC UA server: every machine goes OFFLINE, in the client too
                opc.stop()
                wait_until(lambda: not gw.read(lambda s: s.stats.connected), 10, "disconnect")

                def offline() -> bool:
                    drain(store, client)
                    q = store.column("quality")
                    return q is not None and bool(np.all(q == 3))

                wait_until(offline, 10, "quality OFFLINE in the client")
                # the plant goes on while the gateway cannot see it
                for k in range(5):
                    sim.step(time.time() + 0.2 * k)
                opc.start()  # the same port
                opc.pause()
                values, texts = opc.values()

                def healed() -> bool:
                    drain(store, client)
                    q = store.column("quality")
                    return bool(
                        q is not None
                        and np.all(q == 0)
                        and gw.read(lambda s: source_matches_sim(s, values, texts))
                        and gw.read(lambda s: store_matches_source(store, s))
                    )

                wait_until(healed, 20, "values after the restart")
                assert gw.read(lambda s: s.stats.reconnects) >= 1
                assert gw.read(lambda s: s.stats.connected)
    finally:
        opc.close()


def test_a_server_gone_silent_fails_the_keep_alive_and_is_reconnected() -> None:
    sim, scene = make_sim(3)
    opc = OpcuaThread(sim, scene, tick_s=0.1)  # type: ignore[arg-type]  # a Scene
    opc.start()
    proxy = FaultyProxy(opc.last_port)
    try:
        mapping = sim_mapping(sim, namespace_uri("Test Plant"))
        url = f"opc.tcp://127.0.0.1:{proxy.port}/xrclient/sim"
        with running_gateway(url, mapping, NO_SECURITY, keepalive_s=0.5) as gw:
            wait_until(lambda: gw.read(lambda s: s.stats.connected), 10, "connected")
            proxy.stall(True)  # the socket stays open, nothing comes back
            started = time.monotonic()
            wait_until(lambda: not gw.read(lambda s: s.stats.connected), 10, "keep-alive failure")
            assert time.monotonic() - started < 5
            assert gw.read(lambda s: bool(s.offline.all()))
            proxy.stall(False)
            wait_until(lambda: gw.read(lambda s: s.stats.connected), 20, "reconnected")
            opc.pause()
            values, texts = opc.values()
            wait_until(
                lambda: gw.read(lambda s: source_matches_sim(s, values, texts)), 10, "values"
            )
            assert gw.read(lambda s: s.stats.reconnects) >= 1
    finally:
        proxy.close()
        opc.close()


def test_missing_nodes_and_namespaces_are_one_error_naming_each_key() -> None:
    sim, scene = make_sim(2)
    opc = OpcuaThread(sim, scene)  # type: ignore[arg-type]  # a Scene
    opc.start()
    try:
        uri = namespace_uri("Test Plant")
        good = sim_mapping(sim, uri)
        props = good.properties
        temp = next(i for i, p in enumerate(props) if p.name == "state")
        bad = (
            Feed(0, 0, temp, "machines.M-0000.state", OpcuaTarget(f"nsu={uri};s=Nowhere")),
            Feed(
                1,
                1,
                temp,
                "templates.lathe.state",
                OpcuaTarget(None, ((uri, "Plant"), (uri, "M-0001"), (uri, "nope"))),
            ),
            Feed(2, 1, temp, "machines.M-0001.x", OpcuaTarget("nsu=urn:unknown;s=A")),
        )
        mapping = Mapping("plant.toml", "opcua", props, good.machines, bad, good.opcua)
        source = GatewaySource(mapping)

        async def run() -> None:
            await OpcuaConnector(opc.opc_url, mapping, source, NO_SECURITY, timeout_s=3).run()

        with pytest.raises(OpcuaError) as info:
            asyncio.run(asyncio.wait_for(run(), 20))
        text = str(info.value)
        assert "plant.toml: 3 mapped node(s)" in text
        assert "machines.M-0000.state (machine M-0000" in text and "no such" in text
        assert "templates.lathe.state (machine M-0001" in text
        assert "machines.M-0001.x" in text and "no namespace urn:unknown" in text
    finally:
        opc.close()


# ---- a hand-built server with odd nodes --------------------------------------------------

ODD_URI = "urn:test:odd"


@asynccontextmanager
async def odd_server(limit_tree: int = 0) -> AsyncIterator[tuple[Server, dict[str, ua.NodeId]]]:
    server = Server()
    await server.init()
    server.set_endpoint("opc.tcp://127.0.0.1:0/odd")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(ODD_URI)
    objects = server.nodes.objects
    box = await objects.add_object(
        ua_node("Box", idx), ua.QualifiedName(ua.String("Box"), ua.UInt16(idx))
    )
    nodes: dict[str, ua.NodeId] = {}

    async def var(name: str, value: object, vtype: ua.VariantType) -> ua.NodeId:
        node = await box.add_variable(
            ua_node(name, idx),
            ua.QualifiedName(ua.String(name), ua.UInt16(idx)),
            ua.Variant(value, vtype),
        )
        nodes[name] = node.nodeid
        return node.nodeid

    await var("good", 1.5, ua.VariantType.Double)
    await var("int", 7, ua.VariantType.Int32)
    await var("text", "hello", ua.VariantType.String)
    await var("flag", True, ua.VariantType.Boolean)
    await var("when", datetime.datetime(2025, 1, 2, tzinfo=datetime.UTC), ua.VariantType.DateTime)
    await var("label", ua.LocalizedText("ON"), ua.VariantType.LocalizedText)
    await var("bad", 2.0, ua.VariantType.Double)
    await var("huge", "x" * 1_000_000, ua.VariantType.String)
    mode = await box.add_variable(
        ua_node("mode", idx), ua.QualifiedName(ua.String("mode"), ua.UInt16(idx)), 1
    )
    await mode.add_property(
        ua_node("mode.EnumStrings", idx),
        ua.QualifiedName(ua.String("EnumStrings"), ua.UInt16(0)),
        [ua.LocalizedText("OFF"), ua.LocalizedText("ON")],
    )
    await var("uncertain", 3.0, ua.VariantType.Double)
    # declared BaseDataType (any type), holding text: fits no number at runtime
    anything = await box.add_variable(
        ua_node("any", idx),
        ua.QualifiedName(ua.String("any"), ua.UInt16(idx)),
        ua.Variant("not a number", ua.VariantType.String),
        datatype=ua_node(ObjectIds.BaseDataType),
    )
    nodes["any"] = anything.nodeid
    if limit_tree:
        top = await objects.add_folder(
            ua_node("Tree", idx), ua.QualifiedName(ua.String("Tree"), ua.UInt16(idx))
        )
        for i in range(limit_tree):
            folder = await top.add_folder(
                ua_node(f"F{i}", idx), ua.QualifiedName(ua.String(f"F{i}"), ua.UInt16(idx))
            )
            await folder.add_variable(
                ua_node(f"F{i}.v", idx), ua.QualifiedName(ua.String("v"), ua.UInt16(idx)), float(i)
            )
    async with server:
        now = ua_time(time.time())
        await server.write_attribute_value(
            nodes["bad"],
            ua.DataValue(
                StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.BadSensorFailure)),
                SourceTimestamp=now,
            ),
        )
        await server.write_attribute_value(
            nodes["uncertain"],
            ua.DataValue(
                ua.Variant(3.0, ua.VariantType.Double),
                StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.UncertainLastUsableValue)),
                SourceTimestamp=now,
            ),
        )
        yield server, nodes


def _url(server: Server) -> str:
    port = server.bserver.port if server.bserver is not None else 0
    return f"opc.tcp://127.0.0.1:{port}/odd"


def _odd_mapping(names: list[tuple[str, PropertySpec]], file: str = "odd.toml") -> Mapping:
    props = tuple(spec for _, spec in names)
    feeds = tuple(
        Feed(i, 0, i, f"machines.X.{spec.name}", OpcuaTarget(f"nsu={ODD_URI};s={node}"))
        for i, (node, spec) in enumerate(names)
    )
    return Mapping(file, "opcua", props, ("X",), feeds, OpcuaOptions(publishing_ms=50))


async def _run_until(connector: OpcuaConnector, done: object, timeout: float = 10.0) -> None:
    task = asyncio.ensure_future(connector.run())
    deadline = time.monotonic() + timeout
    try:
        while not done() and time.monotonic() < deadline:  # type: ignore[operator]  # a predicate
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    finally:
        connector.close()
        await asyncio.wait_for(task, 5)


def test_odd_nodes_kinds_status_codes_and_wrong_runtime_types() -> None:
    async def scenario() -> None:
        async with odd_server() as (server, _):
            mapping = _odd_mapping(
                [
                    ("good", PropertySpec("good", "number", "°C")),
                    ("int", PropertySpec("count", "number")),
                    ("text", PropertySpec("text", "string")),
                    ("flag", PropertySpec("flag", "bool")),
                    ("when", PropertySpec("when", "time")),
                    ("label", PropertySpec("label", "enum", values=("OFF", "ON"))),
                    ("bad", PropertySpec("bad", "number")),
                    ("uncertain", PropertySpec("uncertain", "number")),
                    ("any", PropertySpec("anything", "number")),
                    ("huge", PropertySpec("huge", "string")),
                ]
            )
            source = GatewaySource(mapping)
            connector = OpcuaConnector(_url(server), mapping, source, NO_SECURITY, timeout_s=3)

            def done() -> bool:  # the read and the first notification of each node
                return source.stats.received >= 20

            await _run_until(connector, done, 10)
            source.step(time.time())
            v = source.values[0]
            assert v[0] == 1.5 and v[1] == 7.0 and source.text(0, 2) == "hello"
            assert v[3] == 1.0 and v[5] == 1.0
            assert v[4] == datetime.datetime(2025, 1, 2, tzinfo=datetime.UTC).timestamp()
            assert np.isnan(v[6])  # BAD: never shown as a value
            assert v[7] == 3.0
            assert source.quality(0) == "OFFLINE"  # the connector stopped
            # the text where a number belongs: refused (read and notification), never stored
            # so is a megabyte of text
            assert source.stats.rejected == {"not a number": 2, "value too long": 2}
            assert np.isnan(v[8]) and np.isnan(v[9])

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_bad_and_uncertain_quality_reach_the_quality_note() -> None:
    async def scenario() -> None:
        async with odd_server() as (server, _):
            mapping = _odd_mapping(
                [
                    ("good", PropertySpec("good", "number")),
                    ("uncertain", PropertySpec("uncertain", "number")),
                ]
            )
            source = GatewaySource(mapping)
            connector = OpcuaConnector(_url(server), mapping, source, NO_SECURITY, timeout_s=3)
            seen: list[tuple[str, str | None]] = []

            def check() -> bool:
                source.step(time.time())
                seen.append((source.quality(0), source.text(0, 3)))
                return source.quality(0) == "UNCERTAIN"

            await _run_until(connector, check, 10)
            quality, note = seen[-1]
            assert quality == "UNCERTAIN"
            assert note is not None and "uncertain" in note and "UncertainLastUsableValue" in note

            mapping = _odd_mapping([("bad", PropertySpec("bad", "number"))])
            source = GatewaySource(mapping)
            connector = OpcuaConnector(_url(server), mapping, source, NO_SECURITY, timeout_s=3)

            def bad() -> bool:
                source.step(time.time())
                return source.quality(0) == "BAD"

            await _run_until(connector, bad, 10)
            assert "BadSensorFailure" in (source.text(0, 2) or "")
            assert np.isnan(source.values[0, 0])

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_declared_data_types_that_do_not_fit_are_setup_errors() -> None:
    async def scenario() -> None:
        async with odd_server() as (server, _):
            mapping = _odd_mapping(
                [
                    ("text", PropertySpec("temperature_c", "number")),
                    ("good", PropertySpec("door_open", "bool")),
                    ("flag", PropertySpec("since", "time")),
                ]
            )
            source = GatewaySource(mapping)
            connector = OpcuaConnector(_url(server), mapping, source, NO_SECURITY, timeout_s=3)
            with pytest.raises(OpcuaError) as info:
                await connector.run()
            text = str(info.value)
            assert "3 mapped node(s)" in text
            assert "machines.X.temperature_c (machine X" in text and "String" in text
            assert "machines.X.door_open" in text and "Double" in text
            assert "machines.X.since" in text and "Boolean" in text

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_deadband_filters_small_changes() -> None:
    async def scenario() -> None:
        async with odd_server() as (server, nodes):
            props = (PropertySpec("good", "number"),)
            feed = Feed(
                0,
                0,
                0,
                "machines.X.good",
                OpcuaTarget(f"nsu={ODD_URI};s=good"),
                sampling_ms=0,
                deadband=Deadband("absolute", 1.0),
            )
            mapping = Mapping(
                "odd.toml", "opcua", props, ("X",), (feed,), OpcuaOptions(publishing_ms=50)
            )
            source = GatewaySource(mapping)
            connector = OpcuaConnector(_url(server), mapping, source, NO_SECURITY, timeout_s=3)
            node = server.get_node(nodes["good"])

            async def writes() -> None:
                await asyncio.sleep(0.6)
                for v in (1.6, 1.7, 1.8):  # all within the deadband of 1.5
                    await node.write_value(v)
                    await asyncio.sleep(0.1)
                await node.write_value(5.0)

            writer = asyncio.ensure_future(writes())
            await _run_until(connector, lambda: source.values[0, 0] == 5.0, 10)
            await writer
            # the read once + the initial notification + 5.0; never 1.6 .. 1.8
            assert source.stats.accepted <= 3

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_browse_finds_kinds_units_paths_and_is_bounded() -> None:
    async def scenario() -> None:
        async with odd_server(limit_tree=300) as (server, _):
            found = await browse_opcua(_url(server), NO_SECURITY)
            by_leaf = {(f.names[-1] if f.names else "", f.leaf): f for f in found}
            good = by_leaf[("Box", "good")]
            assert good.kind == "number" and good.feed == {"node": f"nsu={ODD_URI};s=good"}
            assert by_leaf[("Box", "flag")].kind == "bool"
            assert by_leaf[("Box", "when")].kind == "time"
            assert by_leaf[("Box", "label")].kind == "string"
            mode = by_leaf[("Box", "mode")]
            assert mode.kind == "enum" and mode.values == ("OFF", "ON")
            assert by_leaf[("Box", "int")].kind == "number"
            assert by_leaf[("F7", "v")].names == ("Tree", "F7")
            assert len([f for f in found if f.leaf == "v"]) == 300
            messages: list[str] = []
            few = await browse_opcua(
                _url(server), NO_SECURITY, limit_nodes=100, progress=messages.append
            )
            assert 0 < len(few) < 100
            assert any("stopped browsing at 100 nodes" in m for m in messages)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_browse_the_simulator_gives_units_and_feeds_that_map_it() -> None:
    sim, scene = make_sim(2)
    opc = OpcuaThread(sim, scene)  # type: ignore[arg-type]  # a Scene
    opc.start()
    try:
        found = asyncio.run(browse_opcua(opc.opc_url, NO_SECURITY))
        uri = namespace_uri("Test Plant")
        temp = [f for f in found if f.leaf == "power_kw"]
        assert len(temp) == 2
        assert temp[0].names == ("Plant", "Machine 0") and temp[0].unit == "kW"
        assert temp[0].feed == {"node": f"nsu={uri};s=M-0000.power_kw"}
        assert {f.kind for f in found if f.leaf == "state"} == {"string"}
        assert {f.kind for f in found if f.leaf == "last_maintenance"} == {"time"}
        present = int((~np.isnan(sim.source_time)).sum())
        assert len(found) == present
    finally:
        opc.close()


# ---- security ----------------------------------------------------------------------------


def test_untrusted_server_is_refused_then_trusted_with_sign_and_encrypt_and_a_user(
    tmp_path: Path,
) -> None:
    sim, scene = make_sim(2)
    server_pki = tmp_path / "server"
    opc = OpcuaThread(
        sim,
        scene,  # type: ignore[arg-type]  # a Scene
        pki_dir=server_pki,
        secure_only=True,
        users={"operator": "pa55-word"},
        tick_s=0.1,
    )
    opc.start()
    try:
        user_file = tmp_path / "user.txt"
        user_file.write_text("operator\npa55-word\n")
        user_file.chmod(0o600)
        pki = tmp_path / "gateway"
        security = OpcuaSecurity(
            policy="Basic256Sha256", mode="SignAndEncrypt", pki_dir=pki, user_file=user_file
        )
        mapping = sim_mapping(sim, namespace_uri("Test Plant"))
        source = GatewaySource(mapping)

        def attempt(sec: OpcuaSecurity) -> None:
            async def go() -> None:
                connector = OpcuaConnector(opc.opc_url, mapping, source, sec, timeout_s=3)
                await _run_until(connector, lambda: source.stats.connected, 15)

            asyncio.run(asyncio.wait_for(go(), 30))

        with pytest.raises(OpcuaError) as info:
            attempt(security)
        text = str(info.value)
        offered = (server_pki / "own" / "cert.der").read_bytes()
        print_ = thumbprint(offered)
        assert "not trusted" in text and print_ in text
        rejected = pki / "rejected" / f"{print_}.der"
        assert rejected.read_bytes() == offered
        assert f"{pki / 'trusted'}" in text
        assert "pa55-word" not in text
        assert (pki / "own" / "key.pem").stat().st_mode & 0o777 == 0o600
        assert not source.stats.connected

        (pki / "trusted").mkdir()
        shutil.move(str(rejected), str(pki / "trusted"))
        attempt(security)  # connects now
        assert source.stats.connected is False  # closed again at the end of the run
        assert source.stats.accepted > 0 and source.stats.rejected == {}

        # the strongest policy both offer is picked when none is named; Sign works too
        attempt(OpcuaSecurity(pki_dir=pki, user_file=user_file))
        attempt(OpcuaSecurity(mode="Sign", pki_dir=pki, user_file=user_file))
        with pytest.raises(OpcuaError, match="no endpoint with Aes256_Sha256_RsaPss"):
            attempt(OpcuaSecurity(policy="Aes256_Sha256_RsaPss", pki_dir=pki))

        # a wrong password is a clear error without the password in it
        wrong = tmp_path / "wrong.txt"
        wrong.write_text("operator\nnot-the-one\n")
        wrong.chmod(0o600)
        with pytest.raises(OpcuaError) as info:
            attempt(OpcuaSecurity(policy="Basic256Sha256", pki_dir=pki, user_file=wrong))
        assert "refused the session" in str(info.value)
        assert "not-the-one" not in str(info.value)

        # a server offering only secure endpoints refuses a client asking for none
        with pytest.raises(OpcuaError, match="no endpoint without security"):
            attempt(OpcuaSecurity(policy="None", pki_dir=pki))
    finally:
        opc.close()


def test_monitored_items_are_created_in_batches_the_server_allows() -> None:
    async def scenario() -> None:
        async with odd_server() as (server, _):
            limit = ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall
            await server.write_attribute_value(
                ua_node(limit), ua.DataValue(ua.Variant(3, ua.VariantType.UInt32))
            )
            batches: list[int] = []

            def created(event: ServerItemCallback, _dispatcher: object) -> None:
                batches.append(len(event.request_params.ItemsToCreate))

            server.subscribe_server_callback(CallbackType.ItemSubscriptionCreated, created)
            names = ["good", "int", "bad", "uncertain", "good", "int", "good", "int"]
            props = tuple(PropertySpec(f"p{i}", "number") for i in range(len(names)))
            feeds = tuple(
                Feed(i, 0, i, f"machines.X.p{i}", OpcuaTarget(f"nsu={ODD_URI};s={n}"))
                for i, n in enumerate(names)
            )
            mapping = Mapping("odd.toml", "opcua", props, ("X",), feeds, OpcuaOptions())
            source = GatewaySource(mapping)
            connector = OpcuaConnector(_url(server), mapping, source, NO_SECURITY, timeout_s=3)
            await _run_until(connector, lambda: source.stats.connected, 10)
            assert batches == [3, 3, 2]

    asyncio.run(asyncio.wait_for(scenario(), 30))
