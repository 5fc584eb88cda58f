import numpy as np
from benchmark_utils import PointCounter, run_seeds
from benchopt import BaseSolver
from benchopt.stopping_criterion import SingleRunCriterion
from scipy.optimize import dual_annealing


class Solver(BaseSolver):
    """Peer: scipy.optimize.dual_annealing on [-5.12, 5.12]^d, maxfun = budget per run."""

    name = "scipy-dual_annealing"
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
        xs = [dual_annealing(counter, box, maxfun=self.budget, seed=int(seed)).x
              for seed in run_seeds(self.get_seed(use_repetition=True), self.n_runs)]
        self.x_runs, self.n_value = np.array(xs), counter.points

    def get_result(self):
        return dict(x_runs=self.x_runs, n_value=self.n_value)
