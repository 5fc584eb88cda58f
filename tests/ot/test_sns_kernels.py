"""The SNS numba kernels (select pass, CSR count + fill, CSR transpose, SpMV, column LSE)
against independent oracles: dense numpy (log P, arg-maxima, histogram, top-k), scipy.sparse
(CSR, products), scipy.special.logsumexp; thread-count invariance; SNS plans against POT."""

from __future__ import annotations

import math
from contextlib import contextmanager

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp

from optkit.ot import _numba_kernels as K
from optkit.ot import cost_matrix, sinkhorn


@contextmanager
def threads(count):
    old = numba.get_num_threads()
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def clouds(n, m, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    C = cost_matrix(rng.random((n, 2)), rng.random((m, 2)), "sqeuclidean")
    return np.ascontiguousarray(C / C.max(), dtype=dtype)


def iterate(n, m, seed, reg=2e-3, dtype=np.float64):
    """A cost and Sinkhorn potentials at marginal error ~1e-2 (a typical SNS Newton point)."""
    C = clouds(n, m, seed, dtype)
    res = sinkhorn(np.full(n, 1 / n), np.full(m, 1 / m), C, reg, method="sinkhorn", tol=1e-2,
                   maxiter=2000)
    return C, res.f, res.g, 1.0 / reg


def dense_log_plan(C, f, g, inv):
    return (f[:, None] + g[None, :] - C) * inv  # the kernels' operation order, in numpy


CASES = [(130, 90, 0), (70, 150, 1), (300, 300, 2)]


@pytest.mark.parametrize("n, m, seed", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_select_pass_equals_dense_numpy(n, m, seed, dtype):
    C, f, g, inv = iterate(n, m, seed, dtype=dtype)
    j0 = m // 3
    lp = dense_log_plan(C, f, g, inv)
    lp[:, j0] = -np.inf
    lo = float(lp.max()) - K._SPAN
    width = K._SPAN / K._NBINS
    hist, row_arg, col_arg, col_best = K.select_pass(C, f, g, inv, j0, lo, width)
    above = lp[lp >= lo]
    bins = np.clip((above - lo) * (1.0 / width), 0, K._NBINS - 1).astype(np.int64)
    np.testing.assert_array_equal(hist, np.bincount(bins, minlength=K._NBINS))
    np.testing.assert_array_equal(row_arg, lp.argmax(axis=1))
    keep_cols = np.arange(m) != j0
    np.testing.assert_array_equal(col_arg[keep_cols], lp.argmax(axis=0)[keep_cols])
    np.testing.assert_array_equal(col_best[keep_cols], lp.max(axis=0)[keep_cols])


def test_select_pass_takes_the_first_maximum_on_ties():
    """Duplicate points give equal log P entries: the first position wins (as argmax)."""
    rng = np.random.default_rng(3)
    x, y = rng.random((40, 2)), rng.random((30, 2))
    x[7], y[11] = x[2], y[4]  # a duplicated row and a duplicated column
    C = np.ascontiguousarray(cost_matrix(x, y, "sqeuclidean"))
    f, g, inv = np.zeros(40), np.zeros(30), 10.0
    lp = dense_log_plan(C, f, g, inv)
    lp[:, 0] = -np.inf
    _, row_arg, col_arg, _ = K.select_pass(C, f, g, inv, 0, float(lp.max()) - 40.0, 40 / 2048)
    np.testing.assert_array_equal(row_arg, lp.argmax(axis=1))
    np.testing.assert_array_equal(col_arg[1:], lp.argmax(axis=0)[1:])


@pytest.mark.parametrize("n, m, seed", CASES)
@pytest.mark.parametrize("kappa", [2.0, 30.0])
def test_select_keeps_the_top_k_and_the_maxima_as_scipy_csr(n, m, seed, kappa):
    """NumbaKernels.select = the dense kept set (the k largest log P within the histogram's
    window of 40 below log max_i (P1)_i, ∪ row/column maxima, column j0 left out) as a scipy
    CSR of P/eps."""
    C, f, g, inv = iterate(n, m, seed)
    j0 = int(np.argmax(np.arange(m) % 7))
    k = math.ceil(kappa * max(n, m))
    kern = K.NumbaKernels(C)
    rows = kern.stats(f, g, inv)[0]
    block = kern.select(f, g, inv, j0, k, rows)
    indptr, indices, data = block
    lp = dense_log_plan(C, f, g, inv)
    lp[:, j0] = -np.inf
    kept = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, m)).toarray() > 0
    top_k = np.argpartition(lp.ravel(), -k)[-k:]
    in_window = lp.ravel()[top_k] >= math.log(rows.max()) - K._SPAN
    assert kept.ravel()[top_k[in_window]].all()
    assert kept[np.arange(n), lp.argmax(axis=1)].all()
    cols = np.arange(m) != j0
    assert kept[lp.argmax(axis=0)[cols], np.arange(m)[cols]].all()
    assert not kept[:, j0].any()
    # kept = {log P >= thr} ∪ maxima for the threshold thr = the smallest kept value above
    # the maxima: every entry above the smallest thresholded one is kept
    extra = np.zeros_like(kept)
    extra[np.arange(n), lp.argmax(axis=1)] = True
    extra[lp.argmax(axis=0)[cols], np.arange(m)[cols]] = True
    thr = lp[kept & ~extra].min()
    np.testing.assert_array_equal(kept, ((lp >= thr) | extra) & (np.arange(m) != j0))
    expected = sp.csr_matrix(np.where(kept, 1.0, 0.0))
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_allclose(data, (np.exp(lp) * inv)[kept], rtol=1e-14, atol=0)
    assert block.nnz == expected.nnz and block.passes == 3


