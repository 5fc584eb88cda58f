"""optkit.cbo's public entry points: ``minimize(method="cbo")`` (both variants) and the
:class:`optkit.cbo.CBO` solver driven by :func:`optkit.core.run`.

Problem: the shifted sphere ``f(x) = ||x - c||^2`` in 3 dimensions, c = (0.5, -0.25, 1.0),
f_star = 0 in closed form. CBO is stochastic and stops at its swarm-collapse test (xtol = 1e-6
in the ∞-norm: f <= 3e-12 at the consensus, the best particle is at least as good), so the
tolerance is an absolute 1e-8 on f.
"""

import numpy as np

import optkit
from optkit.cbo import CBO
from optkit.core import Problem, run
from optkit.core.rng import check_rng

from .entry_points import Entry

CENTER = np.array([0.5, -0.25, 1.0])


def sphere(X):
    return np.sum((np.asarray(X) - CENTER) ** 2, axis=-1)


def _minimize(variant=None, **kw):
    callback = kw.pop("callback", None)
    tol = kw.pop("tol", None)
    options = {"vectorized": True, **kw}
    if variant is not None:
        options["variant"] = variant
    return optkit.minimize(sphere, np.zeros(3), method="cbo", tol=tol, callback=callback,
                           options=options)


def _solver(maxiter=5000, maxfev=None, max_time=None, callback=None, rng=None, tol=None, **kw):
    if tol is not None:
        kw["xtol"] = tol
    problem = Problem.from_scipy(sphere, np.zeros(3)).counted()
    return run(CBO(vectorized=True, **kw), problem, maxiter=maxiter, maxfev=maxfev,
               max_time=max_time, callback=callback, rng=check_rng(rng), method="cbo")


ENTRIES = [
    Entry("cbo.minimize[hopping]", _minimize, f_star=0.0, rtol=0.0, atol=1e-8, stochastic=True,
          fields=("x_runs", "fun_runs", "x_consensus", "run_status")),
    Entry("cbo.minimize[cbo]", lambda **kw: _minimize("cbo", **kw), f_star=0.0, rtol=0.0,
          atol=1e-8, stochastic=True, fields=("x_runs", "fun_runs", "x_consensus", "run_status")),
    Entry("cbo.CBO+core.run", _solver, f_star=0.0, rtol=0.0, atol=1e-8, stochastic=True,
          fields=("x_runs", "fun_runs", "x_consensus", "run_status")),
]
