"""The registered method "spsa" on numpy problems (optkit.minimize and the scipy face)."""

import numpy as np
import pytest
import scipy.optimize

import optkit


def _quadratic(dim=6, rng=0):
    rng = np.random.default_rng(rng)
    m = rng.standard_normal((dim, dim))
    a = m @ m.T / dim + np.eye(dim)
    b = rng.standard_normal(dim)
    calls = []

    def fun(x):
        calls.append(1)
        return float(0.5 * x @ a @ x - b @ x)

    return fun, calls, np.linalg.solve(a, b)


@pytest.mark.parametrize("estimator, per_iter", [("central", 2 * 3 + 1), ("forward", 3 + 2)])
def test_counts_are_exact_and_the_minimizer_is_found(estimator, per_iter):
    fun, calls, x_star = _quadratic()
    x0 = np.zeros(6)
    res = optkit.minimize(fun, x0, method="spsa",
                          options=dict(maxiter=400, lr=0.05, n_directions=3, estimator=estimator,
                                       rng=0))
    assert res.nfev == len(calls) == 1 + 400 * per_iter
    assert res.nit == 400 and res.status == 1 and not res.success
    assert res.fun == pytest.approx(fun(res.x))
    assert np.linalg.norm(res.x - x_star) < 1e-3 * max(1.0, np.linalg.norm(x_star))
    assert np.array_equal(x0, np.zeros(6))
    assert res.n_forward == 400 * (per_iter - 1)


def test_seed_determinism_and_scipy_face():
    fun, _, _ = _quadratic()
    kw = dict(maxiter=50, lr=0.05, rng=3)
    a = optkit.minimize(fun, np.ones(6), method="spsa", options=kw)
    b = optkit.minimize(fun, np.ones(6), method="spsa", options=kw)
    c = scipy.optimize.minimize(fun, np.ones(6), method=optkit.get_method("spsa"), options=kw)
    d = optkit.minimize(fun, np.ones(6), method="spsa", options=dict(kw, rng=4))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.x, c.x)
    assert not np.array_equal(a.x, d.x)


def test_float32_kept():
    res = optkit.minimize(lambda x: float(np.sum((x - 1) ** 2)), np.zeros(3, np.float32),
                          method="spsa", options=dict(maxiter=20, lr=0.1, rng=0))
    assert res.x.dtype == np.float32


def test_nonfinite_perturbed_value_stops_the_run():
    def fun(x):
        return float("nan") if x[0] > 0.5 else float(np.sum(x ** 2))

    res = optkit.minimize(fun, np.array([0.5, 0.0]), method="spsa",
                          options=dict(maxiter=100, eps=0.1, rng=0, estimator="forward"))
    assert not res.success and res.status == 3


def test_callback_stop_iteration():
    fun, _, _ = _quadratic()

    def cb(intermediate_result):
        if intermediate_result.nit == 5:
            raise StopIteration

    res = optkit.minimize(fun, np.zeros(6), method="spsa", callback=cb,
                          options=dict(maxiter=100, rng=0))
    assert res.nit == 5 and res.status == 99


@pytest.mark.parametrize("options, exc", [
    (dict(eps=0.0), ValueError), (dict(eps=-1e-3), ValueError), (dict(lr=-1.0), ValueError),
    (dict(n_directions=0), ValueError), (dict(estimator="x"), ValueError),
    (dict(update="x"), ValueError), (dict(momentum=1.5), ValueError), (dict(clip=0), ValueError),
    (dict(tau=1), TypeError),
])
def test_bad_options(options, exc):
    with pytest.raises(exc):
        optkit.minimize(lambda x: float(x @ x), np.ones(2), method="spsa", options=options)


def test_non_scalar_objective():
    with pytest.raises(ValueError, match="scalar"):
        optkit.minimize(lambda x: x, np.ones(2), method="spsa", options=dict(maxiter=2, rng=0))


def test_a_spent_budget_is_not_success():
    from optkit.core.result import MESSAGES, STATUS

    fun, calls, _ = _quadratic()
    res = optkit.minimize(fun, np.zeros(6), method="spsa", options=dict(maxiter=5, rng=0))
    assert (res.status, res.success, res.message) == (STATUS["maxiter"], False,
                                                      MESSAGES[STATUS["maxiter"]])
    # maxfev counts forward passes (every function value): 1 + 3 per central step here,
    # checked before each step, so the run stops at the first count >= maxfev
    calls.clear()
    res = optkit.minimize(fun, np.zeros(6), method="spsa",
                          options=dict(maxiter=1000, maxfev=15, rng=0))
    assert (res.status, res.success, res.message) == (STATUS["maxfev"], False,
                                                      MESSAGES[STATUS["maxfev"]])
    assert res.nfev == len(calls) == 16 and res.nit == 5 and res.n_forward == 10
