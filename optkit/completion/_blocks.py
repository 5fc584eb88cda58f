"""Arrays of one run (numpy or torch through ``array_api_compat``) and the blocks of a half-step.

A half-step works on a *block*: consecutive groups (columns for the V half-step, rows for
the U half-step) and their entries, sorted by group. Its one reduction is the segment sum
over the last axis of an entry-last ``(width, entries)`` array; the array API has no
segment sum, so :func:`segment_sum` is the one place with a kernel per library
(``numpy.add.reduceat`` over the sorted groups, torch's ``index_add_``). Everything else is
written once against the array API namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optkit.core.backend import device_of, is_torch_tensor, namespace

__all__ = ["Arrays", "Block", "segment_sum", "make_blocks", "MEMORY_CAP"]

#: Bytes of the largest per-entry work array of one block. Small blocks keep the arrays
#: in malloc's reused heap (fresh large arrays cost page faults on every half-step).
MEMORY_CAP = 16 * 2**20


class Arrays:
    """Namespace, dtype and device of a run, from a prototype array (picklable for dask)."""

    def __init__(self, proto):
        self.proto = proto[:0]
        self.xp = namespace(self.proto)
        self.dtype = self.proto.dtype
        self.device = device_of(self.proto)
        self.eps = float(self.xp.finfo(self.dtype).eps)
        self.itemsize = self.xp.finfo(self.dtype).bits // 8

    def __getstate__(self):
        return {"proto": self.proto}

    def __setstate__(self, state):
        self.__init__(state["proto"])

    def asarray(self, x):
        """``x`` in the run's dtype on its device."""
        return self.xp.asarray(x, dtype=self.dtype, device=self.device)

    def index(self, x):
        """An int64 index array on the run's device."""
        return self.xp.asarray(np.asarray(x, dtype=np.int64), device=self.device)

    def zeros(self, shape):
        return self.xp.zeros(shape, dtype=self.dtype, device=self.device)


@dataclass
class Block:
    """Groups ``[g0, g1)`` of one side and their entries (sorted by group).

    ``other``: index of each entry into the fixed factor; ``seg``: local group id of each
    entry; ``indptr``/``counts``: numpy group boundaries; ``starts``/``empty``: numpy
    segment starts and empty groups (for ``reduceat``); ``vals``: observed values;
    ``lam``: regularization weight of each group; ``key``: index of the block (keys its
    sketch randomness).
    """

    g0: int
    g1: int
    other: Any
    seg: Any
    indptr: np.ndarray
    counts: np.ndarray
    starts: np.ndarray
    empty: np.ndarray
    vals: Any
    lam: Any
    key: int

    @property
    def n_groups(self) -> int:
        return self.g1 - self.g0

    @property
    def n_entries(self) -> int:
        return int(self.indptr[-1])


def _reduceat_starts(indptr: np.ndarray):
    n = int(indptr[-1])
    return np.minimum(indptr[:-1], max(n - 1, 0)), np.diff(indptr) == 0


def segment_sum(block: Block, x):
    """Sum of ``x[..., e]`` over the entries ``e`` of each group of ``block`` (last axis)."""
    if is_torch_tensor(x):
        out = x.new_zeros((*x.shape[:-1], block.n_groups))
        return out.index_add_(x.ndim - 1, block.seg, x)
    if x.shape[-1] == 0:
        return np.zeros((*x.shape[:-1], block.n_groups), dtype=x.dtype)
    out = np.add.reduceat(x, block.starts, axis=-1)
    out[..., block.empty] = 0
    return out


def sub_block(arrays: Arrays, block: Block, mask: np.ndarray) -> Block:
    """The groups of ``block`` where ``mask`` holds (entries and values are not carried)."""
    counts = block.counts[mask]
    indptr = np.concatenate([[0], np.cumsum(counts)])
    starts, empty = _reduceat_starts(indptr)
    return Block(g0=0, g1=int(mask.sum()), other=None,
                 seg=arrays.index(np.repeat(np.arange(counts.size), counts)), indptr=indptr,
                 counts=counts, starts=starts, empty=empty, vals=None,
                 lam=block.lam[arrays.index(np.flatnonzero(mask))], key=block.key)


def make_blocks(arrays: Arrays, indptr, other, vals, lam, width: int) -> list[Block]:
    """Cut the groups ``indptr`` into consecutive blocks of at most ``MEMORY_CAP`` bytes."""
    budget = max(1, MEMORY_CAP // (arrays.itemsize * width))
    n_groups = indptr.size - 1
    bounds = [0]
    while bounds[-1] < n_groups:
        g0 = bounds[-1]
        g1 = int(np.searchsorted(indptr, indptr[g0] + budget, side="right")) - 1
        bounds.append(min(n_groups, max(g1, g0 + 1)))
    blocks = []
    for key, (g0, g1) in enumerate(zip(bounds[:-1], bounds[1:])):
        e0, e1 = int(indptr[g0]), int(indptr[g1])
        local = indptr[g0:g1 + 1] - e0
        counts = np.diff(local)
        starts, empty = _reduceat_starts(local)
        blocks.append(Block(
            g0=g0, g1=g1, other=arrays.index(other[e0:e1]),
            seg=arrays.index(np.repeat(np.arange(g1 - g0), counts)), indptr=local,
            counts=counts, starts=starts, empty=empty, vals=arrays.asarray(vals[e0:e1]),
            lam=arrays.asarray(lam[g0:g1]), key=key))
    return blocks
