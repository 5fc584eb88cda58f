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

==================== ==================================================================
``sketch``           :math:`S`
==================== ==================================================================
``"rk"``             :math:`e_i` (randomized Kaczmarz [2]_; for :func:`lstsq`, randomized
                     coordinate descent [3]_); ``sampling="uniform"`` or ``"rownorm"``
                     (probability :math:`\propto \|a_i\|^2`, the rows of :math:`A`, or the
                     columns for :func:`lstsq`)
``"block-rk"``       ``block_size`` distinct unit vectors, uniformly at random
``"gaussian"``       one standard Gaussian vector
``"block-gaussian"`` an :math:`N \times` ``block_size`` standard Gaussian matrix
``"direct"``         baseline: ``numpy.linalg.solve`` (SuperLU ``splu`` for sparse ``A``) /
                     ``numpy.linalg.lstsq`` (one step)
``"minres"``         baseline for symmetric :math:`A` (:func:`solve` only): scipy's MINRES
==================== ==================================================================

The single-vector sketches of dense arrays and sparse (CSR) matrices run in numba kernels
(compiled on first use; a sparse Kaczmarz step costs :math:`O(\mathrm{nnz}(a_i))`); block
sketches and linear operators run a numpy loop. A
Gaussian row step costs one product with :math:`A^\top` because
:math:`s^\top(Ax - b) = (A^\top s)^\top x - s^\top b`.

Both solvers run on :func:`optkit.core.run`: one iteration is ``check_every`` sketch steps
(default: one per row for :func:`solve`, one per column for :func:`lstsq`, i.e. an epoch)
followed by a full-residual computation, where the stopping test
:math:`\|Ax - b\| \le \mathrm{tol}\,\|b\|` (:func:`solve`) or
:math:`\|A^\top(Ax - b)\| \le \mathrm{tol}\,\|A^\top b\|` (:func:`lstsq`) is made.
``maxiter`` bounds the iterations, ``maxfev`` the rows (:func:`solve`) or columns
(:func:`lstsq`) of :math:`A` read (``nfev``: a step reads the rows or columns it
sketches, every row for a Gaussian row sketch; a residual computation reads every row
once, or every column twice), ``max_time`` the wall time.

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from optkit.core.registry import RNG_OPTION, Option, budget_options, resolve_options
from optkit.core.result import STATUS
from optkit.core.rng import check_rng
from optkit.core.solver import run
from optkit.core.validate import (
    as_real_array,
    check_finite,
    check_in,
    check_int,
    check_nonnegative,
)

from ._sketch_ops import (
    SAMPLINGS,
    SKETCHES,
    SingularMatrixError,
    as_operator,
    column_norms_sq,
    direct_lstsq,
    row_norms_sq,
    run_column_pass,
    run_pass,
)

__all__ = ["SketchResult", "SketchSolve", "SketchLstsq", "SingularMatrixError", "solve",
           "lstsq", "SKETCHES"]


class SketchResult(OptimizeResult):
    r"""Result of :func:`solve` / :func:`lstsq`: an :class:`~scipy.optimize.OptimizeResult`.

    Attributes
    ----------
    x : ndarray
        The last iterate.
    fun : float
        :math:`\|Ax - b\|` at ``x`` (for :func:`solve` the stopping residual; for
        :func:`lstsq` the least-squares objective's norm).
    residual : float
        The stopping test's residual: :math:`\|Ax - b\|` (:func:`solve`) or
        :math:`\|A^\top(Ax - b)\|` (:func:`lstsq`).
    nit : int
        Iterations (``check_every`` sketch steps and a residual computation each).
    nfev : int
        Rows (:func:`solve`) or columns (:func:`lstsq`) of :math:`A` read.
    n_steps : int
        Sketch-and-project steps (1 for ``"direct"``, iterations for ``"minres"``).
    flops : float
        Floating-point operations of the steps and residual computations (an estimate from
        the operation counts in the module docstring; setup such as row norms excluded).
    status, success, message, trace, execution_time
        As for every optkit result (``success`` only when the tolerance was met).
    """


def _check_positive_int(value, name):
    return check_int(value, name, minimum=1)


def _optional_positive_int(value, name):
    return None if value is None else check_int(value, name, minimum=1)


