"""``xrclient gateway`` and ``gateway discover``: one plant connection served as a twin stream.

:func:`serve_gateway` loads the scene and the mapping, builds the
:class:`~xrclient.gateway.source.GatewaySource`, serves it with the ordinary
:class:`~xrclient.server.twin_server.TwinServer` (snapshot, deltas, resync, tokens, rate
limits and the slow-client rules unchanged) and runs the connector the source URL names
beside it, on the same event loop, until SIGINT or SIGTERM. A status line reports the
connection's counts every ``status_every`` seconds. A connector that cannot go on (a mapped
node that does not exist, an untrusted server certificate) stops the gateway with its
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from xrclient.errors import XRClientError
from xrclient.gateway.mapping import Mapping, SourceKind, load_mapping
from xrclient.gateway.source import GatewaySource
from xrclient.scene.schema import load_scene
from xrclient.server.sim_service import serve_until_signal
from xrclient.server.twin_server import ServerConfig, TwinServer

Say = Callable[[str], None]


def scheme_kinds(url: str) -> tuple[SourceKind, ...]:
    """The mapping kinds a source URL can serve; raises for any other URL, and for one that
    carries a user name or password (those come from ``--user-file``, never a URL)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if "@" in parts.netloc:
        raise XRClientError(
            "a source URL carries no user name or password (anyone could read them in the "
            "process list): give them in a --user-file"
        )
    if scheme == "opc.tcp":
        return ("opcua",)
    if scheme in ("mqtt", "mqtts"):
        return ("mqtt", "sparkplug")
    raise XRClientError(
        f"unknown source {url[:200]!r}: expected opc.tcp://host:port[/path], mqtt://host[:port] "
        "or mqtts://host[:port]"
    )


def source_security(
    url: str,
    *,
    policy: str | None,
    mode: str,
    pki: Path | None,
    user_file: Path | None,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
) -> object:
    """The security settings of the connector ``url`` needs (flags of the other kind are
    refused, so a user never believes a flag applied that did not)."""
    kinds = scheme_kinds(url)
    if kinds == ("opcua",):
        if ca_file or cert_file or key_file:
            raise XRClientError("--ca-file, --cert-file and --key-file are for mqtts:// sources")
        from xrclient.gateway.opcua_security import OpcuaSecurity, default_pki_dir

        try:
            return OpcuaSecurity(
                policy=policy,
                mode="Sign" if mode == "Sign" else "SignAndEncrypt",
                pki_dir=pki or default_pki_dir(),
                user_file=user_file,
            )
        except ValueError as exc:
            raise XRClientError(str(exc)) from None
    if policy is not None or pki is not None:
        raise XRClientError("--security and --pki are for opc.tcp:// sources")
    from xrclient.gateway.mqtt_url import MqttSecurity

    return MqttSecurity(
        ca_file=ca_file, cert_file=cert_file, key_file=key_file, user_file=user_file
    )


def connector(
    url: str, mapping: Mapping, source: GatewaySource, security: object, stop: asyncio.Event,
    progress: Say | None,
) -> Coroutine[Any, Any, None]:  # fmt: skip
    """The coroutine that keeps ``source`` filled from ``url`` until ``stop`` is set."""
    kinds = scheme_kinds(url)
    if mapping.kind not in kinds:
        raise XRClientError(
            f"{mapping.file}: a {mapping.kind} mapping cannot read {urlsplit(url).scheme}:// "
            f"(it reads {'opc.tcp' if mapping.kind == 'opcua' else 'mqtt or mqtts'}://)"
        )
    if mapping.kind == "opcua":
        from xrclient.gateway.opcua_client import run_opcua
        from xrclient.gateway.opcua_security import OpcuaSecurity

        assert isinstance(security, OpcuaSecurity)
        return run_opcua(url, mapping, source, security, stop=stop, progress=progress)
    from xrclient.gateway.mqtt_client import run_mqtt
    from xrclient.gateway.mqtt_url import MqttSecurity

    assert isinstance(security, MqttSecurity)
    return run_mqtt(url, mapping, source, security, stop=stop, progress=progress)


