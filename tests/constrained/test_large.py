"""The large sparse test problems of optkit.constrained.large, on small instances: derivatives
against finite differences, sizes, structure, argument checks, and an optimum against cvxpy."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import approx_fprime

from optkit.constrained.large import network_flow, semilinear_control, separable_quartic
from optkit.core import solve

NODES, ARCS, NS = 30, 120, 6


@pytest.fixture(scope="module")
def flow():
    return network_flow(NODES, ARCS, rng=0)


@pytest.fixture(scope="module")
def control():
    return semilinear_control(N=NS)


@pytest.fixture(scope="module")
def quartic():
    return separable_quartic(60, 6, density=0.2, rng=2)


def _dense(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def _central_jac(fun, x, h=1e-6):
    """Central-difference Jacobian of a vector (or scalar) function, columns by variable."""
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        cols.append((np.atleast_1d(fun(x + e)) - np.atleast_1d(fun(x - e))) / (2 * h))
    return np.column_stack(cols)


def _points(n, seed=1):
    rng = np.random.default_rng(seed)
    return [np.zeros(n), rng.standard_normal(n), 0.3 * rng.standard_normal(n)]


# --------------------------------------------------------------------------- sizes, flags


def test_sizes_and_capabilities(flow, control):
    assert (flow.n, flow.constraints.m, flow.constraints.n) == (ARCS, NODES - 1, ARCS)
    assert (control.n, control.constraints.m, control.constraints.n) == (2 * NS**2, NS**2, 2 * NS**2)
    for p in (flow, control):
        assert np.all(p.constraints.is_equality)
        assert p.objective.has_grad and p.objective.has_hess and p.objective.has_hvp
        assert p.constraints.has_lagrangian_hess
        np.testing.assert_array_equal(p.x0, np.zeros(p.n))
    assert flow.constraints.is_linear
    assert not control.constraints.is_linear


def test_default_sizes_are_large_as_documented():
    # only the cheap structural facts of the default instances (no solve)
    p = semilinear_control()
    assert (p.n, p.constraints.m) == (2 * 71**2, 71**2) and p.n >= 10_000
    q = network_flow()
    assert (q.n, q.constraints.m) == (10_000, 2000)


def test_hessians_are_sparse(flow, control):
    for p in (flow, control):
        x = np.random.default_rng(2).standard_normal(p.n)
        H = p.objective.hess(x)
        assert sp.issparse(H) and H.shape == (p.n, p.n)
        L = p.constraints.lagrangian_hess(x, np.ones(p.constraints.m))
        assert sp.issparse(L) and L.shape == (p.n, p.n)
        assert sp.issparse(p.constraints.jac(x))


# --------------------------------------------------------------------------- derivatives


@pytest.mark.parametrize("name", ["flow", "control", "quartic"])
def test_gradient_matches_finite_differences(name, request):
    p = request.getfixturevalue(name)
    for x in _points(p.n):
        g = p.objective.grad(x)
        np.testing.assert_allclose(g, approx_fprime(x, p.objective.value, 1e-7),
                                   rtol=1e-5, atol=1e-5 * max(1.0, np.abs(g).max()))
        np.testing.assert_allclose(g, _central_jac(p.objective.value, x)[0], rtol=1e-6, atol=1e-8)
        f, g2 = p.objective.value_and_grad(x)
        assert f == p.objective.value(x)
        np.testing.assert_array_equal(g2, g)


@pytest.mark.parametrize("name", ["flow", "control", "quartic"])
def test_objective_hessian_matches_finite_differences_of_gradient(name, request):
    p = request.getfixturevalue(name)
    v = np.random.default_rng(3).standard_normal(p.n)
    for x in _points(p.n):
        H = _dense(p.objective.hess(x))
        ref = _central_jac(p.objective.grad, x)
        np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(H, H.T)
        np.testing.assert_allclose(p.objective.hvp(x, v), H @ v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["flow", "control"])
def test_constraint_jacobian_matches_finite_differences(name, request):
    p = request.getfixturevalue(name)
    c = p.constraints
    for x in _points(p.n):
        J = _dense(c.jac(x))
        assert J.shape == (c.m, p.n)
        np.testing.assert_allclose(J, _central_jac(c.c, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["flow", "control"])
def test_lagrangian_hessian_matches_finite_differences_of_jt_lam(name, request):
    p = request.getfixturevalue(name)
    c = p.constraints
    lam = np.random.default_rng(4).standard_normal(c.m)
    for x in _points(p.n):
        H = _dense(c.lagrangian_hess(x, lam))
        ref = _central_jac(lambda z: c.jac(z).T @ lam, x)
        np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-7)
        v = np.random.default_rng(5).standard_normal(p.n)
        np.testing.assert_allclose(c.lagrangian_hvp(x, lam, v), H @ v, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- network_flow structure


def _full_incidence(p):
    A = _dense(p.constraints.jac(p.x0))
    row0 = -A.sum(axis=0)  # the removed node-0 row, if every arc column sums to zero
    return np.vstack([row0, A])


def test_network_rows_are_incidence_without_node_0(flow):
    B = _full_incidence(flow)
    assert B.shape == (NODES, ARCS)
    assert set(np.unique(B)) <= {-1.0, 0.0, 1.0}
    # every arc leaves one node and enters another (no self-loops, no duplicated ends)
    np.testing.assert_array_equal((B == 1).sum(axis=0), np.ones(ARCS))
    np.testing.assert_array_equal((B == -1).sum(axis=0), np.ones(ARCS))
    np.testing.assert_array_equal((B != 0).sum(axis=0), 2 * np.ones(ARCS))
    # the first n_nodes arcs are a ring through all nodes: the network is connected
    for k in range(NODES):
        assert set(np.flatnonzero(B[:, k])) == {k, (k + 1) % NODES}
    assert np.linalg.matrix_rank(B[1:]) == NODES - 1  # full row rank without node 0


def test_network_supplies_sum_to_zero_and_are_feasible(flow):
    c = flow.constraints
    np.testing.assert_array_equal(c.lb, c.ub)
    d = np.concatenate([[-c.lb.sum()], c.lb])  # node 0's supply closes the balance
    assert abs(d.sum()) < 1e-12
    B = _full_incidence(flow)
    x, *_ = np.linalg.lstsq(B[1:], c.lb, rcond=None)
    np.testing.assert_allclose(B @ x, d, atol=1e-10)  # the full balance, node 0 included
    np.testing.assert_allclose(c.c(x), c.lb, atol=1e-10)
    assert np.abs(c.lb).max() > 0.1  # the supplies are not trivial


def test_network_objective_form(flow):
    r = _dense(flow.objective.hess(np.zeros(ARCS))).diagonal()
    assert np.all((r >= 0.5) & (r <= 2.0))
    np.testing.assert_allclose(_dense(flow.objective.hess(np.zeros(ARCS))), np.diag(r))
    x = np.random.default_rng(6).standard_normal(ARCS)
    np.testing.assert_allclose(flow.objective.value(x), r @ (x**2 / 2 + x**4 / 4), rtol=1e-13)
    assert flow.objective.value(np.zeros(ARCS)) == 0.0


def test_network_is_deterministic_in_rng():
    a, b, c = network_flow(NODES, ARCS, rng=3), network_flow(NODES, ARCS, rng=3), network_flow(
        NODES, ARCS, rng=4)
    x = np.linspace(-1, 1, ARCS)
    assert a.objective.value(x) == b.objective.value(x)
    np.testing.assert_array_equal(_dense(a.constraints.jac(x)), _dense(b.constraints.jac(x)))
    np.testing.assert_array_equal(a.constraints.lb, b.constraints.lb)
    assert a.objective.value(x) != c.objective.value(x)


def test_network_with_ring_only():
    p = network_flow(5, 5)
    B = _full_incidence(p)
    for k in range(5):
        assert set(np.flatnonzero(B[:, k])) == {k, (k + 1) % 5}


def test_network_flow_matches_cvxpy(flow):
    cp = pytest.importorskip("cvxpy")
    r = _dense(flow.objective.hess(np.zeros(ARCS))).diagonal()  # hess(0) = diag(r)
    A = _dense(flow.constraints.jac(flow.x0))
    d = flow.constraints.lb
    x = cp.Variable(ARCS)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(r, cp.square(x) / 2 + cp.power(x, 4) / 4))),
                      [A @ x == d])
    prob.solve()
    assert prob.status == cp.OPTIMAL
    res = solve(flow, "al-newton",
                options={"linear_algebra": "sparse", "sketch": "direct", "tol": 1e-9})
    assert res.status == 0, res.message
    assert abs(res.fun - prob.value) <= 1e-6 * abs(prob.value)
    np.testing.assert_allclose(res.x, x.value, atol=1e-4)
    np.testing.assert_allclose(flow.constraints.c(res.x), d, atol=1e-8)


@pytest.mark.parametrize("sketch", ["direct", "rk"])
def test_separable_quartic_matches_cvxpy(quartic, sketch):
    """Convex: al-newton (sparse path, exact and Kaczmarz solves) reaches cvxpy's optimum."""
    cp = pytest.importorskip("cvxpy")
    A = _dense(quartic.constraints.jac(quartic.x0))
    b = quartic.constraints.lb
    c = -quartic.objective.grad(np.zeros(quartic.n))  # grad(0) = -c
    x = cp.Variable(quartic.n)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.power(x, 4) / 4 + cp.square(x) / 2) - c @ x),
                      [A @ x == b])
    prob.solve()
    res = solve(quartic, "al-newton", options={"linear_algebra": "sparse", "sketch": sketch,
                                               "accuracy": "relative", "tol": 1e-9, "rng": 0})
    assert res.status == 0, res.message
    assert res.fun == pytest.approx(prob.value, rel=1e-6)
    np.testing.assert_allclose(res.x, x.value, atol=1e-4)


