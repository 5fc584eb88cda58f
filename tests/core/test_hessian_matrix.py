"""Hessian-matrix oracles: ``FunctionOracle(hess=)``, ``Counted.hess``, ``Problem.from_scipy(hess=)``
and the constraint Lagrangian Hessian ``ConstraintOracle.lagrangian_hess``."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import (
    BFGS,
    LinearConstraint,
    NonlinearConstraint,
    minimize,
    rosen,
    rosen_der,
    rosen_hess,
    rosen_hess_prod,
)
from scipy.sparse.linalg import aslinearoperator

import optkit
from optkit.core import (
    ConstraintOracle,
    Counted,
    FunctionOracle,
    MissingOracleError,
    Problem,
    to_constraint_oracle,
)
from optkit.core.oracle import is_sparse

RNG = np.random.default_rng(0)
N = 5
X = RNG.standard_normal(N)
V = RNG.standard_normal(N)
M = RNG.standard_normal((N, N))
H_DENSE = M + M.T  # a fixed symmetric matrix


def _quad(H):
    """0.5 x^T H x with its gradient."""
    Hd = H.toarray() if sp.issparse(H) else np.asarray(H)
    return (lambda x: 0.5 * float(x @ Hd @ x)), (lambda x: Hd @ x)


SPARSE_KINDS = [sp.csr_array, sp.csr_matrix, sp.csc_array, sp.coo_array, sp.dia_matrix, sp.lil_array]


# --------------------------------------------------------------------------- is_sparse


@pytest.mark.parametrize("kind", SPARSE_KINDS)
def test_is_sparse_true_for_every_scipy_sparse_format(kind):
    assert is_sparse(kind(np.eye(3)))


@pytest.mark.parametrize("obj", [np.eye(3), [[1.0, 0.0], [0.0, 1.0]], 1.0, np.zeros((2, 0)), None])
def test_is_sparse_false_for_dense(obj):
    assert not is_sparse(obj)


def test_is_sparse_false_for_linear_operator():
    assert not is_sparse(aslinearoperator(np.eye(3)))
    assert not sp.issparse(aslinearoperator(np.eye(3)))


# --------------------------------------------------------------------------- FunctionOracle


def test_dense_hess_is_returned_as_float_matrix_and_gives_hvp():
    f, g = _quad(H_DENSE)
    o = FunctionOracle(f, grad=g, hess=lambda x: H_DENSE.tolist())  # a nested list is fine
    assert o.has_hess and o.has_hvp
    H = o.hess(X)
    assert isinstance(H, np.ndarray) and H.dtype == float and H.shape == (N, N)
    np.testing.assert_array_equal(H, H_DENSE)
    hv = o.hvp(X, V)
    assert isinstance(hv, np.ndarray) and hv.shape == (N,)
    np.testing.assert_allclose(hv, H_DENSE @ V, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("kind", SPARSE_KINDS)
def test_sparse_hess_stays_sparse_and_gives_hvp(kind):
    f, g = _quad(H_DENSE)
    o = FunctionOracle(f, grad=g, hess=lambda x: kind(H_DENSE))
    H = o.hess(X)
    assert sp.issparse(H) and H.shape == (N, N)
    np.testing.assert_array_equal(H.toarray(), H_DENSE)
    hv = o.hvp(X, V)
    assert isinstance(hv, np.ndarray) and not sp.issparse(hv) and hv.shape == (N,)
    np.testing.assert_allclose(hv, H_DENSE @ V, rtol=1e-14, atol=1e-14)


def test_hess_depends_on_x():
    # f = sum x^4 / 4: H(x) = diag(3 x^2)
    o = FunctionOracle(lambda x: float(np.sum(x**4) / 4), grad=lambda x: x**3,
                       hess=lambda x: sp.diags_array(3 * x**2, format="csr"))
    for x in (X, 2 * X, np.zeros(N)):
        np.testing.assert_allclose(o.hess(x).toarray(), np.diag(3 * x**2))
        np.testing.assert_allclose(o.hvp(x, V), 3 * x**2 * V)


def test_one_variable_scalar_hess():
    o = FunctionOracle(lambda x: float(x[0] ** 2), grad=lambda x: 2 * x, hess=lambda x: 2.0)
    H = o.hess(np.array([3.0]))
    assert H.shape == (1, 1) and H[0, 0] == 2.0
    np.testing.assert_allclose(o.hvp(np.array([3.0]), np.array([0.5])), [1.0])


@pytest.mark.parametrize("bad", [
    np.ones((N, N + 1)),
    np.ones((N + 1, N + 1)),
    np.ones(N),  # a diagonal given as a vector is not a Hessian matrix
    np.ones((N, N, 1)),
    sp.csr_array((N, N + 1)),
    sp.eye_array(N + 1, format="csr"),
])
def test_hess_of_wrong_shape_raises_naming_hess(bad):
    o = FunctionOracle(lambda x: 0.0, hess=lambda x: bad)
    with pytest.raises(ValueError, match="hess"):
        o.hess(X)
    with pytest.raises(ValueError, match="hess"):
        o.hvp(X, V)


def test_hess_not_callable_raises():
    with pytest.raises(TypeError, match="hess"):
        FunctionOracle(lambda x: 0.0, hess=np.eye(2))


def test_missing_hess_and_hvp():
    o = FunctionOracle(lambda x: 0.0, grad=lambda x: 0 * x)
    assert not o.has_hess and not o.has_hvp
    with pytest.raises(MissingOracleError, match="hess"):
        o.hess(X)
    with pytest.raises(MissingOracleError):
        o.hvp(X, V)
    # hvp alone is no Hessian matrix
    o = FunctionOracle(lambda x: 0.0, hvp=lambda x, v: v)
    assert o.has_hvp and not o.has_hess
    with pytest.raises(MissingOracleError):
        o.hess(X)


def test_hvp_with_batch_and_hess_only_raises():
    o = FunctionOracle(lambda x, batch=None: 0.0, hess=lambda x: np.eye(N), n_samples=10)
    np.testing.assert_allclose(o.hvp(X, V), V)
    with pytest.raises(MissingOracleError, match="batch"):
        o.hvp(X, V, batch=np.array([0, 1]))
    assert issubclass(MissingOracleError, TypeError)


def test_explicit_hvp_wins_over_hess():
    calls = {"hess": 0, "hvp": 0}

    def hess(x):
        calls["hess"] += 1
        return H_DENSE

    def hvp(x, v):
        calls["hvp"] += 1
        return H_DENSE @ v

    o = FunctionOracle(lambda x: 0.0, hvp=hvp, hess=hess)
    np.testing.assert_allclose(o.hvp(X, V), H_DENSE @ V)
    assert calls == {"hess": 0, "hvp": 1}
    np.testing.assert_array_equal(o.hess(X), H_DENSE)
    assert calls == {"hess": 1, "hvp": 1}


# --------------------------------------------------------------------------- Counted


@pytest.mark.parametrize("as_sparse", [False, True])
def test_counted_charges_one_nhev_per_hessian_matrix(as_sparse):
    calls = []

    def hess(x):
        calls.append(1)
        return sp.csr_array(H_DENSE) if as_sparse else H_DENSE

    f, g = _quad(H_DENSE)
    c = Counted(FunctionOracle(f, grad=g, hess=hess))
    assert c.has_hess and c.has_hvp  # falls through to the oracle
    for _ in range(3):
        c.hess(X)
    assert c.snapshot() == {"n_value": 0, "n_grad": 0, "n_hvp": 3, "n_samples": 0}
    # an hvp from the matrix is one Hessian evaluation, not two
    c.hvp(X, V)
    c.hvp(X, V)
    assert c.snapshot() == {"n_value": 0, "n_grad": 0, "n_hvp": 5, "n_samples": 0}
    assert len(calls) == 5
    c.value_and_grad(X)
    assert c.snapshot() == {"n_value": 1, "n_grad": 1, "n_hvp": 5, "n_samples": 0}


def test_problem_counted_counts_hess():
    p = Problem.from_scipy(rosen, np.zeros(3), jac=rosen_der, hess=rosen_hess).counted()
    p.objective.hess(np.zeros(3))
    assert p.objective.nhev == 1 and p.objective.nfev == 0 and p.objective.ngev == 0


# --------------------------------------------------------------------------- Problem.from_scipy


@pytest.mark.parametrize("kind", [np.asarray, sp.csr_matrix, sp.csr_array, sp.coo_matrix])
def test_from_scipy_keeps_hess_and_hvp_is_matrix_product(kind):
    x0 = np.array([-1.2, 1.0, 0.3, 2.0])
    p = Problem.from_scipy(rosen, x0, jac=rosen_der, hess=lambda x: kind(rosen_hess(x)))
    o = p.objective
    assert o.has_hess and o.has_hvp
    H = o.hess(x0)
    assert sp.issparse(H) == (kind is not np.asarray)
    Hd = H.toarray() if sp.issparse(H) else H
    np.testing.assert_allclose(Hd, rosen_hess(x0))
    v = np.array([1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(o.hvp(x0, v), rosen_hess_prod(x0, v), rtol=1e-13)


def test_from_scipy_passes_args_to_hess():
    seen = []

    def fun(x, a, b):
        return a * float(x @ x) + b

    def jac(x, a, b):
        return 2 * a * x

    def hess(x, a, b):
        seen.append((a, b))
        return sp.diags_array(np.full(x.size, 2.0 * a), format="csr")

    p = Problem.from_scipy(fun, np.ones(3), args=(3.0, 1.0), jac=jac, hess=hess)
    np.testing.assert_allclose(p.objective.hess(np.ones(3)).toarray(), 6 * np.eye(3))
    np.testing.assert_allclose(p.objective.hvp(np.ones(3), np.arange(3.0)), 6 * np.arange(3.0))
    assert seen == [(3.0, 1.0), (3.0, 1.0)]


def test_from_scipy_fd_hess_string_gives_hvp_but_no_matrix():
    p = Problem.from_scipy(rosen, np.zeros(3), jac=rosen_der, hess="2-point")
    assert p.objective.has_hvp and not p.objective.has_hess


def test_from_scipy_hess_errors():
    with pytest.raises(ValueError, match="hess"):
        Problem.from_scipy(rosen, np.zeros(3), jac=rosen_der, hess=rosen_hess, hessp=rosen_hess_prod)
    with pytest.raises(TypeError, match="hess"):
        Problem.from_scipy(rosen, np.zeros(3), jac=rosen_der, hess=np.eye(3))
    p = Problem.from_scipy(rosen, np.zeros(3), jac=rosen_der, hess=lambda x: np.eye(2))
    with pytest.raises(ValueError, match="hess"):
        p.objective.hess(np.zeros(3))


def test_from_scipy_linear_operator_hess_gives_hvp():
    # scipy's trust-constr allows hess to return a LinearOperator; products still work
    x0 = np.array([0.5, -0.2, 1.0])
    p = Problem.from_scipy(rosen, x0, jac=rosen_der, hess=lambda x: aslinearoperator(rosen_hess(x)))
    v = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(p.objective.hvp(x0, v), rosen_hess_prod(x0, v), rtol=1e-13)


def _ball(x):
    return np.array([x @ x - 2.0])


def _ball_jac(x):
    return 2 * x[None, :]


@pytest.mark.parametrize("sparse", [False, True])
def test_trust_constr_inputs_solve_like_scipy(sparse):
    """The same arguments scipy's trust-constr takes (objective and constraint hess, dense
    or sparse) go through optkit.minimize -> Problem.from_scipy and reach scipy's solution."""
    wrap = sp.csr_matrix if sparse else np.asarray
    kw = dict(jac=rosen_der, hess=lambda x: wrap(rosen_hess(x)),
              constraints=[NonlinearConstraint(_ball, 0.0, 0.0, jac=_ball_jac,
                                               hess=lambda x, lam: wrap(2 * lam[0] * np.eye(x.size)))])
    x0 = np.full(4, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = minimize(rosen, x0, method="trust-constr",
                       options={"gtol": 1e-10, "xtol": 1e-12}, **kw)
    assert ref.status in (1, 2)
    for la in ("dense", "sparse"):
        res = optkit.minimize(rosen, x0, method="al-newton",
                              options={"tol": 1e-9, "linear_algebra": la, "sketch": "direct"}, **kw)
        assert res.status == 0, res.message
        assert abs(res.fun - ref.fun) <= 1e-8 * max(1.0, abs(ref.fun))
        np.testing.assert_allclose(res.x, ref.x, atol=1e-6)


# --------------------------------------------------------------------------- ConstraintOracle

n3 = 3
X3 = np.array([0.7, -1.3, 0.4])


def _c1(x):  # two rows
    return np.array([x[0] * x[1], np.sin(x[2]) + x[0] ** 3])


def _c1_jac(x):
    return np.array([[x[1], x[0], 0.0], [3 * x[0] ** 2, 0.0, np.cos(x[2])]])


def _c1_hess(x, lam):
    H0 = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    H1 = np.diag([6 * x[0], 0.0, -np.sin(x[2])])
    return lam[0] * H0 + lam[1] * H1


def _c2(x):  # one row
    return np.array([np.exp(x[0] - x[2]) + x[1] ** 2])


def _c2_jac(x):
    e = np.exp(x[0] - x[2])
    return np.array([[e, 2 * x[1], -e]])


def _c2_hess(x, lam):
    e = np.exp(x[0] - x[2])
    return lam[0] * np.array([[e, 0.0, -e], [0.0, 2.0, 0.0], [-e, 0.0, e]])


A_LIN = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]])


