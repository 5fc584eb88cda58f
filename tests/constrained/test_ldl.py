"""The reusable sparse LDL^T of al-newton's sparse KKT path (optkit.constrained._ldl) against
SuperLU and LAPACK, and its symbolic-analysis count."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from optkit.constrained import _sketch_ops as sk
from optkit.constrained._ldl import LDLFailure, ReusableLDL
from optkit.constrained.large import semilinear_control
from optkit.core import solve


def _kkt(n=30, m=10, rng=0, scale=1.0):
    """A sparse KKT matrix [[B, G^T], [G, 0]]: B sparse SPD, G sparse of full row rank."""
    gen = np.random.default_rng(rng)
    R = sp.random(n, n, density=0.1, rng=gen)
    B = sp.csr_array(scale * (R @ R.T + sp.identity(n)))
    G = sp.csr_array(sp.random(m, n, density=0.2, rng=gen) + sp.eye(m, n))
    return sp.csr_array(sp.bmat([[B, G.T], [G, None]])), gen.standard_normal(n + m)


def test_ldl_solution_matches_superlu_and_lapack():
    K, b = _kkt()
    z, res, _ = ReusableLDL().solve(K, b, 10, 1e-12 * np.linalg.norm(b))
    np.testing.assert_allclose(z, splu(sp.csc_array(K)).solve(b), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(z, np.linalg.solve(K.toarray(), b), rtol=1e-9, atol=1e-11)
    assert res == pytest.approx(np.linalg.norm(K @ z - b), rel=1e-6, abs=1e-15)


def test_direct_pass_with_and_without_the_reusable_ldl_agree():
    """The sparse "direct" pass through the LDL^T and through SuperLU (``ldl=None``)."""
    K, b = _kkt(rng=1)
    check = 2.0 * K.nnz
    factorizer = ReusableLDL()
    with_ldl = sk._direct("sparse", K, b, 0.0, check, (factorizer, 10))
    superlu = sk._direct("sparse", K, b, 0.0, check)
    assert factorizer.n_factorizations == 1
    np.testing.assert_allclose(with_ldl.x, superlu.x, rtol=1e-9, atol=1e-11)
    assert with_ldl.residual <= 1e-12 * np.linalg.norm(b)


def test_symbolic_analysis_once_per_pattern():
    K, b = _kkt(rng=2)
    factorizer = ReusableLDL()
    for i in range(4):  # same pattern, new values: numeric refactorization only
        Ki = K.copy()
        Ki.data = Ki.data * (1.0 + 0.1 * i)
        z, _, _ = factorizer.solve(Ki, b, 10, 1e-12)
        np.testing.assert_allclose(z, np.linalg.solve(Ki.toarray(), b), rtol=1e-8, atol=1e-10)
    assert (factorizer.n_analyses, factorizer.n_factorizations) == (1, 4)
    factorizer.solve(Ki, b, 10, 1e-12)  # the same matrix object: its factor is kept
    assert factorizer.n_factorizations == 4
    sub = Ki.toarray()
    sub[0, 1:30] = sub[1:30, 0] = 0.0  # a sub-pattern is scattered into the stored one
    z, _, _ = factorizer.solve(sp.csr_array(sub), b, 10, 1e-12)
    np.testing.assert_allclose(z, np.linalg.solve(sub, b), rtol=1e-8, atol=1e-10)
    assert factorizer.n_analyses == 1
    new = Ki.toarray()
    i, j = next((i, j) for i, j in np.argwhere(new[:30, :30] == 0.0) if i < j)
    new[i, j] = new[j, i] = 0.5  # a new entry: one more analysis, on the union pattern
    z, _, _ = factorizer.solve(sp.csr_array(new), b, 10, 1e-12)
    np.testing.assert_allclose(z, np.linalg.solve(new, b), rtol=1e-8, atol=1e-10)
    assert factorizer.n_analyses == 2


def test_zero_pivot_of_an_unregularized_ordering_is_handled():
    """[[4, 1, 0], [1, 3, 1], [0, 1, 0]]: unregularized QDLDL meets a zero pivot (its AMD
    order puts the constraint first); the regularized factor plus refinement solves it."""
    K = sp.csr_array(np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 0.0]]))
    b = np.array([1.0, 2.0, 3.0])
    z, res, _ = ReusableLDL().solve(K, b, 1, 1e-13)
    np.testing.assert_allclose(z, np.linalg.solve(K.toarray(), b), rtol=1e-10)


def test_singular_kkt_falls_back_to_superlu():
    """G with two equal rows: K singular; the LDL^T fails (or does not refine) and the pass
    falls back to SuperLU, which raises SingularMatrixError as before."""
    B = sp.identity(3, format="csr")
    G = sp.csr_array(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))
    K = sp.csr_array(sp.bmat([[B, G.T], [G, None]]))
    b = np.array([1.0, 1.0, 1.0, 1.0, 2.0])  # G x = (1, 2): inconsistent
    factorizer = ReusableLDL()
    try:
        _, res, _ = factorizer.solve(K, b, 2, 1e-10)
    except LDLFailure:
        res = np.inf
    assert res > 1e-6  # inconsistent: no solution to refine to
    with pytest.raises(sk.SingularMatrixError):
        sk._direct("sparse", K, b, 0.0, 2.0 * K.nnz, (factorizer, 2))


def test_al_newton_sparse_direct_analyses_the_kkt_pattern_once():
    """A whole sparse-path run: one symbolic analysis for all Newton steps, and the same
    iterates as the dense path (LAPACK)."""
    sparse = solve(semilinear_control(N=8), "al-newton",
                   options={"sketch": "direct", "linear_algebra": "sparse", "rng": 0,
                            "tol": 1e-10})
    dense = solve(semilinear_control(N=8), "al-newton",
                  options={"sketch": "direct", "linear_algebra": "dense", "rng": 0,
                           "tol": 1e-10})
    assert sparse.success and dense.success
    assert sparse.nit == dense.nit >= 2
    assert sparse.n_kkt_analyses == 1 and dense.n_kkt_analyses == 0
    np.testing.assert_allclose(sparse.x, dense.x, atol=1e-9)