def test_separable_quartic_bad_arguments():
    with pytest.raises(ValueError, match="m must be <= n"):
        separable_quartic(5, 6)
    with pytest.raises(ValueError, match="density"):
        separable_quartic(5, 2, density=0.0)


# --------------------------------------------------------------------------- semilinear_control


def test_control_x0_is_feasible(control):
    c = control.constraints
    np.testing.assert_array_equal(c.lb, np.zeros(NS**2))
    np.testing.assert_array_equal(c.ub, np.zeros(NS**2))
    np.testing.assert_array_equal(c.c(control.x0), np.zeros(NS**2))


def test_control_is_five_point_laplacian_with_dirichlet_data(control):
    # y = sin(pi s) sin(pi t) on the grid is an eigenvector of the 5-point Laplacian
    h = 1.0 / (NS + 1)
    g = np.arange(1, NS + 1) * h
    S, T = np.meshgrid(g, g, indexing="ij")
    y = (np.sin(np.pi * S) * np.sin(np.pi * T)).ravel()
    eig = 2 * 4 * np.sin(np.pi * h / 2) ** 2 / h**2
    u = np.random.default_rng(7).standard_normal(NS**2)
    x = np.concatenate([y, u])
    np.testing.assert_allclose(control.constraints.c(x), eig * y + y**3 - u, rtol=1e-12, atol=1e-12)


