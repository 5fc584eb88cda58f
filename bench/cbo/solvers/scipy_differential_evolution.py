import numpy as np
from benchmark_utils import PointCounter, SwarmSolver, run_seeds
from scipy.optimize import differential_evolution


class Solver(SwarmSolver):
    """Peer: scipy.optimize.differential_evolution (defaults: popsize 15 d), vectorized, no polish.

    ``maxiter`` is set so that ``popsize * d * (maxiter + 1)`` points fit the budget per run.
    """

    name = "scipy-differential_evolution"

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
