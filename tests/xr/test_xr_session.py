"""The headset client in a shared session: Monado's simulated headset joins a real hub."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.display import XServer
from tests.hub.helpers import client, running_hub, token, wait_until
from tests.xr.xr_runtime import ROOT, runtime_env

pytestmark = pytest.mark.timeout(240)


def test_a_headset_is_seen_with_head_and_hands_and_teleports_when_summoned(
    xvfb: XServer, tmp_path: Path
) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        expert = client(hub, token(name="eddie", role="expert"))
        expert.start()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xrclient",
                "xr",
                "demo-plant",
                "--frames",
                "100000",
                "--session",
                hub.room_url("plant"),
                "--token",
                token(name="hana", role="trainee"),
                "--name",
                "hana",
            ],
            env=runtime_env(xvfb.env()),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:

            def hana() -> tuple[int, object] | None:
                found = [p for p in expert.room().participants.values() if p.name == "hana"]
                if not found:
                    return None
                pose = expert.poses().get(found[0].pid)
                if pose is None or pose.left is None or pose.right is None:
                    return None
                return found[0].pid, pose

            # both simulated controllers are tracked, so both hands travel with the head
            wait_until(lambda: hana() is not None, 90, "the headset's head and hands")
            pid, _ = hana() or (0, None)
            participant = expert.room().participants[pid]
            assert participant.device == "headset"
            pose = expert.poses()[pid]
            assert pose.left is not None and pose.right is not None
            # hands within arm's reach of the head
            assert np.linalg.norm(pose.left[:3] - pose.head[:3]) < 1.5
            assert np.linalg.norm(pose.right[:3] - pose.head[:3]) < 1.5
            before = pose.head[:3].copy()
            # the expert summons everyone to a spot 12 m away: the headset teleports there
            spot = before + np.array([12.0, 0.0, -5.0])
            expert.request("summon", pose=[*spot.tolist(), 0.0, 0.0, 0.0, 1.0]).result(5)

            def arrived() -> bool:
                now = expert.poses().get(pid)
                return now is not None and float(np.hypot(*(now.head[[0, 2]] - spot[[0, 2]]))) < 0.2

            wait_until(arrived, 60, "the headset at the summoned spot")
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _out, err = proc.communicate()
            expert.stop()
        assert proc.returncode == 0, err[-2000:]
        assert "joining session" in err
