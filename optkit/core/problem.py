"""The :class:`Problem` an algorithm solves, and adapters from scipy, torch and closures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import Bounds

from .constraints import ConstraintOracle, to_bounds, to_constraint_oracle
from .oracle import Counted, FunctionOracle
from .validate import as_float_vector, check_scalar_value, is_torch_tensor

__all__ = ["Problem"]

_FD_METHODS = ("2-point", "3-point", "cs")


def _fd_grad(fun: Callable, scheme: str) -> Callable:
    """Finite-difference gradient with scipy's relative steps (forward, central or complex step)."""
    eps = np.finfo(float).eps
    rel = {"2-point": eps ** 0.5, "3-point": eps ** (1 / 3), "cs": eps ** 0.5}[scheme]

    def grad(x):
        x = np.asarray(x, dtype=float)
        h = rel * np.maximum(1.0, np.abs(x))
        g = np.empty_like(x)
        f0 = float(fun(x)) if scheme == "2-point" else None
        for k in range(x.size):
            e = np.zeros_like(x)
            e[k] = h[k]
            if scheme == "2-point":
                g[k] = (float(fun(x + e)) - f0) / h[k]
            elif scheme == "3-point":
                g[k] = (float(fun(x + e)) - float(fun(x - e))) / (2 * h[k])
            else:
                g[k] = np.imag(fun(x + 1j * e)) / h[k]
        return g

    return grad


def _fd_hvp(grad: Callable) -> Callable:
    """Forward difference of the gradient along ``v``: two gradient evaluations."""

    def hvp(x, v):
        x = np.asarray(x, dtype=float)
        v = np.asarray(v, dtype=float)
        h = np.finfo(float).eps ** 0.5 * max(1.0, np.linalg.norm(x)) / max(np.linalg.norm(v), 1e-300)
        return (np.asarray(grad(x + h * v)) - np.asarray(grad(x))) / h

    return hvp


def _fd_evals(scheme: str, n: int) -> int:
    return {"2-point": n + 1, "3-point": 2 * n, "cs": n}[scheme]


def _copy(x):
    return x.detach().clone() if is_torch_tensor(x) else np.array(x, copy=True)


