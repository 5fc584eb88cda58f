"""al-newton's sparse KKT path (linear_algebra="sparse") against the dense path and dense
linear algebra."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint

from optkit.constrained import _kkt
from optkit.constrained._spectral import DENSE_MAX, gram_eigs
from optkit.constrained.large import network_flow, semilinear_control, separable_quartic
from optkit.core import Problem, solve


def _run(problem, **options):
    return solve(problem, "al-newton", options={"rng": 0, "tol": 1e-9, **options})


@pytest.mark.parametrize("make, sketch", [
    (lambda: semilinear_control(N=5), "direct"),
    (lambda: semilinear_control(N=5), "minres"),
    (lambda: network_flow(30, 120), "rk"),
    pytest.param(lambda: network_flow(30, 120), "gaussian", marks=pytest.mark.slow),
])
def test_sparse_path_takes_the_dense_path_steps(make, sketch):
    """Same K (up to assembly), same sketch draws: same iterates and Newton counts; only the
    Frobenius norms are computed from the sparse data."""
    dense = _run(make(), linear_algebra="dense", sketch=sketch)
    sparse = _run(make(), linear_algebra="sparse", sketch=sketch)
    assert dense.success and sparse.success
    assert sparse.nit == dense.nit
    np.testing.assert_allclose(sparse.x, dense.x, atol=1e-8)
    np.testing.assert_allclose(sparse.trace["K_norm"], dense.trace["K_norm"], rtol=1e-12)
    np.testing.assert_allclose(sparse.trace["hess_shift"], dense.trace["hess_shift"])


def _saddle(hess_sparse):
    """min x1^2 - x2^2 + x3^2 + 2 x4^2 s.t. x2 + x4 = 1, x1 - x3 = 0.5: indefinite Hessian,
    reduced Hessian positive definite (Gershgorin inconclusive, Lanczos decides: no shift)."""
    D = np.array([2.0, -2.0, 2.0, 4.0])

    def hess(x):
        return sp.diags_array(D, format="csr") if hess_sparse else np.diag(D)

    A = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, -1.0, 0.0]])
    return Problem.from_scipy(lambda x: 0.5 * float(D @ (x * x)), np.zeros(4),
                              jac=lambda x: D * x, hess=hess,
                              constraints=[LinearConstraint(A, [1.0, 0.5], [1.0, 0.5])])


def test_reduced_hessian_test_when_gershgorin_is_inconclusive():
    dense = _run(_saddle(False), linear_algebra="dense", sketch="direct")
    sparse = _run(_saddle(True), linear_algebra="sparse", sketch="direct")
    assert sparse.success and dense.success
    assert np.all(sparse.trace["hess_shift"][1:] == 0.0)
    np.testing.assert_allclose(sparse.trace["hess_shift"], dense.trace["hess_shift"])
    # the unique KKT point solves the linear KKT system
    K = np.zeros((6, 6))
    K[:4, :4] = np.diag([2.0, -2.0, 2.0, 4.0])
    A = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, -1.0, 0.0]])
    K[:4, 4:], K[4:, :4] = A.T, A
    ref = np.linalg.solve(K, np.r_[np.zeros(4), 1.0, 0.5])
    np.testing.assert_allclose(sparse.x, ref[:4], atol=1e-10)


def test_nonconvex_reduced_hessian_is_shifted():
    """A negative reduced curvature (x3 direction free, -x3^2 term) must trigger the shift
    t = xi_B + ||H|| in the sparse path as in the dense one."""
    D = np.array([2.0, 2.0, -2.0])
    problem = Problem.from_scipy(
        lambda x: 0.5 * float(D @ (x * x)) + 0.25 * x[2] ** 4, np.array([0.0, 0.0, 0.5]),
        jac=lambda x: D * x + np.r_[0.0, 0.0, x[2] ** 3],
        hess=lambda x: sp.diags_array(D + np.r_[0.0, 0.0, 3 * x[2] ** 2], format="csr"),
        constraints=[LinearConstraint(np.array([[1.0, 1.0, 0.0]]), 1.0, 1.0)])
    sparse = _run(problem, linear_algebra="sparse", sketch="direct")
    assert sparse.trace["hess_shift"][1] > 0.0
    assert sparse.success
    np.testing.assert_allclose(sparse.x, [0.5, 0.5, np.sqrt(2.0)], atol=1e-8)


def test_auto_uses_the_sparse_path_above_dense_max(monkeypatch):
    problem = network_flow(601, 1800, rng=1)
    assert problem.n + problem.constraints.m > DENSE_MAX

    def no_dense(*args):
        raise AssertionError("the dense path must not run")

    monkeypatch.setattr(_kkt, "dense_kkt", no_dense)
    monkeypatch.setattr(_kkt, "matrix_free_kkt", no_dense)
    direct = _run(problem, sketch="direct", tol=1e-8)
    iterative = _run(problem, sketch="minres", tol=1e-8)
    assert direct.success and iterative.success
    assert direct.fun == pytest.approx(iterative.fun, rel=1e-10)
    assert direct.constr_violation <= 1e-8


def test_sparse_needs_hessian_matrices():
    problem = Problem.from_scipy(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,
                                 hessp=lambda x, v: 2 * v,
                                 constraints=[LinearConstraint(np.ones((1, 3)), 1.0, 1.0)])
    with pytest.raises(ValueError, match="linear_algebra='sparse' needs Hessian matrices"):
        _run(problem, linear_algebra="sparse")
    con = NonlinearConstraint(lambda x: [x @ x], 1.0, 1.0, jac=lambda x: 2 * x[None])
    problem = Problem.from_scipy(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,
                                 hess=lambda x: 2 * np.eye(3), constraints=[con])
    with pytest.raises(ValueError, match="every nonlinear constraint"):
        _run(problem, linear_algebra="sparse")


def test_gram_eigenvalues_of_a_large_sparse_jacobian_match_eigvalsh():
    rng = np.random.default_rng(0)
    m, n = DENSE_MAX + 200, 3000
    G = sp.csr_array(sp.random(m, n, density=0.002, random_state=1)
                     + 0.3 * sp.eye(m, n))
    eig = np.linalg.eigvalsh((G @ G.T).toarray())
    low, high = gram_eigs(G)
    assert low == pytest.approx(eig[0], rel=1e-6)
    assert high == pytest.approx(eig[-1], rel=1e-3)
    # Gershgorin certificate (returned only when >= 1): a lower bound, exact enough for
    # min(xi_G, 1) and the singularity tests
    G1 = sp.csr_array(sp.hstack([2.0 * sp.eye(m), sp.random(m, n, density=1e-4,
                                                            random_state=rng.integers(99))]))
    eig1 = np.linalg.eigvalsh((G1 @ G1.T).toarray())
    low1, high1 = gram_eigs(G1)
    assert 1.0 <= low1 <= eig1[0] * (1 + 1e-12)
    assert high1 == pytest.approx(eig1[-1], rel=1e-3)


@pytest.mark.parametrize("kind", ["dense", "sparse", "sparse-large-n"])
def test_gram_eigenvalues_with_more_rows_than_columns(kind):
    """m > n: G G^T has rank n < m, so lambda_min = 0 exactly and lambda_max is that of
    the n x n G^T G (eigvalsh of the m x m G G^T as the oracle); no m x m matrix is formed."""
    rng = np.random.default_rng(3)
    m, n = {"dense": (1500, 9), "sparse": (1500, 40), "sparse-large-n": (2500, 1200)}[kind]
    G = rng.standard_normal((m, n)) if kind == "dense" else sp.csr_array(
        sp.random(m, n, density=0.01, random_state=4) + 0.5 * sp.eye(m, n))
    dense = G.toarray() if sp.issparse(G) else G
    eig = np.linalg.eigvalsh(dense @ dense.T)
    low, high = gram_eigs(G)
    assert low == 0.0 and abs(eig[0]) <= 1e-10 * eig[-1]
    assert high == pytest.approx(eig[-1], rel=1e-6 if kind == "dense" else 1e-3)


def test_consistent_overdetermined_sparse_constraints_beyond_the_dense_limit():
    """m > n, n + m > DENSE_MAX, sparse G (dependent rows, consistent): the restoration runs
    on the sparse Jacobian (MINPACK's LM takes dense ones only; it used to fail at once with
    status 10) and min ||x||^2/2 ends at the minimum-norm solution (numpy's lstsq)."""
    n = 400
    block = sp.random(n // 2, n, density=0.01, random_state=1) + sp.eye(n // 2, n)
    A = sp.csr_array(sp.vstack([block] * 4 + [block[:100]]))  # m = 900, rank 200
    b = A @ np.random.default_rng(0).standard_normal(n)
    con = NonlinearConstraint(lambda x: A @ x, b, b, jac=lambda x: A,
                              hess=lambda x, v: sp.csr_array((n, n)))
    problem = Problem.from_scipy(lambda x: 0.5 * float(x @ x), np.zeros(n), jac=lambda x: x,
                                 hess=lambda x: sp.eye(n), constraints=[con])
    res = _run(problem)
    assert A.shape[0] + n > DENSE_MAX
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A.toarray(), b, rcond=None)[0],
                               atol=1e-8)


