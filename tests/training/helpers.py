"""Shared builders for the training tests: the demo scene, a twin store, procedure text."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from xrclient import resources
from xrclient.core.twin_schema import StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene
from xrclient.server.sim_profiles import PROPERTIES, STATES
from xrclient.training import Procedure, parse_procedure

PROCEDURES = Path(__file__).resolve().parents[2] / "scenes" / "procedures"
LOCKOUT = PROCEDURES / "lockout-press-b3.toml"
JAM = PROCEDURES / "clear-jam-conveyor-a3.toml"


@cache
def demo() -> Scene:
    return load_scene(resources.scene_path(resources.DEMO_SCENE))


def store_for(scene: Scene) -> TwinStore:
    """A store with the simulator's schema, every machine IDLE at 5 kW."""
    ids = tuple(m.id for m in scene.machines)
    store = TwinStore(ids)
    store.set_schema(StreamSchema(ids, tuple(spec for spec, _ in PROPERTIES)))
    set_value(store, None, "state", STATES.index("IDLE"))
    set_value(store, None, "power_kw", 5.0)
    store.source_time[:, :] = 0.0
    return store


def set_value(store: TwinStore, machine: str | None, prop: str, value: float) -> None:
    col = store.prop_index(prop)
    assert col is not None
    if machine is None:
        store.value[:, col] = value
    else:
        store.value[store.machine_ids.index(machine), col] = value


def set_state(store: TwinStore, machine: str, state: str) -> None:
    set_value(store, machine, "state", float(STATES.index(state)))


def procedure(body: str, head: str = "") -> Procedure:
    text = 'format = 1\n[procedure]\nid = "p"\ntitle = "Test procedure"\n' + head + "\n" + body
    return parse_procedure(text, "test.toml", demo())


def nan_count(store: TwinStore) -> int:
    return int(np.isnan(store.value).sum())


SECRET = bytes(range(32))


def hub_token(name: str, role: str, room: str = "line-b") -> str:
    from xrclient.core import session_roles as roles
    from xrclient.hub import tokens

    return tokens.mint(SECRET, room, name, roles.Role(role), 3600)