def _oracle(with_hess=True, sparse=(False, False), linear=True):
    """[Linear (2 rows)], Nonlinear c1 (2 rows), Nonlinear c2 (1 row)."""
    def wrap(fn, s):
        if not with_hess:
            return None
        return (lambda x, lam: sp.csr_array(fn(x, lam))) if s else fn

    kw1 = {"hess": wrap(_c1_hess, sparse[0])} if with_hess else {}
    kw2 = {"hess": wrap(_c2_hess, sparse[1])} if with_hess else {}
    cons = [NonlinearConstraint(_c1, 0.0, 0.0, jac=_c1_jac, **kw1),
            NonlinearConstraint(_c2, -1.0, 1.0, jac=_c2_jac, **kw2)]
    if linear:
        cons.insert(0, LinearConstraint(A_LIN, 0.0, 0.0))
    return to_constraint_oracle(cons, X3)


def _lam(linear=True):
    lam = np.array([1.5, -0.5, 2.0, -3.0, 0.7])
    return lam if linear else lam[2:]


def _hvp_columns(c, x, lam):
    return np.column_stack([c.lagrangian_hvp(x, lam, e) for e in np.eye(c.n)])


def _dense(H):
    return H.toarray() if sp.issparse(H) else H


@pytest.mark.parametrize("linear", [True, False])
@pytest.mark.parametrize("sparse", [(False, False), (True, False), (False, True), (True, True)])
def test_lagrangian_hess_matches_finite_difference_hvps(sparse, linear):
    c = _oracle(sparse=sparse, linear=linear)
    ref_oracle = _oracle(with_hess=False, linear=linear)  # same constraints, no hess: FD of J^T lam
    assert not ref_oracle.has_lagrangian_hess
    lam = _lam(linear)
    H = c.lagrangian_hess(X3, lam)
    if any(sparse):
        assert sp.issparse(H) and H.format == "csr"
    else:
        assert isinstance(H, np.ndarray) and not sp.issparse(H)
    assert H.shape == (n3, n3)
    ref = _hvp_columns(ref_oracle, X3, lam)
    np.testing.assert_allclose(_dense(H), ref, atol=1e-7)
    # the closed form as a further check
    np.testing.assert_allclose(_dense(H), _c1_hess(X3, lam[-3:-1]) + _c2_hess(X3, lam[-1:]),
                               rtol=1e-14, atol=1e-14)
    # lagrangian_hvp with the hess (dense or sparse results) equals H @ v
    np.testing.assert_allclose(_hvp_columns(c, X3, lam), _dense(H), rtol=1e-14, atol=1e-14)


