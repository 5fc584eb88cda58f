"""The compiled half-step kernels (numba) against independent oracles.

Oracles: ``numpy.linalg.solve`` per group on the dense normal equations built from the
group's rows; for CG, the exact solution after k steps on SPD k x k systems (CG's finite
termination), and :func:`optkit.core.cg.pcg` on the dense batched operator for fewer steps.
Small sizes: the kernels compile once per dtype (cached on disk).
"""

import numba
import numpy as np
import pytest

from optkit.completion import _kernels, half_step
from optkit.core.cg import pcg

from ._util import problem

#: (rtol of the solutions) per dtype: float32 loses ~cond(G) * eps.
RTOL = {np.float64: 1e-9, np.float32: 2e-3}


def _instance(dtype, k=4, n_groups=12, n_other=40, seed=0):
    """A CSR block: group sizes 0 .. 3k (group 0 empty, group 1 with fewer than k entries),
    targets, factor, per-group ridge (0 for every third group)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(k, 3 * k, n_groups)
    counts[0], counts[1] = 0, k - 2
    indptr = np.concatenate([[0], np.cumsum(counts)])
    other = np.concatenate([rng.choice(n_other, c, replace=False) for c in counts]).astype(int)
    targets = rng.standard_normal(indptr[-1]).astype(dtype)
    factor = rng.standard_normal((n_other, k)).astype(dtype)
    lam = np.where(np.arange(n_groups) % 3 == 0, 0.0, 0.5).astype(dtype)
    return indptr, other, targets, factor, lam


def _dense(indptr, other, targets, factor, lam, jitter):
    """Per group, in float64: A_j, b_j and the shifted Gram matrix (the oracle's own build)."""
    k = factor.shape[1]
    out = []
    for j in range(indptr.size - 1):
        a = factor[other[indptr[j]:indptr[j + 1]]].astype(np.float64)
        y = targets[indptr[j]:indptr[j + 1]].astype(np.float64)
        g = a.T @ a
        shift = lam[j] if lam[j] else jitter * np.trace(g) / k
        shift = shift if shift or np.trace(g) else 1.0
        out.append((a, y, g + shift * np.eye(k), a.T @ y))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_matches_dense_solve(dtype):
    data = _instance(dtype)
    jitter = 1e-3  # groups with lam = 0 and fewer than k entries need a visible shift
    want = np.array([np.linalg.solve(g, b) for _, _, g, b in _dense(*data, jitter)])
    got = _kernels.exact(*data, jitter)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(want).max())
    np.testing.assert_array_equal(got[0], 0)  # the empty group (no shift: G = I, b = 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_normal_equations_and_cholesky_solve(dtype):
    data = _instance(dtype, k=5, seed=1)
    dense = _dense(*data, 1e-3)
    gram, rhs = _kernels.normal_equations(*data, 1e-3)
    tol = 10 * np.finfo(dtype).eps
    for j, (_, _, g, b) in enumerate(dense):
        np.testing.assert_allclose(gram[j], g, rtol=tol, atol=tol * np.abs(g).max())
        np.testing.assert_allclose(rhs[j], b, rtol=tol, atol=tol * (np.abs(b).max() + 1))
    want = np.linalg.solve(gram.astype(np.float64), rhs.astype(np.float64)[..., None])[..., 0]
    np.testing.assert_allclose(_kernels.cholesky_solve(gram, rhs), want, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.abs(want).max())


def test_cholesky_solve_falls_back_to_lu_and_flags_singular():
    rng = np.random.default_rng(2)
    indefinite = np.array([[[1.0, 2.0, 0.0], [2.0, 1.0, 1.0], [0.0, 1.0, -3.0]]])
    spd = rng.standard_normal((1, 3, 3))
    spd = spd @ spd.transpose(0, 2, 1) + np.eye(3)
    gram = np.concatenate([indefinite, spd])
    rhs = rng.standard_normal((2, 3))
    np.testing.assert_allclose(_kernels.cholesky_solve(gram, rhs),
                               np.linalg.solve(gram, rhs[..., None])[..., 0], rtol=1e-12)
    singular = np.concatenate([spd, np.ones((1, 3, 3))])
    with pytest.raises(np.linalg.LinAlgError, match="1 group"):
        _kernels.cholesky_solve(singular, rhs)


