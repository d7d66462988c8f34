"""Frame time of the desktop viewer in a real window (Xvfb, Mesa llvmpipe), live data.

For the demo plant (65 machines) and the large synthetic plant (2,000 machines with the demo
plant's bindings), each served by ``xrclient twin-sim`` in its own process at 10 Hz per
machine: the viewer opens a 1280x720 window with 4x MSAA, vsync off, overlays and HUD on,
the camera orbiting slowly, and runs ``Viewer.step`` frame after frame.

wall = one whole frame (input, twin drain, bindings, overlays, draw, HUD, swap: on llvmpipe
the rasterising runs on the CPU inside the swap/draw calls); cpu = CPU time of the viewer's
own thread in the frame (what our Python code and the GL driver's calling thread cost; the
rasteriser's worker threads are not counted); own = the frame minus the time inside GL
draw calls and the swap: xrclient's own code (input, twin drain, bindings, overlay layout,
HUD), which is what stays on a real GPU.

Baseline in the same run: the renderer alone drawing the same scene from the same viewpoint
off-screen (EGL, same size and samples, draw + glFinish, no window, overlays or HUD).

usage: python benchmarks/bench_viewer.py [--frames 120] [--machines 2000] [--samples 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import machine_line
from _sim import twin_sim

from plantgen.synthetic import DEMO_TWIN, write_large_plant
from tests.display import running_xvfb
from xrclient.live import TwinOptions
from xrclient.resources import scene_path

SIZE = (1280, 720)


def measure(scene: Path, frames: int, samples: int) -> dict[str, float]:
    from xrclient.desktop.viewer import Viewer
    from xrclient.settings import Settings

    with twin_sim(str(scene), 10.0) as url:
        options = Settings(
            scene=scene, twin=TwinOptions(url), size=SIZE, vsync=False, samples=samples
        )
        with Viewer(options) as viewer:
            deadline = time.monotonic() + 30
            while viewer.live is not None and viewer.live.status.state != "live":
                viewer.step()
                if time.monotonic() > deadline:
                    raise RuntimeError("the twin stream never went live")
            for _ in range(10):
                viewer.step()
            wall, cpu = [], []
            viewer.times.own.clear()
            batches0 = viewer.live.batches if viewer.live else 0
            for _ in range(frames):
                viewer.rig.orbit(2.0, 0.0)
                w0, c0 = time.perf_counter(), time.thread_time()
                viewer.step()
                wall.append(time.perf_counter() - w0)
                cpu.append(time.thread_time() - c0)
            own = list(viewer.times.own)
            batches = (viewer.live.batches if viewer.live else 0) - batches0
            machines = len(viewer.scene.machines)
    return {
        "machines": machines,
        "wall": statistics.median(wall),
        "wall95": float(np.percentile(wall, 95)),
        "cpu": statistics.median(cpu),
        "cpu95": float(np.percentile(cpu, 95)),
        "own": statistics.median(own),
        "own95": float(np.percentile(own, 95)),
        "fps": frames / sum(wall),
        "batches": batches / sum(wall),
    }


def headless_frame(scene_file: Path, frames: int, samples: int) -> float:
    """Baseline: the renderer alone drawing the same scene from the same viewpoint off-screen
    (EGL, same size and samples; draw + glFinish), median seconds per frame."""
    from xrclient.backends.headless import HeadlessBackend
    from xrclient.render.camera import view_for_viewpoint
    from xrclient.render.renderer import Renderer
    from xrclient.scene.load import load_geometry
    from xrclient.scene.loaders import LoadLimits
    from xrclient.scene.schema import load_scene

    scene = load_scene(scene_file)
    geometry, _ = load_geometry(scene, LoadLimits())
    with HeadlessBackend(SIZE, samples=samples) as backend:
        view = view_for_viewpoint(scene.viewpoints[0], SIZE, geometry.bounds)
        renderer = Renderer(backend.ctx, geometry, scene.lights)
        try:
            times = []
            for k in range(frames + 2):
                t0 = time.perf_counter()
                backend.render(renderer, [view])
                backend.ctx.finish()
                if k >= 2:
                    times.append(time.perf_counter() - t0)
        finally:
            renderer.release()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=4, choices=(0, 2, 4, 8))
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    print(
        f"setup: Xvfb + Mesa llvmpipe (GLX), {SIZE[0]}x{SIZE[1]} window, {args.samples}x MSAA, "
        f"vsync off, overlays + HUD on, camera orbiting; twin-sim at 10 Hz per machine in "
        f"its own process; {args.frames} frames after 10 warm-up frames"
    )
    print(
        f"{'plant':>16} {'machines':>8} {'wall ms':>8} {'p95':>7} {'cpu ms':>7} {'p95':>7} "
        f"{'own ms':>7} {'p95':>6} {'fps':>5} {'batches/s':>9} {'headless ms':>11}"
    )
    with running_xvfb(SIZE) as x, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(x.env())
        large = write_large_plant(Path(tmp) / "large", machines=args.machines)
        large.write_text(large.read_text(encoding="utf-8") + DEMO_TWIN, encoding="utf-8")
        for name, scene in (("demo plant", scene_path("demo-plant")), ("large plant", large)):
            r = measure(scene, args.frames, args.samples)
            base = headless_frame(scene, min(args.frames, 20), args.samples)
            print(
                f"{name:>16} {r['machines']:>8.0f} {r['wall'] * 1000:>8.1f} "
                f"{r['wall95'] * 1000:>7.1f} {r['cpu'] * 1000:>7.1f} {r['cpu95'] * 1000:>7.1f} "
                f"{r['own'] * 1000:>7.2f} {r['own95'] * 1000:>6.2f} "
                f"{r['fps']:>5.1f} {r['batches']:>9.1f} {base * 1000:>11.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
