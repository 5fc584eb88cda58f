"""The problem table of the conformance suite, chosen per method by what it requires.

Every problem counts the calls of the user's own callables, so a test can compare
a result's ``nfev``/``njev``/``nhev`` with an independent count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import NonlinearConstraint


class CallCounter:
    """A callable that counts its calls (independently of optkit's Counted)."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


@dataclass
class TableProblem:
    name: str
    fun: CallCounter
    x0: np.ndarray
    f_star: float
    jac: CallCounter | None = None
    hessp: CallCounter | None = None
    constraints: list = field(default_factory=list)

    def kwargs(self, requires: frozenset) -> dict:
        kw = {}
        if "grad" in requires:
            kw["jac"] = self.jac
        if "hvp" in requires:
            kw["hessp"] = self.hessp
        if "constraints" in requires:
            kw["constraints"] = self.constraints
        return kw


def _quadratic() -> TableProblem:
    d = np.array([1.0, 3.0, 10.0, 30.0, 100.0]) / 10
    c = np.array([1.0, -1.0, 0.5, 0.25, -0.5])
    return TableProblem(
        name="quadratic",
        fun=CallCounter(lambda x: 0.5 * float(np.sum(d * (x - c) ** 2))),
        jac=CallCounter(lambda x: d * (x - c)),
        hessp=CallCounter(lambda x, v: d * v),
        x0=np.zeros(5),
        f_star=0.0,
    )


def _rosenbrock() -> TableProblem:
    from scipy.optimize import rosen, rosen_der, rosen_hess_prod

    return TableProblem(name="rosenbrock", fun=CallCounter(rosen), jac=CallCounter(rosen_der),
                        hessp=CallCounter(rosen_hess_prod), x0=np.array([-1.2, 1.0]), f_star=0.0)


def _shifted_sphere() -> TableProblem:
    shift = np.array([0.5, -0.3, 0.2, 0.1])
    return TableProblem(
        name="shifted-sphere",
        fun=CallCounter(lambda x: float(np.sum((x - shift) ** 2))),
        jac=CallCounter(lambda x: 2 * (x - shift)),
        hessp=CallCounter(lambda x, v: 2 * v),
        x0=np.full(4, 1.5),
        f_star=0.0,
    )


def _eq_quadratic() -> TableProblem:
    """min ||x - c||^2 s.t. sum(x) = 1 and x0 * x1 = 0.1 (smooth, nonlinear equality)."""
    c = np.array([1.0, 2.0, -1.0])
    cons = NonlinearConstraint(
        lambda x: np.array([x.sum() - 1.0, x[0] * x[1] - 0.1]), 0.0, 0.0,
        jac=lambda x: np.array([[1.0, 1.0, 1.0], [x[1], x[0], 0.0]]),
    )
    return TableProblem(
        name="eq-quadratic",
        fun=CallCounter(lambda x: float(np.sum((x - c) ** 2))),
        jac=CallCounter(lambda x: 2 * (x - c)),
        hessp=CallCounter(lambda x, v: 2 * v),
        x0=np.array([0.5, 0.5, 0.0]),
        f_star=_slsqp_value(lambda x: float(np.sum((x - c) ** 2)), np.array([0.5, 0.5, 0.0]), cons),
        constraints=[cons],
    )


def _slsqp_value(fun, x0, cons) -> float:
    """The independent oracle for the constrained problem: scipy's SLSQP, run to 1e-14."""
    from scipy.optimize import minimize

    res = minimize(fun, x0, method="SLSQP", constraints=[cons], options={"ftol": 1e-14})
    assert res.success, res.message
    return float(res.fun)


def problems_for(requires: frozenset) -> list:
    """Problem factories suited to a method's requirements."""
    if "constraints" in requires:
        return [_eq_quadratic]
    if requires <= {"value", "population"}:
        return [_shifted_sphere, _quadratic]
    return [_quadratic, _rosenbrock, _shifted_sphere]
