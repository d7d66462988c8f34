"""CPU time per stereo frame spent in the headset client's own code, on a real runtime.

Runs ``xrclient xr`` on Monado (scripts/install_monado.sh; null compositor, simulated
headset with two controllers, 320x240 per eye) under a private Xvfb, for the demo plant
and the synthetic large plant, and reports per frame the time in our code only: input,
interaction (laser picking against the plant), twin drain, and recording both eyes' draw
calls (renderer, markers), from ``wait_frame``'s return to ``end_frame``, runtime waits
(``xrWaitFrame``, swapchain waits) excluded. Compared with the 11.1 ms frame of a 90 Hz
headset. On Mesa's llvmpipe a draw call runs the vertex stage on the CPU, so these figures
are an upper bound of what a GPU machine spends.

usage: python benchmarks/bench_xr.py [--frames 90] [--machines 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".cache" / "monado" / "build" / "openxr_monado-dev.json"
BUDGET_MS = 1000.0 / 90.0


def one(scene: Path, frames: int) -> dict[str, object]:
    """Run the client in this process and return per-frame figures (child mode)."""
    from xrclient.xr.client import XrOptions, run_xr

    started = time.perf_counter()
    report = run_xr(XrOptions(scene=scene, frames=frames, keep_frames=True))
    rendered = [f for f in report.frame_log if f.rendered][5:]  # skip warm-up frames
    return {
        "ours_ms": [f.ours_s * 1000 for f in rendered],
        "update_ms": [f.update_s * 1000 for f in rendered],
        "render_ms": [f.render_s * 1000 for f in rendered],
        "wait_ms": [f.wait_s * 1000 for f in rendered],
        "eye": list(report.eye_size),
        "frames": report.frames,
        "seconds": time.perf_counter() - started,
    }


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("Xvfb")
    if binary is None:
        raise SystemExit("Xvfb is needed (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [
            binary,
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            "640x480x24",
            "+extension",
            "GLX",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        raise SystemExit("Xvfb did not start")
    return proc, f":{int(number)}"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("SCENE", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(Path(args.child[0]), int(args.child[1]))))
        return 0
    manifest = Path(os.environ.get("XR_RUNTIME_JSON", MANIFEST))
    if not manifest.is_file():
        raise SystemExit(f"{manifest} missing: run scripts/install_monado.sh")
    from xrclient.resources import scene_path
    from xrclient.scene.synthetic import write_large_plant

    print(f"machine: {machine_line()}")
    xvfb, display = start_xvfb()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scenes = {
                "demo plant (65 machines)": scene_path("demo-plant"),
                f"large plant ({args.machines} machines)": write_large_plant(
                    Path(tmp) / "large", machines=args.machines
                ),
            }
            env = dict(
                os.environ,
                DISPLAY=display,
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
            print(
                f"{'scene':<28} {'eye':>8} {'ours p50':>9} {'p95':>8} {'update':>8} "
                f"{'draw':>8} {'update/11.1ms':>14}"
            )
            for name, scene in scenes.items():
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", str(scene), str(args.frames)],
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
                ours, upd = r["ours_ms"], r["update_ms"]
                p50, u50 = statistics.median(ours), statistics.median(upd)
                draw = statistics.median(r["render_ms"])
                print(
                    f"{name:<28} {r['eye'][0]}x{r['eye'][1]:<4} {p50:7.2f}ms "
                    f"{pct(ours, 0.95):6.2f}ms {u50:6.2f}ms {draw:6.2f}ms "
                    f"{100 * u50 / BUDGET_MS:13.1f}%"
                )
    finally:
        xvfb.terminate()
        xvfb.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
