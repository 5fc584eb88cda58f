r"""Gradient-based scaling of an equality-constrained problem at :math:`x_0` (the
``safeguards="robust"`` default of ``al-newton``).

IPOPT's rule (Wächter and Biegler, "On the implementation of an interior-point filter
line-search algorithm for large-scale nonlinear programming", Math. Program. 106, 2006,
automatic scaling of the problem statement): with :math:`g_{\max} = 100`,

.. math::
    s_f = \max\bigl(s_{\min}, \min(1, g_{\max}/\|\nabla f(x_0)\|_\infty)\bigr), \qquad
    d_i = \max\bigl(s_{\min}, \min(1, g_{\max}/\|\nabla c_i(x_0)\|_\infty)\bigr),

and the method runs on :math:`\tilde f = s_f f`, :math:`\tilde c = D(c - b)` (:math:`D =
\mathrm{diag}(d)`, :math:`b` the constraint level), :math:`s_{\min} = 10^{-8}`. Only large
gradients are scaled down, so a well-scaled problem is untouched. The multipliers of the
two problems are related by :math:`\lambda = D\tilde\lambda / s_f`. Why it matters for the
exact augmented Lagrangian: its term :math:`\tfrac{\nu}{2}\|\nabla_x L\|^2` grows with the
square of the gradient scale, so on badly scaled problems (S2MPJ LUKVLE4, LUKVLE8:
:math:`\|\nabla f(x_0)\| \sim 10^4`) the merit rejects Newton steps down to
:math:`\alpha \sim 10^{-7}` and the penalties run into their safeguards.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

GRAD_MAX = 100.0
SCALE_MIN = 1e-8

__all__ = ["scale_factors", "ScaledProblem"]


def scale_factors(g, G):
    """``(s_f, d)`` of the module docstring from :math:`\\nabla f(x_0)` and :math:`G(x_0)`."""
    g_inf = float(np.max(np.abs(g), initial=0.0))
    s_f = max(SCALE_MIN, min(1.0, GRAD_MAX / g_inf)) if g_inf > 0 else 1.0
    if G.shape[0] == 0:
        return s_f, np.ones(0)
    rows = (abs(sp.csr_array(G)).max(axis=1).toarray().ravel() if sp.issparse(G)
            else np.max(np.abs(np.asarray(G)), axis=1))
    with np.errstate(divide="ignore"):
        d = np.where(rows > 0, np.minimum(1.0, GRAD_MAX / rows), 1.0)
    return s_f, np.maximum(d, SCALE_MIN)


class _ScaledObjective:
    """:math:`s_f f` with the oracle methods al-newton calls (counts go to the original)."""

    def __init__(self, objective, s_f):
        self._obj, self._s = objective, s_f

    def __getattr__(self, name):  # has_hess, has_hvp, counters, ...
        return getattr(self._obj, name)

    def value(self, x):
        return self._s * self._obj.value(x)

    def value_and_grad(self, x):
        f, g = self._obj.value_and_grad(x)
        return self._s * f, self._s * np.asarray(g, dtype=float)

    def grad(self, x):
        return self._s * np.asarray(self._obj.grad(x), dtype=float)

    def hvp(self, x, v):
        return self._s * np.asarray(self._obj.hvp(x, v), dtype=float)

    def hess(self, x):
        return self._s * self._obj.hess(x)


class _ScaledConstraints:
    """:math:`D(c - b)` (level 0) with the oracle methods al-newton calls."""

    def __init__(self, constraints, d):
        self._cons, self._d = constraints, d
        self.lb = self.ub = np.zeros(d.size)

    def __getattr__(self, name):  # m, n, is_linear, has_lagrangian_hess, counters, ...
        return getattr(self._cons, name)

    def c(self, x):
        return self._d * (np.asarray(self._cons.c(x), dtype=float) - self._cons.lb)

    def jac(self, x):
        return self.scale_jacobian(self._cons.jac(x))

    def scale_jacobian(self, J):
        """:math:`DJ` for the user's Jacobian :math:`J` (dense or sparse)."""
        if sp.issparse(J):
            return sp.csr_array(sp.diags_array(self._d) @ J)
        return self._d[:, None] * np.asarray(J, dtype=float)

    def lagrangian_hvp(self, x, lam, v):
        return self._cons.lagrangian_hvp(x, self._d * lam, v)

    def lagrangian_hess(self, x, lam):
        return self._cons.lagrangian_hess(x, self._d * lam)


class ScaledProblem:
    """The view of ``problem`` that al-newton iterates on when scaling is active."""

    def __init__(self, problem, s_f, d):
        self.problem, self.s_f, self.d = problem, s_f, d
        self.objective = _ScaledObjective(problem.objective, s_f)
        self.constraints = _ScaledConstraints(problem.constraints, d)
        self.n = problem.n

    def __getattr__(self, name):
        return getattr(self.problem, name)

    def scale_values(self, f, g, c, G):
        r"""The scaled problem's :math:`(s_f f, s_f\nabla f, Dc, DG)` from the user's values
        at one point (``c`` already shifted by the level), exactly as its oracles would
        return them: no second evaluation of the user's functions."""
        return (self.s_f * f, self.s_f * np.asarray(g, dtype=float), self.d * c,
                self.constraints.scale_jacobian(G))

    def unscale_multipliers(self, lam):
        return self.d * lam / self.s_f

    def scale_multipliers(self, lam):
        return self.s_f * lam / self.d
