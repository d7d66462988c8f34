"""CPU time per stereo frame spent in the headset client's own code, on a real runtime.

Runs ``xrclient xr`` on Monado (scripts/install_monado.sh; null compositor, simulated
headset with two controllers, 320x240 per eye) under a private Xvfb, for the demo plant
and the synthetic large plant, and reports per frame the time in our code only: input,
interaction (laser picking against the plant), twin drain, and recording both eyes' draw
calls (renderer, markers), from ``wait_frame``'s return to ``end_frame``, runtime waits
(``xrWaitFrame``, swapchain waits) excluded. Compared with the 11.1 ms frame of a 90 Hz
headset. On Mesa's llvmpipe a draw call runs the vertex stage on the CPU, so these figures
are an upper bound of what a GPU machine spends.

A second table breaks *ours* down by part, timed around the methods that do the work
(medians per frame over the rendered frames): input (``HandInput.poll``), controls
(``Controls.step`` without picking: locomotion, lasers), picking (``Picker.pick``, both
lasers), twin drain (``LiveTwin.update``), bindings (``Bindings.update`` + ``apply``),
layout (``Overlays.update``, where it ran), overlay draw (``Overlays.draw``), markers
(``Markers.update`` + ``draw``), renderer CPU (``Renderer.draw`` without its GL calls) and
the rest. A part whose method a front end no longer calls shows 0.

usage: python benchmarks/bench_xr.py [--frames 90] [--machines 2000] [--only large]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import machine_line
from _sim import twin_sim

from tests.display import running_xvfb

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".cache" / "monado" / "build" / "openxr_monado-dev.json"
BUDGET_MS = 1000.0 / 90.0


#: part of a frame -> the methods timed for it (module, class, method)
PARTS: dict[str, list[tuple[str, str, str]]] = {
    "input": [("xrclient.xr.input", "HandInput", "poll")],
    "controls": [("xrclient.xr.controls", "Controls", "step")],
    "picking": [("xrclient.scene.picking", "Picker", "pick")],
    "twin drain": [("xrclient.live", "LiveTwin", "update")],
    "bindings": [
        # the plant frame's incremental update (a full evaluate inside it when needed)
        ("xrclient.core.bindings", "Bindings", "update"),
        ("xrclient.core.bindings", "Bindings", "apply"),
    ],
    "layout": [("xrclient.render.overlays", "Overlays", "update")],
    "overlay draw": [("xrclient.render.overlays", "Overlays", "draw")],
    "markers": [
        ("xrclient.xr.markers", "Markers", "update"),
        ("xrclient.xr.markers", "Markers", "draw"),
    ],
    "renderer": [("xrclient.render.renderer", "Renderer", "draw")],
}
#: parts timed inside another part's methods: (inner, outer)
NESTED = (("picking", "controls"), ("overlay GL", "overlay draw"))
#: parts that are the time inside GL draw calls (``VertexArray.render``) made by another
#: part's methods: part -> the other part
GL_OF = {"overlay GL": "overlay draw"}


def instrument() -> list[dict[str, float]]:
    """Time the methods of ``PARTS``; returns the list that gets one dict of seconds per
    part for every frame (a frame starts with ``FrameLoop.frame``)."""
    import moderngl

    from xrclient.xr.frame_loop import FrameLoop

    frames: list[dict[str, float]] = []
    in_gl = [0.0]  # seconds inside draw calls so far

    def timed(fn: Callable[..., Any], part: str) -> Callable[..., Any]:
        gl_parts = [gl for gl, of in GL_OF.items() if of == part]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            gl_before = in_gl[0]
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if frames:
                    record = frames[-1]
                    record[part] = record.get(part, 0.0) + time.perf_counter() - started
                    for gl in gl_parts:
                        record[gl] = record.get(gl, 0.0) + in_gl[0] - gl_before

        return wrapper

    render = moderngl.VertexArray.render

    @functools.wraps(render)
    def timed_render(self: moderngl.VertexArray, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return render(self, *args, **kwargs)
        finally:
            in_gl[0] += time.perf_counter() - started

    moderngl.VertexArray.render = timed_render  # type: ignore[method-assign]  # timing wrapper

    for part, methods in PARTS.items():
        for module, cls_name, name in methods:
            cls = getattr(importlib.import_module(module), cls_name, None)
            if cls is not None and callable(getattr(cls, name, None)):
                setattr(cls, name, timed(getattr(cls, name), part))
    frame = FrameLoop.frame

    @functools.wraps(frame)
    def new_frame(self: FrameLoop, sink: Any) -> Any:
        frames.append({})
        return frame(self, sink)

    FrameLoop.frame = new_frame  # type: ignore[method-assign]  # a timing wrapper (bench only)
    return frames


def one(scene: Path, frames: int, twin: str | None) -> dict[str, object]:
    """Run the client in this process and return per-frame figures (child mode)."""
    from xrclient.live import TwinOptions
    from xrclient.settings import Settings
    from xrclient.xr.client import run_xr

    parts = instrument()
    started = time.perf_counter()
    options = Settings(
        scene=scene,
        frames=frames,
        keep_frames=True,
        twin=TwinOptions(twin) if twin else None,
        twin_wait=10.0,
    )
    report = run_xr(options)
    pairs = list(zip(report.frame_log, report.draw_log, parts, strict=True))
    rendered = [(f, d) for f, d, _ in pairs if f.rendered][5:]  # skip warm-up frames
    timed = [p for f, _, p in pairs if f.rendered][5:]
    for p, (_, d) in zip(timed, rendered, strict=True):
        for inner, outer in NESTED:
            p[outer] = p.get(outer, 0.0) - p.get(inner, 0.0)
        p["renderer"] = p.get("renderer", 0.0) - d[0]  # its CPU work, GL calls out
    return {
        "parts_ms": {k: [p.get(k, 0.0) * 1000 for p in timed] for k in [*PARTS, *GL_OF]},
        "ours_ms": [f.ours_s * 1000 for f, _ in rendered],
        "update_ms": [f.update_s * 1000 for f, _ in rendered],
        "render_ms": [f.render_s * 1000 for f, _ in rendered],
        "driver_ms": [d[0] * 1000 for _, d in rendered],
        "overlay_draw_ms": [d[1] * 1000 for _, d in rendered],
        "layout_ms": [d[2] * 1000 for _, d in rendered],
        "wait_ms": [f.wait_s * 1000 for f, _ in rendered],
        "eye": list(report.eye_size),
        "twin_batches": report.twin_batches,
        "frames": report.frames,
        "seconds": time.perf_counter() - started,
    }


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument(
        "--no-twin", action="store_true", help="no live state (no overlays, no twin drain)"
    )
    parser.add_argument("--only", choices=("demo", "large"), help="run one of the two scenes")
    parser.add_argument(
        "--child", nargs=3, metavar=("SCENE", "FRAMES", "TWIN"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        twin_url = args.child[2] if args.child[2] != "-" else None
        print(json.dumps(one(Path(args.child[0]), int(args.child[1]), twin_url)))
        return 0
    manifest = Path(os.environ.get("XR_RUNTIME_JSON", MANIFEST))
    if not manifest.is_file():
        raise SystemExit(f"{manifest} missing: run scripts/install_monado.sh")
    from plantgen.synthetic import DEMO_TWIN, write_large_plant
    from xrclient.resources import scene_path

    print(f"machine: {machine_line()}")
    with running_xvfb((640, 480)) as xvfb, tempfile.TemporaryDirectory() as tmp:
        large = write_large_plant(Path(tmp) / "large", machines=args.machines)
        # the demo plant's bindings (colours, alarms, overlay metrics) on the large plant
        large.write_text(large.read_text(encoding="utf-8") + DEMO_TWIN, encoding="utf-8")
        scenes = {
            "demo plant (65 machines)": scene_path("demo-plant"),
            f"large plant ({args.machines} machines)": large,
        }
        if args.only is not None:
            scenes = {k: v for k, v in scenes.items() if k.startswith(args.only)}
        env = dict(
            os.environ,
            DISPLAY=xvfb.display,
            XR_RUNTIME_JSON=str(manifest),
            XRT_COMPOSITOR_NULL="1",
            XRT_LOG="error",
            SIMULATED_ENABLE="1",
            SIMULATED_LEFT="simple",
            SIMULATED_RIGHT="simple",
        )
        print(
            f"runtime: Monado (null compositor, simulated HMD + 2 controllers), "
            f"{args.frames} frames per scene, first 5 rendered frames skipped"
        )
        twin_note = "no twin" if args.no_twin else "live twin from the plant simulator"
        print(f"state: {twin_note}; the user stands at the scene's first viewpoint inside")
        print(
            "per stereo frame, medians (p95). ours: from wait_frame's return to end_frame, "
            "runtime waits and the renderer's GL draw calls excluded; update: input, "
            "interaction, twin drain, overlay update; overlay draw: Overlays.draw (uploads "
            "+ draw calls, included in ours); GL calls: inside the renderer's draw calls "
            "(the software rasteriser here); layout: Overlays.update on the frames where it "
            "ran (it runs at most 30 times a second: every frame at these software-rendered "
            "rates, every third frame at 90 Hz); at 90 Hz: ours without the layout, plus a "
            "third of the layout"
        )
        print(
            f"{'scene':<28} {'eye':>8} {'ours':>17} {'of 11.1 ms':>10} {'update':>8} "
            f"{'ovl draw':>9} {'GL calls':>9} {'layout':>8} {'at 90 Hz':>9}"
        )
        breakdown: list[tuple[str, dict[str, float], float, float]] = []
        for name, scene in scenes.items():
            with ExitStack() as stack:
                url = "-" if args.no_twin else stack.enter_context(twin_sim(str(scene), 10.0))
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", str(scene), str(args.frames), url],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=600,
                )
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            ours = [o - d for o, d in zip(r["ours_ms"], r["driver_ms"], strict=True)]
            p50 = statistics.median(ours)
            laid = [x for x in r["layout_ms"] if x > 0] or [0.0]
            bare = [o - x for o, x in zip(ours, r["layout_ms"], strict=True)]
            at_90 = statistics.median(bare) + statistics.median(laid) / 3
            print(
                f"{name:<28} {r['eye'][0]}x{r['eye'][1]:<4} "
                f"{p50:6.2f} ({pct(ours, 0.95):5.2f}) ms "
                f"{100 * p50 / BUDGET_MS:9.1f}% {statistics.median(r['update_ms']):6.2f}ms "
                f"{statistics.median(r['overlay_draw_ms']):7.2f}ms "
                f"{statistics.median(r['driver_ms']):7.1f}ms "
                f"{statistics.median(laid):6.2f}ms {at_90:6.2f}ms ({100 * at_90 / BUDGET_MS:.0f}%)"
            )
            parts: dict[str, list[float]] = r["parts_ms"]
            medians = {k: statistics.median(v) for k, v in parts.items()}
            medians["layout"] = statistics.median([x for x in parts["layout"] if x > 0] or [0.0])
            per_frame = [sum(x) for x in zip(*parts.values(), strict=True)]
            rest = [max(o - t, 0.0) for o, t in zip(ours, per_frame, strict=True)]
            medians["rest"] = statistics.median(rest)
            no_gl = [b - g for b, g in zip(bare, parts["overlay GL"], strict=True)]
            at_90_cpu = statistics.median(no_gl) + statistics.median(laid) / 3
            breakdown.append((name, medians, at_90, at_90_cpu))
        print()
        print(
            "breakdown of ours, medians per frame in ms. overlay draw: its uploads and Python; "
            "overlay GL: inside its draw calls (on llvmpipe: vertex shading and waits for the "
            "rasteriser); layout: where it ran; rest: ours minus the parts (frame-loop glue, "
            "views); at 90 Hz as above; CPU at 90 Hz: the same without the overlay GL calls"
        )
        keys = [*PARTS, *GL_OF, "rest"]
        keys.remove("renderer")
        keys.insert(keys.index("overlay draw") + 1, keys.pop(keys.index("overlay GL")))
        keys.insert(keys.index("rest"), "renderer")
        head = " ".join(f"{k:>12}" for k in keys)
        print(f"{'scene':<28} {head} {'at 90 Hz':>9} {'CPU at 90 Hz':>12}")
        for name, medians, at_90, at_90_cpu in breakdown:
            cells = " ".join(f"{medians[k]:>12.2f}" for k in keys)
            print(f"{name:<28} {cells} {at_90:>9.2f} {at_90_cpu:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
