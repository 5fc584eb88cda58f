"""Batched log-domain Sinkhorn: one tensor program for B problems vs a loop, and vs POT.

Two forms, B = 64 problems of n = m = 128 by default (issue 14, spec ot.md §8.3):

- ``costs``: B different costs (2-D uniform clouds, squared Euclidean), B x n x m. optkit's
  vectorised batch (numpy and torch) vs optkit's unbatched solver in a Python loop (numba
  kernels for numpy, torch kernels for torch) vs POT's ``ot.sinkhorn(method="sinkhorn_log")`` in a loop
  (stopThr = tol/sqrt(m) for its L2 column test) (POT has no batched-cost form).
- ``columns``: one cost, B histograms b (POT's several-b form). optkit's vectorised batch vs
  POT's ``ot.sinkhorn(a, B, C, method="sinkhorn")`` (kernel domain, vectorised over the
  columns) and ``method="sinkhorn_log"`` (POT loops over the columns).

Every run is timed in the same process (median of ``--repeats``, the runs interleaved), and
every solution's largest L1 marginal error is re-measured here.

    OMP_NUM_THREADS=1 python bench/ot/batch.py --batch 64 --n 128 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def marginal_error(P, a, b):
    P = np.asarray(P)
    return float(np.max((np.abs(P.sum(-1) - a).sum(-1) + np.abs(P.sum(-2) - b).sum(-1))
                        / a.sum(-1)))


def timed(runs, repeats):
    """Median seconds and last output of every run, the runs interleaved round-robin (so a
    change of the machine's load hits every run alike)."""
    times = {name: [] for name in runs}
    outs = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(t), outs[name]) for name, t in times.items()}


def report_runs(head, runs, repeats, a, b):
    report = dict(head)
    for name, (seconds, P) in timed(runs, repeats).items():
        report[name] = {"s": round(seconds, 4), "err": marginal_error(P, a, b)}
    base = report[next(iter(runs))]["s"]
    report["ratios (time / first run)"] = {k: round(v["s"] / base, 2)
                                          for k, v in report.items() if isinstance(v, dict)}
    print(json.dumps(report))


def main():
    import ot
    import torch

    from optkit.ot import sinkhorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--reg", type=float, default=0.05)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    B, n, reg, tol = args.batch, args.n, args.reg, args.tol
    x, y = rng.random((B, n, 2)), rng.random((B, n, 2))
    C = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    a = np.full((B, n), 1.0 / n)
    b = rng.random((B, n)) + 0.1
    b /= b.sum(axis=1, keepdims=True)
    kw = {"method": "sinkhorn", "tol": tol, "maxiter": 100000, "warn": False}
    Ct, at, bt = (torch.from_numpy(v) for v in (C, a, b))
    sinkhorn(a[:2], b[:2], C[:2], reg, **kw)  # numba compile / warm-up
    sinkhorn(a[0], b[0], C[0], reg, **kw)

    def pot_loop(backend_C, aa, bb):
        return [ot.sinkhorn(aa[k], bb[k], backend_C[k], reg, method="sinkhorn_log",
                            stopThr=tol / np.sqrt(n), numItermax=100000) for k in range(B)]

    runs = {
        "optkit batch numpy": lambda: sinkhorn(a, b, C, reg, **kw).plan,
        "optkit batch torch": lambda: sinkhorn(at, bt, Ct, reg, **kw).plan,
        "optkit loop numpy": lambda: np.stack([sinkhorn(a[k], b[k], C[k], reg, **kw).plan
                                               for k in range(B)]),
        "optkit loop torch": lambda: torch.stack([sinkhorn(at[k], bt[k], Ct[k], reg, **kw).plan
                                                  for k in range(B)]),
        "POT loop numpy": lambda: np.stack(pot_loop(C, a, b)),
        "POT loop torch": lambda: torch.stack(pot_loop(Ct, at, bt)),
    }
    report_runs({"form": "costs", "B": B, "n": n, "reg": reg, "tol": tol}, runs, args.repeats,
                a, b)
    # several b, one cost
    Cs, a1, cols = C[0], a[0], b.T.copy()
    runs = {
        "optkit several-b numpy": lambda: sinkhorn(a1, cols, Cs, reg, **kw).plan,
        "optkit several-b torch": lambda: sinkhorn(torch.from_numpy(a1), torch.from_numpy(cols),
                                                   torch.from_numpy(Cs), reg, **kw).plan,
        "POT sinkhorn (several b)": lambda: _pot_columns(ot, a1, cols, Cs, reg, tol, "sinkhorn"),
        "POT sinkhorn_log (several b)": lambda: _pot_columns(ot, a1, cols, Cs, reg, tol,
                                                             "sinkhorn_log"),
    }
    report_runs({"form": "columns", "B": B, "n": n, "reg": reg, "tol": tol}, runs,
                args.repeats, a, b)

def _pot_columns(ot, a, cols, C, reg, tol, method):
    """POT's plans for several b: its log gives the scalings (one column per problem)."""
    _, log = ot.sinkhorn(a, cols, C, reg, method=method, stopThr=tol / np.sqrt(C.shape[1]),
                         numItermax=100000,
                         log=True)
    if method == "sinkhorn":
        u, v = log["u"], log["v"]
        return u.T[:, :, None] * np.exp(-C / reg)[None] * v.T[:, None, :]
    lu, lv = log["log_u"], log["log_v"]
    return np.exp(lu.T[:, :, None] + lv.T[:, None, :] - C[None] / reg)


if __name__ == "__main__":
    main()
