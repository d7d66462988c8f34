"""Typed errors shared across the package. Every message names the file it is about."""

from __future__ import annotations

from pathlib import Path


class XRClientError(Exception):
    """Base of all errors this package raises on purpose."""


class SceneError(XRClientError):
    """A scene file is invalid: ``<file>: <key path>: <what was expected>``."""

    def __init__(self, file: str | Path, key_path: str, message: str) -> None:
        self.file = str(file)
        self.key_path = key_path
        self.message = message
        where = f"{self.file}: {key_path}: " if key_path else f"{self.file}: "
        super().__init__(where + message)


class AssetError(XRClientError):
    """A mesh or scan file was rejected: ``<file>: <reason>``."""

    #: short machine-readable class of the failure, e.g. ``"malformed"``
    kind = "invalid"

    def __init__(self, file: str | Path, reason: str) -> None:
        self.file = str(file)
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


class MalformedAssetError(AssetError):
    """The bytes do not form a valid file of the claimed format (bad magic, truncation, ...)."""

    kind = "malformed"


class AssetLimitError(AssetError):
    """The file is, or declares itself, larger than a configured limit."""

    kind = "limit"


class UnsupportedAssetError(AssetError):
    """Unknown extension, or a feature (e.g. a compression extension) this client does not read."""

    kind = "unsupported"


class MissingDependencyError(XRClientError):
    """An optional package is needed for this operation and is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the optional package '{package}': "
            f"install it with  pip install 'xrclient[{extra}]'"
        )
