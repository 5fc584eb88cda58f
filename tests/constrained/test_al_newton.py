"""al-newton on the HS/BT test bed (spec constrained.md §8), unit checks and bad inputs."""

import time
import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
import sympy
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint

import optkit
from optkit.constrained import al_newton
from optkit.constrained.al_newton import ALNewton, merit_gradient
from optkit.constrained.hs import BY_NAME, tier
from optkit.core import STATUS, Problem
from optkit.core.constraints import ConstraintOracle

from .conftest import assert_optimal, solve_hs

CORE = [p.name for p in tier("core")]


# ---------------------------------------------------------------- §8.1 robust core
@pytest.mark.parametrize("name", CORE)
def test_robust_core_paper_rk(name):
    assert_optimal(BY_NAME[name], solve_hs(BY_NAME[name]))


@pytest.mark.parametrize("name", CORE)
def test_robust_core_relative_rk(name):
    assert_optimal(BY_NAME[name], solve_hs(BY_NAME[name], accuracy="relative"))


@pytest.mark.parametrize("options", [
    {"sketch": "gaussian"}, {"sketch": "block-rk", "block_size": 2},
    {"sketch": "block-gaussian", "block_size": 2}, {"sketch": "rk", "sampling": "rownorm"},
    {"sketch": "direct"}, {"sketch": "minres"},
    {"sketch": "gaussian", "linear_algebra": "matrix-free", "accuracy": "relative"},
    {"sketch": "minres", "linear_algebra": "matrix-free"},
], ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("name", ["HS7", "HS40"])
def test_core_subset_other_sketches(name, options):
    assert_optimal(BY_NAME[name], solve_hs(BY_NAME[name], **options))


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    {"sketch": "gaussian"}, {"sketch": "block-rk", "block_size": 2, "accuracy": "relative"},
    {"sketch": "gaussian", "accuracy": "relative"}, {"sketch": "direct"},
    {"sketch": "minres", "linear_algebra": "matrix-free"},
], ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("name", CORE)
def test_robust_core_all_sketches(name, options):
    assert_optimal(BY_NAME[name], solve_hs(BY_NAME[name], **options))


def test_relative_mode_needs_fewer_sketch_steps():
    paper = relative = 0
    for name in ("HS6", "HS7", "HS27", "HS39", "HS40", "HS42"):
        paper += solve_hs(BY_NAME[name], safeguards="paper").n_inner
        relative += solve_hs(BY_NAME[name], accuracy="relative", safeguards="paper").n_inner
    assert relative * 3 < paper


# ---------------------------------------------------------------- §8.2 reference counts
# outer iterations of the reference (AdaSketch-Newton RK result files), paper mode, tol 1e-4
REFERENCE_RK = {"HS6": 9, "HS7": 10, "HS28": 1, "HS40": 3, "HS42": 4, "HS48": 1, "HS50": 8,
                "HS51": 1, "HS52": 1, "HS56": 5, "HS77": 8, "HS78": 4, "HS79": 4, "BT2": 11,
                "BT3": 1, "BT5": 5, "BT6": 8, "HS39": 10, "BT10": 7, "BT11": 7, "BT12": 9,
                "HS100LNP": 9}
REFERENCE_GV = {**REFERENCE_RK, "HS52": 2, "BT2": 12, "BT6": 9, "HS39": 12, "BT12": 5}


def _within(nit, ref):
    return abs(nit - ref) <= max(2, 0.3 * ref)


def test_reference_outer_iterations_rk():
    """The reference code keeps capped sketch iterates: inner_fallback="none", a pure sketch
    run (no LU fallback; the default "direct" uses LU on HS6, HS7, HS39, ... here)."""
    bad = {}
    for name, ref in REFERENCE_RK.items():
        res = solve_hs(BY_NAME[name], tol=1e-4, inner_fallback="none", safeguards="paper")
        if res.status != 0 or not _within(res.nit, ref) or res.n_direct_fallback:
            bad[name] = (res.status, res.nit, ref, res.n_direct_fallback)
    assert not bad


@pytest.mark.slow
def test_reference_outer_iterations_gaussian():
    bad = {}
    for name, ref in REFERENCE_GV.items():
        res = solve_hs(BY_NAME[name], tol=1e-4, sketch="gaussian", inner_fallback="none",
                       safeguards="paper")
        if res.status != 0 or not _within(res.nit, ref) or res.n_direct_fallback:
            bad[name] = (res.status, res.nit, ref, res.n_direct_fallback)
    assert not bad


# ---------------------------------------------------------------- degenerate and no-assert tiers
@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in tier("degenerate")])
def test_degenerate_never_garbage(name):
    p = BY_NAME[name]
    res = solve_hs(p, tol=1e-6, maxiter=200)
    # 5: the robust progress test (BT8: no multipliers at x*), which ends feasible near f*
    assert res.status in (0, 1, 5, 7), res.message
    assert np.all(np.isfinite(res.x)) and np.isfinite(res.fun)
    if res.status in (0, 5):
        assert abs(res.fun - p.f_star) <= 1e-4 * max(1.0, abs(p.f_star))
    if res.status == 5:
        assert res.constr_violation <= 1e-6 and "No progress" in res.message
    if res.status != 0:
        assert not res.success and res.message


@pytest.mark.parametrize("name", [p.name for p in tier("no-assert")])
def test_no_assert_tier_feasible_when_successful(name):
    res = solve_hs(BY_NAME[name], tol=1e-6, maxiter=60, accuracy="relative")
    assert np.all(np.isfinite(res.x))
    if res.success:
        assert res.constr_violation <= 1e-6 and res.kkt_residual <= 1e-6
    else:
        assert res.message


