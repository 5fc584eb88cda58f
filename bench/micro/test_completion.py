r"""altmin's CG iteration against ``implicit``'s compiled ALS CG iteration, on the same work.

Ratio tests (``ratio`` fixture: interleaved medians, recorded in the benchmark JSON)::

    OPTKIT_MICRO_CONFIG=ci PYTHONPATH=$PWD python -m pytest -p no:cacheprovider \
        bench/micro/test_completion.py -k ratio --benchmark-json=/tmp/completion.json

``OPTKIT_MICRO_CONFIG=full`` (the default) is issue 18's size: n = m = 1000, abs(Omega) =
3e5 (300 entries per row and per column), k = 10 and 50; ``ci`` is n = m = 500, abs(Omega)
= 5e4. ``OPTKIT_MICRO_THREADS`` (default 1) sets the threads of both sides (numba's pool for
optkit, ``num_threads`` for implicit). float64 on both sides, 3 CG steps, warm starts.

What one iteration computes (both sides: one pass over the rows, then one over the
columns; c = entries of the row or column, s = 3 CG steps, k = rank):

* optkit, ``altmin(solver="cg")``'s two half-steps (``run_half_step`` on the prebuilt
  blocks, exactly the call ``altmin`` makes): the explicit-feedback ridge normal equations
  over the observed entries only, :math:`(A^TA + \lambda I)x = A^Ty` with :math:`A` the
  fixed factor's rows at the row's observed columns, s CG steps from the current factor.
  Per row :math:`(6 + 4s)kc` flops matrix-free (k = 50: 270,000 at c = 300), or
  :math:`k(k+3)c + 2(s+1)k^2` with the Gram matrix assembled first (k = 10: 39,800), the
  kernel taking the cheaper (:func:`optkit.completion._kernels.gram_is_cheaper`).
* implicit 0.7.3, ``implicit.cpu._als.least_squares_cg`` on the same CSR pattern: the
  implicit-feedback normal equations over *all* items, :math:`(Y^TY + Y^T(C_u - I)Y +
  \lambda I)x = Y^TC_u p(u)`, with :math:`Y^TY` precomputed once per call
  (:math:`2nk^2`); per row a ``symv`` with :math:`Y^TY` (:math:`2k^2`) plus a dot/axpy pair
  per observed entry (:math:`4kc`), once for the start residual and once per step:
  :math:`(s+1)(4kc + 2k^2)` flops (k = 10: 48,800; k = 50: 260,000 at c = 300).

``test_half_step`` times the public :func:`~optkit.completion.half_step` of each solver
(pytest-benchmark only; it validates and sorts the entries on every call, which the ratio
tests leave out as ``altmin`` does after its first iteration).

The flop counts differ by a factor 0.82 (k = 10) and 1.04 (k = 50) (optkit / implicit); the
tests store both in ``extra_info`` with the time per flop. The values (optkit's targets,
implicit's confidences 1 + abs(M_ij)) do not change the work.
"""

from __future__ import annotations

import os

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from optkit.completion import half_step
from optkit.completion._blocks import Arrays
from optkit.completion._halfstep import entry_width
from optkit.completion._kernels import gram_is_cheaper
from optkit.completion._observed import canonicalize
from optkit.completion._options import HALF_STEP_OPTIONS, resolve
from optkit.completion._solver import Side, run_half_step
from optkit.completion.datasets import low_rank_problem

CONFIG = os.environ.get("OPTKIT_MICRO_CONFIG", "full")
N, NNZ = {"full": (1000, 300_000), "ci": (500, 50_000)}[CONFIG]
THREADS = int(os.environ.get("OPTKIT_MICRO_THREADS", "1"))
CG_STEPS, REG = 3, 0.1


def flops_optkit(k, nnz, n_rows, s=CG_STEPS):
    """Flops of one optkit CG half-step over ``n_rows`` rows holding ``nnz`` entries."""
    if gram_is_cheaper(k, s, False):
        return k * (k + 3) * nnz + 2 * (s + 1) * k * k * n_rows
    return (6 + 4 * s) * k * nnz


def flops_implicit(k, nnz, n_rows, n_other, s=CG_STEPS):
    """Flops of one ``least_squares_cg`` call (``Y^TY`` of the ``n_other`` x k factor once)."""
    return (s + 1) * (4 * k * nnz + 2 * k * k * n_rows) + 2 * n_other * k * k


