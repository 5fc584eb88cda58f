import sys

import numpy as np
import pytest
import scipy.optimize as so

import optkit
from optkit.core import STATUS


def test_gd_reaches_the_closed_form_minimizer_of_a_quadratic():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    A = M @ M.T + np.eye(6)
    x_star = rng.standard_normal(6)
    res = optkit.minimize(lambda x: 0.5 * (x - x_star) @ A @ (x - x_star), np.zeros(6),
                          jac=lambda x: A @ (x - x_star), tol=1e-10, options={"maxiter": 100_000})
    assert res.success and res.status == 0
    np.testing.assert_allclose(res.x, x_star, atol=1e-9)
    np.testing.assert_allclose(res.jac, A @ (res.x - x_star), atol=1e-12)
    assert np.all(np.diff(res.trace["fun"]) <= 0)  # Armijo: monotone decrease


def test_gd_with_bounds_matches_lbfgsb():
    bounds = [(-2, 0.5), (0.3, 2)]
    res = optkit.minimize(so.rosen, np.array([-1.0, 1.0]), jac=so.rosen_der, bounds=bounds,
                          tol=1e-7, options={"maxiter": 200_000})
    ref = so.minimize(so.rosen, np.array([-1.0, 1.0]), jac=so.rosen_der, bounds=bounds,
                      method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12})
    assert res.success
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)


def test_gd_through_scipy_with_modern_and_legacy_callbacks():
    seen = []
    res = so.minimize(so.rosen, [-1.2, 1.0], method=optkit.get_method("gd"), jac=so.rosen_der,
                      tol=1e-6, callback=lambda intermediate_result: seen.append(intermediate_result.fun),
                      options={"maxiter": 50_000})
    assert res.success and np.allclose(res.x, 1.0, atol=1e-4)
    assert len(seen) == res.nit and seen[-1] == res.fun
    assert set(so.minimize(so.rosen, [0.0, 0.0], method="BFGS").keys()) - {"hess_inv"} <= set(res.keys())


def test_unattainable_tolerance_is_not_claimed():
    b, d = np.array([0.3, 1.7]), np.array([1.0, 7.0])
    res = optkit.minimize(lambda x: float(d @ (x - b) ** 2) + 1e8, np.zeros(2),
                          jac=lambda x: 2 * d * (x - b), tol=1e-14, options={"maxiter": 2000})
    assert not res.success and res.message
    np.testing.assert_allclose(res.x, b, atol=1e-3)


def test_diverging_run_reports_failure():
    res = optkit.minimize(lambda x: -float(x @ x), np.ones(2), jac=lambda x: -2 * x,
                          options={"maxiter": 10_000})
    assert not res.success and res.status == STATUS["diverged"]
    assert "diverged" in res.message


def test_wrong_gradient_makes_the_line_search_fail_cleanly():
    res = optkit.minimize(lambda x: float(x @ x), np.ones(2), jac=lambda x: -2 * x)
    assert not res.success and res.status == STATUS["line_search"]
    assert "Line search" in res.message


def test_unknown_method_and_options_are_named():
    with pytest.raises(ValueError, match=r"unknown method 'nope'; known methods: \[.*'gd'"):
        optkit.minimize(so.rosen, [0.0, 0.0], method="nope", jac=so.rosen_der)
    with pytest.raises(ValueError, match="c1 must lie"):
        optkit.minimize(so.rosen, [0.0, 0.0], jac=so.rosen_der, options={"c1": 2.0})
    with pytest.raises(TypeError, match="maxiter must be an integer"):
        optkit.minimize(so.rosen, [0.0, 0.0], jac=so.rosen_der, options={"maxiter": "10"})
    with pytest.raises(ValueError, match="bounds: lb must be <= ub"):
        optkit.minimize(so.rosen, [0.0, 0.0], jac=so.rosen_der, bounds=[(1, 0), (0, 1)])


def test_show_options_and_list_methods():
    assert "gd" in optkit.list_methods()
    text = optkit.show_options("gd", disp=False)
    assert "gtol : float" in text and "Armijo" in text


def test_import_is_lazy():
    import subprocess

    code = ("import sys, optkit; optkit.list_methods(); "
            "heavy = [m for m in ('torch', 'numba', 'benchopt', 'dask') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert optkit.__version__
