import numpy as np
from benchmark_utils import PointCounter, SwarmSolver, run_seeds
from scipy.optimize import dual_annealing


class Solver(SwarmSolver):
    """Peer: scipy.optimize.dual_annealing on [-5.12, 5.12]^d, maxfun = budget per run."""

    name = "scipy-dual_annealing"

    def run(self, _):
        p = self.problem
        counter = PointCounter(p.objective.value_batch)
        box = [(-self.box, self.box)] * p.n
        xs = [dual_annealing(counter, box, maxfun=self.budget, seed=int(seed)).x
              for seed in run_seeds(self.get_seed(use_repetition=True), self.n_runs)]
        self.x_runs, self.n_value = np.array(xs), counter.points
