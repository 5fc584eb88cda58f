r"""Sparse :math:`LDL^\top` of the KKT matrix with one symbolic analysis per sparsity pattern.

The sparse path of ``al-newton`` solves one KKT system

.. math::
    K = \begin{bmatrix} B & G^\top \\ G & 0 \end{bmatrix}

per Newton iteration (``sketch="direct"``, or the LU fallback of a capped sketch pass).
The sparsity pattern of :math:`K` is the same from one iteration to the next (the Hessian
and Jacobian patterns of a problem do not move), so the fill-reducing ordering and the
elimination tree (the symbolic analysis) can be computed once and only the numeric
factorization repeated. scipy's SuperLU cannot reuse a symbolic analysis;
QDLDL (Stellato, Banjac, Goulart, Bemporad, Boyd, "OSQP: an operator splitting solver for
quadratic programs", Math. Program. Comput. 12, 2020, §5; the ``qdldl`` package: AMD
ordering, Amestoy, Davis and Duff, SIAM J. Matrix Anal. Appl. 17(4), 1996) can: its
``Solver.update`` refactors a matrix of the same pattern with the stored analysis.

QDLDL factors without pivoting, which is stable for *quasi-definite* matrices
:math:`[[B, G^\top], [G, -D]]` with :math:`B \succ 0`, :math:`D \succ 0` under any symmetric
permutation (Vanderbei, "Symmetric quasidefinite matrices", SIAM J. Optim. 5(1), 1995).
:math:`K` has :math:`D = 0`, so :class:`ReusableLDL` factors the regularized
:math:`K_\delta = K - \operatorname{diag}(0, \delta I)` and recovers the solution of
:math:`K` itself by iterative refinement :math:`z \leftarrow z + K_\delta^{-1}(b - Kz)`
(the static regularization of OSQP and of interior-point codes; Gill, Saunders and
Shinnerl, SIAM J. Matrix Anal. Appl. 17(1), 1996). Refinement converges when
:math:`\delta\|K_\delta^{-1}\| < 1`; the caller checks the final residual and falls back
to pivoted SuperLU when it is not small (an indefinite :math:`B`, a rank-deficient
:math:`G`, or a zero pivot).

Patterns are kept as sorted linear indices of the upper triangle (diagonal always
present). A matrix whose pattern lies inside the stored one is scattered into it (explicit
zeros elsewhere) and refactored numerically; a new entry outside it triggers one new
analysis on the union of both patterns (the pattern only grows).
"""

from __future__ import annotations

import numpy as np
import qdldl
import scipy.sparse as sp

__all__ = ["ReusableLDL", "LDLFailure"]

REGULARIZATION = 1e-10  # delta relative to max(1, max |K_ij|)
MAX_REFINEMENT = 5  # refinement steps at most per solve


class LDLFailure(RuntimeError):
    """QDLDL could not factor the matrix (zero pivot) or refinement did not converge."""


class ReusableLDL:
    r"""A sparse :math:`LDL^\top` factorization of symmetric KKT matrices of one run that
    reuses its symbolic analysis (see the module docstring).

    Attributes
    ----------
    n_analyses : int
        Symbolic analyses (AMD ordering and elimination tree) computed: one per new pattern.
    n_factorizations : int
        Numeric factorizations (one per distinct matrix passed to :meth:`solve`).
    fill : int
        Nonzeros of :math:`L` of the current analysis.
    """

    def __init__(self):
        self.n_analyses = 0
        self.n_factorizations = 0
        self._solver = None
        self._keys = None  # sorted linear indices col * N + row of the stored upper pattern
        self._indices = self._indptr = None  # its CSC structure
        self._size = -1
        self._K = None  # the matrix whose numeric factor is held
        self._delta = 0.0
        self.fill = 0

    def _upper(self, K, n_constraints):
        """Linear indices and values of the upper triangle of K, diagonal included, with
        :math:`-\\delta` added on the trailing ``n_constraints`` diagonal entries."""
        N = K.shape[0]
        U = sp.triu(sp.coo_array(K))
        scale = max(1.0, float(np.abs(U.data).max(initial=0.0)))
        self._delta = REGULARIZATION * scale
        diag = np.arange(N, dtype=np.int64)
        reg = np.zeros(N)
        reg[N - n_constraints:] = -self._delta
        keys = np.concatenate([U.col.astype(np.int64) * N + U.row, diag * (N + 1)])
        return keys, np.concatenate([U.data, reg])

    def _matrix(self, positions, values):
        """The CSC upper triangle on the stored pattern: ``values`` summed into the
        ``positions`` of the stored keys, explicit zeros elsewhere."""
        data = np.bincount(positions, weights=values, minlength=self._keys.size)
        return sp.csc_array((data, self._indices, self._indptr), shape=(self._size,) * 2)

    def _analyse_pattern(self, keys, N):
        """Store the union of the current pattern (same size) and ``keys``."""
        previous = self._keys if self._size == N else np.zeros(0, dtype=np.int64)
        union = np.sort(np.concatenate([previous, keys]))
        self._keys = union[np.concatenate([[True], union[1:] != union[:-1]])]
        self._size = N
        self._indices = (self._keys % N).astype(np.int32)
        self._indptr = np.searchsorted(self._keys // N, np.arange(N + 1)).astype(np.int32)

    def factor(self, K, n_constraints):
        """Factor :math:`K_\\delta` (reusing the analysis when the pattern is known); the
        same matrix object twice is factored once. Raises :class:`LDLFailure`."""
        if K is self._K:
            return
        N = K.shape[0]
        keys, values = self._upper(K, n_constraints)
        known = self._keys is not None and self._size == N
        if known:
            pos = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
            known = bool(np.all(self._keys[pos] == keys))
        self._K = None
        try:
            if known:
                self._solver.update(self._matrix(pos, values), upper=True)
            else:
                self._analyse_pattern(keys, N)
                pos = np.searchsorted(self._keys, keys)
                self._solver = qdldl.Solver(self._matrix(pos, values), upper=True)
                self.n_analyses += 1
                self.fill = int(self._solver.factors()[0].nnz)
        except (RuntimeError, ValueError) as exc:  # "not quasi-definite": a zero pivot
            raise LDLFailure(str(exc)) from exc
        self.n_factorizations += 1
        self._K = K

    def solve(self, K, b, n_constraints, thresh):
        """:math:`K^{-1}b` by iterative refinement on the factor of :math:`K_\\delta`: at
        least one step (as the SuperLU path), then more while :math:`\\|Kz - b\\| >`
        ``thresh`` and the residual at least halves (at most ``MAX_REFINEMENT``). Returns
        ``(z, residual, steps)``; raises :class:`LDLFailure`."""
        self.factor(K, n_constraints)
        with np.errstate(all="ignore"):
            z = self._solver.solve(b)
            r = b - K @ z
            res = float(np.linalg.norm(r))
            steps = 0
            while np.isfinite(res) and steps < MAX_REFINEMENT and (steps == 0 or res > thresh):
                z_new = z + self._solver.solve(r)
                r_new = b - K @ z_new
                res_new = float(np.linalg.norm(r_new))
                steps += 1
                if res_new < res:
                    z, r, res_prev, res = z_new, r_new, res, res_new
                    if res > 0.5 * res_prev:
                        break
                else:
                    break
        if not np.isfinite(res):
            raise LDLFailure("the LDL^T solve produced non-finite values")
        return z, res, steps
