"""Helpers shared by the benchmark scripts: machine description and timing."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    debian = ""
    try:
        debian = "Debian " + Path("/etc/debian_version").read_text().strip()
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {debian}, Python {platform.python_version()}"


def timed(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> tuple[float, float]:
    """(median, min) wall seconds of ``fn`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def timed_interleaved(
    fns: dict[str, Callable[[], object]],
    repeat: int = 7,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, tuple[float, float]]:
    """(median, min) seconds per function by ``clock`` (the wall clock, or
    ``time.process_time`` for this process's CPU time), running them in turn each round.

    Alternating the candidates spreads the noise of a shared machine (other processes,
    frequency changes, steal time) evenly over them instead of onto whichever ran last.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = clock()
            fn()
            samples[name].append(clock() - start)
    return {name: (statistics.median(v), min(v)) for name, v in samples.items()}
