r"""Randomized iterative solvers for linear systems and least squares (sketch-and-project).

:func:`solve` solves a consistent system :math:`Ax = b` by row sketches and
:func:`lstsq` solves :math:`\min_x \|Ax - b\|_2` by column sketches, both in the
sketch-and-project framework of Gower and Richtárik [1]_:

.. math::
    \text{rows:}\quad x \leftarrow x - A^\top S (S^\top A A^\top S)^\dagger S^\top (Ax - b)
    = x - (S^\top A)^\dagger\, S^\top (Ax - b),

.. math::
    \text{columns:}\quad x \leftarrow x - S\,(AS)^\dagger (Ax - b).

The sketch :math:`S` is drawn afresh each step:

=================== ==================================================================
``sketch``          :math:`S`
=================== ==================================================================
``"rk"``            :math:`e_i` (randomized Kaczmarz [2]_; for :func:`lstsq`, randomized
                    coordinate descent [3]_); ``sampling="uniform"`` or ``"rownorm"``
                    (probability :math:`\propto \|a_i\|^2`, the rows of :math:`A`, or the
                    columns for :func:`lstsq`)
``"block-rk"``      ``block_size`` distinct unit vectors, uniformly at random
``"gaussian"``      one standard Gaussian vector
``"block-gaussian"``an :math:`N \times` ``block_size`` standard Gaussian matrix
``"direct"``        baseline: ``numpy.linalg.solve`` (SuperLU ``splu`` for sparse ``A``) /
                    ``numpy.linalg.lstsq`` (one step)
``"minres"``        baseline for symmetric :math:`A` (:func:`solve` only): scipy's MINRES
=================== ==================================================================

The single-vector sketches of dense arrays and sparse (CSR) matrices run in numba kernels
(compiled on first use; a sparse Kaczmarz step costs :math:`O(\mathrm{nnz}(a_i))`); block
sketches and linear operators run a numpy loop. A
Gaussian row step costs one product with :math:`A^\top` because
:math:`s^\top(Ax - b) = (A^\top s)^\top x - s^\top b`. The full residual is recomputed
every ``check_every`` steps; that is where the stopping test
:math:`\|Ax - b\| \le \mathrm{tol}\,\|b\|` (:func:`solve`) or
:math:`\|A^\top(Ax - b)\| \le \mathrm{tol}\,\|A^\top b\|` (:func:`lstsq`) is made.

For a consistent system, :math:`E\|x_t - x_*\|^2 \le (1 - \lambda_{\min}^+(E[Z]))^t
\|x_0 - x_*\|^2` with :math:`Z` the projection of one step [1]_; for row-norm
Kaczmarz :math:`\lambda_{\min}^+(E[Z]) = \sigma_{\min}^+(A)^2 / \|A\|_F^2` [2]_.

References
----------
.. [1] R. M. Gower and P. Richtárik, "Randomized iterative methods for linear systems",
   SIAM J. Matrix Anal. Appl. 36(4), 2015.
.. [2] T. Strohmer and R. Vershynin, "A randomized Kaczmarz algorithm with exponential
   convergence", J. Fourier Anal. Appl. 15, 2009.
.. [3] D. Leventhal and A. S. Lewis, "Randomized methods for linear constraints:
   convergence rates and conditioning", Math. Oper. Res. 35(3), 2010.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from optkit.core.validate import check_finite, check_in, check_int, check_nonnegative

__all__ = ["SketchResult", "SingularMatrixError", "solve", "lstsq", "SKETCHES"]

_EPS = np.finfo(float).eps
SKETCHES = ("rk", "block-rk", "gaussian", "block-gaussian", "direct", "minres")
SAMPLINGS = ("uniform", "rownorm")
DEFAULT_MAX_STEPS = 100_000


class SingularMatrixError(ValueError):
    """``sketch="direct"`` met an exactly singular matrix."""


@dataclass
class SketchResult:
    """Outcome of :func:`solve` / :func:`lstsq`.

    Attributes
    ----------
    x : ndarray
        The last iterate.
    n_steps : int
        Sketch-and-project steps taken (1 for ``"direct"``, iterations for ``"minres"``).
    residual : float
        ``||Ax - b||`` (:func:`solve`) or ``||A^T (Ax - b)||`` (:func:`lstsq`) at ``x``.
    converged : bool
        Whether the tolerance was met within ``max_steps``.
    flops : float
        Floating-point operations of the steps and residual checks (an estimate from
        the operation counts in the module docstring; setup such as row norms excluded).
    """

    x: np.ndarray
    n_steps: int
    residual: float
    converged: bool
    flops: float


# ---------------------------------------------------------------------------- numba kernels
def _kernels():
    """The single-vector kernels (numba is imported, and they compile, on first use)."""
    from . import _kernels as k

    return k




# ---------------------------------------------------------------------------- validation
def _as_operator(A, name="A"):
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


def _check_common(A, b, x0, sketch, sampling, block_size, tol, max_steps, check_every, rng, *,
                  axis):
    kind, A = _as_operator(A)
    length = A.shape[axis]
    check_in(sketch, "sketch", SKETCHES)
    check_in(sampling, "sampling", SAMPLINGS)
    block_size = check_int(block_size, "block_size", minimum=1)
    tol = check_nonnegative(tol, "tol")
    max_steps = check_int(DEFAULT_MAX_STEPS if max_steps is None else max_steps, "max_steps",
                          minimum=0)
    b = np.asarray(b, dtype=float)
    if b.shape != (A.shape[0],):
        raise ValueError(f"b must have shape ({A.shape[0]},), got {b.shape}")
    check_finite(b, "b")
    n = A.shape[1]
    if x0 is None:
        x = np.zeros(n)
    else:
        x = np.array(x0, dtype=float)  # a copy: x0 is never modified
        if x.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},), got {x.shape}")
        check_finite(x, "x0")
    if block_size > length:
        raise ValueError(f"block_size must be <= {length}, got {block_size}")
    check_every = check_int(length if check_every is None else check_every, "check_every",
                            minimum=1)
    if rng is None or isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None, an int or a numpy Generator, got {type(rng).__name__}")
    return kind, A, b, x, block_size, tol, max_steps, check_every, rng


def _seed(rng) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _choose(rng, N, size, p):
    return rng.choice(N, size=size, replace=False, p=p)


# ---------------------------------------------------------------------------- row sketches
def _rows_of(kind, A, idx):
    if kind == "dense":
        return A[idx]
    if kind == "sparse":
        return A[idx].toarray()
    E = np.zeros((A.shape[0], len(idx)))
    E[idx, np.arange(len(idx))] = 1.0
    return np.atleast_2d(A.rmatmat(E).T)


def _row_norms_sq(kind, A):
    if kind == "dense":
        return np.einsum("ij,ij->i", A, A)
    if kind == "sparse":
        return np.asarray(A.multiply(A).sum(axis=1)).ravel()
    return np.array([float(np.sum(_rows_of(kind, A, [i]) ** 2)) for i in range(A.shape[0])])


def solve(A, b, *, sketch="rk", sampling="uniform", block_size=1, x0=None, tol=1e-10,
          max_steps=None, check_every=None, rng=None) -> SketchResult:
    r"""Solve the consistent linear system :math:`Ax = b` by sketch-and-project.

    Each step projects the iterate onto the solution set of the sketched system
    :math:`S^\top A x = S^\top b`:

    .. math::
        x \leftarrow x - (S^\top A)^\dagger\, S^\top (Ax - b),

    which for ``sketch="rk"`` is the randomized Kaczmarz step
    :math:`x \leftarrow x - \frac{a_i^\top x - b_i}{\|a_i\|^2} a_i` and for
    ``"gaussian"`` is :math:`x \leftarrow x - \frac{s^\top(Ax - b)}{\|A^\top s\|^2} A^\top s`.
    From ``x0 = 0`` the iterates converge to the minimum-norm solution.

    Parameters
    ----------
    A : (N, n) array, scipy.sparse matrix or LinearOperator
        Rows of an operator are read as :math:`A^\top e_i` (``rmatvec``).
    b : (N,) array
    sketch : str
        One of ``"rk"``, ``"block-rk"``, ``"gaussian"``, ``"block-gaussian"``,
        ``"direct"``, ``"minres"`` (symmetric ``A`` only) (see the module docstring).
    sampling : {"uniform", "rownorm"}
        Row distribution of the ``rk`` sketches (``rownorm``: :math:`p_i \propto \|a_i\|^2`).
    block_size : int
        Rows per step for the block sketches.
    x0 : (n,) array, optional
        Start (zeros by default); not modified.
    tol : float
        Stop when :math:`\|Ax - b\| \le \mathrm{tol}\,\|b\|`.
    max_steps : int, optional
        Step budget (default 100000).
    check_every : int, optional
        Steps between two full-residual checks (default ``N``).
    rng : int or numpy.random.Generator, optional

    Returns
    -------
    SketchResult
    """
    kind, A, b, x, block_size, tol, max_steps, check_every, rng = _check_common(
        A, b, x0, sketch, sampling, block_size, tol, max_steps, check_every, rng, axis=0)
    return _solve(kind, A, b, x, sketch, sampling, block_size, tol * float(np.linalg.norm(b)),
                  max_steps, check_every, rng)


def _matvec(kind, A, x):
    return A @ x if kind != "operator" else A.matvec(x)


def _solve(kind, A, b, x, sketch, sampling, block_size, thresh, max_steps, check_every, rng):
    """:func:`solve` after validation; ``thresh`` is the absolute residual target."""
    N, n = A.shape
    check_cost = 2.0 * (A.nnz if kind == "sparse" else N * n)
    if sketch == "direct":
        return _direct(kind, A, b, thresh, check_cost)
    if sketch == "minres":
        return _minres(kind, A, b, x, thresh, max_steps, check_cost)
    if sketch in ("rk", "gaussian") and kind != "operator":
        k = _kernels()
        csr = (A.data, A.indices, A.indptr) if kind == "sparse" else None
        if sketch == "rk":
            row_sq = _row_norms_sq(kind, A)
            cdf = np.cumsum(row_sq) if sampling == "rownorm" else np.zeros(0)
            if csr:
                steps, res = k.rows_csr(*csr, b, x, row_sq, cdf, thresh, max_steps,
                                        check_every, _seed(rng))
            else:
                steps, res = k.rows(A, b, x, row_sq, cdf, thresh, max_steps, check_every,
                                    _seed(rng))
            per_step = 4.0 * (A.nnz / N if csr else n)
        else:
            if csr:
                steps, res = k.gaussian_csr(*csr, n, b, x, thresh, max_steps, check_every,
                                            _seed(rng))
            else:
                steps, res = k.gaussian(A, b, x, thresh, max_steps, check_every, _seed(rng))
            per_step = 2.0 * (A.nnz if csr else N * n) + 4.0 * n + 2.0 * N
        checks = -(-steps // check_every) + 1
        return SketchResult(x, int(steps), float(res), bool(res <= thresh),
                            per_step * steps + check_cost * checks)
    p = None
    if sketch in ("rk", "block-rk") and sampling == "rownorm":
        w = _row_norms_sq(kind, A)
        p = w / w.sum()
    size = 1 if sketch in ("rk", "gaussian") else block_size
    res = float(np.linalg.norm(_matvec(kind, A, x) - b))
    steps = 0
    flops = check_cost
    while res > thresh and steps < max_steps:
        for _ in range(min(check_every, max_steps - steps)):
            if sketch in ("rk", "block-rk"):
                idx = _choose(rng, N, size, p)
                SA, Sb = _rows_of(kind, A, idx), b[idx]
            else:
                S = rng.standard_normal((N, size))
                SA = (A.T @ S).T if kind != "operator" else np.atleast_2d(A.rmatmat(S).T)
                Sb = S.T @ b
                flops += 2.0 * size * (A.nnz if kind == "sparse" else N * n) + 2.0 * size * N
            # x <- x - (S^T A)^+ (S^T A x - S^T b): the min-norm correction
            x -= np.linalg.lstsq(SA, SA @ x - Sb, rcond=None)[0]
            flops += 6.0 * size * n + 2.0 * size**2 * n + size**3
            steps += 1
        res = float(np.linalg.norm(_matvec(kind, A, x) - b))
        flops += check_cost
    return SketchResult(x, steps, res, res <= thresh, flops)


def _sparse_lu(A, symmetric=True):
    """SuperLU factorization of a square sparse matrix: with ``symmetric``, minimum degree
    on :math:`A + A^\\top` and diagonal pivots (stable for SPD matrices, the least fill on
    KKT matrices); else scipy's default column ordering with partial pivoting."""
    from scipy.sparse.linalg import splu

    if symmetric:
        return splu(sp.csc_array(A), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                    options={"SymmetricMode": True})
    return splu(sp.csc_array(A))