def test_known_alternative_optima():
    """BT4 and MWRIGHT reach the optima SLSQP/IPOPT report (spec §8.1)."""
    bt4 = solve_hs(BY_NAME["BT4"])
    assert bt4.success and bt4.fun == pytest.approx(-45.5105507, rel=1e-8)
    mw = solve_hs(BY_NAME["MWRIGHT"])
    assert mw.success and mw.fun == pytest.approx(24.9788095, rel=1e-8)


# ---------------------------------------------------------------- unit checks
def test_hs7_constants_of_the_accuracy_condition():
    res = solve_hs(BY_NAME["HS7"], maxiter=1, safeguards="paper")
    rec = res.trace.records[1]
    assert rec["hess_shift"] == pytest.approx(0.34, rel=1e-9)
    assert rec["psi"] == pytest.approx(200.0, rel=1e-9)
    assert rec["upsilon"] == pytest.approx(40.1995, rel=1e-5)
    assert rec["delta_trial"] == pytest.approx(2.9467e-10, rel=1e-4)
    assert rec["K_norm"] == pytest.approx(56.85, rel=1e-3)
    assert rec["rtol"] == pytest.approx(1e-6 / (56.85 * 200), rel=1e-3)


def _sym(p):
    x = sympy.symbols(f"x0:{p.n}", real=True)
    lam = sympy.symbols(f"l0:{len(p.c(x))}", real=True)
    L = p.f(x) + sum(li * ci for li, ci in zip(lam, p.c(x)))
    return x, lam, L


@pytest.mark.parametrize("safeguards", ["paper", "robust"])
@pytest.mark.parametrize("name", ["HS7", "HS39", "HS77", "BT12"])
def test_modified_reduced_hessian_is_at_least_xi_B(name, safeguards):
    """Z^T B Z >= xi_B against a sympy Hessian and scipy's null space; the robust shift
    puts lambda_min(Z^T B Z) exactly at xi_B + |lambda_min(Z^T H Z)| (xi_B times the
    objective scale s_f; the negative curvature mirrored), or is 0 where Z^T H Z is
    positive definite in the Jacobi-scaled variables. lambda_0 is 0 (paper) or the
    least-squares multipliers of x0 (robust)."""
    p = BY_NAME[name]
    res = solve_hs(p, maxiter=1, safeguards=safeguards)
    t = res.trace.records[1]["hess_shift"]
    x, lam, L = _sym(p)
    at_x0 = dict(zip(x, p.x0))
    G = np.array(sympy.Matrix(p.c(x)).jacobian(x).subs(at_x0), dtype=float)
    lam0 = np.zeros(len(lam))
    if safeguards == "robust":
        grad = np.array(sympy.Matrix([p.f(x)]).jacobian(x).subs(at_x0), dtype=float).ravel()
        lam0 = scipy.linalg.lstsq(G.T, -grad)[0]
    # the iteration sees s_f f and D c (robust scaling), with multipliers s_f D^-1 lambda_0:
    # H = s_f grad^2 L(x0, lambda_0), and Z, the null space of D G, is that of G
    subs = at_x0 | dict(zip(lam, lam0))
    H = res.scaling[0] * np.array(sympy.hessian(L, x).subs(subs), dtype=float)
    Z = scipy.linalg.null_space(G)
    xi_B, tol = (0.1, 1e-6) if safeguards == "paper" else (0.1 * res.scaling[0],
                                                            1e-6 * res.scaling[0])
    lam_min_B = np.linalg.eigvalsh(Z.T @ (H + t * np.eye(p.n)) @ Z)[0]
    lam_min_H = np.linalg.eigvalsh(Z.T @ H @ Z)[0]
    if lam_min_H >= tol:  # no shift: Z^T B Z = Z^T H Z >= hess_mod_tol
        assert t == 0.0
    elif safeguards == "paper":
        assert lam_min_B >= xi_B - 1e-10
    elif t == 0.0:  # robust: positive definite in the Jacobi-scaled variables
        d = 1.0 / np.sqrt(np.abs(np.diag(H)))
        Z_d = scipy.linalg.null_space(G * d)
        assert np.linalg.eigvalsh(Z_d.T @ (d[:, None] * H * d) @ Z_d)[0] >= 1e-6
    else:  # robust: the smallest shift, or the negative curvature mirrored
        assert lam_min_B == pytest.approx(xi_B + max(-lam_min_H, 0.0))


@pytest.mark.parametrize("linear_algebra", ["dense", "sparse"])
def test_badly_scaled_convex_problem_takes_the_unshifted_newton_step(linear_algebra):
    """Variables of size 1e-3 to 1e7 (curvatures 1e6 to 1e-14, as in S2MPJ HS54): the
    reduced Hessian is positive definite, but its smallest eigenvalue is below hess_mod_tol,
    and the shift xi_B cut every step to a sliver of Newton's (2000 iterations, x off by
    100%). The robust test in the Jacobi-scaled variables passes (dense: the reduced
    Hessian's eigenvalues; sparse: scaled diagonal dominance), and the convex QP is solved
    by one Newton step. The oracle: the KKT system solved by numpy."""
    sigma = np.array([1e-3, 1.0, 1e5, 1e7, 30.0])
    mu = np.array([0.5, -1.0, 1e6, -3e7, 100.0])
    A = np.array([[1.0, 0.0, 1e-5, 0.0, 0.0], [0.0, 1.0, 0.0, 1e-7, 0.01]])
    b = np.array([1.0, 2.0])
    w = 1.0 / sigma**2
    kkt = np.block([[np.diag(w), A.T], [A, np.zeros((2, 2))]])
    x_star = np.linalg.solve(kkt, np.concatenate([w * mu, b]))[:5]
    res = optkit.minimize(lambda x: 0.5 * w @ (x - mu) ** 2, np.zeros(5), method="al-newton",
                          jac=lambda x: w * (x - mu), hess=lambda x: sp.diags_array(w),
                          constraints=[LinearConstraint(A, b, b)],
                          options={"rng": 0, "linear_algebra": linear_algebra})
    assert res.success and res.nit <= 3
    assert res.trace.records[1]["hess_shift"] == 0.0
    np.testing.assert_allclose(res.x, x_star, rtol=1e-10)


