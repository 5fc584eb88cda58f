"""Bilevel problems: an upper objective f(x, y), a lower objective g(x, y), their oracles.

Each level is a :class:`Level` oracle evaluated at a pair ``(x, y)``; ``value_and_grad``
returns ``(value, (grad_x, grad_y))``, both partial gradients from one call. The solvers
wrap every level in :class:`optkit.core.Counted`, so a call counts one value and one
gradient (per point evaluated) and mini-batch calls charge ``n_samples``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.backend import asarray_like, namespace
from ..core.constraints import to_bounds
from ..core.oracle import MissingOracleError
from ..core.validate import (
    as_float_vector,
    check_int,
    check_nonnegative,
    check_positive,
    check_same_shape,
    check_scalar_value,
    is_torch_tensor,
)

__all__ = ["BilevelProblem", "Level"]


def _as_like(g, like, name: str):
    """``g`` converted to ``like``'s array type, dtype and device; shape checked."""
    if isinstance(like, np.ndarray):
        if not (isinstance(g, np.ndarray) and g.dtype == like.dtype):
            if is_torch_tensor(g):
                g = g.detach().cpu().numpy()
            g = np.asarray(g, dtype=like.dtype)
            if g.ndim == 0 and like.size == 1:
                g = g.reshape(1)
    else:
        import torch

        g = torch.as_tensor(g, dtype=like.dtype, device=like.device)
    check_same_shape(g, like, name)
    return g


def _scalar(value, name: str) -> float:
    return float(value) if isinstance(value, float) else check_scalar_value(value, name)


def _autograd(fun: Callable) -> Callable:
    """``(x, y, batch) -> (value, (grad_x, grad_y))`` of a torch function by reverse mode."""

    def value_and_grad(x, y, batch=None):
        import torch

        numpy_in = not is_torch_tensor(x)
        tx = (torch.from_numpy(np.asarray(x)) if numpy_in else x).detach().requires_grad_(True)
        ty = (torch.from_numpy(np.asarray(y)) if numpy_in else y).detach().requires_grad_(True)
        with torch.enable_grad():
            val = fun(tx, ty) if batch is None else fun(tx, ty, batch=batch)
            if not is_torch_tensor(val):
                raise TypeError("without grad_f/grad_g, f and g must be torch functions "
                                f"returning a tensor, got {type(val).__name__}")
            gx, gy = torch.autograd.grad(val, (tx, ty), allow_unused=True)
        gx = torch.zeros_like(tx) if gx is None else gx
        gy = torch.zeros_like(ty) if gy is None else gy
        if numpy_in:
            return val.detach(), (gx.numpy(), gy.numpy())
        return val.detach(), (gx, gy)

    return value_and_grad


def _autograd_hvp(fun: Callable) -> Callable:
    """``(x, y, v) -> (d/dx <grad_y fun, v>, d/dy <grad_y fun, v>)`` by double backward."""

    def hvp(x, y, v, batch=None):
        import torch

        numpy_in = not is_torch_tensor(x)
        conv = (lambda a: torch.from_numpy(np.asarray(a))) if numpy_in else (lambda a: a)
        tx, ty = conv(x).detach().requires_grad_(True), conv(y).detach().requires_grad_(True)
        with torch.enable_grad():
            val = fun(tx, ty) if batch is None else fun(tx, ty, batch=batch)
            (gy,) = torch.autograd.grad(val, ty, create_graph=True)
            hx, hy = torch.autograd.grad(gy, (tx, ty), grad_outputs=conv(v), allow_unused=True)
        hx = torch.zeros_like(tx) if hx is None else hx.detach()
        hy = torch.zeros_like(ty) if hy is None else hy.detach()
        return (hx.numpy(), hy.numpy()) if numpy_in else (hx, hy)

    return hvp


