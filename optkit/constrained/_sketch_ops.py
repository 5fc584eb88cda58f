r"""The sketch-and-project passes behind :mod:`optkit.constrained.sketch` and ``al-newton``.

:func:`run_pass` runs row sketch-and-project steps on :math:`Ax = b` from a given iterate
until :math:`\|Ax - b\| \le` ``thresh`` or ``limit`` steps; :func:`run_column_pass` runs
column steps on :math:`\min\|Ax - b\|` until :math:`\|A^\top(Ax - b)\| \le` ``thresh``.
Both recompute the full residual every ``check_every`` steps. The maths, the sketches and
their costs are in the docstring of :mod:`optkit.constrained.sketch` (Gower and Richtárik,
SIAM J. Matrix Anal. Appl. 36(4), 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from optkit.core.rng import draw_seed
from optkit.core.validate import check_finite

__all__ = ["SKETCHES", "SAMPLINGS", "SingularMatrixError", "PassResult", "as_operator",
           "run_pass", "run_column_pass", "sparse_lu", "direct_lstsq", "min_norm_lstsq",
           "row_norms_sq", "column_norms_sq"]

_EPS = np.finfo(float).eps
SKETCHES = ("rk", "block-rk", "gaussian", "block-gaussian", "direct", "minres")
SAMPLINGS = ("uniform", "rownorm")


def min_norm_lstsq(A, b):
    r"""The minimum-norm least-squares solution of :math:`\min_x \|Ax - b\|_2` for a dense
    ``A``: ``numpy.linalg.lstsq`` (LAPACK ``gelsd``, divide-and-conquer SVD, singular values
    below :math:`\varepsilon \max(N, n)\,\sigma_{\max}` dropped). That SVD can fail to
    converge on a finite, rank-deficient matrix (a 73 x 90 constraint Jacobian of S2MPJ MSS1
    with :math:`\sigma_{\min}/\sigma_{\max} = 1.7 \cdot 10^{-16}`, with multithreaded
    OpenBLAS); then LAPACK ``gelsy`` (complete orthogonal factorization with column
    pivoting, no iteration) at the same rank threshold."""
    try:
        return np.linalg.lstsq(A, b, rcond=None)[0]
    except np.linalg.LinAlgError:
        import scipy.linalg

        return scipy.linalg.lstsq(A, b, cond=_EPS * max(A.shape), lapack_driver="gelsy")[0]


class SingularMatrixError(ValueError):
    """``sketch="direct"`` met an exactly singular matrix."""


@dataclass
class PassResult:
    """One pass: the iterate, sketch steps taken (1 for ``"direct"``, iterations for
    ``"minres"``), the residual at ``x``, whether it is <= the target, and the flops of the
    steps and residual checks (setup such as row norms excluded)."""

    x: np.ndarray
    n_steps: int
    residual: float
    converged: bool
    flops: float


def _kernels():
    """The single-vector numba kernels (numba is imported, and they compile, on first use)."""
    from . import _kernels as k

    return k


def _numba_seed(rng) -> int:
    """A seed of numba's generator (32 bits) drawn from the run's Generator."""
    return draw_seed(rng) % 2**32


def as_operator(A, name="A"):
    """``(kind, A)`` with kind ``"dense"``, ``"sparse"`` or ``"operator"``."""
    if isinstance(A, LinearOperator):
        if len(A.shape) != 2:
            raise ValueError(f"{name} must be 2-D, got shape {A.shape}")
        return "operator", A
    if sp.issparse(A):
        A = sp.csr_array(A, dtype=float)
        check_finite(A.data, name)
        return "sparse", A
    try:
        arr = np.asarray(A, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array, a scipy.sparse matrix or a LinearOperator, "
                        f"got {type(A).__name__}") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    check_finite(arr, name)
    return "dense", np.ascontiguousarray(arr)


def _choose(rng, N, size, p):
    return rng.choice(N, size=size, replace=False, p=p)


def _rows_of(kind, A, idx):
    if kind == "dense":
        return A[idx]
    if kind == "sparse":
        return A[idx].toarray()
    E = np.zeros((A.shape[0], len(idx)))
    E[idx, np.arange(len(idx))] = 1.0
    return np.atleast_2d(A.rmatmat(E).T)


def row_norms_sq(kind, A):
    """:math:`\\|a_i\\|^2` for every row."""
    if kind == "dense":
        return np.einsum("ij,ij->i", A, A)
    if kind == "sparse":
        return np.asarray(A.multiply(A).sum(axis=1)).ravel()
    return np.array([float(np.sum(_rows_of(kind, A, [i]) ** 2)) for i in range(A.shape[0])])


def column_norms_sq(kind, A):
    """:math:`\\|a_j\\|^2` for every column."""
    n = A.shape[1]
    Ad = A.toarray() if kind == "sparse" else A if kind == "dense" else A @ np.eye(n)
    return np.einsum("ij,ij->j", Ad, Ad)


def _matvec(kind, A, x):
    return A @ x if kind != "operator" else A.matvec(x)


def run_pass(kind, A, b, x, sketch, sampling, block_size, thresh, limit, check_every, rng,
             res0=-1.0, row_sq=None, ldl=None):
    """Row sketch-and-project on :math:`Ax = b` from ``x`` (updated in place for the
    kernels); ``thresh`` is the absolute residual target, ``res0`` the residual at ``x`` when
    known (negative: computed), ``row_sq`` the row norms when known. ``ldl``: for
    ``"direct"`` on a sparse KKT matrix, ``(ReusableLDL, m)`` tried before SuperLU (see
    :func:`_direct`)."""
    N, n = A.shape
    check_cost = 2.0 * (A.nnz if kind == "sparse" else N * n)
    if sketch == "direct":
        return _direct(kind, A, b, thresh, check_cost, ldl)
    if sketch == "minres":
        return _minres(kind, A, b, x, thresh, limit, check_cost)
    start_checks = 1 if res0 < 0 else 0
    if sketch in ("rk", "gaussian") and kind != "operator":
        k = _kernels()
        csr = (A.data, A.indices, A.indptr) if kind == "sparse" else None
        if sketch == "rk":
            row_sq = row_norms_sq(kind, A) if row_sq is None else row_sq
            cdf = np.cumsum(row_sq) if sampling == "rownorm" else np.zeros(0)
            if csr:
                steps, res = k.rows_csr(*csr, b, x, row_sq, cdf, thresh, limit,
                                        check_every, _numba_seed(rng), res0)
            else:
                steps, res = k.rows(A, b, x, row_sq, cdf, thresh, limit, check_every,
                                    _numba_seed(rng), res0)
            per_step = 4.0 * (A.nnz / N if csr else n)
        else:
            if csr:
                steps, res = k.gaussian_csr(*csr, n, b, x, thresh, limit, check_every,
                                            _numba_seed(rng), res0)
            else:
                steps, res = k.gaussian(A, b, x, thresh, limit, check_every, _numba_seed(rng), res0)
            per_step = 2.0 * (A.nnz if csr else N * n) + 4.0 * n + 2.0 * N
        checks = -(-steps // check_every) + start_checks
        return PassResult(x, int(steps), float(res), bool(res <= thresh),
                          per_step * steps + check_cost * checks)
    p = None
    if sketch in ("rk", "block-rk") and sampling == "rownorm":
        w = row_norms_sq(kind, A) if row_sq is None else row_sq
        p = w / w.sum()
    size = 1 if sketch in ("rk", "gaussian") else block_size
    res = float(np.linalg.norm(_matvec(kind, A, x) - b)) if res0 < 0 else res0
    steps = 0
    flops = check_cost * start_checks
    while res > thresh and steps < limit:
        for _ in range(min(check_every, limit - steps)):
            if sketch in ("rk", "block-rk"):
                idx = _choose(rng, N, size, p)
                SA, Sb = _rows_of(kind, A, idx), b[idx]
            else:
                S = rng.standard_normal((N, size))
                SA = (A.T @ S).T if kind != "operator" else np.atleast_2d(A.rmatmat(S).T)
                Sb = S.T @ b
                flops += 2.0 * size * (A.nnz if kind == "sparse" else N * n) + 2.0 * size * N
            # x <- x - (S^T A)^+ (S^T A x - S^T b): the min-norm correction
            x -= min_norm_lstsq(SA, SA @ x - Sb)
            flops += 6.0 * size * n + 2.0 * size**2 * n + size**3
            steps += 1
        res = float(np.linalg.norm(_matvec(kind, A, x) - b))
        flops += check_cost
    return PassResult(x, steps, res, res <= thresh, flops)


def sparse_lu(A, symmetric=True):
    """SuperLU factorization of a square sparse matrix: with ``symmetric``, minimum degree
    on :math:`A + A^\\top` and diagonal pivots (stable for SPD matrices, the least fill on
    KKT matrices); else scipy's default column ordering with partial pivoting."""
    from scipy.sparse.linalg import splu

    if symmetric:
        return splu(sp.csc_array(A), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                    options={"SymmetricMode": True})
    return splu(sp.csc_array(A))


