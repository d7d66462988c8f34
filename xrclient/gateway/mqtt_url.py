"""Where an MQTT broker is and how to reach it safely: broker URLs, TLS files, credentials.

``parse_mqtt_url`` accepts ``mqtt://host[:port]`` (port 1883 by default) and
``mqtts://host[:port]`` (TLS, 8883 by default), nothing else. A URL never carries a user or a
password (they would end up in shell histories, process lists and logs); those come from a
``--user-file`` of two lines (user, then password) that only its owner may read.
``MqttSecurity`` names the files and ``client_options`` turns it into the keyword arguments
of ``aiomqtt.Client``.
"""

from __future__ import annotations

import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiomqtt import TLSParameters

from xrclient.gateway.credentials import GatewayError, check_private, read_user_file

__all__ = [
    "BrokerUrl",
    "MqttSecurity",
    "MqttUrlError",
    "client_options",
    "parse_mqtt_url",
    "read_user_file",
]

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: a user file larger than this is not a user file


class MqttUrlError(GatewayError, ValueError):
    """A broker URL, a TLS file or a user file that cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """A parsed broker address."""

    host: str
    port: int
    tls: bool

    def text(self) -> str:
        """The URL again (``mqtt://host:port``), safe for logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_mqtt_url(url: str) -> BrokerUrl:
    """``mqtt://host[:port]`` or ``mqtts://host[:port]``; anything else raises
    :class:`MqttUrlError` (without repeating a password the URL may hold)."""
    if not isinstance(url, str) or not url or len(url) > 1024:
        raise MqttUrlError("a broker URL looks like mqtt://host[:1883] or mqtts://host[:8883]")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise MqttUrlError(
            f"unsupported broker URL scheme {parts.scheme + ':' if parts.scheme else '(none)'}"
            " (use mqtt://host[:1883] or mqtts://host[:8883])"
        )
    if "@" in parts.netloc:
        # never echo the URL: what is before the @ is probably a password
        raise MqttUrlError(
            "a broker URL must not carry a user or password (user:pass@host); "
            "put them in a file readable only by you and give it with --user-file"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MqttUrlError(f"a broker URL has no path, query or fragment: {url!r}")
    host = parts.hostname
    if not host:
        raise MqttUrlError(f"the broker URL names no host: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise MqttUrlError(f"the broker URL's port is not a number 1..65535: {url!r}") from None
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise MqttUrlError(f"the broker URL's port is not a number 1..65535: {url!r}")
    return BrokerUrl(host=host, port=port, tls=scheme == "mqtts")


@dataclass(frozen=True, slots=True)
class MqttSecurity:
    """TLS files and the user file for a broker (all optional).

    ``ca_file``: certificates to trust (PEM) instead of the system's; ``cert_file`` and
    ``key_file``: a client certificate and its key for brokers that ask for one;
    ``user_file``: two lines, user then password, readable only by its owner.
    """

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    user_file: Path | None = None

    def check(self, url: BrokerUrl) -> None:
        """Refuse combinations that cannot work or would leak: TLS files without TLS, a key
        without its certificate, files that do not exist."""
        tls_files = (self.ca_file, self.cert_file, self.key_file)
        if not url.tls and any(f is not None for f in tls_files):
            raise MqttUrlError("TLS files given for a plain mqtt:// broker; use mqtts://")
        if (self.cert_file is None) != (self.key_file is None):
            raise MqttUrlError("a client certificate needs both --cert-file and --key-file")
        for f in (*tls_files, self.user_file):
            if f is not None and not f.is_file():
                raise MqttUrlError(f"no such file: {f}")
        if self.key_file is not None:
            check_private(self.key_file, "key file")


def client_options(url: BrokerUrl, security: MqttSecurity) -> dict[str, Any]:
    """Keyword arguments for ``aiomqtt.Client``: host, port, TLS parameters (system trust
    unless a CA file is given; the host name is always verified), user and password."""
    security.check(url)
    opts: dict[str, Any] = {"hostname": url.host, "port": url.port}
    if url.tls:
        opts["tls_params"] = TLSParameters(
            ca_certs=None if security.ca_file is None else str(security.ca_file),
            certfile=None if security.cert_file is None else str(security.cert_file),
            keyfile=None if security.key_file is None else str(security.key_file),
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        opts["tls_insecure"] = False
    if security.user_file is not None:
        opts["username"], opts["password"] = read_user_file(security.user_file)
    return opts
