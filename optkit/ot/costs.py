r"""Cost matrices :math:`C_{ij} = c(x_i, y_j)` from point clouds, by direct differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optkit.core.backend import is_torch_tensor, namespace
from optkit.core.validate import check_in

__all__ = ["COSTS", "cost_matrix", "LazyCost"]

#: The named costs of :func:`cost_matrix`: :math:`\|x - y\|_2^2`, :math:`\frac12\|x - y\|_2^2`,
#: :math:`\|x - y\|_2` and :math:`\|x - y\|_1`.
COSTS = ("sqeuclidean", "half_sqeuclidean", "euclidean", "l1")

_COORDINATE_LOOP_MAX = 8  # dimensions up to which cost_matrix loops over the coordinates


def cost_matrix(x, y, cost: str | Callable = "sqeuclidean"):
    r"""Cost matrix :math:`C_{ij} = c(x_i, y_j)` from point clouds, by direct differences.

    Parameters
    ----------
    x, y : array (n, d), (m, d)
        numpy arrays or torch tensors (differentiable).
    cost : {"sqeuclidean", "half_sqeuclidean", "euclidean", "l1"} or callable
        :math:`\|x - y\|_2^2` (no 1/2, as OTT's ``SqEuclidean``), :math:`\frac12\|x - y\|_2^2`,
        :math:`\|x - y\|_2`, :math:`\|x - y\|_1`; a callable ``cost(x, y)`` returns the matrix.

    Differences are formed explicitly (never :math:`\|x\|^2 + \|y\|^2 - 2\langle x, y\rangle`,
    which cancels catastrophically), in row blocks of at most 32 MiB of temporaries. In up to
    8 dimensions the sum over coordinates runs as a loop of (rows, m) operations (a reduction
    over a short last axis is several times slower in torch and numpy).
    """
    if callable(cost):
        return cost(x, y)
    x, y = _check_clouds(x, y, cost)
    xp = namespace(x, y)
    rows = max(1, (4 * 2**20) // max(1, y.shape[0] * y.shape[1]))
    out = []
    for lo in range(0, x.shape[0], rows):
        xb = x[lo:lo + rows]
        if 0 < x.shape[1] <= _COORDINATE_LOOP_MAX:
            parts = (xb[:, k, None] - y[None, :, k] for k in range(x.shape[1]))
        else:
            parts = (xb[:, None, :] - y[None, :, :],)
        total = None
        for d in parts:
            term = xp.abs(d) if cost == "l1" else d * d
            if d.ndim == 3:
                term = xp.sum(term, axis=-1)
            total = term if total is None else total + term
        if cost == "l1":
            out.append(total)
            continue
        sq = total
        if cost == "sqeuclidean":
            out.append(sq)
        elif cost == "half_sqeuclidean":
            out.append(0.5 * sq)
        else:
            out.append(xp.sqrt(sq))
    return out[0] if len(out) == 1 else xp.concat(out, axis=0)


def _check_clouds(x, y, cost, names=("x", "y")):
    """The clouds as real arrays of one kind, 2-D with the same number of columns; errors
    name them by ``names`` (the caller's argument names)."""
    check_in(cost, "cost", COSTS)
    nx, ny = names
    if is_torch_tensor(x) != is_torch_tensor(y):
        raise TypeError(f"{nx} and {ny} must both be numpy arrays or both torch tensors")
    x, y = as_real_points(x, nx), as_real_points(y, ny)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"{nx} and {ny} must be 2-D with the same number of columns, got "
                         f"shapes {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


class LazyCost:
    r"""The cost :math:`C_{ij} = c(x_i, y_j)` of two point clouds, never materialized.

    Kernels read it by blocks of rows (:meth:`block`), formed on the fly by direct differences
    (:func:`cost_matrix` on ``x[lo:hi]``), so a solve holds O((n + m) d) memory plus one block
    (as GeomLoss's online mode). numpy clouds are float64 (float32 kept); torch clouds keep their
    dtype and device and are detached.

    Parameters
    ----------
    x, y : array (n, d), (m, d)
    cost : {"sqeuclidean", "half_sqeuclidean", "euclidean", "l1"}
    """

    def __init__(self, x, y, cost="sqeuclidean"):
        if callable(cost):
            raise TypeError("lazy=True needs a named cost (one of " + ", ".join(COSTS)
                            + "), got a callable")
        x, y = _check_clouds(x, y, cost)
        if is_torch_tensor(x):
            x, y = x.detach(), y.detach()
            if x.device != y.device:
                raise TypeError(f"x is on {x.device} but y is on {y.device}")
            if not x.is_floating_point():
                x, y = x.double(), y.double()
            x, y = (v.to(x.dtype).contiguous() for v in (x, y))
            self.device, self.itemsize = x.device, x.element_size()
        else:
            dtype = np.float32 if x.dtype == y.dtype == np.float32 else np.float64
            x, y = (np.ascontiguousarray(v, dtype=dtype) for v in (x, y))
            self.device, self.itemsize = "cpu", x.itemsize
        for v, name in ((x, "x"), (y, "y")):
            xp = namespace(v)
            if not bool(xp.all(xp.isfinite(v))):
                raise ValueError(f"{name} must be finite (no NaN or inf)")
        self.x, self.y, self.cost = x, y, cost
        self.shape = (x.shape[0], y.shape[0])
        self.dim = x.shape[1]
        self.dtype = x.dtype

    @property
    def like(self):
        """The source cloud (an array of the clouds' namespace and device)."""
        return self.x

    def block(self, lo, hi):
        """Rows ``lo:hi`` of the cost matrix."""
        return cost_matrix(self.x[lo:hi], self.y, self.cost)


def as_real_points(v, name):
    """``v`` as a real floating array (integer and bool points promoted to float64).

    Complex and non-numeric points are rejected with a ``TypeError`` naming the argument.
    """
    if is_torch_tensor(v):
        if v.is_complex():
            raise TypeError(f"{name} must be real, got {v.dtype}")
        return v if v.is_floating_point() else v.double()
    v = np.asarray(v)
    if np.iscomplexobj(v) or not (np.issubdtype(v.dtype, np.number) or v.dtype == bool):
        raise TypeError(f"{name} must be a real array, got dtype {v.dtype}")
    return v if np.issubdtype(v.dtype, np.floating) else v.astype(np.float64)