def _instance(k):
    """Observed pattern (NNZ of N x N, uniform), factors, and both sides' prepared inputs."""
    rng = np.random.default_rng(0)
    flat = np.sort(rng.choice(N * N, NNZ, replace=False))
    rows, cols = flat // N, flat % N
    vals = rng.standard_normal(NNZ)
    U, V = (rng.standard_normal((N, k)) / np.sqrt(k) for _ in range(2))
    obs, proto = canonicalize((rows, cols, vals, (N, N)))
    arrays = Arrays(proto)
    cfg = resolve({"solver": "cg", "reg": REG, "cg_steps": CG_STEPS}, k,
                  known=HALF_STEP_OPTIONS, owner="bench")["half_step"]
    sides = {by: Side(arrays, obs, by, REG, "none", entry_width(cfg, k, arrays))
             for by in ("column", "row")}

    def optkit_iteration():
        V1, _ = run_half_step(arrays, cfg, None, sides["column"], U, None, 0.0, V, 0)
        U1, _ = run_half_step(arrays, cfg, None, sides["row"], V1, None, 0.0, U, 0)
        return U1, V1

    als = pytest.importorskip("implicit.cpu._als", reason="implicit (peers extra) not installed")
    Cui = sp.csr_matrix((1 + np.abs(vals), (rows, cols)), shape=(N, N))
    Ciu = Cui.T.tocsr()
    Xu, Yi = np.empty_like(U), np.empty_like(V)

    def implicit_iteration():
        Yi[:], Xu[:] = V, U  # the same warm start on every call
        als.least_squares_cg(Ciu, Yi, Xu, REG, num_threads=THREADS, cg_steps=CG_STEPS)
        als.least_squares_cg(Cui, Xu, Yi, REG, num_threads=THREADS, cg_steps=CG_STEPS)
        return Xu, Yi

    return optkit_iteration, implicit_iteration


def _ratio_vs_implicit(ratio, benchmark, k):
    optkit_iteration, implicit_iteration = _instance(k)
    old = numba.get_num_threads()
    numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=THREADS):
            value = ratio(f"altmin-cg-vs-implicit-k{k}", optkit_iteration, implicit_iteration,
                          peer_name="implicit.cpu._als.least_squares_cg (0.7.3)", repeats=15)
    finally:
        numba.set_num_threads(old)
    flops = {"optkit": 2 * flops_optkit(k, NNZ, N), "implicit": 2 * flops_implicit(k, NNZ, N, N)}
    info = benchmark.extra_info
    info.update(config=CONFIG, threads=THREADS, n=N, nnz=NNZ, rank=k, cg_steps=CG_STEPS,
                dtype="float64", flops_optkit=flops["optkit"], flops_implicit=flops["implicit"],
                ns_per_flop_optkit=1e9 * info["ours_median_s"] / flops["optkit"],
                ns_per_flop_implicit=1e9 * info["peer_median_s"] / flops["implicit"])
    assert np.isfinite(value)
    assert all(np.isfinite(x).all() for x in (*optkit_iteration(), *implicit_iteration()))


@pytest.fixture(scope="module", params=[10, 50], ids=lambda k: f"k={k}")
def case(request):
    k = request.param
    (rows, cols, vals, shape), _, _ = low_rank_problem(N, N, k, NNZ / N**2, rng=0)
    vals = vals + 0.1 * np.random.default_rng(1).standard_normal(vals.size)
    U = np.linalg.qr(np.random.default_rng(2).standard_normal((N, k)))[0]
    return k, (rows, cols, vals, shape), U


@pytest.mark.parametrize("solver", ["exact", "sketch", "cg"])
def test_half_step(benchmark, case, solver):
    """The public ``half_step`` (validates and sorts the entries on every call, then one V
    half-step): pytest-benchmark timings, no peer."""
    k, obs, U = case
    benchmark.group = f"completion half-step k={k}"
    extra = {"x0": np.zeros((N, k))} if solver == "cg" else {"rng": 0} if solver == "sketch" else {}
    out, _ = benchmark(half_step, obs, U, solver=solver, **extra)
    assert out.shape == (N, k) and np.isfinite(out).all()


def test_ratio_altmin_cg_vs_implicit_k10(ratio, benchmark):
    _ratio_vs_implicit(ratio, benchmark, 10)


def test_ratio_altmin_cg_vs_implicit_k50(ratio, benchmark):
    _ratio_vs_implicit(ratio, benchmark, 50)
