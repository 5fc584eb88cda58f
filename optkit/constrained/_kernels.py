"""numba kernels of :mod:`optkit.constrained.sketch` (single-vector sketches on dense and CSR
matrices).

Imported only when an ``rk``/``gaussian`` sketch of a dense or sparse matrix runs, so ``import optkit`` never
imports numba. Each kernel seeds numba's generator from the caller's numpy Generator,
runs steps in chunks of ``check_every`` and recomputes the full residual after each
chunk, stopping once it is <= ``thresh`` or after ``limit`` steps. ``res0`` is the residual
at the start when the caller knows it (a negative value: compute it).
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _draw(cdf, N):
    """An index in [0, N): uniform when ``cdf`` is empty, else with probabilities ``diff(cdf)``."""
    if cdf.size == 0:
        return np.random.randint(0, N)
    return min(np.searchsorted(cdf, np.random.random() * cdf[-1]), N - 1)


@njit(cache=True)
def _project(w, sb, x):
    """x <- x - (w^T x - sb) / ||w||^2 w (nothing when w = 0)."""
    ww = 0.0
    wx = 0.0
    for j in range(w.size):
        ww += w[j] * w[j]
        wx += w[j] * x[j]
    if ww == 0.0:
        return
    a = (wx - sb) / ww
    for j in range(w.size):
        x[j] -= a * w[j]


@njit(cache=True)
def residual(A, x, b, r):
    """Store A x - b in r and return its norm."""
    N, n = A.shape
    s = 0.0
    for i in range(N):
        acc = -b[i]
        for j in range(n):
            acc += A[i, j] * x[j]
        r[i] = acc
        s += acc * acc
    return np.sqrt(s)


@njit(cache=True)
def rows(A, b, x, row_sq, cdf, thresh, limit, check_every, seed, res0):
    # randomized Kaczmarz: x <- x - (a_i^T x - b_i) / ||a_i||^2 a_i
    np.random.seed(seed)
    N, n = A.shape
    r = np.empty(N)
    res = residual(A, x, b, r) if res0 < 0 else res0
    steps = 0
    while res > thresh and steps < limit:
        k = min(check_every, limit - steps)
        for _ in range(k):
            i = _draw(cdf, N)
            if row_sq[i] == 0.0:
                continue
            acc = -b[i]
            for j in range(n):
                acc += A[i, j] * x[j]
            a = acc / row_sq[i]
            for j in range(n):
                x[j] -= a * A[i, j]
        steps += k
        res = residual(A, x, b, r)
    return steps, res


@njit(cache=True)
def gaussian(A, b, x, thresh, limit, check_every, seed, res0):
    # x <- x - (w^T x - s^T b) / ||w||^2 w, w = A^T s, s ~ N(0, I)
    np.random.seed(seed)
    N, n = A.shape
    r = np.empty(N)
    w = np.empty(n)
    res = residual(A, x, b, r) if res0 < 0 else res0
    steps = 0
    while res > thresh and steps < limit:
        k = min(check_every, limit - steps)
        for _ in range(k):
            w[:] = 0.0
            sb = 0.0
            for i in range(N):
                si = np.random.standard_normal()
                sb += si * b[i]
                for j in range(n):
                    w[j] += si * A[i, j]
            _project(w, sb, x)
        steps += k
        res = residual(A, x, b, r)
    return steps, res


@njit(cache=True)
def columns(A, b, x, r, col_sq, cdf, thresh, limit, check_every, seed, res0):
    # randomized coordinate descent on ||Ax - b||^2 with A given column-major as A^T rows:
    # x_j <- x_j - a_j^T r / ||a_j||^2, r <- r - (that) a_j;  A here is A^T (n, N)
    np.random.seed(seed)
    n, N = A.shape
    g = np.empty(n)
    res = residual(A, r, np.zeros(n), g) if res0 < 0 else res0
    steps = 0
    while res > thresh and steps < limit:
        k = min(check_every, limit - steps)
        for _ in range(k):
            j = _draw(cdf, n)
            if col_sq[j] == 0.0:
                continue
            acc = 0.0
            for i in range(N):
                acc += A[j, i] * r[i]
            a = acc / col_sq[j]
            x[j] -= a
            for i in range(N):
                r[i] -= a * A[j, i]
        steps += k
        # recompute r = A x - b exactly, then the normal-equation residual A^T r
        for i in range(N):
            r[i] = -b[i]
        for j in range(n):
            for i in range(N):
                r[i] += A[j, i] * x[j]
        res = residual(A, r, np.zeros(n), g)
    return steps, res


@njit(cache=True)
def residual_csr(data, indices, indptr, x, b, r):
    """Store A x - b in r (A in CSR) and return its norm."""
    s = 0.0
    for i in range(b.size):
        acc = -b[i]
        for k in range(indptr[i], indptr[i + 1]):
            acc += data[k] * x[indices[k]]
        r[i] = acc
        s += acc * acc
    return np.sqrt(s)


@njit(cache=True)
def rows_csr(data, indices, indptr, b, x, row_sq, cdf, thresh, limit, check_every, seed,
             res0):
    # randomized Kaczmarz on a CSR matrix: one step costs 4 nnz(a_i) flops
    np.random.seed(seed)
    N = b.size
    r = np.empty(N)
    res = residual_csr(data, indices, indptr, x, b, r) if res0 < 0 else res0
    steps = 0
    while res > thresh and steps < limit:
        k = min(check_every, limit - steps)
        for _ in range(k):
            i = _draw(cdf, N)
            if row_sq[i] == 0.0:
                continue
            acc = -b[i]
            for p in range(indptr[i], indptr[i + 1]):
                acc += data[p] * x[indices[p]]
            a = acc / row_sq[i]
            for p in range(indptr[i], indptr[i + 1]):
                x[indices[p]] -= a * data[p]
        steps += k
        res = residual_csr(data, indices, indptr, x, b, r)
    return steps, res


@njit(cache=True)
def gaussian_csr(data, indices, indptr, n, b, x, thresh, limit, check_every, seed, res0):
    # Gaussian sketch on a CSR matrix: w = A^T s accumulated row by row (2 nnz(A) flops)
    np.random.seed(seed)
    N = b.size
    r = np.empty(N)
    w = np.empty(n)
    res = residual_csr(data, indices, indptr, x, b, r) if res0 < 0 else res0
    steps = 0
    while res > thresh and steps < limit:
        k = min(check_every, limit - steps)
        for _ in range(k):
            w[:] = 0.0
            sb = 0.0
            for i in range(N):
                si = np.random.standard_normal()
                sb += si * b[i]
                for p in range(indptr[i], indptr[i + 1]):
                    w[indices[p]] += si * data[p]
            _project(w, sb, x)
        steps += k
        res = residual_csr(data, indices, indptr, x, b, r)
    return steps, res
