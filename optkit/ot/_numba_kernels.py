"""numba CPU kernels for entropic OT in the log domain.

Every kernel forms ``log P_ij = (f_i + g_j - C_ij) / eps`` on the fly from the cost ``C``
(row-major, float32 or float64) and float64 potentials; none stores ``exp(-C/eps)``, ``P``
or ``log P``. Reductions run over fixed blocks merged in a fixed order, so the results do
not depend on the number of threads. This module is imported lazily (it compiles numba
code), never by ``import optkit.ot``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import llvmlite.ir as ir
import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = ["NumbaKernels", "LazyNumbaKernels", "HostSparse"]

_ROWS = 64      # rows per reduction block (partial column sums, histograms)
_COLS = 64      # columns per block of the column log-sum-exp
_TINY = 1e-200  # a shifted exp-sum outside [_TINY, 1/_TINY] is recomputed with its exact max
_NBINS = 2048   # histogram bins for the top-k threshold
_PARALLEL_MIN = 2**20  # entries of C from which the kernels run multi-threaded
_SPAN = 40.0    # the histogram covers log P in [max - _SPAN, max]
_LAZY_BLOCK_BYTES = 16 * 2**20  # cost block of the lazy kernels
_COST_KINDS = {"sqeuclidean": 0, "half_sqeuclidean": 1, "euclidean": 2, "l1": 3}
_FM = {"reassoc", "contract", "nsz", "arcp"}  # fast math that keeps inf and NaN semantics
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10


@intrinsic
def _bits_to_f64(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(inline="always", fastmath=_FM)
def _exp(x):
    """``exp(x)`` in a form LLVM vectorizes: ``x = k ln 2 + r``, ``|r| <= ln 2 / 2``, degree-12
    Taylor polynomial (truncation 2e-16), ``2^k`` from its IEEE bits. Relative error below
    4e-16; 0 below -708 and inf above 709."""
    xc = min(max(x, -708.0), 709.0)
    k = math.floor(xc * _LOG2E + 0.5)
    r = xc - k * _LN2_HI - k * _LN2_LO
    p = 1.0 / 479001600.0
    for c in (1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
              1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0):
        p = p * r + c
    y = p * _bits_to_f64((np.int64(k) + 1023) << 52)
    if x < -708.0:
        y = 0.0
    if x > 709.0:
        y = np.inf
    return y


@njit(cache=True)
def _lse_exact(C, i_row, j_col, v, inv_eps, sign_row):
    """Exact two-pass LSE of one row (``sign_row``) or one column of ``(v - C) * inv_eps``."""
    mx = -np.inf
    if sign_row:
        m = C.shape[1]
        for j in range(m):
            x = (v[j] - C[i_row, j]) * inv_eps
            if x > mx:
                mx = x
        s = 0.0
        for j in range(m):
            s += math.exp((v[j] - C[i_row, j]) * inv_eps - mx)
    else:
        n = C.shape[0]
        for i in range(n):
            x = (v[i] - C[i, j_col]) * inv_eps
            if x > mx:
                mx = x
        s = 0.0
        for i in range(n):
            s += math.exp((v[i] - C[i, j_col]) * inv_eps - mx)
    return mx + math.log(s)


@njit(parallel=True, cache=True, fastmath=_FM)
def row_lse(C, g, inv_eps, shift):
    """``L_i = LSE_j((g_j - C_ij) * inv_eps)``, one pass with the guess ``shift_i`` of the max.

    A row whose shifted sum leaves ``[_TINY, 1/_TINY]`` (a bad guess) is redone exactly.
    """
    n, m = C.shape
    out = np.empty(n)
    for i in prange(n):
        s_i = shift[i]
        s = 0.0
        for j in range(m):
            s += _exp((g[j] - C[i, j]) * inv_eps - s_i)
        if _TINY <= s <= 1.0 / _TINY:
            out[i] = s_i + math.log(s)
        else:
            out[i] = _lse_exact(C, i, 0, g, inv_eps, True)
    return out


@njit(cache=True, fastmath=_FM)
def _col_acc(acc, Crow, j_lo, fi, sh, inv_eps):
    """``acc_t += exp((f_i - C_i,j_lo+t) * inv_eps - sh_t)``; a separate function so that LLVM
    sees non-aliasing arguments and vectorizes it."""
    for t in range(acc.size):
        acc[t] += _exp((fi - Crow[j_lo + t]) * inv_eps - sh[t])


@njit(parallel=True, cache=True, fastmath=_FM)
def col_lse(C, f, inv_eps, shift):
    """``L_j = LSE_i((f_i - C_ij) * inv_eps)`` on row-major ``C``, blocks of columns in parallel."""
    n, m = C.shape
    out = np.empty(m)
    nblk = (m + _COLS - 1) // _COLS
    for blk in prange(nblk):
        j_lo = blk * _COLS
        w = min(_COLS, m - j_lo)
        acc = np.zeros(w)
        sh = shift[j_lo:j_lo + w].copy()
        for i in range(n):
            _col_acc(acc, C[i], j_lo, f[i], sh, inv_eps)
        for t in range(w):
            if _TINY <= acc[t] <= 1.0 / _TINY:
                out[j_lo + t] = sh[t] + math.log(acc[t])
            else:
                out[j_lo + t] = _lse_exact(C, 0, j_lo + t, f, inv_eps, False)
    return out


@njit(cache=True, fastmath=_FM)
def _stats_row(acc, Crow, fi, g, inv_eps):
    """Adds row ``i`` of ``P`` to ``acc``; returns its sum and its part of ``<C, P>``."""
    s = 0.0
    cost = 0.0
    for j in range(acc.size):
        c = Crow[j]
        p = _exp((fi + g[j] - c) * inv_eps)
        s += p
        cost += c * p
        acc[j] += p
    return s, cost


@njit(parallel=True, cache=True, fastmath=_FM)
def plan_stats(C, f, g, inv_eps):
    """One pass: ``P1``, ``P^T 1``, ``sum P`` and ``<C, P>`` (overflow gives inf)."""
    n, m = C.shape
    nblk = (n + _ROWS - 1) // _ROWS
    r = np.empty(n)
    part_c = np.zeros((nblk, m))
    part_cost = np.zeros(nblk)
    for blk in prange(nblk):
        acc = part_c[blk]
        cost = 0.0
        for i in range(blk * _ROWS, min((blk + 1) * _ROWS, n)):
            r[i], ci = _stats_row(acc, C[i], f[i], g, inv_eps)
            cost += ci
        part_cost[blk] = cost
    c_sum = np.zeros(m)
    for blk in range(nblk):
        c_sum += part_c[blk]
    total = 0.0
    for i in range(n):
        total += r[i]
    return r, c_sum, total, part_cost.sum()


@njit(parallel=True, cache=True, fastmath=_FM)
def select_pass(C, f, g, inv_eps, j0, lo, width):
    """One pass over ``log P`` without column ``j0``: a histogram of ``_NBINS`` bins of
    ``width`` from ``lo``, the row maxima's positions, and the column maxima's positions and
    values."""
    n, m = C.shape
    nblk = (n + _ROWS - 1) // _ROWS
    part = np.zeros((nblk, _NBINS), dtype=np.int64)
    row_arg = np.empty(n, dtype=np.int64)
    part_max = np.full((nblk, m), -np.inf)
    part_arg = np.zeros((nblk, m), dtype=np.int64)
    for blk in prange(nblk):
        for i in range(blk * _ROWS, min((blk + 1) * _ROWS, n)):
            fi = f[i]
            mx = -np.inf
            am = 0
            for j in range(m):
                if j == j0:
                    continue
                lp = (fi + g[j] - C[i, j]) * inv_eps
                if lp > mx:
                    mx = lp
                    am = j
                if lp > part_max[blk, j]:
                    part_max[blk, j] = lp
                    part_arg[blk, j] = i
                if lp >= lo:
                    part[blk, min(int((lp - lo) / width), _NBINS - 1)] += 1
            row_arg[i] = am
    col_arg = np.zeros(m, dtype=np.int64)
    col_best = np.empty(m)
    for j in prange(m):
        best = -np.inf
        for blk in range(nblk):
            if part_max[blk, j] > best:
                best = part_max[blk, j]
                col_arg[j] = part_arg[blk, j]
        col_best[j] = best
    return part.sum(axis=0), row_arg, col_arg, col_best


@njit(inline="always", cache=True)
def _keep(lp, thr, i, j, j0, row_arg, col_arg):
    return j != j0 and (lp >= thr or j == row_arg[i] or col_arg[j] == i)


@njit(parallel=True, cache=True, fastmath=_FM)
def sparse_rows(C, f, g, inv_eps, j0, thr, row_arg, col_arg):
    """CSR of ``P_ij / eps`` on the kept set: ``log P >= thr``, or a row or column maximum."""
    n, m = C.shape
    counts = np.zeros(n + 1, dtype=np.int64)
    for i in prange(n):
        fi = f[i]
        k = 0
        for j in range(m):
            if _keep((fi + g[j] - C[i, j]) * inv_eps, thr, i, j, j0, row_arg, col_arg):
                k += 1
        counts[i + 1] = k
    indptr = np.cumsum(counts)
    indices = np.empty(indptr[n], dtype=np.int64)
    data = np.empty(indptr[n])
    for i in prange(n):
        fi = f[i]
        k = indptr[i]
        for j in range(m):
            lp = (fi + g[j] - C[i, j]) * inv_eps
            if _keep(lp, thr, i, j, j0, row_arg, col_arg):
                indices[k] = j
                data[k] = _exp(lp) * inv_eps
                k += 1
    return indptr, indices, data


@njit(cache=True)
def transpose_csr(indptr, indices, data, m):
    """CSC copy of a CSR matrix with ``m`` columns (counting sort)."""
    n = indptr.shape[0] - 1
    cptr = np.zeros(m + 1, dtype=np.int64)
    for k in range(indices.shape[0]):
        cptr[indices[k] + 1] += 1
    for j in range(m):
        cptr[j + 1] += cptr[j]
    fill = cptr[:-1].copy()
    rows = np.empty(indices.shape[0], dtype=np.int64)
    cdata = np.empty(indices.shape[0])
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            rows[fill[j]] = i
            cdata[fill[j]] = data[k]
            fill[j] += 1
    return cptr, rows, cdata


@njit(parallel=True, cache=True, fastmath=_FM)
def spmv(indptr, indices, data, x):
    """``y = A x`` for a CSR matrix (pass the CSC arrays for ``A^T x``)."""
    n = indptr.shape[0] - 1
    y = np.empty(n)
    for i in prange(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        y[i] = s
    return y


@njit(parallel=True, cache=True, fastmath=_FM)
def col_sums(C, f, inv_eps, shift, acc):
    """``acc_j += sum_i exp((f_i - C_ij) * inv_eps - shift_j)`` (shifted column sums, additive
    over blocks of rows)."""
    n, m = C.shape
    nblk = (m + _COLS - 1) // _COLS
    for blk in prange(nblk):
        j_lo = blk * _COLS
        w = min(_COLS, m - j_lo)
        part = np.zeros(w)
        sh = shift[j_lo:j_lo + w].copy()
        for i in range(n):
            _col_acc(part, C[i], j_lo, f[i], sh, inv_eps)
        for t in range(w):
            acc[j_lo + t] += part[t]


@njit(parallel=True, cache=True, fastmath=_FM)
def cost_rows(x, y, lo, kind, out):
    """Rows ``lo:lo + len(out)`` of the cost of clouds ``x``, ``y`` by direct differences:
    ``kind`` 0 squared Euclidean, 1 half of it, 2 Euclidean, 3 L1."""
    d = x.shape[1]
    for r in prange(out.shape[0]):
        i = lo + r
        for j in range(y.shape[0]):
            s = 0.0
            if kind == 3:
                for t in range(d):
                    s += abs(x[i, t] - y[j, t])
            else:
                for t in range(d):
                    u = x[i, t] - y[j, t]
                    s += u * u
                if kind == 1:
                    s *= 0.5
                elif kind == 2:
                    s = math.sqrt(s)
            out[r, j] = s


@njit(parallel=True, cache=True, fastmath=_FM)
def dense_plan(C, f, g, inv_eps):
    """``P_ij = exp((f_i + g_j - C_ij) * inv_eps)`` as a dense float64 array."""
    n, m = C.shape
    P = np.empty((n, m))
    for i in prange(n):
        for j in range(m):
            P[i, j] = _exp((f[i] + g[j] - C[i, j]) * inv_eps)
    return P


class NumbaKernels:
    """The kernel set of :mod:`optkit.ot.sinkhorn` and :mod:`optkit.ot.sns` for a numpy cost."""

    def __init__(self, C: np.ndarray):
        self.C = np.ascontiguousarray(C)

    @contextmanager
    def threads(self):
        """Run single-threaded below ``_PARALLEL_MIN`` entries, where threads cost more than
        they save (set once per solve: ``numba.set_num_threads`` takes tens of microseconds)."""
        old = numba.get_num_threads()
        if self.C.size >= _PARALLEL_MIN or old == 1:
            yield
            return
        numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(old)

    def row_lse(self, g, inv_eps, shift):
        return row_lse(self.C, g, inv_eps, shift)

    def col_lse(self, f, inv_eps, shift):
        return col_lse(self.C, f, inv_eps, shift)

    def stats(self, f, g, inv_eps):
        """``(P1, P^T 1, sum P, <C, P>)``."""
        return plan_stats(self.C, f, g, inv_eps)

    def select(self, f, g, inv_eps, j0, k, row_sums):
        """:class:`HostSparse` ``Sigma = P/eps`` on the kept set (SNS sparsification), two passes.

        ``log max_i (P1)_i`` bounds every ``log P_ij`` from above, so the histogram of
        ``log P`` over ``[top - 40, top]`` and the row/column maxima take one pass."""
        lo = math.log(float(row_sums.max())) - _SPAN
        width = _SPAN / _NBINS
        hist, row_arg, col_arg, _ = select_pass(self.C, f, g, inv_eps, j0, lo, width)
        above = np.cumsum(hist[::-1])
        b = int(np.searchsorted(above, k))          # bins counted from the top
        thr = lo if b >= _NBINS else lo + (_NBINS - 1 - b) * width
        return HostSparse(sparse_rows(self.C, f, g, inv_eps, j0, thr, row_arg, col_arg),
                          self.C.shape[1])

    def plan(self, f, g, inv_eps):
        return dense_plan(self.C, f, g, inv_eps)


class LazyNumbaKernels:
    """The kernel set on point clouds (a numpy :class:`~optkit.ot.costs.LazyCost`): each pass
    forms blocks of rows of ``C`` (at most 16 MiB, one buffer reused) with :func:`cost_rows`
    and runs the dense kernels on them, so a solve holds O((n + m) d) memory plus one block.
    Column sums are accumulated shifted across blocks (:func:`col_sums`); a column whose shift
    guess misses is redone with its exact maximum."""

    def __init__(self, cost):
        self.x, self.y = cost.x, cost.y
        self.n, self.m = cost.shape
        self.kind = _COST_KINDS[cost.cost]
        self.rows = max(1, min(self.n, _LAZY_BLOCK_BYTES // (8 * self.m)))
        self.buffer = np.empty((self.rows, self.m))

    def _blocks(self):
        for lo in range(0, self.n, self.rows):
            hi = min(lo + self.rows, self.n)
            block = self.buffer[:hi - lo]
            cost_rows(self.x, self.y, lo, self.kind, block)
            yield lo, hi, block

    @contextmanager
    def threads(self):
        """As :meth:`NumbaKernels.threads` for ``n * m`` entries."""
        old = numba.get_num_threads()
        if self.n * self.m >= _PARALLEL_MIN or old == 1:
            yield
            return
        numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(old)

    def row_lse(self, g, inv_eps, shift):
        out = np.empty(self.n)
        for lo, hi, Cb in self._blocks():
            out[lo:hi] = row_lse(Cb, g, inv_eps, shift[lo:hi])
        return out

    def col_lse(self, f, inv_eps, shift):
        shift = np.ascontiguousarray(shift, dtype=np.float64)
        acc = np.zeros(self.m)
        for lo, hi, Cb in self._blocks():
            col_sums(Cb, f[lo:hi], inv_eps, shift, acc)
        bad = ~((acc >= _TINY) & (acc <= 1.0 / _TINY))
        out = shift + np.log(np.where(bad, 1.0, acc))
        if bad.any():
            top = np.full(int(bad.sum()), -np.inf)
            for lo, hi, Cb in self._blocks():
                top = np.maximum(top, ((f[lo:hi, None] - Cb[:, bad]) * inv_eps).max(axis=0))
            total = np.zeros_like(top)
            for lo, hi, Cb in self._blocks():
                total += np.exp((f[lo:hi, None] - Cb[:, bad]) * inv_eps - top).sum(axis=0)
            out[bad] = top + np.log(total)
        return out

    def stats(self, f, g, inv_eps):
        """``(P1, P^T 1, sum P, <C, P>)``."""
        r, c = np.empty(self.n), np.zeros(self.m)
        total = cost = 0.0
        for lo, hi, Cb in self._blocks():
            r[lo:hi], cb, tb, costb = plan_stats(Cb, f[lo:hi], g, inv_eps)
            c += cb
            total += tb
            cost += costb
        return r, c, total, cost

    def select(self, f, g, inv_eps, j0, k, row_sums):
        """As :meth:`NumbaKernels.select` (the same kept set), block by block."""
        lo_v = math.log(float(row_sums.max())) - _SPAN
        width = _SPAN / _NBINS
        hist = np.zeros(_NBINS, dtype=np.int64)
        row_arg = np.empty(self.n, dtype=np.int64)
        col_arg = np.zeros(self.m, dtype=np.int64)
        col_best = np.full(self.m, -np.inf)
        for lo, hi, Cb in self._blocks():
            h, row_arg[lo:hi], ca, cb = select_pass(Cb, f[lo:hi], g, inv_eps, j0, lo_v, width)
            hist += h
            better = cb > col_best
            col_best[better], col_arg[better] = cb[better], ca[better] + lo
        above = np.cumsum(hist[::-1])
        b = int(np.searchsorted(above, k))
        thr = lo_v if b >= _NBINS else lo_v + (_NBINS - 1 - b) * width
        counts, indices, data = [np.zeros(1, dtype=np.int64)], [], []
        for lo, hi, Cb in self._blocks():
            ptr, idx, val = sparse_rows(Cb, f[lo:hi], g, inv_eps, j0, thr, row_arg[lo:hi],
                                        col_arg - lo)
            counts.append(np.diff(ptr))
            indices.append(idx)
            data.append(val)
        indptr = np.cumsum(np.concatenate(counts))
        return HostSparse((indptr, np.concatenate(indices), np.concatenate(data)), self.m)

    def plan(self, f, g, inv_eps):
        return np.concatenate([dense_plan(Cb, f[lo:hi], g, inv_eps)
                               for lo, hi, Cb in self._blocks()])


class HostSparse:
    r"""A sparse block in CSR with its CSC copy (counting sort), for the products
    :math:`\Sigma v` and :math:`\Sigma^\top u` without atomics. It unpacks as the CSR triple
    ``indptr, indices, data``."""

    passes = 2  # the select pass and the fill pass over C

    def __init__(self, csr, m):
        self.csr = csr
        self.csc = transpose_csr(*csr, m)
        self.nnz = int(csr[0][-1])

    def __iter__(self):
        return iter(self.csr)

    def matvec(self, v, squared=False):
        indptr, indices, data = self.csr
        return spmv(indptr, indices, data * data if squared else data, v)

    def rmatvec(self, u, squared=False):
        indptr, indices, data = self.csc
        return spmv(indptr, indices, data * data if squared else data, u)
