"""Gradient descent with Armijo backtracking (projected onto box bounds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backend import asarray_like, namespace, to_float
from .linesearch import backtracking
from .result import STATUS

__all__ = ["GradientDescent"]


@dataclass
class _GDState:
    x: Any
    fun: float
    grad: Any
    step: float
    n_backtracks: int = 0
    failed: bool = False

    def trace_extra(self) -> dict[str, Any]:
        xp = namespace(self.grad)
        return {"step": self.step, "grad_norm": to_float(xp.max(xp.abs(self.grad)))}


class GradientDescent:
    r"""Gradient descent with Armijo backtracking, projected onto ``bounds``.

    With :math:`P` the projection onto the box (identity without bounds), each
    iteration tries :math:`t = \min(t_{\max}, \gamma t_{k-1}), \beta t, \beta^2 t, \dots`
    and accepts the first point

    .. math::
        x_{k+1} = P(x_k - t \nabla f(x_k)), \qquad
        f(x_{k+1}) \le f(x_k) + c_1 \nabla f(x_k)^\top (x_{k+1} - x_k),

    the Armijo rule along the projection arc (:func:`optkit.core.linesearch.backtracking`).
    It stops when the projected gradient :math:`\|P(x_k - \nabla f(x_k)) - x_k\|_\infty \le`
    ``gtol``. numpy and torch iterates (any device) share this code path.

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

    @staticmethod
    def _project(problem, x):
        b = problem.bounds
        if b is None:
            return x
        xp = namespace(x)
        return xp.clip(x, asarray_like(b.lb, x), asarray_like(b.ub, x))

    def init(self, problem, x0, rng):
        x = self._project(problem, namespace(x0).asarray(x0, copy=True))
        f, g = problem.objective.value_and_grad(x)
        return _GDState(x=x, fun=f, grad=g, step=self.step0 / self.grow)

    def step(self, problem, state):
        x, f, g = state.x, state.fun, state.grad
        xp = namespace(x)

        def trial(t):
            x_new = self._project(problem, x - t * g)
            if bool(xp.all(x_new == x)):
                return None
            return problem.objective.value(x_new), to_float(xp.sum(g * (x_new - x))), x_new

        ls = backtracking(trial, f, step=min(self.step_max, state.step * self.grow), c1=self.c1,
                          shrink=self.shrink, max_backtracks=self.max_backtracks)
        if not ls.success:
            return _GDState(x=x, fun=f, grad=g, step=ls.step, n_backtracks=ls.ntrials,
                            failed=True)
        return _GDState(x=ls.payload, fun=ls.value, grad=problem.objective.grad(ls.payload),
                        step=ls.step, n_backtracks=ls.ntrials - 1)

    def terminate(self, problem, state):
        xp = namespace(state.x)
        pg = to_float(xp.max(xp.abs(self._project(problem, state.x - state.grad) - state.x)))
        if state.failed:
            return True, STATUS["line_search"], (
                f"Line search found no decrease (last trial step {state.step:.3g}, projected "
                f"gradient {pg:.3g}): the gradient may be wrong, or the objective's rounding error "
                "limits the attainable accuracy.")
        if pg <= self.gtol:
            return True, STATUS["success"], "Optimization terminated successfully."
        return False, 0, ""

    def result(self, problem, state):
        return {"jac": namespace(state.grad).asarray(state.grad, copy=True)}
