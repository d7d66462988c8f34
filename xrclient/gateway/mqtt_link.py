"""One MQTT broker connection kept up: connect, subscribe, hand messages over, reconnect.

:class:`MqttLink` runs a :class:`LinkSession` (the plain-topic reader, the Sparkplug host, the
simulator's publisher, discovery) over ``aiomqtt``: it connects with MQTT 5 and a clean
start, sets the session's will, subscribes to what the session asks for, calls the session's
hooks on connect and disconnect, and reconnects with capped exponential backoff (0.5 s
doubling to 10 s, with jitter) until ``stop`` is set.

The message path is lean on purpose. paho reads a packet with three ``recv`` calls and
parses its MQTT 5 properties into objects, about 30 us a message; at 50,000 messages/s that
is more than a core. So :class:`_FastReader` sits under paho's socket reads: it reads
whatever the socket has in one call, hands QoS 0 and QoS 1 PUBLISH packets (plant data)
straight to ``LinkSession.on_message`` (topic, payload, retain), queueing the PUBACK of a
QoS 1 one through paho as paho itself does, and passes every other packet (CONNACK, SUBACK,
PINGRESP, QoS 2 PUBLISH with its handshake, acknowledgements of what we publish) to paho
unchanged, in order. The client announces a Maximum Packet Size, so the broker never sends
a larger packet (a 10 MB payload never reaches this process); should one come anyway, the
reader discards it as it streams in, never holding more than one socket read of it.
``MAX_PACKET_BYTES`` is that limit.
Messages the session sends go to paho's bounded outgoing queue without waiting
(:meth:`MqttLink.send`), or with ``await`` on :meth:`MqttLink.send_wait` where the
acknowledgement matters (a last STATE before leaving).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from typing import Any, Protocol

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from xrclient.gateway.mqtt_url import BrokerUrl, MqttSecurity, client_options
from xrclient.gateway.publish import Publish

__all__ = ["BACKOFF_MAX_S", "BACKOFF_MIN_S", "MAX_PACKET_BYTES", "LinkSession", "MqttLink"]

log = logging.getLogger("xrclient.gateway.mqtt")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
#: a connection that lasted this long resets the backoff to its minimum
STABLE_S = 10.0
#: the largest packet the broker may send us (MQTT 5 Maximum Packet Size)
MAX_PACKET_BYTES = 1024 * 1024
#: messages waiting in paho's outgoing queue at most (more are refused, counted by callers)
MAX_OUTGOING = 100_000
KEEPALIVE_S = 15


class LinkSession(Protocol):
    """What runs over a link; every hook is called on the link's event loop."""

    def will(self, now: float) -> Publish | None:
        """The will for the next connection (None: none)."""

    def subscriptions(self) -> list[tuple[str, int]]:
        """Topic filters and QoS to subscribe to on each connection."""

    def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        """One message (called from the socket callback: must not block or raise)."""

    def on_connected(self, link: MqttLink, now: float) -> None:
        """Connected and subscribed."""

    def on_disconnected(self, error: str, now: float) -> None:
        """The connection is gone (or never came); ``error`` says why ("" when stopping)."""


_READ_BYTES = 256 * 1024
#: bytes handled in one socket callback at most, so a flood never starves the event loop
_TURN_BYTES = 4 * 1024 * 1024
_PUBLISH, _QOS_BITS, _QOS2 = 0x30, 0x06, 0x04