def test_lagrangian_hess_ignores_linear_multipliers_and_slices_lam_per_block():
    seen = []

    def h1(x, lam):
        seen.append(("c1", np.array(lam)))
        return _c1_hess(x, lam)

    def h2(x, lam):
        seen.append(("c2", np.array(lam)))
        return _c2_hess(x, lam)

    c = to_constraint_oracle([NonlinearConstraint(_c1, 0, 0, jac=_c1_jac, hess=h1),
                              LinearConstraint(A_LIN, 0, 0),
                              NonlinearConstraint(_c2, 0, 0, jac=_c2_jac, hess=h2)], X3)
    lam = np.array([1.0, 2.0, 10.0, 20.0, 3.0])
    H = c.lagrangian_hess(X3, lam)
    assert [s[0] for s in seen] == ["c1", "c2"]
    np.testing.assert_array_equal(seen[0][1], [1.0, 2.0])
    np.testing.assert_array_equal(seen[1][1], [3.0])
    lam2 = lam.copy()
    lam2[2:4] = [-7.0, 100.0]  # the linear block's multipliers do not matter
    np.testing.assert_allclose(_dense(c.lagrangian_hess(X3, lam2)), _dense(H), rtol=0, atol=0)


def test_lagrangian_hess_is_linear_in_lam():
    c = _oracle(sparse=(True, False))
    l1, l2 = _lam(), np.array([0.0, 1.0, -1.0, 2.0, 0.3])
    lhs = _dense(c.lagrangian_hess(X3, 2 * l1 - 3 * l2))
    rhs = 2 * _dense(c.lagrangian_hess(X3, l1)) - 3 * _dense(c.lagrangian_hess(X3, l2))
    np.testing.assert_allclose(lhs, rhs, atol=1e-12)


