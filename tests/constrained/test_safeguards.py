"""The robust safeguards of al-newton (``safeguards="robust"``, the default), each against an
independent oracle (closed form or SLSQP); where a paper-mode run fails on the same input,
that is asserted too. The Hessian shift is tested in test_al_newton.py
(test_modified_reduced_hessian_is_at_least_xi_B), the S2MPJ regressions in test_s2mpj.py."""


import sys
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import scipy.sparse
from scipy.optimize import NonlinearConstraint

import optkit
from optkit.constrained._scaling import scale_factors
from optkit.constrained.al_newton import AL_STATUS, STALL_WINDOW, ALNewton
from optkit.constrained.hs import BY_NAME


def _hs7(f_scale=1.0, c_scale=1.0):
    """HS7 with f and c multiplied by constants: x* = (0, sqrt 3), f* = -sqrt(3) f_scale,
    and lambda* = f_scale / (2 sqrt(3) c_scale) (grad f(x*) = (0, -1) f_scale,
    grad c(x*) = (0, 2 sqrt 3) c_scale)."""
    def fun(x):
        return f_scale * (np.log1p(x[0] ** 2) - x[1])

    def jac(x):
        return f_scale * np.array([2 * x[0] / (1 + x[0] ** 2), -1.0])

    def hess(x):
        return f_scale * np.array([[2 * (1 - x[0] ** 2) / (1 + x[0] ** 2) ** 2, 0.0],
                                   [0.0, 0.0]])

    def c(x):
        return c_scale * np.array([(1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4])

    def cjac(x):
        return c_scale * np.array([[4 * x[0] * (1 + x[0] ** 2), 2 * x[1]]])

    def chess(x, v):
        return v[0] * c_scale * np.array([[4 + 12 * x[0] ** 2, 0.0], [0.0, 2.0]])

    con = NonlinearConstraint(c, 0.0, 0.0, jac=cjac, hess=chess)
    return fun, np.array([2.0, 2.0]), dict(jac=jac, hess=hess, constraints=[con])


def test_scale_factors_closed_form():
    g = np.array([1e4, -3.0])
    G = np.array([[50.0, 1.0], [0.0, -2e3]])
    s_f, d = scale_factors(g, G)
    assert s_f == pytest.approx(100 / 1e4)
    np.testing.assert_allclose(d, [1.0, 100 / 2e3])
    assert scale_factors(np.zeros(2), np.zeros((1, 2))) == (1.0, np.ones(1))


def test_badly_scaled_problem_reports_the_users_units():
    """HS7 with f * 1e5 and c * 1e3: scaling is active, the result is in the user's units
    (f*, x*, lambda* in closed form) and matches SLSQP's f."""
    a, b = 1e5, 1e3
    fun, x0, kw = _hs7(a, b)
    res = optkit.minimize(fun, x0, method="al-newton", options={"rng": 0, "tol": 1e-8}, **kw)
    assert res.success, res.message
    s_f, d = res.scaling
    assert s_f < 1.0 and d[0] < 1.0
    np.testing.assert_allclose(res.x, [0.0, np.sqrt(3.0)], atol=1e-6)
    assert res.fun == pytest.approx(-np.sqrt(3.0) * a, rel=1e-10)
    assert res.multipliers[0] == pytest.approx(a / (2 * np.sqrt(3.0) * b), rel=1e-6)
    assert res.constr_violation <= 1e-8
    ref = scipy.optimize.minimize(fun, x0, jac=kw["jac"], method="SLSQP",
                                  constraints=[{"type": "eq", "fun": kw["constraints"][0].fun}],
                                  options={"ftol": 1e-14, "maxiter": 500})
    assert res.fun == pytest.approx(ref.fun, rel=1e-8)


def test_progress_test_window():
    """A KKT residual that falls 1% within every window never stalls; a flat one stalls
    exactly STALL_WINDOW iterations after its best value."""
    class State:
        best_kkt, best_k, k = np.inf, 0, 0

    falling, flat = State(), State()
    for k in range(5 * STALL_WINDOW):
        falling.k = flat.k = k
        assert not ALNewton._stalled(falling, 0.998 ** (k // 5))  # 2% per 50 iterations
        if ALNewton._stalled(flat, 1.0):
            break
    assert k == STALL_WINDOW


def test_penalty_failure_is_recovered():
    """The paper run's penalty-safeguard stop (HS7, one Kaczmarz step per pass, mu_max = 2,
    no LU fallback) is answered under the robust default by a feasibility restoration
    (x0 is infeasible) and a penalty reset; the run then reaches HS7's closed-form x*."""
    fun, x0, kw = _hs7()
    opts = dict(max_inner=1, mu_max=2.0, inner_fallback="none", rng=0)
    paper = optkit.minimize(fun, x0, method="al-newton",
                            options={**opts, "safeguards": "paper"}, **kw)
    assert paper.status == AL_STATUS["penalty"]
    res = optkit.minimize(fun, x0, method="al-newton", options=opts, **kw)
    assert res.success, res.message
    assert res.n_recoveries >= 1 and res.n_restorations >= 1  # x0 is infeasible
    np.testing.assert_allclose(res.x, [0.0, np.sqrt(3.0)], atol=1e-6)


def _maratos(theta, **options):
    """Nocedal and Wright's Maratos example (2006, Example 15.4): min 2(x1^2 + x2^2 - 1) - x1
    s.t. x1^2 + x2^2 = 1, from (cos theta, sin theta) on the circle. Known solution
    x* = (1, 0), lambda* = -3/2 (grad f(x*) = (3, 0), grad c(x*) = (2, 0))."""
    con = NonlinearConstraint(lambda x: np.array([x @ x - 1.0]), 0.0, 0.0,
                              jac=lambda x: 2.0 * x.reshape(1, 2),
                              hess=lambda x, v: 2.0 * v[0] * np.eye(2))
    return optkit.minimize(lambda x: 2.0 * (x @ x - 1.0) - x[0], np.array([np.cos(theta),
                                                                          np.sin(theta)]),
                           method="al-newton", jac=lambda x: np.array([4 * x[0] - 1, 4 * x[1]]),
                           hess=lambda x: 4.0 * np.eye(2), constraints=[con],
                           options={"tol": 1e-10, "rng": 0, **options})


def test_second_order_correction_on_the_maratos_example():
    """From theta = 0.8 one unit step is rejected by the merit and its second-order
    correction accepted; the run ends at the known solution. The paper configuration
    never corrects (n_soc = 0) and reaches the same point. (The exact augmented
    Lagrangian is a differentiable merit: from theta <= 0.5 every unit step is accepted
    without a correction, and from theta >= 1 the rejected steps are far from x*.)"""
    robust, paper = _maratos(0.8), _maratos(0.8, safeguards="paper")
    for res in (robust, paper):
        assert res.success, res.message
        np.testing.assert_allclose(res.x, [1.0, 0.0], atol=1e-9)
        np.testing.assert_allclose(res.multipliers, [-1.5], atol=1e-8)
    assert robust.n_soc >= 1 and paper.n_soc == 0
    corrected = np.flatnonzero(robust.trace["soc"] == 1.0)
    assert np.all(robust.trace["alpha"][corrected] == 1.0)  # a corrected step is a unit step


def _circle_step_state(last_step=1.0):
    """A Newton step p from x on the unit circle, its trial value c(x + p), and the state
    fields :meth:`ALNewton._robust_backtracking` reads (no bounds, dense G)."""
    solver = ALNewton.__new__(ALNewton)
    solver.beta = 0.3
    x, p = np.array([0.6, 0.8]), np.array([0.3, -0.1])
    G = 2.0 * x.reshape(1, 2)

    class State:
        pass

    s = State()
    s.x, s.lam, s.c, s.G, s.n_soc, s.info, s.box = x, np.zeros(1), np.zeros(1), G, 0, {}, None
    s.last_step = last_step
    c_full = np.array([(x + p) @ (x + p) - 1.0])
    return solver, s, p, c_full


def test_second_order_correction_is_the_least_norm_step_onto_the_linearization():
    """The correction of a rejected unit step: p_hat with G p_hat = -c(x + p) and p_hat in
    range(G^T) (scipy's lstsq as the oracle)."""
    solver, s, p, c_full = _circle_step_state()
    p_hat = solver._correction(s, c_full)
    np.testing.assert_allclose(s.G @ p_hat, -c_full, atol=1e-14)
    np.testing.assert_allclose(p_hat, scipy.linalg.lstsq(s.G, -c_full)[0], atol=1e-14)


@pytest.mark.parametrize("sparse", [False, True])
def test_least_norm_step_in_a_diagonal_metric(sparse):
    """The projection's step with W = diag(w): G p = -c and W p in range(G^T), i.e.
    p = -W^{-1} G^T (G W^{-1} G^T)^{-1} c (numpy's solve as the oracle), on the dense path
    and on the sparse one (an LU of G W^{-1} G^T, not the state's cached one of G G^T)."""
    rng = np.random.default_rng(0)
    G, c, w = rng.standard_normal((3, 6)), rng.standard_normal(3), 10.0 ** rng.uniform(-3, 9, 6)
    cached = SimpleNamespace(calls=0)

    def gram_solve(r):  # the cached factorization of G G^T: must not be used
        cached.calls += 1
        return np.linalg.solve(G @ G.T, r)

    s = SimpleNamespace(G=scipy.sparse.csr_array(G) if sparse else G, box=None,
                        gram_solve=gram_solve)
    p = ALNewton._correction(None, s, c, 1.0 / w)
    expected = -(G.T / w[:, None]) @ np.linalg.solve((G / w) @ G.T, c)
    np.testing.assert_allclose(p, expected, rtol=1e-10)
    np.testing.assert_allclose(G @ p, -c, atol=1e-12)
    assert cached.calls == 0


@pytest.mark.parametrize("c_now, on_arc", [(0.0, True), (0.5, False)])
def test_rejected_corrected_step_backtracks_on_the_arc_then_the_line(c_now, on_arc):
    """After the unit step and its correction are rejected, each step a = 1/4, 1/8, ...
    (from twice the last step) is tried at x + a p + a^2 p_hat (Mayne and Polak's arc), then
    at x + a p; p_hat from scipy's lstsq. The arc is left out when the unit step did not
    raise ||c|| (here c(x + p) = 0.3, against c(x) = 0 or 0.5)."""
    solver, s, p, c_full = _circle_step_state(last_step=0.125)
    s.c = np.array([c_now])
    seen = []
    accept_at = 5 if on_arc else 4

    def at(xt, lam, threshold):
        seen.append(xt)
        if len(seen) < accept_at:
            return np.inf, (xt, lam, None, None, c_full, None, None)
        return -1e300, (xt, lam, None, None, None, None, None)

    z = np.concatenate([p, [0.0]])
    ls = solver._robust_backtracking(s, z, -1.0, 0.0, 0.0, at)
    p_hat = scipy.linalg.lstsq(s.G, -c_full)[0]
    x = s.x
    if on_arc:
        expected = [x + p, x + p + p_hat, x + p / 4 + p_hat / 16, x + p / 4, x + p / 8 + p_hat / 64]
    else:
        expected = [x + p, x + p + p_hat, x + p / 4, x + p / 8]
    np.testing.assert_allclose(np.array(seen), np.array(expected), atol=1e-14)
    assert ls.success and ls.step == 0.125 and s.n_soc == 0


def test_arc_search_shortens_the_maratos_example_far_from_the_solution():
    """From theta = 3 (the far side of the circle) the Newton steps leave the circle
    quadratically and the penalty term rejects them on the straight line: 17 iterations and
    44 evaluations of f. With the arc through the second-order correction the run reaches
    the known solution in 13 iterations and 19 evaluations (from lambda_0 = 0; from the
    default least-squares multipliers 13 and 26)."""
    res = _maratos(3.0, lam0=np.zeros(1))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(res.multipliers, [-1.5], atol=1e-8)
    assert res.nfev <= 20, (res.nit, res.nfev)


def _electrons_on_the_sphere(count, seed):
    """Thomson's problem (the Elec problem of scipy's constrained-minimization tests): min
    the Coulomb energy sum_{i<j} 1/||p_i - p_j|| of ``count`` points p_i in R^3 subject to
    ||p_i||^2 = 1, x = (all x-coordinates, all y, all z), from random points on the sphere."""
    rng = np.random.default_rng(seed)
    phi, t = rng.uniform(0.0, 2.0 * np.pi, count), rng.uniform(-1.0, 1.0, count)
    x0 = np.concatenate([t * np.cos(phi), t * np.sin(phi), np.sqrt(1.0 - t**2)])

    def differences(x):
        p = x.reshape(3, count)
        d = p[:, :, None] - p[:, None, :]
        dist2 = np.sum(d**2, axis=0)
        np.fill_diagonal(dist2, 1.0)
        return d, dist2

    def energy(x):
        _, dist2 = differences(x)
        return float(np.sum(np.triu(dist2**-0.5, 1)))

    def grad(x):
        d, dist2 = differences(x)
        w = dist2**-1.5
        np.fill_diagonal(w, 0.0)
        return -np.sum(w * d, axis=2).ravel()

    def c(x):
        return np.sum(x.reshape(3, count) ** 2, axis=0) - 1.0

    def jac(x):
        return np.hstack([np.diag(2.0 * row) for row in x.reshape(3, count)])

    cons = NonlinearConstraint(c, 0.0, 0.0, jac=jac,
                               hess=lambda x, v: 2.0 * np.diag(np.tile(v, 3)))
    return energy, grad, cons, x0


def test_arc_search_on_electrons_on_the_sphere():
    """Thomson's problem, 30 points (n = 90, m = 30, curved rows): success at SLSQP's energy
    (1e-8 relative) in at most 100 evaluations of f. Before the arc search the line was cut
    for hundreds of iterations near the solution: 402 iterations, 1540 evaluations (now 39
    and 70)."""
    energy, grad, cons, x0 = _electrons_on_the_sphere(30, seed=1)
    with pytest.warns(RuntimeWarning, match="no hess"):  # differences of the gradient
        res = optkit.minimize(energy, x0, method="al-newton", jac=grad, constraints=[cons],
                              options={"rng": 0})
    ref = scipy.optimize.minimize(energy, x0, method="SLSQP", jac=grad,
                                  constraints=[{"type": "eq", "fun": cons.fun, "jac": cons.jac}],
                                  options={"ftol": 1e-12, "maxiter": 1000})
    assert res.success, res.message
    assert ref.success and np.max(np.abs(cons.fun(ref.x))) <= 1e-8
    assert np.max(np.abs(cons.fun(res.x))) <= 1e-6
    assert res.fun == pytest.approx(ref.fun, rel=1e-8)
    assert res.nfev <= 100, (res.nit, res.nfev)


def _tangent_circles():
    """min x1 + x2 on two circles tangent at the origin, (x1 - 1)^2 + x2^2 = 1 and
    (x1 - 2)^2 + x2^2 = 4: the origin is the only feasible point (so the minimizer, f* = 0),
    the constraint gradients there, (-2, 0) and (-4, 0), are parallel and grad f = (1, 1) is
    not in their span: a Fritz John point without KKT multipliers (LICQ fails)."""
    cons = NonlinearConstraint(
        lambda x: np.array([(x[0] - 1) ** 2 + x[1] ** 2 - 1, (x[0] - 2) ** 2 + x[1] ** 2 - 4]),
        0.0, 0.0,
        jac=lambda x: np.array([[2 * (x[0] - 1), 2 * x[1]], [2 * (x[0] - 2), 2 * x[1]]]),
        hess=lambda x, v: 2 * (v[0] + v[1]) * np.eye(2))
    return dict(fun=lambda x: x[0] + x[1], jac=lambda x: np.ones(2),
                hess=lambda x: np.zeros((2, 2)), constraints=[cons])


@pytest.mark.parametrize("x0", [(0.5, 0.5), (-1.0, 2.0)])
def test_fritz_john_point_stops_feasible_with_status_7(x0):
    """The multipliers grow like 1/x2 along the Newton path; the robust configuration stops
    at the feasible point (the closed-form x* = 0) with status 7 once G G^T is singular to
    singular_tol, the paper configuration crawls to maxiter."""
    problem = _tangent_circles()
    robust = optkit.minimize(x0=np.array(x0), method="al-newton", **problem,
                             options={"rng": 0, "maxiter": 200})
    assert robust.status == AL_STATUS["singular"] and not robust.success
    assert "Fritz John" in robust.message and robust.nit < 200
    assert robust.constr_violation <= 1e-6
    np.testing.assert_allclose(robust.x, 0.0, atol=1e-5)
    assert np.linalg.norm(robust.multipliers) > 1e4  # unbounded: no multipliers at x*
    paper = optkit.minimize(x0=np.array(x0), method="al-newton", **problem,
                            options={"rng": 0, "maxiter": 200, "safeguards": "paper"})
    assert paper.status == AL_STATUS["maxiter"]


@pytest.mark.parametrize("null_size", [0.0, 1e12])
def test_dependent_rows_leave_the_minimum_norm_multipliers(null_size):
    """min 1/2 ||x - a||^2 subject to four linear rows of rank 2 (rows 3 and 4 are sums of
    rows 1 and 2): the multipliers are determined only up to null(G^T). Started with
    lam0 = null_size times a unit vector of null(G^T) (as an LU solve of the singular KKT
    matrix can leave one: S2MPJ STNQP1), the run ends at the projection of a onto the
    affine set (lstsq of the KKT system) with the minimum-norm multipliers (numpy's lstsq
    of G^T lambda = -(x* - a)). Before the projection the 1e12 component stayed, and times
    the rounding of c it was the merit's noise."""
    a = np.array([1.0, -2.0, 0.5, 3.0])
    A = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0],
                  [1.0, 2.0, 1.0, 1.0], [2.0, 3.0, 1.0, 1.0]])
    b = np.array([1.0, 2.0, 3.0, 4.0])
    cons = scipy.optimize.LinearConstraint(A, b, b)
    null = scipy.linalg.null_space(A.T)[:, 0]
    res = optkit.minimize(lambda x: 0.5 * (x - a) @ (x - a), np.array([3.0, -1.0, 2.0, 0.5]),
                          method="al-newton", jac=lambda x: x - a, hess=lambda x: np.eye(4),
                          constraints=[cons], options={"rng": 0, "lam0": null_size * null})
    kkt = np.block([[np.eye(4), A.T], [A, np.zeros((4, 4))]])
    x_star = np.linalg.lstsq(kkt, np.concatenate([a, b]), rcond=None)[0][:4]
    lam_star = np.linalg.lstsq(A.T, -(x_star - a), rcond=None)[0]
    assert res.success, res.message
    np.testing.assert_allclose(res.x, x_star, atol=1e-8)
    np.testing.assert_allclose(res.multipliers, lam_star, atol=1e-8)


