"""numpy and torch versions of the few array primitives the half-steps use.

A half-step works on a *block*: consecutive groups (columns for the V half-step, rows
for the U half-step) and their entries, sorted by group. Its one reduction is the
segment sum ``X P`` with ``P`` the entry -> group indicator, over the last axis of an
entry-last ``(width, entries)`` array: ``numpy.add.reduceat`` over the sorted groups in
numpy, an ``index_add_`` (scatter-add) in torch. Entry-last arrays keep every per-entry
operation on contiguous rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Block", "NumpyBackend", "TorchBackend", "make_backend"]


@dataclass
class Block:
    """Groups ``[g0, g1)`` of one side and their entries (sorted by group).

    ``other``: index of each entry into the fixed factor; ``seg``: local group id of each
    entry; ``indptr``/``counts``: numpy group boundaries; ``vals``: observed values;
    ``lam``: regularization weight of each group; ``seg_op``: the backend's segment-sum
    operator; ``key``: index of the block (keys its sketch randomness).
    """

    g0: int
    g1: int
    other: Any
    seg: Any
    indptr: np.ndarray
    counts: np.ndarray
    vals: Any
    lam: Any
    seg_op: Any
    key: int

    @property
    def n_groups(self) -> int:
        return self.g1 - self.g0

    @property
    def n_entries(self) -> int:
        return int(self.indptr[-1])


class NumpyBackend:
    name = "numpy"

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.eps = float(np.finfo(self.dtype).eps)
        self.itemsize = self.dtype.itemsize

    def asarray(self, x):
        return np.asarray(x, dtype=self.dtype)

    def index(self, x):
        return np.asarray(x, dtype=np.int64)

    def to_numpy(self, x):
        return np.asarray(x)

    @staticmethod
    def seg_op(indptr: np.ndarray):
        """Start of each group (clipped in range) and the empty groups, for ``reduceat``."""
        n = int(indptr[-1])
        return np.minimum(indptr[:-1], max(n - 1, 0)), np.diff(indptr) == 0

    @staticmethod
    def segsum(block: Block, x):
        """Sum of ``x[..., e]`` over the entries ``e`` of each group (last axis)."""
        starts, empty = block.seg_op
        if x.shape[-1] == 0:
            return np.zeros((*x.shape[:-1], starts.size), dtype=x.dtype)
        out = np.add.reduceat(x, starts, axis=-1)
        out[..., empty] = 0
        return out

    @staticmethod
    def take(xt, idx):
        """Columns ``idx`` of ``xt`` (entry-last gather)."""
        return np.take(xt, idx, axis=1)

    def zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def empty(self, shape):
        return np.empty(shape, dtype=self.dtype)

    def eye(self, k):
        return np.eye(k, dtype=self.dtype)

    @staticmethod
    def triu(k):
        return np.triu_indices(k)

    @staticmethod
    def copy(x):
        return x.copy()

    @staticmethod
    def concat(xs, axis):
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def coldot(a, b):
        """Column-wise dot products of two (k, e) arrays."""
        return np.einsum("ke,ke->e", a, b)

    @staticmethod
    def bmv(a, x):
        """Batched matrix-vector product ``a[g] @ x[g]``."""
        return np.einsum("gij,gj->gi", a, x)

    @staticmethod
    def safe_div(a, b):
        out = np.zeros_like(a)
        np.divide(a, b, out=out, where=b > 0)
        return out

    @staticmethod
    def sqrt(x):
        return np.sqrt(x)

    @staticmethod
    def solve_spd(g, b):
        return np.linalg.solve(g, b[..., None])[..., 0]

    @staticmethod
    def qr(a):
        return np.linalg.qr(a)

    @staticmethod
    def isfinite_all(x) -> bool:
        return bool(np.isfinite(x).all())

    @staticmethod
    def contiguous(x):
        return np.ascontiguousarray(x)


class TorchBackend:
    name = "torch"

    def __init__(self, dtype, device):
        import torch

        self.torch = torch
        self.dtype = dtype
        self.device = torch.device(device)
        self.eps = float(torch.finfo(dtype).eps)
        self.itemsize = dtype.itemsize

    def __getstate__(self):
        return {"dtype": self.dtype, "device": str(self.device)}

    def __setstate__(self, state):
        self.__init__(state["dtype"], state["device"])

    def asarray(self, x):
        t = self.torch
        if isinstance(x, t.Tensor):
            return x.to(device=self.device, dtype=self.dtype)
        return t.as_tensor(np.asarray(x), dtype=self.dtype, device=self.device)

    def index(self, x):
        return self.torch.as_tensor(np.asarray(x, dtype=np.int64), device=self.device)

    @staticmethod
    def to_numpy(x):
        return x.detach().cpu().numpy()

    def seg_op(self, indptr: np.ndarray):
        counts = np.diff(indptr)
        return self.index(np.repeat(np.arange(counts.size), counts))

    def segsum(self, block: Block, x):
        out = self.torch.zeros((*x.shape[:-1], block.n_groups), dtype=x.dtype, device=x.device)
        return out.index_add_(x.ndim - 1, block.seg_op, x)

    @staticmethod
    def take(xt, idx):
        return xt.index_select(1, idx)

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def empty(self, shape):
        return self.torch.empty(shape, dtype=self.dtype, device=self.device)

    def eye(self, k):
        return self.torch.eye(k, dtype=self.dtype, device=self.device)

    def triu(self, k):
        iu = self.torch.triu_indices(k, k, device=self.device)
        return iu[0], iu[1]

    @staticmethod
    def copy(x):
        return x.clone()

    def concat(self, xs, axis):
        return self.torch.cat(xs, dim=axis)

    @staticmethod
    def coldot(a, b):
        return (a * b).sum(0)

    def bmv(self, a, x):
        return (a @ x.unsqueeze(-1)).squeeze(-1)

    def safe_div(self, a, b):
        return self.torch.where(b > 0, a / self.torch.where(b > 0, b, 1), 0)

    def sqrt(self, x):
        return self.torch.sqrt(x)

    def solve_spd(self, g, b):
        t = self.torch
        chol, info = t.linalg.cholesky_ex(g)
        if bool((info != 0).any()):
            return t.linalg.solve(g, b)
        return t.cholesky_solve(b.unsqueeze(-1), chol).squeeze(-1)

    def qr(self, a):
        return self.torch.linalg.qr(a)

    def isfinite_all(self, x) -> bool:
        return bool(self.torch.isfinite(x).all())

    @staticmethod
    def contiguous(x):
        return x.contiguous()


def make_backend(dtype, device):
    """numpy backend when ``device`` is None, else torch on ``device``."""
    if device is None:
        return NumpyBackend(dtype)
    return TorchBackend(dtype, device)
