"""Evaluations and success of CBO's default run against scipy's differential evolution.

    PYTHONPATH=$PWD python bench/cbo/budget.py [--seeds 10] [--only rosenbrock-2]

One run per seed and problem, each method at its defaults with the same box: optkit
``minimize(f, x0, method="cbo", bounds=box, options={"rng": seed, "vectorized": True})``
(particles start uniform in the box) and ``scipy.optimize.differential_evolution(f, box,
rng=seed)`` (defaults: popsize 15, tol 0.01, polish with L-BFGS-B, whose finite-difference
evaluations are in its nfev). Success: ``||x - x*||_inf < 0.25`` (Rastrigin, Ackley; CBXpy's
criterion) or ``< 0.01`` (Rosenbrock, one basin). Printed as a markdown table: successes,
``success=True`` results, mean and max evaluations per run, median final ``f - f*``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import differential_evolution

import optkit


def rosenbrock(x):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2; minimum 0 at (1, ..., 1)."""
    return np.sum(100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2, axis=-1)


def rastrigin(x):
    """10 d + sum_i [x_i^2 - 10 cos(2 pi x_i)]; minimum 0 at 0."""
    return 10 * x.shape[-1] + np.sum(x**2 - 10 * np.cos(2 * np.pi * x), axis=-1)


def ackley(x):
    """-20 exp(-0.2 sqrt(mean x^2)) - exp(mean cos 2 pi x) + 20 + e; minimum 0 at 0."""
    return (-20 * np.exp(-0.2 * np.sqrt(np.mean(x**2, axis=-1)))
            - np.exp(np.mean(np.cos(2 * np.pi * x), axis=-1)) + 20 + np.e)


# name -> (function, d, half-width of the box, minimizer value, success radius)
PROBLEMS = {
    "rosenbrock-2": (rosenbrock, 2, 5.0, 1.0, 0.01),
    **{f"rastrigin-{d}": (rastrigin, d, 5.12, 0.0, 0.25) for d in (2, 5, 10)},
    **{f"ackley-{d}": (ackley, d, 32.768, 0.0, 0.25) for d in (2, 5, 10)},
}


def run_cbo(f, d, box, seed):
    res = optkit.minimize(f, np.zeros(d), method="cbo", bounds=[(-box, box)] * d,
                          options={"rng": seed, "vectorized": True})
    return np.asarray(res.x), float(res.fun), int(res.nfev), bool(res.success)


def run_de(f, d, box, seed):
    res = differential_evolution(f, [(-box, box)] * d, rng=seed)
    return res.x, float(res.fun), int(res.nfev), bool(res.success)


METHODS = {"optkit cbo (defaults)": run_cbo, "scipy differential_evolution": run_de}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--only", nargs="*", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    args = ap.parse_args()
    print("| problem | method | found x* | success=True | mean nfev | max nfev | median f - f* "
          "| time/run (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.only:
        f, d, box, x_star, radius = PROBLEMS[name]
        for method in args.methods:
            found = ok = 0
            nfev, fs = [], []
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                x, fun, n, success = METHODS[method](f, d, box, seed)
                found += bool(np.max(np.abs(x - x_star)) < radius)
                ok += success
                nfev.append(n)
                fs.append(fun)
            t = (time.perf_counter() - t0) / args.seeds
            print(f"| {name} | {method} | {found}/{args.seeds} | {ok}/{args.seeds} | "
                  f"{np.mean(nfev):.3g} | {np.max(nfev):.3g} | {np.median(fs):.2g} | {t:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
