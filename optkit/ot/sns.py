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
:math:`\kappa`, the stall history) is run state and lives in :class:`SNSState`.

The state lives in the problem's namespace. numpy input runs the numba kernels with a CSR/CSC
Hessian and the CG compiled whole (:meth:`~optkit.ot._numba_kernels.HostSparse.schur_cg`: the
recursion and stopping rule of :func:`optkit.core.cg.pcg`, one fused pass over the block per
product). torch input stays on the cost's device:
potentials, plan statistics, the sparsified Hessian (a fixed-size COO block,
:class:`~optkit.ot._torch_kernels.DeviceSparse`), the CG (:func:`optkit.core.cg.pcg` with
``sync=False``: at most ``cg_cap`` iterations, converged systems frozen on the device, the cap
twice the previous step's count, at least 20, at most 500) and the line search, whose six
trials are evaluated together in one pass over ``C`` and tested on the device
(:func:`_device_line_search`). The host reads one small vector per Newton step (accepted trial,
error, dual, step, slope, CG count); Sinkhorn sweeps are read only at the run loop's checks
(``check_every``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optkit.core.backend import is_torch_tensor
from optkit.core.cg import pcg
from optkit.core.linesearch import backtracking

from .log_sinkhorn import row_pass, sweep
from .problem import OTProblem, err_and_dual, final_fields

__all__ = ["SNSSolver", "SNSState"]

_TAU_MAX = 1e-3
_CG_MAXITER = 500
_CG_MIN_CAP = 20
_ARMIJO = 1e-4
_TRIALS = 6
_MAX_LOG_CHANGE = 128.0  # first trial changes no log P_ij by more than this
_U = np.finfo(np.float64).eps


def _clip_above(x, bound):
    """``min(x, bound)`` for a 0-d array of either backend (no host read)."""
    return x.clamp(max=bound) if is_torch_tensor(x) else np.minimum(x, bound)


def _read(*values):
    """Host floats of 0-d arrays; one transfer for device tensors."""
    if any(is_torch_tensor(v) for v in values):
        import torch

        like = next(v for v in values if is_torch_tensor(v))
        return torch.stack([torch.as_tensor(v, dtype=torch.float64, device=like.device)
                            .reshape(()) for v in values]).tolist()
    return [float(v) for v in values]


def _schur_cg(sig, d, weights, rhs, diag, rtol, maxiter, sync, transpose):
    r"""Jacobi PCG on the Schur complement :math:`(\mathrm{diag}(d) - \Sigma^\top D\Sigma)x =`
    ``rhs`` (:math:`\Sigma D \Sigma^\top` with ``transpose``), ``D = diag(weights)``: a host
    block's compiled solver when it offers one (numpy input), else :func:`pcg` on the products
    (``sync=False`` on a device)."""
    if sync and hasattr(sig, "schur_cg"):
        return sig.schur_cg(d, weights, rhs, diag, rtol, maxiter, transpose)
    if transpose:
        def op(v):
            return d * v - sig.matvec(sig.rmatvec(v) * weights)
    else:
        def op(v):
            return d * v - sig.rmatvec(sig.matvec(v) * weights)
    return pcg(op, rhs, precond=diag, rtol=rtol, maxiter=maxiter, sync=sync)


def _direction(problem, f, g, stats, free, k, rtol, cg_cap):
    r"""Newton direction ``(df, dg)`` (``dg[j0] = 0``), the CG result, the sparse block and the
    slope :math:`\nabla D^\top \Delta` (arrays of the problem's namespace)."""
    xp, a, b, eps = problem.xp, problem.a, problem.b, problem.eps
    n, m = a.shape[0], b.shape[0]
    gf = a - stats[0]
    gg = (b - stats[1]) * free
    tau = _clip_above(xp.sqrt(xp.sum(gf * gf) + xp.sum(gg * gg)), _TAU_MAX)
    d1 = stats[0] / eps + tau
    d2 = stats[1] / eps + tau
    sig = problem.kern.select(f, g, problem.inv_eps, problem.j0, k, stats[0])
    sync = not problem.device_resident
    maxiter = _CG_MAXITER if sync else cg_cap
    if m <= n:
        inv1 = 1.0 / d1
        diag = xp.where(free > 0, d2 - sig.rmatvec(inv1, squared=True), 1.0)
        cg = _schur_cg(sig, d2, inv1, gg - sig.rmatvec(gf * inv1), diag, rtol, maxiter, sync,
                       False)
        dg = cg.x
        df = (gf - sig.matvec(dg)) * inv1
    else:
        inv2 = free / d2
        diag = d1 - sig.matvec(inv2, squared=True)
        cg = _schur_cg(sig, d1, inv2, gf - sig.matvec(gg * inv2), diag, rtol, maxiter, sync,
                       True)
        df = cg.x
        dg = (gg - sig.rmatvec(df)) * inv2
    dg = dg * free
    return df, dg, cg, sig, xp.sum(gf * df) + xp.sum(gg * dg)


def _device_line_search(problem, f, g, df, dg, alpha0, slope, err, dual, cg, sig, known):
    r"""The backtracking search of :meth:`SNSSolver._newton` with every trial on the device
    and **one host read per Newton step**.

    The ``_TRIALS`` steps :math:`\alpha_t = \alpha_0 2^{-t}` are evaluated together in one
    pass over ``C`` (:meth:`~optkit.ot._torch_kernels.TorchKernels.stats_many`: one cost read,
    ``_TRIALS`` exponentials per entry), each trial's test is the sequential one --
    (A) :math:`D(z + \alpha_t\Delta) \ge D(z) + c_1\alpha_t\nabla D^\top\Delta` when that
    gain exceeds the rounding of :math:`D`, else (B) the marginal error does not grow, with a
    finite plan -- and the first accepted trial is picked on the device. The host then reads
    one vector: the accepted index, its error, dual and step, the slope, the CG count and the
    Hessian's size. The accepted step, and ``ntrials`` (the trials up to it), are those of the
    sequential search. On a GPU the extra exponentials are hidden by the memory-bound cost
    read; on CPU tensors a Newton step costs up to ``_TRIALS`` times more exponentials.
    """
    import torch

    from optkit.core.linesearch import LineSearchResult

    alphas = alpha0 * torch.pow(torch.full((_TRIALS,), 0.5, dtype=torch.float64,
                                           device=f.device),
                                torch.arange(_TRIALS, dtype=torch.float64, device=f.device))
    F = f[None, :] + alphas[:, None] * df[None, :]
    G = g[None, :] + alphas[:, None] * dg[None, :]
    rows, cols, total, cost = problem.kern.stats_many(F, G, problem.inv_eps)
    err_t = ((rows - problem.a).abs().sum(dim=1) + (cols - problem.b).abs().sum(dim=1)) \
        / problem.sum_a
    dual_t = (F * problem.a).sum(dim=1) + (G * problem.b).sum(dim=1) - problem.eps * total
    gain = _ARMIJO * alphas * slope
    finite_plan = torch.isfinite(total) & torch.isfinite(cost)
    armijo = gain > 64 * _U * max(1.0, abs(dual))
    value = torch.where(armijo, dual - dual_t, err_t - err)
    bound = torch.where(armijo, _ARMIJO * (-gain / _ARMIJO), torch.zeros_like(gain))
    accepted = finite_plan & torch.isfinite(value) & (value <= bound)
    first = torch.argmax(accepted.to(torch.int64))
    values = torch.stack([accepted.any().to(torch.float64), first.to(torch.float64),
                          err_t[first], dual_t[first], alphas[first], slope.reshape(()),
                          torch.as_tensor(cg.nit, dtype=torch.float64, device=f.device),
                          sig.nnz.to(torch.float64)]).tolist()
    any_ok, first, err_n, dual_n, alpha, slope_h, n_cg, nnz = values
    known.update(n_cg=int(n_cg), nnz=int(nnz))
    if not (math.isfinite(slope_h) and slope_h > 0):
        return LineSearchResult(False, 1.0, 0.0, None, 0, moved=False)  # not an ascent direction
    if not any_ok:
        return LineSearchResult(False, 0.5 ** _TRIALS, 0.0, None, _TRIALS)
    t = int(first)
    payload = (alpha, F[t], G[t], (rows[t], cols[t], total[t], cost[t]), dual_n, err_n)
    return LineSearchResult(True, 0.5 ** t, dual - dual_n, payload, t + 1)


@dataclass
class SNSState:
    """Potentials, the current error and dual, the schedule and the counters.

    ``L`` is the row pass of ``g`` (after a sweep) and ``stats`` the plan statistics of
    ``(f, g)`` (after a Newton step), each None when not known; ``checked`` says whether
    ``err`` is the marginal error of ``(f, g)``. On a device, ``err`` and ``fun`` may be 0-d
    tensors until read (:meth:`read`, one transfer for both); ``pending`` says that the
    current error still has to enter the stall history.
    """

    f: Any
    g: Any
    err_value: Any
    fun_value: Any
    kappa: float
    sweeps_left: int
    xp: Any
    L: Any = None
    stats: Any = None
    checked: bool = False
    pending: bool = False
    history: list = field(default_factory=list)
    stalls: int = 0
    sinkhorn_only: bool = False
    polishing: bool = False
    cg_cap: int = _CG_MIN_CAP
    n_sinkhorn: int = 0
    n_newton: int = 0
    n_cg: int = 0
    n_trials: int = 0
    n_pass: int = 0
    last: dict = field(default_factory=lambda: {"kind": "init"})

    def read(self):
        """``(err, fun)`` as host floats (one transfer when either is a device tensor)."""
        if not isinstance(self.err_value, float) or not isinstance(self.fun_value, float):
            self.err_value, self.fun_value = _read(self.err_value, self.fun_value)
        return self.err_value, self.fun_value

    @property
    def err(self) -> float:
        return self.read()[0]

    @property
    def fun(self) -> float:
        return self.read()[1]

    @property
    def x(self):
        return self.xp.concat([self.f, self.g])

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
        k_max = max(2.0, float(math.ceil(problem.b.shape[0] / 4)))
        state = SNSState(f, g, math.nan, math.nan, min(float(self.kappa), k_max), self.n_init,
                         problem.xp)
        if self.n_init > 0:
            state.L, _, state.fun_value = row_pass(problem, f, g)
        else:
            self._refresh(problem, state)
            state.pending = True
        state.n_pass = 1
        return state

    def _refresh(self, problem, state):
        """Plan statistics of the current potentials (one pass). On a device, an error and dual
        already known for these potentials (from the sweep's row pass) are kept: no new read."""
        state.stats = problem.kern.stats(state.f, state.g, problem.inv_eps)
        if not (problem.device_resident and state.checked):
            state.err_value, state.fun_value = err_and_dual(problem, state.f, state.g,
                                                            state.stats)
        state.checked = True
        state.n_pass += 1

    def _sweep(self, problem, state, kind="sinkhorn"):
        if state.L is None:
            state.L, _, _ = row_pass(problem, state.f, state.g)
            state.n_pass += 1
        state.f, state.g, state.L, _, state.fun_value, state.err_value = sweep(
            problem, state.f, state.g, state.L)
        state.checked, state.stats = True, None
        state.n_sinkhorn += 1
        state.n_pass += 2
        state.last = {"kind": kind}
        if state.polishing:
            state.polishing = False
            state.pending = True
        elif state.sweeps_left > 0:
            state.sweeps_left -= 1
            if state.sweeps_left == 0:
                state.history, state.pending = [], True
        return state

    def _fallback(self, problem, state, k_max):
        """``n_fallback`` sweeps (the first one now) and a doubled ``kappa``."""
        state.kappa = min(2.0 * state.kappa, k_max)
        if self.n_fallback == 0:
            if state.stats is None:
                self._refresh(problem, state)
            state.history, state.pending = [], True
            state.last = {"kind": "rejected"}
            return state
        state.sweeps_left = self.n_fallback
        return self._sweep(problem, state)

    def step(self, problem: OTProblem, state: SNSState) -> SNSState:
        if state.sinkhorn_only or state.sweeps_left > 0 or state.polishing:
            return self._sweep(problem, state)
        if state.pending:
            state.history.append(state.err)
            state.pending = False
        k_max = max(2.0, float(math.ceil(problem.b.shape[0] / 4)))
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
        xp = problem.xp
        f, g, (err, dual) = state.f, state.g, state.read()
        n, m = problem.a.shape[0], problem.b.shape[0]
        df, dg, cg, sig, slope = _direction(
            problem, f, g, state.stats, problem.free, math.ceil(state.kappa * max(n, m)),
            min(0.1, math.sqrt(err)), state.cg_cap)
        state.n_pass += sig.passes
        step = xp.maximum(xp.max(xp.abs(df)), xp.max(xp.abs(dg)))
        alpha0 = _clip_above(0.5 * _MAX_LOG_CHANGE * problem.eps / step, 1.0)
        known = {}

        def trial(t):
            alpha = alpha0 * t
            fn, gn = f + alpha * df, g + alpha * dg
            st = problem.kern.stats(fn, gn, problem.inv_eps)
            state.n_pass += 1
            err_n, dual_n = err_and_dual(problem, fn, gn, st)
            values = _read(err_n, dual_n, st[2], st[3], alpha, slope, cg.nit, sig.nnz)
            err_n, dual_n, total, cost, alpha, slope_h, n_cg, nnz = values
            known.setdefault("n_cg", int(n_cg))
            known.setdefault("nnz", int(nnz))
            if not (math.isfinite(slope_h) and slope_h > 0):
                return None                                      # not an ascent direction
            if not (math.isfinite(total) and math.isfinite(cost)):
                return math.inf, 0.0, None
            gain = _ARMIJO * alpha * slope_h
            payload = (alpha, fn, gn, st, dual_n, err_n)
            if gain > 64 * _U * max(1.0, abs(dual)):
                return dual - dual_n, -gain / _ARMIJO, payload   # (A): D_n >= D + gain
            return err_n - err, 0.0, payload                     # (B): err_n <= err

        if problem.device_resident and hasattr(problem.kern, "stats_many"):
            ls = _device_line_search(problem, f, g, df, dg, alpha0, slope, err, dual, cg, sig,
                                     known)
            state.n_pass += 1
        else:
            ls = backtracking(trial, 0.0, step=1.0, c1=_ARMIJO, shrink=0.5,
                              max_backtracks=_TRIALS - 1)
        n_cg = known.get("n_cg", 0)
        state.n_cg += n_cg
        state.n_trials += ls.ntrials
        state.cg_cap = min(_CG_MAXITER, max(_CG_MIN_CAP, 2 * n_cg))
        if not ls.success:
            return self._fallback(problem, state, k_max)
        alpha, state.f, state.g, state.stats, state.fun_value, err_n = ls.payload
        state.L, state.err_value, state.checked = None, err_n, True
        state.n_newton += 1
        state.last = {"kind": "newton", "alpha": alpha, "kappa": state.kappa,
                      "nnz": known["nnz"], "n_cg": n_cg, "n_trials": ls.ntrials}
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
                "n_sinkhorn": state.n_sinkhorn, "n_newton": state.n_newton, "n_cg": state.n_cg,
                "n_trials": state.n_trials}
