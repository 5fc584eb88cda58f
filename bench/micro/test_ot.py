"""Sinkhorn sweep and SNS Newton step time: optkit's numba kernels against POT's numpy sweep.

pytest-benchmark::

    pytest bench/micro/test_ot.py --benchmark-only -p no:cacheprovider

Interleaved ratios (one process, alternating, medians), sizes ``--n`` (default 500 1000 2000)::

    NUMBA_NUM_THREADS=1 python bench/micro/test_ot.py --n 500 1000 2000

A sweep reads C twice (row and column log-sum-exp); POT's ``sinkhorn_log`` iteration does the
same with numpy temporaries (``scipy.special.logsumexp`` over ``(g - C)/reg``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pytest
from scipy.special import logsumexp

from optkit.ot import sinkhorn
from optkit.ot._numba_kernels import NumbaKernels

N = int(os.environ.get("OPTKIT_MICRO_OT_N", "1000"))
REG = 1e-2


def _instance(n):
    rng = np.random.default_rng(0)
    C = rng.random((n, n))
    a = np.full(n, 1.0 / n)
    res = sinkhorn(a, a, C, REG, method="sinkhorn", maxiter=20)
    return a, C, res.f, res.g


def optkit_sweep(kern, a, f, g):
    inv = 1.0 / REG
    log_a = np.log(a)
    L = kern.row_lse(g, inv, log_a.max() - f * inv)
    f = REG * (log_a - L)
    g = REG * (log_a - kern.col_lse(f, inv, log_a.max() - g * inv))
    return f, g


def pot_sweep(C, a, f, g):
    """The body of POT's ``sinkhorn_log`` loop (ot/bregman/_sinkhorn.py), in potentials."""
    Mr = -C / REG
    log_a = np.log(a)
    g = REG * (log_a - logsumexp(Mr + f[:, None] / REG, 0))
    f = REG * (log_a - logsumexp(Mr + g[None, :] / REG, 1))
    return f, g


def newton_step(a, C, f, g):
    """One SNS iteration budget: select + PCG + line search, via a 1-step SNS run."""
    return sinkhorn(a, a, C, REG, init=(f, g), maxiter=1, tol=1e-300,
                    options={"n_init": 0, "polish": False})


@pytest.fixture(scope="module")
def inst():
    a, C, f, g = _instance(N)
    return a, C, f, g, NumbaKernels(C)


def test_sweep_optkit(benchmark, inst):
    a, C, f, g, kern = inst
    benchmark.group = f"sinkhorn sweep n={N}"
    benchmark(optkit_sweep, kern, a, f, g)


def test_sweep_pot(benchmark, inst):
    a, C, f, g, _ = inst
    benchmark.group = f"sinkhorn sweep n={N}"
    benchmark(pot_sweep, C, a, f, g)


def test_newton_step_optkit(benchmark, inst):
    a, C, f, g, kern = inst
    benchmark.group = f"sns newton step n={N}"
    benchmark(newton_step, a, C, f, g)


def ratios(n, repeats):
    a, C, f, g = _instance(n)
    kern = NumbaKernels(C)
    cases = {"optkit sweep": lambda: optkit_sweep(kern, a, f, g),
             "pot sweep": lambda: pot_sweep(C, a, f, g),
             "optkit newton step": lambda: newton_step(a, C, f, g)}
    times = {k: [] for k in cases}
    for fn in cases.values():
        fn()
    for _ in range(repeats):
        for k, fn in cases.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"n={n}: optkit sweep {med['optkit sweep'] * 1e3:.2f} ms, pot sweep "
          f"{med['pot sweep'] * 1e3:.2f} ms (ratio {med['pot sweep'] / med['optkit sweep']:.1f}x), "
          f"newton step {med['optkit newton step'] * 1e3:.2f} ms "
          f"(= {med['optkit newton step'] / med['optkit sweep']:.1f} sweeps)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, nargs="+", default=[500, 1000, 2000])
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    for n in args.n:
        ratios(n, args.repeats)


if __name__ == "__main__":
    main()
