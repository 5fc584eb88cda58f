"""Shared pieces of the ``cbo`` suite: test functions, counted evaluators, the success rule.

Functions are vectorized ``(n, d) -> (n,)`` and take the transformed variable
``z = Q (x - x*)`` (``Q = I``, ``x* = 0`` for the axis-aligned variants), so the minimizer
is ``x*`` with value 0. Success of a run: ``||z||_inf < 0.25`` at its best point (CBXpy's
criterion, taken in the function's own coordinates so that a rotation does not loosen it).
"""

import numpy as np
from benchopt import BaseSolver
from benchopt.stopping_criterion import SingleRunCriterion

SUCCESS_RADIUS = 0.25


def rastrigin(z):
    """10 d + sum_i [z_i^2 - 10 cos(2 pi z_i)] (CBXpy's unnormalized form)."""
    return 10 * z.shape[-1] + np.sum(z**2 - 10 * np.cos(2 * np.pi * z), axis=-1)


def ackley(z):
    """-20 exp(-0.2 sqrt(mean z^2)) - exp(mean cos 2 pi z) + 20 + e."""
    return (-20 * np.exp(-0.2 * np.sqrt(np.mean(z**2, axis=-1)))
            - np.exp(np.mean(np.cos(2 * np.pi * z), axis=-1)) + 20 + np.e)


def griewank(z):
    """1 + sum z_i^2 / 4000 - prod cos(z_i / sqrt(i))."""
    i = np.arange(1, z.shape[-1] + 1)
    return 1 + np.sum(z**2, axis=-1) / 4000 - np.prod(np.cos(z / np.sqrt(i)), axis=-1)


FUNCTIONS = {"rastrigin": rastrigin, "ackley": ackley, "griewank": griewank}


class Transformed:
    """``x -> f(Q (x - x*))`` on rows of a 2-D array (a single point is a row too)."""

    def __init__(self, f, Q, shift):
        self.f, self.Q, self.shift = f, Q, shift

    def __call__(self, X):
        X = np.asarray(X, dtype=float)
        Z = (np.atleast_2d(X) - self.shift) @ self.Q.T
        out = self.f(Z)
        return out if X.ndim > 1 else float(out[0])


class PointCounter:
    """Wrap a vectorized ``(n, d) -> (n,)`` function; count every point.

    Accepts one point ``(d,)`` (scalar result), rows ``(n, d)`` or CBXpy's ``(M, N, d)``.
    """

    def __init__(self, f):
        self.f, self.points = f, 0

    def __call__(self, X):
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            self.points += 1
            return float(self.f(X[None])[0])
        rows = X.reshape(-1, X.shape[-1])
        self.points += rows.shape[0]
        return np.asarray(self.f(rows)).reshape(X.shape[:-1])


def run_seeds(seed, n_runs):
    """One integer seed per run, derived from benchopt's repetition seed."""
    return np.random.default_rng(seed).integers(2**31, size=n_runs)


class SwarmSolver(BaseSolver):
    """Shared shape of the suite's solvers: one run per cell (``n_runs`` seeded runs inside),
    result = the runs' final points and the points evaluated."""

    sampling_strategy = "run_once"
    stopping_criterion = SingleRunCriterion()
    requirements = []

    def set_objective(self, problem, n_runs, budget, init, box):
        """``init``: runs start in [-init, init]^d; ``box``: the search box of bounded peers."""
        self.problem, self.n_runs, self.budget = problem, n_runs, budget
        self.init, self.box = init, box

    def get_result(self):
        return dict(x_runs=self.x_runs, n_value=self.n_value)
