"""Shared helpers: simulator recordings and store comparisons."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.history.recorder import Recorder
from xrclient.history.sim_batches import simulate
from xrclient.resources import DEMO_SCENE, scene_path
from xrclient.scene.model import Scene
from xrclient.scene.schema import load_scene
from xrclient.server.simulator import PlantSimulator

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC


@cache
def demo_scene() -> Scene:
    return load_scene(scene_path(DEMO_SCENE))


def sim_batches(seconds: float, rate_hz: float = 5.0, seed: int = 3) -> list[UpdateBatch]:
    sim = PlantSimulator(demo_scene(), seed=seed, start=START, fault_rate_per_hour=0.5)
    return [b for _, b in simulate(sim, START, seconds, rate_hz)]


def record(path: Path, batches: list[UpdateBatch], keyframe_s: float = 5.0) -> None:
    with Recorder(path, keyframe_s=keyframe_s) as rec:
        for b in batches:
            rec.write(b)


def store_after(batches: list[UpdateBatch], t: float) -> TwinStore:
    """A store fed every batch sent at or before ``t`` (the reference state)."""
    store = TwinStore([m.id for m in demo_scene().machines])
    for b in batches:
        if b.sent <= t:
            store.apply(b, b.sent)
    return store


def same_store(a: TwinStore, b: TwinStore) -> bool:
    """Same latest values (string properties compared as texts) and source times."""
    if a.schema != b.schema:
        return False
    for i, spec in enumerate(a.properties):
        if spec.kind == "string":
            ta = [a.text(spec.name, v) for v in a.value[:, i]]
            tb = [b.text(spec.name, v) for v in b.value[:, i]]
            if ta != tb:
                return False
        elif not np.array_equal(a.value[:, i], b.value[:, i], equal_nan=True):
            return False
    return bool(np.array_equal(a.source_time, b.source_time, equal_nan=True))
