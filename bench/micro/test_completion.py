"""Half-step kernels of optkit.completion, and implicit's ALS CG solver on the same pattern.

pytest-benchmark (one group per rank)::

    OPENBLAS_NUM_THREADS=1 pytest bench/micro/test_completion.py --benchmark-only \\
        -p no:cacheprovider

One V half-step (n = m = 1000, |Omega| = 3e5, noisy targets): ``exact`` (batched normal
equations), ``sketch`` (GSYZ sketch-and-precondition, s = 4k) and ``cg`` (3 warm-started
steps). ``implicit`` runs its compiled 3-step CG solve (``implicit.cpu._als.least_squares_cg``)
on the same sparsity: a different loss (implicit feedback over all entries), so a timing
reference only. optkit's ``half_step`` also validates and sorts the entries on every call.
"""

from __future__ import annotations

import numpy as np
import pytest

from optkit.completion import half_step
from optkit.completion.datasets import low_rank_problem

N, NNZ = 1000, 300_000


@pytest.fixture(scope="module", params=[10, 50], ids=lambda k: f"k={k}")
def case(request):
    k = request.param
    (rows, cols, vals, shape), _, _ = low_rank_problem(N, N, k, NNZ / N**2, rng=0)
    vals = vals + 0.1 * np.random.default_rng(1).standard_normal(vals.size)
    U = np.linalg.qr(np.random.default_rng(2).standard_normal((N, k)))[0]
    return k, (rows, cols, vals, shape), U


@pytest.mark.parametrize("solver", ["exact", "sketch", "cg"])
def test_half_step(benchmark, case, solver):
    k, obs, U = case
    benchmark.group = f"completion half-step k={k}"
    extra = {"x0": np.zeros((N, k))} if solver == "cg" else {"rng": 0} if solver == "sketch" else {}
    out, _ = benchmark(half_step, obs, U, solver=solver, **extra)
    assert out.shape == (N, k) and np.isfinite(out).all()


def test_implicit_cg(benchmark, case):
    import scipy.sparse as sp

    als = pytest.importorskip("implicit.cpu._als")  # the compiled (Cython) solver
    k, (rows, cols, vals, shape), U = case
    benchmark.group = f"completion half-step k={k}"
    Cui = sp.csr_matrix((np.abs(vals), (cols, rows)), shape=shape[::-1])  # item x user
    X, U = np.zeros((N, k)), np.ascontiguousarray(U)
    benchmark(als.least_squares_cg, Cui, X, U, 0.01, num_threads=1, cg_steps=3)
    assert np.isfinite(X).all()
