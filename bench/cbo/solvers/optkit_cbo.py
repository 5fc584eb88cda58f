import numpy as np
from benchmark_utils import PointCounter, SwarmSolver

from optkit.cbo import CBO
from optkit.cbo.hopping import hopping_particles
from optkit.core import Problem, run

CONFIGS = {
    # the defaults: Consensus Hopping, N = 40 d (cap 800), ESS alpha, sigma0 = initial
    # half-width, x0.97 per step
    "default": {},
    # anisotropic CBO: sigma 10.1, alpha0 = 30 (x1.05, cap 1e5), N = 50 (CBXpy's setting)
    "anisotropic": {"variant": "cbo"},
}


class Solver(SwarmSolver):
    """optkit CBO: all runs vectorized in one (M, N, d) swarm (the solver class on core.run)."""

    name = "optkit-cbo"
    parameters = {"config": list(CONFIGS)}

    def run(self, _):
        p = self.problem
        counter = PointCounter(p.objective.value_batch)
        solver = CBO(**CONFIGS[self.config], n_runs=self.n_runs, spread=self.init,
                     vectorized=True)
        problem = Problem.from_scipy(counter, p.x0)
        # N (maxiter + 1) evaluations per run fit the budget
        n_particles = solver.n_particles or hopping_particles(len(p.x0))
        maxiter = self.budget // n_particles - 1
        res = run(solver, problem.counted(), maxiter=maxiter,
                  rng=np.random.default_rng(self.get_seed(use_repetition=True)))
        self.x_runs, self.n_value = res.x_runs, res.nfev
        assert res.nfev == counter.points
