import numpy as np
from benchmark_utils import PointCounter
from benchopt import BaseSolver
from benchopt.stopping_criterion import SingleRunCriterion

from optkit.cbo import CBO
from optkit.core import Problem, run

CONFIGS = {
    # the defaults: Consensus Hopping, N = 800, ESS alpha, sigma0 = initial half-width, x0.97
    "default": {},
    # anisotropic CBO: sigma 10.1, alpha0 = 30 (x1.05, cap 1e5), N = 50 (CBXpy's setting)
    "anisotropic": {"variant": "cbo"},
}


class Solver(BaseSolver):
    """optkit CBO: all runs vectorized in one (M, N, d) swarm (the solver class, no registry)."""

    name = "optkit-cbo"
    parameters = {"config": list(CONFIGS)}
    sampling_strategy = "run_once"
    stopping_criterion = SingleRunCriterion()
    requirements = []

    def set_objective(self, problem, n_runs, budget, init, box):
        """``init``: runs start in [-init, init]^d; ``box``: the search box of bounded peers."""
        self.problem, self.n_runs, self.budget = problem, n_runs, budget
        self.init, self.box = init, box

    def run(self, _):
        p = self.problem
        counter = PointCounter(p.objective.value_batch)
        solver = CBO(**CONFIGS[self.config], n_runs=self.n_runs, spread=self.init,
                     vectorized=True, maxfev=self.n_runs * self.budget)
        # N (maxiter + 1) evaluations per run fit the budget; maxfev guards the total
        maxiter = self.budget // solver.n_particles - 1
        problem = Problem.from_scipy(counter, p.x0)
        res = run(solver, problem.counted(), maxiter=maxiter,
                  rng=np.random.default_rng(self.get_seed(use_repetition=True)))
        self.x_runs, self.n_value = res.x_runs, res.nfev
        assert res.nfev == counter.points

    def get_result(self):
        return dict(x_runs=self.x_runs, n_value=self.n_value)
