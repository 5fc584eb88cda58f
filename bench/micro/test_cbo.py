"""Per-step time of optkit's CBO against CBXpy's at the same N, d, M (anisotropic, numpy).

pytest-benchmark (one group per size)::

    pytest bench/micro/test_cbo.py --benchmark-only -p no:cacheprovider

Interleaved ratios (both timed in one process, alternating, medians)::

    python bench/micro/test_cbo.py [--repeats 7 --steps 200]

A step = consensus, Euler-Maruyama update, one vectorized evaluation of the M N new
points (Rastrigin), the best-so-far update and the α schedule. CBXpy's ``step`` plus its
``multiply`` scheduler does the same work (its post-processing also clips positions).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pytest

from optkit.cbo import CBO
from optkit.core import Problem

SIZES = [(20, 10, 1), (50, 20, 1), (50, 20, 10), (200, 20, 1)]  # (N, d, M)


def rastrigin(x):
    return 10 * x.shape[-1] + np.sum(x**2 - 10 * np.cos(2 * np.pi * x), axis=-1)


def optkit_stepper(N, d, M):
    solver = CBO(variant="cbo", n_particles=N, n_runs=M, spread=3.0, alpha=30.0, vectorized=True,
                 xtol=0.0,
                 patience=10**9)
    problem = Problem.from_scipy(rastrigin, np.zeros(d)).counted()
    state = solver.init(problem, problem.x0, np.random.default_rng(0))

    def step():
        nonlocal state
        state = solver.step(problem, state)

    return step


def cbxpy_stepper(N, d, M):
    from cbx.dynamics import CBO as CBXCBO
    from cbx.scheduler import multiply

    x = np.random.default_rng(0).uniform(-3, 3, (M, N, d))
    dyn = CBXCBO(rastrigin, f_dim="3D", x=x, noise="anisotropic", sigma=10.1, alpha=30.0,
                 dt=0.01, max_it=10**9, verbosity=0, check_f_dims=False)
    sched = multiply(name="alpha", factor=1.05)

    def step():
        dyn.step()
        sched.update(dyn)

    return step


STEPPERS = {"optkit-cbo": optkit_stepper, "cbxpy": cbxpy_stepper}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"N{s[0]}-d{s[1]}-M{s[2]}")
@pytest.mark.parametrize("name", list(STEPPERS))
def test_step(benchmark, name, size):
    if name == "cbxpy":
        pytest.importorskip("cbx")
    benchmark.group = f"cbo-step-N{size[0]}-d{size[1]}-M{size[2]}"
    step = STEPPERS[name](*size)
    for _ in range(20):  # past the first alpha growth and allocations
        step()
    benchmark.extra_info.update(N=size[0], d=size[1], M=size[2])
    benchmark.pedantic(step, rounds=50, iterations=10, warmup_rounds=2)


def _time(step, steps):
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    for size in SIZES:
        steppers = {name: make(*size) for name, make in STEPPERS.items()}
        times = {name: [] for name in steppers}
        for step in steppers.values():
            _time(step, 20)
        for _ in range(args.repeats):
            for name, step in steppers.items():
                times[name].append(_time(step, args.steps))
        med = {name: statistics.median(t) for name, t in times.items()}
        print(f"N={size[0]:4d} d={size[1]:3d} M={size[2]:3d}: optkit {med['optkit-cbo'] * 1e6:7.0f} us"
              f"  cbxpy {med['cbxpy'] * 1e6:7.0f} us  ratio {med['optkit-cbo'] / med['cbxpy']:.2f}")


if __name__ == "__main__":
    main()