class _Bound:
    """``fn`` called on a copy of ``x`` (it may modify it, as scipy allows) with ``args``
    appended; a class rather than a closure so that a process pool can pickle it."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, args):
        self.fn, self.args = fn, tuple(args)

    def __call__(self, x, *rest):
        return self.fn(_copy(x), *rest, *self.args)


def _bind(fn, args):
    """``fn`` as a :class:`_Bound` call (``None`` stays ``None``)."""
    if fn is None:
        return None
    return _Bound(fn, args)


@dataclass
class Problem:
    """An optimization problem: objective oracle, start, bounds, constraints, reference solution.

    Parameters
    ----------
    objective : oracle
        Any object implementing the protocols of :mod:`optkit.core.oracle`.
    x0 : array
        Start point (1-D numpy array or torch tensor).
    bounds : scipy.optimize.Bounds, optional
    constraints : ConstraintOracle, optional
    f_star, x_star : optional
        Known optimum, for suboptimality curves.
    name : str
    metadata : dict
        Per-problem extras (a data seed, recommended solver options, ...).
    """

    objective: Any
    x0: Any
    bounds: Bounds | None = None
    constraints: ConstraintOracle | None = None
    f_star: float | None = None
    x_star: Any = None
    name: str = "problem"
    metadata: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x0.shape[0])

    def counted(self) -> Problem:
        """A copy whose objective is wrapped in a fresh :class:`Counted`."""
        return replace(self, objective=Counted(self.objective))

    @classmethod
    def from_scipy(cls, fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
                   constraints=(), *, name: str = "problem", **kwargs) -> Problem:
        """Build a problem from :func:`scipy.optimize.minimize`'s arguments.

        ``jac`` may be a callable, ``True`` (``fun`` returns ``(f, g)``), one of
        ``'2-point'``, ``'3-point'``, ``'cs'``, or ``None`` (no gradient). ``hess``
        (callable returning a dense or sparse matrix, kept as the oracle's ``hess``) or
        ``hessp`` gives Hessian-vector products;
        ``hess`` as a finite-difference string differentiates the gradient.
        ``args`` are appended to every call, as scipy does.
        """
        x0 = as_float_vector(x0, "x0")
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        if not isinstance(args, tuple):
            args = (args,)
        f = _bind(fun, args)
        oracle_kwargs: dict[str, Any] = {}
        if jac is True:
            oracle_kwargs["value_and_grad"] = f
            value = lambda x: f(x)[0]  # noqa: E731
        else:
            value = f
            if callable(jac):
                oracle_kwargs["grad"] = _bind(jac, args)
            elif isinstance(jac, str):
                if jac not in _FD_METHODS:
                    raise ValueError(f"jac must be a callable, True, None or one of {_FD_METHODS}, got {jac!r}")
                oracle_kwargs["grad"] = _fd_grad(value, jac)
                oracle_kwargs["grad_value_evals"] = _fd_evals(jac, x0.size)
            elif jac not in (None, False):
                raise TypeError(f"jac must be a callable, True, None or one of {_FD_METHODS}, got {jac!r}")
        if hessp is not None and hess is not None:
            raise ValueError("pass at most one of hess and hessp")
        if callable(hessp):
            oracle_kwargs["hvp"] = _bind(hessp, args)
        elif hessp is not None:
            raise TypeError(f"hessp must be callable, got {type(hessp).__name__}")
        elif callable(hess):
            oracle_kwargs["hess"] = _bind(hess, args)
        elif isinstance(hess, str):
            if hess not in ("2-point", "3-point"):
                raise ValueError(f"hess as a string must be '2-point' or '3-point', got {hess!r}")
            if jac is True:
                grad_fn = lambda x: f(x)[1]  # noqa: E731
            elif "grad" in oracle_kwargs:
                grad_fn = oracle_kwargs["grad"]
            else:
                raise ValueError("hess by finite differences needs a gradient (jac=)")
            oracle_kwargs["hvp"] = _fd_hvp(grad_fn)
            oracle_kwargs["hvp_grad_evals"] = 2
        elif hess is not None:
            raise TypeError(f"hess must be a callable or a finite-difference string, got {type(hess).__name__}")
        oracle = FunctionOracle(value, **oracle_kwargs, **kwargs)
        return cls(
            objective=oracle,
            x0=x0,
            bounds=to_bounds(bounds, x0.size),
            constraints=to_constraint_oracle(constraints, x0),
            name=name,
        )

    @classmethod
    def from_torch(cls, fn: Callable, x0, *, args=(), bounds=None, name: str = "problem") -> Problem:
        """A problem on torch tensors; gradients and Hessian-vector products from autograd.

        ``fn(x, *args) -> scalar tensor``; it receives a copy of ``x``. ``x0`` may be numpy
        (converted to float64) or a tensor (dtype and device kept).
        """
        import torch

        if not callable(fn):
            raise TypeError(f"fun must be callable, got {type(fn).__name__}")
        x0 = torch.as_tensor(x0) if not isinstance(x0, torch.Tensor) else x0
        x0 = as_float_vector(x0, "x0")
        if not isinstance(args, tuple):
            args = (args,)
        user_fn = fn

        def fn(x):
            return user_fn(x, *args)

        def value(x):
            with torch.no_grad():
                return fn(x.detach().clone())

        def value_and_grad(x):
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                out = fn(x)
                check_scalar_value(out, "fun")
                (g,) = torch.autograd.grad(out, x)
            return out.detach(), g

        def hvp(x, v):
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                (g,) = torch.autograd.grad(fn(x), x, create_graph=True)
                (hv,) = torch.autograd.grad(g, x, grad_outputs=v)
            return hv

        oracle = FunctionOracle(value, value_and_grad=value_and_grad, hvp=hvp)
        return cls(objective=oracle, x0=x0, bounds=to_bounds(bounds, x0.shape[0]), name=name)

    @classmethod
    def from_closure(cls, closure: Callable, params, *, name: str = "problem") -> Problem:
        """Wrap a ``torch.optim`` closure (zero_grad, forward, backward, return loss).

        The variable is the flat vector of ``params`` (``parameters_to_vector``);
        evaluating the oracle writes it into the parameters, as an optimizer step would.
        """
        import torch
        from torch.nn.utils import parameters_to_vector, vector_to_parameters

        params = list(params)
        if not params:
            raise ValueError("params must not be empty")

        def load(x):
            with torch.no_grad():
                vector_to_parameters(x, params)

        def value(x):
            load(x)
            with torch.enable_grad():
                return closure()

        def value_and_grad(x):
            load(x)
            with torch.enable_grad():
                loss = closure()
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            return loss.detach(), parameters_to_vector(grads).detach().clone()

        x0 = parameters_to_vector(params).detach().clone()
        oracle = FunctionOracle(value, value_and_grad=value_and_grad)
        return cls(objective=oracle, x0=x0, name=name)