class _FastReader:
    """Socket reads for paho, with QoS 0 and 1 PUBLISH packets taken out and delivered directly
    (see the module). Installed as the paho client's ``_sock_recv``."""

    def __init__(self, client: paho.Client, sink: LinkSession, max_packet: int, v5: bool):
        self.client, self.sink, self.max_packet, self.v5 = client, sink, max_packet, v5
        self.raw = bytearray()  # bytes not yet split into packets
        self.out = bytearray()  # whole packets for paho
        self.out_pos = 0
        self.skip = 0  # bytes of an oversized packet still to discard
        self.eof = False
        self.oversized = 0
        self.delivered = 0

    @property
    def pending(self) -> bool:
        """Packets for paho that the socket will not signal again."""
        return self.out_pos < len(self.out)

    def recv(self, bufsize: int) -> bytes:
        taken = 0
        while True:
            if self.out_pos < len(self.out):
                end = self.out_pos + bufsize
                chunk = bytes(self.out[self.out_pos : end])
                self.out_pos = min(end, len(self.out))
                if self.out_pos == len(self.out):
                    self.out.clear()
                    self.out_pos = 0
                return chunk
            if self.eof:
                return b""
            if taken >= _TURN_BYTES:  # let the event loop run; the socket is still readable
                raise BlockingIOError()
            sock = self.client._sock
            if sock is None:
                raise ConnectionError("socket closed")
            try:
                data = sock.recv(_READ_BYTES)
            except ssl.SSLWantReadError as err:
                raise BlockingIOError() from err
            except ssl.SSLWantWriteError as err:
                self.client._call_socket_register_write()
                raise BlockingIOError() from err
            if not data:
                self.eof = True
                continue
            self.client._last_bytes_received = time.monotonic()  # paho's keep-alive clock
            taken += len(data)
            self._split(data)

    def _split(self, data: bytes) -> None:
        if self.skip:
            n = min(self.skip, len(data))
            self.skip -= n
            data = data[n:]
            if not data:
                return
        raw = self.raw
        raw += data
        view = memoryview(raw)
        pos, end = 0, len(raw)
        sink, out, v5 = self.sink, self.out, self.v5
        try:
            while pos + 2 <= end:
                header = raw[pos]
                # remaining length: 1 to 4 bytes, 7 bits each
                length, shift, i = 0, 0, pos + 1
                while True:
                    if i >= end:
                        return  # incomplete: wait for more
                    b = raw[i]
                    length |= (b & 0x7F) << shift
                    i += 1
                    if not b & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise _Malformed()
                if length > self.max_packet:
                    self.oversized += 1
                    have = end - i
                    if have >= length:
                        pos = i + length
                        continue
                    self.skip = length - have
                    pos = end
                    return
                stop = i + length
                if stop > end:
                    return
                qos_bits = header & _QOS_BITS
                if header & 0xF0 == _PUBLISH and qos_bits != _QOS2 and length >= 2:
                    tlen = (raw[i] << 8) | raw[i + 1]
                    t0 = i + 2
                    p0 = t0 + tlen
                    mid = 0
                    if qos_bits:  # QoS 1: a packet id, acknowledged once delivered
                        if p0 + 2 > stop:
                            raise _Malformed()
                        mid = (raw[p0] << 8) | raw[p0 + 1]
                        p0 += 2
                    if v5 and p0 < stop:  # skip the properties
                        plen, pshift = 0, 0
                        while p0 < stop:
                            b = raw[p0]
                            p0 += 1
                            plen |= (b & 0x7F) << pshift
                            if not b & 0x80:
                                break
                            pshift += 7
                        p0 += plen
                    if p0 > stop:
                        raise _Malformed()
                    try:
                        topic = str(view[t0 : t0 + tlen], "utf-8")
                    except UnicodeDecodeError:
                        topic = ""
                    try:
                        sink.on_message(topic, bytes(view[p0:stop]), bool(header & 1))
                    except Exception:  # a bug must not stop the socket callback
                        log.exception("MQTT message handler failed")
                    self.delivered += 1
                    if qos_bits:  # as paho does: PUBACK after delivery, through its queue
                        self.client._send_puback(mid)
                else:
                    out += view[pos:stop]
                pos = stop
        finally:
            view.release()
            del raw[:pos]

    def install(self) -> None:
        """Take over paho's socket reads; keep its read loop going while packets wait."""
        client = self.client
        original = client.loop_read

        def loop_read(max_packets: int = 1) -> MQTTErrorCode:
            rc = original(max_packets)
            while rc == paho.MQTT_ERR_SUCCESS and self.pending:
                rc = original(max_packets)
            return rc

        client._sock_recv = self.recv  # type: ignore[method-assign]  # the hook described above
        client.loop_read = loop_read  # type: ignore[method-assign]  # drains what recv holds back


class _Malformed(OSError):
    """Bytes that are not MQTT packets: the connection is dropped."""