@pytest.mark.parametrize("name", ["HS7", "HS27"])
def test_backtracking_from_the_last_step_keeps_the_iterates(name, monkeypatch):
    """The robust line search starts its halving at twice the last accepted step and grows
    it back while accepted: on these problems (the accepted steps form an interval, from
    lambda_0 = 0) every iterate equals the one of the halving from 1/2, with fewer objective
    evaluations."""
    def run():
        xs = []
        res = optkit.minimize(method="al-newton", callback=lambda x: xs.append(x.copy()),
                              options={"rng": 0, "lam0": np.zeros(1)},
                              **BY_NAME[name].scipy_kwargs())
        assert res.success, res.message
        return res, np.array(xs)

    warm, warm_xs = run()
    backtracking = ALNewton._robust_backtracking

    def from_one_half(self, s, *args):
        s.last_step = 1.0  # the halving then starts at min(1/2, 2) = 1/2
        return backtracking(self, s, *args)

    monkeypatch.setattr(ALNewton, "_robust_backtracking", from_one_half)
    cold, cold_xs = run()
    np.testing.assert_array_equal(warm_xs, cold_xs)
    assert warm.nfev < cold.nfev


def test_tiny_step_that_rounds_onto_a_bound_is_not_taken(monkeypatch):
    """min x1 + x2 subject to x1 - x2 = 0 and x >= 1e10 (x* = (1e10, 1e10)), every step
    taken as a tiny step (IPOPT's rule forced): the steps close the gap to the bound until
    x + dx rounds onto it (one ulp of 1e10 is 1.9e-6), where the barrier is infinite. That
    step must go through the line search instead of being taken (it used to be: the iterate
    then had no Jacobian and the run raised ValueError)."""
    monkeypatch.setattr(ALNewton, "_tiny_step", staticmethod(lambda s, dx: True))
    lower = 1e10
    cons = NonlinearConstraint(lambda x: np.array([x[0] - x[1]]), 0.0, 0.0,
                               jac=lambda x: np.array([[1.0, -1.0]]),
                               hess=lambda x, v: np.zeros((2, 2)))
    res = optkit.minimize(lambda x: x[0] + x[1], np.array([3.0, 2.0]) * lower,
                          method="al-newton", jac=lambda x: np.ones(2),
                          hess=lambda x: np.zeros((2, 2)), constraints=[cons],
                          bounds=[(lower, None)] * 2, options={"rng": 0, "maxiter": 100})
    assert np.all(res.x > lower) and np.isfinite(res.fun)
    np.testing.assert_allclose(res.x, lower, rtol=1e-12)