def _options(solver: str) -> dict[str, Option]:
    what = "||Ax - b|| <= tol ||b||" if solver == "solve" else "||A^T(Ax - b)|| <= tol ||A^T b||"
    axis = "row" if solver == "solve" else "column"
    sketches = SKETCHES if solver == "solve" else tuple(s for s in SKETCHES if s != "minres")
    return {
        "sketch": Option("rk", f"str\n    One of {list(sketches)}.",
                         check=lambda v, n: check_in(v, n, sketches)),
        "sampling": Option("uniform", f"str\n    'uniform' or 'rownorm' ({axis} probabilities "
                                      f"proportional to the squared {axis} norms).",
                           check=lambda v, n: check_in(v, n, SAMPLINGS)),
        "block_size": Option(1, f"int\n    {axis.capitalize()}s per step of the block sketches.",
                             check=_check_positive_int),
        "tol": Option(1e-10, f"float\n    Stop when {what}.", check=check_nonnegative),
        "maxiter": Option(1000, "int\n    Iterations (check_every sketch steps each).",
                          check=lambda v, n: check_int(v, n, minimum=0)),
        "check_every": Option(None, f"int or None\n    Sketch steps per iteration (default: the "
                                    f"number of {axis}s).", check=_optional_positive_int),
        "rng": RNG_OPTION,
        **budget_options(),
    }


SOLVE_OPTIONS = _options("solve")
LSTSQ_OPTIONS = _options("lstsq")


@dataclass
class _System:
    """The run's problem: the matrix (``kind`` from :func:`as_operator`), ``b``, the start,
    and the absolute residual target ``thresh``."""

    kind: str
    A: Any
    b: np.ndarray
    x0: np.ndarray
    thresh: float


@dataclass
class _SketchState:
    x: np.ndarray
    fun: float  # ||Ax - b||
    residual: float  # the stopping residual
    rng: np.random.Generator
    norms_sq: np.ndarray | None  # row (solve) or column (lstsq) norms of the rk sketches
    r: np.ndarray | None = None  # Ax - b (lstsq)
    n_steps: int = 0
    n_read: int = 0  # rows (solve) or columns (lstsq) of A read: the main oracle count
    flops: float = 0.0
    finished: bool = False  # "direct": one exact solve, nothing more to do

    def counts(self) -> dict[str, int]:
        return {"n_value": self.n_read}

    def trace_extra(self) -> dict[str, Any]:
        return {"residual": self.residual, "n_steps": self.n_steps, "flops": self.flops}


class _SketchSolver:
    """Configuration shared by the row and column solvers (no run state)."""

    def __init__(self, *, sketch: str = "rk", sampling: str = "uniform", block_size: int = 1,
                 check_every: int | None = None):
        self.sketch = sketch
        self.sampling = sampling
        self.block_size = block_size
        self.check_every = check_every

    def _chunk(self, length: int) -> int:
        return self.check_every or length

    def terminate(self, problem, state):
        if state.residual <= problem.thresh:
            return True, STATUS["success"], (
                f"Converged: residual {state.residual:.3e} <= target {problem.thresh:.3e}.")
        if state.finished:
            return True, STATUS["stalled"], (
                f"The direct solve's residual {state.residual:.3e} exceeds the target "
                f"{problem.thresh:.3e} (A is ill-conditioned).")
        return False, 0, ""

    def result(self, problem, state):
        return {"residual": state.residual, "n_steps": state.n_steps, "flops": state.flops}


class SketchSolve(_SketchSolver):
    r"""Row sketch-and-project on a consistent :math:`Ax = b` (see :func:`solve`)."""

    def init(self, problem, x0, rng):
        kind, A, b = problem.kind, problem.A, problem.b
        x = np.array(x0, dtype=float)
        res = float(np.linalg.norm((A @ x if kind != "operator" else A.matvec(x)) - b))
        norms_sq = None
        if self.sketch in ("rk", "block-rk") and (self.sampling == "rownorm" or (
                self.sketch == "rk" and kind != "operator")):
            norms_sq = row_norms_sq(kind, A)
        return _SketchState(x=x, fun=res, residual=res, rng=rng, norms_sq=norms_sq,
                            n_read=A.shape[0], flops=2.0 * _size(kind, A))

    def step(self, problem, s):
        kind, A = problem.kind, problem.A
        N = A.shape[0]
        chunk = self._chunk(N)
        out = run_pass(kind, A, problem.b, s.x, self.sketch, self.sampling, self.block_size,
                       problem.thresh, chunk, chunk, s.rng, res0=s.residual,
                       row_sq=s.norms_sq)
        s.x, s.fun, s.residual = out.x, out.residual, out.residual
        s.n_steps += out.n_steps
        s.flops += out.flops
        per_step = {"rk": 1, "block-rk": self.block_size}.get(self.sketch, N)
        s.n_read += out.n_steps * per_step + N
        s.finished = self.sketch == "direct"
        return s


