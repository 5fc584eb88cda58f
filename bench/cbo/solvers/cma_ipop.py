import cma
import numpy as np
from benchmark_utils import PointCounter, SwarmSolver, run_seeds


class Solver(SwarmSolver):
    """Peer: pycma CMA-ES with IPOP restarts (population doubling), sigma0 = 2, x0 ~ U(-3, 3)^d."""

    name = "cma-ipop"
    requirements = ["pip::cma"]

    def run(self, _):
        p = self.problem
        counter = PointCounter(p.objective.value_batch)
        h = self.init
        xs = []
        for seed in run_seeds(self.get_seed(use_repetition=True), self.n_runs):
            x0 = np.random.default_rng(seed).uniform(-h, h, p.n)
            start = counter.points
            res = cma.fmin(None, x0, 2.0, restarts=9, incpopsize=2,
                           parallel_objective=lambda X: list(counter(np.array(X))),
                           options={"maxfevals": self.budget, "seed": int(seed) + 1,
                                    "verbose": -9, "verb_log": 0, "verb_disp": 0,
                                    "tolfun": 1e-11})
            xs.append(res[0])
            # pycma checks maxfevals between generations: at most one population over budget
            assert counter.points - start <= self.budget * 1.5
        self.x_runs, self.n_value = np.array(xs), counter.points
