"""Constrained logistic regression (spec §10) against cvxpy and scipy."""

import numpy as np
import pytest
import scipy.optimize

import optkit
from optkit.constrained.logreg import constrained_logreg, load_breast_cancer_pm1
from optkit.core import solve

cp = pytest.importorskip("cvxpy")


@pytest.fixture(scope="module")
def data():
    return load_breast_cancer_pm1()


@pytest.mark.parametrize("accuracy", ["paper", "relative"])
@pytest.mark.parametrize("sketch", ["rk", pytest.param("gaussian", marks=pytest.mark.slow)])
def test_linear_constraints_match_cvxpy(data, accuracy, sketch):
    """Convex case: ridge-regularized logistic loss with linear equality constraints."""
    X, y = data
    problem = constrained_logreg(X, y, n_linear=10, sphere=False, l2=0.1, rng=0)
    A, b = problem.metadata["A"], problem.metadata["b"]
    w = cp.Variable(X.shape[1])
    obj = cp.sum(cp.logistic(cp.multiply(-y, X @ w))) / X.shape[0] + 0.05 * cp.sum_squares(w)
    ref = cp.Problem(cp.Minimize(obj), [A @ w == b])
    ref.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    res = solve(problem, "al-newton", options={"accuracy": accuracy, "sketch": sketch,
                                                "tol": 1e-8, "rng": 0})
    assert res.success, res.message
    assert res.fun == pytest.approx(ref.value, rel=1e-6)
    np.testing.assert_allclose(res.x, w.value, atol=1e-4)
    np.testing.assert_allclose(A @ res.x, b, atol=1e-8)


@pytest.fixture(scope="module")
def sphere(data):
    X, y = data
    problem = constrained_logreg(X, y, n_linear=10, sphere=True, rng=0)
    cons = problem.constraints
    eq = [{"type": "eq", "fun": lambda w: cons.c(w) - cons.lb, "jac": cons.jac}]
    slsqp = scipy.optimize.minimize(problem.objective.value, problem.x0, method="SLSQP",
                                    jac=problem.objective.grad, constraints=eq,
                                    options={"ftol": 1e-12, "maxiter": 500})
    tc = scipy.optimize.minimize(problem.objective.value, problem.x0, method="trust-constr",
                                 jac=problem.objective.grad, hessp=problem.objective.hvp,
                                 constraints=eq, options={"gtol": 1e-10, "xtol": 1e-12,
                                                          "maxiter": 2000})
    return problem, slsqp, tc


@pytest.mark.parametrize("accuracy", ["paper", "relative"])
@pytest.mark.parametrize("sketch", ["rk", pytest.param("gaussian", marks=pytest.mark.slow)])
def test_sphere_constraint_matches_scipy(sphere, accuracy, sketch):
    """The paper's nonconvex problem: KKT <= 1e-6 and the peers' objective to 1e-6."""
    problem, slsqp, tc = sphere
    assert np.linalg.norm(np.linalg.pinv(problem.metadata["A"]) @ problem.metadata["b"]) <= 0.9
    res = solve(problem, "al-newton", options={"accuracy": accuracy, "sketch": sketch,
                                                "tol": 1e-7, "rng": 0,
                                                **problem.metadata["options"]})
    assert res.success, res.message
    assert res.kkt_residual <= 1e-7 and abs(res.x @ res.x - 1.0) <= 1e-7
    assert slsqp.success and tc.success
    assert res.fun == pytest.approx(slsqp.fun, rel=1e-6)
    assert res.fun == pytest.approx(tc.fun, rel=1e-6)


def test_bad_logreg_inputs(data):
    X, y = data
    with pytest.raises(ValueError, match="y"):
        constrained_logreg(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="n_linear"):
        constrained_logreg(X, y, n_linear=30)


def test_scipy_face_on_logreg(data):
    X, y = data
    problem = constrained_logreg(X[:200], y[:200], n_linear=5, sphere=True, rng=3)
    cons = problem.constraints
    res = scipy.optimize.minimize(problem.objective.value, problem.x0,
                                  method=optkit.get_method("al-newton"),
                                  jac=problem.objective.grad, hessp=problem.objective.hvp,
                                  constraints=[{"type": "eq", "fun": lambda w: cons.c(w) - cons.lb,
                                                "jac": cons.jac}],
                                  options={"sketch": "block-rk", "block_size": 8, "rng": 0,
                                           "accuracy": "relative"})
    assert res.success and res.constr_violation <= 1e-6
    assert cons.m == 6
