"""Fuzzing ``optkit.minimize`` over every registered method (issue 16, item 1).

Each example fuzzes one thing, drawn at random: the start point (shape, dtype, scale, NaN,
wrong kind), the objective (huge/tiny/negative scale, NaN on part of the domain, values of the
wrong kind), the gradient's output, ``tol``, ``maxiter`` or the method name.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import NonlinearConstraint

import optkit
from optkit.core import get_method_info

from ._inputs import budgets, numeric_arrays, outcome, scalars, scales, wrong_values

pytestmark = pytest.mark.timeout(300)

CENTER = 0.5  # a scalar, so the user's function accepts a start point of any length
METHODS = optkit.list_methods()
# Small budgets keep an example in milliseconds; the methods' own defaults are far larger.
BUDGET = {"cbo": {"maxiter": 60, "n_particles": 20, "n_runs": 1}, "al-newton": {"maxiter": 30}}
GTOL = 1e-5  # gd's default gtol


def _objective(scale=1.0, nan_beyond=None, value_kind=None):
    """``scale * ||x - c||^2``, NaN where ``x_0 > nan_beyond``, or a value of the wrong kind."""

    def fun(x):
        x = np.asarray(x, dtype=float)
        if value_kind is not None:
            return value_kind
        value = scale * np.sum((x - CENTER) ** 2, axis=-1)
        if nan_beyond is not None:
            value = np.where(x[..., 0] > nan_beyond, np.nan, value)
        return value if value.ndim else float(value)

    return fun


def _gradient(scale=1.0, grad_kind=None):
    def jac(x):
        if grad_kind is not None:
            return grad_kind
        return 2.0 * scale * (np.asarray(x, dtype=float) - CENTER)

    return jac


def _call(method, x0=None, fun=None, jac=None, tol=None, **options):
    info = get_method_info(method)
    kw = {}
    if "grad" in info.requires:
        kw["jac"] = jac or _gradient()
    if "constraints" in info.requires:
        # sum(x) = 1, written for a start point of any length
        kw["constraints"] = [NonlinearConstraint(lambda x: np.array([np.sum(x) - 1.0]), 0.0,
                                                 0.0, jac=lambda x: np.ones((1, np.size(x))))]
    options = {**BUDGET.get(method, {"maxiter": 200}), **options}
    if method == "cbo":
        options.setdefault("vectorized", True)
    x0 = np.zeros(3) if x0 is None else x0
    return optkit.minimize(fun or _objective(), x0, method=method, tol=tol, options=options,
                           **kw)


def _gd_gradient_test_holds(res):
    """gd's success means its documented test ``||g||_inf <= gtol`` held at ``x``."""
    assert np.max(np.abs(_gradient()(res.x))) <= GTOL * 1.001


FUZZED = ["x0", "fun-scale", "fun-kind", "jac", "tol", "maxiter"]


@pytest.mark.parametrize("method", METHODS)
@given(data=st.data())
def test_minimize(method, data):
    info = get_method_info(method)
    fuzzed = data.draw(st.sampled_from([f for f in FUZZED
                                        if f != "jac" or "grad" in info.requires]), label="arg")
    check = _gd_gradient_test_holds if method == "gd" else None
    if fuzzed == "x0":
        x0 = data.draw(numeric_arrays((3,), torch_too=False), label="x0")
        call, names = (lambda: _call(method, x0=x0)), ["x0"]
    elif fuzzed == "fun-scale":
        # huge/tiny/negative scales and NaN on part of the domain: success must tell the truth
        scale = data.draw(scales(), label="scale") * data.draw(st.sampled_from([1.0, -1.0]))
        nan_beyond = data.draw(st.one_of(st.none(), st.floats(-1.0, 2.0)), label="nan_beyond")
        call = lambda: _call(method, fun=_objective(scale, nan_beyond),  # noqa: E731
                             jac=_gradient(scale))
        names, check = ["fun"], None
    elif fuzzed == "fun-kind":
        value = data.draw(st.one_of(wrong_values(), st.just(np.ones(2)),
                                    st.just(np.array([1j])), st.just(np.array(np.nan)),
                                    st.just(np.inf)), label="value")
        call, names = (lambda: _call(method, fun=_objective(value_kind=value))), ["fun"]
    elif fuzzed == "jac":
        value = data.draw(st.one_of(wrong_values(), numeric_arrays((3,), torch_too=False)),
                          label="jac value")
        call, names = (lambda: _call(method, jac=_gradient(grad_kind=value))), ["jac"]
    elif fuzzed == "tol":
        tol = data.draw(scalars(), label="tol")
        call, names, check = (lambda: _call(method, tol=tol)), ["tol"], None
    else:
        maxiter = data.draw(budgets(), label="maxiter")
        call, names = (lambda: _call(method, maxiter=maxiter)), ["maxiter"]
    outcome(f"minimize[{method}]", call, names, check)


@given(name=st.one_of(wrong_values(), st.text(max_size=8)))
def test_method_name(name):
    outcome("minimize.method", lambda: optkit.minimize(_objective(), np.zeros(3), method=name),
            ["method"])
