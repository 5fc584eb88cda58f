"""Shared pieces of the ``bilevel`` suite: one base class runs any bilevel solver of optkit
(the penalty methods or a baseline) under benchopt's ``"callback"`` sampling.

Step sizes are problem-specific, so each dataset ships ``settings``: a dict from the
solver ``key`` to its keyword arguments (a solver without settings for a dataset is skipped;
``sigma_grid`` restricts the penalty parameters run on a dataset to those its steps fit).
"""

import numpy as np
from benchopt import BaseSolver
from benchopt.stopping_criterion import SufficientProgressCriterion

#: First-order calls (gradients of f and g, one per point) and second-order calls (hvps)
#: are separate columns: n_grad = n_outer_grad + n_inner_grad, n_hvp = n_inner_hvp.
COUNT_KEYS = ("n_value", "n_grad", "n_hvp", "n_samples", "n_outer_grad", "n_inner_grad",
              "n_inner_hvp")
ZERO_COUNTS = dict.fromkeys(COUNT_KEYS, 0)


class BilevelSolver(BaseSolver):
    """Run ``self.solve(problem, callback=..., **settings, **parameters)`` step by step."""

    key = ""
    sampling_strategy = "callback"
    # test accuracy plateaus for a while before it moves again: be patient
    stopping_criterion = SufficientProgressCriterion(patience=10, strategy="callback")
    requirements = []

    def set_objective(self, problem, settings):
        self.problem = problem
        self.settings = settings

    def skip(self, problem, settings):
        if self.key not in settings:
            return True, f"no settings of {self.key} for {problem.name}"
        grid = settings[self.key].get("sigma_grid")
        if grid is not None and getattr(self, "sigma", None) not in grid:
            return True, f"sigma={self.sigma} is outside the range tuned for {problem.name}"
        return False, None

    def run(self, callback):
        p = self.problem
        self.result = dict(x=np.asarray(p.x0), y=np.asarray(p.y0), z=np.asarray(p.z0),
                           counts=dict(ZERO_COUNTS))
        if not callback():
            return

        def cb(intermediate_result):
            r = intermediate_result
            # the run loop reports the main counts under scipy's names (nfev, njev, nhev),
            # the per-level counts and n_samples under their own
            main = {"n_value": r.nfev, "n_grad": r.njev, "n_hvp": r.nhev}
            self.result = dict(x=r.x, y=r.y, z=r.z,
                               counts={k: main[k] if k in main else r[k] for k in COUNT_KEYS})
            if not callback():
                raise StopIteration

        params = {k: getattr(self, k) for k in getattr(self, "parameters", {})}
        kwargs = {**self.settings[self.key], **params}
        kwargs.pop("sigma_grid", None)
        self.solve(p, callback=cb, maxiter=kwargs.pop("maxiter", 100_000), **kwargs)

    def get_result(self):
        return self.result