def test_merit_gradient_matches_finite_differences():
    p = BY_NAME["HS77"]
    x, lam, L = _sym(p)
    c = sympy.Matrix(p.c(x))
    grad_x = sympy.Matrix([sympy.diff(L, v) for v in x])
    mu, nu = 2.5, 0.3
    merit = L + mu / 2 * (c.T @ c)[0] + nu / 2 * (grad_x.T @ grad_x)[0]
    merit_f = sympy.lambdify([x + lam], merit)
    rng = np.random.default_rng(0)
    x0, l0 = rng.uniform(0.5, 2.0, 5), rng.standard_normal(2)
    subs = dict(zip(x + lam, np.concatenate([x0, l0])))
    gl = np.array(grad_x.subs(subs), dtype=float).ravel()
    cv = np.array(c.subs(subs), dtype=float).ravel()
    G = np.array(c.jacobian(x).subs(subs), dtype=float)
    H = np.array(sympy.hessian(L, x).subs(subs), dtype=float)
    got = merit_gradient(gl, cv, G.T @ cv, G @ gl, H @ gl, mu, nu)
    z, h = np.concatenate([x0, l0]), 1e-6
    fd = np.array([(merit_f(z + h * e) - merit_f(z - h * e)) / (2 * h) for e in np.eye(7)])
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-6)


def test_duplicated_constraint_is_singular_at_iteration_zero():
    """The reference's absolute test stops at x0; the default relative one sketches the
    consistent (singular) KKT system and reaches the KKT point x* of HS28."""
    p = BY_NAME["HS28"]
    kw = p.scipy_kwargs()
    A = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    kw["constraints"] = [LinearConstraint(A, 1.0, 1.0)]
    fun, x0 = kw.pop("fun"), kw.pop("x0")
    res = optkit.minimize(fun, x0, method="al-newton", options={"singular_test": "absolute",
                                                                "singular_tol": 1e-2}, **kw)
    assert res.status == 7 and not res.success and res.nit == 0
    assert "rank-deficient" in res.message
    res = optkit.minimize(fun, x0, method="al-newton", options={"tol": 1e-8, "rng": 0}, **kw)
    assert res.success and res.kkt_residual <= 1e-8
    np.testing.assert_allclose(res.x, p.x_star, atol=1e-6)


def test_penalty_and_budget_statuses_are_reachable():
    """One Kaczmarz step per pass, no exact fallback: no sufficient descent. At the safeguards a direction with a
    negative merit slope is still taken (as the reference code does); a non-descent one ends
    the run (status 8); unreachable safeguards let the sketch budget end it (status 5)."""
    p = BY_NAME["HS7"]
    res = solve_hs(p, max_inner=1, mu_max=2.0, sketch="rk", inner_fallback="none",
                   safeguards="paper")
    assert res.status == STATUS["penalty"] and not res.success and "safeguards" in res.message
    assert res.trace["safeguard_step"][1:].max() == 1.0 or res.nit == 1
    # (a stream whose 1-step passes never give descent in one Newton step; others end
    # earlier in a failed line search, status 2)
    res = solve_hs(p, max_inner=1, mu_max=1e300, nu_min=1e-300, sketch="rk",
                   inner_fallback="none", rng=5, safeguards="paper")
    assert res.status == STATUS["stalled"] and not res.success and "budget" in res.message


# ---------------------------------------------------------------- faces and paths
def test_scipy_face_and_tol():
    p = BY_NAME["HS7"]
    kw = p.scipy_kwargs()
    res = scipy.optimize.minimize(kw.pop("fun"), kw.pop("x0"), method=optkit.get_method("al-newton"),
                                  tol=1e-9, options={"rng": 1}, **kw)
    assert res.success and res.kkt_residual <= 1e-9
    assert res.fun == pytest.approx(-np.sqrt(3), abs=1e-9)


def test_result_fields_and_constraint_counts():
    p = BY_NAME["HS40"]
    kw = p.scipy_kwargs()
    calls = {"c": 0}
    con = kw["constraints"][0]
    inner = con.fun

    def counted(x):
        calls["c"] += 1
        return inner(x)

    kw["constraints"] = [NonlinearConstraint(counted, 0.0, 0.0, jac=con.jac, hess=con.hess)]
    res = optkit.minimize(kw.pop("fun"), kw.pop("x0"), method="al-newton", options={"rng": 0},
                          **kw)
    for key in ("multipliers", "constr_violation", "optimality", "kkt_residual", "constr_nfev",
                "constr_njev", "constr_nhev", "penalty", "n_inner", "n_direct_fallback", "inner_flops",
                "setup_flops", "jac"):
        assert key in res
    # one evaluation builds the oracle's shape, the rest are the solver's
    assert res.constr_nfev == calls["c"] - 1
    assert res.multipliers.shape == (3,)
    for key in ("kkt", "mu", "nu", "inner_steps", "alpha", "constr_violation"):
        assert key in res.trace.keys()


