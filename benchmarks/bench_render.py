"""Renderer figures: draw calls and CPU preparation per frame, and headless frame time.

1. Draw calls per view and CPU time of our own frame preparation (everything in
   Renderer.draw except the clear and draw calls; the machine-state upload included) for
   synthetic plants of 50, 500 and 2,000 machines.
2. Headless frame time at 1280x720 (draw + glFinish, read-back reported apart) for the demo
   plant and the large plant, side by side in the same run, in interleaved rounds, with
   (a) a minimal moderngl instanced draw of the same meshes (the floor: position-only
       shader, one instanced draw per mesh, same framebuffer and samples),
   (b) open3d's OffscreenRenderer drawing the same meshes merged into one mesh per type,
   and our renderer with the mesh shaders of before (tests/render/reference/).

usage: python benchmarks/bench_render.py [--frames 20] [--rounds 3] [--open3d-frames 1]
                                         [--only prep|frame]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import moderngl
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line

import xrclient.render.gpu as gpu
from plantgen.synthetic import write_large_plant
from xrclient.backends.headless import HeadlessBackend
from xrclient.core.visuals import MachineVisuals
from xrclient.render.camera import view_for_viewpoint
from xrclient.render.renderer import Renderer
from xrclient.resources import scene_path
from xrclient.scene.geometry import SceneGeometry
from xrclient.scene.load import load_geometry
from xrclient.scene.loaders import LoadLimits
from xrclient.scene.model import Scene, Vec3
from xrclient.scene.schema import load_scene

SIZE = (1280, 720)

FLOOR_VERT = """
#version 330
in vec3 in_position;
in mat4 in_model;
uniform mat4 u_view_projection;
void main() { gl_Position = u_view_projection * in_model * vec4(in_position, 1.0); }
"""
FLOOR_FRAG = """
#version 330
out vec4 f_color;
void main() { f_color = vec4(0.6, 0.6, 0.6, 1.0); }
"""


class MinimalDraw:
    """The floor: same meshes, same instances, no lighting, no per-machine state."""

    def __init__(self, ctx: moderngl.Context, geometry: SceneGeometry) -> None:
        self.ctx = ctx
        self.prog = ctx.program(vertex_shader=FLOOR_VERT, fragment_shader=FLOOR_FRAG)
        self.vaos = []
        for batch in geometry.batches:
            if batch.mesh.primitive != "triangles" or batch.mesh.triangle_count == 0:
                continue
            vbo = ctx.buffer(np.ascontiguousarray(batch.mesh.positions, dtype="f4"))
            ibo = ctx.buffer(np.ascontiguousarray(batch.mesh.indices, dtype="u4"))
            inst = ctx.buffer(np.ascontiguousarray(batch.matrices.transpose(0, 2, 1), dtype="f4"))
            vao = ctx.vertex_array(
                self.prog,
                [(vbo, "3f", "in_position"), (inst, "16f/i", "in_model")],
                index_buffer=ibo,
                index_element_size=4,
            )
            self.vaos.append((vao, batch.instance_count))

    def draw(self, fbo: moderngl.Framebuffer, view_projection: np.ndarray) -> None:
        fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        fbo.clear(0.6, 0.7, 0.8, 1.0, depth=1.0)
        self.prog["u_view_projection"].write(view_projection.T.astype("f4").tobytes())
        for vao, n in self.vaos:
            vao.render(instances=n)


def frame_times(fn, frames: int) -> float:  # type: ignore[no-untyped-def]  # fn is any zero-argument draw; untyped for brevity
    fn()
    samples = []
    for _ in range(frames):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def prep_figures(tmp: Path, frames: int) -> None:
    print("\n## Draw calls per view and CPU preparation per frame")
    print(
        f"{'machines':>9} {'instances':>10} {'triangles':>11} {'draw calls':>11} "
        f"{'prep median':>12} {'prep p95':>9}"
    )
    with HeadlessBackend((320, 180), samples=0) as backend:
        for n in (50, 500, 2000):
            scene = load_scene(write_large_plant(tmp / f"p{n}", machines=n))
            geometry, _ = load_geometry(scene, LoadLimits())
            renderer = Renderer(backend.ctx, geometry, scene.lights)
            visuals = MachineVisuals(len(scene.machines))
            view = view_for_viewpoint(scene.viewpoints[0], (320, 180), geometry.bounds)
            preps = []
            stats = None
            for i in range(frames * 5):
                visuals.tint[:, 0] = (i % 7) / 7.0  # state changes every frame
                stats = backend.render(renderer, [view], visuals)
                preps.append(stats.prepare_s)
            backend.ctx.finish()
            renderer.release()
            assert stats is not None
            preps.sort()
            print(
                f"{n:>9} {stats.instances:>10} {stats.triangles:>11,} {stats.draw_calls:>11} "
                f"{statistics.median(preps) * 1e3:>9.3f} ms "
                f"{preps[int(len(preps) * 0.95)] * 1e3:>6.3f} ms"
            )


def open3d_frame(
    geometry: SceneGeometry, eye: Vec3, target: Vec3, fov: float, open3d_frames: int, tmp: Path
) -> tuple[float, float] | None:
    """open3d's (first, later) frame seconds for the same meshes merged per type, in a
    separate process."""
    arrays: dict[str, np.ndarray] = {
        "eye": np.asarray(eye, "f8"),
        "target": np.asarray(target, "f8"),
        "fov": np.asarray(fov, "f8"),
    }
    for i, batch in enumerate(geometry.batches):
        mesh = batch.mesh
        if mesh.primitive != "triangles" or not mesh.triangle_count:
            continue
        mats = batch.matrices
        pos = np.einsum("nij,vj->nvi", mats[:, :3, :3], mesh.positions) + mats[:, None, :3, 3]
        tris = mesh.indices[None] + (np.arange(len(mats)) * mesh.vertex_count)[:, None, None]
        arrays[f"pos_{i:03d}"] = pos.reshape(-1, 3).astype("f4")
        arrays[f"tri_{i:03d}"] = tris.reshape(-1, 3).astype("i4")
        arrays[f"col_{i:03d}"] = np.tile(mesh.colors[:, :3], (len(mats), 1)).astype("f4")
    file = tmp / "open3d-meshes.npz"
    np.savez(file, **arrays)  # type: ignore[arg-type]  # savez takes arrays by keyword; numpy's stubs type the first positional
    script = Path(__file__).resolve().parent / "open3d_frame.py"
    try:
        run = subprocess.run(
            [sys.executable, str(script), str(file), "--frames", str(open3d_frames)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except subprocess.TimeoutExpired:
        print("  open3d did not finish within 1800 s", file=sys.stderr)
        return None
    if run.returncode != 0:
        print(f"  open3d failed: {run.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    lines = run.stdout.strip().splitlines()
    print(f"  {lines[-2]}", file=sys.stderr)
    first, later = (float(v) for v in lines[-1].split())
    return first, later


#: the mesh shaders from before the per-pixel cuts (commit e30e75a); the image tests compare
#: against them too
REFERENCE_SHADERS = Path(__file__).resolve().parent.parent / "tests" / "render" / "reference"


def reference_renderer(ctx: moderngl.Context, scene: Scene, geometry: SceneGeometry) -> Renderer:
    """Our renderer drawing with the reference (earlier) mesh shaders."""
    own = gpu.shader_source

    def source(name: str) -> str:
        if name in ("mesh.vert", "mesh.frag"):
            return (REFERENCE_SHADERS / name).read_text(encoding="utf-8")
        return own(name)

    gpu.shader_source = source
    try:
        return Renderer(ctx, geometry, scene.lights)
    finally:
        gpu.shader_source = own


@dataclass
class Timing:
    """Per round, the median wall and process CPU (all threads) seconds of its frames."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def measure(self, fn: Callable[[], object], frames: int) -> None:
        fn()
        walls, cpus = [], []
        for _ in range(frames):
            t, c = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        self.wall.append(statistics.median(walls))
        self.cpu.append(statistics.median(cpus))


