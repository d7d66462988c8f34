"""A real mosquitto broker for tests and benchmarks: private config, free loopback port.

``Broker`` is the package's :class:`~xrclient.gateway.broker.LocalBroker` (one loopback
listener in a private ``mosquitto.conf``; ``stop``, ``kill`` and ``restart`` on the same
port) with, optionally, TLS from a CA and server certificate made by ``cryptography`` and a
password file hashed by ``mosquitto_passwd -U``. A missing mosquitto is an error, not a
skip.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from xrclient.gateway.broker import LocalBroker

TEST_USER = "gateway"
TEST_PASSWORD = "s3cret-Test-pw"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certs(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 / localhost; returns (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xrclient test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_pem_key(key))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


def write_user_file(path: Path, user: str = TEST_USER, password: str = TEST_PASSWORD) -> Path:
    """The client's user file (two lines, mode 600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{user}\n{password}\n")
    return path


def write_password_file(path: Path, user: str = TEST_USER, password: str = TEST_PASSWORD) -> Path:
    """The broker's password file: written in plain text, then hashed in place by
    ``mosquitto_passwd -U`` (so the password never appears on a command line)."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise RuntimeError("mosquitto_passwd is not installed (Debian package mosquitto)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{user}:{password}\n")
    subprocess.run([tool, "-U", str(path)], check=True, capture_output=True, timeout=30)
    return path


class Broker(LocalBroker):
    """The package's loopback mosquitto, optionally over TLS (a test CA) with a password
    file; ``ca_file`` and ``user_file`` are what a client then needs."""

    def __init__(
        self, folder: Path, *, tls: bool = False, passwords: bool = False, port: int | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.ca_file: Path | None = None
        self.user_file: Path | None = None
        tls_lines: list[str] = []
        if tls:
            self.ca_file, cert, key = make_certs(folder / "tls")
            tls_lines = [f"cafile {self.ca_file}", f"certfile {cert}", f"keyfile {key}"]
        password_file = None
        if passwords:
            password_file = write_password_file(folder / "passwords")
            self.user_file = write_user_file(folder / "user")
        super().__init__(
            folder,
            port or 0,
            tls_lines=tls_lines,
            password_file=password_file,
            scheme="mqtts" if tls else "mqtt",
        )

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A plain, anonymous mosquitto on a free loopback port (import this fixture)."""
    with Broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    """mosquitto over TLS (test CA) with a password file; ``user_file`` and ``ca_file`` set."""
    with Broker(tmp_path / "tls-broker", tls=True, passwords=True) as b:
        yield b
