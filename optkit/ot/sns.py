r"""Sinkhorn–Newton–Sparse (SNS) for entropic OT.

Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil, Xiao, Ying, *Accelerating Sinkhorn
Algorithm with Sparse Newton Iterations*, ICLR 2024 (arXiv 2401.12253), Algorithm 1, with the
reduced variables, Levenberg shift and Schur complement of RegOT (yixuan/regot-python), and
Sinkhorn fallback sweeps when a Newton step is rejected or progress stalls (:class:`SNSSolver`).

Newton step on the concave dual :math:`D(f, g)` (module :mod:`optkit.ot.sinkhorn`):

.. math::

    \nabla_f D = a - P1,\quad \nabla_g D = b - P^\top 1,\quad
    H = -\nabla^2 D = \tfrac{1}{\varepsilon}
        \begin{pmatrix} \mathrm{diag}(P1) & P \\ P^\top & \mathrm{diag}(P^\top 1)\end{pmatrix}.

With :math:`j_0 = \arg\max_j b_j` fixed (:math:`\Delta g_{j_0} = 0`, no null space),
:math:`h_1 = P1/\varepsilon`, :math:`h_2 = P^\top 1/\varepsilon` from the full plan and
:math:`\Sigma = P_K/\varepsilon` on a kept set :math:`K` (column :math:`j_0` excluded), the
direction solves :math:`(H_s + \tau I)\Delta = \nabla D`, :math:`\tau = \min(\|\nabla D\|_2,
10^{-3})`, through the Schur complement (on the smaller side; for :math:`m \le n`)

.. math::

    \big(\mathrm{diag}(h_2+\tau) - \Sigma^\top \mathrm{diag}(h_1+\tau)^{-1}\Sigma\big)\Delta g
        = \nabla_g D - \Sigma^\top \frac{\nabla_f D}{h_1 + \tau},\qquad
    \Delta f = \frac{\nabla_f D - \Sigma\Delta g}{h_1 + \tau},

by Jacobi-preconditioned CG (relative tolerance :math:`\min(0.1, \sqrt{\mathrm{err}})`, at
most 500 iterations, from 0). :math:`K` is the union of the :math:`\lceil\kappa\max(n, m)
\rceil` largest entries of :math:`P` and every row and column maximum. The step
:math:`z \leftarrow z + \alpha\Delta`, :math:`\alpha = \alpha_0 2^{-t}`, :math:`t = 0..5`,
:math:`\alpha_0 = \min(1, 64\varepsilon/\|\Delta\|_\infty)` (no trial changes a
:math:`\log P_{ij}` by more than 128, so far from the optimum trials stay finite), is the first
finite trial with (A) :math:`D(z + \alpha\Delta) \ge D(z) + 10^{-4}\alpha\nabla D^\top\Delta`
when that increase exceeds :math:`64u\max(1, |D|)`, otherwise (B) :math:`\mathrm{err}(z +
\alpha\Delta) \le \mathrm{err}(z)`.

As a core solver (:func:`optkit.core.run`) one iteration is one Sinkhorn sweep or one Newton
step (the paper's count); the schedule (initial, fallback and polish sweeps, the adaptive
:math:`\kappa`, the stall history) is run state and lives in :class:`SNSState`. SNS drives
its kernels from the host (numpy potentials; on torch input the passes over ``C`` run on its
device and return host vectors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optkit.core.cg import pcg
from optkit.core.linesearch import backtracking

from .log_sinkhorn import row_pass, sweep
from .problem import OTProblem, err_and_dual, final_fields

__all__ = ["SNSSolver", "SNSState"]

_TAU_MAX = 1e-3
_CG_MAXITER = 500
_ARMIJO = 1e-4
_TRIALS = 6
_MAX_LOG_CHANGE = 128.0  # first trial changes no log P_ij by more than this
_U = np.finfo(np.float64).eps


def _direction(problem, f, g, stats, j0, k, err):
    """Newton direction ``(df, dg)`` (``dg[j0] = 0``), CG iterations, |K| and the slope."""
    from ._numba_kernels import matvec, transpose

    a, b, eps = problem.a, problem.b, problem.eps
    n, m = a.size, b.size
    gf = a - stats[0]
    gg = b - stats[1]
    gg[j0] = 0.0
    tau = min(math.sqrt(float(gf @ gf + gg @ gg)), _TAU_MAX)
    d1 = stats[0] / eps + tau
    d2 = stats[1] / eps + tau
    csr = problem.kern.select(f, g, problem.inv_eps, j0, k, stats[0])
    csc = transpose(csr, m)
    rtol = min(0.1, math.sqrt(err))
    if m <= n:
        inv1 = 1.0 / d1
        diag = d2 - matvec((csc[0], csc[1], csc[2] ** 2), inv1)
        diag[j0] = 1.0
        cg = pcg(lambda w: d2 * w - matvec(csc, matvec(csr, w) * inv1),
                 gg - matvec(csc, gf * inv1), precond=diag, rtol=rtol, maxiter=_CG_MAXITER)
        dg = cg.x
        df = (gf - matvec(csr, dg)) * inv1
    else:
        inv2 = 1.0 / d2
        inv2[j0] = 0.0
        diag = d1 - matvec((csr[0], csr[1], csr[2] ** 2), inv2)
        cg = pcg(lambda v: d1 * v - matvec(csr, matvec(csc, v) * inv2),
                 gf - matvec(csr, gg * inv2), precond=diag, rtol=rtol, maxiter=_CG_MAXITER)
        df = cg.x
        dg = (gg - matvec(csc, df)) * inv2
    dg[j0] = 0.0
    return df, dg, cg.nit, int(csr[0][-1]), float(gf @ df + gg @ dg)


@dataclass
class SNSState:
    """Potentials, the current error and dual, the schedule and the counters.

    ``L`` is the row pass of ``g`` (after a sweep) and ``stats`` the plan statistics of
    ``(f, g)`` (after a Newton step), each None when not known; ``checked`` says whether
    ``err`` is the marginal error of ``(f, g)``.
    """

    f: Any
    g: Any
    fun: float
    err: float
    kappa: float
    sweeps_left: int
    output: Any
    L: Any = None
    stats: Any = None
    checked: bool = False
    history: list = field(default_factory=list)
    stalls: int = 0
    sinkhorn_only: bool = False
    polishing: bool = False
    n_sinkhorn: int = 0
    n_newton: int = 0
    n_cg: int = 0
    n_pass: int = 0
    last: dict = field(default_factory=lambda: {"kind": "init"})

    @property
    def x(self):
        return self.output(np.concatenate([self.f, self.g]))

    def counts(self) -> dict:
        return {"n_value": self.n_pass}

    def trace_extra(self) -> dict:
        return {"err": self.err if self.checked else math.nan, **self.last}


class SNSSolver:
    r"""Sinkhorn–Newton–Sparse (Tang et al., ICLR 2024, Algorithm 1) as a core solver.

    ::

        n_init Sinkhorn sweeps
        each iteration until err <= tol:
            K, h1, h2, tau -> PCG -> Delta -> line search (A)/(B)
            nothing accepted or non-finite: n_fallback sweeps, kappa <- 2 kappa
            accepted: adapt kappa (q = err_new/err_old: x2 if alpha < 1 or q > 0.5,
                      x0.9 if q < 0.1, within [2, ceil(m/4)]); with polish and err > 1e-6,
                      one sweep
            best err of the last 5 steps > 0.5 x best before: n_fallback sweeps,
                      kappa <- 2 kappa (after max_stalls stalls: Sinkhorn only)

    Parameters
    ----------
    n_init, kappa, adaptive, polish, n_fallback, max_stalls
        See :func:`optkit.ot.sinkhorn`'s ``options``.
    """

    def __init__(self, *, n_init=20, kappa=10.0, adaptive=True, polish=True, n_fallback=20,
                 max_stalls=20):
        self.n_init, self.kappa, self.adaptive, self.polish = n_init, kappa, adaptive, polish
        self.n_fallback, self.max_stalls = n_fallback, max_stalls

    def init(self, problem: OTProblem, x0, rng=None) -> SNSState:
        f, g = x0
        k_max = max(2.0, float(math.ceil(problem.b.size / 4)))
        output = problem.output or (lambda v: v)
        state = SNSState(f, g, math.nan, math.nan, min(float(self.kappa), k_max), self.n_init,
                         output)
        if self.n_init > 0:
            state.L, _, dual = row_pass(problem, f, g)
            state.fun = float(dual)
        else:
            self._refresh(problem, state)
            state.history = [state.err]
        state.n_pass = 1
        return state

    def _refresh(self, problem, state):
        """Plan statistics of the current potentials (one pass)."""
        state.stats = problem.kern.stats(state.f, state.g, problem.inv_eps)
        err, dual = err_and_dual(problem, state.f, state.g, state.stats)
        state.err, state.fun, state.checked = float(err), float(dual), True
        state.n_pass += 1

    def _sweep(self, problem, state, kind="sinkhorn"):
        if state.L is None:
            state.L, _, _ = row_pass(problem, state.f, state.g)
            state.n_pass += 1
        state.f, state.g, state.L, _, dual, err = sweep(problem, state.f, state.g, state.L)
        state.fun, state.err, state.checked, state.stats = float(dual), float(err), True, None
        state.n_sinkhorn += 1
        state.n_pass += 2
        state.last = {"kind": kind}
        if state.polishing:
            state.polishing = False
            state.history.append(state.err)
        elif state.sweeps_left > 0:
            state.sweeps_left -= 1
            if state.sweeps_left == 0:
                state.history = [state.err]
        return state

    def _fallback(self, problem, state, k_max):
        """``n_fallback`` sweeps (the first one now) and a doubled ``kappa``."""
        state.kappa = min(2.0 * state.kappa, k_max)
        if self.n_fallback == 0:
            if state.stats is None:
                self._refresh(problem, state)
            state.history = [state.err]
            state.last = {"kind": "rejected"}
            return state
        state.sweeps_left = self.n_fallback
        return self._sweep(problem, state)

    def step(self, problem: OTProblem, state: SNSState) -> SNSState:
        if state.sinkhorn_only or state.sweeps_left > 0 or state.polishing:
            return self._sweep(problem, state)
        k_max = max(2.0, float(math.ceil(problem.b.size / 4)))
        h = state.history
        if len(h) > 5 and min(h[-5:]) > 0.5 * min(h[:-5]) and state.err > problem.tol:
            state.stalls += 1
            if state.stalls >= self.max_stalls:
                state.sinkhorn_only = True
                return self._sweep(problem, state)
            return self._fallback(problem, state, k_max)
        if state.stats is None:
            self._refresh(problem, state)
        return self._newton(problem, state, k_max)

    def _newton(self, problem, state, k_max):
        f, g, err, dual = state.f, state.g, state.err, state.fun
        n, m = problem.a.size, problem.b.size
        j0 = int(np.argmax(problem.b))
        df, dg, n_cg, nnz, slope = _direction(problem, f, g, state.stats, j0,
                                              math.ceil(state.kappa * max(n, m)), err)
        state.n_cg += n_cg
        state.n_pass += 2  # top-k histogram and sparse rows
        if not (math.isfinite(slope) and slope > 0):
            return self._fallback(problem, state, k_max)

        def trial(alpha):
            fn, gn = f + alpha * df, g + alpha * dg
            st = problem.kern.stats(fn, gn, problem.inv_eps)
            state.n_pass += 1
            if not (np.isfinite(st[2]) and np.isfinite(st[3])):
                return math.inf, 0.0, None
            err_n, dual_n = (float(v) for v in err_and_dual(problem, fn, gn, st))
            gain = _ARMIJO * alpha * slope
            payload = (alpha, fn, gn, st, dual_n, err_n)
            if gain > 64 * _U * max(1.0, abs(dual)):
                return dual - dual_n, -gain / _ARMIJO, payload   # (A): D_n >= D + gain
            return err_n - err, 0.0, payload                     # (B): err_n <= err

        step = max(float(np.abs(df).max()), float(np.abs(dg).max()))
        ls = backtracking(trial, 0.0, step=min(1.0, _MAX_LOG_CHANGE * problem.eps / (2.0 * step)),
                          c1=_ARMIJO, shrink=0.5, max_backtracks=_TRIALS - 1)
        if not ls.success:
            return self._fallback(problem, state, k_max)
        alpha, state.f, state.g, state.stats, state.fun, err_n = ls.payload
        state.L, state.err, state.checked = None, err_n, True
        state.n_newton += 1
        state.last = {"kind": "newton", "alpha": alpha, "kappa": state.kappa, "nnz": nnz,
                      "n_cg": n_cg}
        if self.adaptive:
            q = err_n / err
            if alpha < 1 or q > 0.5:
                state.kappa = min(2.0 * state.kappa, k_max)
            elif q < 0.1:
                state.kappa = max(0.9 * state.kappa, 2.0)
        if self.polish and 1e-6 < err_n and err_n > problem.tol:
            state.polishing = True
        else:
            state.history.append(err_n)
        return state

    def terminate(self, problem: OTProblem, state: SNSState):
        if state.checked and state.err <= problem.tol:
            return True, 0, f"converged: marginal error {state.err:.3e} <= tol {problem.tol:.1e}"
        return False, 0, ""

    def result(self, problem: OTProblem, state: SNSState) -> dict:
        state.n_pass += 1  # the final plan statistics
        return {**final_fields(problem, state.f, state.g), "f": state.f, "g": state.g,
                "n_sinkhorn": state.n_sinkhorn, "n_newton": state.n_newton, "n_cg": state.n_cg}
