r"""Constrained logistic regression, the machine-learning example of Hong et al. (ICML 2023).

.. math::
    \min_w \frac{1}{N}\sum_{i=1}^N \log(1 + e^{-y_i a_i^\top w}) + \frac{\gamma}{2}\|w\|^2
    \quad\text{s.t.}\quad Aw = b,\; \|w\|^2 = 1,

with :math:`A \in \mathbb{R}^{k \times d}` and :math:`b` standard Gaussian. The problem is
feasible iff :math:`\|A^+ b\| \le 1`; the draw is repeated from the same generator until
:math:`\|A^+ b\| \le` ``max_norm`` and the number of draws is recorded in
``problem.metadata["draws"]``. The paper's problem has :math:`\gamma = 0`; without the
sphere constraint the problem is convex (strongly for :math:`\gamma > 0`; with
:math:`\gamma = 0` it may have no minimizer when the data are separable).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import LinearConstraint, NonlinearConstraint

from optkit.core import Problem
from optkit.core.rng import check_rng
from optkit.core.validate import check_int, check_nonnegative, check_positive

__all__ = ["constrained_logreg", "load_breast_cancer_pm1"]


def load_breast_cancer_pm1():
    """scikit-learn's bundled breast-cancer data, standardized, labels in {-1, +1}."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, np.where(y > 0, 1.0, -1.0)


def constrained_logreg(X, y, *, n_linear=10, sphere=True, l2=0.0, rng=0, max_norm=0.9,
                       x0=None):
    r"""The constrained logistic-regression :class:`~optkit.core.Problem`.

    Parameters
    ----------
    X : (N, d) array
        Features (rows :math:`a_i`).
    y : (N,) array
        Labels in {-1, +1}.
    n_linear : int
        Rows :math:`k` of the Gaussian linear constraints :math:`Aw = b` (``k < d``).
    sphere : bool
        Add :math:`\|w\|^2 = 1` (nonconvex).
    l2 : float
        Ridge weight :math:`\gamma \ge 0`.
    rng : None, int or numpy.random.Generator
        Draws the constraints (redrawn from the same generator while infeasible).
    max_norm : float
        Redraw until :math:`\|A^+ b\| \le` ``max_norm`` (``sphere`` only).
    x0 : array, optional
        Start; all ones by default (as the reference code).

    Returns
    -------
    Problem
        With analytic gradient and Hessian-vector products, the constraints, and
        ``metadata = {"draws", "A", "b", "options"}`` (``draws``: constraint draws made); ``options`` are the reference code's
        al-newton settings for this problem (:math:`\lambda_0 = 1`, ``hess_mod_tol=1e-2``):
        from :math:`\lambda_0 = 0`, or with ``hess_mod_tol=1e-6``, the reduced Hessian at
        :math:`w_0 = 1` is nearly singular without triggering the modification and exact
        Newton steps are tiny.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (N, d) and y (N,), got {X.shape} and {y.shape}")
    if not np.all(np.abs(y) == 1):
        raise ValueError("y must hold labels -1 and +1")
    N, d = X.shape
    n_linear = check_int(n_linear, "n_linear", minimum=0)
    if n_linear + bool(sphere) > d:
        raise ValueError(f"n_linear must be < d = {d} with the sphere constraint, got {n_linear}")
    check_positive(max_norm, "max_norm")
    l2 = check_nonnegative(l2, "l2")
    rng = check_rng(rng)
    draws = 0
    while True:
        A = rng.standard_normal((n_linear, d))
        b = rng.standard_normal(n_linear)
        draws += 1
        if not sphere or n_linear == 0 or np.linalg.norm(np.linalg.pinv(A) @ b) <= max_norm:
            break
    Z = -y[:, None] * X  # rows -y_i a_i

    def fun(w):
        return float(np.mean(np.logaddexp(0.0, Z @ w))) + 0.5 * l2 * float(w @ w)

    def jac(w):
        return Z.T @ _sigmoid(Z @ w) / N + l2 * w

    def hessp(w, v):
        s = _sigmoid(Z @ w)
        return Z.T @ (s * (1 - s) * (Z @ v)) / N + l2 * v

    cons = []
    if n_linear:
        cons.append(LinearConstraint(A, b, b))
    if sphere:
        cons.append(NonlinearConstraint(lambda w: np.array([w @ w - 1.0]), 0.0, 0.0,
                                        jac=lambda w: 2.0 * w[None, :],
                                        hess=lambda w, v: 2.0 * v[0] * np.eye(d)))
    x0 = np.ones(d) if x0 is None else x0
    problem = Problem.from_scipy(fun, x0, jac=jac, hessp=hessp, constraints=cons,
                                 name=f"logreg(N={N}, d={d}, k={n_linear}, sphere={sphere}, l2={l2:g})")
    problem.metadata = {"draws": draws, "A": A, "b": b,
                        "options": {"lam0": np.ones(n_linear + bool(sphere)), "hess_mod_tol": 1e-2}}
    return problem


def _sigmoid(t):
    return 0.5 * (1.0 + np.tanh(0.5 * t))
