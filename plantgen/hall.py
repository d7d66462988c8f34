"""The demo plant as ONE model file, the way a plant arrives from Blender or Revit.

``assets/hall.glb`` holds the whole demo hall (``scenes/demo-plant.toml``) in one GLB:
``Hall > Line A/B/C/S > <machine id> > <parts>`` and ``Hall > Building > <fixture id>``,
every machine a named node whose parts are the factory model's parts, and the meshes of
a model shared by all its machines (as exporters write instanced furniture). Each machine
node carries glTF ``extras`` ``{"asset_id": id, "type": type}``, as BIM exports carry
custom properties. ``xrclient scene init assets/hall.glb --type-from extras.type`` turns
it back into a scene whose machines are these nodes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rtoml
import trimesh

from plantgen import factory_models as fm
from xrclient.scene.model import Scene
from xrclient.scene.schema import parse_scene

_WORLD = "world"


def _link(
    hall: trimesh.Scene,
    parent: str,
    child: str,
    matrix: npt.NDArray[np.float64] | None = None,
    geometry: str | None = None,
) -> None:
    """Node ``child`` under ``parent`` at ``matrix`` (identity), holding ``geometry``."""
    place = np.eye(4) if matrix is None else np.asarray(matrix, dtype=np.float64)
    extra = {} if geometry is None else {"geometry": geometry}
    hall.graph.update(frame_from=parent, frame_to=child, matrix=place, **extra)  # type: ignore[no-untyped-call]  # trimesh ships no type information


def _attach(hall: trimesh.Scene, model: trimesh.Scene, asset: str, parent: str) -> None:
    """The parts of ``model`` as children of node ``parent``, meshes shared by name."""
    for node in sorted(model.graph.nodes_geometry):
        matrix, geom_name = model.graph[node]
        shared = f"{asset}-{geom_name}"
        if shared not in hall.geometry:
            part = model.geometry[geom_name].copy()
            part.metadata.clear()  # build-time notes, not for the file
            hall.geometry[shared] = part
        _link(hall, parent, f"{node}_{parent}", matrix, shared)


def build_hall(scene: Scene) -> tuple[trimesh.Scene, dict[str, dict[str, str]]]:
    """The hall model of ``scene`` and the extras of each machine node by node name."""
    hall = trimesh.Scene(base_frame=_WORLD)
    _link(hall, _WORLD, "Hall")
    models: dict[str, trimesh.Scene] = {}
    for line in scene.lines:
        _link(hall, "Hall", f"Line {line.id}")
    _link(hall, "Hall", "Building")
    extras: dict[str, dict[str, str]] = {}
    for machine in scene.machines:
        _link(hall, f"Line {machine.line}", machine.id, machine.transform.matrix().astype(float))
        model = models.setdefault(machine.asset, fm.build(machine.asset))
        _attach(hall, model, machine.asset, machine.id)
        extras[machine.id] = {"asset_id": machine.id, "type": machine.type}
    for fixture in scene.fixtures:
        _link(hall, "Building", fixture.id, fixture.transform.matrix().astype(float))
        model = models.setdefault(fixture.asset, fm.build(fixture.asset))
        _attach(hall, model, fixture.asset, fixture.id)
    return hall, extras


def hall_glb(scene_text: str, base_dir: Path) -> bytes:
    """GLB bytes of the hall model of a scene (TOML text whose asset paths are relative to
    ``base_dir``), with the machine nodes' extras."""
    hall, extras = build_hall(parse_scene(rtoml.loads(scene_text), base_dir, "demo scene"))
    # Draco-compressed, as large exports are shipped (and kept small in the repository)
    data = bytes(
        trimesh.exchange.gltf.export_glb(hall, include_normals=True, extension_draco=True)  # type: ignore[no-untyped-call]  # trimesh ships no type information
    )
    length = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + length])
    for node in doc.get("nodes", []):
        if node.get("name") in extras:
            node["extras"] = extras[node["name"]]
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 4)
    binary = data[20 + length :]  # the BIN chunk with its header, as exported
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body
