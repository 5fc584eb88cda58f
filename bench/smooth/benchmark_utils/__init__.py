"""Shared pieces of the smooth suite."""

import numpy as np

from optkit import Problem


def rotated_quadratic(n, cond, seed, name):
    """f(x) = 1/2 (x - x*)^T A (x - x*), A = Q diag(λ) Q^T with Q a random rotation and λ
    log-spaced over [1/cond, 1]: minimum 0 at x*, exact gradient and Hessian-vector product."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.logspace(-np.log10(cond), 0, n)) @ Q.T
    x_star = rng.standard_normal(n)

    def fun(x):
        r = x - x_star
        return 0.5 * float(r @ (A @ r))

    problem = Problem.from_scipy(fun, np.zeros(n), jac=lambda x: A @ (x - x_star),
                                 hessp=lambda x, v: A @ v, name=f"{name}-{n}")
    problem.f_star = 0.0
    problem.x_star = x_star
    return problem
