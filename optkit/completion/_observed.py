"""Observed entries: validation at the boundary and the one canonical layout.

The entries are sorted once into row-major (CSR) order; every per-entry quantity
(values, random sketch draws, sample-split labels) is indexed in that order, so the
result never depends on the order in which the user listed the entries. The column
side (CSC order) is a permutation of it.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optkit.core.validate import is_torch_tensor

__all__ = ["Observed", "canonicalize", "as_triplets", "validation_triplets", "warn_coverage"]


@dataclass
class Observed:
    """Entries of a partially observed matrix in canonical row-major order.

    Attributes
    ----------
    shape : (m, n)
    rows, cols : int64 arrays, sorted by (row, col)
    vals : float array (numpy, in the compute dtype; torch copies are made by the backend)
    order : int64 array, position of each canonical entry in the user's input
    """

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    order: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.rows.size)

    def subset(self, mask: np.ndarray) -> Observed:
        """The entries where ``mask`` holds (still canonical)."""
        return Observed(self.shape, self.rows[mask], self.cols[mask], self.vals[mask],
                        self.order[mask])

    def column_order(self) -> np.ndarray:
        """Permutation taking canonical (row-major) order to column-major order."""
        return np.lexsort((self.rows, self.cols))


def _as_index(x, name: str) -> np.ndarray:
    if is_torch_tensor(x):
        if x.is_floating_point() or x.is_complex() or str(x.dtype) == "torch.bool":
            raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr.astype(np.int64)


def _as_values(x, name: str):
    """Values as a numpy array (torch inputs are copied to the CPU once) and a prototype: an
    empty array of the input's library, dtype and device (the run's arrays follow it)."""
    proto = None
    if is_torch_tensor(x):
        if x.is_complex() or not x.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {x.dtype}")
        if str(x.dtype) not in ("torch.float32", "torch.float64"):
            raise TypeError(f"{name} must be a float32 or float64 tensor (half precision is too "
                            f"coarse for the normal equations), got dtype {x.dtype}")
        proto = x.detach()[:0]
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr, (arr[:0] if proto is None else proto)


def _check_shape(shape) -> tuple[int, int]:
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValueError(f"shape must be a pair (m, n), got {shape!r}")
    out = []
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"shape must hold integers, got {shape!r}")
        if s < 1:
            raise ValueError(f"shape must be positive, got {tuple(shape)}")
        out.append(int(s))
    return out[0], out[1]


def as_triplets(observed, name: str = "observed"):
    """``(rows, cols, vals, shape, proto)`` from a sparse matrix or a 4-tuple, unsorted."""
    if isinstance(observed, np.ndarray) or is_torch_tensor(observed):
        raise TypeError(
            f"{name} must be a scipy.sparse matrix or a (rows, cols, vals, shape) tuple, got a "
            "dense array: a dense array cannot tell a missing entry from an observed zero; "
            "pass scipy.sparse.coo_array((vals, (rows, cols)), shape) or the triplets")
    if sp.issparse(observed):
        # COO keeps every stored entry (CSR -> COO expands without summing duplicates).
        coo = observed if observed.format == "coo" else observed.tocoo()
        rows, cols, vals = np.asarray(coo.row), np.asarray(coo.col), np.asarray(coo.data)
        shape = tuple(int(s) for s in coo.shape)
        vals, proto = _as_values(vals, f"{name} values")
        return rows.astype(np.int64), cols.astype(np.int64), vals, shape, proto
    if not isinstance(observed, tuple | list) or len(observed) != 4:
        raise TypeError(f"{name} must be a scipy.sparse matrix or a (rows, cols, vals, shape) "
                        f"tuple, got {type(observed).__name__}")
    rows, cols, vals, shape = observed
    rows = _as_index(rows, "rows")
    cols = _as_index(cols, "cols")
    vals, proto = _as_values(vals, "vals")
    shape = _check_shape(shape)
    return rows, cols, vals, shape, proto


def canonicalize(observed, name: str = "observed") -> tuple[Observed, object]:
    """Validate ``observed`` and sort it; returns ``(Observed, prototype of the values)``.

    Values keep a float32/float64 dtype; other dtypes become float64.
    """
    rows, cols, vals, (m, n), proto = as_triplets(observed, name)
    if not (rows.size == cols.size == vals.size):
        raise ValueError(f"rows, cols and vals must have the same length, got {rows.size}, "
                         f"{cols.size} and {vals.size}")
    if rows.size == 0:
        raise ValueError(f"{name} holds no entries")
    for idx, label, bound in ((rows, "rows", m), (cols, "cols", n)):
        bad = (idx < 0) | (idx >= bound)
        if bad.any():
            raise ValueError(f"{label} index {int(idx[bad][0])} out of range: must lie in "
                             f"[0, {bound}) for shape {(m, n)}")
    if not np.all(np.isfinite(vals)):
        raise ValueError("observed values must be finite (no NaN or inf)")
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    dup = (np.diff(rows) == 0) & (np.diff(cols) == 0)
    if dup.any():
        e = int(np.flatnonzero(dup)[0])
        raise ValueError(f"{name} holds duplicate entries, e.g. (i, j) = ({int(rows[e])}, "
                         f"{int(cols[e])}); each entry must be observed once (they are never summed)")
    dtype = vals.dtype if vals.dtype in (np.float32, np.float64) else np.float64
    vals = np.ascontiguousarray(vals[order], dtype=dtype)
    return Observed((m, n), rows, cols, vals, order), proto


def warn_coverage(obs: Observed, rank: int, reg: float, stacklevel: int) -> None:
    """The coverage warnings: below the information limit, empty or thin rows/columns."""
    m, n = obs.shape
    dof = rank * (m + n - rank)
    if obs.nnz < dof:
        warnings.warn(f"{obs.nnz} observed entries are fewer than the {dof} degrees of freedom of "
                      f"a rank-{rank} {m}x{n} matrix: the matrix is not identifiable",
                      UserWarning, stacklevel=stacklevel)
    for label, idx, size in (("rows", obs.rows, m), ("columns", obs.cols, n)):
        counts = np.bincount(idx, minlength=size)
        empty = int((counts == 0).sum())
        if empty:
            warnings.warn(f"{empty} {label} have no observed entry; their factor rows stay zero "
                          "(prediction = mean + biases)", UserWarning, stacklevel=stacklevel)
        thin = int(((counts > 0) & (counts < rank)).sum())
        if thin and reg == 0:
            warnings.warn(f"{thin} {label} have fewer than rank={rank} observed entries and reg=0: "
                          "their least-squares problems are underdetermined (solved with the "
                          "jitter)", UserWarning, stacklevel=stacklevel)


def validation_triplets(validation, shape, dtype):
    """Held-out entries ``(rows, cols, vals)`` (numpy, ``dtype``) checked against ``shape``."""
    if validation is None:
        return None
    if sp.issparse(validation):
        coo = validation.tocoo()
        rows, cols, vals = coo.row, coo.col, coo.data
        if tuple(coo.shape) != tuple(shape):
            raise ValueError(f"validation must have shape {shape}, got {coo.shape}")
    elif isinstance(validation, tuple | list) and len(validation) in (3, 4):
        rows, cols, vals = validation[:3]
        if len(validation) == 4 and tuple(validation[3]) != tuple(shape):
            raise ValueError(f"validation must have shape {shape}, got {tuple(validation[3])}")
    else:
        raise TypeError("validation must be a scipy.sparse matrix or a (rows, cols, vals) tuple")
    rows, cols, vals, _, _ = as_triplets((rows, cols, vals, tuple(shape)), "validation")
    if not (rows.size == cols.size == vals.size):
        raise ValueError("validation rows, cols and vals must have the same length")
    if ((rows < 0) | (rows >= shape[0]) | (cols < 0) | (cols >= shape[1])).any():
        raise ValueError(f"validation indices out of range for shape {shape}")
    return rows, cols, np.asarray(vals, dtype=dtype)
