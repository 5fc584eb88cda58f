"""scipy's constraint forms converted into one constraint oracle ``lb <= c(x) <= ub``.

``{'type': 'eq' | 'ineq', 'fun', 'jac', 'args'}`` dicts, ``NonlinearConstraint``
and ``LinearConstraint`` are stacked into a single :class:`ConstraintOracle`;
``Bounds`` (or a sequence of ``(lo, hi)`` pairs) become a :class:`scipy.optimize.Bounds`
checked for ``lb <= ub``. Equality rows are those with ``lb == ub``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint
from scipy.sparse.linalg import LinearOperator

__all__ = ["ConstraintOracle", "to_constraint_oracle", "to_bounds"]

_EPS = np.finfo(float).eps


def _fd_jacobian(fun: Callable, x: np.ndarray, m: int) -> np.ndarray:
    """Central-difference Jacobian (relative step eps^(1/3), error O(h^2))."""
    h = _EPS ** (1 / 3) * np.maximum(1.0, np.abs(x))
    J = np.empty((m, x.size))
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h[k]
        J[:, k] = (np.atleast_1d(fun(x + e)) - np.atleast_1d(fun(x - e))) / (2 * h[k])
    return J


@dataclass
class _Block:
    fun: Callable[[np.ndarray], np.ndarray]
    jac: Callable[[np.ndarray], np.ndarray] | None  # None: finite differences
    hess: Callable[[np.ndarray, np.ndarray], np.ndarray] | None  # hess(x, lam) -> (n, n)
    lb: np.ndarray
    ub: np.ndarray
    linear: bool = False


class ConstraintOracle:
    """Stacked constraints ``lb <= c(x) <= ub`` with Jacobian products.

    Methods: ``c(x)``, ``jac(x)`` (dense ``(m, n)`` or ``scipy.sparse``),
    matrix-free ``jvp(x, v) = J v`` and ``vjp(x, u) = J^T u``, and
    ``lagrangian_hvp(x, lam, v) = (sum_i lam_i \\nabla^2 c_i(x)) v``.
    Counters: ``ncev`` (c), ``njev`` (Jacobians or Jacobian products), ``nhev``.
    """

    def __init__(self, blocks: Sequence[_Block], n: int):
        self._blocks = list(blocks)
        self.n = n
        self.lb = np.concatenate([b.lb for b in self._blocks]) if blocks else np.zeros(0)
        self.ub = np.concatenate([b.ub for b in self._blocks]) if blocks else np.zeros(0)
        self.m = self.lb.size
        if np.any(self.lb > self.ub):
            i = int(np.argmax(self.lb > self.ub))
            raise ValueError(
                f"constraints: lb must be <= ub, but row {i} has lb={self.lb[i]} > ub={self.ub[i]}"
            )
        self.ncev = 0
        self.njev = 0
        self.nhev = 0

    @property
    def is_equality(self) -> np.ndarray:
        """Boolean mask of equality rows (``lb == ub``)."""
        return self.lb == self.ub

    @property
    def has_inequalities(self) -> bool:
        return bool(np.any(~self.is_equality))

    def c(self, x) -> np.ndarray:
        self.ncev += 1
        return self._values(x)

    def _values(self, x) -> np.ndarray:
        if not self._blocks:
            return np.zeros(0)
        vals = [np.atleast_1d(np.asarray(b.fun(x), dtype=float)).ravel() for b in self._blocks]
        for b, v in zip(self._blocks, vals):
            if v.shape != b.lb.shape:
                raise ValueError(f"a constraint function returned shape {v.shape}, expected {b.lb.shape}")
        return np.concatenate(vals)

    def jac(self, x):
        self.njev += 1
        mats = []
        for b in self._blocks:
            J = self._block_jac(b, np.asarray(x, dtype=float))
            if J.shape != (b.lb.size, self.n):
                raise ValueError(f"constraint jac must have shape {(b.lb.size, self.n)}, got {J.shape}")
            mats.append(J)
        if not mats:
            return np.zeros((0, self.n))
        if any(sp.issparse(J) for J in mats):
            return sp.vstack(mats, format="csr")
        return np.vstack(mats)

    def jvp(self, x, v):
        return self.jac(x) @ v

    def vjp(self, x, u):
        return self.jac(x).T @ u

    def lagrangian_hvp(self, x, lam, v):
        """``(sum_i lam_i \\nabla^2 c_i(x)) v``.

        Uses the constraint's ``hess`` when given, else central differences of
        ``J(x)^T lam`` along ``v`` (step eps^(1/3), or eps^(1/4) over a
        finite-difference Jacobian).
        """
        self.nhev += 1
        x = np.asarray(x, float)
        out = np.zeros(self.n)
        start = 0
        for b in self._blocks:
            lam_b = lam[start:start + b.lb.size]
            start += b.lb.size
            if b.linear:
                continue
            if b.hess is not None:
                out += _as_matrix(b.hess(x, lam_b)) @ v
                continue
            rel = _EPS ** (1 / 4 if b.jac is None else 1 / 3)
            h = rel * max(1.0, float(np.linalg.norm(x))) / max(float(np.linalg.norm(v)), 1e-300)
            out += (self._block_jac(b, x + h * v).T @ lam_b
                    - self._block_jac(b, x - h * v).T @ lam_b) / (2 * h)
        return out

    @property
    def is_linear(self) -> bool:
        """Every block is a :class:`~scipy.optimize.LinearConstraint` (constant Jacobian)."""
        return all(b.linear for b in self._blocks)

    @property
    def has_lagrangian_hess(self) -> bool:
        """Every nonlinear block has a ``hess``, so :meth:`lagrangian_hess` is exact."""
        return all(b.linear or b.hess is not None for b in self._blocks)

    def lagrangian_hess(self, x, lam):
        """The matrix ``sum_i lam_i \\nabla^2 c_i(x)``: ``scipy.sparse`` (CSR) if any block's
        ``hess`` is sparse (or all blocks are linear), else dense. Needs
        :attr:`has_lagrangian_hess`."""
        if not self.has_lagrangian_hess:
            raise ValueError("constraints: lagrangian_hess needs a hess for every nonlinear "
                             "constraint (NonlinearConstraint(..., hess=...))")
        self.nhev += 1
        x = np.asarray(x, float)
        mats = []
        start = 0
        for b in self._blocks:
            lam_b = lam[start:start + b.lb.size]
            start += b.lb.size
            if not b.linear:
                H = _as_matrix(b.hess(x, lam_b))
                if isinstance(H, LinearOperator):
                    raise ValueError("constraints: lagrangian_hess needs matrices, but a "
                                     "constraint hess returned a LinearOperator")
                if H.shape != (self.n, self.n):
                    raise ValueError(f"constraint hess must have shape {(self.n, self.n)}, "
                                     f"got {H.shape}")
                mats.append(H)
        if not mats or any(sp.issparse(H) for H in mats):
            return sum((sp.csr_array(H) for H in mats), sp.csr_array((self.n, self.n)))
        return sum(mats)

    def _block_jac(self, b: _Block, x):
        if b.jac is None:
            return _fd_jacobian(b.fun, x, b.lb.size)
        J = b.jac(x)
        return J if sp.issparse(J) else np.atleast_2d(np.asarray(J, dtype=float))


def _as_matrix(H):
    """A constraint ``hess`` result as a sparse matrix or a dense 2-D array (scipy allows
    a ``LinearOperator`` too, which only :meth:`ConstraintOracle.lagrangian_hvp` accepts)."""
    if sp.issparse(H) or isinstance(H, LinearOperator):
        return H
    return np.atleast_2d(np.asarray(H, dtype=float))


def _bind(fn, args):
    if fn is None or not args:
        return fn
    return lambda x, *a: fn(x, *a, *args)


def _broadcast(value, size, name):
    arr = np.asarray(value, dtype=float)
    if arr.ndim > 1 or arr.size not in (1, size):
        raise ValueError(f"{name} must have {size} entries (or be a scalar), got shape {arr.shape}")
    arr = np.broadcast_to(arr, (size,)).copy()
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not contain NaN")
    return arr


def _nonlinear_block(con: NonlinearConstraint, x0: np.ndarray) -> _Block:
    m = np.atleast_1d(np.asarray(con.fun(x0), dtype=float)).size
    jac = con.jac if callable(con.jac) else None
    hess = con.hess if callable(con.hess) else None
    return _Block(con.fun, jac, hess, _broadcast(con.lb, m, "NonlinearConstraint.lb"),
                  _broadcast(con.ub, m, "NonlinearConstraint.ub"))


def _linear_block(con: LinearConstraint, n: int) -> _Block:
    A = con.A if sp.issparse(con.A) else np.atleast_2d(np.asarray(con.A, dtype=float))
    if A.shape[1] != n:
        raise ValueError(f"LinearConstraint.A must have {n} columns (len(x0)), got shape {A.shape}")
    m = A.shape[0]
    return _Block(lambda x: A @ x, lambda x: A, None, _broadcast(con.lb, m, "LinearConstraint.lb"),
                  _broadcast(con.ub, m, "LinearConstraint.ub"), linear=True)


def _dict_block(con: Mapping, x0: np.ndarray) -> _Block:
    kind = con.get("type")
    if kind not in ("eq", "ineq"):
        raise ValueError(f"constraint dict 'type' must be 'eq' or 'ineq', got {kind!r}")
    if not callable(con.get("fun")):
        raise TypeError("constraint dict needs a callable 'fun'")
    args = tuple(con.get("args", ()))
    fun = _bind(con["fun"], args)
    jac = _bind(con.get("jac"), args) if callable(con.get("jac")) else None
    m = np.atleast_1d(np.asarray(fun(x0), dtype=float)).size
    ub = np.zeros(m) if kind == "eq" else np.full(m, np.inf)
    return _Block(fun, jac, None, np.zeros(m), ub)


def to_constraint_oracle(constraints, x0) -> ConstraintOracle | None:
    """Convert scipy's ``constraints=`` argument (one or a sequence) into one oracle.

    Returns ``None`` when there are no constraints. An existing
    :class:`ConstraintOracle` is returned unchanged.
    """
    if constraints is None:
        return None
    if isinstance(constraints, ConstraintOracle):
        return constraints
    if isinstance(constraints, (Mapping, NonlinearConstraint, LinearConstraint)):
        constraints = [constraints]
    constraints = list(constraints)
    if not constraints:
        return None
    x0 = np.asarray(x0, dtype=float)
    blocks = []
    for con in constraints:
        if isinstance(con, NonlinearConstraint):
            blocks.append(_nonlinear_block(con, x0))
        elif isinstance(con, LinearConstraint):
            blocks.append(_linear_block(con, x0.size))
        elif isinstance(con, Mapping):
            blocks.append(_dict_block(con, x0))
        else:
            raise TypeError(
                "constraints must be dicts, NonlinearConstraint or LinearConstraint, "
                f"got {type(con).__name__}"
            )
    return ConstraintOracle(blocks, x0.size)


def to_bounds(bounds, n: int) -> Bounds | None:
    """scipy ``Bounds`` or a sequence of ``(lo, hi)`` pairs (``None`` = unbounded) -> ``Bounds``."""
    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        lb = _broadcast(bounds.lb, n, "bounds.lb")
        ub = _broadcast(bounds.ub, n, "bounds.ub")
    else:
        pairs = list(bounds)
        if len(pairs) != n:
            raise ValueError(f"bounds must have one (lo, hi) pair per variable ({n}), got {len(pairs)}")
        try:
            lb = np.array([-np.inf if lo is None else lo for lo, _ in pairs], dtype=float)
            ub = np.array([np.inf if hi is None else hi for _, hi in pairs], dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError("bounds must be scipy Bounds or a sequence of (lo, hi) pairs") from exc
    if np.any(np.isnan(lb)) or np.any(np.isnan(ub)):
        raise ValueError("bounds must not contain NaN")
    if np.any(lb > ub):
        i = int(np.argmax(lb > ub))
        raise ValueError(f"bounds: lb must be <= ub, but variable {i} has lb={lb[i]} > ub={ub[i]}")
    return Bounds(lb, ub)