class Level:
    """One level's oracle at a pair ``w = (x, y)``.

    Parameters
    ----------
    fun : callable
        ``fun(x, y) -> float`` (``fun(x, y, batch=idx)`` with mini-batches).
    grad : pair of callables or None
        ``(grad_x, grad_y)`` partial gradients; ``None`` (and no ``value_and_grad``):
        ``fun`` is a torch function and autograd gives both partials.
    value_and_grad : callable, optional
        ``value_and_grad(x, y) -> (value, (grad_x, grad_y))``, one fused call (instead of
        ``grad``) when value and gradients share work.
    n_samples : int, optional
        Number of data points of a finite sum; every call then takes ``batch=`` indices.
    hvp : callable, optional
        ``hvp(x, y, v) -> (d/dx <grad_y, v>, d/dy <grad_y, v>)``, second derivatives used
        only by the implicit-differentiation baseline; autograd supplies it when ``grad``
        is ``None``.
    name : str
        ``"f"`` or ``"g"``, used in error messages.
    """

    def __init__(self, fun: Callable, grad=None, *, value_and_grad: Callable | None = None,
                 hvp: Callable | None = None, n_samples: int | None = None, name: str = "f"):
        if not callable(fun):
            raise TypeError(f"{name} must be callable, got {type(fun).__name__}")
        self.name = name
        self._fun = fun
        if value_and_grad is not None:
            if grad is not None or not callable(value_and_grad):
                raise TypeError(f"value_and_grad of {name} must be a callable, given without grad")
            self._vg = lambda x, y, batch=None: (value_and_grad(x, y) if batch is None
                                                 else value_and_grad(x, y, batch=batch))
        elif grad is None:
            self._vg = _autograd(fun)
        elif isinstance(grad, tuple | list) and len(grad) == 2 and all(map(callable, grad)):
            self._vg = self._fused(*grad)
        else:
            raise TypeError(f"grad_{name} must be a pair (grad_x, grad_y) of callables, or None "
                            "(torch autograd)")
        if hvp is not None and not callable(hvp):
            raise TypeError(f"hvp_{name} must be callable or None, got {type(hvp).__name__}")
        autograd = grad is None and value_and_grad is None
        self._hvp = _autograd_hvp(fun) if hvp is None and autograd else hvp
        self.n_samples = None if n_samples is None else check_int(n_samples, f"n_samples of {name}",
                                                                 minimum=1)

    @property
    def is_stochastic(self) -> bool:
        return self.n_samples is not None

    def _fused(self, grad_x: Callable, grad_y: Callable) -> Callable:
        def value_and_grad(x, y, batch=None):
            kw = {} if batch is None else {"batch": batch}
            return self._fun(x, y, **kw), (grad_x(x, y, **kw), grad_y(x, y, **kw))

        return value_and_grad

    def value(self, w, batch=None) -> float:
        x, y = w
        out = self._fun(x, y) if batch is None else self._fun(x, y, batch=batch)
        return _scalar(out, self.name)

    def value_and_grad(self, w, batch=None):
        x, y = w
        val, grads = self._vg(x, y, batch)
        if not (isinstance(grads, tuple | list) and len(grads) == 2):
            raise ValueError(f"the gradient of {self.name} must be a pair (grad_x, grad_y)")
        gx = _as_like(grads[0], x, f"grad_{self.name}[0] (d{self.name}/dx)")
        gy = _as_like(grads[1], y, f"grad_{self.name}[1] (d{self.name}/dy)")
        return _scalar(val, self.name), (gx, gy)

    def hvp(self, w, v, batch=None):
        """Second-order oracle ``(d/dx <grad_y, v>, d/dy <grad_y, v>)`` (baselines only)."""
        if self._hvp is None:
            raise MissingOracleError(f"this method needs second derivatives of {self.name}: pass "
                                     f"hvp_{self.name}= or a torch function without gradients")
        x, y = w
        out = self._hvp(x, y, v) if batch is None else self._hvp(x, y, v, batch=batch)
        return (_as_like(out[0], x, f"hvp_{self.name}[0]"), _as_like(out[1], y, f"hvp_{self.name}[1]"))

    def sample_batch(self, rng: np.random.Generator, size: int):
        if self.n_samples is None:
            raise MissingOracleError(f"{self.name} has no mini-batches (n_samples was not given)")
        return rng.choice(self.n_samples, size=size, replace=False)


def _box(bounds, n: int, name: str) -> Callable:
    b = to_bounds(bounds if not _is_pair(bounds) else [tuple(bounds)] * n, n)
    lb, ub = b.lb, b.ub

    def proj(v):
        return namespace(v).clip(v, asarray_like(lb, v), asarray_like(ub, v))

    proj.__name__ = f"box projection of {name}"
    return proj


def _is_pair(bounds) -> bool:
    """A single ``(lo, hi)`` pair of scalars applying to every coordinate."""
    return (isinstance(bounds, tuple) and len(bounds) == 2
            and all(b is None or np.ndim(b) == 0 for b in bounds))


