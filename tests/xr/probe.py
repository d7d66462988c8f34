"""Runs one OpenXR scenario against the runtime in a process of its own (the tests start
it with the runtime's environment) and writes what it saw to an output folder.

usage: python tests/xr/probe.py headless OUT
       python tests/xr/probe.py frames OUT SCENE FRAMES [--mr] [--mirror] [--twin URL]
                                   [--view NAME] [--select MACHINE] [--history FILE]
                                   [--point-bar FRAME:FRACTION] [--stick FRAME:X:Y]
                                   [--snapshot FRAME]

``--point-bar`` turns the right controller to the timeline bar at FRACTION from frame FRAME
on and pulls its trigger two frames later; ``--stick`` pushes the left thumbstick to (X, Y)
for two frames from FRAME; ``--snapshot`` keeps frame FRAME's eye images as ``eye0@FRAME``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from xrclient.xr.scene_view import InputScript


def headless(out: Path) -> None:
    import xr

    from xrclient.xr.input import ActionSet, HandInput
    from xrclient.xr.lifecycle import Command
    from xrclient.xr.runtime import open_runtime
    from xrclient.xr.session import XrSession

    result: dict[str, object] = {}
    rt = open_runtime(headless=True, optional=("XR_KHR_convert_timespec_time",))
    result["extensions"] = list(rt.extensions)
    result["system"] = rt.system_name
    result["view_sizes"] = [list(s) for s in rt.view_sizes]
    session = XrSession(rt)
    result["space"] = session.space_name
    actions = ActionSet(rt)
    session.on_teardown(actions.destroy)
    hands = HandInput(actions, session.handle)
    session.on_teardown(hands.destroy)
    released: list[str] = []
    session.on_teardown(lambda: released.append("last registered, first released"))
    result["profiles"] = actions.profiles
    deadline = time.monotonic() + 15
    while not session.lifecycle.focused and time.monotonic() < deadline:
        session.poll()
        time.sleep(0.01)
    result["focused"] = session.lifecycle.focused
    # no frame loop without graphics: locate at "now" on the runtime's clock
    from xr.platform.linux import convert_timespec_time_to_time_khr, timespec

    now_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    t = convert_timespec_time_to_time_khr(
        rt.instance, timespec(now_ns // 1_000_000_000, now_ns % 1_000_000_000)
    )
    located = hands.poll(t, session.space, True)
    result["aim"] = [None if h.aim is None else list(h.aim.position) for h in located]
    result["select"] = [h.select for h in located]
    quit_cmds: list[str] = [c.name for c in session.request_exit()]
    while Command.QUIT.name not in quit_cmds and time.monotonic() < deadline:
        quit_cmds += [c.name for c in session.poll()]
        time.sleep(0.01)
    result["commands"] = quit_cmds
    result["states"] = [s.name for s in session.lifecycle.history]
    result["reason"] = session.lifecycle.reason
    session.destroy()
    result["released"] = released
    result["handles_cleared"] = session.handle is None and session.space is None
    result["actions_cleared"] = actions.handle is None and hands.spaces == {}
    rt.destroy()
    try:  # the instance must really be gone
        xr.get_instance_properties(rt.instance)
        result["instance_destroyed"] = False
    except xr.XrException:
        result["instance_destroyed"] = True
    (out / "headless.json").write_text(json.dumps(result))


def _script(point_bar: str | None, stick: str | None) -> InputScript:
    """Scripted controller input on top of the runtime's (see the usage above)."""
    import dataclasses

    from xrclient.core import math3d
    from xrclient.xr.input import HandState
    from xrclient.xr.poses import Pose
    from xrclient.xr.timeline_layout import BAR_X, BAR_Y, on_hand

    bar_at, fraction = (
        (int(point_bar.split(":")[0]), float(point_bar.split(":")[1])) if point_bar else (-1, 0.0)
    )
    stick_at, sx, sy = (-1, 0.0, 0.0)
    if stick:
        f, x, y = stick.split(":")
        stick_at, sx, sy = int(f), float(x), float(y)

    def script(n: int, hands: tuple[HandState, ...]) -> tuple[HandState, ...]:
        left, right = hands
        if stick_at <= n < stick_at + 2:
            left = dataclasses.replace(left, stick=(sx, sy))
        if 0 <= bar_at <= n and left.grip is not None and right.aim is not None:
            # the bar in stage space (an identity rig) and a pose looking at it
            x = BAR_X[0] + (BAR_X[1] - BAR_X[0]) * fraction
            target = on_hand(np.eye(4), left.grip).point(x, (BAR_Y[0] + BAR_Y[1]) / 2)
            origin = np.asarray(right.aim.position, np.float64)
            z = origin - target
            z /= np.linalg.norm(z)
            xa = np.cross((0.0, 1.0, 0.0), z)
            xa /= np.linalg.norm(xa)
            m = np.eye(4, dtype=np.float32)
            m[:3, 0], m[:3, 1], m[:3, 2] = xa, np.cross(z, xa), z
            aim = Pose(right.aim.position, math3d.matrix_quat(m))
            pulled = 1.0 if bar_at + 2 <= n < bar_at + 4 else 0.0
            right = dataclasses.replace(right, aim=aim, select=pulled)
        return (left, right)

    return script


