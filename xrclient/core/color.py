"""Colour transfer functions (numpy, float32)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def srgb_to_linear(values: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """IEC 61966-2-1 sRGB transfer function, inverted; input and output in 0..1."""
    v = np.asarray(values, dtype=np.float32)
    return np.where(
        v <= 0.04045, v / np.float32(12.92), ((v + np.float32(0.055)) / np.float32(1.055)) ** 2.4
    ).astype(np.float32)


def linear_to_srgb(values: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """IEC 61966-2-1 sRGB transfer function; input and output in 0..1."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return np.where(
        v <= 0.0031308,
        v * np.float32(12.92),
        np.float32(1.055) * v ** np.float32(1.0 / 2.4) - np.float32(0.055),
    ).astype(np.float32)
