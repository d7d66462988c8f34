"""Energy per machine, line and plant from the simulator's counters and power."""

from __future__ import annotations

import numpy as np
import pytest

from xrclient.core.energy import EnergyConfigError, EnergyMeter, parse_energy_table
from xrclient.core.twin_schema import PropertySpec, StreamSchema
from xrclient.core.twin_store import TwinStore
from xrclient.core.updates import UpdateBatch
from xrclient.history.sim_batches import simulate
from xrclient.server.simulator import PlantSimulator

from .helpers import START, demo_scene


def test_demo_plant_energy_matches_the_counters_by_line() -> None:
    scene = demo_scene()
    sim = PlantSimulator(scene, seed=2, start=START + 4 * 86400 + 8 * 3600)
    store = TwinStore([m.id for m in scene.machines])
    meter = EnergyMeter(
        [m.line for m in scene.machines], parse_energy_table({"co2_kg_per_kwh": 0.5})
    )
    col = sim.schema.properties.index(
        next(p for p in sim.schema.properties if p.name == "energy_kwh")
    )
    first = None
    for t, batch in simulate(sim, sim.time, 600, 2.0):
        store.apply(batch, t)
        state = meter.update(store, t)
        if first is None:
            first = sim.values[:, col].copy()
    used = np.nan_to_num(sim.values[:, col] - first)
    assert np.allclose(state.machine_kwh, used, atol=0.011)
    assert state.plant_kwh == pytest.approx(used.sum(), abs=0.02 * len(used))
    assert state.plant_kwh > 1.0  # the day shift runs
    lines = [m.line for m in scene.machines]
    for k, name in enumerate(state.lines):
        mask = np.array([x == name for x in lines])
        assert state.line_kwh[k] == pytest.approx(state.machine_kwh[mask].sum())
    assert state.plant_co2_kg == pytest.approx(0.5 * state.plant_kwh)
    assert state.plant_kw == pytest.approx(np.nansum(state.machine_kw))


def test_power_is_integrated_where_there_is_no_counter_and_resets_count() -> None:
    schema = StreamSchema(
        ("A", "B"), (PropertySpec("power_kw", "number"), PropertySpec("energy_kwh", "number"))
    )
    store = TwinStore(schema.machines)
    meter = EnergyMeter(["L1", "L2"], max_gap_s=500.0)

    def feed(t: float, kw: list[float], kwh: float) -> None:
        m, p = [0, 1, 1], [0, 0, 1]
        store.apply(
            UpdateBatch.build(schema, m, p, [kw[0], kw[1], kwh], t, sent=t, snapshot=True), t
        )

    feed(0.0, [36.0, 10.0], 100.0)
    meter.update(store, 0.0)
    feed(100.0, [36.0, 10.0], 101.0)
    state = meter.update(store, 100.0)
    assert state.machine_kwh[0] == pytest.approx(1.0)  # 36 kW for 100 s
    assert state.machine_kwh[1] == pytest.approx(1.0)  # the counter, not the power
    feed(200.0, [36.0, 10.0], 0.5)  # counter reset
    state = meter.update(store, 200.0)
    assert state.machine_kwh[1] == pytest.approx(1.5)
    feed(1000.0, [36.0, 10.0], 0.5)  # a gap over max_gap_s is not bridged
    state = meter.update(store, 1000.0)
    assert state.machine_kwh[0] == pytest.approx(2.0)
    assert list(state.line_kwh) == pytest.approx([2.0, 1.5])


@pytest.mark.parametrize(
    "doc", [{"co2_kg_per_kwh": -1}, {"co2_kg_per_kwh": "x"}, {"power_property": "a b"}, {"x": 1}]
)
def test_energy_table_errors(doc: dict[str, object]) -> None:
    with pytest.raises(EnergyConfigError):
        parse_energy_table(doc)
