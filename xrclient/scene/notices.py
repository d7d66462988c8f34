"""Warnings about mesh files that load, but not exactly as written."""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["AssetWarning", "warn_asset"]


class AssetWarning(UserWarning):
    """A mesh file was loaded with a part of it left out or redrawn: ``<file>: <what>``."""


def warn_asset(path: Path, message: str) -> None:
    """Issue one :class:`AssetWarning` ``<file>: <message>``."""
    warnings.warn(f"{path}: {message}", AssetWarning, stacklevel=3)
