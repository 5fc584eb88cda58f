"""Gradient descent with Armijo backtracking (projected onto box bounds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .result import STATUS

__all__ = ["GradientDescent"]


@dataclass
class _GDState:
    x: np.ndarray
    fun: float
    grad: np.ndarray
    step: float
    n_backtracks: int = 0
    failed: bool = False

    def trace_extra(self) -> dict[str, Any]:
        return {"step": self.step, "grad_norm": float(np.max(np.abs(self.grad)))}


class GradientDescent:
    r"""Gradient descent with Armijo backtracking, projected onto ``bounds``.

    With :math:`P` the projection onto the box (identity without bounds), each
    iteration tries :math:`t = \min(t_{\max}, \gamma t_{k-1}), \beta t, \beta^2 t, \dots`
    and accepts the first point

    .. math::
        x_{k+1} = P(x_k - t \nabla f(x_k)), \qquad
        f(x_{k+1}) \le f(x_k) + c_1 \nabla f(x_k)^\top (x_{k+1} - x_k),

    the Armijo rule along the projection arc. It stops when the projected
    gradient :math:`\|P(x_k - \nabla f(x_k)) - x_k\|_\infty \le` ``gtol``.

    References
    ----------
    L. Armijo, "Minimization of functions having Lipschitz continuous first partial
    derivatives", Pacific J. Math. 16(1), 1966. D. P. Bertsekas, *Nonlinear
    Programming*, 3rd ed., 2016, §3.3 (the projection arc).
    """

    def __init__(self, gtol: float, step0: float, step_max: float, c1: float, shrink: float,
                 grow: float, max_backtracks: int):
        self.gtol = gtol
        self.step0 = step0
        self.step_max = step_max
        self.c1 = c1
        self.shrink = shrink
        self.grow = grow
        self.max_backtracks = max_backtracks

    def _project(self, problem, x):
        b = problem.bounds
        return x if b is None else np.clip(x, b.lb, b.ub)

    def init(self, problem, x0, rng):
        x = self._project(problem, np.array(x0, copy=True))
        f, g = problem.objective.value_and_grad(x)
        return _GDState(x=x, fun=f, grad=g, step=self.step0 / self.grow)

    def step(self, problem, state):
        t = min(self.step_max, state.step * self.grow)
        x, f, g = state.x, state.fun, state.grad
        for k in range(self.max_backtracks + 1):
            x_new = self._project(problem, x - t * g)
            if np.array_equal(x_new, x):
                break
            f_new = problem.objective.value(x_new)
            if np.isfinite(f_new) and f_new <= f + self.c1 * float(g @ (x_new - x)):
                g_new = problem.objective.grad(x_new)
                return _GDState(x=x_new, fun=f_new, grad=g_new, step=t, n_backtracks=k)
            t *= self.shrink
        return _GDState(x=x, fun=f, grad=g, step=t, n_backtracks=self.max_backtracks, failed=True)

    def terminate(self, problem, state):
        pg = float(np.max(np.abs(self._project(problem, state.x - state.grad) - state.x)))
        if state.failed:
            return True, STATUS["line_search"], (
                f"Line search found no decrease (last trial step {state.step:.3g}, projected "
                f"gradient {pg:.3g}): the gradient may be wrong, or the objective's rounding error "
                "limits the attainable accuracy.")
        if pg <= self.gtol:
            return True, STATUS["success"], "Optimization terminated successfully."
        return False, 0, ""

    def result(self, problem, state):
        return {"jac": np.array(state.grad, copy=True)}