def _direct(kind, A, b, thresh, check_cost, ldl=None):
    """One exact solve: LAPACK for dense ``A``; for sparse ``A``, first the reusable
    :math:`LDL^\\top` of ``ldl = (ReusableLDL, m)`` when given (one symbolic analysis per
    sparsity pattern, :mod:`optkit.constrained._ldl`), then SuperLU with a symmetric
    minimum-degree ordering and diagonal pivots (a fraction of the fill of column ordering
    on KKT matrices), one refinement step, and partial pivoting only when that residual
    exceeds :math:`\\sqrt{\\varepsilon}\\|b\\|` (each only when the previous one did not
    reach it)."""
    N, n = A.shape
    if kind == "operator":
        raise ValueError("sketch='direct' needs an explicit matrix A, not a LinearOperator")
    if N != n:
        raise ValueError(f"sketch='direct' needs a square A, got shape {A.shape}")
    if kind == "dense":
        try:
            x = np.linalg.solve(A, b)
        except np.linalg.LinAlgError as exc:
            raise SingularMatrixError("A is singular: sketch='direct' cannot solve it") from exc
        res = float(np.linalg.norm(A @ x - b))
        return PassResult(x, 1, res, res <= thresh, 2.0 / 3.0 * n**3 + check_cost)
    flops = 0.0
    best = None
    accept = max(thresh, np.sqrt(_EPS) * np.linalg.norm(b))
    if ldl is not None:
        from ._ldl import LDLFailure

        factorizer, m = ldl
        try:
            factored = factorizer.n_factorizations
            x, res, steps = factorizer.solve(A, b, m, accept)
            factored = factorizer.n_factorizations - factored  # 0: the factor was reused
            fill = factorizer.fill  # flops estimated as for SuperLU below: 2 fill^2 / n
            flops += 2.0 * fill * (2.0 * (steps + 1) + factored * fill / n) \
                + 2.0 * (steps + 1) * check_cost
            if res <= accept:
                return PassResult(x, 1, res, res <= thresh, flops)
        except LDLFailure:  # not accepted: SuperLU as without it (singular K raises)
            pass
    for symmetric in (True, False):
        try:
            lu = sparse_lu(A, symmetric)
        except RuntimeError:  # "Factor is exactly singular"
            continue
        fill = lu.L.nnz + lu.U.nnz  # factorization flops estimated as 2 fill^2 / n
        flops += 2.0 * fill * (2.0 + fill / n) + 2.0 * check_cost
        with np.errstate(all="ignore"):
            x = lu.solve(b)
            x += lu.solve(b - A @ x)
            res = float(np.linalg.norm(A @ x - b))
        if np.isfinite(res) and (best is None or res < best[1]):
            best = (x, res)
        if best is not None and best[1] <= accept:
            break
    if best is None:
        raise SingularMatrixError("A is singular: sketch='direct' cannot solve it")
    x, res = best
    return PassResult(x, 1, res, res <= thresh, flops)


