"""Large static meshes split into spatial chunks, so that the renderer can cull them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from tests.render.helpers import scene_of
from xrclient.scene.geometry import (
    FIXTURE,
    MAX_CHUNKS,
    MIN_CHUNK_TRIANGLES,
    build_geometry,
    chunk_mesh,
)
from xrclient.scene.mesh import MeshData
from xrclient.scene.textures import Texture


def soup(triangles: int, seed: int = 3, extent: float = 100.0) -> MeshData:
    """Small triangles scattered over a square ``extent`` m wide, sharing no vertices but
    every third triangle sharing its first vertex with the triangle before it."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, extent, (triangles, 3)) * [1.0, 0.05, 1.0]
    centers[2::3] = centers[1::3][: len(centers[2::3])]  # the pairs that share a vertex
    corners = centers[:, None] + rng.uniform(-0.2, 0.2, (triangles, 3, 3))
    positions = corners.reshape(-1, 3).astype(np.float32)
    indices = np.arange(3 * triangles, dtype=np.uint32).reshape(-1, 3)
    indices[2::3, 0] = indices[1::3, 0][: len(indices[2::3])]
    colors = rng.uniform(0, 1, (len(positions), 4)).astype(np.float32)
    normals = np.tile(np.float32([0, 1, 0]), (len(positions), 1))
    return MeshData("soup", positions, normals, colors, indices, parts=7, materials=("m",))


def world_triangles(mesh: MeshData) -> npt.NDArray[np.float32]:
    """Each triangle as its 3 positions and 3 colours, rows sorted: comparable as a set."""
    rows = np.concatenate(
        [mesh.positions[mesh.indices].reshape(-1, 9), mesh.colors[mesh.indices].reshape(-1, 12)],
        axis=1,
    )
    return rows[np.lexsort(rows.T[::-1])]


def footprint(bounds: npt.NDArray[np.float32]) -> float:
    """The x-z area of a box."""
    return float((bounds[1, 0] - bounds[0, 0]) * (bounds[1, 2] - bounds[0, 2]))


def test_a_large_mesh_splits_into_compact_chunks_holding_every_triangle_once() -> None:
    mesh = soup(65_000)
    chunks = chunk_mesh(mesh)
    assert len(chunks) == 65_000 // MIN_CHUNK_TRIANGLES == 6
    sizes = [c.triangle_count for c in chunks]
    assert sum(sizes) == mesh.triangle_count
    assert min(sizes) >= MIN_CHUNK_TRIANGLES
    assert max(sizes) - min(sizes) <= 2  # split by count
    merged = MeshData(
        "merged",
        np.concatenate([c.positions for c in chunks]),
        np.concatenate([c.normals for c in chunks]),
        np.concatenate([c.colors for c in chunks]),
        np.concatenate(
            [c.indices + sum(p.vertex_count for p in chunks[:k]) for k, c in enumerate(chunks)]
        ).astype(np.uint32),
    )
    np.testing.assert_array_equal(world_triangles(merged), world_triangles(mesh))
    for c in chunks:
        assert c.indices.dtype == np.uint32 and int(c.indices.max()) < c.vertex_count
        assert c.vertex_count <= 3 * c.triangle_count  # only the vertices it uses
        assert (c.name, c.parts, c.materials) == ("soup", 7, ("m",))
    # tight boxes: each a small part of the floor plan, together hardly overlapping
    whole = footprint(mesh.bounds)
    assert max(footprint(c.bounds) for c in chunks) < 0.25 * whole
    assert sum(footprint(c.bounds) for c in chunks) < 1.05 * whole


def test_chunks_keep_the_mesh_order_and_are_deterministic() -> None:
    mesh = soup(30_000, seed=5)
    first, second = chunk_mesh(mesh), chunk_mesh(soup(30_000, seed=5))
    assert len(first) == 3
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.indices, b.indices)
    # within a chunk the triangles come in the mesh's order: their first vertices ascend
    # in the source, so their positions appear in the source's order
    for c in first:
        source_rows = [
            int(np.flatnonzero((mesh.positions == p).all(axis=1))[0])
            for p in c.positions[c.indices[:50, 1]]
        ]
        assert source_rows == sorted(source_rows)


