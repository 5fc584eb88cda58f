"""The ``"spsa"`` method of ``optkit.minimize``: :class:`~optkit.zeroth.MeZO` on a value oracle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from optkit.core.result import STATUS

from .spsa import MeZO

__all__ = ["SPSASolver"]


@dataclass
class _SPSAState:
    x: np.ndarray
    fun: float
    param: torch.nn.Parameter
    optimizer: MeZO
    failure: str = ""

    def trace_extra(self) -> dict[str, Any]:
        return {"d": float(self.optimizer.zo_stats["last_d"][0])}


class SPSASolver:
    r"""MeZO's SPSA step on a numpy problem that only gives values.

    Each iteration is one :meth:`MeZO.step <optkit.zeroth.MeZO.step>` (2n function
    values with the central estimator, n + 1 with the forward one) followed by one
    value at the new point, so that ``fun`` is exactly :math:`f(x)`:
    ``nfev = 1 + nit (2n + 1)`` (central) or ``1 + nit (n + 2)`` (forward); ``maxfev``
    bounds this count of forward passes, checked before each iteration. A spent
    ``maxiter`` or ``maxfev`` is ``success=False`` (status 1 or 6): SGD has no stopping
    test of its own. The direction seeds come from the run's ``rng``. A non-finite value
    at a perturbed point restores ``x`` and stops the run with status 3.
    """

    def __init__(self, lr: float, eps: float, n_directions: int, estimator: str, update: str,
                 momentum: float, clip: float | None, distribution: str):
        self.kwargs = dict(lr=lr, eps=eps, n_directions=n_directions, estimator=estimator,
                           update=update, momentum=momentum, clip=clip,
                           distribution=distribution)
        MeZO([torch.zeros(1, requires_grad=True)], **self.kwargs)  # validates the options

    def init(self, problem, x0, rng):
        data = np.array(x0, copy=True)
        param = torch.nn.Parameter(torch.from_numpy(data), requires_grad=False)
        optimizer = MeZO([param], rng=rng, **self.kwargs)
        x = data.copy()
        return _SPSAState(x=x, fun=problem.objective.value(x), param=param, optimizer=optimizer)

    def step(self, problem, state):
        param = state.param

        def closure():
            return problem.objective.value(param.detach().numpy().copy())

        try:
            state.optimizer.step(closure)
        except FloatingPointError as exc:
            return _SPSAState(x=state.x, fun=state.fun, param=param, optimizer=state.optimizer,
                              failure=str(exc))
        x = param.detach().numpy().copy()
        return _SPSAState(x=x, fun=problem.objective.value(x), param=param,
                          optimizer=state.optimizer)

    def terminate(self, problem, state):
        if state.failure:
            return True, STATUS["nonfinite"], f"The objective was not finite at a perturbed point " \
                                              f"({state.failure})."
        return False, 0, ""

    def result(self, problem, state):
        return {"n_forward": state.optimizer.zo_stats["n_forward"]}
