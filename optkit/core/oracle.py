"""The oracle interface every optkit algorithm is written against.

An algorithm asks for the least it needs (a value, a gradient, a Hessian-vector
product, mini-batches, a population of values, constraints). The protocols below
are structural (``typing.Protocol``): any object with the methods qualifies.
:class:`FunctionOracle` builds one from plain callables and :class:`Counted`
counts every call exactly; those counts are what results and benchmarks report.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .validate import as_real_array, check_same_shape, check_scalar_value, is_torch_tensor

__all__ = [
    "ValueOracle",
    "GradOracle",
    "HVPOracle",
    "StochasticOracle",
    "PopulationOracle",
    "FunctionOracle",
    "Counted",
    "MissingOracleError",
    "dask_map",
]


def is_sparse(a) -> bool:
    """Whether ``a`` is a ``scipy.sparse`` matrix or array (without importing scipy); a
    ``scipy.sparse.linalg.LinearOperator`` is not."""
    module = type(a).__module__
    return module.startswith("scipy.sparse") and not module.startswith("scipy.sparse.linalg")


def _is_operator(a) -> bool:
    return type(a).__module__.startswith("scipy.sparse.linalg")


class MissingOracleError(TypeError):
    """The method needs an oracle (gradient, hvp, ...) that the problem does not provide."""


@runtime_checkable
class ValueOracle(Protocol):
    def value(self, x, batch=None) -> float: ...


@runtime_checkable
class GradOracle(ValueOracle, Protocol):
    def grad(self, x, batch=None): ...

    def value_and_grad(self, x, batch=None) -> tuple[float, Any]: ...


@runtime_checkable
class HVPOracle(Protocol):
    def hvp(self, x, v, batch=None): ...


@runtime_checkable
class StochasticOracle(Protocol):
    n_samples: int

    def sample_batch(self, rng, size: int): ...


@runtime_checkable
class PopulationOracle(Protocol):
    def value_batch(self, X): ...


def _call(fn: Callable, x, batch):
    return fn(x) if batch is None else fn(x, batch=batch)


class FunctionOracle:
    """Objective oracle from callables.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float`` (``fun(x, batch=idx)`` for stochastic problems).
    grad : callable, optional
        ``grad(x) -> array`` of ``x``'s shape.
    value_and_grad : callable, optional
        ``value_and_grad(x) -> (float, array)``, scipy's ``jac=True`` form.
    hvp : callable, optional
        ``hvp(x, v) -> array``, the Hessian-vector product.
    hess : callable, optional
        ``hess(x) -> (n, n)`` Hessian matrix, dense or ``scipy.sparse`` (scipy's ``hess``);
        without ``hvp``, Hessian-vector products are ``hess(x) @ v``.
    value_batch : callable, optional
        Vectorized ``(n, d) -> (n,)`` objective for population methods.
    workers : callable, optional
        A map-like callable (``map``, ``pool.map``, :func:`dask_map`) used by
        :meth:`value_batch` when no vectorized function is given.
    n_samples : int, optional
        Number of data points of a finite-sum objective; with it the oracle is a
        :class:`StochasticOracle` and every method takes ``batch=`` indices.
    grad_value_evals, hvp_grad_evals : int
        Function (gradient) evaluations one finite-difference gradient (hvp)
        costs, so that :class:`Counted` charges them exactly; 0 for analytic ones.
    """

    def __init__(
        self,
        fun: Callable,
        *,
        grad: Callable | None = None,
        value_and_grad: Callable | None = None,
        hvp: Callable | None = None,
        hess: Callable | None = None,
        value_batch: Callable | None = None,
        workers: Callable | None = None,
        n_samples: int | None = None,
        grad_value_evals: int = 0,
        hvp_grad_evals: int = 0,
    ):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        for name, fn in (("grad", grad), ("value_and_grad", value_and_grad), ("hvp", hvp),
                         ("hess", hess), ("value_batch", value_batch), ("workers", workers)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
        self._fun = fun
        self._grad = grad
        self._vg = value_and_grad
        self._hvp = hvp
        self._hess = hess
        self._value_batch = value_batch
        self._workers = workers
        self.n_samples = n_samples
        self.grad_value_evals = grad_value_evals
        self.hvp_grad_evals = hvp_grad_evals

    @property
    def fun(self) -> Callable:
        """The scalar objective ``fun(x)`` this oracle was built from."""
        return self._fun

    def with_population(self, *, value_batch: Callable | None = None,
                        workers: Callable | None = None) -> FunctionOracle:
        """A copy whose :meth:`value_batch` uses ``value_batch`` (vectorized) or ``workers`` (a map)."""
        new = copy.copy(self)
        new._value_batch, new._workers = value_batch, workers
        return new

    # capabilities -----------------------------------------------------------
    @property
    def has_grad(self) -> bool:
        return self._grad is not None or self._vg is not None

    @property
    def has_separate_grad(self) -> bool:
        """The gradient has its own callable (``grad=``): :meth:`value` and :meth:`grad` at
        one point cost one evaluation each, so a caller may ask for the value first and
        the gradient only when it needs it. False for ``value_and_grad`` alone
        (``jac=True``), where each of them evaluates both."""
        return self._grad is not None

    @property
    def has_hvp(self) -> bool:
        return self._hvp is not None or self._hess is not None

    @property
    def has_hess(self) -> bool:
        return self._hess is not None

    @property
    def is_stochastic(self) -> bool:
        return self.n_samples is not None

    # oracles ------------------------------------------------------------------
    def value(self, x, batch=None) -> float:
        return check_scalar_value(_call(self._fun, x, batch), "fun")

    def grad(self, x, batch=None):
        if self._grad is not None:
            return self._checked_grad(_call(self._grad, x, batch), x)
        return self.value_and_grad(x, batch)[1]

    def value_and_grad(self, x, batch=None):
        if self._vg is not None:
            out = _call(self._vg, x, batch)
            if not (isinstance(out, Sequence) and len(out) == 2):
                raise ValueError("fun with jac=True must return a pair (value, gradient)")
            return check_scalar_value(out[0], "fun"), self._checked_grad(out[1], x)
        if self._grad is None:
            raise MissingOracleError(
                "this method needs the gradient: pass jac= (a callable, True, or '2-point')"
            )
        return self.value(x, batch), self.grad(x, batch)

    def hvp(self, x, v, batch=None):
        if self._hvp is None:
            if self._hess is None:
                raise MissingOracleError(
                    "this method needs Hessian-vector products: pass hess= or hessp=")
            if batch is not None:
                raise MissingOracleError("a Hessian matrix (hess=) has no mini-batch form")
            return self._checked_grad(self.hess(x) @ v, x, name="hess(x) @ v")
        out = self._hvp(x, v) if batch is None else self._hvp(x, v, batch=batch)
        return self._checked_grad(out, x, name="hessp")

    def hess(self, x):
        """The Hessian at ``x``, shape ``(n, n)``: a dense array, a ``scipy.sparse`` matrix,
        or the ``LinearOperator`` ``hess`` returned (scipy allows it for trust-constr)."""
        if self._hess is None:
            raise MissingOracleError("this method needs the Hessian matrix: pass hess=")
        H = self._hess(x)
        if not (is_sparse(H) or _is_operator(H)):
            H = np.atleast_2d(np.asarray(H, dtype=float))
        n = int(np.size(x))
        if H.shape != (n, n):
            raise ValueError(f"hess must return shape ({n}, {n}), got {H.shape}")
        return H

    def value_batch(self, X):
        if self._value_batch is not None:
            out = self._value_batch(X)
            if is_torch_tensor(out) and out.is_complex():
                raise TypeError(f"fun (vectorized) must return real values, got {out.dtype}")
            vals = out if is_torch_tensor(out) else as_real_array(out, "fun (vectorized) output").astype(float)
            if tuple(vals.shape) != (X.shape[0],):
                raise ValueError(f"fun (vectorized) must return shape ({X.shape[0]},), got "
                                 f"{tuple(vals.shape)}")
            return vals
        mapper = self._workers if self._workers is not None else map
        rows = list(X) if not is_torch_tensor(X) else list(X.unbind(0))
        return np.array([check_scalar_value(v, "fun") for v in mapper(self._fun, rows)], dtype=float)

    def sample_batch(self, rng: np.random.Generator, size: int):
        if self.n_samples is None:
            raise MissingOracleError("this problem has no mini-batches (n_samples was not given)")
        return rng.choice(self.n_samples, size=size, replace=False)

    @staticmethod
    def _checked_grad(g, x, name: str = "jac"):
        if is_torch_tensor(g) and g.is_complex():
            raise TypeError(f"{name} must return a real array, got dtype {g.dtype}")
        if is_torch_tensor(x):
            if not is_torch_tensor(g):
                import torch

                g = torch.as_tensor(as_real_array(g, f"{name} output"), dtype=x.dtype, device=x.device)
        else:
            g = as_real_array(g, f"{name} output").astype(np.result_type(x.dtype, np.float32), copy=False)
            g = g.reshape(x.shape) if g.size == x.size and g.ndim <= 1 else g
        check_same_shape(g, x, name)
        return g


class Counted:
    """Wrap an oracle and count every call exactly.

    Counts: ``nfev`` (values; a population call of ``n`` points counts ``n``),
    ``ngev`` (gradients; ``value_and_grad`` counts one value and one gradient),
    ``nhev`` (Hessian-vector products and Hessian matrices), ``nsamples`` (data points touched by
    mini-batch calls). A finite-difference gradient also charges the function
    evaluations it makes. Attribute access falls through to the wrapped oracle.
    """

    def __init__(self, oracle):
        self.oracle = oracle
        self.nfev = 0
        self.ngev = 0
        self.nhev = 0
        self.nsamples = 0

    def __getattr__(self, name):
        return getattr(self.oracle, name)

    def _charge_batch(self, batch):
        if batch is not None:
            self.nsamples += len(batch)

    def value(self, x, batch=None):
        self.nfev += 1
        self._charge_batch(batch)
        return self.oracle.value(x, batch)

    def grad(self, x, batch=None):
        self.ngev += 1
        self.nfev += getattr(self.oracle, "grad_value_evals", 0)
        self._charge_batch(batch)
        return self.oracle.grad(x, batch)

    def value_and_grad(self, x, batch=None):
        self.nfev += 1 + getattr(self.oracle, "grad_value_evals", 0)
        self.ngev += 1
        self._charge_batch(batch)
        return self.oracle.value_and_grad(x, batch)

    def hvp(self, x, v, batch=None):
        self.nhev += 1
        self.ngev += getattr(self.oracle, "hvp_grad_evals", 0)
        self._charge_batch(batch)
        return self.oracle.hvp(x, v, batch)

    def hess(self, x):
        self.nhev += 1
        return self.oracle.hess(x)

    def value_batch(self, X):
        self.nfev += int(X.shape[0])
        return self.oracle.value_batch(X)

    def snapshot(self) -> dict[str, int]:
        """Cumulative counts, with the benchmark's column names."""
        return {"n_value": self.nfev, "n_grad": self.ngev, "n_hvp": self.nhev,
                "n_samples": self.nsamples}


def dask_map(client) -> Callable:
    """A ``map``-like callable running on a ``dask.distributed`` client, results in order.

    ``pure=False`` so that identical calls of a stochastic objective are not merged.
    """

    def _map(fn, xs):
        futures = client.map(fn, list(xs), pure=False)
        return client.gather(futures)

    return _map
