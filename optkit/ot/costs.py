r"""Cost matrices :math:`C_{ij} = c(x_i, y_j)` from point clouds, by direct differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optkit.core.backend import is_torch_tensor, namespace
from optkit.core.validate import check_in

__all__ = ["COSTS", "cost_matrix"]

COSTS = ("sqeuclidean", "half_sqeuclidean", "euclidean", "l1")


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
    which cancels catastrophically), in row blocks of at most 32 MiB of temporaries.
    """
    if callable(cost):
        return cost(x, y)
    check_in(cost, "cost", COSTS)
    if is_torch_tensor(x) != is_torch_tensor(y):
        raise TypeError("x and y must both be numpy arrays or both torch tensors")
    x, y = as_real_points(x, "x"), as_real_points(y, "y")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be 2-D with the same number of columns, got shapes "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    xp = namespace(x, y)
    rows = max(1, (4 * 2**20) // max(1, y.shape[0] * y.shape[1]))
    out = []
    for lo in range(0, x.shape[0], rows):
        d = x[lo:lo + rows, None, :] - y[None, :, :]
        if cost == "l1":
            out.append(xp.sum(xp.abs(d), axis=-1))
            continue
        sq = xp.sum(d * d, axis=-1)
        if cost == "sqeuclidean":
            out.append(sq)
        elif cost == "half_sqeuclidean":
            out.append(0.5 * sq)
        else:
            out.append(xp.sqrt(sq))
    return xp.concat(out, axis=0)


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