@pytest.mark.parametrize("cons", [
    [],
    [LinearConstraint(A_LIN, 0, 0)],
    [LinearConstraint(sp.csr_array(A_LIN), 0, 0), LinearConstraint(np.eye(3), -1, 1)],
])
def test_all_linear_gives_zero_csr(cons):
    c = to_constraint_oracle(cons, X3) if cons else ConstraintOracle([], n3)
    assert c.is_linear and c.has_lagrangian_hess
    H = c.lagrangian_hess(X3, np.ones(c.m))
    assert sp.issparse(H) and H.format == "csr" and H.shape == (n3, n3)
    assert H.count_nonzero() == 0
    np.testing.assert_array_equal(c.lagrangian_hvp(X3, np.ones(c.m), np.ones(3)), np.zeros(3))


def _nl(**kw):
    return NonlinearConstraint(_c2, 0.0, 0.0, jac=_c2_jac, **kw)


@pytest.mark.parametrize("cons, is_linear, has_hess", [
    ([LinearConstraint(A_LIN, 0, 0)], True, True),
    ([_nl(hess=_c2_hess)], False, True),
    ([_nl()], False, False),
    ([_nl(hess="2-point")], False, False),
    ([_nl(hess=BFGS())], False, False),
    ([{"type": "eq", "fun": _c2, "jac": _c2_jac}], False, False),
    ([LinearConstraint(A_LIN, 0, 0), _nl(hess=_c2_hess)], False, True),
    ([LinearConstraint(A_LIN, 0, 0), _nl()], False, False),
    ([_nl(hess=_c2_hess), _nl()], False, False),
    ([_nl(hess=_c2_hess), _nl(hess=_c2_hess)], False, True),
    ([_nl(hess=_c2_hess), {"type": "ineq", "fun": _c2}], False, False),
])
def test_is_linear_and_has_lagrangian_hess_truth_table(cons, is_linear, has_hess):
    c = to_constraint_oracle(cons, X3)
    assert c.is_linear is is_linear
    assert c.has_lagrangian_hess is has_hess
    if not has_hess:
        with pytest.raises(ValueError, match="hess"):
            c.lagrangian_hess(X3, np.ones(c.m))
        # products still work, by finite differences
        assert c.lagrangian_hvp(X3, np.ones(c.m), np.ones(3)).shape == (3,)


