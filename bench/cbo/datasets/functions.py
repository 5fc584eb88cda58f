import numpy as np
from benchmark_utils import FUNCTIONS, Transformed
from benchopt import BaseDataset
from scipy.stats import ortho_group

from optkit import Problem
from optkit.core import FunctionOracle


class Dataset(BaseDataset):
    """Standard multimodal functions, axis-aligned or rotated and shifted (BBOB f15 style).

    ``transform="rotated"``: ``x -> f(Q (x - x*))`` with a seeded random orthogonal ``Q``
    and ``x* ~ U(-2, 2)^d``. Every method starts in ``[-3, 3]^d`` (CBO particles
    ``U(-3, 3)^d``, CMA-ES ``x0 ~ U(-3, 3)^d``); dual annealing and differential evolution
    search the box ``[-5.12, 5.12]^d``. ``n_runs`` seeded runs per solver and an
    evaluation ``budget`` per run.
    """

    name = "functions"
    parameters = {
        "fun": ["rastrigin", "ackley", "griewank"],
        "d": [20],
        "transform": ["axis", "rotated"],
        "n_runs": [50],
        "budget": [100_000],
    }
    test_parameters = {"fun": ["rastrigin"], "d": [5], "transform": ["axis", "rotated"],
                       "n_runs": [2], "budget": [2_000]}

    def get_data(self):
        d = self.d
        if self.transform == "rotated":
            Q = ortho_group.rvs(d, random_state=12345)
            shift = np.random.default_rng(54321).uniform(-2, 2, d)
        else:
            Q, shift = np.eye(d), np.zeros(d)
        fun = Transformed(FUNCTIONS[self.fun], Q, shift)
        problem = Problem(objective=FunctionOracle(fun, value_batch=fun), x0=np.zeros(d),
                          f_star=0.0, x_star=shift, name=f"{self.fun}-{d}-{self.transform}")
        return dict(problem=problem, n_runs=self.n_runs, budget=self.budget, init=3.0, box=5.12,
                    rotation=Q)