def test_public_function_and_unconstrained_newton():
    from scipy.optimize import rosen, rosen_der, rosen_hess_prod

    problem = Problem.from_scipy(rosen, [-1.2, 1.0], jac=rosen_der, hessp=rosen_hess_prod)
    problem.constraints = ConstraintOracle([], 2)
    res = al_newton(problem, tol=1e-10, rng=0, sketch="direct")
    assert res.success
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-8)


def test_finite_difference_hessian_warns_and_converges():
    p = BY_NAME["HS42"]
    with pytest.warns(RuntimeWarning, match="forward differences"):
        res = solve_hs(p, hess=False, tol=1e-7)
    assert res.success and res.fun == pytest.approx(p.f_star, rel=1e-7)


def test_hessian_in_merit_objective_and_theta_schedule():
    p = BY_NAME["HS7"]
    assert_optimal(p, solve_hs(p, hessian_in_merit="objective"))
    assert_optimal(p, solve_hs(p, theta=lambda k: 0.5**k, lam0="ls"))


def test_matrix_free_sparse_projection_matches_closed_form():
    """min ||x - a||^2 / 2 s.t. Ax = b with sparse A (n = 1500 > dense limit)."""
    rng = np.random.default_rng(0)
    n, m = 1500, 20
    A = sp.random(m, n, density=0.01, random_state=1, format="csr") + sp.eye(m, n)
    b, a = rng.standard_normal(m), rng.standard_normal(n)
    Ad = A.toarray()
    x_star = a - Ad.T @ np.linalg.solve(Ad @ Ad.T, Ad @ a - b)
    res = optkit.minimize(lambda x: 0.5 * float((x - a) @ (x - a)), np.zeros(n), method="al-newton",
                          jac=lambda x: x - a, hessp=lambda x, v: v,
                          constraints=[LinearConstraint(A, b, b)],
                          options={"sketch": "minres", "tol": 1e-8, "rng": 0})
    assert res.success
    np.testing.assert_allclose(res.x, x_star, atol=1e-7)


# ---------------------------------------------------------------- bad input
def _hs7_kwargs():
    kw = BY_NAME["HS7"].scipy_kwargs()
    return kw.pop("fun"), kw.pop("x0"), kw


def test_inequality_constraints_rejected():
    fun, x0, kw = _hs7_kwargs()
    con = kw["constraints"][0]
    kw["constraints"] = [NonlinearConstraint(con.fun, -1.0, 1.0, jac=con.jac)]
    with pytest.raises(ValueError, match="equality"):
        optkit.minimize(fun, x0, method="al-newton", **kw)
    problem = Problem.from_scipy(fun, x0, jac=kw["jac"], constraints=kw["constraints"])
    with pytest.raises(ValueError, match="equality constraints only"):
        al_newton(problem)


def test_inactive_bounds_keep_the_solution_and_missing_constraints_rejected():
    fun, x0, kw = _hs7_kwargs()
    res = optkit.minimize(fun, x0, method="al-newton", bounds=Bounds(-5, 5), **kw)
    assert res.success and res.barrier_parameter <= 1e-7
    np.testing.assert_allclose(res.x, [0.0, np.sqrt(3.0)], atol=1e-6)  # HS7's x*
    assert np.max(np.abs(res.bound_multipliers)) < 1e-6
    with pytest.raises(ValueError, match="constraints"):
        optkit.minimize(fun, x0, method="al-newton", jac=kw["jac"], bounds=Bounds(-5, 5))
    with pytest.raises(ValueError, match="bounds: lb must be <= ub"):
        optkit.minimize(fun, x0, method="al-newton", bounds=Bounds([0, 1], [1, 0]), **kw)


def _box_problem(points):
    """min (x1 - 2)^2 + (x2 - 2)^2 + (x3 - 1)^2 s.t. x1 + x2 + x3^2 = 2, x1 <= 0.3,
    x2 >= -1, x3 = 0.5 (fixed). Closed form: x* = (0.3, 1.45, 0.5), f* = 3.4425,
    lambda* = 1.1 (from d/dx2), bound multipliers z = grad f + G^T lambda = (-2.3, 0, 0.1)
    (upper bound of x1 active, x3 fixed). ``points`` records where f is evaluated."""
    target = np.array([2.0, 2.0, 1.0])

    def fun(x):
        points.append(np.array(x))
        return float((x - target) @ (x - target))

    con = NonlinearConstraint(lambda x: np.array([x[0] + x[1] + x[2] ** 2]), 2.0, 2.0,
                              jac=lambda x: np.array([[1.0, 1.0, 2 * x[2]]]),
                              hess=lambda x, v: np.diag([0.0, 0.0, 2 * v[0]]))
    return dict(fun=fun, jac=lambda x: 2 * (x - target), hess=lambda x: 2 * np.eye(3),
                constraints=[con], bounds=Bounds([-np.inf, -1.0, 0.5], [0.3, np.inf, 0.5]))


@pytest.mark.parametrize("safeguards", ["robust", "paper"])
def test_active_and_fixed_bounds_match_the_closed_form(safeguards):
    points = []
    res = optkit.minimize(x0=np.zeros(3), method="al-newton", **_box_problem(points),
                          options={"rng": 0, "safeguards": safeguards})
    assert res.success
    np.testing.assert_allclose(res.x, [0.3, 1.45, 0.5], atol=1e-6)
    assert res.fun == pytest.approx(3.4425, abs=1e-6)
    np.testing.assert_allclose(res.multipliers, [1.1], atol=1e-5)
    np.testing.assert_allclose(res.bound_multipliers, [-2.3, 0.0, 0.1], atol=1e-5)
    assert res.x[0] < 0.3 and res.x[2] == 0.5  # strictly inside; the fixed one exact
    assert all(p[0] < 0.3 and p[1] > -1.0 and p[2] == 0.5 for p in points)


