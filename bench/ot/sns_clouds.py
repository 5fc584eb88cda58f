"""SNS on the issue-18 cloud instance, 3 seeds, 1 and 2 threads, against POT and RegOT.

::

    OMP_WAIT_POLICY=passive PYTHONPATH=$PWD python bench/ot/sns_clouds.py 1500 [--sns-only]

Uniform clouds of n points in [0, 1]^2, squared Euclidean cost scaled to max 1, reg 2e-3,
L1 tol 1e-9. A full POT ``sinkhorn_log`` run takes minutes at n = 1500, so its time is
estimated as (its iteration count to ``stopThr = tol/sqrt(m)``, measured once: 950 / 970 / 970
for seeds 0 / 1 / 2 at n = 1500) x (its per-iteration time, measured interleaved with the SNS
solves). RegOT SSNS (its best solver here) runs in full, next to one SNS solve.
"""
import math
import statistics
import sys
import time

import numba
import numpy as np
import ot

from optkit.ot import cost_matrix, sinkhorn

n = int(sys.argv[1])
sns_only = "--sns-only" in sys.argv
POT_ITERS = {0: 950, 1: 970, 2: 970} if n == 1500 else {}
def make(seed):
    rng = np.random.default_rng(seed)
    C = cost_matrix(rng.random((n, 2)), rng.random((n, 2)), "sqeuclidean")
    return np.full(n, 1 / n), np.ascontiguousarray(C / C.max())


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def sns(a, C):
    return sinkhorn(a, a, C, 2e-3, tol=1e-9, maxiter=5000)


def pot_iteration(a, C, iterations=30):
    ot.sinkhorn(a, a, C, 2e-3, method="sinkhorn_log", stopThr=0.0, numItermax=iterations,
                warn=False)


for seed in (0, 1, 2):
    a, C = make(seed)
    for thr in (1, 2):
        numba.set_num_threads(thr)
        ts, tp = [], []
        sns(a, C)
        for _ in range(3):
            t, res = timed(sns, a, C)
            ts.append(t)
            if not sns_only:
                tp.append(timed(pot_iteration, a, C)[0] / 30)
        t_sns = statistics.median(ts)
        line = (f"seed {seed} threads {thr}: SNS median {t_sns:.3f} s "
                f"[{', '.join(f'{t:.3f}' for t in ts)}] ({res.n_sinkhorn}+{res.n_newton} "
                f"cg {res.n_cg} err {res.marginal_error:.1e})")
        if not sns_only:
            it = statistics.median(tp)
            line += f" | POT {it * 1e3:.1f} ms/iter"
            if seed in POT_ITERS:
                t_pot = it * POT_ITERS[seed]
                line += f" x {POT_ITERS[seed]} its = {t_pot:.1f} s -> ratio {t_sns / t_pot:.4f}"
        print(line, flush=True)
    if not sns_only:
        import regot

        numba.set_num_threads(1)
        t_regot, res = timed(regot.sinkhorn_ssns, np.asfortranarray(C), a, a, 2e-3,
                             1e-9 / math.sqrt(2 * n), 1000)
        t_sns = timed(sns, a, C)[0]
        print(f"seed {seed}: regot SSNS {t_regot:.3f} s ({res.niter} its) vs SNS (1 thread, "
              f"same moment) {t_sns:.3f} s -> ratio {t_sns / t_regot:.3f}", flush=True)