def test_small_meshes_points_and_the_chunk_cap() -> None:
    small = soup(2 * MIN_CHUNK_TRIANGLES - 1)
    assert chunk_mesh(small) == [small]
    pts = MeshData(
        "scan",
        small.positions,
        np.zeros_like(small.positions),
        small.colors,
        np.zeros((0, 3), dtype=np.uint32),
        primitive="points",
    )
    assert chunk_mesh(pts) == [pts]
    many = chunk_mesh(soup(20_000), min_triangles=100)
    assert len(many) == MAX_CHUNKS
    assert sum(c.triangle_count for c in many) == 20_000


def test_build_geometry_chunks_assets_placed_once() -> None:
    meshes = {"hall": soup(45_000), "twice": soup(45_000, seed=9), "unit": soup(45_000, seed=4)}
    placed = scene_of(
        [("unit", (0.0, 0.0, 0.0))],
        [("hall", (0.0, 0.0, 0.0)), ("twice", (0.0, 1.0, 0.0)), ("twice", (0.0, 2.0, 0.0))],
    )
    geo = build_geometry(placed, lambda a: meshes[a.name])
    names = [b.asset for b in geo.batches]
    # the machine asset and the hall are placed once: 4 chunks each; "twice" stays whole
    assert names == ["unit"] * 4 + ["hall"] * 4 + ["twice"]
    assert geo.triangle_count == 4 * 45_000
    for b in geo.batches[:4]:
        assert b.machine.tolist() == [0]
    assert geo.batches[4].machine.tolist() == [FIXTURE]
    assert geo.batches[-1].instance_count == 2
    # bounds are the whole mesh's, not a chunk's
    lo, hi = meshes["unit"].bounds
    np.testing.assert_allclose(geo.machine_bounds[0], [lo, hi], atol=1e-5)


def test_texture_ranges_and_coordinates_follow_their_triangles() -> None:
    base = soup(45_000, seed=8)
    brick, steel = (Texture(n, np.zeros((2, 2, 4), dtype=np.uint8)) for n in ("brick", "steel"))
    uvs = np.random.default_rng(1).uniform(0, 1, (base.vertex_count, 2)).astype(np.float32)
    ranges = np.array([[0, 20_000, 1], [20_000, 10_000, -1], [30_000, 15_000, 0]], np.int32)
    mesh = replace(base, uvs=uvs, textures=(steel, brick), texture_ranges=ranges)
    texture_of = np.repeat(np.array([brick, None, steel], dtype=object), [20_000, 10_000, 15_000])

    def keyed(m: MeshData, names: list[str]) -> list[tuple[bytes, str]]:
        assert m.uvs is not None
        rows = np.concatenate(
            [m.positions[m.indices].reshape(-1, 9), m.uvs[m.indices].reshape(-1, 6)], axis=1
        )
        return sorted(zip([r.tobytes() for r in rows], names, strict=True))

    expected = keyed(mesh, [t.name if t is not None else "-" for t in texture_of])
    chunks = chunk_mesh(mesh)
    assert len(chunks) == 4
    found: list[tuple[bytes, str]] = []
    for c in chunks:
        r = c.texture_ranges
        assert r.dtype == np.int32 and r[:, 1].sum() == c.triangle_count
        np.testing.assert_array_equal(r[:, 0], np.concatenate([[0], np.cumsum(r[:, 1])[:-1]]))
        used = [int(i) for i in r[:, 2] if i >= 0]
        assert len(used) == len(set(used))  # each texture's triangles contiguous
        assert sorted(used) == list(range(len(c.textures)))  # only the textures it draws
        names = np.repeat([c.textures[i].name if i >= 0 else "-" for i in r[:, 2]], r[:, 1])
        found += keyed(c, names.tolist())
    assert sorted(found) == expected
    # a mesh whose ranges do not cover its triangles is left whole
    broken = replace(mesh, texture_ranges=ranges[:2])
    assert chunk_mesh(broken) == [broken]
