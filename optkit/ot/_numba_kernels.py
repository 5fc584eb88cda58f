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

from optkit.core.backend import numba_threads

# Start numba's threading layer now, leaving torch's intra-op thread count as it was.
numba_threads()

__all__ = ["NumbaKernels", "LazyNumbaKernels", "HostSparse"]

_ROWS = 64      # rows per reduction block (partial column sums, histograms, row chunks)
_TINY = 1e-200  # a shifted exp-sum outside [_TINY, 1/_TINY] is recomputed with its exact max
_NBINS = 2048   # histogram bins for the top-k threshold
_PARALLEL_MIN = 2**20  # entries of C from which the kernels run multi-threaded
_SPMV_PARALLEL_MIN = 2**16  # nonzeros from which a sparse product runs multi-threaded
_GRAM_FUSED_MAX = 2**20  # nonzeros below which the Schur product is one fused pass
_MAX_CHUNKS = 64  # row chunks of the parallel passes (fixed: results do not depend on threads)
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
def _col_acc(acc, Crow, fi, sh, inv_eps):
    """``acc_j += exp((f_i - C_ij) * inv_eps - sh_j)`` over one row (contiguous, vectorized);
    a separate function so that LLVM sees non-aliasing arguments."""
    for j in range(acc.size):
        acc[j] += _exp((fi - Crow[j]) * inv_eps - sh[j])


@njit(cache=True)
def _chunk(c, n, nchunk):
    """Rows ``[lo, hi)`` of chunk ``c`` of ``nchunk`` contiguous chunks of ``n`` rows."""
    return c * n // nchunk, (c + 1) * n // nchunk