def test_empty_oracle_is_linear():
    c = ConstraintOracle([], 4)
    assert c.is_linear and c.has_lagrangian_hess


def test_lagrangian_hess_rejects_linear_operator_but_hvp_accepts_it():
    c = to_constraint_oracle(
        [_nl(hess=lambda x, lam: aslinearoperator(_c2_hess(x, lam)))], X3)
    assert c.has_lagrangian_hess  # cannot be known before calling it
    with pytest.raises(ValueError, match="LinearOperator"):
        c.lagrangian_hess(X3, np.array([2.0]))
    v = np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(c.lagrangian_hvp(X3, np.array([2.0]), v), _c2_hess(X3, [2.0]) @ v,
                               rtol=1e-14)


@pytest.mark.parametrize("bad", [np.ones((3, 4)), np.ones((2, 2)), np.ones(3),
                                 sp.csr_array((4, 4)), sp.csr_array((3, 2))])
def test_lagrangian_hess_wrong_shape_raises(bad):
    c = to_constraint_oracle([LinearConstraint(A_LIN, 0, 0), _nl(hess=lambda x, lam: bad)], X3)
    with pytest.raises(ValueError, match="shape"):
        c.lagrangian_hess(X3, np.ones(3))


def test_lagrangian_hess_counts_one_nhev_per_call():
    c = _oracle(sparse=(True, False))
    lam = _lam()
    for _ in range(3):
        c.lagrangian_hess(X3, lam)
    assert (c.nhev, c.ncev, c.njev) == (3, 0, 0)
    c.lagrangian_hvp(X3, lam, np.ones(3))
    assert (c.nhev, c.ncev, c.njev) == (4, 0, 0)


def test_lagrangian_hvp_sparse_hess_results():
    # sparse results of every common format, from csr_matrix to dia_matrix
    for kind in SPARSE_KINDS:
        c = to_constraint_oracle([_nl(hess=lambda x, lam, kind=kind: kind(_c2_hess(x, lam)))], X3)
        v = np.array([0.3, 1.0, -2.0])
        out = c.lagrangian_hvp(X3, np.array([1.5]), v)
        assert isinstance(out, np.ndarray) and out.shape == (3,)
        np.testing.assert_allclose(out, _c2_hess(X3, [1.5]) @ v, rtol=1e-14)
        H = c.lagrangian_hess(X3, np.array([1.5]))
        assert H.format == "csr"
        np.testing.assert_allclose(H.toarray(), _c2_hess(X3, [1.5]), rtol=1e-14)
