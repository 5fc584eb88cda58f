import numpy as np
from benchopt import BaseDataset
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

from optkit import Problem


class Dataset(BaseDataset):
    """The extended Rosenbrock function, minimum 0 at (1, ..., 1), started at (-1.2, 1, ...)."""

    name = "rosenbrock"
    parameters = {"n": [2, 10, 50]}
    test_parameters = {"n": [2]}

    def get_data(self):
        x0 = np.tile([-1.2, 1.0], self.n // 2 + 1)[: self.n]
        problem = Problem.from_scipy(rosen, x0, jac=rosen_der, hessp=rosen_hess_prod,
                                     name=f"rosenbrock-{self.n}")
        problem.f_star = 0.0
        problem.x_star = np.ones(self.n)
        return dict(problem=problem)