@pytest.mark.parametrize("m, n, rank", [(900, 400, 200), (900, 400, 400), (600, 900, 500),
                                        (600, 900, 599)])
def test_least_squares_multipliers_of_a_rank_deficient_sparse_jacobian(m, n, rank):
    """G beyond the dense limit with rank < m (m > n, or dependent rows with m < n): G G^T
    is singular, so its LU either failed (then zeros) or returned a solution with an
    arbitrary null(G^T) component; the multipliers are the minimum-norm least-squares ones
    (numpy's lstsq). Rank 599 is ill-conditioned (kappa 1.6e4 on the nonzero singular
    values: LSQR needs 2507 iterations)."""
    from optkit.constrained.al_newton import ALNewton

    left = sp.random(m, rank, density=0.02, random_state=1) + sp.eye(m, rank)
    right = sp.random(rank, n, density=0.02, random_state=2) + sp.eye(rank, n)
    G = sp.csr_array(left @ right)
    g = np.random.default_rng(0).standard_normal(n)
    assert sum(G.shape) > DENSE_MAX
    lam = ALNewton._least_squares_multipliers(G, g)
    np.testing.assert_allclose(lam, np.linalg.lstsq(G.toarray().T, -g, rcond=None)[0],
                               rtol=1e-9, atol=1e-9)


