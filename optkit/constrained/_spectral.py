r"""Spectral helpers of AdaSketch-Newton: extreme eigenvalues of symmetric operators
(Lanczos, ARPACK), Gershgorin bounds, and the Gram matrix :math:`GG^\top` of the constraint
Jacobian (its extreme eigenvalues and a solver for it).

The paper's accuracy condition and singularity tests use :math:`\xi_G = \lambda_{\min}(GG^\top)`
(Hong, Na, Mahoney, Kolar, ICML 2023, §3); the Hessian modification uses
:math:`\lambda_{\min}(Z^\top \nabla_x^2 L Z)` and :math:`\|\nabla_x^2 L\|`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ._sketch_ops import sparse_lu

__all__ = ["DENSE_MAX", "extreme_eig", "gershgorin_min", "gram_solver", "gram_eigs"]

DENSE_MAX = 1000  # linear_algebra="auto": form K densely when n + m <= DENSE_MAX


def extreme_eig(matvec, n, which, v0=None):
    """Largest-magnitude (``"LM"``) or smallest (``"SA"``) eigenvalue of a symmetric operator,
    and its eigenvector (``v0`` warm-starts the next call).

    Lanczos (ARPACK, ``tol=1e-3``, started at ``v0`` or the ones vector) for ``n > 20``;
    below that, the dense matrix from ``n`` products. ``(None, None)`` when Lanczos fails.
    """
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

    if n <= 20:
        M = np.column_stack([matvec(e) for e in np.eye(n)])
        eig, vec = np.linalg.eigh(0.5 * (M + M.T))
        i = int(np.argmax(np.abs(eig))) if which == "LM" else 0
        return float(abs(eig[i]) if which == "LM" else eig[i]), vec[:, i]
    op = LinearOperator((n, n), matvec=matvec, dtype=float)
    try:
        val, vec = eigsh(op, k=1, which=which, tol=1e-3, v0=np.ones(n) if v0 is None else v0)
    except (ArpackError, ArpackNoConvergence):
        return None, None
    return float(abs(val[0]) if which == "LM" else val[0]), vec[:, 0]


def gershgorin_min(M) -> float:
    """Gershgorin lower bound :math:`\\min_i (M_{ii} - \\sum_{j \\ne i} |M_{ij}|)` on
    :math:`\\lambda_{\\min}` of a symmetric sparse matrix."""
    M = sp.csr_array(M)
    diag = M.diagonal()
    off = abs(M).sum(axis=1) - np.abs(diag)
    return float(np.min(diag - off, initial=np.inf))


def gram_solver(G):
    """``r -> (G G^T)^{-1} r``: Cholesky for dense ``G``, SuperLU for sparse ``G``."""
    GG = G @ G.T
    if sp.issparse(GG):
        return sparse_lu(GG).solve
    from scipy.linalg import cho_factor, cho_solve

    factor = cho_factor(GG)
    return lambda r: cho_solve(factor, r)


def gram_eigs(G) -> tuple[float, float]:
    r"""Smallest and largest eigenvalue of :math:`GG^\top` (both 1 when :math:`m = 0`).

    With more rows than columns (:math:`m > n`) :math:`GG^\top` has rank at most :math:`n`:
    :math:`\lambda_{\min} = 0` exactly, and :math:`\lambda_{\max}` is that of the
    :math:`n \times n` matrix :math:`G^\top G` (the same nonzero eigenvalues), so no
    :math:`m \times m` matrix is formed (S2MPJ SPECANNE, :math:`m = 15000`, :math:`n = 9`:
    a dense ``eigvalsh`` of :math:`GG^\top` ran for minutes inside one call, past
    ``max_time``). Otherwise dense ``eigvalsh`` up to ``DENSE_MAX`` rows. For a larger sparse
    :math:`G`: :math:`\lambda_{\max}` by Lanczos (ARPACK, ``tol=1e-3``); :math:`\lambda_{\min}`
    is the Gershgorin bound when that bound is :math:`\ge 1` (the method uses only
    :math:`\min(\xi_G, 1)` and the singularity tests, which a bound :math:`\ge 1` passes
    while :math:`\lambda_{\max} < 10^{12}`), else shift-invert Lanczos at 0 on a SuperLU
    factorization (0.0 when :math:`GG^\top` is exactly singular).
    """
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

    m, n = G.shape
    if m == 0:
        return 1.0, 1.0
    if m > n:
        A, size = G.T @ G, n
    else:
        A, size = G @ G.T, m
    if not sp.issparse(A) or size <= DENSE_MAX:
        eig = np.linalg.eigvalsh(A.toarray() if sp.issparse(A) else A)
        return (0.0 if m > n else float(eig[0])), float(eig[-1])
    A = sp.csc_array(A)
    try:
        gram_max = float(eigsh(A, k=1, which="LA", tol=1e-3, v0=np.ones(size),
                               return_eigenvectors=False)[0])
    except (ArpackError, ArpackNoConvergence):
        gram_max = float(abs(A).sum(axis=1).max())  # Gershgorin upper bound
    if m > n:
        return 0.0, gram_max
    bound = gershgorin_min(A)
    if bound >= 1.0:
        return bound, gram_max
    try:
        solve = sparse_lu(A).solve
    except RuntimeError:  # SuperLU: G G^T exactly singular
        return 0.0, gram_max
    inverse = LinearOperator((m, m), matvec=solve, dtype=float)
    try:
        return float(eigsh(A, k=1, sigma=0.0, which="LM", OPinv=inverse, tol=1e-6,
                           return_eigenvectors=False)[0]), gram_max
    except (ArpackError, ArpackNoConvergence):
        return float(np.linalg.eigvalsh(A.toarray())[0]), gram_max