def _minres(kind, A, b, x, thresh, limit, check_cost):
    from scipy.sparse.linalg import minres

    N, n = A.shape
    if N != n:
        raise ValueError(f"sketch='minres' needs a square symmetric A, got shape {A.shape}")
    if kind == "dense" and not np.allclose(A, A.T, rtol=1e-12, atol=1e-14 * np.abs(A).max()):
        raise ValueError("sketch='minres' needs a symmetric A")
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0 or float(np.linalg.norm(_matvec(kind, A, x) - b)) <= thresh:
        res = float(np.linalg.norm(_matvec(kind, A, x) - b))
        return PassResult(x, 0, res, res <= thresh, check_cost)
    iters = [0]

    def count(_):
        iters[0] += 1

    x, _ = minres(A, b, x0=x, rtol=thresh / bnorm, maxiter=max(limit, 1), callback=count)
    res = float(np.linalg.norm(_matvec(kind, A, x) - b))
    return PassResult(x, iters[0], res, res <= thresh, (check_cost + 10.0 * n) * (iters[0] + 1))


def direct_lstsq(kind, A, b, thresh):
    """``numpy.linalg.lstsq`` on the (densified) matrix: one step."""
    N, n = A.shape
    check_cost = 4.0 * (A.nnz if kind == "sparse" else N * n)
    M = A.toarray() if kind == "sparse" else A if kind == "dense" else A @ np.eye(n)
    x = min_norm_lstsq(M, b)
    res = float(np.linalg.norm(M.T @ (M @ x - b)))
    return PassResult(x, 1, res, res <= thresh, 2.0 * N * n**2 + check_cost)


