"""Run every benchmark script in this folder in turn; each prints its setup and figures.

usage: python benchmarks/run_all.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = (
    "bench_load.py",
    "bench_render.py",
    "bench_ingest.py",
    "bench_latency.py",
    "bench_fanout.py",
    "bench_pick.py",
    "bench_overlays.py",
    "bench_viewer.py",
    "bench_xr.py",
    "bench_hub.py",
    "bench_hub_join.py",
    "bench_anomaly.py",
    "bench_seek.py",
    "bench_abuse.py",
    "bench_opcua.py",
    "bench_mqtt.py",
    "bench_compressed.py",
    "bench_culling.py",
)


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = 0
    for name in SCRIPTS:
        print(f"\n==== {name}", flush=True)
        failed += subprocess.run([sys.executable, str(here / name)], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
