import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint

from optkit.core import to_bounds, to_constraint_oracle


def test_every_scipy_form_stacks_into_one_oracle():
    x = np.array([1.0, 2.0, 3.0])
    cons = [
        {"type": "eq", "fun": lambda x, a: x[0] - a, "args": (1.0,)},
        {"type": "ineq", "fun": lambda x: x[1], "jac": lambda x: np.array([0.0, 1.0, 0.0])},
        NonlinearConstraint(lambda x: x[0] * x[2], -1.0, 5.0),
        LinearConstraint(np.array([[1.0, 1.0, 1.0]]), 6.0, 6.0),
    ]
    c = to_constraint_oracle(cons, x)
    np.testing.assert_allclose(c.c(x), [0.0, 2.0, 3.0, 6.0])
    np.testing.assert_array_equal(c.lb, [0, 0, -1, 6])
    np.testing.assert_array_equal(c.ub, [0, np.inf, 5, 6])
    np.testing.assert_array_equal(c.is_equality, [True, False, False, True])
    J = c.jac(x)
    np.testing.assert_allclose(J, [[1, 0, 0], [0, 1, 0], [3, 0, 1], [1, 1, 1]], atol=1e-6)
    v = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(c.jvp(x, v), J @ v, atol=1e-6)
    lam = np.array([1.0, 1.0, 2.0, 1.0])
    # Lagrangian Hessian: only x0*x2 is curved: 2 * [[0,0,1],[0,0,0],[1,0,0]] v
    np.testing.assert_allclose(c.lagrangian_hvp(x, lam, v), [4.0, 0.0, 1.0], atol=1e-6)
    assert c.has_inequalities


def test_sparse_jacobians_stay_sparse():
    A = sp.csr_matrix(np.eye(3))
    c = to_constraint_oracle(LinearConstraint(A, 0, 0), np.zeros(3))
    assert sp.issparse(c.jac(np.zeros(3)))


def test_inconsistent_constraint_bounds_raise():
    with pytest.raises(ValueError, match="lb must be <= ub"):
        to_constraint_oracle(NonlinearConstraint(lambda x: x, 2.0, 1.0), np.zeros(2))
    with pytest.raises(ValueError, match="'eq' or 'ineq'"):
        to_constraint_oracle({"type": "equal", "fun": lambda x: x}, np.zeros(2))
    with pytest.raises(TypeError, match="constraints must be"):
        to_constraint_oracle([3], np.zeros(2))
    c = to_constraint_oracle(NonlinearConstraint(lambda x: x, 0, 0, jac=lambda x: np.eye(3)), np.zeros(2))
    with pytest.raises(ValueError, match="jac must have shape"):
        c.jac(np.zeros(2))


def test_bounds_forms():
    b = to_bounds([(0, 1), (None, 2)], 2)
    np.testing.assert_array_equal(b.lb, [0, -np.inf])
    np.testing.assert_array_equal(to_bounds(Bounds(0, 1), 3).ub, [1, 1, 1])
    with pytest.raises(ValueError, match="lb must be <= ub"):
        to_bounds([(1, 0)], 1)
    with pytest.raises(ValueError, match="one \\(lo, hi\\) pair"):
        to_bounds([(0, 1)], 2)
