"""The comparison methods (AID, V-PBGD, BOME) of ``solve`` on the toys with closed forms."""

import numpy as np
import pytest

from optkit.bilevel import BilevelProblem, solve, toys
from optkit.bilevel.aid import AID
from optkit.bilevel.base import RunView
from optkit.core import run


def test_aid_reaches_x_star_on_the_quadratic():
    p = toys.quadratic()
    res = solve(p, "aid", lr_x=0.25, maxiter=3000, tol=1e-9)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, p.x_star, atol=1e-6)
    assert res.n_inner_hvp > 0 and res.nhev == res.n_inner_hvp
    assert solve(p, sigma=0.1, lr_x=0.25, maxiter=5).n_inner_hvp == 0  # penalty: first order


def test_aid_warns_on_a_singular_lower_level():
    with pytest.warns(RuntimeWarning, match="strongly convex"), np.errstate(all="ignore"):
        res = solve(toys.many_solutions(), "aid", lr_x=0.5, maxiter=50)
    assert not res.success


def test_aid_warns_once_per_run():
    """The warned flag is run state: a second run of the same solver instance warns again."""
    solver = AID(cg_steps=50, cg_tol=1e-10, lr_x=0.5, lr_y=1.0, lr_inner=1.0, inner_steps=20,
                 tol=1e-6)
    for _ in range(2):
        with pytest.warns(RuntimeWarning) as record, np.errstate(all="ignore"):
            run(solver, RunView(toys.many_solutions()), maxiter=20)
        assert sum("AID" in str(w.message) for w in record) == 1


@pytest.mark.parametrize("method, kw", [
    ("vpbgd", dict(gamma=10.0, lr_x=0.5, lr_y=0.5, maxiter=5000, tol=1e-7)),
    ("bome", dict(maxiter=5000, tol=1e-7)),
])
def test_first_order_baselines_on_many_solutions(method, kw):
    res = solve(toys.many_solutions(), method, **kw)
    assert res.success, res.message
    assert abs(res.x[0] - 1.0) <= 1e-4
    np.testing.assert_allclose(res.y, [1.0, 1.0], atol=1e-4)


def test_vpbgd_reaches_the_penalty_minimizer_with_sigma_one_over_gamma():
    """V-PBGD's fixed point is argmin psi_sigma with sigma = 1/gamma (spec bilevel §3.3)."""
    p = toys.quadratic()
    vp = solve(p, "vpbgd", gamma=10.0, lr_x=0.3, maxiter=20000, tol=1e-10)
    pen = solve(p, sigma=0.1, lr_x=0.25, maxiter=20000, tol=1e-10)
    assert vp.success and pen.success
    np.testing.assert_allclose(vp.x, pen.x, atol=1e-7)


def test_vpbgd_gamma_ramp_in_trace():
    res = solve(toys.quadratic(), "vpbgd", gamma=10.0, gamma_init=0.5, gamma_argmax_step=10,
                maxiter=20, tol=0.0)
    np.testing.assert_allclose(res.trace["gamma"][:12], 0.5 + 9.5 * np.minimum(1, np.arange(12) / 10))


def test_bome_lambda_in_trace_is_nonnegative():
    res = solve(toys.many_solutions(), "bome", maxiter=30)
    assert np.all(res.trace["lam"] >= 0)


def test_baseline_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        solve(toys.quadratic(), "vpbgd", gamma=0.0)
    with pytest.raises(ValueError, match="eta"):
        solve(toys.quadratic(), "bome", eta=-1.0)
    p = toys.quadratic()
    q = BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=p.x0, y0=p.y0)
    with pytest.raises(ValueError, match="lr_inner"):
        solve(q, "bome")
