"""``optkit.constrained``: ``al_newton`` and the sketch solvers ``sketch.solve`` /
``sketch.lstsq`` as entry points (all stochastic: the sketches are random)."""

from functools import cache

import numpy as np
from scipy.optimize import minimize as scipy_minimize

from optkit.constrained import al_newton, sketch
from optkit.constrained.hs import BY_NAME

from .entry_points import Entry


@cache
def _hs7_f_star() -> float:
    """HS7's optimum from scipy's trust-constr (literature value -sqrt(3))."""
    kw = BY_NAME["HS7"].scipy_kwargs()
    res = scipy_minimize(kw.pop("fun"), kw.pop("x0"), method="trust-constr", jac=kw.pop("jac"),
                         hessp=kw.pop("hessp"), constraints=kw.pop("constraints"),
                         options={"gtol": 1e-10, "xtol": 1e-12})
    assert res.success and abs(res.fun + np.sqrt(3.0)) < 1e-9
    return float(res.fun)


def _al_newton(**kw):
    return al_newton(BY_NAME["HS7"].problem(), **kw)


@cache
def _system():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((40, 10))
    return A, A @ rng.standard_normal(10), rng.standard_normal(40)


def _residual_of_lstsq(consistent: bool) -> float:
    """``||A x - b||`` at ``numpy.linalg.lstsq``'s solution (0 up to rounding when
    consistent)."""
    A, b, noise = _system()
    rhs = b if consistent else b + noise
    return float(np.linalg.norm(A @ np.linalg.lstsq(A, rhs, rcond=None)[0] - rhs))


def _solve(name):
    def run(**kw):
        A, b, _ = _system()
        return sketch.solve(A, b, sketch=name, block_size=3, **kw)
    return run


def _lstsq(name):
    def run(**kw):
        A, b, noise = _system()
        return sketch.lstsq(A, b + noise, sketch=name, block_size=3, **kw)
    return run


ENTRIES = [
    Entry("constrained.al_newton[HS7]", _al_newton, f_star=_hs7_f_star(), rtol=1e-7,
          stochastic=True,
          fields=("multipliers", "constr_violation", "kkt_residual", "n_inner",
                  "n_direct_fallback")),
    *[Entry(f"constrained.sketch.solve[{name}]", _solve(name),
            f_star=_residual_of_lstsq(True), atol=1e-8, stochastic=True,
            result_type=sketch.SketchResult, fields=("residual", "n_steps", "flops"))
      for name in ("rk", "block-rk", "gaussian", "block-gaussian")],
    *[Entry(f"constrained.sketch.lstsq[{name}]", _lstsq(name),
            f_star=_residual_of_lstsq(False), rtol=1e-8, stochastic=True,
            result_type=sketch.SketchResult, fields=("residual", "n_steps", "flops"))
      for name in ("rk", "block-rk", "gaussian", "block-gaussian")],
]