def test_overdetermined_sparse_problem_reports_the_minimum_norm_multipliers():
    """min ||x - a||^2/2 subject to A x = b, A sparse 900 x 400 of full column rank
    (consistent): x* = A^+ b, and the multipliers (not unique: m > n) are the minimum-norm
    solution of A^T lambda = -(x* - a) (they were off by up to 3e-6 from the LU of the
    singular G G^T)."""
    n = 400
    A = sp.csr_array(sp.vstack([sp.eye(n) + sp.random(n, n, density=0.01, random_state=3),
                                sp.random(500, n, density=0.01, random_state=4)]))
    rng = np.random.default_rng(1)
    b, a = A @ rng.standard_normal(n), rng.standard_normal(n)
    con = NonlinearConstraint(lambda x: A @ x, b, b, jac=lambda x: A,
                              hess=lambda x, v: sp.csr_array((n, n)))
    problem = Problem.from_scipy(lambda x: 0.5 * float((x - a) @ (x - a)), np.zeros(n),
                                 jac=lambda x: x - a, hess=lambda x: sp.eye(n),
                                 constraints=[con])
    res = _run(problem)
    x_star = np.linalg.lstsq(A.toarray(), b, rcond=None)[0]
    assert res.success, res.message
    np.testing.assert_allclose(res.x, x_star, atol=1e-8)
    np.testing.assert_allclose(
        res.multipliers, np.linalg.lstsq(A.toarray().T, -(x_star - a), rcond=None)[0],
        rtol=1e-9, atol=1e-9)


def test_linear_operator_hessian_needs_the_matrix_free_path():
    from scipy.sparse.linalg import aslinearoperator

    problem = Problem.from_scipy(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,
                                 hess=lambda x: aslinearoperator(2 * np.eye(3)),
                                 constraints=[LinearConstraint(np.ones((1, 3)), 1.0, 1.0)])
    with pytest.raises(ValueError, match="use linear_algebra='matrix-free'"):
        _run(problem, linear_algebra="sparse")
    res = _run(problem, linear_algebra="matrix-free", sketch="minres")
    assert res.success
    np.testing.assert_allclose(res.x, np.full(3, 1 / 3), atol=1e-8)


def test_direct_sketch_on_the_matrix_free_path_is_refused():
    p = separable_quartic(1200, 10, density=0.05)
    hvp_only = Problem.from_scipy(p.objective.value, p.x0, jac=p.objective.grad,
                                  hessp=p.objective.hvp, constraints=p.constraints)
    with pytest.raises(ValueError, match="sketch='direct' needs K as a matrix"):
        _run(hvp_only, sketch="direct")
    assert _run(hvp_only, sketch="minres", tol=1e-8).success


@pytest.mark.parametrize("hessian", ["hess", "hessp"])
def test_rank_deficient_jacobian_on_the_large_paths(hessian):
    """A duplicated (consistent) constraint row: G G^T is singular, no projector exists; the
    Hessian test falls back to modifying, and the run ends at a KKT point or with status 7,
    never with an exception or garbage."""
    p = separable_quartic(1200, 6, density=0.05, rng=3)
    A = p.constraints.jac(p.x0)
    A2 = sp.vstack([A, A[:1]], format="csr")
    b2 = np.r_[p.constraints.lb, p.constraints.lb[:1]]
    second = {hessian: p.objective.hess if hessian == "hess" else p.objective.hvp}
    problem = Problem.from_scipy(p.objective.value, p.x0, jac=p.objective.grad,
                                 constraints=[LinearConstraint(A2, b2, b2)], **second)
    res = _run(problem, sketch="minres", tol=1e-8)
    assert res.status in (0, 7), res.message
    assert np.all(np.isfinite(res.x))
    if res.success:
        assert res.kkt_residual <= 1e-8
        ref = _run(p, sketch="minres", tol=1e-8)
        np.testing.assert_allclose(res.x, ref.x, atol=1e-6)


def test_least_squares_multipliers_of_a_large_sparse_jacobian_match_lstsq():
    """The recovery's multiplier reset on a sparse G beyond the dense limit (normal
    equations with one sparse LU) against numpy's dense least squares."""
    from optkit.constrained.al_newton import ALNewton

    gen = np.random.default_rng(3)
    G = sp.csr_array(sp.random(400, 700, density=0.01, rng=gen) + sp.eye(400, 700))
    g = gen.standard_normal(700)
    assert sum(G.shape) > DENSE_MAX
    lam = ALNewton._least_squares_multipliers(G, g)
    np.testing.assert_allclose(lam, np.linalg.lstsq(G.toarray().T, -g, rcond=None)[0],
                               rtol=1e-8, atol=1e-10)