def _indefinite_bounded_qp(seed=1, n=20, m=8):
    """An indefinite QP with 0.1 <= x <= 10 and m linear equality rows (the shape of S2MPJ's
    NCVXQP family): P of mixed-sign eigenvalues times 1e3, so that the bound multipliers
    at x* are large."""
    rng = np.random.default_rng(seed)
    M, d = rng.standard_normal((n, n)), rng.uniform(-1.0, 1.0, n)
    P, q = 1e3 * (M.T @ np.diag(d) @ M) / n, 1e2 * rng.standard_normal(n)
    A = rng.standard_normal((m, n))
    return P, q, A, A @ rng.uniform(0.5, 5.0, n)


def test_barrier_rounding_noise_does_not_cut_the_last_newton_steps(monkeypatch):
    """At the last barrier parameter the entries of grad_x L at active bounds with large
    multipliers are rounding noise (``BoxProblem.barrier_grad_rounding``), yet the Newton
    step's merit slope -nu ||grad_x L||^2 counts them: the unit steps failed the Armijo
    test and steps of 1/8 moved x by 1e-14 until the progress test stopped the run (status
    5 after 104 iterations here, with the KKT certificate at the stall turned off). With
    the merit's rounding error of that term in the
    Armijo slack (``ALNewton._barrier_rounding_slack``) the run converges. The oracle: the
    KKT conditions at the result, the multipliers of the rows and of the active bounds
    fitted by scipy's ``lsq_linear`` (bound multipliers >= 0)."""
    P, q, A, b = _indefinite_bounded_qp()
    n, m = A.shape[1], A.shape[0]

    def run():
        return optkit.minimize(lambda v: 0.5 * v @ (P @ v) + q @ v, np.full(n, 0.5),
                               method="al-newton", jac=lambda v: P @ v + q, hess=lambda v: P,
                               constraints=[scipy.optimize.LinearConstraint(A, b, b)],
                               bounds=[(0.1, 10.0)] * n, options={"rng": 0})

    res = run()
    assert res.success and res.nit <= 70, (res.status, res.nit)
    x = res.x
    np.testing.assert_allclose(A @ x, b, atol=1e-8)
    lower, upper = np.isclose(x, 0.1, atol=1e-6), np.isclose(x, 10.0, atol=1e-6)
    assert lower.sum() + upper.sum() >= 10  # the case: many active bounds
    basis = np.hstack([A.T, -np.eye(n)[:, lower], np.eye(n)[:, upper]])
    low = np.concatenate([np.full(m, -np.inf), np.zeros(lower.sum() + upper.sum())])
    fit = scipy.optimize.lsq_linear(basis, -(P @ x + q), bounds=(low, np.inf))
    assert np.linalg.norm(basis @ fit.x + P @ x + q) <= 1e-7 * np.linalg.norm(q)

    assert res.message == "Optimization terminated successfully."  # not ALNewton._certify
    monkeypatch.setattr(ALNewton, "_barrier_rounding_slack", lambda self, s, nu: 0.0)
    monkeypatch.setattr(ALNewton, "_certify", lambda self, s: False)
    assert run().status == AL_STATUS["stalled"]


