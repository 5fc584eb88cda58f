import numpy as np
from benchopt import BaseDataset

from optkit import Problem


class Dataset(BaseDataset):
    """benchopt's test dataset: a small rotated quadratic f(x) = 1/2 (x - x*)^T A (x - x*),
    eigenvalues log-spaced over [1/cond, 1] (minimum 0 at x*), exact gradient and Hessian-vector
    product, so every solver of the suite runs on it."""

    name = "simulated"
    parameters = {"n": [10], "cond": [1e2]}
    test_parameters = {"n": [10], "cond": [1e2]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed())
        Q, _ = np.linalg.qr(rng.standard_normal((self.n, self.n)))
        A = (Q * np.logspace(-np.log10(self.cond), 0, self.n)) @ Q.T
        x_star = rng.standard_normal(self.n)

        def fun(x):
            r = x - x_star
            return 0.5 * float(r @ (A @ r))

        problem = Problem.from_scipy(fun, np.zeros(self.n), jac=lambda x: A @ (x - x_star),
                                     hessp=lambda x, v: A @ v, name=f"simulated-{self.n}")
        problem.f_star = 0.0
        problem.x_star = x_star
        return dict(problem=problem)
