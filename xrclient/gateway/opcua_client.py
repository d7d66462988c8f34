"""The OPC UA connector: a mapping's nodes, subscribed, feeding a :class:`GatewaySource`.

:func:`run_opcua` runs until ``stop`` is set; :class:`OpcuaConnector` is the same as an
object (``run()``, ``close()``, and what a status line or a benchmark reads: the granted
``publishing_ms``, the ``notifications`` count). Each session it:

1. secures the client (:mod:`xrclient.gateway.opcua_security`) and connects;
2. resolves every feed's target to a NodeId: namespace URIs through the server's
   NamespaceArray (never by index: a server may renumber them), browse paths through
   TranslateBrowsePathsToNodeIds in batches; then checks each node's DataType against the
   property kind. Every missing node or wrong type is collected and reported together in
   one :class:`OpcuaError` naming the feeds' keys and machines;
3. reads every value once (batched) and puts it, with its source timestamp and quality;
4. creates one subscription (publishing interval from the mapping, the server's revised
   one respected) and one monitored item per feed (its sampling interval, queue size and
   deadband), in batches no larger than the server's MaxMonitoredItemsPerCall;
5. hands data changes to the source as they arrive, until the connection is lost.

A lost connection (the socket closed, or the server leaving a probe unanswered for
``keepalive_s``) marks every machine OFFLINE; the connector retries with capped
exponential backoff (0.5 s to 10 s) and repeats steps 1-5, so the values after a reconnect
are the server's values even where a change fell into the outage. Setup errors (a missing
node, an untrusted certificate) end the run on the first connection; after that they are
recorded in ``stats.last_error`` and retried, since a restarting server may still be
loading its address space.

Hot path: notifications are handled in the subscription's publish callback, one batch per
publish response: good numeric values go to :meth:`GatewaySource.put_many` as arrays, the
rest through :meth:`GatewaySource.put`. No per-item task or node object is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.subscription import Subscription
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIdNames, ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from xrclient.gateway.mapping import Feed, Mapping, OpcuaTarget
from xrclient.gateway.opcua_security import OpcuaError, OpcuaSecurity, apply
from xrclient.gateway.source import BAD, GOOD, UNCERTAIN, GatewaySource

__all__ = [
    "BACKOFF_MAX_S",
    "BACKOFF_MIN_S",
    "OpcuaConnector",
    "connect",
    "run_opcua",
    "shown_url",
    "ua_node",
    "ua_time",
]

log = logging.getLogger("xrclient.gateway.opcua")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
#: per-call limits used when the server does not publish its OperationLimits
DEFAULT_BATCH = 1000
#: the largest response asked for (a full Read of 20,000 values is about 1 MiB)
MAX_MESSAGE_BYTES = 64 * 2**20
#: errors listed in one setup error message (the rest are counted)
MAX_LISTED_ERRORS = 20
#: asyncua annotates boolean fields with a marker class that plain bools are at runtime
_YES, _NO = cast(ua.Boolean, True), cast(ua.Boolean, False)
_NODE_ID = re.compile(r"^nsu=(.*?);([sigb]=.*)\Z", re.S)

# DataType NodeIds of namespace 0, grouped by what a property kind accepts
_BOOLEAN = {1}
_INTEGER = {2, 3, 4, 5, 6, 7, 8, 9, 27, 28, 29, 20998}  # incl. Integer, UInteger, Enumeration
_FLOATING = {10, 11, 26, 50, 290}  # Float, Double, Number, Decimal, Duration
_TEXT = {12, 21}  # String, LocalizedText
_TIME = {13, 294}  # DateTime, UtcTime
_ANY = {24}  # BaseDataType: the value's own type decides (checked per value)
_ACCEPTS: dict[str, set[int]] = {
    "number": _INTEGER | _FLOATING | _ANY,
    "bool": _BOOLEAN | _ANY,
    "string": _TEXT | _ANY,
    "enum": _INTEGER | _TEXT | _BOOLEAN | _ANY,
    "time": _TIME | _ANY,
}
_LIMITS = {
    "read": ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
    "translate": (
        ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIds
    ),
    "monitor": ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
}


def ua_node(ident: int | str, namespace: int = 0) -> ua.NodeId:
    """A NodeId from a numeric or string identifier (asyncua's own types, as it wants)."""
    value = ua.Int32(ident) if isinstance(ident, int) else ua.String(ident)
    return ua.NodeId(value, ua.Int16(namespace))


def ua_time(t: float) -> ua.DateTime:
    """Epoch seconds as an OPC UA DateTime (UTC)."""
    return ua.DateTime.fromtimestamp(t, datetime.UTC)


def shown_url(url: str) -> str:
    """``url`` without a user name or password (for messages and logs)."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"


def _epoch(stamp: datetime.datetime | None) -> float | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    t = stamp.timestamp()
    # OPC UA's "no time" is 1601-01-01; treat anything before 1971 as absent
    return t if t > 3.2e7 else None


def _code(status: ua.StatusCode | None) -> int:
    return 0 if status is None else int(status.value)


def _quality(code: int) -> int:
    severity = code >> 30
    return GOOD if severity == 0 else UNCERTAIN if severity == 1 else BAD


_status_names: dict[int, str] = {}


def _status_name(code: int) -> str:
    name = _status_names.get(code)
    if name is None:
        try:
            name = ua.StatusCode(ua.UInt32(code)).name
        except Exception:  # an unknown code from the server: show it as hex
            name = f"0x{code:08X}"
        if len(_status_names) < 4096:
            _status_names[code] = name
    return name


@dataclass(frozen=True, slots=True)
class _Resolved:
    nodes: list[ua.NodeId]
    #: per feed, whether its values can take the numeric fast path
    numeric: list[bool]


class _FeedSubscription(Subscription):
    """A subscription whose publish responses go straight into the source (the hot path)."""

    def __init__(self, session: Any, params: ua.CreateSubscriptionParameters, sink: _Sink) -> None:
        super().__init__(session, params, handler=None, queue_maxsize=1)
        self.sink = sink

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        self.last_publish_at = time.monotonic()
        message = publish_result.NotificationMessage
        data = message.NotificationData
        if not data:
            return
        self.last_sequence_number = int(message.SequenceNumber)
        try:
            for notification in data:
                if isinstance(notification, ua.DataChangeNotification):
                    self.sink.data_changes(notification.MonitoredItems or ())
                elif isinstance(notification, ua.StatusChangeNotification):
                    self.sink.status_change(notification.Status)
        except Exception:  # a value nothing expected: count it, keep the subscription
            log.exception("OPC UA notification not understood")
            self.sink.source.stats.reject("notification not understood")


class _Sink:
    """Turns notification batches into source writes."""

    def __init__(self, source: GatewaySource, numeric: list[bool], lost: asyncio.Event) -> None:
        self.source = source
        self.numeric = numeric
        self.lost = lost
        self.notifications = 0

    def data_changes(self, items: Sequence[ua.MonitoredItemNotification]) -> None:
        source, numeric = self.source, self.numeric
        n_feeds = len(numeric)
        fast_feeds: list[int] = []
        fast_values: list[Any] = []  # ints and floats, made an array once
        fast_times: list[float] = []
        now = time.time()
        self.notifications += len(items)
        for item in items:
            feed = item.ClientHandle
            if not 0 <= feed < n_feeds:
                source.stats.reject("unknown monitored item")
                continue
            dv = item.Value
            if dv is None:
                source.stats.reject("empty notification")
                continue
            t = _epoch(dv.SourceTimestamp) or _epoch(dv.ServerTimestamp) or now
            status = dv.StatusCode
            code = status.value if status is not None else 0
            variant = dv.Value
            raw = variant.Value if variant is not None else None
            if code == 0 and numeric[feed] and type(raw) in (float, int):
                fast_feeds.append(feed)
                fast_values.append(raw)
                fast_times.append(t)
                continue
            self._put(feed, raw, t, code)
        if fast_feeds:
            source.put_many(
                np.array(fast_feeds, np.intp),
                np.array(fast_values, np.float64),
                np.array(fast_times, np.float64),
            )

    def _put(self, feed: int, raw: object, t: float, code: int) -> None:
        quality = _quality(code)
        if isinstance(raw, ua.LocalizedText):
            raw = raw.Text or ""
        elif raw is None and quality != BAD:
            self.source.stats.reject("no value")
            return
        if quality == BAD:
            raw = None
        self.source.put(
            feed, raw, t, quality, status_note=_status_name(code) if quality != GOOD else ""
        )

    def read_results(self, results: Sequence[ua.DataValue], feeds: Sequence[int]) -> None:
        now = time.time()
        for feed, dv in zip(feeds, results, strict=True):
            code = dv.StatusCode.value if dv.StatusCode is not None else 0
            t = _epoch(dv.SourceTimestamp) or _epoch(dv.ServerTimestamp) or now
            raw = dv.Value.Value if dv.Value is not None else None
            self._put(feed, raw, t, code)

    def status_change(self, status: ua.StatusCode) -> None:
        if status.is_bad():
            self.source.stats.last_error = f"subscription ended: {_status_name(status.value)}"
            self.lost.set()


def _target_node(target: OpcuaTarget, namespaces: dict[str, int]) -> ua.NodeId:
    """The NodeId of ``target.start`` with its namespace URI resolved (Objects if None)."""
    if target.start is None:
        return ua_node(ObjectIds.ObjectsFolder)
    match = _NODE_ID.match(target.start)
    if match is None:
        return ua.NodeId.from_string(target.start)
    uri, rest = match.groups()
    index = namespaces.get(uri)
    if index is None:
        raise KeyError(uri)
    return ua.NodeId.from_string(f"ns={index};{rest}")


def _relative_path(
    path: tuple[tuple[str, str], ...], namespaces: dict[str, int]
) -> ua.RelativePath:
    elements = []
    for uri, name in path:
        index = namespaces.get(uri)
        if index is None:
            raise KeyError(uri)
        element = ua.RelativePathElement(
            ReferenceTypeId=ua_node(ObjectIds.HierarchicalReferences),
            IsInverse=_NO,
            IncludeSubtypes=_YES,
            TargetName=ua.QualifiedName(ua.String(name), ua.UInt16(index)),
        )
        elements.append(element)
    return ua.RelativePath(Elements=elements)


class _SetupErrors:
    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.lines: list[str] = []
        self.count = 0

    def add(self, feed: Feed, what: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_LISTED_ERRORS:
            machine = self.mapping.machines[feed.machine]
            self.lines.append(f"{feed.key} (machine {machine}, {feed.target.text()}): {what}")

    def raise_if_any(self, url: str) -> None:
        if not self.count:
            return
        more = self.count - len(self.lines)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise OpcuaError(
            f"{self.mapping.file}: {self.count} mapped node(s) are not usable on {url}:\n  "
            + "\n  ".join(self.lines)
            + tail
        )


class OpcuaConnector:
    """One OPC UA server feeding a source; :meth:`run` until :meth:`close` (or ``stop``)."""

    def __init__(
        self,
        url: str,
        mapping: Mapping,
        source: GatewaySource,
        security: OpcuaSecurity,
        *,
        stop: asyncio.Event | None = None,
        progress: Callable[[str], None] | None = None,
        timeout_s: float = 10.0,
        keepalive_s: float = 5.0,
    ) -> None:
        if not url.startswith("opc.tcp://"):
            raise OpcuaError(
                f"an OPC UA server URL looks like opc.tcp://host:port, got {shown_url(url)!r}"
            )
        self.url = url
        self.mapping = mapping
        self.source = source
        self.security = security
        self.stop = stop or asyncio.Event()
        self.progress = progress
        self.timeout_s = timeout_s
        #: how often the server is probed, and how long it may take to answer, before the
        #: connection counts as lost (a closed socket counts at once)
        self.keepalive_s = keepalive_s
        self._notified = 0
        #: the publishing interval the server granted (ms), once subscribed
        self.publishing_ms: float | None = None
        self.sessions = 0
        self._sink: _Sink | None = None

    @property
    def notifications(self) -> int:
        """Data-change notifications received (all sessions)."""
        return self._notified + (0 if self._sink is None else self._sink.notifications)

    def close(self) -> None:
        self.stop.set()

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    async def run(self) -> None:
        stats = self.source.stats
        delay = BACKOFF_MIN_S
        while not self.stop.is_set():
            try:
                await self._session()
                delay = BACKOFF_MIN_S
            except OpcuaError as exc:
                stats.last_error = str(exc).splitlines()[0][:300]
                if self.sessions == 0:
                    raise
            except (OSError, TimeoutError, UaError, EOFError) as exc:
                stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.info("OPC UA connection failed: %s", stats.last_error)
            except Exception as exc:  # something the server sent that nothing expected
                if self.sessions == 0:
                    raise
                stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("OPC UA session failed")
            stats.connected = False
            self.source.mark_offline()
            if self.stop.is_set():
                break
            self._say(f"OPC UA: {stats.last_error or 'connection lost'}; retrying in {delay:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _session(self) -> None:
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            self.source.stats.last_error = f"connection lost: {type(exc).__name__}"
            lost.set()

        client, policy = await connect(
            self.url,
            self.security,
            timeout_s=self.timeout_s,
            keepalive_s=self.keepalive_s,
            on_lost=on_lost,
        )
        try:
            self._say(f"OPC UA: connected to {shown_url(self.url)} ({policy})")
            await self._subscribe(client, lost)
            if self.sessions:
                self.source.stats.reconnects += 1
            self.sessions += 1
            self.source.stats.connected = True
            self.source.mark_online()
            self._say(f"OPC UA: {self.source.feed_count:,} values subscribed")
            stop_wait = asyncio.ensure_future(self.stop.wait())
            lost_wait = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait((stop_wait, lost_wait), return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop_wait.cancel()
                lost_wait.cancel()
            if lost.is_set():
                self.source.stats.connected = False
                self.source.mark_offline()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    async def _limits(self, client: Client) -> dict[str, int]:
        names = list(_LIMITS)
        nodes = [client.get_node(ua_node(_LIMITS[n])) for n in names]
        limits = {n: DEFAULT_BATCH for n in names}
        with contextlib.suppress(UaError):
            results = await client.read_attributes(nodes)
            for n, dv in zip(names, results, strict=True):
                v = dv.Value.Value if dv.Value is not None and _code(dv.StatusCode) == 0 else 0
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    limits[n] = min(v, 50_000)
        return limits

    async def _resolve(self, client: Client, limits: dict[str, int]) -> _Resolved:
        feeds = self.mapping.feeds
        array = await client.get_namespace_array()
        namespaces = {uri: i for i, uri in enumerate(array[:10_000])}
        errors = _SetupErrors(self.mapping)
        nodes: list[ua.NodeId | None] = [None] * len(feeds)
        paths: list[tuple[int, ua.BrowsePath]] = []
        for f in feeds:
            target = f.target
            if not isinstance(target, OpcuaTarget):
                errors.add(f, "not an OPC UA node")
                continue
            try:
                start = _target_node(target, namespaces)
                if not target.path:
                    nodes[f.index] = start
                    continue
                path = ua.BrowsePath(
                    StartingNode=start, RelativePath=_relative_path(target.path, namespaces)
                )
            except KeyError as exc:
                errors.add(f, f"the server has no namespace {exc.args[0]}")
                continue
            except (UaError, ValueError):
                errors.add(f, "not a valid NodeId")
                continue
            paths.append((f.index, path))
        await self._translate(client, paths, nodes, errors, limits["translate"])
        numeric = await self._check_types(client, nodes, errors, limits["read"])
        errors.raise_if_any(shown_url(self.url))
        return _Resolved([n if n is not None else ua.NodeId() for n in nodes], numeric)

    async def _translate(
        self,
        client: Client,
        paths: list[tuple[int, ua.BrowsePath]],
        nodes: list[ua.NodeId | None],
        errors: _SetupErrors,
        step: int,
    ) -> None:
        feeds = self.mapping.feeds
        for i in range(0, len(paths), step):
            batch = paths[i : i + step]
            results = await client.uaclient.translate_browsepaths_to_nodeids([p for _, p in batch])
            for (index, _), result in zip(batch, results, strict=True):
                if _code(result.StatusCode) == 0 and result.Targets:
                    tid = result.Targets[0].TargetId
                    nodes[index] = ua.NodeId(tid.Identifier, tid.NamespaceIndex, tid.NodeIdType)
                else:
                    errors.add(feeds[index], "no such node")

    async def _check_types(
        self, client: Client, nodes: list[ua.NodeId | None], errors: _SetupErrors, step: int
    ) -> list[bool]:
        """Whether each node's DataType fits its property kind (errors where not); per
        feed, whether it is a number (the fast path)."""
        feeds = self.mapping.feeds
        numeric = [False] * len(feeds)
        known = [(k, n) for k, n in enumerate(nodes) if n is not None]
        for i in range(0, len(known), step):
            batch = known[i : i + step]
            results = await client.uaclient.read_attributes(
                [n for _, n in batch], AttributeIds.DataType
            )
            for (k, _), dv in zip(batch, results, strict=True):
                f = feeds[k]
                code = _code(dv.StatusCode)
                if code:
                    errors.add(f, f"no such variable ({_status_name(code)})")
                    continue
                dtype = dv.Value.Value if dv.Value is not None else None
                kind = self.source.schema.properties[f.prop].kind
                if not isinstance(dtype, ua.NodeId):
                    errors.add(f, "the node has no data type")
                    continue
                builtin = dtype.NamespaceIndex == 0 and isinstance(dtype.Identifier, int)
                if builtin and dtype.Identifier not in _ACCEPTS[kind]:
                    errors.add(f, f"its data type {_type_name(dtype)} does not fit a {kind}")
                    continue
                numeric[k] = kind == "number"
        return numeric

    async def _subscribe(self, client: Client, lost: asyncio.Event) -> None:
        limits = await self._limits(client)
        resolved = await self._resolve(client, limits)
        feeds = self.mapping.feeds
        if self._sink is not None:
            self._notified += self._sink.notifications
        sink = self._sink = _Sink(self.source, resolved.numeric, lost)
        # read every value once, so nothing changed during an outage is missed
        step = limits["read"]
        for i in range(0, len(feeds), step):
            indices = list(range(i, min(i + step, len(feeds))))
            values = await client.uaclient.read_attributes(
                [resolved.nodes[k] for k in indices], AttributeIds.Value
            )
            sink.read_results(values, indices)
        options = self.mapping.opcua
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=ua.Double(options.publishing_ms),
            RequestedLifetimeCount=ua.UInt32(10_000),
            RequestedMaxKeepAliveCount=ua.UInt32(client.get_keepalive_count(options.publishing_ms)),
            MaxNotificationsPerPublish=ua.UInt32(0),
            PublishingEnabled=_YES,
            Priority=ua.Byte(0),
        )
        sub = _FeedSubscription(client.uaclient.session, params, sink)
        created = await sub.init()
        self.publishing_ms = float(created.RevisedPublishingInterval)
        step = limits["monitor"]
        failed: dict[str, int] = {}
        for i in range(0, len(feeds), step):
            chunk = feeds[i : i + step]
            request = ua.CreateMonitoredItemsParameters(
                SubscriptionId=sub.subscription_id,
                TimestampsToReturn=ua.TimestampsToReturn.Both,
                ItemsToCreate=[_item(f, resolved.nodes[f.index]) for f in chunk],
            )
            created_items = await client.uaclient.session.create_monitored_items(request)
            now = time.time()
            for f, result in zip(chunk, created_items, strict=True):
                code = _code(result.StatusCode)
                if code:
                    name = _status_name(code)
                    failed[name] = failed.get(name, 0) + 1
                    self.source.put(f.index, None, now, BAD, status_note=name)
        if failed:
            worst = ", ".join(f"{n} x{c}" for c, n in sorted((c, n) for n, c in failed.items()))
            self.source.stats.last_error = f"monitored items refused: {worst}"[:300]
            self._say(f"OPC UA: some monitored items were refused ({worst})")


#: session activation refusals that retrying will not cure
_AUTH_CODES = frozenset(
    {
        StatusCodes.BadUserAccessDenied,
        StatusCodes.BadIdentityTokenInvalid,
        StatusCodes.BadIdentityTokenRejected,
        StatusCodes.BadCertificateUntrusted,
        StatusCodes.BadSecurityChecksFailed,
    }
)


async def connect(
    url: str,
    security: OpcuaSecurity,
    *,
    timeout_s: float = 10.0,
    keepalive_s: float = 5.0,
    on_lost: Callable[[Exception], Coroutine[Any, Any, None]] | None = None,
) -> tuple[Client, str]:
    """A connected, secured asyncua client and the policy chosen; ``on_lost`` runs when the
    connection drops or the server leaves a probe unanswered for ``keepalive_s`` (the
    client does not reconnect by itself). Raises :class:`OpcuaError`
    for what the user must fix (trust, credentials, no fitting endpoint)."""
    client = Client(url, timeout=timeout_s, watchdog_intervall=keepalive_s)
    client.name = client.description = "xrclient gateway"
    client.session_timeout = 60_000
    # ask the server for bounded responses (asyncua itself accepts what the server sends)
    client.max_messagesize = MAX_MESSAGE_BYTES
    client.max_chunkcount = MAX_MESSAGE_BYTES // 65535 + 1
    endpoints = await asyncio.wait_for(client.connect_and_get_server_endpoints(), timeout_s)
    policy = await apply(client, security, endpoints)
    client.connection_lost_callback = on_lost
    try:
        await asyncio.wait_for(client.connect(auto_reconnect=False), timeout_s)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 2.0)
        if not isinstance(exc, UaStatusCodeError):
            raise
        if exc.code in _AUTH_CODES:
            who = " with the user name and password given" if security.user_file else ""
            raise OpcuaError(
                f"{shown_url(url)} refused the session{who} ({_status_name(exc.code)})"
            ) from None
        raise
    return client, policy


def _item(feed: Feed, node: ua.NodeId) -> ua.MonitoredItemCreateRequest:
    params = ua.MonitoringParameters()
    params.ClientHandle = feed.index
    params.SamplingInterval = feed.sampling_ms
    params.QueueSize = max(1, feed.queue_size)
    params.DiscardOldest = True
    if feed.deadband is not None and feed.deadband.value > 0:
        mfilter = ua.DataChangeFilter()
        mfilter.Trigger = ua.DataChangeTrigger.StatusValue
        mfilter.DeadbandType = 1 if feed.deadband.kind == "absolute" else 2
        mfilter.DeadbandValue = float(feed.deadband.value)
        params.Filter = mfilter
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = ua.ReadValueId(NodeId=node, AttributeId=AttributeIds.Value)
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = params
    return request


def _type_name(dtype: ua.NodeId) -> str:
    name = ObjectIdNames.get(dtype.Identifier) if isinstance(dtype.Identifier, int) else None
    return name or dtype.to_string()


async def run_opcua(
    url: str,
    mapping: Mapping,
    source: GatewaySource,
    security: OpcuaSecurity,
    *,
    stop: asyncio.Event,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Feed ``source`` from the OPC UA server at ``url`` until ``stop`` is set (see the
    module docstring); raises :class:`OpcuaError` when the first session's setup fails."""
    await OpcuaConnector(url, mapping, source, security, stop=stop, progress=progress).run()