def test_control_objective_form(control):
    h = 1.0 / (NS + 1)
    g = np.arange(1, NS + 1) * h
    S, T = np.meshgrid(g, g, indexing="ij")
    yd = (np.sin(2 * np.pi * S) * np.sin(2 * np.pi * T)).ravel()
    np.testing.assert_allclose(control.objective.value(control.x0), h**2 / 2 * yd @ yd, rtol=1e-13)
    x = np.concatenate([yd, np.ones(NS**2)])
    np.testing.assert_allclose(control.objective.value(x), 1e-2 * h**2 / 2 * NS**2, rtol=1e-13)
    p = semilinear_control(N=NS, alpha=0.5)
    np.testing.assert_allclose(p.objective.value(x), 0.5 * h**2 / 2 * NS**2, rtol=1e-13)


def test_control_solution_satisfies_kkt(control):
    res = solve(control, "al-newton",
                options={"linear_algebra": "sparse", "sketch": "direct", "tol": 1e-9})
    assert res.status == 0, res.message
    x = res.x
    c = control.constraints
    np.testing.assert_allclose(c.c(x), 0.0, atol=1e-8)
    J = _dense(c.jac(x))
    g = control.objective.grad(x)
    lam, *_ = np.linalg.lstsq(J.T, -g, rcond=None)
    assert np.linalg.norm(g + J.T @ lam) <= 1e-8
    assert res.fun < control.objective.value(control.x0)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("kwargs, name", [
    ({"n_nodes": 2, "n_edges": 10}, "n_nodes"),
    ({"n_nodes": 0, "n_edges": 10}, "n_nodes"),
    ({"n_nodes": 10, "n_edges": 9}, "n_edges"),
    ({"n_nodes": 10, "n_edges": 20, "rng": -1}, "rng"),
])
def test_network_flow_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        network_flow(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    ({"n_nodes": 10.0}, "n_nodes"),
    ({"n_nodes": 10, "n_edges": "20"}, "n_edges"),
    ({"n_nodes": 10, "n_edges": 20, "rng": True}, "rng"),
])
def test_network_flow_non_integer_arguments(kwargs, name):
    with pytest.raises(TypeError, match=name):
        network_flow(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    ({"N": 1}, "N"),
    ({"N": -3}, "N"),
    ({"N": 4, "alpha": 0.0}, "alpha"),
    ({"N": 4, "alpha": -1e-2}, "alpha"),
    ({"N": 4, "alpha": float("inf")}, "alpha"),
    ({"N": 4, "alpha": float("nan")}, "alpha"),
])
def test_semilinear_control_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        semilinear_control(**kwargs)


@pytest.mark.parametrize("kwargs, name", [({"N": 4.0}, "N"), ({"N": 4, "alpha": "1"}, "alpha")])
def test_semilinear_control_non_numeric_arguments(kwargs, name):
    with pytest.raises(TypeError, match=name):
        semilinear_control(**kwargs)