@pytest.mark.parametrize("n, m, seed", CASES)
def test_transpose_and_products_equal_scipy(n, m, seed, monkeypatch):
    C, f, g, inv = iterate(n, m, seed)
    kern = K.NumbaKernels(C)
    block = kern.select(f, g, inv, 0, 10 * max(n, m), kern.stats(f, g, inv)[0])
    ref = sp.csr_matrix((block.csr[2], block.csr[1], block.csr[0]), shape=(n, m))
    ref_t = ref.T.tocsr()
    cptr, rows, cdata = block.csc
    np.testing.assert_array_equal(cptr, ref_t.indptr)
    np.testing.assert_array_equal(rows, ref_t.indices)
    np.testing.assert_array_equal(cdata, ref_t.data)
    rng = np.random.default_rng(seed)
    v, u = rng.standard_normal(m), rng.standard_normal(n)
    for product in (K.spmv, K.spmv_serial):
        np.testing.assert_allclose(product(*block.csr, v), ref @ v, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(block.matvec(v), ref @ v, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(block.rmatvec(u), ref.T @ u, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(block.matvec(v, squared=True), ref.multiply(ref) @ v,
                               rtol=1e-13, atol=1e-13)
    wn, wm = rng.random(n) + 0.5, rng.random(m) + 0.5
    fused = block.gram(v, wn), block.gram(u, wm, transpose=True)
    np.testing.assert_allclose(fused[0], ref.T @ (wn * (ref @ v)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused[1], ref @ (wm * (ref.T @ u)), rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(K, "_GRAM_FUSED_MAX", 0)  # the two threaded products
    np.testing.assert_allclose(block.gram(v, wn), fused[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block.gram(u, wm, transpose=True), fused[1], rtol=1e-12,
                               atol=1e-12)


def test_spmv_handles_empty_rows():
    ref = sp.random(50, 40, density=0.05, random_state=4, format="csr")
    assert np.any(np.diff(ref.indptr) == 0)
    x = np.random.default_rng(4).standard_normal(40)
    indices = ref.indices.astype(np.int32)
    for product in (K.spmv, K.spmv_serial):
        np.testing.assert_allclose(product(ref.indptr.astype(np.int64), indices, ref.data, x),
                                   ref @ x, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("n, m, seed", CASES)
def test_col_lse_equals_scipy_logsumexp(n, m, seed):
    C, f, g, inv = iterate(n, m, seed)
    ref = logsumexp((f[:, None] - C) * inv, axis=0)
    good = ref - 1.0                   # a guess within range
    bad = good.copy()
    bad[::5] += 800.0                  # shifted sums below 1e-200: the exact fallback
    for shift in (good, bad):
        np.testing.assert_allclose(K.col_lse(C, f, inv, shift), ref, rtol=1e-13, atol=1e-12)
    acc = np.zeros(m)
    K.col_sums(C[: n // 2], f[: n // 2], inv, good, acc)
    K.col_sums(C[n // 2:], f[n // 2:], inv, good, acc)
    np.testing.assert_allclose(good + np.log(acc), ref, rtol=1e-13, atol=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_kernels_do_not_depend_on_the_thread_count():
    C, f, g, inv = iterate(700, 650, 5)
    kern = K.NumbaKernels(C)
    rows = kern.stats(f, g, inv)[0]
    outputs = []
    for count in (1, 2):
        with threads(count):
            lo = math.log(rows.max()) - K._SPAN
            sel = K.select_pass(C, f, g, inv, 3, lo, K._SPAN / K._NBINS)
            block = kern.select(f, g, inv, 3, 60 * 700, rows)
            x = np.linspace(-1.0, 1.0, 650)
            outputs.append([*sel, *block.csr, *block.csc, K.spmv(*block.csr, x),
                            K.col_lse(C, f, inv, np.zeros(650))])
    for one, two in zip(*outputs):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow),
                                  pytest.param(2, marks=pytest.mark.slow)])
def test_sns_plan_equals_pot_sinkhorn_log_on_clouds(seed):
    """The issue-18 instance family (uniform clouds, squared Euclidean scaled to max 1,
    reg 2e-3, L1 tol 1e-9), small n: SNS's plan = POT sinkhorn_log's converged plan."""
    ot = pytest.importorskip("ot")
    n = 90
    C = clouds(n, n, seed)
    a = np.full(n, 1 / n)
    res = sinkhorn(a, a, C, 2e-3, tol=1e-9, maxiter=2000)
    assert res.success and res.marginal_error <= 1e-9
    ref = ot.sinkhorn(a, a, C, 2e-3, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000)
    assert np.abs(res.plan - ref).sum() <= 1e-7
    assert abs(res.cost - float(np.sum(ref * C))) <= 1e-8


@pytest.mark.parametrize("transpose", [False, True])
def test_compiled_schur_cg_solves_the_dense_system_as_core_pcg(transpose, monkeypatch):
    """HostSparse.schur_cg (compiled loop) solves (diag(d) - Σᵀ W Σ) x = b like numpy's dense
    solve, in the iterations of optkit.core.cg.pcg (the Python loop, forced by the size cut)."""
    C, f, g, inv = iterate(120, 90, 6)
    kern = K.NumbaKernels(C)
    rows, cols, _, _ = kern.stats(f, g, inv)
    block = kern.select(f, g, inv, 0, 20 * 120, rows)
    S = sp.csr_matrix((block.csr[2], block.csr[1], block.csr[0]), shape=(120, 90)).toarray()
    tau = 1e-3
    if transpose:
        d, weights = rows * inv + tau, 1.0 / (cols * inv + tau)
        weights[0] = 0.0
        A = np.diag(d) - S @ np.diag(weights) @ S.T
    else:
        d, weights = cols * inv + tau, 1.0 / (rows * inv + tau)
        A = np.diag(d) - S.T @ np.diag(weights) @ S
    b = np.random.default_rng(6).standard_normal(A.shape[0])
    precond = np.diag(A).copy()
    compiled = block.schur_cg(d, weights, b, precond, 1e-12, 500, transpose)
    assert compiled.converged
    np.testing.assert_allclose(compiled.x, np.linalg.solve(A, b), rtol=1e-8, atol=1e-10)
    monkeypatch.setattr(K, "_GRAM_FUSED_MAX", 0)
    python_loop = block.schur_cg(d, weights, b, precond, 1e-12, 500, transpose)
    assert abs(python_loop.nit - compiled.nit) <= 1
    np.testing.assert_allclose(python_loop.x, compiled.x, rtol=1e-8, atol=1e-10)
