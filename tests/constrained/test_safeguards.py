"""The robust safeguards of al-newton (``safeguards="robust"``, the default), each against an
independent oracle (closed form or SLSQP); where a paper-mode run fails on the same input,
that is asserted too. The minimal Hessian shift is tested in test_al_newton.py
(test_modified_reduced_hessian_is_at_least_xi_B), the S2MPJ regressions in test_s2mpj.py."""


import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import NonlinearConstraint

import optkit
from optkit.constrained._scaling import scale_factors
from optkit.constrained.al_newton import AL_STATUS, STALL_WINDOW, ALNewton


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
