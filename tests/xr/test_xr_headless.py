"""Instance, system, session lifecycle, actions and teardown against Monado, without
graphics (``XR_MND_headless``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.xr.xr_runtime import run_probe, runtime_env
from xrclient.xr.bindings import PROFILES

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def headless(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("xr-headless")
    run_probe(["headless", str(out)], runtime_env())
    result: dict[str, Any] = json.loads((out / "headless.json").read_text())
    return result


def test_instance_and_system(headless: dict[str, Any]) -> None:
    assert headless["extensions"][0] == "XR_MND_headless"
    assert "XR_KHR_opengl_enable" not in headless["extensions"]
    assert headless["system"] == "Monado: Simulated HMD"
    assert headless["view_sizes"] == [[320, 240], [320, 240]]
    assert headless["space"] == "STAGE"


def test_lifecycle_reaches_focus_then_exits(headless: dict[str, Any]) -> None:
    assert headless["focused"] is True
    states = headless["states"]
    assert states[:5] == ["IDLE", "READY", "SYNCHRONIZED", "VISIBLE", "FOCUSED"]
    # exit requested through the runtime: it walks the session down to EXITING
    tail = states[5:]
    assert tail[-3:] == ["STOPPING", "IDLE", "EXITING"]
    assert headless["commands"][-3:] == ["DESTROY_SESSION", "DESTROY_INSTANCE", "QUIT"]
    assert headless["reason"] == "the runtime ended the session"


def test_every_profile_binding_is_accepted(headless: dict[str, Any]) -> None:
    assert headless["profiles"] == list(PROFILES)


def test_actions_locate_the_simulated_controllers(headless: dict[str, Any]) -> None:
    left, right = headless["aim"]
    assert left == pytest.approx([-0.2, 1.3, -0.5], abs=1e-4)
    assert right == pytest.approx([0.2, 1.3, -0.5], abs=1e-4)
    assert headless["select"] == [0.0, 0.0]


def test_teardown_releases_everything_in_reverse(headless: dict[str, Any]) -> None:
    assert headless["released"] == ["last registered, first released"]
    assert headless["handles_cleared"] is True
    assert headless["actions_cleared"] is True
    assert headless["instance_destroyed"] is True


def test_probe_path_is_a_real_file() -> None:
    assert (Path(__file__).parent / "probe.py").is_file()