async def serve_gateway(
    scene_file: Path,
    url: str,
    map_file: Path,
    config: ServerConfig,
    security: object,
    *,
    status_every: float = 30.0,
    announce: Say = print,
) -> None:
    """Serve the plant at ``url`` until SIGINT or SIGTERM (see the module docstring)."""
    scene = load_scene(scene_file)
    mapping = load_mapping(map_file, scene)
    source = GatewaySource(mapping)
    stop = asyncio.Event()
    server = TwinServer(source, config)
    link = connector(url, mapping, source, security, stop, announce)
    shown = _redacted(url)

    def started(port: int) -> None:
        announce(
            f"gateway: {len(mapping.feeds):,} {mapping.kind} feeds of {len(scene.machines)} "
            f"machines from {shown} on ws://{config.host}:{port} "
            f"({'token required' if config.token else 'no token'}); Ctrl-C stops"
        )

    async def report() -> None:
        while True:
            await asyncio.sleep(status_every)
            announce(f"gateway: {shown}: {source.stats.summary()}")

    task = asyncio.create_task(link, name="gateway connector")
    reporter = asyncio.create_task(report(), name="gateway status")
    try:
        await serve_until_signal(server, config, started, also=task)
    finally:
        stop.set()
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        if not task.done():
            try:
                await asyncio.wait_for(task, 5.0)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    announce(f"gateway: stopped; {source.stats.summary()}")


async def discover_mapping(
    url: str,
    scene_file: Path,
    out: Path,
    security: object,
    *,
    seconds: float = 10.0,
    limit: int = 200_000,
    progress: Say | None = None,
) -> str:
    """Write a first mapping for ``scene_file`` from what ``url`` offers; returns a summary."""
    from xrclient.gateway.discover import match, render

    scene = load_scene(scene_file)
    kinds = scheme_kinds(url)
    started = time.monotonic()
    if kinds == ("opcua",):
        from xrclient.gateway.discover_opcua import browse_opcua
        from xrclient.gateway.opcua_security import OpcuaSecurity

        assert isinstance(security, OpcuaSecurity)
        found = await browse_opcua(url, security, limit_nodes=limit, progress=progress)
        kind: SourceKind = "opcua"
    else:
        from xrclient.gateway.discover_mqtt import listen_mqtt
        from xrclient.gateway.mqtt_url import MqttSecurity

        assert isinstance(security, MqttSecurity)
        found = await listen_mqtt(
            url, security, seconds=seconds, limit_topics=limit, progress=progress
        )
        sparkplug = [f for f in found if "metric" in f.feed]
        kind = "sparkplug" if len(sparkplug) * 2 > len(found) else "mqtt"
        found = [f for f in found if ("metric" in f.feed) == (kind == "sparkplug")]
    result = match(found, scene, kind)
    text = render(result, scene, _redacted(url))
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    lines = [
        f"wrote {out}: {len(result.matched)} {kind} points on {len(result.machines())} of "
        f"{len(scene.machines)} machines, {len(result.properties)} properties "
        f"({time.monotonic() - started:.1f} s)"
    ]
    if result.unmatched:
        lines.append(f"not matched ({len(result.unmatched)}; listed at the end of {out}):")
        for point, why in result.unmatched[:10]:
            lines.append(f"  {'/'.join([*point.names, point.leaf])[:200]}: {why}")
        if len(result.unmatched) > 10:
            lines.append(f"  ... and {len(result.unmatched) - 10} more")
    missing = len(scene.machines) - len(result.machines())
    if missing:
        lines.append(f"{missing} scene machines have no point (they stay without live state)")
    return "\n".join(lines)


def _redacted(url: str) -> str:
    """A source URL for messages: never a user name or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
