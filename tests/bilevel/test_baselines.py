"""The benchmark's baselines (AID, V-PBGD, BOME) on the toys with closed forms."""

import numpy as np
import pytest

from optkit.bilevel import baselines, solve, toys


def test_aid_reaches_x_star_on_the_quadratic():
    p = toys.quadratic()
    res = baselines.aid(p, lr_x=0.25, maxiter=3000, tol=1e-9)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, p.x_star, atol=1e-6)
    assert res.n_inner_hvp > 0
    assert solve(p, sigma=0.1, lr_x=0.25, maxiter=5).n_inner_hvp == 0  # penalty: first order


def test_aid_warns_on_a_singular_lower_level():
    with pytest.warns(RuntimeWarning, match="strongly convex"), np.errstate(all="ignore"):
        res = baselines.aid(toys.many_solutions(), lr_x=0.5, maxiter=50)
    assert not res.success


@pytest.mark.parametrize("run", [
    lambda p: baselines.vpbgd(p, gamma=10.0, lr_x=0.5, lr_y=0.5, maxiter=5000, tol=1e-7),
    lambda p: baselines.bome(p, maxiter=5000, tol=1e-7),
])
def test_first_order_baselines_on_many_solutions(run):
    res = run(toys.many_solutions())
    assert res.success, res.message
    assert abs(res.x[0] - 1.0) <= 1e-4
    np.testing.assert_allclose(res.y, [1.0, 1.0], atol=1e-4)


def test_vpbgd_gamma_ramp_in_trace():
    res = baselines.vpbgd(toys.quadratic(), gamma=10.0, gamma_init=0.5, gamma_argmax_step=10,
                          maxiter=20, tol=0.0)
    np.testing.assert_allclose(res.trace["gamma"][:12], 0.5 + 9.5 * np.minimum(1, np.arange(12) / 10))


def test_baseline_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        baselines.vpbgd(toys.quadratic(), gamma=0.0)
    with pytest.raises(ValueError, match="eta"):
        baselines.bome(toys.quadratic(), eta=-1.0)
