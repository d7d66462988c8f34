"""A trainee runs the lockout procedure in the desktop viewer: a real window on Xvfb, real X
input, the simulator over a real twin stream and a real hub storing the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.display import XServer
from tests.hub.helpers import client, running_hub, token
from xrclient.core import math3d
from xrclient.core.session_mirror import Notice
from xrclient.desktop.viewer import Viewer
from xrclient.live import TwinOptions
from xrclient.resources import scene_path
from xrclient.session import SessionOptions
from xrclient.settings import Settings

from .xwin import find_window, until, xdotool

SIZE = (960, 540)
TITLE = "xrclient-training-test"


def test_a_trainee_locks_out_the_press_with_keys_and_the_hub_stores_the_result(
    display: XServer, plant_sim: str, tmp_path: Path
) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        expert = client(hub, token(name="eddie", role="expert"))
        expert.start()
        options = Settings(
            scene=scene_path("demo-plant"),
            twin=TwinOptions(plant_sim, wait=10.0),
            session=SessionOptions(hub.room_url("plant"), token(name="tess", role="trainee")),
            size=SIZE,
            vsync=False,
            title=TITLE,
            procedure="lockout-press-b3",
            trainee="tess",
        )
        v = Viewer(options)
        try:
            assert v.training is not None and v.live is not None
            driver = v.training.driver
            assert driver is not None
            wid = find_window(display.display, TITLE, v.step)
            until(lambda: driver.view is not None and v.live.status.state == "live", v.step, "live")
            press = v.scene.machine_index["PRS-B3"]
            assert driver.view is not None and driver.view.target_machine == press
            # the progress panel at the top centre of the HUD names the step
            texts = [line.text for line in v.training.hud_lines()]
            assert texts[0] == "Lock out press PRS-B3 before die change"
            assert texts[1].startswith("Step 1 of 5")
            for _ in range(3):
                v.step()
            image = v.read_rgb()
            top = image[12:120, SIZE[0] // 2 - 150 : SIZE[0] // 2 + 150].astype(int)
            assert (top.max(axis=2) > 180).sum() > 200, "no progress panel at the top"

            # the expert sees where the trainee is
            progress: list[Notice] = []

            def tess_seen() -> bool:
                progress.extend(n for n in expert.drain_notices() if n.kind == "training_progress")
                return any(n.data["name"] == "tess" and n.data["step"] == 0 for n in progress)

            until(tess_seen, v.step, "tess's progress at the expert")

            # walking into running robot cell B3 raises the hazard warning in large type
            v.live.client.control("set_state", machine="RBT-B3", state="RUNNING").result(5)
            robot = v.scene.machines[v.scene.machine_index["RBT-B3"]]
            rx, _, rz = robot.transform.position
            home_eye, home_target = v.rig.eye.copy(), v.rig.target.copy()
            v.rig.look_at((rx + 0.5, 1.6, rz + 0.5), (rx + 5.0, 1.6, rz + 5.0))
            until(lambda: v.training.warning() != "", v.step, "the hazard warning")
            v.step()
            image = v.read_rgb().astype(int)
            band = image[SIZE[1] - 160 : SIZE[1] - 60, SIZE[0] // 2 - 100 : SIZE[0] // 2 + 100]
            red = (band[..., 0] > 150) & (band[..., 1] < 60) & (band[..., 2] < 60)
            assert red.sum() > 500, "no red hazard banner"
            v.rig.look_at(home_eye, home_target)
            until(lambda: v.training.warning() == "", v.step, "leaving the zone")

            # search and Enter select the press: step 1 done
            xdotool(display.display, "windowfocus", "--sync", wid)
            xdotool(display.display, "key", "slash")
            until(lambda: v.ui.state.query == "", v.step, "the search box")
            xdotool(display.display, "type", "--delay", "15", "PRS-B3")
            xdotool(display.display, "key", "Return")
            until(lambda: _step(v) == "notify", v.step, "step 2")
            # C confirms the call to the operators
            xdotool(display.display, "key", "c")
            until(lambda: _step(v) == "lock-out", v.step, "step 3")
            # the step's picture (the disconnect, locked out) under the progress panel
            until(lambda: v.hud.image_at is not None, v.step, "the step's image")
            v.step()
            x, y = (round(c) for c in v.hud.image_at)
            shot = v.read_rgb()[y : y + 240, x : x + 320].astype(int)
            yellow = (shot[..., 0] > 200) & (shot[..., 1] > 150) & (shot[..., 2] < 90)
            assert yellow.sum() > 2000, "the switch plate of the image is not shown"
            # Shift+L locks the selected press out through the twin stream; the live state
            # (LOCKED_OUT, no power) completes the step
            xdotool(display.display, "key", "shift+l")
            until(lambda: _step(v) == "verify", v.step, "the lockout seen in the live state")
            until(lambda: v.hud.image_at is None, v.step, "the image gone with its step")
            # pointing at the press (the cursor over it) completes the next step
            view = v.last_view
            b = v.geometry.machine_bounds[press].astype(float)
            ndc = math3d.transform_points(view.view_projection, [(b[0] + b[1]) / 2])[0]
            x, y = int((ndc[0] + 1) / 2 * SIZE[0]), int((1 - ndc[1]) / 2 * SIZE[1])
            xdotool(display.display, "mousemove", "--window", wid, str(x), str(y))
            until(lambda: driver.run.status == "completed", v.step, "the end of the procedure")
            until(lambda: driver.result_seq is not None, v.step, "the stored result")
            assert driver.result_seq == 1
            result = driver.run.result()
            assert result.passed and result.score == 80  # one hazard entry: -20
            assert [e.kind for e in result.errors] == ["hazard_entered"]
        finally:
            v.close()
        stored = expert.training_results(trainee="tess").result(5).data["results"]
        expert.stop()
    assert len(stored) == 1 and stored[0]["result"]["passed"] is True
    doc = stored[0]["result"]
    assert doc["procedure_id"] == "lockout-press-b3" and doc["trainee"] == "tess"
    assert np.isclose(doc["score"], 80.0)


def _step(v: Viewer) -> str:
    assert v.training is not None and v.training.driver is not None
    view = v.training.driver.view
    return view.step_id if view is not None else ""
