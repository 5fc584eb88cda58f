"""Wall-time ratio of optkit's SNS against POT ``sinkhorn_log`` and RegOT on one instance,
measured in one process, interleaved, median of ``--repeats`` runs after a warm-up (JIT).

Example (the issue's 2-D cloud instance)::

    NUMBA_NUM_THREADS=1 python bench/ot/ratio.py --instance gauss-clouds --n 1500 --reg 2e-3

Each solver is run to the same L1 marginal error target (POT: ``stopThr = tol/sqrt(m)``, its
L2 column test; RegOT: ``tol/sqrt(n + m)``), and the error it reached is re-measured with
optkit's kernels.
"""

import argparse
import statistics
import time

import numpy as np
import ot

from optkit.ot import cost_matrix, sinkhorn
from optkit.ot._numba_kernels import NumbaKernels


def make(instance, n, rng=0):
    rng = np.random.default_rng(rng)
    if instance == "gauss-clouds":
        x, y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
        C = cost_matrix(x, y, "sqeuclidean")
    elif instance == "uniform-clouds":
        C = cost_matrix(rng.random((n, 2)), rng.random((n, 2)), "sqeuclidean")
    else:
        C = rng.random((n, n))
    return np.full(n, 1.0 / n), np.full(n, 1.0 / n), np.ascontiguousarray(C / C.max())


def measured_err(kern, a, b, f, g, reg):
    r, c, _, _ = kern.stats(f, g, 1.0 / reg)
    return (np.abs(r - a).sum() + np.abs(c - b).sum()) / a.sum()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--instance", default="gauss-clouds")
    p.add_argument("--n", type=int, default=1500)
    p.add_argument("--reg", type=float, default=2e-3)
    p.add_argument("--tol", type=float, default=1e-9)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peers", default="pot,ssns,splr")
    args = p.parse_args()
    a, b, C = make(args.instance, args.n)
    kern = NumbaKernels(C)
    reg, tol, m = args.reg, args.tol, args.n

    def run_optkit():
        r = sinkhorn(a, b, C, reg, tol=tol, maxiter=5000)
        return r.f, r.g, f"{r.n_sinkhorn}+{r.n_newton} (cg {r.n_cg})"

    def run_pot():
        _, log = ot.sinkhorn(a, b, C, reg, method="sinkhorn_log", stopThr=tol / np.sqrt(m),
                             numItermax=100000, log=True)
        return reg * log["log_u"], reg * log["log_v"], str(log["niter"])

    def run_regot(name):
        import regot

        Cf = np.asfortranarray(C)

        def run():
            res = getattr(regot, name)(Cf, a, b, reg, tol=tol / np.sqrt(2 * m), max_iter=5000)
            return res.dual[:m], np.append(res.dual[m:], 0.0), str(res.niter)

        return run

    solvers = {"optkit-sns": run_optkit}
    if "pot" in args.peers:
        solvers["pot-sinkhorn_log"] = run_pot
    for name in ("ssns", "splr"):
        if name in args.peers:
            solvers[f"regot-sinkhorn_{name}"] = run_regot(f"sinkhorn_{name}")
    sinkhorn(a, b, C, reg, maxiter=25)  # JIT warm-up
    times = {k: [] for k in solvers}
    info = {}
    for _ in range(args.repeats):
        for name, fn in solvers.items():
            t = time.perf_counter()
            f, g, its = fn()
            times[name].append(time.perf_counter() - t)
            info[name] = (its, measured_err(kern, a, b, f, g, reg))
            print(f"  {name}: {times[name][-1]:.3f} s, {its}, err {info[name][1]:.2e}", flush=True)
    base = statistics.median(times["optkit-sns"])
    print(f"instance={args.instance} n={args.n} reg={reg} tol={tol} repeats={args.repeats}")
    for name in solvers:
        med = statistics.median(times[name])
        its, err = info[name]
        print(f"{name:24s} median {med:8.3f} s  ratio {med / base:7.2f}  iterations {its:>18s}"
              f"  err {err:.2e}")


if __name__ == "__main__":
    main()