def test_dual_step_is_ipopts():
    """``BoxProblem.update_duals`` against Wächter and Biegler (2006) by hand: the Newton
    step of the complementarity (eq. (12)), its fraction to the boundary (15b) and the
    kappa_sigma safeguard (16); the barrier block Sigma = z/gap."""
    from optkit.constrained._box import KAPPA_SIGMA, BoxProblem

    fun, x0, kw = _hs7_kwargs()
    problem = Problem.from_scipy(fun, x0, jac=kw["jac"], constraints=kw["constraints"])
    box = BoxProblem(problem, np.array([0.0, -np.inf]), np.array([np.inf, 1.0]), mu=0.1)
    x = np.array([0.5, 0.5])
    box.reset_duals(x)
    assert box.primal and box.z_lo == pytest.approx([0.2]) and box.z_hi == pytest.approx([0.2])
    box.z_lo, box.z_hi = np.array([0.3]), np.array([0.1])
    # dz_lo = 0.1/0.5 - 0.3 + 0.3/0.5 * 0.25 = 0.05, dz_hi = 0.2 - 0.1 + 0.2 * 0.25 = 0.15
    box.update_duals(x, np.array([-0.25, 0.25]), np.array([0.25, 0.75]), tau=0.99)
    assert not box.primal
    np.testing.assert_allclose([box.z_lo[0], box.z_hi[0]], [0.35, 0.25])
    np.testing.assert_allclose(box.barrier_diag(np.array([0.25, 0.75])), [1.4, 1.0])
    np.testing.assert_allclose(box.barrier_diag(np.array([0.25, 0.75]), primal=True),
                               [1.6, 1.6])
    # moving away from the lower bound: dz_lo = 0.2 - 0.3 - 0.6 = -0.7, alpha_z = 0.99 *
    # 0.3 / 0.7 for both duals; z_hi's step dz_hi = 0.2 - 0.1 - 0.2 = -0.1
    box.z_lo, box.z_hi = np.array([0.3]), np.array([0.1])
    box.update_duals(x, np.array([1.0, -1.0]), np.array([0.6, 0.4]), tau=0.99)
    alpha = 0.99 * 0.3 / 0.7
    np.testing.assert_allclose([box.z_lo[0], box.z_hi[0]], [0.3 - 0.7 * alpha, 0.1 - 0.1 * alpha])
    # far off the central path: alpha_z = 0.99 (z_lo's step), z_lo + 0.99 dz_lo = 1e10 + 0.198
    # is cut to KAPPA_SIGMA * 0.2, z_hi = 1e-20 + 0.99 * 0.2 kept
    box.z_lo, box.z_hi = np.array([1e12]), np.array([1e-20])
    box.update_duals(x, np.zeros(2), x, tau=0.99)
    np.testing.assert_allclose([box.z_lo[0], box.z_hi[0]], [KAPPA_SIGMA * 0.2, 0.99 * 0.2])


def _bounded_qp_against_cvxpy(P, q, A, b, lo, hi, options, atol=1e-6, rtol=0.0):
    """al-newton on min x^T P x / 2 + q^T x, A x = b, lo <= x <= hi against cvxpy/Clarabel
    (an independent interior-point solver): x to ``atol``, multipliers and bound multipliers
    to 10 ``atol`` plus ``rtol`` relative; returns the number of active bounds."""
    cp = pytest.importorskip("cvxpy")
    n = q.size
    il, iu = np.flatnonzero(np.isfinite(lo)), np.flatnonzero(np.isfinite(hi))
    x = cp.Variable(n)
    eq, lower, upper = A @ x == b, x[il] >= lo[il], x[iu] <= hi[iu]
    cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, P, assume_PSD=True) + q @ x),
               [eq, lower, upper]).solve(solver=cp.CLARABEL, tol_gap_abs=1e-10,
                                         tol_gap_rel=1e-10, tol_feas=1e-10)
    z = np.zeros(n)
    z[il] += lower.dual_value
    z[iu] -= upper.dual_value
    res = optkit.minimize(lambda v: 0.5 * v @ (P @ v) + q @ v, np.zeros(n), method="al-newton",
                          jac=lambda v: P @ v + q, hess=lambda v: P,
                          constraints=[LinearConstraint(A, b, b)], bounds=Bounds(lo, hi),
                          options={"rng": 0, **options})
    assert res.success and res.kkt_residual <= 1e-6
    np.testing.assert_allclose(res.x, x.value, atol=atol)
    np.testing.assert_allclose(res.multipliers, eq.dual_value, atol=10 * atol, rtol=rtol)
    np.testing.assert_allclose(res.bound_multipliers, z, atol=10 * atol, rtol=rtol)  # signs
    return int(np.sum(np.isclose(x.value, lo, atol=1e-6) | np.isclose(x.value, hi, atol=1e-6)))


def _box_bounds(n):
    lo = np.where(np.arange(n) % 3 == 0, -np.inf, -0.5)
    hi = np.where(np.arange(n) % 4 == 1, np.inf, 0.5)
    return lo, hi


@pytest.mark.parametrize("safeguards, scale", [("robust", 1.0), ("paper", 1.0),
                                               ("robust", 10.0), ("robust", 1e3)])