class SketchLstsq(_SketchSolver):
    r"""Column sketch-and-project on :math:`\min_x \|Ax - b\|` (see :func:`lstsq`)."""

    def init(self, problem, x0, rng):
        kind, A, b = problem.kind, problem.A, problem.b
        x = np.array(x0, dtype=float)
        r = (A @ x if kind != "operator" else A.matvec(x)) - b
        res = float(np.linalg.norm(A.T @ r if kind != "operator" else A.rmatvec(r)))
        norms_sq = None
        if self.sketch in ("rk", "block-rk") and (self.sampling == "rownorm" or (
                self.sketch == "rk" and kind == "dense")):
            norms_sq = column_norms_sq(kind, A)
        return _SketchState(x=x, fun=float(np.linalg.norm(r)), residual=res, rng=rng,
                            norms_sq=norms_sq, r=r, n_read=2 * A.shape[1],
                            flops=4.0 * _size(kind, A))

    def step(self, problem, s):
        kind, A = problem.kind, problem.A
        n = A.shape[1]
        if self.sketch == "direct":
            out = direct_lstsq(kind, A, problem.b, problem.thresh)
            s.x = out.x
            s.r = (A @ s.x if kind != "operator" else A.matvec(s.x)) - problem.b
            s.finished = True
        else:
            chunk = self._chunk(n)
            out = run_column_pass(kind, A, problem.b, s.x, s.r, self.sketch, self.sampling,
                                  self.block_size, problem.thresh, chunk, chunk, s.rng,
                                  s.residual, s.norms_sq)
            s.x = out.x
        s.residual = out.residual
        s.fun = float(np.linalg.norm(s.r))
        s.n_steps += out.n_steps
        s.flops += out.flops
        per_step = {"rk": 1, "block-rk": self.block_size}.get(self.sketch, n)
        s.n_read += out.n_steps * per_step + 2 * n
        return s


def _size(kind, A) -> int:
    return A.nnz if kind == "sparse" else A.shape[0] * A.shape[1]


def _prepare(A, b, x0, opts, *, axis):
    """Validated ``(system, solver options)`` of :func:`solve` (``axis=0``) or :func:`lstsq`."""
    kind, A = as_operator(A)
    length = A.shape[axis]
    b = as_real_array(b, "b").astype(float)
    if b.shape != (A.shape[0],):
        raise ValueError(f"b must have shape ({A.shape[0]},) (one entry per row of A), got "
                         f"{b.shape}")
    check_finite(b, "b")
    n = A.shape[1]
    if x0 is None:
        x = np.zeros(n)
    else:
        x = as_real_array(x0, "x0").astype(float)  # a copy: x0 is never modified
        if x.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},), got {x.shape}")
        check_finite(x, "x0")
    if opts["block_size"] > length:
        raise ValueError(f"block_size must be <= {length}, got {opts['block_size']}")
    if axis == 0:
        scale = float(np.linalg.norm(b))
    else:
        scale = float(np.linalg.norm(A.T @ b if kind != "operator" else A.rmatvec(b)))
    return _System(kind, A, b, x, opts["tol"] * scale)


def _run(solver, system, opts, callback, method, result_type=SketchResult):
    return run(solver, system, maxiter=opts["maxiter"], rng=check_rng(opts["rng"]),
               callback=callback, method=method, maxfev=opts["maxfev"],
               max_time=opts["max_time"], result_type=result_type)


