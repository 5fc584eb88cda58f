"""The ``ratio`` fixture: one kernel against its peer, interleaved, recorded in the benchmark JSON.

A ratio test times ``ours`` and ``peer`` alternately in one process (so that a noisy neighbour slows
both alike), takes the median of each, and stores ``kernel``, ``peer``, ``ratio`` (ours / peer) and
both medians in ``benchmark.extra_info``; ``bench/micro/check.py`` compares them with
``bench/micro/budgets.toml``. ``OPTKIT_MICRO_REPEATS`` overrides every test's repeat count.

Sizes: ``OPTKIT_MICRO_CONFIG=ci`` (small problems; every ratio test of the project together runs in
≤ 3 min on 2 cores, as CI runs them) or ``full`` (the default: the reference sizes of issue 18).
The gate, as CI runs it and in full::

    python bench/micro/check.py --config ci
    python bench/micro/check.py --config full
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import pytest


def interleaved_medians(ours: Callable[[], object], peer: Callable[[], object], *,
                        repeats: int, warmup: int = 1) -> tuple[float, float]:
    """Median wall time (s) of ``ours()`` and ``peer()``, called alternately ``repeats`` times."""
    for _ in range(warmup):
        ours()
        peer()
    t_ours, t_peer = [], []
    for i in range(repeats):
        # alternate which one goes first, so that neither always runs on a warm cache
        pair = ((ours, t_ours), (peer, t_peer)) if i % 2 == 0 else ((peer, t_peer), (ours, t_ours))
        for fn, times in pair:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(t_ours), statistics.median(t_peer)


MICRO_CONFIGS = ("ci", "full")


def micro_config() -> str:
    """The size configuration, ``OPTKIT_MICRO_CONFIG``: ``"ci"`` or ``"full"`` (the default)."""
    config = os.environ.get("OPTKIT_MICRO_CONFIG", "full")
    if config not in MICRO_CONFIGS:
        raise ValueError(f"OPTKIT_MICRO_CONFIG must be one of {list(MICRO_CONFIGS)}, got {config!r}")
    return config


@pytest.fixture(name="micro_config")
def micro_config_fixture() -> str:
    """:func:`micro_config` as a fixture."""
    return micro_config()


@pytest.fixture
def ratio(benchmark):
    """``ratio(kernel, ours, peer, *, peer_name, repeats=15, warmup=1)`` → ours / peer (medians)."""

    def measure(kernel: str, ours: Callable[[], object], peer: Callable[[], object], *,
                peer_name: str, repeats: int = 15, warmup: int = 1) -> float:
        repeats = int(os.environ.get("OPTKIT_MICRO_REPEATS", repeats))
        med_ours, med_peer = interleaved_medians(ours, peer, repeats=repeats, warmup=warmup)
        value = med_ours / med_peer
        benchmark.group = "ratios"
        benchmark.extra_info.update(kernel=kernel, peer=peer_name, ratio=value,
                                    ours_median_s=med_ours, peer_median_s=med_peer,
                                    repeats=repeats)
        benchmark.pedantic(ours, rounds=1, iterations=1)
        return value

    return measure
