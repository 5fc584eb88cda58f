r"""Compiled (numba) half-step kernels for numpy arrays, threaded over the groups of a block.

A half-step solves, for every group :math:`j` (a column for the V half-step, a row for the
U half-step) with observed entries :math:`\Omega_j` and fixed factor rows :math:`a_e =
F[\mathrm{other}_e]`,

.. math:: (G_j + s_j I)\,x_j = b_j, \qquad G_j = \sum_{e\in\Omega_j} a_e a_e^T,
          \qquad b_j = \sum_{e\in\Omega_j} y_e\, a_e ,

the explicit-feedback ridge normal equations over the observed entries only (the shift
:math:`s_j` is :math:`\lambda_j`, see :func:`normal_equations`). Every kernel is a ``prange`` loop
over groups (CSR-indexed: ``indptr``, ``other``, ``targets``) with no Python per group;
each group is handled by one thread in a fixed order, so the result does not depend on
the thread count. The per-group work:

* :func:`normal_equations` — assembly of :math:`G_j + s_jI` (upper triangle, mirrored) and
  :math:`b_j`: :math:`|\Omega_j|(k^2 + 3k)` flops;
* :func:`cholesky_solve` — :math:`LL^T = G_j + s_jI`, two triangular solves
  (:math:`k^3/3 + 2k^2` flops); a pivot that is not positive (a rank-deficient Gram matrix
  rounded below zero) falls back to Gaussian elimination with partial pivoting, as
  ``numpy.linalg.solve``;
* :func:`exact` — both fused per group, with :math:`G_j` in a per-thread scratch (no
  :math:`g\times k\times k` array);
* :func:`cg` — ``steps`` warm-started conjugate-gradient steps (Hestenes and Stiefel 1952;
  for ALS as in Takács, Pilászy and Tikk, RecSys 2011), the operator applied either
  matrix-free, :math:`q = A_j^T(A_jp) + \lambda_j p` (:math:`4k|\Omega_j|` flops per step,
  and :math:`6k|\Omega_j|` for the start residual :math:`r_0 = b_j - (G_j+\lambda_jI)x_0`
  and :math:`b_j`, whose norm the solver stats report), or from :math:`G_j` assembled
  first (:math:`|\Omega_j|(k^2+3k)` once, then :math:`2k^2` per step), whichever costs
  fewer flops (:func:`gram_is_cheaper`: the Gram matrix for k < 15 at 3 steps, which is
  where the measured crossover lies).

Each group's factor rows are first gathered into a per-thread ``(k, |Omega_j|)`` scratch
(transposed), so that every sweep over the entries is a contiguous, vectorized dot or
axpy of length :math:`|\Omega_j|` whatever the rank.

The floating-point flags allow reassociation and contraction (SIMD reductions and FMA) but
keep IEEE NaN/inf semantics: a diverging run must stay non-finite so that the run loop
stops it. Kernels are compiled on first use per dtype and cached on disk (``cache=True``).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import get_num_threads, njit, prange

from optkit.core.backend import numba_threads

# Start numba's threading layer now, leaving torch's intra-op thread count as it was.
numba_threads()

__all__ = ["normal_equations", "cholesky_solve", "exact", "cg", "gram_is_cheaper"]

#: Reassociation (vectorized dot products) and FMA contraction only: no "nnan"/"ninf".
FASTMATH = {"reassoc", "contract"}

#: Groups are handed to threads in ``CHUNKS_PER_THREAD * threads`` contiguous chunks; each
#: chunk allocates its scratch vectors once.
CHUNKS_PER_THREAD = 4

#: numba's ``workqueue`` threading layer aborts when two Python threads launch parallel
#: kernels at once (dask workers are threads); the kernels of one process run one at a time.
_LAUNCH = threading.Lock()


def _chunks(n_groups: int) -> int:
    return max(1, min(n_groups, CHUNKS_PER_THREAD * get_num_threads()))


@njit(cache=True)
def _gather(lo, hi, other, factor, rows_t):
    """``rows_t[:, :hi - lo]`` = the factor rows of the entries ``[lo, hi)``, transposed (so
    that every later sweep over the entries is contiguous and vectorizes)."""
    k = factor.shape[1]
    for e in range(lo, hi):
        row = factor[other[e]]
        for a in range(k):
            rows_t[a, e - lo] = row[a]


@njit(cache=True, fastmath=FASTMATH)
def _dot(u, v, n):
    s = u.dtype.type(0)
    for e in range(n):
        s += u[e] * v[e]
    return s


@njit(cache=True, fastmath=FASTMATH)
def _assemble(rows_t, n, y, gram, rhs):
    """Upper triangle of :math:`A^TA` into ``gram`` and :math:`A^Ty` into ``rhs``, with
    :math:`A^T` = ``rows_t[:, :n]``: :math:`k(k+1)/2 + k` dot products of length ``n``."""
    k = rows_t.shape[0]
    for a in range(k):
        rhs[a] = _dot(rows_t[a], y, n)
        for c in range(a, k):
            gram[a, c] = _dot(rows_t[a], rows_t[c], n)


@njit(cache=True)
def _shift(gram, lam, jitter):
    r"""Mirror the upper triangle and add :math:`s I`: :math:`s = \lambda`, or
    :math:`\delta\,\mathrm{tr}(G)/k` when :math:`\lambda = 0`; an empty Gram matrix without
    shift gets :math:`I` (so that :math:`x = 0`)."""
    k = gram.shape[0]
    trace = gram.dtype.type(0)
    for a in range(k):
        trace += gram[a, a]
        for c in range(a + 1, k):
            gram[c, a] = gram[a, c]
    shift = lam if lam != 0 else jitter * (trace / gram.dtype.type(k))
    if shift == 0 and trace == 0:
        shift = gram.dtype.type(1)
    for a in range(k):
        gram[a, a] += shift


@njit(cache=True)
def _solve(gram, rhs, work, x):
    """``x`` = solution of ``gram @ x = rhs`` (``gram`` symmetric); False when singular.

    Cholesky in ``work`` (lower triangle); if a pivot is not positive, Gaussian elimination
    with partial pivoting on a fresh copy (``numpy.linalg.solve``'s method).
    """
    k = gram.shape[0]
    zero = gram.dtype.type(0)
    ok = True
    for a in range(k):
        for c in range(a + 1):
            s = gram[a, c]
            for t in range(c):
                s -= work[a, t] * work[c, t]
            if a == c:
                if not s > zero:
                    ok = False
                    break
                work[a, a] = np.sqrt(s)
            else:
                work[a, c] = s / work[c, c]
        if not ok:
            break
    if ok:
        for a in range(k):  # L z = b
            s = rhs[a]
            for t in range(a):
                s -= work[a, t] * x[t]
            x[a] = s / work[a, a]
        for a in range(k - 1, -1, -1):  # L^T x = z
            s = x[a]
            for t in range(a + 1, k):
                s -= work[t, a] * x[t]
            x[a] = s / work[a, a]
        return True
    for a in range(k):
        x[a] = rhs[a]
        for c in range(k):
            work[a, c] = gram[a, c]
    for c in range(k):  # LU with partial pivoting, applied to x as it goes
        piv = c
        for a in range(c + 1, k):
            if abs(work[a, c]) > abs(work[piv, c]):
                piv = a
        if work[piv, c] == zero:
            return False
        if piv != c:
            for t in range(k):
                work[c, t], work[piv, t] = work[piv, t], work[c, t]
            x[c], x[piv] = x[piv], x[c]
        for a in range(c + 1, k):
            m = work[a, c] / work[c, c]
            for t in range(c + 1, k):
                work[a, t] -= m * work[c, t]
            x[a] -= m * x[c]
    for a in range(k - 1, -1, -1):
        s = x[a]
        for t in range(a + 1, k):
            s -= work[a, t] * x[t]
        x[a] = s / work[a, a]
    return True


@njit(cache=True)
def _span(chunk, n_chunks, indptr):
    """Groups ``[j0, j1)`` of a chunk and the most entries one of them has."""
    n_groups = indptr.size - 1
    j0, j1 = chunk * n_groups // n_chunks, (chunk + 1) * n_groups // n_chunks
    longest = 0
    for j in range(j0, j1):
        longest = max(longest, indptr[j + 1] - indptr[j])
    return j0, j1, longest


@njit(parallel=True, cache=True)
def _normal_equations(indptr, other, targets, factor, lam, jitter, n_chunks):
    n_groups, k = indptr.size - 1, factor.shape[1]
    gram = np.empty((n_groups, k, k), dtype=factor.dtype)
    rhs = np.empty((n_groups, k), dtype=factor.dtype)
    for chunk in prange(n_chunks):
        j0, j1, longest = _span(chunk, n_chunks, indptr)
        rows_t = np.empty((k, longest), dtype=factor.dtype)
        for j in range(j0, j1):
            lo, hi = indptr[j], indptr[j + 1]
            _gather(lo, hi, other, factor, rows_t)
            _assemble(rows_t, hi - lo, targets[lo:hi], gram[j], rhs[j])
            _shift(gram[j], lam[j], jitter[j])
    return gram, rhs


@njit(parallel=True, cache=True)
def _cholesky_solve(gram, rhs, n_chunks):
    n_groups, k = rhs.shape
    x = np.empty_like(rhs)
    ok = np.empty(n_groups, dtype=np.bool_)
    for chunk in prange(n_chunks):
        work = np.empty((k, k), dtype=rhs.dtype)
        for j in range(chunk * n_groups // n_chunks, (chunk + 1) * n_groups // n_chunks):
            ok[j] = _solve(gram[j], rhs[j], work, x[j])
    return x, ok


@njit(parallel=True, cache=True)
def _exact(indptr, other, targets, factor, lam, jitter, n_chunks):
    n_groups, k = indptr.size - 1, factor.shape[1]
    x = np.empty((n_groups, k), dtype=factor.dtype)
    ok = np.empty(n_groups, dtype=np.bool_)
    for chunk in prange(n_chunks):
        j0, j1, longest = _span(chunk, n_chunks, indptr)
        rows_t = np.empty((k, longest), dtype=factor.dtype)
        gram = np.empty((k, k), dtype=factor.dtype)
        work = np.empty((k, k), dtype=factor.dtype)
        rhs = np.empty(k, dtype=factor.dtype)
        for j in range(j0, j1):
            lo, hi = indptr[j], indptr[j + 1]
            _gather(lo, hi, other, factor, rows_t)
            _assemble(rows_t, hi - lo, targets[lo:hi], gram, rhs)
            _shift(gram, lam[j], jitter[j])
            ok[j] = _solve(gram, rhs, work, x[j])
    return x, ok


@njit(cache=True, fastmath=FASTMATH)
def _apply(rows_t, n, lam, p, q, t):
    r"""``q`` = :math:`A^T(Ap) + \lambda p` with :math:`A^T` = ``rows_t[:, :n]`` (``t``:
    scratch for :math:`Ap`); returns :math:`p^Tq`."""
    k = p.size
    zero = p.dtype.type(0)
    for e in range(n):
        t[e] = zero
    for a in range(k):
        pa = p[a]
        row = rows_t[a]
        for e in range(n):
            t[e] += pa * row[e]
    curv = zero
    for a in range(k):
        q[a] = _dot(rows_t[a], t, n) + lam * p[a]
        curv += p[a] * q[a]
    return curv


@njit(cache=True, fastmath=FASTMATH)
def _apply_gram(gram, lam, p, q):
    r"""``q`` = :math:`(G + \lambda I)p` from the upper triangle of ``gram``; returns
    :math:`p^Tq`."""
    k = p.size
    zero = p.dtype.type(0)
    for a in range(k):
        q[a] = lam * p[a]
    for a in range(k):
        q[a] += gram[a, a] * p[a]
        for c in range(a + 1, k):
            q[a] += gram[a, c] * p[c]
            q[c] += gram[a, c] * p[a]
    curv = zero
    for a in range(k):
        curv += p[a] * q[a]
    return curv


@njit(cache=True, fastmath=FASTMATH)
def _cg_start(rows_t, n, y, lam, jacobi, x, r, diag, t):
    r"""Matrix-free start: ``r`` = :math:`A^T(y - Ax) - \lambda x`, ``diag`` = the Jacobi
    diagonal (or ones); returns :math:`\|A^Ty\|^2`."""
    k = x.size
    zero = x.dtype.type(0)
    for e in range(n):  # t = y - A x
        t[e] = y[e]
    for a in range(k):
        xa = x[a]
        row = rows_t[a]
        for e in range(n):
            t[e] -= xa * row[e]
    rhs2 = zero
    for a in range(k):
        r[a] = _dot(rows_t[a], t, n) - lam * x[a]
        b = _dot(rows_t[a], y, n)
        rhs2 += b * b
        diag[a] = _dot(rows_t[a], rows_t[a], n) + lam if jacobi else x.dtype.type(1)
    return rhs2


@njit(cache=True, fastmath=FASTMATH)
def _cg_start_gram(gram, rhs, lam, jacobi, x, r, diag):
    r"""Start from the assembled upper triangle of :math:`G` and :math:`b` (same outputs as
    :func:`_cg_start`)."""
    k = x.size
    zero = x.dtype.type(0)
    _apply_gram(gram, lam, x, r)
    rhs2 = zero
    for a in range(k):
        r[a] = rhs[a] - r[a]
        rhs2 += rhs[a] * rhs[a]
        diag[a] = gram[a, a] + lam if jacobi else x.dtype.type(1)
    return rhs2


@njit(cache=True, fastmath=FASTMATH)
def _cg_group(rows_t, n, y, lam, steps, jacobi, use_gram, x, gram, rhs, r, z, p, q, diag, t):
    """``steps`` CG steps on one group (:math:`A^T` = ``rows_t[:, :n]``) from ``x`` (updated
    in place), the operator matrix-free or from the assembled ``gram``; returns (final
    ``||r||^2``, ``||b||^2``)."""
    k = x.size
    zero = x.dtype.type(0)
    if use_gram:
        _assemble(rows_t, n, y, gram, rhs)
        rhs2 = _cg_start_gram(gram, rhs, lam, jacobi, x, r, diag)
    else:
        rhs2 = _cg_start(rows_t, n, y, lam, jacobi, x, r, diag, t)
    rz = zero
    for a in range(k):
        if diag[a] == zero:  # an empty group without ridge: no preconditioning
            diag[a] = x.dtype.type(1)
        z[a] = r[a] / diag[a]
        p[a] = z[a]
        rz += r[a] * z[a]
    for _ in range(steps):
        if rz == zero:  # solved exactly (or empty): the direction is zero
            break
        if use_gram:
            curv = _apply_gram(gram, lam, p, q)
        else:
            curv = _apply(rows_t, n, lam, p, q, t)
        if curv <= zero:  # not positive definite along p: stop here (NaN goes on, and shows)
            break
        alpha = rz / curv
        rz_new = zero
        for a in range(k):
            x[a] += alpha * p[a]
            r[a] -= alpha * q[a]
            z[a] = r[a] / diag[a]
            rz_new += r[a] * z[a]
        beta = rz_new / rz
        for a in range(k):
            p[a] = z[a] + beta * p[a]
        rz = rz_new
    res2 = zero
    for a in range(k):
        res2 += r[a] * r[a]
    return res2, rhs2


@njit(parallel=True, cache=True)
def _cg(indptr, other, targets, factor, lam, x0, steps, jacobi, use_gram, n_chunks):
    n_groups, k = x0.shape
    x = x0.copy()
    res2 = np.empty(n_groups, dtype=x0.dtype)
    rhs2 = np.empty(n_groups, dtype=x0.dtype)
    for chunk in prange(n_chunks):
        j0, j1, longest = _span(chunk, n_chunks, indptr)
        rows_t = np.empty((k, longest), dtype=x0.dtype)
        t = np.empty(longest, dtype=x0.dtype)
        gram = np.empty((k, k), dtype=x0.dtype)
        rhs = np.empty(k, dtype=x0.dtype)
        r = np.empty(k, dtype=x0.dtype)
        z = np.empty(k, dtype=x0.dtype)
        p = np.empty(k, dtype=x0.dtype)
        q = np.empty(k, dtype=x0.dtype)
        diag = np.empty(k, dtype=x0.dtype)
        for j in range(j0, j1):
            lo, hi = indptr[j], indptr[j + 1]
            _gather(lo, hi, other, factor, rows_t)
            res2[j], rhs2[j] = _cg_group(rows_t, hi - lo, targets[lo:hi], lam[j], steps, jacobi,
                                         use_gram, x[j], gram, rhs, r, z, p, q, diag, t)
    return x, res2, rhs2


def gram_is_cheaper(k: int, steps: int, jacobi: bool) -> bool:
    r"""Whether assembling :math:`G_j` beats the matrix-free operator for ``steps`` CG steps.

    Per entry of a group, the assembly costs :math:`k(k+1)/2 + k` multiply-adds (then
    :math:`k^2` per step, independent of the entries); matrix-free costs :math:`3k` for the
    start (:math:`y - Ax_0`, :math:`A^T(\cdot)`, :math:`A^Ty`), :math:`k` for the Jacobi
    diagonal and :math:`2k` per step. The Gram matrix wins when :math:`k + 3 < 2(3 + 2\,
    \mathrm{steps} + \mathrm{jacobi})` (k < 15 for 3 steps), which is where the measured
    crossover lies (1000 groups of 300 entries, 3 steps, float64, 1 thread: the Gram matrix
    1.5x faster at k = 10, both alike at k = 16, matrix-free 1.4-2.5x faster at k = 24-50).
    """
    return k + 3 < 2 * (3 + 2 * steps + int(jacobi))


def _csr(indptr, other, targets, factor):
    """The CSR arrays in the layouts the kernels are compiled for (int64, C order)."""
    return (np.ascontiguousarray(indptr, dtype=np.int64),
            np.ascontiguousarray(other, dtype=np.int64),
            np.ascontiguousarray(targets, dtype=factor.dtype), np.ascontiguousarray(factor))


def _per_group(value, n_groups, dtype):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=dtype), (n_groups,)))


def _raise_singular(ok):
    if not ok.all():
        raise np.linalg.LinAlgError(
            f"Singular matrix: the normal equations of {int((~ok).sum())} group(s) have no "
            f"unique solution")


def normal_equations(indptr, other, targets, factor, lam, jitter):
    r"""Batched :math:`(G_j + s_jI,\ b_j)` for every group of a CSR block.

    Parameters
    ----------
    indptr : (g + 1,) int array
        Group boundaries of the entries (sorted by group).
    other : (e,) int array
        Row of ``factor`` of each entry.
    targets : (e,) array
        :math:`y_e`.
    factor : (n_other, k) float32 or float64 array
        The fixed factor; the result has its dtype.
    lam, jitter : float or (g,) arrays
        Ridge weight :math:`\lambda_j`, and the relative shift :math:`\delta` used where
        :math:`\lambda_j = 0` (:math:`s_j = \delta\,\mathrm{tr}(G_j)/k`).

    Returns
    -------
    gram : (g, k, k) array
    rhs : (g, k) array
    """
    indptr, other, targets, factor = _csr(indptr, other, targets, factor)
    g = indptr.size - 1
    with _LAUNCH:
        return _normal_equations(indptr, other, targets, factor, _per_group(lam, g, factor.dtype),
                                 _per_group(jitter, g, factor.dtype), _chunks(g))


def cholesky_solve(gram, rhs):
    """Batched solve of symmetric ``gram[j] @ x[j] = rhs[j]`` (Cholesky, LU where it fails).

    Raises ``numpy.linalg.LinAlgError`` when a matrix is exactly singular.
    """
    gram, rhs = np.ascontiguousarray(gram), np.ascontiguousarray(rhs)
    with _LAUNCH:
        x, ok = _cholesky_solve(gram, rhs, _chunks(rhs.shape[0]))
    _raise_singular(ok)
    return x


def exact(indptr, other, targets, factor, lam, jitter):
    r"""Exact half-step: :math:`x_j = (G_j + s_jI)^{-1} b_j` for every group, the assembly and
    the Cholesky solve fused per group (arguments as :func:`normal_equations`)."""
    indptr, other, targets, factor = _csr(indptr, other, targets, factor)
    g = indptr.size - 1
    with _LAUNCH:
        x, ok = _exact(indptr, other, targets, factor, _per_group(lam, g, factor.dtype),
                       _per_group(jitter, g, factor.dtype), _chunks(g))
    _raise_singular(ok)
    return x


def cg(indptr, other, targets, factor, lam, x0, steps, jacobi, use_gram=None):
    r"""``steps`` warm-started CG steps on :math:`(G_j + \lambda_jI)x_j = b_j` per group.

    The operator is applied from the assembled :math:`G_j` or matrix-free from the group's
    entries (``use_gram``; ``None``: whichever :func:`gram_is_cheaper` picks). With ``jacobi``
    the preconditioner is :math:`\mathrm{diag}(G_j) + \lambda_j` (1 where it vanishes). A
    group stops early when its residual is exactly zero or a curvature :math:`p^TAp \le 0`
    appears (it then keeps its last iterate). Arguments as :func:`normal_equations`, ``lam``
    without ``jitter``.

    Returns
    -------
    x : (g, k) array
        The iterates (``x0`` is not modified).
    res_norm, rhs_norm : (g,) arrays
        :math:`\|b_j - (G_j+\lambda_jI)x_j\|` after the last step (the recurrence's
        residual), and :math:`\|b_j\|`.
    """
    indptr, other, targets, factor = _csr(indptr, other, targets, factor)
    x0 = np.ascontiguousarray(x0, dtype=factor.dtype)
    g = indptr.size - 1
    if use_gram is None:
        use_gram = gram_is_cheaper(factor.shape[1], steps, jacobi)
    with _LAUNCH:
        x, res2, rhs2 = _cg(indptr, other, targets, factor, _per_group(lam, g, factor.dtype), x0,
                            int(steps), bool(jacobi), bool(use_gram), _chunks(g))
    return x, np.sqrt(res2), np.sqrt(rhs2)
