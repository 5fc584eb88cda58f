"""Run a ``torch.optim.Optimizer`` as an optkit method on a numpy or torch problem."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .registry import MethodInfo, Option, resolve
from .result import STATUS
from .validate import check_int, check_nonnegative, is_torch_tensor

__all__ = ["TorchOptimizerSolver", "torch_optimizer_method"]


@dataclass
class _TorchState:
    x: Any
    fun: float
    grad: Any
    param: Any
    optimizer: Any


class TorchOptimizerSolver:
    """Each iteration hands the gradient at the current point to ``optimizer.step()``.

    The variable is one float64 (or the torch ``x0``'s dtype) parameter tensor; the
    gradient comes from the problem's oracle, so the counts are exactly one value
    and one gradient per iteration. Stops when ``max|g| <= gtol``.
    """

    def __init__(self, optimizer: str | type, gtol: float, **hyper: Any):
        self.optimizer_cls = resolve(optimizer)
        self.gtol = gtol
        self.hyper = hyper

    def init(self, problem, x0, rng):
        import torch

        tensor_in = is_torch_tensor(x0)
        data = x0.detach().clone() if tensor_in else torch.from_numpy(np.array(x0, copy=True))
        param = torch.nn.Parameter(data)
        optimizer = self.optimizer_cls([param], **self.hyper)
        x = self._x(param, tensor_in)
        f, g = problem.objective.value_and_grad(x)
        return _TorchState(x=x, fun=f, grad=g, param=param, optimizer=optimizer)

    @staticmethod
    def _x(param, tensor_in: bool):
        x = param.detach().clone()
        return x if tensor_in else x.numpy()

    def step(self, problem, state):
        import torch

        g = state.grad
        state.param.grad = g.to(state.param) if is_torch_tensor(g) else torch.from_numpy(
            np.asarray(g, dtype=state.param.detach().numpy().dtype).copy())
        state.optimizer.step()
        x = self._x(state.param, is_torch_tensor(state.x))
        f, g = problem.objective.value_and_grad(x)
        return _TorchState(x=x, fun=f, grad=g, param=state.param, optimizer=state.optimizer)

    def terminate(self, problem, state):
        g = state.grad
        gmax = float(g.abs().max()) if is_torch_tensor(g) else float(np.max(np.abs(g)))
        if gmax <= self.gtol:
            return True, STATUS["success"], "Optimization terminated successfully."
        return False, 0, ""

    def result(self, problem, state):
        from .solver import to_numpy

        return {"jac": to_numpy(state.grad)}


def torch_optimizer_method(name: str, optimizer: str, *, summary: str, reference: str,
                           hyper: dict[str, Option], maxiter: int = 1000,
                           test_options: dict | None = None,
                           optimizer_test_kwargs: dict | None = None,
                           supports: frozenset = frozenset(),
                           converge_options: Mapping[str, Any] | None = MappingProxyType({})
                           ) -> MethodInfo:
    """A :class:`MethodInfo` running ``optimizer`` ("module:Class") through :class:`TorchOptimizerSolver`.

    ``hyper`` documents the optimizer keywords exposed as options (``lr``, ``betas``, ...);
    ``converge_options`` are those under which it reaches the conformance table's optima
    (``None``: it does not minimize to optimality by design).
    """
    options = {
        "maxiter": Option(maxiter, "int\n    Maximum number of optimizer steps.",
                          check=lambda v, n: check_int(v, n, minimum=0)),
        "gtol": Option(1e-6, "float\n    Stop when the largest gradient entry is <= gtol.",
                       check=check_nonnegative),
        **hyper,
    }

    def make(gtol, **kw):
        return TorchOptimizerSolver(optimizer, gtol, **kw)

    return MethodInfo(
        name=name, solver=make, summary=summary, reference=reference,
        requires=frozenset({"value", "grad"}),
        supports=frozenset({"torch", "torch.optim"}) | supports,
        options=options, tol_option="gtol", test_options=test_options or {},
        optimizer=optimizer, optimizer_test_kwargs=optimizer_test_kwargs or {},
        converge_options=converge_options,
    )

