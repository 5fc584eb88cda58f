import numpy as np
from benchmark_utils import PointCounter, run_seeds
from benchopt import BaseSolver
from benchopt.stopping_criterion import SingleRunCriterion
from scipy.optimize import differential_evolution


class Solver(BaseSolver):
    """Peer: scipy.optimize.differential_evolution (defaults: popsize 15 d), vectorized, no polish.

    ``maxiter`` is set so that ``popsize * d * (maxiter + 1)`` points fit the budget per run.
    """

    name = "scipy-differential_evolution"
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
        box = [(-self.box, self.box)] * p.n
        pop = 15 * p.n
        maxiter = max(self.budget // pop - 1, 1)
        xs = [differential_evolution(lambda X: counter(X.T), box, maxiter=maxiter, polish=False,
                                     vectorized=True, updating="deferred", seed=int(seed)).x
              for seed in run_seeds(self.get_seed(use_repetition=True), self.n_runs)]
        self.x_runs, self.n_value = np.array(xs), counter.points

    def get_result(self):
        return dict(x_runs=self.x_runs, n_value=self.n_value)