@pytest.mark.parametrize("growth, kkt_ratio, expected", [
    (10.0, 1.0, True),  # multipliers tenfold, KKT residual not lower: no interior point
    (10.0, 0.9, False),  # the residual fell: the barrier problem is being solved
    (9.0, 2.0, False)])  # the multipliers grew less than tenfold
def test_no_interior_point_test_compares_a_window_of_iterations(growth, kkt_ratio, expected):
    """ALNewton._no_interior_point: over NO_INTERIOR_WINDOW iterations at one barrier
    parameter, ||lambda|| grew NO_INTERIOR_GROWTH-fold and the KKT residual did not fall;
    it is decided once per window, and the window then restarts."""
    from optkit.constrained.al_newton import NO_INTERIOR_GROWTH, NO_INTERIOR_WINDOW

    def state(k, lam, kkt, mark):
        return SimpleNamespace(k=k, lam=np.array([lam, 0.0]), kkt=kkt, no_interior_mark=mark)

    s = state(3, 1.0, 2.0, (3, np.inf, np.inf))
    assert not ALNewton._no_interior_point(s)  # inside the first window
    s = state(3 + NO_INTERIOR_WINDOW, 5.0, 2.0, (3, np.inf, np.inf))
    assert not ALNewton._no_interior_point(s)  # the window's first marks are set
    assert s.no_interior_mark == (3 + NO_INTERIOR_WINDOW, 5.0, 2.0)
    k = s.k + NO_INTERIOR_WINDOW
    s = state(k, 5.0 * growth * NO_INTERIOR_GROWTH / 10.0, 2.0 * kkt_ratio, s.no_interior_mark)
    assert ALNewton._no_interior_point(s) is expected
    s.k += NO_INTERIOR_WINDOW - 1
    assert not ALNewton._no_interior_point(s)  # the next window has just begun