def test_bounded_convex_qp_matches_cvxpy(safeguards, scale):
    """A strictly convex QP with 10 equality rows and 57 finite bounds on 40 variables, 16
    of them active at x*; also with f times 10 and 1000 (the same x*, multipliers times
    ``scale``). (With the last barrier parameter 1e-9 the KKT residual stalled at 1.4e-6
    here: the rounding floor of the barrier gradient, see ``ALNewton._barrier_mu_min``;
    with f times 10 it stalled at 1.8e-6 > tol at the last barrier parameter, status 5,
    until the success test discounted that floor, ``ALNewton._kkt_net_of_rounding``.) The
    bound multipliers beta/(x - l) carry the same rounding, 2 eps |x| z / beta relative:
    1e-6 at z = 8700, beta = 1e-7."""
    rng = np.random.default_rng(3)
    n, m = 40, 10
    M = rng.standard_normal((n, n))
    P, q = scale * (M @ M.T / n + np.eye(n)), 3.0 * scale * rng.standard_normal(n)
    A = rng.standard_normal((m, n))
    lo, hi = _box_bounds(n)
    b = A @ np.clip(0.1 * rng.standard_normal(n), lo, hi)
    assert _bounded_qp_against_cvxpy(P, q, A, b, lo, hi, {"safeguards": safeguards},
                                     rtol=1e-5 if scale > 1 else 0.0) == 16


def test_primal_dual_merit_slope_matches_finite_differences_under_scaling(monkeypatch):
    """With bounds the Newton matrix holds IPOPT's primal-dual block Sigma while the merit
    is that of the primal barrier problem, so the merit's slope along the Newton direction
    corrects H grad L by (beta/gap^2 - Sigma) grad L; under the robust scaling that term is
    s_f times the user's barrier (it was not scaled: on S2MPJ HS119 the slopes came out up
    to 20x too steep, the primal-dual line searches failed, 73 iterations instead of 23).
    The oracle: central differences of the merit along the direction. The QP of
    ``test_bounded_convex_qp_matches_cvxpy`` from x0 with its three free variables at 1000,
    where ||grad f||_inf > 100, so that s_f < 1."""
    rng = np.random.default_rng(3)
    n, m = 40, 10
    M = rng.standard_normal((n, n))
    P, q = M @ M.T / n + np.eye(n), 3.0 * rng.standard_normal(n)
    A = rng.standard_normal((m, n))
    lo, hi = _box_bounds(n)
    b = A @ np.clip(0.1 * rng.standard_normal(n), lo, hi)
    x0 = np.where(np.isinf(lo) & np.isinf(hi), 1e3, 0.0)
    line_search, checked = ALNewton._line_search, []

    def checking_line_search(self, problem, s, z, slope):
        if not s.box.primal:
            def merit(h):
                x, lam = s.x + h * z[:n], s.lam + h * z[n:]
                f, _, c, _, gl = self._eval(problem, x, lam)
                return f + lam @ c + 0.5 * s.mu * (c @ c) + 0.5 * s.nu * (gl @ gl)

            h = 1e-6 / max(1.0, float(np.linalg.norm(z)))
            checked.append((slope, (merit(h) - merit(-h)) / (2 * h), s.view.s_f))
        return line_search(self, problem, s, z, slope)

    monkeypatch.setattr(ALNewton, "_line_search", checking_line_search)
    res = optkit.minimize(lambda v: 0.5 * v @ (P @ v) + q @ v, x0, method="al-newton",
                          jac=lambda v: P @ v + q, hess=lambda v: P,
                          constraints=[LinearConstraint(A, b, b)], bounds=Bounds(lo, hi),
                          options={"rng": 0})
    assert res.success and len(checked) >= 5
    slope, fd, s_f = np.array(checked[:5]).T
    assert np.all(s_f < 1.0)
    np.testing.assert_allclose(slope, fd, rtol=1e-4)


def test_sparse_bounded_convex_qp_matches_cvxpy():
    """The sparse path with bounds: a sparse strictly convex QP (Gershgorin bound < 0) with
    60 rows on 300 variables, 111 active bounds. Near them the barrier block reaches
    ||H|| ~ 1e8, where Lanczos on the reduced Hessian fails; its fallback shift
    xi_B + ||H|| made Newton crawl (status 8 after 57 s before
    ``_kkt.reduced_min_eig`` took the barrier block apart). 1e-5: at the last
    barrier parameter beta ~ 3e-8 a bound with z = 5.8e-3 is held at x - l = beta/z."""
    rng = np.random.default_rng(3)
    n, m = 300, 60
    R = sp.random(n, n, density=2 / n, random_state=rng)
    P = sp.csr_array(sp.diags(3.0 + rng.random(n)) + R + R.T)
    q = 3.0 * rng.standard_normal(n)
    A = sp.csr_array(sp.random(m, n, density=5 / n, random_state=rng)
                     + sp.hstack([sp.identity(m), sp.csr_matrix((m, n - m))]))
    lo, hi = _box_bounds(n)
    b = A @ np.clip(0.1 * rng.standard_normal(n), lo, hi)
    options = {"linear_algebra": "sparse", "sketch": "direct"}
    assert _bounded_qp_against_cvxpy(P, q, A, b, lo, hi, options, atol=1e-5) == 111


def test_more_constraints_than_variables():
    """m > n: the paper's iteration (LICQ) rejects them; the robust default starts with a
    restoration. Consistent rows x1 = 0, x2 = 0, 0 = 0: the origin is the only feasible
    point (closed form) and G^T is onto there, so the KKT residual is zero."""
    fun, x0, kw = _hs7_kwargs()
    kw["constraints"] = [LinearConstraint(np.eye(3, 2), 0.0, 0.0)]
    with pytest.raises(ValueError, match="constraints: 3 equality constraints on 2 variables"):
        optkit.minimize(fun, x0, method="al-newton", options={"safeguards": "paper"}, **kw)
    res = optkit.minimize(fun, x0, method="al-newton", **kw)
    assert res.success and res.status == 0
    np.testing.assert_allclose(res.x, 0.0, atol=1e-8)