@dataclass
class BilevelProblem:
    r"""min_{x in X} psi(x),  psi(x) = min { f(x, y) : y in argmin_{y' in Y} g(x, y') }.

    Parameters
    ----------
    f, g : callable or Level
        Upper and lower objectives ``f(x, y)``, ``g(x, y)`` (with ``batch=`` indices when
        their level has ``n_samples``). A :class:`Level` is used as is (for a fused
        ``value_and_grad``, second derivatives, its own ``n_samples``).
    grad_f, grad_g : pair of callables or None
        Partial gradients ``(d/dx, d/dy)``. ``None``:
        the function is a torch function and autograd supplies the partials (x0/y0 may
        still be numpy arrays; they are converted at each call).
    hvp_g : callable, optional
        ``hvp_g(x, y, v) -> (d/dx <grad_y g, v>, d/dy <grad_y g, v>)``; only the
        implicit-differentiation baseline uses it (the penalty methods are first order).
    x0, y0 : 1-D array or tensor
        Start points; ``z0`` (the lower-level-only copy of ``y``) defaults to ``y0``.
    proj_x, proj_y : callable, optional
        Euclidean projections onto closed convex sets X and Y.
    bounds_x, bounds_y : optional
        Boxes instead of projections: scipy ``Bounds``, ``(lo, hi)`` pairs per coordinate,
        or one ``(lo, hi)`` pair for all coordinates.
    n_samples : pair of int or None, optional
        ``(n_f, n_g)``: finite-sum sizes of f and g (``None`` for a deterministic level).
    lipschitz : pair of float, optional
        ``(L_f, L_g)``, Lipschitz constants of ``grad_y f`` and ``grad_y g`` in ``y``;
        they give default inner steps.
    psi : callable, optional
        The hyper-objective ``psi(x)`` when known (traced, not counted).
    x_star, psi_star, name, data
        Known solution, optimal value, a label, problem-specific arrays (toys, benchmarks).
    """

    f: Any
    g: Any
    grad_f: Any = None
    grad_g: Any = None
    hvp_g: Callable | None = None
    x0: Any = None
    y0: Any = None
    z0: Any = None
    proj_x: Callable | None = None
    proj_y: Callable | None = None
    bounds_x: Any = None
    bounds_y: Any = None
    n_samples: tuple | None = None
    lipschitz: tuple | None = None
    psi: Callable | None = None
    x_star: Any = None
    psi_star: float | None = None
    name: str = "bilevel"
    data: dict = field(default_factory=dict)
    outer: Level = field(init=False, repr=False)
    inner: Level = field(init=False, repr=False)

    def __post_init__(self):
        if self.x0 is None or self.y0 is None:
            raise TypeError("BilevelProblem needs x0 and y0")
        self.x0 = as_float_vector(self.x0, "x0")
        self.y0 = as_float_vector(self.y0, "y0")
        self.z0 = self.y0 if self.z0 is None else as_float_vector(self.z0, "z0")
        check_same_shape(self.z0, self.y0, "z0")
        if is_torch_tensor(self.x0) != is_torch_tensor(self.y0):
            raise TypeError("x0 and y0 must both be numpy arrays or both torch tensors")
        n_f, n_g = (None, None) if self.n_samples is None else self._pair(self.n_samples, "n_samples")
        self.outer = self._level(self.f, self.grad_f, n_f, "f")
        self.inner = self._level(self.g, self.grad_g, n_g, "g", self.hvp_g)
        if self.lipschitz is not None:
            lf, lg = self._pair(self.lipschitz, "lipschitz")
            self.lipschitz = (check_nonnegative(lf, "lipschitz[0] (L_f)"),
                              check_positive(lg, "lipschitz[1] (L_g)"))
        self.proj_x = self._projection(self.proj_x, self.bounds_x, self.x0, "x")
        self.proj_y = self._projection(self.proj_y, self.bounds_y, self.y0, "y")
        self.x0 = self.proj_x(self.x0)
        self.y0 = self.proj_y(self.y0)
        self.z0 = self.proj_y(self.z0)
        if self.psi is not None and not callable(self.psi):
            raise TypeError(f"psi must be callable, got {type(self.psi).__name__}")

    @staticmethod
    def _pair(value, name: str) -> tuple:
        if not (isinstance(value, tuple | list) and len(value) == 2):
            raise TypeError(f"{name} must be a pair (upper level, lower level), got {value!r}")
        return tuple(value)

    @staticmethod
    def _level(fun, grad, n_samples, name: str, hvp=None) -> Level:
        if isinstance(fun, Level):
            if grad is not None or n_samples is not None or hvp is not None:
                raise TypeError(f"{name} is a Level: give its gradient, hvp and n_samples to the Level")
            return fun
        return Level(fun, grad, hvp=hvp, n_samples=n_samples, name=name)

    @staticmethod
    def _projection(proj, bounds, like, name: str) -> Callable:
        if proj is not None and bounds is not None:
            raise TypeError(f"give proj_{name} or bounds_{name}, not both")
        if proj is not None:
            if not callable(proj):
                raise TypeError(f"proj_{name} must be callable, got {type(proj).__name__}")
            return proj
        if bounds is not None:
            return _box(bounds, like.shape[0], name)
        return _identity

    @property
    def is_stochastic(self) -> bool:
        return self.outer.is_stochastic or self.inner.is_stochastic


def _identity(v):
    return v