@pytest.mark.parametrize("use_gram", [True, False], ids=["gram", "matrix-free"])
@pytest.mark.parametrize("jacobi", [False, True], ids=["plain", "jacobi"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cg_after_k_steps_is_exact(dtype, jacobi, use_gram):
    k = 4
    indptr, other, targets, factor, lam = _instance(dtype, k=k, seed=3)
    lam = np.maximum(lam, dtype(0.5))  # every system SPD, the empty group included
    dense = _dense(indptr, other, targets, factor, lam, 0.0)
    want = np.array([np.linalg.solve(g, b) for _, _, g, b in dense])
    x0 = np.random.default_rng(4).standard_normal((indptr.size - 1, k)).astype(dtype)
    x0_copy = x0.copy()
    x, res, rhs = _kernels.cg(indptr, other, targets, factor, lam, x0, k, jacobi, use_gram)
    np.testing.assert_array_equal(x0, x0_copy)  # not mutated
    assert x.dtype == dtype
    np.testing.assert_allclose(x, want, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(want).max())
    bnorm = np.array([np.linalg.norm(b) for *_, b in dense])
    np.testing.assert_allclose(rhs, bnorm, rtol=RTOL[dtype])
    cond = np.array([np.linalg.cond(g) for _, _, g, _ in dense])
    assert np.all(res <= 100 * np.finfo(dtype).eps * cond * bnorm)  # CG's rounding floor


@pytest.mark.parametrize("use_gram", [True, False], ids=["gram", "matrix-free"])
@pytest.mark.parametrize("jacobi", [False, True], ids=["plain", "jacobi"])
def test_cg_steps_match_pcg_on_the_dense_operator(jacobi, use_gram):
    """Two steps (fewer than k, so the iterate depends on every step) as optkit.core.cg.pcg
    takes them on the dense per-group matrices; the reported residual is ||b - A x||."""
    k = 6
    indptr, other, targets, factor, lam = _instance(np.float64, k=k, seed=5)
    lam = lam + 0.1
    dense = _dense(indptr, other, targets, factor, lam, 0.0)
    mats = np.array([g for _, _, g, _ in dense])
    b = np.array([bj for *_, bj in dense])
    x0 = np.random.default_rng(6).standard_normal(b.shape)
    diag = np.diagonal(mats, axis1=1, axis2=2).copy() if jacobi else None
    ref = pcg(lambda p: (mats @ p[..., None])[..., 0], b, x0=x0, precond=diag, rtol=0.0,
              maxiter=2, check_every=2)
    x, res, _ = _kernels.cg(indptr, other, targets, factor, lam, x0, 2, jacobi, use_gram)
    np.testing.assert_allclose(x, ref.x, rtol=1e-10, atol=1e-12)
    true_res = np.linalg.norm(b - (mats @ x[..., None])[..., 0], axis=1)
    np.testing.assert_allclose(res, true_res, rtol=1e-8, atol=1e-12)


def test_gram_choice_follows_the_flop_count():
    assert _kernels.gram_is_cheaper(10, 3, False)
    assert not _kernels.gram_is_cheaper(16, 3, False)
    assert not _kernels.gram_is_cheaper(50, 3, True)


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_thread_count_does_not_change_the_half_step(solver):
    """Each group is solved by one thread in a fixed order: 1 and 2 threads agree bitwise."""
    (rows, cols, vals, shape), _ = problem(120, 90, 3, 0.3, seed=7, noise=0.1)
    U = np.random.default_rng(8).standard_normal((120, 3))
    kw = {"x0": np.ones((90, 3)), "cg_steps": 2} if solver == "cg" else {}
    old = numba.get_num_threads()
    try:
        out = []
        for n in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n)
            out.append(half_step((rows, cols, vals, shape), U, solver=solver, reg=0.1, **kw)[0])
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize("jacobi", [False, True], ids=["plain", "jacobi"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_cg_half_step_matches_the_array_api_path(dtype, jacobi):
    """solve_block's compiled CG (numpy) against the array-API CG of the same block
    (optkit.core.cg.pcg over segment sums), stats included."""
    from optkit.completion._blocks import Arrays
    from optkit.completion._halfstep import cg, entry_width, solve_block
    from optkit.completion._observed import canonicalize
    from optkit.completion._options import HALF_STEP_OPTIONS, resolve
    from optkit.completion._solver import Side

    k = 20  # matrix-free operator (k >= 15)
    (rows, cols, vals, shape), _ = problem(150, 120, k, 0.5, seed=9, noise=0.1)
    obs, proto = canonicalize((rows, cols, vals.astype(dtype), shape))
    arrays = Arrays(proto)
    cfg = resolve({"solver": "cg", "reg": 0.05, "cg_steps": 3, "cg_jacobi": jacobi}, k,
                  known=HALF_STEP_OPTIONS, owner="test")["half_step"]
    rng = np.random.default_rng(10)
    U = rng.standard_normal((150, k)).astype(dtype)
    x0 = rng.standard_normal((120, k)).astype(dtype)
    tol = RTOL[dtype] / 10
    for block in Side(arrays, obs, "column", 0.05, "none", entry_width(cfg, k, arrays)).blocks:
        start = x0[block.g0:block.g1]
        want, want_st = cg(arrays, block, np.take(U.T, block.other, axis=1), block.vals, start,
                           cfg)
        got, got_st = solve_block(arrays, block, U.T, None, 0.0, start, cfg, 0)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
        for key in ("cg_res_max", "cg_rhs_max"):
            np.testing.assert_allclose(got_st[key], want_st[key], rtol=max(tol, 1e-6))