def solve(A, b, *, sketch="rk", sampling="uniform", block_size=1, x0=None, tol=1e-10,
          maxiter=1000, check_every=None, rng=None, callback: Callable | None = None,
          maxfev=None, max_time=None) -> SketchResult:
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
        Stop when :math:`\|Ax - b\| \le \mathrm{tol}\,\|b\|` (status 0).
    maxiter : int
        Iterations of ``check_every`` steps each (status 1 when spent).
    check_every : int, optional
        Sketch steps per iteration, i.e. between two full-residual computations (default
        ``N``; MINRES iterations per restart for ``"minres"``).
    rng : None, int or numpy.random.Generator
        The sketches' randomness; the same value gives the same result.
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration; ``StopIteration`` ends the
        run (status 99).
    maxfev : int, optional
        Budget of rows of :math:`A` read (status 6).
    max_time : float, optional
        Wall-time budget in seconds (status 9).

    Returns
    -------
    SketchResult
        ``fun`` and ``residual`` are :math:`\|Ax - b\|`.

    Raises
    ------
    SingularMatrixError
        ``sketch="direct"`` on an exactly singular ``A``.
    """
    opts = resolve_options(SOLVE_OPTIONS, dict(
        sketch=sketch, sampling=sampling, block_size=block_size, tol=tol, maxiter=maxiter,
        check_every=check_every, rng=rng, maxfev=maxfev, max_time=max_time),
        owner="optkit.constrained.sketch.solve")
    system = _prepare(A, b, x0, opts, axis=0)
    solver = SketchSolve(sketch=opts["sketch"], sampling=opts["sampling"],
                         block_size=opts["block_size"], check_every=opts["check_every"])
    return _run(solver, system, opts, callback, f"sketch.solve[{opts['sketch']}]")


def lstsq(A, b, *, sketch="rk", sampling="uniform", block_size=1, x0=None, tol=1e-10,
          maxiter=1000, check_every=None, rng=None, callback: Callable | None = None,
          maxfev=None, max_time=None) -> SketchResult:
    r"""Solve :math:`\min_x \|Ax - b\|_2` by column sketch-and-project.

    Each step minimizes :math:`\|Ax - b\|` over :math:`x + \mathrm{range}(S)`:

    .. math::
        x \leftarrow x - S\,(AS)^\dagger (Ax - b),

    which for ``sketch="rk"`` is randomized coordinate descent
    :math:`x_j \leftarrow x_j - a_j^\top (Ax - b)/\|a_j\|^2` (Leventhal & Lewis,
    Math. Oper. Res. 35(3), 2010; ``sampling="rownorm"``
    samples column :math:`j` with probability :math:`\propto \|a_j\|^2`). With full
    column rank the iterates converge to ``numpy.linalg.lstsq``'s solution.

    Parameters
    ----------
    A : (N, n) array, scipy.sparse matrix or LinearOperator
    b : (N,) array
    sketch : str
        ``"rk"``, ``"block-rk"`` (``block_size`` distinct columns), ``"gaussian"``,
        ``"block-gaussian"``, or ``"direct"`` (``numpy.linalg.lstsq``).
    sampling, block_size, x0, maxiter, rng, callback, max_time
        As in :func:`solve` (columns instead of rows).
    tol : float
        Stop when :math:`\|A^\top(Ax - b)\| \le \mathrm{tol}\,\|A^\top b\|` (status 0).
    check_every : int, optional
        Sketch steps per iteration (default ``n``).
    maxfev : int, optional
        Budget of columns of :math:`A` read (status 6).

    Returns
    -------
    SketchResult
        ``fun`` is :math:`\|Ax - b\|`, ``residual`` is :math:`\|A^\top(Ax - b)\|`.
    """
    opts = resolve_options(LSTSQ_OPTIONS, dict(
        sketch=sketch, sampling=sampling, block_size=block_size, tol=tol, maxiter=maxiter,
        check_every=check_every, rng=rng, maxfev=maxfev, max_time=max_time),
        owner="optkit.constrained.sketch.lstsq")
    system = _prepare(A, b, x0, opts, axis=1)
    solver = SketchLstsq(sketch=opts["sketch"], sampling=opts["sampling"],
                         block_size=opts["block_size"], check_every=opts["check_every"])
    return _run(solver, system, opts, callback, f"sketch.lstsq[{opts['sketch']}]")
