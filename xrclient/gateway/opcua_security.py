"""OPC UA security for the gateway: our application certificate, the trust list, the policy.

A PKI folder (``OpcuaSecurity.pki_dir``) holds ``own/cert.der`` and ``own/key.pem`` (made on
first use: RSA 2048, self-signed, application URI ``urn:xrclient:gateway:<host>`` as the
SubjectAltName URI, key file mode 600), ``trusted/`` (server certificates the user trusts,
DER or PEM) and ``rejected/`` (certificates servers offered that were not trusted, named by
their SHA-256 thumbprint, so the user can move one to ``trusted/``).

:func:`apply` picks the endpoint (the strongest policy both sides support unless one is
named; ``None`` only when asked by name), checks the server's certificate against the trust
list (an unknown one is refused, never trusted silently) and configures the client, with the
user name and password from ``user_file`` when given. No message ever holds the password.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from xrclient.gateway.credentials import GatewayError, read_user_file

__all__ = [
    "POLICIES",
    "OpcuaError",
    "OpcuaSecurity",
    "apply",
    "default_pki_dir",
    "ensure_certificate",
    "read_user_file",
    "thumbprint",
]

#: policies by strength, strongest first (the names the mapping and the command line use)
POLICIES: tuple[str, ...] = ("Aes256_Sha256_RsaPss", "Basic256Sha256")
_POLICY_CLASSES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
}
_NONE_URI = "http://opcfoundation.org/UA/SecurityPolicy#None"
#: a user file or certificate larger than this is refused
_MAX_FILE_BYTES = 64 * 1024


class OpcuaError(GatewayError):
    """An OPC UA connection or mapping problem the user has to fix (the message says how)."""


def default_pki_dir() -> Path:
    """``$XDG_DATA_HOME/xrclient/opcua``, else ``~/.local/share/xrclient/opcua``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "xrclient" / "opcua"


@dataclass(frozen=True)
class OpcuaSecurity:
    """How the gateway secures its OPC UA session (see the module docstring)."""

    #: None: the strongest both sides support; or "Aes256_Sha256_RsaPss" | "Basic256Sha256" | "None"
    policy: str | None = None
    mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    pki_dir: Path = field(default_factory=default_pki_dir)
    #: a file with two lines, user name and password (readable by its owner only)
    user_file: Path | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy != "None" and self.policy not in POLICIES:
            raise OpcuaError(
                f"unknown OPC UA security policy {self.policy!r} "
                f"(use one of {', '.join((*POLICIES, 'None'))})"
            )
        if self.mode not in ("Sign", "SignAndEncrypt"):
            raise OpcuaError(f"security mode must be Sign or SignAndEncrypt, got {self.mode!r}")


def thumbprint(der: bytes) -> str:
    """The SHA-256 thumbprint of a DER certificate, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


def ensure_certificate(
    own_dir: Path, application_uri: str, *, server: bool = False, host: str | None = None
) -> tuple[Path, Path]:
    """``(cert.der, key.pem)`` in ``own_dir``, made (self-signed, RSA 2048, valid 5 years,
    SubjectAltName URI ``application_uri`` and DNS ``host``) when either is missing."""
    cert_path, key_path = own_dir / "cert.der", own_dir / "key.pem"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    own_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    host = host or socket.gethostname()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, application_uri[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xrclient"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    usage = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=5 * 365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(application_uri), x509.DNSName(host)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return cert_path, key_path


def _trusted_thumbprints(trusted: Path) -> set[str]:
    prints: set[str] = set()
    if not trusted.is_dir():
        return prints
    for entry in sorted(trusted.iterdir())[:10_000]:
        try:
            if not entry.is_file() or entry.stat().st_size > _MAX_FILE_BYTES:
                continue
            data = entry.read_bytes()
            if data.lstrip().startswith(b"-----BEGIN"):
                data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
            prints.add(thumbprint(data))
        except (OSError, ValueError):
            continue
    return prints


def _first_certificate(der: bytes) -> bytes:
    """The leaf of a DER chain (a server may send its chain concatenated)."""
    if len(der) < 4 or der[0] != 0x30:
        return der
    if der[1] == 0x82:
        return der[: int.from_bytes(der[2:4], "big") + 4]
    if der[1] == 0x81:
        return der[: der[2] + 3]
    return der


def _pick_endpoint(
    security: OpcuaSecurity, endpoints: Sequence[ua.EndpointDescription]
) -> tuple[str, ua.EndpointDescription | None]:
    mode = getattr(ua.MessageSecurityMode, security.mode)
    if security.policy == "None":
        for ep in endpoints:
            if ep.SecurityPolicyUri == _NONE_URI:
                return "None", None
        raise OpcuaError("the server offers no endpoint without security")
    names = (security.policy,) if security.policy else POLICIES
    for name in names:
        uri = _POLICY_CLASSES[name].URI
        for ep in endpoints:
            if ep.SecurityPolicyUri == uri and ep.SecurityMode == mode:
                return name, ep
    offered = sorted(
        {f"{ep.SecurityPolicyUri.rsplit('#', 1)[-1]}/{ep.SecurityMode.name}" for ep in endpoints}
    )
    raise OpcuaError(
        f"the server offers no endpoint with {' or '.join(names)} {security.mode} "
        f"(it offers {', '.join(offered)[:400]}; choose another policy or mode)"
    )


async def apply(
    client: Client, security: OpcuaSecurity, server_endpoints: Sequence[ua.EndpointDescription]
) -> str:
    """Configure ``client`` for ``security``; returns the policy name chosen.

    Raises :class:`OpcuaError` when no endpoint fits, when the server's certificate is not
    in ``<pki>/trusted/`` (saving it to ``<pki>/rejected/<thumbprint>.der`` and saying how
    to trust it), or when the user file is unsafe.
    """
    if security.user_file is not None:
        user, password = read_user_file(security.user_file)
        client.set_user(user)
        client.set_password(password)
    name, endpoint = _pick_endpoint(security, server_endpoints)
    if endpoint is None:
        return name
    pki = security.pki_dir
    host = socket.gethostname()
    client.application_uri = f"urn:xrclient:gateway:{host}"
    cert_path, key_path = ensure_certificate(pki / "own", client.application_uri, host=host)
    offered = _first_certificate(bytes(endpoint.ServerCertificate or b""))
    if not offered:
        raise OpcuaError("the server offers a secure endpoint without a certificate")
    if len(offered) > _MAX_FILE_BYTES:
        raise OpcuaError("the server's certificate is too large")
    try:
        server_cert = x509.load_der_x509_certificate(offered)
    except ValueError:
        raise OpcuaError("the server's certificate is not a valid X.509 certificate") from None
    print_ = thumbprint(offered)
    if print_ not in _trusted_thumbprints(pki / "trusted"):
        rejected = pki / "rejected" / f"{print_}.der"
        try:
            rejected.parent.mkdir(parents=True, exist_ok=True)
            rejected.write_bytes(offered)
        except OSError:
            pass
        subject = server_cert.subject.rfc4514_string()[:200]
        raise OpcuaError(
            f"the server's certificate is not trusted (subject {subject}, "
            f"SHA-256 thumbprint {print_}). If it is the right server, trust it with: "
            f"mkdir -p {pki / 'trusted'} && mv {rejected} {pki / 'trusted'}/"
        )
    await client.set_security(
        _POLICY_CLASSES[name],
        str(cert_path),
        str(key_path),
        server_certificate=offered,
        mode=getattr(ua.MessageSecurityMode, security.mode),
    )
    return name
