r"""Sinkhorn sweep and SNS Newton step time: optkit's numba kernels against POT's numpy sweep;
SNS solves against POT ``sinkhorn_log`` and RegOT; the SNS kernels against ``memcpy``.

pytest-benchmark::

    pytest bench/micro/test_ot.py --benchmark-only -p no:cacheprovider

Ratio tests (issue 18; ``OPTKIT_MICRO_CONFIG=ci`` for the small sizes)::

    OPTKIT_MICRO_CONFIG=ci PYTHONPATH=$PWD python -m pytest -p no:cacheprovider \
        bench/micro/test_ot.py -k ratio --benchmark-json=/tmp/ot.json

Interleaved ratios (one process, alternating, medians), sizes ``--n`` (default 500 1000 2000)::

    NUMBA_NUM_THREADS=1 python bench/micro/test_ot.py --n 500 1000 2000

SNS kernels (select pass, CSR count + fill, SpMV) per entry and against a ``memcpy`` (numpy
copy) of the bytes each one streams, at 1 and 2 threads::

    python bench/micro/test_ot.py --kernels --n 1500 --threads 1 2

A sweep reads C twice (row and column log-sum-exp); POT's ``sinkhorn_log`` iteration does the
same with numpy temporaries (``scipy.special.logsumexp`` over ``(g - C)/reg``).

The solve instance of the SNS ratios (issue 18): uniform clouds of ``n`` points in
:math:`[0, 1]^2` on each side, squared Euclidean cost scaled to max 1, uniform masses,
``reg = 2e-3``, L1 marginal tolerance ``1e-9``. Stopping rules made equal: optkit stops on
:math:`\|P1 - a\|_1 + \|P^\top 1 - b\|_1 \le` tol; POT ``sinkhorn_log`` tests
:math:`\|P^\top 1 - b\|_2` (its rows are exact after its last update) every 10 iterations,
so ``stopThr = tol / sqrt(m)`` implies the same L1 bound (:math:`\|x\|_1 \le \sqrt m
\|x\|_2`); RegOT tests the 2-norm of the full gradient, ``tol / sqrt(n + m)``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numba
import numpy as np
import pytest
from scipy.special import logsumexp

from optkit.ot import _numba_kernels as kernels
from optkit.ot import cost_matrix, sinkhorn
from optkit.ot._numba_kernels import NumbaKernels

N = int(os.environ.get("OPTKIT_MICRO_OT_N", "1000"))
REG = 1e-2
CONFIG = os.environ.get("OPTKIT_MICRO_CONFIG", "full")
SNS_REG, SNS_TOL = 2e-3, 1e-9
SNS_N = {"ci": 200, "full": 1500}[CONFIG]           # solves against POT and RegOT
SNS_SEEDS = {"ci": (0, 1, 2), "full": (0,)}[CONFIG]  # POT takes ~3 min per seed at n = 1500
KERNEL_N = {"ci": 800, "full": 1500}[CONFIG]        # the SNS kernels against memcpy
KERNEL_KAPPA = 100  # kept set of the kernel ratios: top 100 n entries (mid-solve SNS sizes)
REGOT_SOLVERS = ("sinkhorn_ssns", "sinkhorn_newton", "sinkhorn_sparse_newton", "sinkhorn_splr")


def clouds(n, seed):
    """The issue-18 SNS instance: uniform masses, squared Euclidean cost of two uniform clouds
    of ``n`` points in the unit square, scaled to max 1."""
    rng = np.random.default_rng(seed)
    C = cost_matrix(rng.random((n, 2)), rng.random((n, 2)), "sqeuclidean")
    return np.full(n, 1.0 / n), np.ascontiguousarray(C / C.max())


def l1_error(C, a, f, g, reg):
    r, c, _, _ = NumbaKernels(C).stats(f, g, 1.0 / reg)
    return float(np.abs(r - a).sum() + np.abs(c - a).sum())


def sns_solve(a, C):
    res = sinkhorn(a, a, C, SNS_REG, tol=SNS_TOL, maxiter=5000)
    assert res.success, res.message
    return res


def pot_solve(a, C):
    import ot

    _, log = ot.sinkhorn(a, a, C, SNS_REG, method="sinkhorn_log",
                         stopThr=SNS_TOL / math.sqrt(a.size), numItermax=200_000, log=True)
    return SNS_REG * log["log_u"], SNS_REG * log["log_v"]


def regot_solve(name, a, C):
    import regot

    res = getattr(regot, name)(np.asfortranarray(C), a, a, SNS_REG,
                               tol=SNS_TOL / math.sqrt(2 * a.size), max_iter=1000)
    return res.dual[:a.size], np.append(res.dual[a.size:], 0.0)


def memcpy(nbytes):
    """A numpy copy of ``nbytes`` bytes (source touched, destination preallocated)."""
    src = np.ones(max(1, nbytes // 8))
    dst = np.empty_like(src)
    return lambda: np.copyto(dst, src)


def kernel_instance(n, kappa=KERNEL_KAPPA):
    """An SNS iterate (Sinkhorn to marginal error 1e-3 on the solve instance) and the arguments
    of its select, count/fill and SpMV kernels (kept set of ``kappa * n`` entries)."""
    a, C = clouds(n, 0)
    res = sinkhorn(a, a, C, SNS_REG, method="sinkhorn", tol=1e-3, maxiter=5000)
    f, g, inv = res.f, res.g, 1.0 / SNS_REG
    rows = NumbaKernels(C).stats(f, g, inv)[0]
    lo = math.log(float(rows.max())) - kernels._SPAN
    width = kernels._SPAN / kernels._NBINS
    hist, row_arg, col_arg, _ = kernels.select_pass(C, f, g, inv, 0, lo, width)
    b = int(np.searchsorted(np.cumsum(hist[::-1]), math.ceil(kappa * n)))
    thr = lo + (kernels._NBINS - 1 - b) * width
    csr = kernels.sparse_rows(C, f, g, inv, 0, thr, row_arg, col_arg)
    return {"C": C, "f": f, "g": g, "inv": inv, "lo": lo, "width": width, "thr": thr,
            "row_arg": row_arg, "col_arg": col_arg, "csr": csr,
            "x": np.random.default_rng(1).random(n)}


def select_call(k):
    return lambda: kernels.select_pass(k["C"], k["f"], k["g"], k["inv"], 0, k["lo"], k["width"])


def fill_call(k):
    return lambda: kernels.sparse_rows(k["C"], k["f"], k["g"], k["inv"], 0, k["thr"],
                                       k["row_arg"], k["col_arg"])


def spmv_call(k):
    indptr, indices, data = k["csr"]
    product = kernels.spmv if indptr[-1] >= kernels._SPMV_PARALLEL_MIN else kernels.spmv_serial
    return lambda: product(indptr, indices, data, k["x"])


def streamed_bytes(k):
    """Bytes each kernel streams: the select pass reads C once; count + fill read it twice and
    write the CSR; the SpMV reads the CSR and ``x`` and writes ``y``."""
    indptr, indices, data = k["csr"]
    csr = indptr.nbytes + indices.nbytes + data.nbytes
    n = indptr.size - 1
    return {"select": k["C"].nbytes, "fill": 2 * k["C"].nbytes + csr,
            "spmv": csr + 8 * (k["x"].size + n)}


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


@pytest.fixture(scope="module")
def sns_kernels():
    return kernel_instance(KERNEL_N)


def _record_threads(benchmark):
    benchmark.extra_info["numba_threads"] = numba.get_num_threads()


def test_ratio_sns_select_vs_memcpy(ratio, benchmark, sns_kernels):
    _record_threads(benchmark)
    ratio("sns-select-vs-memcpy", select_call(sns_kernels),
          memcpy(streamed_bytes(sns_kernels)["select"]), peer_name="numpy copy of C's bytes",
          repeats=21)


def test_ratio_sns_csr_fill_vs_memcpy(ratio, benchmark, sns_kernels):
    _record_threads(benchmark)
    ratio("sns-csr-fill-vs-memcpy", fill_call(sns_kernels),
          memcpy(streamed_bytes(sns_kernels)["fill"]),
          peer_name="numpy copy of 2 x C's bytes + the CSR's", repeats=21)


def test_ratio_sns_spmv_vs_memcpy(ratio, benchmark, sns_kernels):
    _record_threads(benchmark)
    benchmark.extra_info["nnz"] = int(sns_kernels["csr"][0][-1])
    ratio("sns-spmv-vs-memcpy", spmv_call(sns_kernels),
          memcpy(streamed_bytes(sns_kernels)["spmv"]),
          peer_name="numpy copy of the CSR's + x's + y's bytes", repeats=101)


def test_ratio_sns_vs_pot_sinkhorn_log(ratio, benchmark):
    pytest.importorskip("ot")
    instances = [clouds(SNS_N, seed) for seed in SNS_SEEDS]
    sns_solve(*instances[0])  # compile outside the timing
    for a, C in instances:
        f, g = pot_solve(a, C)
        assert l1_error(C, a, f, g, SNS_REG) <= SNS_TOL
    benchmark.extra_info.update(n=SNS_N, seeds=list(SNS_SEEDS))
    ratio("sns-vs-pot-sinkhorn-log",
          lambda: [sns_solve(a, C) for a, C in instances],
          lambda: [pot_solve(a, C) for a, C in instances],
          peer_name="POT sinkhorn_log (stopThr = tol/sqrt(m))", repeats=1, warmup=0)


def test_ratio_sns_vs_regot_best(ratio, benchmark):
    pytest.importorskip("regot")
    instances = [clouds(SNS_N, seed) for seed in SNS_SEEDS]
    sns_solve(*instances[0])
    best, best_time = None, math.inf
    for name in REGOT_SOLVERS:  # RegOT's Newton-type solvers: the fastest that reaches tol
        t0 = time.perf_counter()
        errs = [l1_error(C, a, *regot_solve(name, a, C), SNS_REG) for a, C in instances]
        elapsed = time.perf_counter() - t0
        benchmark.extra_info[name] = {"seconds": elapsed, "max_l1_error": max(errs)}
        if max(errs) <= SNS_TOL and elapsed < best_time:
            best, best_time = name, elapsed
    assert best is not None, "no RegOT solver reached the tolerance"
    benchmark.extra_info.update(n=SNS_N, seeds=list(SNS_SEEDS), regot_best=best)
    ratio("sns-vs-regot-best",
          lambda: [sns_solve(a, C) for a, C in instances],
          lambda: [regot_solve(best, a, C) for a, C in instances],
          peer_name=f"regot.{best}", repeats=3, warmup=0)


def kernel_scaling(n, threads, repeats):
    """Per-entry times of the SNS kernels and their ratio to a memcpy of the same bytes."""
    k = kernel_instance(n)
    nbytes = streamed_bytes(k)
    nnz = int(k["csr"][0][-1])
    for t in threads:
        numba.set_num_threads(t)
        for name, call, entries in (("select", select_call(k), n * n),
                                    ("fill", fill_call(k), n * n),
                                    ("spmv", spmv_call(k), nnz)):
            ours, peer = interleaved(call, memcpy(nbytes[name]), repeats)
            print(f"n={n} threads={t} {name:6s} {ours * 1e3:8.3f} ms "
                  f"({ours / entries * 1e9:.2f} ns/entry, {entries} entries) memcpy "
                  f"{peer * 1e3:8.3f} ms ratio {ours / peer:.2f}", flush=True)


def interleaved(ours, peer, repeats):
    ours(), peer()
    t_ours, t_peer = [], []
    for _ in range(repeats):
        for fn, times in ((ours, t_ours), (peer, t_peer)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(t_ours), statistics.median(t_peer)


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
    p.add_argument("--kernels", action="store_true", help="SNS kernels against memcpy")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    for n in args.n:
        if args.kernels:
            kernel_scaling(n, args.threads, args.repeats)
        else:
            ratios(n, args.repeats)


if __name__ == "__main__":
    main()