def test_dependent_rows_beyond_n_are_solved_on_the_feasible_manifold():
    """x1 + x2 + x3 = 1 written four times (m = 4 > n = 3), min ||x||^2: the restoration
    reaches the plane, the Newton steps then solve the consistent singular KKT systems:
    x* = (1/3, 1/3, 1/3) (closed form)."""
    A = np.ones((4, 3))
    res = optkit.minimize(lambda x: x @ x, np.array([2.0, -1.0, 0.5]), method="al-newton",
                          jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(3),
                          constraints=[LinearConstraint(A, 1.0, 1.0)], options={"rng": 0})
    assert res.success
    np.testing.assert_allclose(res.x, 1 / 3, atol=1e-8)


def test_inconsistent_overdetermined_constraints_end_at_the_least_squares_point():
    """x1^2 = 1, x1 = 2, x2 = 0 has no solution: status 10 at the least-squares point of
    c(x) = 0, the one scipy's least_squares (MINPACK LM) finds from the same x0."""
    def c(x):
        return np.array([x[0] ** 2 - 1.0, x[0] - 2.0, x[1]])

    def jac(x):
        return np.array([[2 * x[0], 0.0], [1.0, 0.0], [0.0, 1.0]])

    x0 = np.array([3.0, 1.0])
    res = optkit.minimize(lambda x: x[0] + x[1], x0, method="al-newton",
                          jac=lambda x: np.ones(2), hess=lambda x: np.zeros((2, 2)),
                          constraints=[NonlinearConstraint(c, 0.0, 0.0, jac=jac,
                                                           hess=lambda x, v: np.diag([2 * v[0], 0.0]))])
    ref = scipy.optimize.least_squares(c, x0, jac=jac, method="lm", xtol=1e-15, ftol=1e-15,
                                       gtol=1e-15)
    assert res.status == 10 and not res.success and "least-squares point" in res.message
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)
    assert res.constr_violation == pytest.approx(np.max(np.abs(ref.fun)), rel=1e-8)


def test_max_time_holds_inside_the_feasibility_restoration():
    """max_time is checked inside the restoration (its budget is 100 (n + 1) evaluations,
    minutes with slow constraints: S2MPJ LAKES, max_time 60, ran past 200 s). The
    inconsistent system above with 20 ms per constraint call: the full run is measured,
    then max_time at a fifth of it stops with status 9 well before the end, at the least
    ||c|| seen so far."""
    def c(x):
        time.sleep(0.02)
        return np.array([x[0] ** 2 - 1.0, x[0] - 2.0, x[1]])

    def run(**options):
        return optkit.minimize(
            lambda x: x[0] + x[1], np.array([30.0, 10.0]), method="al-newton",
            jac=lambda x: np.ones(2), hess=lambda x: np.zeros((2, 2)),
            constraints=[NonlinearConstraint(
                c, 0.0, 0.0, jac=lambda x: np.array([[2 * x[0], 0.0], [1.0, 0.0], [0.0, 1.0]]),
                hess=lambda x, v: np.diag([2 * v[0], 0.0]))], options=options)

    full = run()
    assert full.status == 10 and full.execution_time > 0.2
    res = run(max_time=full.execution_time / 5)
    assert res.status == 9 and not res.success and "feasibility restoration" in res.message
    assert res.execution_time < full.execution_time / 2
    assert np.linalg.norm(c(res.x)) < np.linalg.norm(c(np.array([30.0, 10.0])))


def test_wrong_jacobian_shape_rejected():
    fun, x0, kw = _hs7_kwargs()
    con = kw["constraints"][0]
    kw["constraints"] = [NonlinearConstraint(con.fun, 0.0, 0.0, jac=lambda x: np.ones((2, 2)))]
    with pytest.raises(ValueError, match="jac must have shape"):
        optkit.minimize(fun, x0, method="al-newton", **kw)


def test_nan_values_stop_with_failure():
    fun, x0, kw = _hs7_kwargs()
    res = optkit.minimize(lambda x: np.nan, x0, method="al-newton", **kw)
    assert not res.success and res.status == 3
    con = kw["constraints"][0]
    kw["constraints"] = [NonlinearConstraint(lambda x: np.array([np.nan]), 0.0, 0.0,
                                             jac=con.jac)]
    res = optkit.minimize(fun, x0, method="al-newton", **kw)
    assert not res.success and res.status == 3 and "not finite" in res.message


