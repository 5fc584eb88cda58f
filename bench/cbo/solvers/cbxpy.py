import numpy as np
from benchmark_utils import PointCounter, SwarmSolver
from cbx.dynamics import CBO
from cbx.utils.termination import max_eval_term


class Solver(SwarmSolver):
    """Peer: CBXpy's CBO with the settings of optkit-cbo[config=anisotropic], same budget per run.

    Anisotropic noise, sigma = 10.1, alpha0 = 30 with CBXpy's default x1.05 schedule (cap 1e5),
    dt = 0.01, lambda = 1, N = 50; all runs as CBXpy's M vectorized runs, particles U(-3, 3)^d
    drawn by us (CBXpy's own init ignores its seed).
    """

    name = "cbxpy"
    parameters = {"n_particles": [50]}
    requirements = ["pip::cbx"]

    def run(self, _):
        p = self.problem
        counter = PointCounter(p.objective.value_batch)
        rng = np.random.default_rng(self.get_seed(use_repetition=True))
        h = self.init
        x = rng.uniform(-h, h, (self.n_runs, self.n_particles, p.n))
        dyn = CBO(counter, f_dim="3D", x=x, noise="anisotropic", sigma=10.1, alpha=30.0, dt=0.01,
                  lamda=1.0, max_it=10**7, term_criteria=[max_eval_term(self.budget)],
                  check_f_dims=False, verbosity=0, seed=int(rng.integers(2**31)))
        np.random.seed(int(rng.integers(2**31)))  # CBXpy draws its noise from the global state
        dyn.optimize()
        self.x_runs, self.n_value = np.array(dyn.best_particle), counter.points
