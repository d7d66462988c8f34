"""``.usdz`` packages checked before usd-core sees them: a zip archive read by its directory.

A USDZ package is a zip archive whose entries are stored, not compressed (the format
requires it, so that layers and images are read in place). The central directory is read
with :mod:`zipfile` and checked against the limits before anything is opened: at most
:data:`MAX_ENTRIES` entries, every entry stored and unencrypted, its declared sizes within
the file and the limits, its name a plain relative path inside the package, the first entry
a USD layer, and packages nested inside the package at most :data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from xrclient.errors import AssetLimitError, MalformedAssetError, UnsupportedAssetError
from xrclient.scene.guards import LoadLimits, check_file

__all__ = ["MAX_DEPTH", "MAX_ENTRIES", "UsdzEntry", "check_usdz", "read_entry"]

#: entries one package (nested ones included) may hold
MAX_ENTRIES = 4096
#: packages inside the package, inside that one, ...: at most this many levels
MAX_DEPTH = 1
_LAYER_SUFFIXES = (".usd", ".usda", ".usdc")


@dataclass(frozen=True, slots=True)
class UsdzEntry:
    name: str
    offset: int  # of the entry's local header in the package file
    size: int


def check_usdz(path: Path, limits: LoadLimits) -> dict[str, UsdzEntry]:
    """The entries of the package at ``path`` by name, after every check of the module doc."""
    size = check_file(path, limits)
    try:
        with open(path, "rb") as handle:
            return _check(path, handle, size, limits, 0, [0])
    except OSError as exc:
        raise MalformedAssetError(path, f"cannot be read: {exc.strerror or exc}") from None


def _check(
    path: Path, handle: io.BufferedIOBase | io.BytesIO, size: int, limits: LoadLimits,
    depth: int, seen: list[int],
) -> dict[str, UsdzEntry]:  # fmt: skip
    try:
        archive = zipfile.ZipFile(handle)  # reads the central directory only
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise MalformedAssetError(path, f"not a valid USDZ (zip) package: {exc}") from None
    with archive:
        infos = archive.infolist()
        seen[0] += len(infos)
        if seen[0] > MAX_ENTRIES:
            raise AssetLimitError(
                path, f"USDZ package holds over {MAX_ENTRIES:,} entries (nested ones included)"
            )
        if not infos:
            raise MalformedAssetError(path, "USDZ package is empty")
        total = 0
        entries: dict[str, UsdzEntry] = {}
        for info in infos:
            name = info.filename
            where = f"USDZ entry {name[:80]!r}"
            _check_name(path, name, where)
            if info.flag_bits & 0x1:
                raise UnsupportedAssetError(path, f"{where} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                raise UnsupportedAssetError(
                    path, f"{where} is compressed; USDZ entries must be stored uncompressed"
                )
            if info.file_size > limits.max_file_bytes:
                raise AssetLimitError(
                    path,
                    f"{where} declares {info.file_size:,} bytes, above the limit of "
                    f"{limits.max_file_bytes:,}",
                )
            if info.compress_size != info.file_size or info.header_offset + info.file_size > size:
                raise MalformedAssetError(path, f"{where} declares more bytes than the file holds")
            total += info.file_size
            if total > limits.max_file_bytes:
                raise AssetLimitError(
                    path, f"USDZ entries add up to over {limits.max_file_bytes:,} bytes"
                )
            if name in entries:
                raise MalformedAssetError(path, f"{where} appears twice")
            entries[name] = UsdzEntry(name, info.header_offset, info.file_size)
            if name.lower().endswith(".usdz"):
                if depth >= MAX_DEPTH:
                    raise AssetLimitError(
                        path, f"{where}: packages nested over {MAX_DEPTH} level(s) deep"
                    )
                inner = archive.read(info)
                _check(path, io.BytesIO(inner), len(inner), limits, depth + 1, seen)
        if not infos[0].filename.lower().endswith(_LAYER_SUFFIXES):
            raise MalformedAssetError(
                path, f"the first USDZ entry {infos[0].filename[:80]!r} is not a USD layer"
            )
        return entries


def _check_name(path: Path, name: str, where: str) -> None:
    pure = PurePosixPath(name)
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or pure.is_absolute()
        or ".." in pure.parts
        or ":" in pure.parts[0]
    ):
        raise MalformedAssetError(path, f"{where} is not a plain path inside the package")


def read_entry(path: Path, name: str, limits: LoadLimits) -> bytes:
    """The bytes of entry ``name`` of a checked package (:func:`check_usdz`)."""
    entries = check_usdz(path, limits)
    if name not in entries:
        raise MalformedAssetError(path, f"USDZ package has no entry {name[:80]!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)
    except (OSError, zipfile.BadZipFile) as exc:
        raise MalformedAssetError(path, f"USDZ entry {name[:80]!r} cannot be read: {exc}") from None
