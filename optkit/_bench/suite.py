"""Base classes for benchopt suites whose datasets provide an optkit :class:`~optkit.Problem`.

- :class:`ProblemObjective`: ``value`` from an *uncounted* oracle (evaluation never
  inflates the counts), ``suboptimality`` when the dataset knows ``f_star``, the
  gradient norm, and each oracle count as its own column (``objective_n_value``, ...).
- :class:`OptkitSolver`: runs a registered optkit method step by step under benchopt's
  ``"callback"`` sampling, so one run gives the whole curve.
- :class:`ScipySolver`: a ``scipy.optimize.minimize`` peer under ``"iteration"``
  sampling, fed :class:`~optkit.core.Counted` callables so its counts are exact too.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
from benchopt import BaseObjective, BaseSolver

from optkit.core import Counted, get_method_info
from optkit.core.rng import check_rng
from optkit.core.solver import to_numpy

__all__ = ["ProblemObjective", "OptkitSolver", "ScipySolver", "ZERO_COUNTS"]

ZERO_COUNTS = {"n_value": 0, "n_grad": 0, "n_hvp": 0, "n_samples": 0}


class ProblemObjective(BaseObjective):
    """Objective of a suite whose datasets return ``{"problem": Problem}``."""

    min_benchopt_version = "1.9"
    requirements = []

    def set_data(self, problem):
        self.problem = problem

    def get_objective(self):
        return dict(problem=self.problem)

    def evaluate_result(self, x, counts):
        oracle = self.problem.objective
        value = oracle.value(x)
        out = {"value": value}
        if self.problem.f_star is not None:
            out["suboptimality"] = value - self.problem.f_star
        if getattr(oracle, "has_grad", False):
            out["grad_norm"] = float(np.linalg.norm(oracle.grad(x)))
        out.update(counts)
        return out

    def get_one_result(self):
        return dict(x=self.problem.x0, counts=dict(ZERO_COUNTS))


class OptkitSolver(BaseSolver):
    """A registered optkit method, one benchopt callback per iteration.

    Subclasses set ``method`` (a registry name) and may set ``options``; benchopt
    ``parameters`` are passed as options too. Stops early when the method's own
    ``terminate`` says it converged.
    """

    method: str = ""
    options: dict = {}
    sampling_strategy = "callback"
    requirements = []

    def set_objective(self, problem):
        self.problem = problem

    def skip(self, problem):
        info = get_method_info(self.method)
        if "grad" in info.requires and not problem.objective.has_grad:
            return True, f"{self.method} needs gradients"
        return False, None

    def run(self, callback):
        info = get_method_info(self.method)
        params = {k: getattr(self, k) for k in getattr(self, "parameters", {})}
        opts = info.resolve_options({**self.options, **params})
        rng = check_rng(opts.get("rng"))
        solver = info.make_solver(opts)
        self.counted = self.problem.counted()
        self.state = solver.init(self.counted, self.counted.x0, rng)
        while callback():
            done, _, _ = solver.terminate(self.counted, self.state)
            if done:
                break
            self.state = solver.step(self.counted, self.state)

    def get_result(self):
        return dict(x=to_numpy(self.state.x), counts=self.counted.objective.snapshot())


class ScipySolver(BaseSolver):
    """``scipy.optimize.minimize(method=...)`` with ``maxiter`` = benchopt's iteration budget."""

    method: str = ""
    uses = ("grad",)
    sampling_strategy = "iteration"
    requirements = []

    def set_objective(self, problem):
        self.problem = problem

    def skip(self, problem):
        if "grad" in self.uses and not problem.objective.has_grad:
            return True, f"scipy {self.method} needs gradients here"
        if "hvp" in self.uses and not problem.objective.has_hvp:
            return True, f"scipy {self.method} needs Hessian-vector products"
        return False, None

    def run(self, maxiter):
        counted = Counted(self.problem.objective)
        kwargs = {}
        if "grad" in self.uses:
            kwargs["jac"] = counted.grad
        if "hvp" in self.uses:
            kwargs["hessp"] = counted.hvp
        x0 = np.asarray(self.problem.x0, dtype=float)
        if maxiter == 0:
            self.x = x0
        else:
            res = scipy.optimize.minimize(counted.value, x0, method=self.method,
                                          options={"maxiter": maxiter}, **kwargs)
            self.x = res.x
        self.counts = counted.snapshot()

    def get_result(self):
        return dict(x=self.x, counts=self.counts)