class _Client(aiomqtt.Client):
    """aiomqtt's client with messages handed straight to a callable (no queue)."""

    def __init__(self, sink: LinkSession, max_packet: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sink = sink
        v5 = kwargs.get("protocol") == aiomqtt.ProtocolVersion.V5
        self.reader = _FastReader(self._client, sink, max_packet, v5)
        self.reader.install()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = ""  # no mapped topic is empty: counted as unmapped by the session
        try:
            self._sink.on_message(topic, bytes(message.payload), bool(message.retain))
        except Exception:  # a bug must not stop the socket callback
            log.exception("MQTT message handler failed")

    def close_socket(self) -> None:
        """Close a socket a failed connect left open (aiomqtt keeps it after a refused
        CONNACK or a timeout)."""
        self._client._reset_sockets()

    def send_nowait(self, p: Publish) -> bool:
        """Queue ``p`` in paho's bounded outgoing queue; False when it is full or gone."""
        info = self._client.publish(p.topic, p.payload, p.qos, p.retain)
        return info.rc == paho.MQTT_ERR_SUCCESS


class MqttLink:
    """Keeps one broker connection for a session (see the module)."""

    def __init__(
        self,
        url: BrokerUrl,
        security: MqttSecurity,
        *,
        client_id: str | None = None,
        max_packet: int = MAX_PACKET_BYTES,
        keepalive: int = KEEPALIVE_S,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.security = security
        self.client_id = client_id
        self.max_packet = max_packet
        self.keepalive = keepalive
        self.timeout_s = timeout_s
        self.connected = False
        self.connections = 0
        self.refused_sends = 0
        self.last_error = ""
        self._client: _Client | None = None
        self._options = client_options(url, security)  # checks files before any connection

    def send(self, p: Publish) -> bool:
        """Publish without waiting (False when not connected or the queue is full)."""
        client = self._client
        if client is None or not client.send_nowait(p):
            self.refused_sends += 1
            return False
        return True

    async def send_wait(self, p: Publish, timeout: float = 5.0) -> bool:
        """Publish and wait for the broker's acknowledgement (QoS 1 and 2)."""
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(p.topic, p.payload, p.qos, p.retain, timeout=timeout)
        except aiomqtt.MqttError:
            return False
        return True

    def _make_client(self, session: LinkSession, now: float) -> _Client:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
        props.MaximumPacketSize = self.max_packet
        w = session.will(now)
        will = None if w is None else aiomqtt.Will(w.topic, w.payload, w.qos, w.retain)
        return _Client(
            session,
            self.max_packet,
            **self._options,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
            properties=props,
            will=will,
            keepalive=self.keepalive,
            timeout=self.timeout_s,
            max_queued_outgoing_messages=MAX_OUTGOING,
            max_inflight_messages=1000,
        )

    async def run(
        self,
        session: LinkSession,
        stop: asyncio.Event,
        *,
        leaving: LeavingHook | None = None,
    ) -> None:
        """Connect and reconnect ``session`` until ``stop`` is set. On stop, what
        ``leaving()`` returns is published (and acknowledged) before the clean disconnect."""
        backoff = BACKOFF_MIN_S
        while not stop.is_set():
            started = time.monotonic()
            error = ""
            client = self._make_client(session, time.time())
            try:
                async with client:
                    self._client = client
                    subs = session.subscriptions()
                    if subs:
                        await client.subscribe(subs)
                    self.connected = True
                    self.connections += 1
                    session.on_connected(self, time.time())
                    await _until_stop_or_drop(client, stop)
                    for p in leaving() if leaving is not None else []:
                        await self.send_wait(p)
            except aiomqtt.MqttError as exc:
                error = _describe(exc)
            except OSError as exc:  # TLS or socket errors outside aiomqtt's wrapping
                error = f"{type(exc).__name__}: {exc}"
            finally:
                self._client = None
                self.connected = False
                client.close_socket()
            if error:
                self.last_error = error
                log.info("MQTT %s: %s", self.url.text(), error)
            session.on_disconnected(error, time.time())
            if stop.is_set():
                break
            if time.monotonic() - started > STABLE_S:
                backoff = BACKOFF_MIN_S
            delay = backoff * random.uniform(0.75, 1.0)
            backoff = min(backoff * 2.0, BACKOFF_MAX_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


class LeavingHook(Protocol):
    def __call__(self) -> list[Publish]: ...


async def _until_stop_or_drop(client: _Client, stop: asyncio.Event) -> None:
    """Return when ``stop`` is set; raise ``MqttError`` when the connection drops."""

    async def watch() -> None:
        async for _ in client.messages:  # never yields: messages bypass the queue
            pass

    drop = asyncio.ensure_future(watch())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((drop, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (drop, stopped):
            t.cancel()
        await asyncio.gather(drop, stopped, return_exceptions=True)
    if drop.done() and not drop.cancelled():
        error = drop.exception()
        if error is not None:
            raise error


def _describe(exc: aiomqtt.MqttError) -> str:
    """A short, credential-free reason (paho's messages carry no passwords)."""
    cause = exc.__cause__
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text[:300]
