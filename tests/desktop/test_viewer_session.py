"""The desktop viewer in a shared session: a real hub on loopback, a real window, real X input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.display import XServer
from tests.hub.helpers import client, running_hub, token
from xrclient.core import math3d
from xrclient.desktop.viewer import Viewer
from xrclient.resources import scene_path
from xrclient.session import SessionOptions
from xrclient.settings import Settings

from .xwin import find_window, until, xdotool

SIZE = (800, 450)


def test_the_viewer_sees_others_is_seen_follows_and_pins_notes(
    display: XServer, tmp_path: Path
) -> None:
    with running_hub(tmp_path / "hub.sqlite") as hub:
        expert = client(hub, token(name="eddie", role="expert"))
        expert.start()
        options = Settings(
            scene=scene_path("demo-plant"),
            session=SessionOptions(hub.room_url("plant"), token(name="vera", role="operator")),
            size=SIZE,
            vsync=False,
            title="xrclient-session-test",
        )
        v = Viewer(options)
        try:
            assert v.link is not None
            session = v.link.session
            wid = find_window(display.display, "xrclient-session-test", v.step)
            until(lambda: any(p.name == "eddie" for p in session.participants), v.step, "eddie")
            # eddie stands 8 m in front of the viewer's camera, facing it, pointing at it
            eye, forward = v.rig.eye.copy(), v.rig.forward.copy()
            head = eye + forward * 8.0
            yaw = float(np.arctan2(-forward[0], -forward[2]))  # -Z of the pose toward the eye
            quat = math3d.euler_quat((0.0, np.degrees(yaw), 0.0))
            expert.set_pose([*head, *quat], None, None, [*head, *(-forward)])
            until(
                lambda: any(p.pose is not None for p in session.participants),
                v.step,
                "eddie's pose",
            )
            for _ in range(3):
                v.step()
            image = v.read_rgb()
            ndc = math3d.transform_points(v.last_view.view_projection, [head])[0]
            x, y = int((ndc[0] + 1) / 2 * SIZE[0]), int((1 - ndc[1]) / 2 * SIZE[1])
            patch = image[y - 4 : y + 5, x - 4 : x + 5].reshape(-1, 3).astype(int)
            orange = (patch[:, 0] > patch[:, 1] + 40) & (patch[:, 1] > patch[:, 2] + 30)
            assert orange.mean() > 0.5, f"no expert-orange head at {(x, y)}: {patch[:3]}"

            # eddie sees vera's camera where the viewer's camera is
            def vera_seen() -> bool:
                poses = expert.poses()
                mine = [p for p in expert.room().participants.values() if p.name == "vera"]
                return (
                    bool(mine)
                    and mine[0].pid in poses
                    and np.allclose(poses[mine[0].pid].head[:3], v.rig.eye, atol=0.05)
                )

            until(vera_seen, v.step, "vera's presence at eddie")
            # a note typed in the window is pinned on the selected machine for everyone
            machine = v.scene.machine_index["PRS-B3"]
            v.ui.state.selected = machine
            xdotool(display.display, "windowfocus", "--sync", wid)
            xdotool(display.display, "key", "n")
            until(lambda: v.ui.state.note == "", v.step, "the note field")
            xdotool(display.display, "type", "--delay", "15", "check die")
            xdotool(display.display, "key", "Return")

            def pinned() -> bool:
                notes = expert.room().annotations.values()
                return any(a.text == "check die" and a.machine == "PRS-B3" for a in notes)

            until(pinned, v.step, "the note at eddie")
            until(lambda: len(session.annotations) == 1, v.step, "the note at vera")
            # eddie leads: the viewer follows his head; F breaks away
            expert.request("lead", on=True).result(5)
            until(lambda: float(np.linalg.norm(v.rig.eye - head)) < 0.3, v.step, "following eddie")
            xdotool(display.display, "key", "f")
            until(lambda: session.follow is None, v.step, "breaking away")
        finally:
            v.close()
            expert.stop()


def run_view(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "xrclient", "view", "demo-plant", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_session_options_are_refused_before_anything_opens(tmp_path: Path) -> None:
    good = token(room="plant", name="vera", role="operator")
    cases = [
        (["--session", "ws://127.0.0.1:9/plant"], "needs a join token"),
        (["--session", "http://x/plant", "--token", good], "wss://host:8766/ROOM"),
        (["--session", "ws://127.0.0.1:9/hall", "--token", good], "the token is for room"),
        (["--session", "ws://127.0.0.1:9/plant", "--token", good, "--name", "max"], "not 'max'"),
        (["--session", "ws://127.0.0.1:9/plant", "--token", "nonsense" * 3], "join token"),
        (["--token", good], "need --session URL"),
    ]
    for args, message in cases:
        run = run_view(*args)
        assert run.returncode == 1, (args, run.stderr)
        assert message in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr
        assert good not in run.stderr  # a token is never echoed