def _direct(kind, A, b, thresh, check_cost):
    """One exact solve: LAPACK for dense ``A``; for sparse ``A``, SuperLU with a symmetric
    minimum-degree ordering and diagonal pivots (a fraction of the fill of column ordering
    on KKT matrices), one refinement step, and partial pivoting only when that residual
    exceeds :math:`\\sqrt{\\varepsilon}\\|b\\|`."""
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
        return SketchResult(x, 1, res, res <= thresh, 2.0 / 3.0 * n**3 + check_cost)
    flops = 0.0
    best = None
    for symmetric in (True, False):
        try:
            lu = _sparse_lu(A, symmetric)
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
        if best is not None and best[1] <= max(thresh, np.sqrt(_EPS) * np.linalg.norm(b)):
            break
    if best is None:
        raise SingularMatrixError("A is singular: sketch='direct' cannot solve it")
    x, res = best
    return SketchResult(x, 1, res, res <= thresh, flops)


def _minres(kind, A, b, x, thresh, max_steps, check_cost):
    from scipy.sparse.linalg import minres

    N, n = A.shape
    if N != n:
        raise ValueError(f"sketch='minres' needs a square symmetric A, got shape {A.shape}")
    if kind == "dense" and not np.allclose(A, A.T, rtol=1e-12, atol=1e-14 * np.abs(A).max()):
        raise ValueError("sketch='minres' needs a symmetric A")
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0 or float(np.linalg.norm(_matvec(kind, A, x) - b)) <= thresh:
        res = float(np.linalg.norm(_matvec(kind, A, x) - b))
        return SketchResult(x, 0, res, res <= thresh, check_cost)
    iters = [0]

    def count(_):
        iters[0] += 1

    x, _ = minres(A, b, x0=x, rtol=thresh / bnorm, maxiter=max(max_steps, 1), callback=count)
    res = float(np.linalg.norm(_matvec(kind, A, x) - b))
    return SketchResult(x, iters[0], res, res <= thresh, (check_cost + 10.0 * n) * (iters[0] + 1))