def run_column_pass(kind, A, b, x, r, sketch, sampling, block_size, thresh, limit, check_every,
                    rng, res0, col_sq):
    """Column sketch-and-project on :math:`\\min\\|Ax - b\\|` from ``x`` with ``r = Ax - b``
    (both updated in place); ``res0`` is :math:`\\|A^\\top r\\|`, ``col_sq`` the column norms."""
    N, n = A.shape
    check_cost = 4.0 * (A.nnz if kind == "sparse" else N * n)

    def rmat(v):
        return A.T @ v if kind != "operator" else A.rmatvec(v)

    if kind == "dense" and sketch == "rk":
        At = np.ascontiguousarray(A.T)
        cdf = np.cumsum(col_sq) if sampling == "rownorm" else np.zeros(0)
        steps, res = _kernels().columns(At, b, x, r, col_sq, cdf, thresh, limit, check_every,
                                        _numba_seed(rng), res0)
        checks = -(-steps // check_every)
        return PassResult(x, int(steps), float(res), bool(res <= thresh),
                          4.0 * N * steps + check_cost * checks)
    p = None
    if sketch in ("rk", "block-rk") and sampling == "rownorm":
        p = col_sq / col_sq.sum()
    size = 1 if sketch in ("rk", "gaussian") else block_size
    res = res0
    steps = 0
    flops = 0.0
    while res > thresh and steps < limit:
        for _ in range(min(check_every, limit - steps)):
            if sketch in ("rk", "block-rk"):
                S = np.zeros((n, size))
                S[_choose(rng, n, size, p), np.arange(size)] = 1.0
            else:
                S = rng.standard_normal((n, size))
            AS = A @ S if kind != "operator" else A.matmat(S)
            y = min_norm_lstsq(AS, r)
            x -= S @ y
            r -= AS @ y
            flops += 2.0 * size * (A.nnz if kind == "sparse" else N * n) + 2.0 * size**2 * N \
                + size**3 + 4.0 * size * N
            steps += 1
        r[:] = _matvec(kind, A, x) - b
        res = float(np.linalg.norm(rmat(r)))
        flops += check_cost
    return PassResult(x, steps, res, res <= thresh, flops)
