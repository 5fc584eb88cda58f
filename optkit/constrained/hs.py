"""Hock–Schittkowski / Boggs–Tolle equality-constrained test problems, hand-coded.

Formulas follow the SIF/S2MPJ definitions (Hock and Schittkowski, *Test Examples for
Nonlinear Programming Codes*, 1981; Boggs and Tolle, 1989; GrattonToint/S2MPJ
``python_problems``); ``f_star``/``x_star`` are the corrected optima (HS52, BT3, BT12 in
closed form; HS47, BT4, BT7, MWRIGHT have no optimality claim). Exact first and second
derivatives come from sympy (imported on first use).

``PROBLEMS`` lists them with a ``tier``: ``"core"`` (all solvers agree), ``"degenerate"``
(singular reduced Hessian, rank-deficient Jacobian at the solution, bad scaling) and
``"no-assert"`` (several stationary points). ``HS.problem()`` builds an
:class:`optkit.core.Problem`; ``HS.scipy_kwargs()`` the arguments of ``minimize``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.optimize import NonlinearConstraint

S2 = math.sqrt(2.0)


@dataclass(frozen=True)
class HS:
    """One test problem: ``f(x)`` and ``c(x)`` written on a list of sympy symbols."""

    name: str
    f: object  # list of sympy symbols -> expression
    c: object  # list of sympy symbols -> list of expressions
    x0: tuple
    f_star: float | None
    x_star: tuple | None = None
    tier: str = "core"  # "core", "degenerate", "no-assert"
    sign_free: tuple = ()  # indices of x* known only up to sign

    @property
    def n(self):
        return len(self.x0)

    def scipy_kwargs(self, hess=True):
        """fun, jac, hessp and a NonlinearConstraint with jac and hess (sympy derivatives)."""
        d = _derivatives(self)
        con = NonlinearConstraint(d["c"], 0.0, 0.0, jac=d["cjac"], hess=d["chess"] if hess else None)
        kw = dict(fun=d["f"], x0=np.array(self.x0, dtype=float), jac=d["grad"], constraints=[con])
        if hess:
            kw["hessp"] = d["hessp"]
        return kw

    def problem(self, hess=True):
        """An :class:`optkit.core.Problem` with the known optimum attached."""
        from optkit.core import Problem

        kw = self.scipy_kwargs(hess=hess)
        prob = Problem.from_scipy(kw.pop("fun"), kw.pop("x0"), name=self.name, **kw)
        prob.f_star = self.f_star
        prob.x_star = None if self.x_star is None else np.array(self.x_star)
        return prob


@cache
def _derivatives(p: HS) -> dict:
    import sympy as sp

    x = sp.symbols(f"x0:{p.n}", real=True)
    f = p.f(x)
    cs = list(p.c(x))

    def lam(expr):
        fn = sp.lambdify([x], expr, modules="numpy")
        return lambda v: np.asarray(fn(np.asarray(v, dtype=float)), dtype=float)

    f_ = lam(f)
    grad = lam(sp.Matrix([sp.diff(f, v) for v in x]))
    hess = lam(sp.hessian(f, x))
    c_ = lam(sp.Matrix(cs))
    cjac = lam(sp.Matrix(cs).jacobian(x))
    chess = [lam(sp.hessian(ci, x)) for ci in cs]
    return {
        "f": lambda v: float(f_(v)),
        "grad": lambda v: grad(v).ravel(),
        "hessp": lambda v, w: hess(v) @ w,
        "c": lambda v: c_(v).ravel(),
        "cjac": lambda v: cjac(v).reshape(len(cs), p.n),
        "chess": lambda v, w: sum(wi * h(v) for wi, h in zip(w, chess)),
    }


def _sin(v):
    import sympy

    return sympy.sin(v)


def _log(v):
    import sympy

    return sympy.log(v)


def _hs51f(x):
    return (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2


def _hs77f(x):
    return ((x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4
            + (x[4] - 1) ** 6)


def _hs79f(x):
    return ((x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4
            + (x[3] - x[4]) ** 4)


def _hs46f(x):
    return (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4 + (x[4] - 1) ** 6


_A56 = math.asin(math.sqrt(1 / 4.2))
_B56 = math.asin(math.sqrt(5 / 7.2))

PROBLEMS = [
    HS("HS6", lambda x: (1 - x[0]) ** 2, lambda x: [10 * (x[1] - x[0] ** 2)],
       (-1.2, 1.0), 0.0, (1.0, 1.0)),
    HS("HS7", lambda x: _log(1 + x[0] ** 2) - x[1],
       lambda x: [(1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4], (2.0, 2.0), -math.sqrt(3),
       (0.0, math.sqrt(3))),
    HS("HS27", lambda x: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2,
       lambda x: [x[0] + x[2] ** 2 + 1], (2.0,) * 3, 0.04, (-1.0, 1.0, 0.0)),
    HS("HS28", lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2,
       lambda x: [x[0] + 2 * x[1] + 3 * x[2] - 1], (-4.0, 1.0, 1.0), 0.0, (0.5, -0.5, 0.5)),
    HS("HS39", lambda x: -x[0],
       lambda x: [x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2], (2.0,) * 4,
       -1.0, (1.0, 1.0, 0.0, 0.0)),
    HS("HS40", lambda x: -x[0] * x[1] * x[2] * x[3],
       lambda x: [x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]],
       (0.8,) * 4, -0.25, tuple(2.0 ** e for e in (-1 / 3, -1 / 2, -11 / 12, -1 / 4))),
    HS("HS42", lambda x: sum((x[i] - (i + 1)) ** 2 for i in range(4)),
       lambda x: [x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2], (1.0,) * 4, 28 - 10 * S2,
       (2.0, 2.0, 0.6 * S2, 0.8 * S2)),
    HS("HS48", lambda x: (x[0] - 1) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2,
       lambda x: [sum(x) - 5, x[2] - 2 * (x[3] + x[4]) + 3], (3.0, 5.0, -3.0, 2.0, -2.0),
       0.0, (1.0,) * 5),
    HS("HS50", lambda x: ((x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4
                          + (x[3] - x[4]) ** 2),
       lambda x: [x[i] + 2 * x[i + 1] + 3 * x[i + 2] - 6 for i in range(3)],
       (35.0, -31.0, 11.0, 5.0, -5.0), 0.0, (1.0,) * 5),
    HS("HS51", _hs51f, lambda x: [x[0] + 3 * x[1] - 4, x[2] + x[3] - 2 * x[4], x[1] - x[4]],
       (2.5, 0.5, 2.0, -1.0, 0.5), 0.0, (1.0,) * 5),
    HS("HS52", lambda x: ((4 * x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2
                          + (x[4] - 1) ** 2),
       lambda x: [x[0] + 3 * x[1], x[2] + x[3] - 2 * x[4], x[1] - x[4]], (2.0,) * 5,
       1859 / 349, tuple(v / 349 for v in (-33, 11, 180, -158, 11))),
    HS("HS56", lambda x: -x[0] * x[1] * x[2],
       lambda x: [x[0] - 4.2 * _sin(x[3]) ** 2, x[1] - 4.2 * _sin(x[4]) ** 2,
                  x[2] - 4.2 * _sin(x[5]) ** 2,
                  x[0] + 2 * x[1] + 2 * x[2] - 7.2 * _sin(x[6]) ** 2],
       (1.0, 1.0, 1.0, _A56, _A56, _A56, _B56), -3.456),
    HS("HS77", _hs77f,
       lambda x: [x[0] ** 2 * x[3] + _sin(x[3] - x[4]) - 2 * S2,
                  x[1] + x[2] ** 4 * x[3] ** 2 - 8 - S2], (2.0,) * 5, 0.2415051288,
       (1.166172, 1.182111, 1.380257, 1.506036, 0.610920)),
    HS("HS78", lambda x: x[0] * x[1] * x[2] * x[3] * x[4],
       lambda x: [sum(v ** 2 for v in x) - 10, x[1] * x[2] - 5 * x[3] * x[4], x[0] ** 3 + x[1] ** 3 + 1],
       (-2.0, 1.5, 2.0, -1.0, -1.0), -2.919700409),
    HS("HS79", _hs79f,
       lambda x: [x[0] + x[1] ** 2 + x[2] ** 3 - 2 - 3 * S2, x[1] - x[2] ** 2 + x[3] + 2 - 2 * S2,
                  x[0] * x[4] - 2], (2.0,) * 5, 0.0787768209,
       (1.191127, 1.362603, 1.472818, 1.635017, 1.679081)),
    HS("HS100LNP", lambda x: ((x[0] - 10) ** 2 + 5 * (x[1] - 12) ** 2 + x[2] ** 4
                              + 3 * (x[3] - 11) ** 2 + 10 * x[4] ** 6 + 7 * x[5] ** 2 + x[6] ** 4
                              - 4 * x[5] * x[6] - 10 * x[5] - 8 * x[6]),
       lambda x: [127 - 2 * x[0] ** 2 - 3 * x[1] ** 4 - x[2] - 4 * x[3] ** 2 - 5 * x[4],
                  -4 * x[0] ** 2 - x[1] ** 2 + 3 * x[0] * x[1] - 2 * x[2] ** 2 - 5 * x[5]
                  + 11 * x[6]],
       (1.0, 2.0, 0.0, 4.0, 0.0, 1.0, 1.0), 680.6300573,
       (2.330499, 1.951372, -0.477541, 4.365726, -0.624487, 1.038131, 1.594227)),
    HS("BT2", lambda x: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
       lambda x: [x[0] * (1 + x[1] ** 2) + x[2] ** 4 - 4 - 3 * S2], (10.0,) * 3, 0.0325682003,
       (1.104859, 1.196674, 1.535262)),
    HS("BT3", _hs51f, lambda x: [x[0] + 3 * x[1], x[2] + x[3] - 2 * x[4], x[1] - x[4]],
       (20.0,) * 5, 176 / 43, tuple(v / 43 for v in (-33, 11, 27, -5, 11))),
    HS("BT5", lambda x: (1000 - x[0] ** 2 - 2 * x[1] ** 2 - x[2] ** 2 - x[0] * x[1]
                         - x[0] * x[2]),
       lambda x: [sum(v ** 2 for v in x) - 25, 8 * x[0] + 14 * x[1] + 7 * x[2] - 56], (2.0,) * 3,
       961.71517219, (3.512121, 0.216988, 3.552171)),
    HS("BT6", _hs77f,
       lambda x: [x[0] ** 2 * x[3] + _sin(x[3] - x[4]) - 2 * S2,
                  x[1] + x[2] ** 4 * x[1] ** 2 - 8 - S2], (2.0,) * 5, 0.2770447888,
       (1.286932, 1.480235, 1.379455, 1.321948, 0.628718)),
    HS("BT10", lambda x: -x[0], lambda x: [x[1] - x[0] ** 3, x[0] ** 2 - x[1]], (2.0, 2.0),
       -1.0, (1.0, 1.0)),
    HS("BT11", _hs79f,
       lambda x: [x[0] + x[1] ** 2 + x[2] ** 3 + 2 - 3 * S2, x[1] - x[2] ** 2 + x[3] + 2 - 2 * S2,
                  x[0] - x[4] - 2], (2.0,) * 5, 0.8248917783,
       (1.267576, 0.965301, 0.351044, -0.013642, -0.732424)),
    HS("BT12", lambda x: 0.01 * x[0] ** 2 + x[1] ** 2,
       lambda x: [x[0] + x[1] - x[2] ** 2 - 25, x[0] ** 2 + x[1] ** 2 - x[3] ** 2 - 25,
                  x[0] - x[4] ** 2 - 2], (15.811, 1.5811, 0.0, 15.083, 3.7164), 625 / 101,
       (2500 / 101, 25 / 101, 0.0, 24.24348, 4.769956), sign_free=(3, 4)),
    # degenerate / hard
    HS("HS26", lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
       lambda x: [(1 + x[1] ** 2) * x[0] + x[2] ** 4 - 3], (-2.6, 2.0, 2.0), 0.0,
       tier="degenerate"),
    HS("HS46", _hs46f,
       lambda x: [x[0] ** 2 * x[3] + _sin(x[3] - x[4]) - 1, x[1] + x[2] ** 4 * x[3] ** 2 - 2],
       (S2 / 2, 1.75, 0.5, 2.0, 2.0), 0.0, tier="degenerate"),
    HS("HS49", _hs46f,
       lambda x: [x[0] + x[1] + x[2] + 4 * x[3] - 7, x[2] + 5 * x[4] - 6],
       (10.0, 7.0, 2.0, -3.0, 0.8), 0.0, tier="degenerate"),
    HS("BT8", lambda x: x[0] ** 2 + x[1] ** 2 + x[2] ** 2,
       lambda x: [x[0] - x[3] ** 2 + x[1] ** 2 - 1, x[0] ** 2 + x[1] ** 2 - x[4] ** 2 - 1],
       (1.0, 1.0, 1.0, 0.0, 0.0), 1.0, tier="degenerate"),
    HS("BT1", lambda x: 100 * x[0] ** 2 + 100 * x[1] ** 2 - x[0] - 100,
       lambda x: [x[0] ** 2 + x[1] ** 2 - 1], (0.08, 0.06), -1.0, tier="degenerate"),
    # feasible stationary points; no optimality assert
    HS("HS47", lambda x: ((x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 3 + (x[2] - x[3]) ** 4
                          + (x[3] - x[4]) ** 4),
       lambda x: [x[0] + x[1] ** 2 + x[2] ** 3 - 3, x[1] - x[2] ** 2 + x[3] - 1,
                  x[0] * x[4] - 1], (2.0, S2, -1.0, 2 - S2, 0.5), None, tier="no-assert"),
    HS("BT4", lambda x: x[0] - x[1] + x[1] ** 3,
       lambda x: [sum(v ** 2 for v in x) - 25, sum(x) - 1], (4.0382, -2.9470, -0.09115), None,
       tier="no-assert"),
    HS("BT7", lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (x[0] - 1) ** 2,
       lambda x: [x[0] * x[1] - x[2] ** 2 - 1, x[1] ** 2 - x[3] ** 2 + x[0],
                  x[0] + x[4] ** 2 - 0.5], (-2.0, 1.0, 1.0, 1.0, 1.0), None, tier="no-assert"),
    HS("MWRIGHT", lambda x: (x[0] ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 3
                             + (x[2] - x[3]) ** 4 + (x[3] - x[4]) ** 4),
       lambda x: [x[0] + x[1] ** 2 + x[2] ** 2 - 2 - 3 * S2, x[1] - x[2] ** 2 + x[3] + 2 - 2 * S2,
                  x[0] * x[4] - 2], (-1.0, 2.0, 1.0, -2.0, -2.0), None, tier="no-assert"),
]

BY_NAME = {p.name: p for p in PROBLEMS}


def tier(name):
    """The problems of one tier."""
    return [p for p in PROBLEMS if p.tier == name]
