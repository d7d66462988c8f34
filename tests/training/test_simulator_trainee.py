"""A scripted trainee runs the sample procedures against the plant simulator, over a real
twin-stream connection on loopback; the twin changes come from controls sent through the
real client, as a trainer's console or the plant would."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from xrclient.core.twin_store import TwinStore
from xrclient.net.twin_client import TwinClient
from xrclient.server.background import BackgroundServer
from xrclient.server.simulator import PlantSimulator
from xrclient.server.twin_server import ServerConfig
from xrclient.training import TrainingRun, TrainingView, load_procedure

from .helpers import JAM, LOCKOUT, demo

OUTSIDE = (30.0, 1.7, 30.0)
Head = tuple[float, float, float]


@contextmanager
def live_plant() -> Iterator[tuple[TwinClient, TwinStore]]:
    scene = demo()
    sim = PlantSimulator(scene, seed=7, start=time.time(), fault_rate_per_hour=0.0)
    server = BackgroundServer(
        sim, ServerConfig(port=0, rate_hz=50.0, heartbeat_s=0.2, allow_control=True)
    )
    try:
        server.start()
        store = TwinStore([m.id for m in scene.machines])
        with TwinClient(server.url) as client:
            yield client, store
    finally:
        server.close()


def drive(
    run: TrainingRun,
    client: TwinClient,
    store: TwinStore,
    until: Callable[[TrainingView], bool],
    head: Head = OUTSIDE,
    timeout: float = 10.0,
) -> TrainingView:
    """The frame loop: apply what arrived, update the run, until ``until(view)``."""
    deadline = time.monotonic() + timeout
    while True:
        for batch in client.queue.drain():
            store.apply(batch, time.time())
        view = run.update(store, time.time(), head)
        if until(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; run at {view.step_id!r}: {view.message}")
        client.queue.wait(0.05)


def live(client: TwinClient, store: TwinStore) -> bool:
    return client.status.state == "live" and store.prop("state") is not None


def control(client: TwinClient, action: str, **fields: str) -> str:
    return client.control(action, **fields).result(5)


def test_trainee_locks_out_the_press_against_the_live_simulator() -> None:
    scene = demo()
    run = TrainingRun.for_scene(load_procedure(LOCKOUT, scene), scene, trainee="tess")
    with live_plant() as (client, store):
        view = drive(run, client, store, lambda v: live(client, store))
        assert control(client, "set_state", machine="RBT-B2", state="RUNNING") == "RBT-B2: RUNNING"
        assert control(client, "set_state", machine="PRS-B3", state="RUNNING")
        # a wrong machine first, then the press
        assert not run.select("CNV-A3")
        assert run.select("PRS-B3")
        # cutting through robot cell B2's envelope while it runs
        robot = scene.machines[scene.machine_index["RBT-B2"]].transform.position
        inside = (robot[0] + 0.5, 1.7, robot[2])
        view = drive(run, client, store, lambda v: bool(v.warnings), head=inside)
        assert view.warnings[0].startswith("Robot cell B2 is running")
        view = drive(run, client, store, lambda v: not v.warnings)
        assert view.step_id == "notify"
        assert run.confirm()
        view = drive(run, client, store, lambda v: v.step_id == "lock-out")
        # the press keeps running until it is really locked out
        view = drive(run, client, store, lambda v: True)
        assert view.step_id == "lock-out"
        result = control(client, "set_state", machine="PRS-B3", state="LOCKED_OUT")
        assert result.startswith("PRS-B3: LOCKED_OUT")
        view = drive(run, client, store, lambda v: v.step_id == "verify")
        assert store.display(scene.machine_index["PRS-B3"], "state") == "LOCKED_OUT"
        power = store.display(scene.machine_index["PRS-B3"], "power_kw")
        assert isinstance(power, float) and power < 0.1
        assert run.point_at("PRS-B3")
        view = drive(run, client, store, lambda v: v.status != "running")
    assert view.status == "completed" and view.completed == 5
    res = run.result()
    assert [s.status for s in res.steps] == ["done"] * 5
    assert [(e.kind, e.detail) for e in res.errors] == [
        ("wrong_machine", "CNV-A3"),
        ("hazard_entered", "robot-b2-envelope"),
    ]
    assert res.score == 70.0 and not res.passed  # 100 - 10 (wrong) - 20 (hazard) < 75


def test_trainee_clears_a_conveyor_jam_against_the_live_simulator() -> None:
    scene = demo()
    run = TrainingRun.for_scene(load_procedure(JAM, scene), scene, trainee="tom")
    with live_plant() as (client, store):
        drive(run, client, store, lambda v: live(client, store))
        assert "E-JAM-301 now" in control(client, "inject_fault", machine="CNV-A3", fault="jam")
        assert run.select("CNV-A3")
        view = drive(run, client, store, lambda v: v.step_id == "lock-out")
        belt = view.zones[0]
        assert belt.active  # not locked out yet: the belt is a hazard
        control(client, "set_state", machine="CNV-A3", state="LOCKED_OUT")
        view = drive(run, client, store, lambda v: v.step_id == "remove-part")
        assert not view.zones[0].active  # locked out: safe to reach in
        assert run.confirm()
        control(client, "clear_fault", machine="CNV-A3")
        control(client, "set_state", machine="CNV-A3", state="RUNNING")
        view = drive(run, client, store, lambda v: v.status != "running")
    res = run.result()
    assert view.status == "completed" and res.passed and res.score == 100.0
    assert res.steps[1].duration_s >= 0 and res.errors == ()
