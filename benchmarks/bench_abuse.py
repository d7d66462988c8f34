"""Well-behaved clients' latency and the servers' memory under abusive clients, against the
same setup without abusers, in the same run.

Each round starts ``xrclient twin-sim demo-plant`` (10 Hz) and ``xrclient hub`` as
subprocesses on loopback, connects ``--good`` well-behaved clients to each (one request
every 100 ms, timed to its answer; twin clients also time every delta from its ``sent``
stamp) and, in abused rounds, ``--abusers`` abusive clients to each, seeded, of four kinds
in turn: floods (as fast as they can, reconnecting when closed with 1008), never-reading
clients (receive buffer shrunk to 4 KiB), frames past the size limit (closed with 1009)
and random bytes or broken JSON/msgpack. Peak RSS is each server's VmHWM from /proc.
Baseline and abused rounds alternate (``--rounds`` of each), so the machine's noise falls
on both; medians and the best round are reported. The clients share one asyncio loop in
this process, so their latency includes this loop's own load.

usage: python benchmarks/bench_abuse.py [--rounds 3] [--seconds 10] [--abusers 8] [--good 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import machine_line

from tests.net.abuse import Round, percentile, soak

FIGURES = (
    ("twin request p99 (ms)", lambda r: 1e3 * percentile(r.twin.request_s, 99)),
    ("twin delta p99 (ms)", lambda r: 1e3 * percentile(r.twin.delta_s, 99)),
    ("hub request p99 (ms)", lambda r: 1e3 * percentile(r.hub.request_s, 99)),
    ("twin request p50 (ms)", lambda r: 1e3 * percentile(r.twin.request_s, 50)),
    ("hub request p50 (ms)", lambda r: 1e3 * percentile(r.hub.request_s, 50)),
    ("twin-sim peak RSS (MiB)", lambda r: r.twin_peak_rss_kib / 1024),
    ("hub peak RSS (MiB)", lambda r: r.hub_peak_rss_kib / 1024),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--abusers", type=int, default=8, help="abusers per server")
    ap.add_argument("--good", type=int, default=3, help="well-behaved clients per server")
    args = ap.parse_args()
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("websockets", "msgpack", "numpy"))
    print(f"machine: {machine_line()}; {versions}")
    print(
        f"setup: {args.good} well-behaved clients per server, {args.abusers} abusers per "
        f"server in abused rounds, {args.seconds:g} s per round, {args.rounds} rounds of each"
    )
    runs: dict[str, list[Round]] = {"baseline": [], "abused": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for name, abusers in (("baseline", 0), ("abused", args.abusers)):
                r = soak(
                    Path(tmp) / f"{name}{i}",
                    seconds=args.seconds,
                    abusers=abusers,
                    good=args.good,
                    seed=1000 * i,
                )
                runs[name].append(r)
                lost = r.twin.good_failures + r.hub.good_failures
                print(
                    f"  round {i + 1} {name}: twin req p99 "
                    f"{1e3 * percentile(r.twin.request_s, 99):.1f} ms, hub req p99 "
                    f"{1e3 * percentile(r.hub.request_s, 99):.1f} ms, abusers sent "
                    f"{r.twin.sent} + {r.hub.sent} frames, closes twin {r.twin.closes} hub "
                    f"{r.hub.closes}, good-client failures {len(lost)}, server errors "
                    f"{len(r.server_errors)}",
                    flush=True,
                )
    print()
    print("| figure | baseline median | baseline best | abused median | abused best |")
    print("|---|---|---|---|---|")
    for label, fn in FIGURES:
        base = [fn(r) for r in runs["baseline"]]
        abused = [fn(r) for r in runs["abused"]]
        print(
            f"| {label} | {statistics.median(base):.1f} | {min(base):.1f} | "
            f"{statistics.median(abused):.1f} | {min(abused):.1f} |"
        )


if __name__ == "__main__":
    main()