def _aim_script(scene_file: Path, view: str | None, spec: str) -> InputScript:
    """``MACHINE:F1,F2,...``: from frame F1 on, the right hand's laser starts 2.5 m in front
    of MACHINE and points at its centre; the trigger is pulled at each listed frame."""
    import dataclasses

    from xrclient.core import math3d
    from xrclient.scene.load import load_geometry
    from xrclient.scene.loaders import LoadLimits
    from xrclient.scene.schema import load_scene
    from xrclient.xr.client import start_rig
    from xrclient.xr.input import HandState
    from xrclient.xr.poses import Pose

    machine, frames_text = spec.split(":")
    pulls = [int(f) for f in frames_text.split(",")]
    scene = load_scene(scene_file)
    geometry, _ = load_geometry(scene, LoadLimits())
    bounds = geometry.bounds.astype(np.float64)
    rig = start_rig(scene, bounds, view)  # the client's first place (no teleport here)
    b = geometry.machine_bounds[scene.machine_index[machine]].astype(np.float64)
    target = (b[0] + b[1]) / 2.0
    origin = target + np.array([0.0, 0.3, 2.5 + (b[1, 2] - b[0, 2]) / 2.0])
    stage_from_world = np.linalg.inv(rig)
    o = (stage_from_world @ np.append(origin, 1.0))[:3]
    t = (stage_from_world @ np.append(target, 1.0))[:3]
    z = (o - t) / np.linalg.norm(o - t)
    xa = np.cross((0.0, 1.0, 0.0), z)
    xa /= np.linalg.norm(xa)
    m = np.eye(4, dtype=np.float32)
    m[:3, 0], m[:3, 1], m[:3, 2] = xa, np.cross(z, xa), z
    aim = Pose(tuple(float(c) for c in o), math3d.matrix_quat(m))

    def script(n: int, hands: tuple[HandState, ...]) -> tuple[HandState, ...]:
        left, right = hands
        if n >= pulls[0]:
            pulled = 1.0 if any(f <= n < f + 2 for f in pulls) else 0.0
            right = dataclasses.replace(right, aim=aim, select=pulled)
        return (left, right)

    return script


