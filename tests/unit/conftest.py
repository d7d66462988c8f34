"""Builders for real mesh and scan files used by the loader tests."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

Doc = dict[str, Any]


def glb_bytes(doc: Doc, binary: bytes | None = None) -> bytes:
    """A GLB container around ``doc`` (JSON) and an optional BIN chunk, padded as specified."""
    raw = json.dumps(doc).encode()
    raw += b" " * (-len(raw) % 4)
    chunks = struct.pack("<II", len(raw), 0x4E4F534A) + raw
    if binary is not None:
        binary += b"\x00" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def quad_gltf() -> tuple[Doc, bytearray]:
    """A valid one-quad glTF document (red material) and its binary buffer.

    Buffer layout: 4 float32 VEC3 positions at 0..48, 6 uint16 indices at 48..60.
    """
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
    indices = np.array([0, 1, 2, 0, 2, 3], dtype=np.uint16)
    binary = bytearray(positions.tobytes() + indices.tobytes())
    doc: Doc = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "material": 0}]}],
        "materials": [{"name": "red", "pbrMetallicRoughness": {"baseColorFactor": [1, 0, 0, 1]}}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3"},
            {"bufferView": 1, "componentType": 5123, "count": 6, "type": "SCALAR"},
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 48},
            {"buffer": 0, "byteOffset": 48, "byteLength": 12},
        ],
        "buffers": [{"byteLength": 60}],
    }
    return doc, binary


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` and whose data is a stub."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def two_part_scene() -> Any:
    """A red box at the origin and a blue icosphere placed by a node transform at (3, 2, 0)."""
    import trimesh
    from trimesh.visual.material import PBRMaterial

    box = trimesh.creation.box()
    box.visual = trimesh.visual.TextureVisuals(
        material=PBRMaterial(name="red", baseColorFactor=[1.0, 0.0, 0.0, 1.0])
    )
    ball = trimesh.creation.icosphere(subdivisions=2)
    ball.visual = trimesh.visual.TextureVisuals(
        material=PBRMaterial(name="blue", baseColorFactor=[0.0, 0.0, 1.0, 1.0])
    )
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name="box", geom_name="box")
    scene.add_geometry(
        ball,
        node_name="ball",
        geom_name="ball",
        transform=trimesh.transformations.translation_matrix([3.0, 2.0, 0.0]),
    )
    return scene


class Kit:
    """The builders above, handed to tests through the ``kit`` fixture."""

    glb = staticmethod(glb_bytes)
    quad = staticmethod(quad_gltf)
    png = staticmethod(png_header_only)
    two_parts = staticmethod(two_part_scene)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes | str], Path]:
    """Write bytes or text to ``tmp_path / name`` and return the path."""

    def _write(name: str, data: bytes | str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    return _write


@pytest.fixture
def scene_glb(write: Callable[[str, bytes | str], Path]) -> Path:
    return write("plant_part.glb", two_part_scene().export(file_type="glb"))


@pytest.fixture
def surface_points() -> tuple[np.ndarray, np.ndarray]:
    """200k points on a 10 m x 4 m wavy sheet with per-point colours (red rising to yellow)."""
    rng = np.random.default_rng(7)
    n = 200_000
    xy = rng.uniform([0.0, 0.0], [10.0, 4.0], size=(n, 2))
    z = 0.2 * np.sin(xy[:, :1])
    points = np.hstack([xy, z])
    colors = np.zeros((n, 3))
    colors[:, 0] = 1.0
    colors[:, 1] = xy[:, 1] / 4.0
    return points, colors