def test_feasible_point_on_the_bounds_is_certified_with_fitted_multipliers(monkeypatch):
    """Rows y - u = 0, y + u = 0.4 force u = y = 0.2 onto the bound u <= 0.2: no feasible
    point lies strictly inside the bounds, and the barrier estimate beta/(0.2 - u) of the
    bound multiplier grows without bound. min (w - 1)^2 + y^2 + wy then has the closed form
    x* = (0.2, 0.2, 0.9), f* = 0.23. The KKT fit at the feasible iterate
    (``ALNewton._certify``) ends the run there; its multipliers satisfy the KKT conditions
    (z <= 0: the upper bound) and the run is shorter than the barrier path's own end."""
    A, b = np.array([[-1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]), np.array([0.0, 0.4])

    def grad(x):
        return np.array([0.0, 2.0 * x[1] + x[2], 2.0 * (x[2] - 1.0) + x[1]])

    def run():
        return optkit.minimize(lambda x: (x[2] - 1.0) ** 2 + x[1] ** 2 + x[2] * x[1],
                               np.zeros(3), method="al-newton", jac=grad,
                               hess=lambda x: np.array([[0.0, 0, 0], [0, 2, 1], [0, 1, 2]]),
                               constraints=[scipy.optimize.LinearConstraint(A, b, b)],
                               bounds=[(-1.0, 0.2), (None, None), (None, None)],
                               options={"rng": 0})

    res = run()
    assert res.success and "fitted" in res.message, res.message
    np.testing.assert_allclose(res.x, [0.2, 0.2, 0.9], atol=1e-6)
    assert res.fun == pytest.approx(0.23, abs=1e-6)
    z = res.bound_multipliers
    np.testing.assert_allclose(grad(res.x) + A.T @ res.multipliers - z, 0.0, atol=1e-6)
    assert z[0] <= 0.0 and z[1] == z[2] == 0.0 and res.kkt_residual <= 1e-6
    monkeypatch.setattr(ALNewton, "_certify", lambda self, s: False)
    plain = run()
    assert plain.success and plain.message == "Optimization terminated successfully."
    assert res.nit < plain.nit


def _merit_in_lambda(f, g, c, G, mu, nu):
    """The exact augmented Lagrangian at a fixed x as a function of lambda, and an ``at``
    of the line search that evaluates it (payload as al-newton's)."""
    def merit(lam):
        gl = g + G.T @ lam
        return f + lam @ c + 0.5 * mu * (c @ c) + 0.5 * nu * (gl @ gl)

    def at(x, lam, threshold=np.inf):
        return merit(lam), (x, lam, f, g, c, G, g + G.T @ lam)

    return merit, at


def test_trial_rejected_by_the_multiplier_step_is_retried_at_least_squares_multipliers():
    """A trial point whose merit fails the Armijo test only through nu/2 ||grad_x L||^2 (a
    large multiplier step lam_a) is retried at the multipliers of the segment from lam_a
    to the least-squares ones, argmin ||grad f + G^T lam|| (scipy's lstsq), that minimize
    the merit (scipy's bounded scalar minimization); trials that pass as they are, fail
    already on f + lam^T c + mu/2 ||c||^2, or whose least-squares multipliers are larger
    than both the current and the step's are returned unchanged."""
    rng = np.random.default_rng(0)
    G, g = rng.standard_normal((2, 4)), rng.standard_normal(4)
    f, mu, nu, x = 1.0, 10.0, 0.1, np.zeros(4)
    lam_ls = scipy.linalg.lstsq(G.T, -g)[0]

    class State:
        pass

    s = State()
    s.mu, s.nu, s.lam = mu, nu, np.zeros(2)
    solver = ALNewton.__new__(ALNewton)
    c = np.array([-3.0, 6.0])
    merit, at = _merit_in_lambda(f, g, c, G, mu, nu)
    wrapped, reset = solver._with_least_squares_multipliers(s, at)
    lam_step = np.array([50.0, -80.0])
    along = scipy.optimize.minimize_scalar(
        lambda t: merit(lam_step + t * (lam_ls - lam_step)), bounds=(0.0, 1.0),
        method="bounded", options={"xatol": 1e-12})
    assert 0.1 < along.x < 0.9  # inside the segment (c = 0 would give lam_ls itself)
    value, payload = wrapped(x, lam_step, threshold=merit(lam_ls) + 1.0)
    assert value <= along.fun and value == pytest.approx(along.fun, rel=1e-8)
    np.testing.assert_allclose(payload[1], lam_step + along.x * (lam_ls - lam_step), atol=1e-6)
    np.testing.assert_allclose(payload[6], g + G.T @ payload[1], atol=1e-12)
    assert value < merit(lam_step) and len(reset) == 1 and reset[0] is payload
    passing = wrapped(x, lam_step, threshold=merit(lam_step))  # accepted as it is
    failing = wrapped(x, lam_step, threshold=f + lam_step @ c + 0.5 * mu * (c @ c) - 1e-9)

    merit0, at0 = _merit_in_lambda(f, g, np.zeros(2), G, mu, nu)  # c = 0: lam_ls is best
    wrapped0, reset0 = solver._with_least_squares_multipliers(s, at0)
    half = 0.5 * lam_ls  # |lam_ls| > max(|s.lam|, |half|)
    between = 0.5 * (merit0(lam_ls) + merit0(half))
    too_large = wrapped0(x, half, threshold=between)
    for lam, m, (value, payload) in ((lam_step, merit, passing), (lam_step, merit, failing),
                                     (half, merit0, too_large)):
        assert payload[1] is lam and value == m(lam)
    assert len(reset) == 1 and not reset0


@pytest.mark.parametrize("safeguards", ["robust", "paper"])
def test_arithmetic_error_at_a_trial_point_rejects_the_trial(safeguards):
    """min sqrt(1 + x0^2) + sqrt(1 + x1^2) s.t. x0 = x1 from (2, 2): the reduced Newton
    step, -t(1 + t^2), lands at t = -8, where the objective raises OverflowError (as
    Python's math.exp or float ** do past the float range). The trial is rejected like a
    point outside the bounds and the step shortened: the run ends at the closed-form
    minimizer (0, 0), f = 2, instead of the exception leaving minimize."""
    raised = []

    def fun(x):
        if abs(x[0]) > 4.0:
            raised.append(x[0])
            raise OverflowError("math range error")
        return float(np.sqrt(1 + x[0] ** 2) + np.sqrt(1 + x[1] ** 2))

    def jac(x):
        return x / np.sqrt(1 + x**2)

    def hess(x):
        return np.diag((1 + x**2) ** -1.5)

    con = NonlinearConstraint(lambda x: np.array([x[0] - x[1]]), 0.0, 0.0,
                              jac=lambda x: np.array([[1.0, -1.0]]),
                              hess=lambda x, v: np.zeros((2, 2)))
    res = optkit.minimize(fun, np.array([2.0, 2.0]), method="al-newton", jac=jac, hess=hess,
                          constraints=[con], options={"rng": 0, "safeguards": safeguards})
    assert raised and res.success
    np.testing.assert_allclose(res.x, [0.0, 0.0], atol=1e-6)
    assert res.fun == pytest.approx(2.0)


@pytest.mark.parametrize("lam_min, floor, expected", [
    (0.5, 1e-3, 0.0),  # positive definite: no shift
    (2e-7, 1e-3, 1e-3 - 2e-7),  # semidefinite: lifted to the floor
    (-2e-8, 1e-3, 1e-3 + 4e-8),  # barely indefinite: mirrored, then the floor
    (-2e-8, 1e-9, 1e-6 + 4e-8),  # the floor is hess_mod_tol at least
    (-1e-4, 1e-3, 0.1 + 2e-4),  # indefinite beyond hess_mod_tol: xi_B, whatever the floor
    (-2e-8, None, 0.1 + 4e-8)])  # no floor (the paper's xi_B)
def test_hessian_shift_takes_the_floor_where_the_reduced_hessian_is_numerically_semidefinite(
        lam_min, floor, expected):
    """_kkt.hessian_shift (robust): t = base - lam_min + max(-lam_min, 0), base the adapted
    floor (at least hess_mod_tol = 1e-6) when |lam_min| < hess_mod_tol, else xi_B = 0.1."""
    from optkit.constrained._kkt import hessian_shift

    cfg = SimpleNamespace(robust=True, hess_mod_tol=1e-6, xi_B=0.1)
    assert hessian_shift(cfg, lam_min, 10.0, 1.0, floor) == pytest.approx(expected, rel=1e-12)


def test_shift_floor_adapts_on_a_flat_positive_semidefinite_reduced_hessian(monkeypatch):
    """f = (x0 - x1)^2/2 + eps (x0 + x1)^2/2 - b (x0 + x1) + x2^2/2 s.t. x2 = 0: the reduced
    Hessian has eigenvalues 2 and 2 eps = 4e-7 (below hess_mod_tol, also in Jacobi-scaled
    variables), and the closed-form minimizer is x0 = x1 = b / (2 eps) = 3, x2 = 0. The
    shift lifts 4e-7 to the floor, which starts at xi_B = 0.1 and falls tenfold after each
    full step down to hess_mod_tol = 1e-6; with the floor held at xi_B the Newton steps are
    gradient steps of ~1e-5 and the run stalls near x0."""
    eps, b = 2e-7, 1.2e-6
    H = np.array([[1 + eps, eps - 1, 0.0], [eps - 1, 1 + eps, 0.0], [0.0, 0.0, 1.0]])

    def fun(x):
        return 0.5 * (x[0] - x[1]) ** 2 + 0.5 * eps * (x[0] + x[1]) ** 2 \
            - b * (x[0] + x[1]) + 0.5 * x[2] ** 2

    con = NonlinearConstraint(lambda x: np.array([x[2]]), 0.0, 0.0,
                              jac=lambda x: np.array([[0.0, 0.0, 1.0]]),
                              hess=lambda x, v: np.zeros((3, 3)))

    def run():
        return optkit.minimize(fun, np.array([0.0, 0.0, 1.0]), method="al-newton",
                               jac=lambda x: H @ x - b * np.array([1.0, 1.0, 0.0]),
                               hess=lambda x: H, constraints=[con],
                               options={"rng": 0, "tol": 1e-12, "maxiter": 100})

    res = run()
    assert res.success and res.nit <= 50
    np.testing.assert_allclose(res.x, [3.0, 3.0, 0.0], atol=1e-5)
    shifts = res.trace["hess_shift"][1:]
    assert shifts[0] == pytest.approx(0.1 - 2 * eps)
    assert shifts.min() == pytest.approx(1e-6 - 2 * eps)
    monkeypatch.setattr(ALNewton, "_adapt_shift_floor", lambda self, s: None)
    fixed = run()
    assert not fixed.success and np.abs(fixed.x[:2]).max() < 0.01
    assert np.all(fixed.trace["hess_shift"][1:] == pytest.approx(0.1 - 2 * eps))


def _bt1():
    """BT1: min 100 (x1^2 + x2^2) - x1 - 100 on the unit circle from (0.08, 0.06) and
    lambda_0 = 0; x* = (1, 0), f* = -1 (f = 100 c - x1 with c = x1^2 + x2^2 - 1)."""
    cons = NonlinearConstraint(lambda x: np.array([x @ x - 1.0]), 0.0, 0.0,
                               jac=lambda x: 2.0 * x[None, :],
                               hess=lambda x, v: 2.0 * v[0] * np.eye(2))
    return optkit.minimize(lambda x: 100.0 * (x @ x) - x[0] - 100.0, np.array([0.08, 0.06]),
                           method="al-newton", jac=lambda x: 200.0 * x - np.array([1.0, 0.0]),
                           hess=lambda x: 200.0 * np.eye(2), constraints=[cons],
                           options={"rng": 0, "lam0": np.zeros(1)})


def test_projection_onto_the_constraints_at_the_solution(monkeypatch):
    """The success test ||grad L|| <= tol = 1e-6 stops BT1 at c = 7.5e-8, where
    f = f* + 100 c - (x1 - 1) is 7.5e-6 above f* (SLSQP: 1.6e-5 below, at c = -1.6e-7). One
    Newton projection x - G^T (G G^T)^{-1} c(x) ends at |c| = 1e-15 and f = f* to 1e-12
    (closed form). Each projection costs one value-and-gradient, one c and one Jacobian
    call, counted: the counters exceed those of the run without projections by exactly that."""
    res = _bt1()
    assert res.success and res.n_projections >= 1
    assert res.constr_violation <= 1e-14
    assert res.fun == pytest.approx(-1.0, abs=1e-12)
    np.testing.assert_allclose(res.x, [1.0, 0.0], atol=1e-6)
    assert res.kkt_residual <= 1e-6
    al_newton_module = sys.modules[ALNewton.__module__]
    monkeypatch.setattr(al_newton_module, "PROJECTION_STEPS", 0)
    unprojected = _bt1()
    assert unprojected.n_projections == 0 and unprojected.nit == res.nit
    assert unprojected.constr_violation > 1e-8 and unprojected.fun > -1.0 + 1e-6
    k = res.n_projections
    assert (res.nfev, res.njev, res.constr_nfev, res.constr_njev, res.constr_nhev) == (
        unprojected.nfev + k, unprojected.njev + k, unprojected.constr_nfev + k,
        unprojected.constr_njev + k, unprojected.constr_nhev)


def _bt13():
    """BT13 (Boggs and Tolle; x5 >= 0): min x5 subject to x1^2 + (x1 - 2 x2)^2 + (x2 - 3 x3)^2
    + (x3 - 4 x4)^2 = x5^2, from S2MPJ's x0; x* = 0, f* = 0, where G(x*) = 0."""
    H = np.array([[4, -4, 0, 0, 0], [-4, 10, -6, 0, 0], [0, -6, 20, -8, 0],
                  [0, 0, -8, 32, 0], [0, 0, 0, 0, -2.0]])
    cons = NonlinearConstraint(lambda x: np.array([0.5 * x @ H @ x]), 0.0, 0.0,
                               jac=lambda x: (H @ x)[None, :], hess=lambda x, v: v[0] * H)
    return optkit.minimize(lambda x: x[4], np.array([1.0, 2.0, 3.0, 3.0, 228.0]),
                           method="al-newton", jac=lambda x: np.eye(5)[4],
                           hess=lambda x: np.zeros((5, 5)), constraints=[cons],
                           bounds=scipy.optimize.Bounds([-np.inf] * 4 + [0.0], np.inf),
                           options={"rng": 0})


def test_projection_with_bounds_is_taken_in_the_barrier_metric(monkeypatch):
    """BT13's barrier solution has |c| = 4.3e-7 with x5 at its bound (G(x*) = 0: each
    projection lowers |c| about threefold). In the barrier's metric W = I + Sigma the
    projections leave x5 in place and end at |c| <= 1e-9 with the barrier problem's KKT
    residual within tol. The Euclidean least-norm step moves x5 too and raises that
    residual to 3e-2: it is not taken, and the run ends at the Newton iterate."""
    res = _bt13()
    assert res.success and res.n_projections >= 3
    assert res.constr_violation <= 1e-9 and res.kkt_residual <= 1e-6
    assert 0.0 < res.x[4] <= 1e-6 and res.fun == pytest.approx(res.x[4], rel=1e-12)
    correction = ALNewton._correction
    monkeypatch.setattr(ALNewton, "_correction",
                        lambda self, s, c, inverse_metric=None: correction(self, s, c))
    euclidean = _bt13()
    assert euclidean.success and euclidean.n_projections == 0
    assert euclidean.kkt_residual <= 1e-6 and euclidean.constr_violation > 1e-7
    np.testing.assert_allclose(euclidean.x[4], res.x[4], rtol=1e-6)  # x5 stays


def _hs27_perturbed():
    """HS27 from the wide table's seed-1 start (bench/constrained/s2mpj_wide.py,
    --start-seed 1) and lambda_0 = 0, rng 0: ``optkit.minimize`` keywords."""
    kw = BY_NAME["HS27"].scipy_kwargs()
    kw["x0"] = np.array([1.8829963926270874, 2.0213268999853375, 1.9458996033157356])
    return dict(kw, method="al-newton", options={"rng": 0, "lam0": np.zeros(1)})


def test_projection_takes_the_least_squares_multipliers_where_the_kept_ones_fail():
    """HS27 (min 0.01 (x1 - 1)^2 + (x2 - x1^2)^2 subject to x1 + x3^2 + 1 = 0; x* = (-1, 1, 0),
    f* = 0.04) from a perturbed start (bench/constrained/s2mpj_wide.py, --start-seed 1) and
    lambda_0 = 0: the run stops at |c| = 1.9e-7; after the projection the Newton multipliers leave
    ||grad L|| = 1.7e-6 > tol, the least-squares ones of the projected point 7.8e-7. The
    result is x+ with those multipliers (numpy's lstsq of grad c^T lambda = -grad f)."""
    kw = _hs27_perturbed()
    res = optkit.minimize(**kw)
    assert res.success and res.n_projections == 1
    assert res.constr_violation <= 1e-14 and res.kkt_residual <= 1e-6
    assert res.fun == pytest.approx(0.04, abs=1e-10)
    cons = kw["constraints"][0]
    expected = np.linalg.lstsq(np.atleast_2d(cons.jac(res.x)).T, -kw["jac"](res.x),
                               rcond=None)[0]
    np.testing.assert_allclose(res.multipliers, expected, rtol=1e-10)


def test_least_squares_multipliers_when_lapack_svd_does_not_converge(monkeypatch):
    """numpy's lstsq raised LinAlgError ("SVD did not converge") inside the line search's
    least-squares multipliers on S2MPJ MSS1 (seed-3 start, multithreaded OpenBLAS) and the
    run crashed. With every gelsd call failing, the HS27 run above ends as before."""
    args = _hs27_perturbed()
    reference = optkit.minimize(**args)

    def svd_fails(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge in Linear Least Squares")

    monkeypatch.setattr(np.linalg, "lstsq", svd_fails)
    res = optkit.minimize(**args)
    assert res.success and res.n_projections == reference.n_projections == 1
    np.testing.assert_allclose(res.x, reference.x, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res.multipliers, reference.multipliers, rtol=1e-10)


def test_initial_multipliers_are_least_squares_without_bounds():
    """lam0=None: with safeguards="robust" and no bounds the run starts from the
    least-squares multipliers of x0, -G grad f / (G G^T) for one row (closed form), in the
    user's units under active scaling (HS7 with f * 1e5, c * 1e3); zeros where that is
    above LAMBDA_INIT_MAX in the scaled problem (IPOPT's rule: HS7 at x0 = (0, 1e-4), where
    G = (0, 2e-4) and lambda_LS = 5e3), with safeguards="paper", with bounds, and on the
    sparse path (a factorization of G G^T there)."""
    from optkit.constrained.al_newton import LAMBDA_INIT_MAX

    def start(fun, x0, kw, **options):
        return optkit.minimize(fun, x0, method="al-newton", options=dict(maxiter=0, **options),
                               **kw).multipliers

    fun, x0, kw = _hs7(1e5, 1e3)
    g, G = kw["jac"](x0), kw["constraints"][0].jac(x0)
    np.testing.assert_allclose(start(fun, x0, kw), -(G @ g) / (G @ G.T).ravel(), rtol=1e-12)
    np.testing.assert_array_equal(start(fun, x0, kw, safeguards="paper"), [0.0])
    np.testing.assert_array_equal(start(fun, x0, kw, linear_algebra="sparse"), [0.0])
    np.testing.assert_array_equal(
        start(fun, x0, dict(kw, bounds=scipy.optimize.Bounds([-10.0, -10.0], [10.0, 10.0]))),
        [0.0])
    fun, _, kw = _hs7()
    for x2, expected in ((1e-2, 1.0 / 2e-2), (1e-4, 0.0)):
        assert (expected == 0.0) == (1.0 / (2 * x2) > LAMBDA_INIT_MAX)
        np.testing.assert_allclose(start(fun, np.array([0.0, x2]), kw), [expected], rtol=1e-12)