def frames(out: Path, argv: list[str]) -> None:
    import argparse

    from xrclient.core.view import View
    from xrclient.live import TwinOptions
    from xrclient.settings import Settings
    from xrclient.xr.client import run_xr
    from xrclient.xr.frame_loop import Eye

    parser = argparse.ArgumentParser()
    parser.add_argument("scene", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--mr", action="store_true")
    parser.add_argument("--mirror", action="store_true")
    parser.add_argument("--twin")
    parser.add_argument("--view")
    parser.add_argument("--select")
    parser.add_argument("--no-overlays", action="store_true")
    parser.add_argument("--history", type=Path)
    parser.add_argument("--point-bar")
    parser.add_argument("--stick")
    parser.add_argument("--snapshot", type=int, default=-1)
    parser.add_argument("--procedure")
    parser.add_argument("--aim")
    args = parser.parse_args(argv)
    images: dict[str, np.ndarray] = {}
    seen = {"n": 0}

    def hook(eyes: Sequence[Eye], views: Sequence[View]) -> None:
        seen["n"] += 1
        for i, view in enumerate(views):
            assert view.framebuffer is not None
            w, h = view.framebuffer.size
            data = np.frombuffer(view.framebuffer.read(components=4), np.uint8)
            images[f"eye{i}"] = data.reshape(h, w, 4)[::-1].copy()  # top row first
            if seen["n"] - 1 == args.snapshot:
                images[f"eye{i}@{args.snapshot}"] = images[f"eye{i}"]
                images[f"view_proj{i}@{args.snapshot}"] = view.view_projection
            images[f"view_proj{i}"] = view.view_projection
            images[f"view{i}"] = view.view
        images["eye_positions"] = np.array([e.pose.position for e in eyes])
        if args.mirror:  # the mirror window's back buffer, just filled from the left eye
            import glfw
            from OpenGL import GL

            w, h = glfw.get_framebuffer_size(glfw.get_current_context())
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
            GL.glReadBuffer(GL.GL_BACK)
            GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
            raw = GL.glReadPixels(0, 0, w, h, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
            data = np.frombuffer(raw, np.uint8)
            images["mirror"] = data.reshape(h, w, 4)[::-1].copy()

    twin = TwinOptions(args.twin) if args.twin else None
    options = Settings(
        scene=args.scene,
        frames=args.count,
        mixed_reality=args.mr,
        mirror=args.mirror,
        twin=twin,
        twin_wait=10.0 if twin else 0.0,
        view=args.view,
        select=args.select,
        overlays=not args.no_overlays,
        history=args.history,
        keep_frames=True,
        procedure=args.procedure,
        trainee="probe",
    )
    script = _script(args.point_bar, args.stick) if args.point_bar or args.stick else None
    if args.aim:
        script = _aim_script(args.scene, args.view, args.aim)
    report = run_xr(options, hook=hook, script=script)
    np.savez(out / "frames.npz", **images)
    ov = report.overlays
    summary = {
        "frames": report.frames,
        "rendered": report.rendered,
        "hooked": seen["n"],
        "display_times": [f.display_time for f in report.frame_log],
        "periods": [f.period for f in report.frame_log],
        "ours_s": [f.ours_s for f in report.frame_log],
        "update_s": [f.update_s for f in report.frame_log],
        "states": report.states,
        "reason": report.reason,
        "srgb": report.srgb_swapchain,
        "format": report.swapchain_format,
        "eye_size": list(report.eye_size),
        "blend_mode": report.blend_mode,
        "hovered": report.hovered,
        "selected": report.selected,
        "profiles": report.profiles,
        "space": report.space,
        "twin": report.twin,
        "twin_batches": report.twin_batches,
        "overlays": None if ov is None else [ov.far, ov.mid, ov.near, ov.hidden],
        "history": None if report.history is None else dataclasses.asdict(report.history),
        "training": None if report.training is None else report.training.to_dict(),
        "training_view": None
        if report.training_view is None
        else {
            "step_id": report.training_view.step_id,
            "status": report.training_view.status,
            "target": report.training_view.target_machine,
            "zones": len(report.training_view.zones),
        },
    }
    (out / "frames.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2])
    if mode == "headless":
        headless(target)
    else:
        frames(target, sys.argv[3:])
    print("probe done", flush=True)
