"""A scene's alarm levels for the anomaly predictor, and the predictor for a scene.

The predictor (:mod:`xrclient.core.anomaly`) takes plain values: the machines' types and,
per property, a per machine alarm level and sign. This module reads them from a validated
:class:`~xrclient.scene.model.Scene`: its gauges (their alarm, else warn) and its alarms of
the form ``prop > value``.
"""

from __future__ import annotations

from xrclient.core.anomaly import F64, Predictor, add_level, simple_alarm
from xrclient.core.anomaly_config import PredictionConfig
from xrclient.scene.model import Scene


def scene_thresholds(scene: Scene) -> dict[str, tuple[F64, F64]]:
    """Per property, per machine alarm level and sign (+1: high is bad; NaN: none), from
    the scene's gauges (their alarm, else warn) and alarms of the form ``prop > value``
    (or ``<``, ``>=``, ``<=``); where several apply, the one reached first counts."""
    machines = scene.machines
    n = len(machines)
    out: dict[str, tuple[F64, F64]] = {}
    for b in scene.bindings:
        mask = b.select.mask(machines)
        if b.gauge is not None:
            g = b.gauge
            level = g.alarm if g.alarm is not None else g.warn
            if level is not None and g.value.text.strip() == g.property:
                sign = 1.0 if g.direction == "high" else -1.0
                add_level(out, n, g.property, mask, float(level), sign)
        if b.alarm is not None:
            simple = simple_alarm(b.alarm.when.text)
            if simple is not None:
                add_level(out, n, simple[0], mask, simple[1], simple[2])
    return out


def scene_predictor(
    scene: Scene, config: PredictionConfig | None = None, *, slices: int = 1
) -> Predictor:
    """A predictor for the machines of ``scene`` with the alarm levels of its gauges and
    simple alarms."""
    types = [m.type for m in scene.machines]
    return Predictor(types, config, scene_thresholds(scene), slices=slices)
