"""``optkit.bilevel.solve`` as an entry point, one entry per method, on toys with closed forms.

Optimal values are computed here with numpy from the closed forms (spec bilevel §5.1-5.2),
independently of optkit's solvers: the quadratic toy's :math:`\\psi^* = \\psi(x^*)` (AID) and,
for the penalty methods (and V-PBGD with gamma = 1/sigma), the value f(x_sigma, y_sigma(x_sigma))
at the minimizer of the penalty :math:`\\psi_\\sigma`, which is where they converge. BOME runs
on the many-solutions toy, where its fixed point is the solution (psi* = 0). The mini-batch
entries have no stopping test (they end at maxiter), so no f_star.
"""

import numpy as np

from optkit.bilevel import BilevelResult, solve, toys

from .entry_points import Entry

FIELDS = ("y", "z", "njev", "n_outer_grad", "n_inner_grad")
PENALTY_FIELDS = FIELDS + ("sigma", "psi_sigma")


def _quadratic_data():
    """A, B, y_t, rho of ``toys.quadratic()``, drawn here as the toy documents it."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    A = q @ np.diag(np.linspace(1.0, 10.0, 10)) @ q.T
    return A, rng.standard_normal((10, 5)), rng.standard_normal(10), 0.1


def _quadratic_psi_star():
    A, B, yt, rho = _quadratic_data()
    M = np.linalg.solve(A, B)
    x = np.linalg.solve(M.T @ M + rho * np.eye(5), M.T @ yt)
    return 0.5 * np.sum((M @ x - yt) ** 2) + 0.5 * rho * x @ x


def _quadratic_penalty_value(sigma):
    """f(x_sigma, y_sigma(x_sigma)), x_sigma = argmin psi_sigma (spec bilevel §5.1)."""
    A, B, yt, rho = _quadratic_data()
    As = A + sigma * np.eye(10)
    H = rho * np.eye(5) + B.T @ np.linalg.solve(As, np.linalg.solve(A, B))
    x = np.linalg.solve(H, B.T @ np.linalg.solve(As, yt))
    y = np.linalg.solve(As, B @ x + sigma * yt)
    return 0.5 * np.sum((y - yt) ** 2) + 0.5 * rho * x @ x


def _run(problem, method, settings):
    def run(**kw):
        return solve(problem(), method, **{**settings, **kw})

    return run


def _minibatch(method, settings):
    return _run(toys.finite_sum, method,
                dict(sigma=0.1, lr_x=0.05, lr_y=0.1, lr_z=0.1, batch_size=(8, 5), maxiter=30,
                     **settings))


ENTRIES = [
    Entry("bilevel.solve[penalty]", _run(toys.quadratic, "penalty", dict(sigma=0.1, lr_x=0.5)),
          f_star=_quadratic_penalty_value(0.1), result_type=BilevelResult, fields=PENALTY_FIELDS),
    Entry("bilevel.solve[penalty-sl]",
          _run(toys.quadratic, "penalty-sl", dict(sigma=0.1, lr_x=0.1, maxiter=5000)),
          f_star=_quadratic_penalty_value(0.1), result_type=BilevelResult, fields=PENALTY_FIELDS),
    Entry("bilevel.solve[penalty,minibatch]", _minibatch("penalty", dict(inner_steps=3)),
          stochastic=True, result_type=BilevelResult, fields=PENALTY_FIELDS),
    Entry("bilevel.solve[penalty-sl,minibatch]", _minibatch("penalty-sl", {}),
          stochastic=True, result_type=BilevelResult, fields=PENALTY_FIELDS),
    Entry("bilevel.solve[aid]", _run(toys.quadratic, "aid", dict(lr_x=0.5)),
          f_star=_quadratic_psi_star(), rtol=1e-8, result_type=BilevelResult,
          fields=FIELDS + ("nhev", "n_inner_hvp")),
    Entry("bilevel.solve[vpbgd]", _run(toys.quadratic, "vpbgd", dict(gamma=10.0, lr_x=0.3, maxiter=5000)),
          f_star=_quadratic_penalty_value(0.1), result_type=BilevelResult, fields=FIELDS),
    Entry("bilevel.solve[bome]", _run(toys.many_solutions, "bome", {}), f_star=0.0, atol=1e-8,
          result_type=BilevelResult, fields=FIELDS),
]