@njit(cache=True)
def _chunks(n):
    """A fixed number of row chunks (independent of the thread count, so that partial results
    merge in the same order with any number of threads)."""
    return max(1, min((n + _ROWS - 1) // _ROWS, _MAX_CHUNKS))


@njit(parallel=True, cache=True, fastmath=_FM)
def col_lse(C, f, inv_eps, shift):
    """``L_j = LSE_i((f_i - C_ij) * inv_eps)`` on row-major ``C``, one pass with the guess
    ``shift_j`` of the result: contiguous row chunks in parallel, each streaming its rows into
    a partial row of shifted column sums (vectorized over ``j``), merged in chunk order. A
    column whose shifted sum leaves ``[_TINY, 1/_TINY]`` is redone exactly."""
    n, m = C.shape
    nchunk = _chunks(n)
    part = np.zeros((nchunk, m))
    sh = np.ascontiguousarray(shift).astype(np.float64)
    for c in prange(nchunk):
        lo, hi = _chunk(c, n, nchunk)
        acc = part[c]
        for i in range(lo, hi):
            _col_acc(acc, C[i], f[i], sh, inv_eps)
    total = part[0].copy()
    for c in range(1, nchunk):
        total += part[c]
    out = np.empty(m)
    for j in prange(m):
        if _TINY <= total[j] <= 1.0 / _TINY:
            out[j] = sh[j] + math.log(total[j])
        else:
            out[j] = _lse_exact(C, 0, j, f, inv_eps, False)
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


@njit(inline="always", cache=True)
def _log_plan_row(out, Crow, fi, g, inv_eps):
    """``out_j = (f_i + g_j - C_ij) * inv_eps`` (vectorized). Its callers are compiled without
    fast-math, so every pass (select, count, fill) sees bitwise the same ``log P``."""
    for j in range(out.size):
        out[j] = (fi + g[j] - Crow[j]) * inv_eps


@njit(inline="always", cache=True)
def _row_max(lp):
    """``max_j lp_j`` of a NaN-free row. LLVM does not vectorize a float max reduction without
    the no-NaN function attribute, so the maximum is taken over order-preserving integer keys
    of the IEEE bits (``bits ^ ((bits >> 63) & 0x7fff...)``: an integer reduction, vectorized)."""
    bits = lp.view(np.int64)
    best = np.int64(-(2**63))
    for j in range(bits.size):
        u = bits[j]
        best = max(best, u ^ ((u >> 63) & 0x7FFFFFFFFFFFFFFF))
    best ^= (best >> 63) & 0x7FFFFFFFFFFFFFFF
    return np.array([best]).view(np.float64)[0]


@njit(inline="always", cache=True)
def _first_index(lp, value):
    """First ``j`` with ``lp_j == value`` (0 if none): blocks of 32 entries counted without
    branches (vectorized), the scalar scan only inside the first block that holds it."""
    m = lp.size
    for j_lo in range(0, m, 32):
        j_hi = min(j_lo + 32, m)
        hits = 0
        for t in range(j_lo, j_hi):
            hits += lp[t] == value
        if hits:
            for t in range(j_lo, j_hi):
                if lp[t] == value:
                    return t
    return 0


@njit(inline="always", cache=True)
def _col_max_update(col_max, col_arg, lp, i):
    """``col_max_j, col_arg_j <- lp_j, i`` where ``lp_j > col_max_j`` (both operands loaded
    unconditionally, then selected: vectorized)."""
    for j in range(lp.size):
        v = lp[j]
        old = col_max[j]
        old_arg = col_arg[j]
        better = v > old
        col_max[j] = v if better else old
        col_arg[j] = i if better else old_arg


@njit(inline="always", cache=True)
def _histogram_row(hist, bins, lp, lo, inv_width):
    """Adds the row's entries ``lp_j >= lo`` to ``hist[bin]``, ``bin = min(floor((lp_j - lo) *
    inv_width), _NBINS - 1)``. The bin indices are computed vectorized; entries below ``lo``
    go to one of 16 discarded slots past the last bin (by ``j mod 16``), so that no chain of
    increments of one counter serializes the loop; int32 counters keep the histogram in L1."""
    m = lp.size
    top = float(_NBINS - 1)
    for j in range(m):
        v = lp[j]
        q = min(max((v - lo) * inv_width, 0.0), top)
        bins[j] = np.int64(q) if v >= lo else _NBINS + (j & 15)
    for j in range(m):
        hist[bins[j]] += 1


@njit(parallel=True, cache=True)
def select_pass(C, f, g, inv_eps, j0, lo, width):
    """One pass over ``log P`` without column ``j0``: a histogram of ``_NBINS`` bins of
    ``width`` from ``lo``, the row maxima's positions, and the column maxima's positions and
    values (first position on ties).

    Contiguous row chunks run in parallel; each row is formed once in a buffer
    (:func:`_log_plan_row`) and reduced by branch-free vectorized loops. Per-chunk histograms,
    column maxima and positions merge in chunk order, so the result does not depend on the
    number of threads."""
    n, m = C.shape
    nchunk = _chunks(n)
    part = np.zeros((nchunk, _NBINS), dtype=np.int64)
    inv_width = 1.0 / width
    flush_every = max(1, 2**30 // max(m, 1))  # rows between flushes of the int32 counters
    row_arg = np.empty(n, dtype=np.int64)
    part_max = np.full((nchunk, m), -np.inf)
    part_arg = np.zeros((nchunk, m), dtype=np.int64)
    for c in prange(nchunk):
        lo_i, hi_i = _chunk(c, n, nchunk)
        lp = np.empty(m)
        bins = np.empty(m, dtype=np.int64)
        counts = np.zeros(_NBINS + 16, dtype=np.int32)
        for i in range(lo_i, hi_i):
            _log_plan_row(lp, C[i], f[i], g, inv_eps)
            lp[j0] = -np.inf
            mx = _row_max(lp)
            row_arg[i] = _first_index(lp, mx)
            _col_max_update(part_max[c], part_arg[c], lp, i)
            if mx >= lo:
                _histogram_row(counts, bins, lp, lo, inv_width)
            if (i - lo_i + 1) % flush_every == 0 or i == hi_i - 1:
                for t in range(_NBINS):
                    part[c, t] += counts[t]
                counts[:] = 0
    col_arg = part_arg[0].copy()
    col_best = part_max[0].copy()
    for c in range(1, nchunk):
        for j in range(m):
            better = part_max[c, j] > col_best[j]
            col_best[j] = part_max[c, j] if better else col_best[j]
            col_arg[j] = part_arg[c, j] if better else col_arg[j]
    hist = np.zeros(_NBINS, dtype=np.int64)
    for c in range(nchunk):
        hist += part[c]
    return hist, row_arg, col_arg, col_best


@njit(inline="always", cache=True)
def _keep_row(keep, lp, thr, i, j0, row_arg_i, col_arg):
    """Kept-set mask of row ``i`` (``log P >= thr``, or a row or column maximum; never column
    ``j0``) and its count."""
    k = 0
    for j in range(lp.size):
        kj = (lp[j] >= thr) | (col_arg[j] == i)
        keep[j] = kj
        k += kj
    if not keep[row_arg_i]:
        keep[row_arg_i] = True
        k += 1
    if keep[j0]:
        keep[j0] = False
        k -= 1
    return k


@njit(parallel=True, cache=True)
def sparse_rows(C, f, g, inv_eps, j0, thr, row_arg, col_arg):
    """CSR of ``P_ij / eps`` on the kept set: ``log P >= thr``, or a row or column maximum
    (column indices int32).

    Two passes over ``C`` in contiguous row chunks: count (a vectorized mask per row), then,
    after the prefix sum, fill: the row's kept positions are compacted without branches into a
    chunk buffer, and the exponentials are taken on the kept entries only."""
    n, m = C.shape
    nchunk = _chunks(n)
    counts = np.zeros(n + 1, dtype=np.int64)
    for c in prange(nchunk):
        lo, hi = _chunk(c, n, nchunk)
        lp = np.empty(m)
        keep = np.empty(m, dtype=np.bool_)
        for i in range(lo, hi):
            _log_plan_row(lp, C[i], f[i], g, inv_eps)
            counts[i + 1] = _keep_row(keep, lp, thr, i, j0, row_arg[i], col_arg)
    indptr = np.cumsum(counts)
    indices = np.empty(indptr[n], dtype=np.int32)
    data = np.empty(indptr[n])
    for c in prange(nchunk):
        lo, hi = _chunk(c, n, nchunk)
        lp = np.empty(m)
        keep = np.empty(m, dtype=np.bool_)
        kept_j = np.empty(m, dtype=np.int32)
        for i in range(lo, hi):
            _log_plan_row(lp, C[i], f[i], g, inv_eps)
            _keep_row(keep, lp, thr, i, j0, row_arg[i], col_arg)
            k = _compact(kept_j, keep)
            _fill(indices, data, indptr[i], kept_j, lp, k, inv_eps)
    return indptr, indices, data


@njit(inline="always", cache=True)
def _compact(kept_j, keep):
    """Writes the kept positions first in ``kept_j`` (every position is stored, the cursor moves
    only on kept ones: no branch); returns their count."""
    k = 0
    for j in range(keep.size):
        kept_j[k] = j
        k += keep[j]
    return k


@njit(cache=True, fastmath=_FM)
def _fill(indices, data, start, kept_j, lp, k, inv_eps):
    for t in range(k):
        j = kept_j[t]
        indices[start + t] = j
        data[start + t] = _exp(lp[j]) * inv_eps


@njit(cache=True)
def transpose_csr(indptr, indices, data, m):
    """CSC copy of a CSR matrix with ``m`` columns (counting sort; row indices int32)."""
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    cptr = np.zeros(m + 1, dtype=np.int64)
    for k in range(nnz):
        cptr[indices[k] + 1] += 1
    for j in range(m):
        cptr[j + 1] += cptr[j]
    fill = cptr[:-1].copy()
    rows = np.empty(nnz, dtype=np.int32)
    cdata = np.empty(nnz)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            p = fill[j]
            rows[p] = i
            cdata[p] = data[k]
            fill[j] = p + 1
    return cptr, rows, cdata


@njit(cache=True, fastmath=_FM)
def _spmv_rows(indptr, indices, data, x, y, lo, hi):
    """``y_i = sum_k data_k x_{indices_k}`` for rows ``lo..hi-1``: four independent partial
    sums per row (gathers in flight in parallel), then the row's remainder."""
    for i in range(lo, hi):
        k0, k1 = indptr[i], indptr[i + 1]
        s0 = s1 = s2 = s3 = 0.0
        k4 = k1 - (k1 - k0) % 4
        for k in range(k0, k4, 4):
            s0 += data[k] * x[indices[k]]
            s1 += data[k + 1] * x[indices[k + 1]]
            s2 += data[k + 2] * x[indices[k + 2]]
            s3 += data[k + 3] * x[indices[k + 3]]
        for k in range(k4, k1):
            s0 += data[k] * x[indices[k]]
        y[i] = (s0 + s1) + (s2 + s3)


@njit(cache=True)
def spmv_serial(indptr, indices, data, x):
    """``y = A x`` for a CSR matrix, one thread (pass the CSC arrays for ``A^T x``)."""
    n = indptr.shape[0] - 1
    y = np.empty(n)
    _spmv_rows(indptr, indices, data, x, y, 0, n)
    return y


@njit(parallel=True, cache=True)
def spmv(indptr, indices, data, x):
    """``y = A x`` for a CSR matrix (pass the CSC arrays for ``A^T x``): contiguous row chunks
    of about equal nonzero counts in parallel (each row's sum does not depend on the chunks)."""
    n = indptr.shape[0] - 1
    y = np.empty(n)
    nchunk = _chunks(n)
    nnz = indptr[n]
    bounds = np.searchsorted(indptr, np.arange(nchunk + 1) * nnz // nchunk)
    bounds[0], bounds[nchunk] = 0, n
    for c in prange(nchunk):
        _spmv_rows(indptr, indices, data, x, y, bounds[c], bounds[c + 1])
    return y


@njit(cache=True, fastmath=_FM)
def gram(indptr, indices, data, w, weights, m):
    """``y = A^T diag(weights) A w`` for a CSR matrix ``A`` with ``m`` columns, one pass over
    ``A``: each row's product ``t_i = weights_i (A w)_i`` (as :func:`_spmv_rows`) is scattered
    back at once, ``y_j += A_ij t_i``, while the row is in cache (single thread)."""
    n = indptr.shape[0] - 1
    y = np.zeros(m)
    for i in range(n):
        k0, k1 = indptr[i], indptr[i + 1]
        s0 = s1 = s2 = s3 = 0.0
        k4 = k1 - (k1 - k0) % 4
        for k in range(k0, k4, 4):
            s0 += data[k] * w[indices[k]]
            s1 += data[k + 1] * w[indices[k + 1]]
            s2 += data[k + 2] * w[indices[k + 2]]
            s3 += data[k + 3] * w[indices[k + 3]]
        for k in range(k4, k1):
            s0 += data[k] * w[indices[k]]
        t = ((s0 + s1) + (s2 + s3)) * weights[i]
        for k in range(k0, k1):
            y[indices[k]] += data[k] * t
    return y


@njit(cache=True, fastmath=_FM)
def schur_pcg(indptr, indices, data, m, d, weights, b, precond, rtol, maxiter):
    r"""Jacobi-preconditioned CG on the SNS Schur complement :math:`(\mathrm{diag}(d) - A^\top
    \mathrm{diag}(weights) A)\,x = b` (``A`` the CSR block, ``m`` columns), compiled: the
    recursion, stopping rule and curvature test of :func:`optkit.core.cg.pcg` (from 0, stop at
    :math:`\|r\| \le \mathrm{rtol}\|b\|`), with the operator applied by :func:`gram`.
    Returns ``(x, nit, residual, converged, negative_curvature)``."""
    tiny = np.finfo(np.float64).tiny
    x = np.zeros(m)
    r = b.copy()
    target = rtol * math.sqrt(np.dot(b, b))
    z = r / precond
    p = z.copy()
    rz = np.dot(r, z)
    res = math.sqrt(np.dot(r, r))
    if res <= target:
        return x, 0, res, True, False
    it = 0
    while it < maxiter:
        q = d * p - gram(indptr, indices, data, p, weights, m)
        curv = np.dot(p, q)
        if np.dot(p, p) != 0.0 and curv <= 0.0:
            return x, it, res, False, True
        alpha = rz / (curv if curv != 0.0 else tiny)
        x += alpha * p
        r -= alpha * q
        it += 1
        res = math.sqrt(np.dot(r, r))
        if res <= target:
            return x, it, res, True, False
        z = r / precond
        rz_new = np.dot(r, z)
        p = z + (rz_new / (rz if rz != 0.0 else tiny)) * p
        rz = rz_new
    return x, it, res, res <= target, False


@njit(parallel=True, cache=True, fastmath=_FM)
def col_sums(C, f, inv_eps, shift, acc):
    """``acc_j += sum_i exp((f_i - C_ij) * inv_eps - shift_j)`` (shifted column sums, additive
    over blocks of rows; row chunks as in :func:`col_lse`)."""
    n, m = C.shape
    nchunk = _chunks(n)
    part = np.zeros((nchunk, m))
    for c in prange(nchunk):
        lo, hi = _chunk(c, n, nchunk)
        row = part[c]
        for i in range(lo, hi):
            _col_acc(row, C[i], f[i], shift, inv_eps)
    for c in range(nchunk):
        acc += part[c]


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
        """:class:`HostSparse` ``Sigma = P/eps`` on the kept set (SNS sparsification), three passes (select, count, fill).

        ``log max_i (P1)_i`` bounds every ``log P_ij`` from above, so the histogram of
        ``log P`` over ``[top - 40, top]`` and the row/column maxima take one pass."""
        lo = math.log(float(row_sums.max())) - _SPAN
        width = _SPAN / _NBINS
        hist, row_arg, col_arg, _ = select_pass(self.C, f, g, inv_eps, j0, lo, width)
        above = np.cumsum(hist[::-1])
        b = int(np.searchsorted(above, k))          # bins counted from the top
        thr = lo if b >= _NBINS else lo + (_NBINS - 1 - b) * width
        return HostSparse(sparse_rows(self.C, f, g, inv_eps, j0, thr, row_arg, col_arg),
                          self.C.shape[1], passes=3)

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
        return HostSparse((indptr, np.concatenate(indices), np.concatenate(data)), self.m,
                          passes=3)

    def plan(self, f, g, inv_eps):
        return np.concatenate([dense_plan(Cb, f[lo:hi], g, inv_eps)
                               for lo, hi, Cb in self._blocks()])


class HostSparse:
    r"""A sparse block in CSR with its CSC copy (counting sort), for the products
    :math:`\Sigma v` and :math:`\Sigma^\top u` without atomics. It unpacks as the CSR triple
    ``indptr, indices, data``. Products with fewer than ``_SPMV_PARALLEL_MIN`` nonzeros run on
    one thread (a parallel launch costs more than the product there)."""

    def __init__(self, csr, m, passes=2):
        self.csr = csr
        self.passes = passes  # passes over C that built it
        self.csc = transpose_csr(*csr, m)
        self.nnz = int(csr[0][-1])
        self._spmv = spmv if self.nnz >= _SPMV_PARALLEL_MIN else spmv_serial

    def __iter__(self):
        return iter(self.csr)

    def matvec(self, v, squared=False):
        indptr, indices, data = self.csr
        return self._spmv(indptr, indices, data * data if squared else data, v)

    def rmatvec(self, u, squared=False):
        indptr, indices, data = self.csc
        return self._spmv(indptr, indices, data * data if squared else data, u)

    def gram(self, w, weights, transpose=False):
        r""":math:`\Sigma^\top \mathrm{diag}(weights)\,\Sigma w` (or :math:`\Sigma\,
        \mathrm{diag}(weights)\,\Sigma^\top w` with ``transpose``), the product of the SNS
        Schur complement. Below ``_GRAM_FUSED_MAX`` nonzeros one fused pass over the block
        (:func:`gram`), which reads it once instead of twice; above, two threaded products."""
        indptr, indices, data = self.csc if transpose else self.csr
        if self.nnz < _GRAM_FUSED_MAX:
            m = self.csr[0].size - 1 if transpose else self.csc[0].size - 1
            return gram(indptr, indices, data, w, weights, m)
        if transpose:
            return self.matvec(self.rmatvec(w) * weights)
        return self.rmatvec(self.matvec(w) * weights)

    def schur_cg(self, d, weights, b, precond, rtol, maxiter, transpose=False):
        r"""CG on :math:`(\mathrm{diag}(d) - \Sigma^\top \mathrm{diag}(weights)\Sigma)x = b`
        (:math:`\Sigma \cdot \Sigma^\top` with ``transpose``) as
        :func:`optkit.core.cg.pcg` with a Jacobi ``precond``: the whole loop compiled
        (:func:`schur_pcg`) below ``_GRAM_FUSED_MAX`` nonzeros, where the Python loop's
        overhead per iteration (~30 µs) outweighs the product; above, ``pcg`` with the
        threaded products. Returns a :class:`~optkit.core.cg.CGResult`."""
        from optkit.core.cg import CGResult, pcg

        if self.nnz >= _GRAM_FUSED_MAX:
            return pcg(lambda w: d * w - self.gram(w, weights, transpose), b, precond=precond,
                       rtol=rtol, maxiter=maxiter)
        indptr, indices, data = self.csc if transpose else self.csr
        x, nit, res, converged, bent = schur_pcg(indptr, indices, data, b.size, d, weights, b,
                                                 precond, float(rtol), int(maxiter))
        return CGResult(x, nit, res, converged, negative_curvature=bent)
