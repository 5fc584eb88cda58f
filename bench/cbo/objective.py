import numpy as np
from benchmark_utils import SUCCESS_RADIUS
from benchopt import BaseObjective


class Objective(BaseObjective):
    """Success rate of ``n_runs`` seeded runs at a fixed evaluation budget per run.

    Solvers return the best point of each run (``x_runs``, shape ``(n_runs, d)``) and the
    evaluations they used. ``value`` is the median over runs of ``f(x) - f*``; extra columns:
    ``success_rate`` (``||Q (x - x*)||_inf < 0.25``, in the function's own coordinates),
    ``evals_per_run`` (mean), ``n_value`` (total).
    """

    name = "cbo-success"
    url = "https://github.com/optkit/optkit"
    min_benchopt_version = "1.9"
    requirements = []

    def set_data(self, problem, n_runs, budget, init, box, rotation):
        self.problem, self.n_runs, self.budget = problem, n_runs, budget
        self.init, self.box, self.rotation = init, box, rotation

    def get_objective(self):
        return dict(problem=self.problem, n_runs=self.n_runs, budget=self.budget,
                    init=self.init, box=self.box)

    def evaluate_result(self, x_runs, n_value):
        x_runs = np.atleast_2d(np.asarray(x_runs, dtype=float))
        f = np.asarray(self.problem.objective.value_batch(x_runs), dtype=float)
        # in the function's own coordinates z = Q (x - x*), as for the axis-aligned variant
        dist = np.max(np.abs((x_runs - self.problem.x_star) @ self.rotation.T), axis=1)
        return {
            "value": float(np.median(f - self.problem.f_star)),
            "success_rate": float(np.mean(dist < SUCCESS_RADIUS)),
            "evals_per_run": n_value / len(x_runs),
            "n_value": int(n_value),
        }

    def get_one_result(self):
        return dict(x_runs=self.problem.x0[None], n_value=0)