def measure_headless(
    scene: Scene, geometry: SceneGeometry, samples: int, frames: int, rounds: int
) -> tuple[dict[str, Timing], float]:
    """Timings of ours, ours with the reference shaders and the minimal instanced draw,
    in interleaved rounds; and the median read-back seconds."""
    with HeadlessBackend(SIZE, samples=samples) as backend:
        view = view_for_viewpoint(scene.viewpoints[0], SIZE, geometry.bounds)
        visuals = MachineVisuals(len(scene.machines))
        renderer = Renderer(backend.ctx, geometry, scene.lights)
        before = reference_renderer(backend.ctx, scene, geometry)
        floor = MinimalDraw(backend.ctx, geometry)

        def drawing(r: Renderer) -> Callable[[], None]:
            def frame() -> None:
                backend.render(r, [view], visuals)
                backend.ctx.finish()

            return frame

        def minimal() -> None:
            floor.draw(backend.fbo, view.view_projection)
            backend.ctx.finish()

        paths = {"ours": drawing(renderer), "before": drawing(before), "minimal": minimal}
        timings = {name: Timing() for name in paths}
        for _ in range(rounds):
            for name, fn in paths.items():
                timings[name].measure(fn, frames)
        t_read = frame_times(backend.read_rgb, 5)
        renderer.release()
        before.release()
    return timings, t_read


