"""Every registered method runs the same checks (the registry drives the parametrization)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import optkit
from optkit.core import get_method_info

from .problems import CallCounter, problems_for


def _options(info, **extra):
    opts = dict(info.test_options)
    if info.stochastic:
        opts.setdefault("rng", 0)
    opts.update(extra)
    return opts


def _run(name, prob, **extra):
    info = get_method_info(name)
    return optkit.minimize(prob.fun, prob.x0, method=name, options=_options(info, **extra),
                           **prob.kwargs(info.requires))


def test_decreases_objective_and_returns_scipy_fields(method_problem):
    name, make = method_problem
    prob = make()
    f0 = prob.fun.fn(prob.x0)
    res = _run(name, prob)
    for key in ("x", "fun", "nit", "nfev", "njev", "nhev", "status", "success", "message", "trace"):
        assert key in res, f"result lacks {key!r}"
    assert res.x.shape == prob.x0.shape
    assert np.all(np.isfinite(res.x))
    assert res.fun == pytest.approx(prob.fun.fn(res.x), rel=1e-12, abs=1e-12)
    if prob.constraints:
        assert res.fun < f0 + 10 or res.success  # feasibility may cost objective
        viol = np.abs(prob.constraints[0].fun(res.x)).max()
        assert viol < 1e-4, f"constraint violation {viol}"
    else:
        assert res.fun < f0
    assert len(res.trace) == res.nit + 1
    assert isinstance(res.success, bool) and isinstance(res.status, int)


def test_counters_are_exact(method_problem):
    name, make = method_problem
    prob = make()
    res = _run(name, prob)
    assert res.nfev == prob.fun.calls
    assert res.njev == (prob.jac.calls if prob.jac is not None else 0)
    assert res.nhev == (prob.hessp.calls if prob.hessp is not None else 0)
    last = res.trace.records[-1]
    assert (last["n_value"], last["n_grad"], last["n_hvp"]) == (res.nfev, res.njev, res.nhev)


def test_callback_and_stop_iteration(method):
    info = get_method_info(method)
    prob = problems_for(info.requires)[0]()
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result)
        if len(seen) == 3:
            raise StopIteration

    res = optkit.minimize(prob.fun, prob.x0, method=method, callback=callback,
                          options=_options(info, maxiter=50), **prob.kwargs(info.requires))
    assert len(seen) == 3 and res.nit == 3
    assert res.status == 99 and res.success is False
    assert all(isinstance(r.x, np.ndarray) and np.isfinite(r.fun) for r in seen)
    legacy = []
    optkit.minimize(prob.fun, prob.x0, method=method, callback=lambda xk: legacy.append(xk.copy()),
                    options=_options(info, maxiter=2), **prob.kwargs(info.requires))
    assert len(legacy) >= 1 and legacy[0].shape == prob.x0.shape


def test_reaches_f_star(method_problem):
    name, make = method_problem
    info = get_method_info(name)
    if info.converge_options is None:
        pytest.skip(f"{name} does not minimize to optimality by design: {info.summary}")
    prob = make()
    opts = {"rng": 0, **info.converge_options} if info.stochastic else dict(info.converge_options)
    res = optkit.minimize(prob.fun, prob.x0, method=name, options=opts,
                          **prob.kwargs(info.requires))
    assert res.fun - prob.f_star <= info.converge_atol, (res.fun, prob.f_star, res.message)


def test_rng_same_gives_same_and_different_gives_different(method):
    info = get_method_info(method)
    make = problems_for(info.requires)[0]
    a = _run(method, make())
    b = _run(method, make())
    np.testing.assert_array_equal(a.x, b.x)
    assert a.nfev == b.nfev
    if info.stochastic:
        c = _run(method, make(), rng=1)
        assert not np.array_equal(a.x, c.x), "a different rng gave the same result"
    else:
        with pytest.raises(TypeError, match="rng"):
            _run(method, make(), rng=0)


def test_x0_not_mutated(method):
    info = get_method_info(method)
    prob = problems_for(info.requires)[0]()
    x0 = prob.x0.copy()
    _run(method, prob)
    np.testing.assert_array_equal(prob.x0, x0)


def test_bad_input_raises(method):
    info = get_method_info(method)
    prob = problems_for(info.requires)[0]()
    kw = prob.kwargs(info.requires)
    opts = _options(info)
    with pytest.raises(ValueError, match="x0"):
        optkit.minimize(prob.fun, np.full_like(prob.x0, np.nan), method=method, options=opts, **kw)
    with pytest.raises(ValueError, match="x0"):
        optkit.minimize(prob.fun, np.zeros((2, 2)), method=method, options=opts, **kw)
    with pytest.raises(TypeError, match="unknown option"):
        optkit.minimize(prob.fun, prob.x0, method=method, options={**opts, "no_such_option": 1}, **kw)
    with pytest.raises(ValueError, match="fun"):
        optkit.minimize(lambda x: np.ones(3), prob.x0, method=method, options=opts, **kw)
    with pytest.raises(ValueError, match="maxiter"):
        optkit.minimize(prob.fun, prob.x0, method=method, options={**opts, "maxiter": -1}, **kw)


def test_nan_objective_stops_with_failure(method):
    info = get_method_info(method)
    prob = problems_for(info.requires)[0]()
    calls = CallCounter(prob.fun.fn)

    def poisoned(x):
        calls(x)
        return np.nan if calls.calls > 3 else calls.fn(x)

    prob.fun = CallCounter(poisoned)
    res = optkit.minimize(prob.fun, prob.x0, method=method, options=_options(info, maxiter=100),
                          **prob.kwargs(info.requires))
    assert res.success is False
    assert res.message


def test_scipy_face(method):
    info = get_method_info(method)
    prob = problems_for(info.requires)[0]()
    opts = _options(info)
    res = scipy.optimize.minimize(prob.fun, prob.x0, method=optkit.get_method(method),
                                  options=opts, **prob.kwargs(info.requires))
    ref = _run(method, problems_for(info.requires)[0]())
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-12)
    with pytest.warns(scipy.optimize.OptimizeWarning, match="no_such_option"):
        scipy.optimize.minimize(prob.fun, prob.x0, method=optkit.get_method(method),
                                options={**opts, "no_such_option": 1}, **prob.kwargs(info.requires))


def test_show_options_documents_every_option(method):
    info = get_method_info(method)
    text = optkit.show_options(method, disp=False)
    for name in info.all_options():
        assert f"\n{name} : " in text