# ---------------------------------------------------------------------------- column sketches
def lstsq(A, b, *, sketch="rk", sampling="uniform", block_size=1, x0=None, tol=1e-10,
          max_steps=None, check_every=None, rng=None) -> SketchResult:
    r"""Solve :math:`\min_x \|Ax - b\|_2` by column sketch-and-project.

    Each step minimizes :math:`\|Ax - b\|` over :math:`x + \mathrm{range}(S)`:

    .. math::
        x \leftarrow x - S\,(AS)^\dagger (Ax - b),

    which for ``sketch="rk"`` is randomized coordinate descent
    :math:`x_j \leftarrow x_j - a_j^\top (Ax - b)/\|a_j\|^2` [3]_ (``sampling="rownorm"``
    samples column :math:`j` with probability :math:`\propto \|a_j\|^2`). With full
    column rank the iterates converge to ``numpy.linalg.lstsq``'s solution.

    Parameters
    ----------
    A : (N, n) array, scipy.sparse matrix or LinearOperator
    b : (N,) array
    sketch : str
        ``"rk"``, ``"block-rk"`` (``block_size`` distinct columns), ``"gaussian"``,
        ``"block-gaussian"``, or ``"direct"`` (``numpy.linalg.lstsq``).
    sampling, block_size, x0, max_steps, check_every, rng
        As in :func:`solve` (``check_every`` defaults to ``n``).
    tol : float
        Stop when :math:`\|A^\top(Ax - b)\| \le \mathrm{tol}\,\|A^\top b\|`.

    Returns
    -------
    SketchResult
        ``residual`` is :math:`\|A^\top(Ax - b)\|`.
    """
    kind, A, b, x, block_size, tol, max_steps, check_every, rng = _check_common(
        A, b, x0, sketch, sampling, block_size, tol, max_steps, check_every, rng, axis=1)
    if sketch == "minres":
        raise ValueError("sketch='minres' is for solve(); lstsq takes 'rk', 'block-rk', "
                         "'gaussian', 'block-gaussian' or 'direct'")
    N, n = A.shape

    def rmat(v):
        return A.T @ v if kind != "operator" else A.rmatvec(v)

    thresh = tol * float(np.linalg.norm(rmat(b)))
    check_cost = 4.0 * (A.nnz if kind == "sparse" else N * n)
    if sketch == "direct":
        M = A.toarray() if kind == "sparse" else A if kind == "dense" else A @ np.eye(n)
        x = np.linalg.lstsq(M, b, rcond=None)[0]
        res = float(np.linalg.norm(M.T @ (M @ x - b)))
        return SketchResult(x, 1, res, res <= thresh, 2.0 * N * n**2 + check_cost)
    if kind == "dense" and sketch == "rk":
        columns = _kernels().columns
        At = np.ascontiguousarray(A.T)
        col_sq = np.einsum("ij,ij->i", At, At)
        cdf = np.cumsum(col_sq) if sampling == "rownorm" else np.zeros(0)
        r = A @ x - b
        steps, res = columns(At, b, x, r, col_sq, cdf, thresh, max_steps, check_every, _seed(rng))
        checks = -(-steps // check_every) + 1
        return SketchResult(x, int(steps), float(res), bool(res <= thresh),
                            4.0 * N * steps + check_cost * checks)
    p = None
    if sketch in ("rk", "block-rk") and sampling == "rownorm":
        Ad = A.toarray() if kind == "sparse" else A if kind == "dense" else A @ np.eye(n)
        w = np.einsum("ij,ij->j", Ad, Ad)
        p = w / w.sum()
    size = 1 if sketch in ("rk", "gaussian") else block_size
    r = _matvec(kind, A, x) - b
    res = float(np.linalg.norm(rmat(r)))
    steps = 0
    flops = check_cost
    while res > thresh and steps < max_steps:
        for _ in range(min(check_every, max_steps - steps)):
            if sketch in ("rk", "block-rk"):
                S = np.zeros((n, size))
                S[_choose(rng, n, size, p), np.arange(size)] = 1.0
            else:
                S = rng.standard_normal((n, size))
            AS = A @ S if kind != "operator" else A.matmat(S)
            y = np.linalg.lstsq(AS, r, rcond=None)[0]
            x -= S @ y
            r -= AS @ y
            flops += 2.0 * size * (A.nnz if kind == "sparse" else N * n) + 2.0 * size**2 * N \
                + size**3 + 4.0 * size * N
            steps += 1
        r = _matvec(kind, A, x) - b
        res = float(np.linalg.norm(rmat(r)))
        flops += check_cost
    return SketchResult(x, steps, res, res <= thresh, flops)