def frame_figures(tmp: Path, frames: int, rounds: int, open3d_frames: int) -> None:
    print(
        f"\n## Headless frame time at 1280x720 (draw + finish, read-back apart): median of "
        f"{rounds} interleaved rounds (best), each the median of {frames} frames"
    )
    print(
        "   xrclient = ours; before = ours with the mesh shaders of commit e30e75a; "
        "minimal = the floor (a); ratios against the floor; cpu = process CPU time, all threads",
        flush=True,
    )
    scenes = {
        "demo plant": scene_path("demo-plant"),
        "large plant (2,000 machines)": write_large_plant(tmp / "large", machines=2000),
    }
    print(
        f"{'scene':<30} {'MSAA':>5} {'triangles':>10} {'xrclient':>16} {'before':>16} "
        f"{'minimal':>16} {'ratio':>12} {'before':>12} {'cpu ratio':>10} {'read-back':>9}",
        flush=True,
    )

    def ms(t: list[float]) -> str:
        return f"{statistics.median(t) * 1e3:.1f} ({min(t) * 1e3:.1f})"

    def ratio(t: list[float], floor: list[float]) -> str:
        return f"{statistics.median(t) / statistics.median(floor):.2f} ({min(t) / min(floor):.2f})"

    for label, file in scenes.items():
        scene = load_scene(file)
        geometry, _ = load_geometry(scene, LoadLimits())
        vp = scene.viewpoints[0]
        for samples in (4, 0):
            print(f"  measuring {label}, MSAA {samples}x ...", file=sys.stderr, flush=True)
            timings, t_read = measure_headless(scene, geometry, samples, frames, rounds)
            ours, before, floor = timings["ours"], timings["before"], timings["minimal"]
            cpu = statistics.median(ours.cpu) / statistics.median(floor.cpu)
            cpu_before = statistics.median(before.cpu) / statistics.median(floor.cpu)
            print(
                f"{label:<30} {samples:>4}x {geometry.triangle_count:>10,} "
                f"{ms(ours.wall):>16} {ms(before.wall):>16} {ms(floor.wall):>16} "
                f"{ratio(ours.wall, floor.wall):>12} {ratio(before.wall, floor.wall):>12} "
                f"{cpu:>4.2f}/{cpu_before:.2f} {t_read * 1e3:>7.1f}ms",
                flush=True,
            )
        if open3d_frames >= 0:
            print(f"  measuring {label} in open3d ...", file=sys.stderr, flush=True)
            # the large plant is timed on its first frame only: later frames cost as much
            # and each takes minutes here
            n = open3d_frames if geometry.triangle_count < 1_000_000 else 0
            t_o3d = open3d_frame(geometry, vp.position, vp.target, vp.fov_deg, n, tmp)
            text = "no result"
            if t_o3d is not None:
                text = f"first frame {t_o3d[0]:.2f} s"
                text += f", next {n} median {t_o3d[1]:.2f} s" if n else ""
            print(
                f"{label:<30} open3d OffscreenRenderer (merged per mesh type): {text}", flush=True
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the headless frame paths"
    )
    parser.add_argument(
        "--open3d-frames",
        type=int,
        default=1,
        help="frames timed in open3d after the first, which is always timed (plants over "
        "1 M triangles: the first only; a negative number skips open3d)",
    )
    parser.add_argument("--only", choices=("prep", "frame"), default=None)
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "prep"):
            prep_figures(Path(tmp), args.frames)
        if args.only in (None, "frame"):
            frame_figures(Path(tmp), args.frames, args.rounds, args.open3d_frames)


if __name__ == "__main__":
    main()