@pytest.mark.parametrize("rng", [None, 2, 21])
def test_inconsistent_constraints_fail_with_reason(rng):
    """Seeds 2 and 21 reach the restoration through a failed Newton step at the singular G,
    the others through the crawl test; both end with status 10 (with seeds 2 and 21 the
    singular test used to relabel it 7)."""
    fun, x0, kw = _hs7_kwargs()
    kw["constraints"] = [LinearConstraint(np.array([[1.0, 0.0], [1.0, 0.0]]), [0.0, 1.0],
                                          [0.0, 1.0])]
    res = optkit.minimize(fun, x0, method="al-newton", options={"safeguards": "paper"}, **kw)
    assert not res.success and res.status == 7 and "rank-deficient" in res.message
    # default (robust): the restoration ends at the least-squares point x1 = 1/2 of
    # x1 = 0, x1 = 1 (closed form: ||c|| = sqrt(1/2)) and calls the constraints infeasible
    res = optkit.minimize(fun, x0, method="al-newton", options={"rng": rng}, **kw)
    assert not res.success and res.status == 10 and "infeasible" in res.message
    assert res.x[0] == pytest.approx(0.5, abs=1e-6)
    assert np.linalg.norm(kw["constraints"][0].A @ res.x - [0.0, 1.0]) == pytest.approx(
        np.sqrt(0.5), rel=1e-8)
    # x1^2 + x2^2 = -1 has no real solution
    kw["constraints"] = [NonlinearConstraint(lambda x: np.array([x @ x + 1.0]), 0.0, 0.0,
                                             jac=lambda x: 2 * x[None, :])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = optkit.minimize(fun, x0, method="al-newton", options={"maxiter": 300}, **kw)
    assert not res.success and res.message and res.constr_violation >= 1.0


@pytest.mark.parametrize("options, match", [
    ({"accuracy": "exact"}, "accuracy"), ({"sketch": "lu"}, "sketch"), ({"beta": 0.7}, "beta"),
    ({"rho": 1.0}, "rho"), ({"kappa": 1.5}, "kappa"), ({"theta": "big"}, "theta"),
    ({"lam0": "zeros"}, "lam0"), ({"sketch": "block-rk", "block_size": 1}, "block_size"),
    ({"lam0": [1.0, 2.0]}, "lam0"), ({"tol": -1.0}, "tol"),
])
def test_bad_options(options, match):
    fun, x0, kw = _hs7_kwargs()
    with pytest.raises((ValueError, TypeError), match=match):
        optkit.minimize(fun, x0, method="al-newton", options=options, **kw)


def test_capped_passes_fall_back_to_an_exact_solve():
    """A pass capped at max_inner steps is finished by LU (inner_fallback="direct", default):
    the run converges even with one Kaczmarz step per pass; "none" keeps the capped iterate."""
    p = BY_NAME["HS7"]
    res = solve_hs(p, max_inner=1, sketch="rk")
    assert res.success and res.trace["inner_fallbacks"][1:].min() >= 1
    assert_optimal(p, res)
    # the reference code's iteration (safeguards="paper"): with robust's second-order
    # correction the capped one-step passes happen to converge on HS7
    res = solve_hs(p, max_inner=1, sketch="rk", inner_fallback="none", maxiter=50,
                   safeguards="paper")
    assert not res.success and np.nansum(res.trace["inner_fallbacks"]) == 0


# ---------------------------------------------------------------- facade, rng, LU fallback
def test_facade_takes_rng_and_matches_minimize():
    """``al_newton(problem, rng=0)`` crashed ("multiple values for keyword argument 'seed'");
    it must run the registered method with the same options and give the same iterates."""
    p = BY_NAME["HS7"]
    res = al_newton(p.problem(), rng=0, accuracy="relative", tol=1e-8)
    kw = p.scipy_kwargs()
    ref = optkit.minimize(kw.pop("fun"), kw.pop("x0"), method="al-newton",
                          options={"rng": 0, "accuracy": "relative", "tol": 1e-8}, **kw)
    assert res.success and ref.success
    np.testing.assert_array_equal(res.x, ref.x)
    assert (res.nit, res.n_inner) == (ref.nit, ref.n_inner)
    other = al_newton(p.problem(), rng=1, accuracy="relative", tol=1e-8)
    assert other.n_inner != res.n_inner
    with pytest.raises(TypeError, match="seed"):
        al_newton(p.problem(), seed=0)


def test_pure_sketch_runs_use_no_lu_fallback():
    """A run that claims a pure sketch (``inner_fallback="none"``) reports
    ``n_direct_fallback == 0``; the same capped passes with the default ``"direct"``
    fallback are finished by LU, and the counter shows it."""
    p = BY_NAME["HS7"]
    pure = solve_hs(p, max_inner=50, inner_fallback="none", maxiter=30)
    assert pure.n_direct_fallback == 0
    assert pure.trace["inner_fallbacks"][1:].max() == 0
    assert pure.trace["inner_capped"][1:].max() == 1.0  # the cap was hit: LU was not used
    mixed = solve_hs(p, max_inner=50)
    assert mixed.success and mixed.n_direct_fallback > 0
    assert mixed.n_direct_fallback == int(mixed.trace["inner_fallbacks"][1:].sum())
    # the reference settings of test_reference_outer_iterations_rk need LU on HS6 unless
    # inner_fallback="none": the pure-sketch claim there is not vacuous
    assert solve_hs(BY_NAME["HS6"], tol=1e-4).n_direct_fallback > 0


# ---------------------------------------------------------------- warm start
@pytest.mark.parametrize("sketch", ["direct", "rk"])
def test_a_run_resumed_from_its_result_repeats_the_uninterrupted_run(sketch):
    """x0 = res.x and the result's ``resume`` options (multipliers, penalties, step
    parameters), with the interrupted run's Generator (the sketches draw from it)."""
    p = BY_NAME["HS26"]
    full = al_newton(p.problem(), tol=1e-10, rng=np.random.default_rng(0), sketch=sketch)

    def stop(intermediate_result):
        if intermediate_result.nit == 11:
            raise StopIteration

    gen = np.random.default_rng(0)
    part = al_newton(p.problem(), tol=1e-10, rng=gen, sketch=sketch, callback=stop)
    assert part.status == 99 and full.nit > 11
    problem = p.problem()
    problem.x0 = part.x.copy()
    res = al_newton(problem, tol=1e-10, rng=gen, sketch=sketch, **part.resume)
    assert res.success and res.nit == full.nit - 11
    np.testing.assert_array_equal(res.x, full.x)
    np.testing.assert_array_equal(res.multipliers, full.multipliers)
