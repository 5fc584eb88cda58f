import numpy as np
from benchopt import BaseDataset
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.datasets import load_breast_cancer

from optkit import Problem


class Dataset(BaseDataset):
    """L2-regularized logistic regression on scikit-learn's bundled breast_cancer data
    (standardized features, intercept column). f* from a tight L-BFGS-B solve."""

    name = "logreg-breast-cancer"
    parameters = {"reg": [1e-3]}
    test_parameters = {"reg": [1e-2]}

    def get_data(self):
        X, y = load_breast_cancer(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)
        X = np.hstack([X, np.ones((X.shape[0], 1))])
        s = 2.0 * y - 1.0
        n, reg = X.shape[0], self.reg

        def fun(w):
            return -float(np.mean(log_expit(s * (X @ w)))) + 0.5 * reg * float(w @ w)

        def jac(w):
            return -(X.T @ (s * expit(-s * (X @ w)))) / n + reg * w

        def hessp(w, v):
            p = expit(X @ w)
            return X.T @ (p * (1 - p) * (X @ v)) / n + reg * v

        x0 = np.zeros(X.shape[1])
        ref = minimize(fun, x0, jac=jac, method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10000})
        problem = Problem.from_scipy(fun, x0, jac=jac, hessp=hessp, name="logreg-breast-cancer")
        problem.f_star = float(ref.fun)
        problem.x_star = ref.x
        return dict(problem=problem)
