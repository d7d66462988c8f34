"""A bounded soak: seeded abusive clients (floods, never-reading, huge and bad frames) beside
well-behaved ones, against ``xrclient twin-sim`` and ``xrclient hub`` as subprocesses. The
well-behaved clients keep bounded latency and every request answered; the servers stay up,
log no traceback, and keep their resident memory (read from /proc) under a ceiling.

The bounds are generous on purpose (a shared, noisy machine); benchmarks/bench_abuse.py
measures the figures themselves."""

from __future__ import annotations

from pathlib import Path

from .abuse import ABUSER_KINDS, percentile, soak

#: generous: the well-behaved clients' p99 request and delta latency under abuse, seconds
MAX_P99_S = 1.5
#: generous: a server's peak resident set under abuse, KiB (each starts near 100 MiB)
MAX_RSS_KIB = 400 * 1024


def test_abusive_clients_do_not_hurt_the_others_or_grow_the_servers(tmp_path: Path) -> None:
    r = soak(tmp_path, seconds=12.0, abusers=2 * len(ABUSER_KINDS), good=3, seed=18)
    assert not r.twin.good_failures and not r.hub.good_failures, (
        r.twin.good_failures + r.hub.good_failures
    )
    assert not r.server_errors, r.server_errors
    # the abuse happened and was refused the documented way
    for tally in (r.twin, r.hub):
        assert tally.sent > 1000
        assert tally.closes.get(1009, 0) > 0, tally.closes  # huge frames
        assert tally.closes.get(1008, 0) > 0, tally.closes  # floods past their refusals
    # the well-behaved clients were served throughout, promptly
    assert len(r.twin.request_s) > 50 and len(r.hub.request_s) > 50
    assert len(r.twin.delta_s) > 100
    assert percentile(r.twin.request_s, 99) < MAX_P99_S
    assert percentile(r.twin.delta_s, 99) < MAX_P99_S
    assert percentile(r.hub.request_s, 99) < MAX_P99_S
    assert 0 < r.twin_peak_rss_kib < MAX_RSS_KIB
    assert 0 < r.hub_peak_rss_kib < MAX_RSS_KIB
