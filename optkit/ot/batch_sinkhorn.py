r"""Log-domain Sinkhorn on a whole batch of problems as one tensor program.

``B`` problems with masses :math:`a^{(k)} \in \mathbb{R}^n_{>0}`, :math:`b^{(k)} \in
\mathbb{R}^m_{>0}` and costs :math:`C^{(k)}` (one ``(B, n, m)`` array, or one ``(n, m)`` cost
shared by every problem, as POT's several-``b`` form) are solved together: every sweep updates
all potentials at once,

.. math::

    f^{(k)}_i \leftarrow \varepsilon\big(\log a^{(k)}_i - L^{(k)}_i\big),\quad
    g^{(k)}_j \leftarrow \varepsilon\Big(\log b^{(k)}_j
        - \mathrm{LSE}_i\big((f^{(k)}_i - C^{(k)}_{ij})/\varepsilon\big)\Big),\quad
    L^{(k)}_i \leftarrow \mathrm{LSE}_j\big((g^{(k)}_j - C^{(k)}_{ij})/\varepsilon\big),

the log-domain Sinkhorn sweep of :mod:`optkit.ot.log_sinkhorn` (Cuturi, *Sinkhorn
Distances*, NeurIPS 2013; Peyré & Cuturi, *Computational Optimal Transport*, 2019, §4.4) on a
leading batch axis. On torch input (any device) a sweep is two batched reductions
(log-sum-exp over the last, then the middle axis) whatever ``B`` is, so a GPU sees a few large
kernels instead of ``B`` small ones (the batched form of GeomLoss's tensorized Sinkhorn: Feydy
et al., *Interpolating between Optimal Transport and MMD using Sinkhorn Divergences*,
AISTATS 2019); on numpy input one compiled numba kernel (:func:`_batch_sweep`) sweeps every
active problem, the problems in parallel.

**Per-problem stopping.** Problem ``k`` is *active* while its L1 marginal error
:math:`\|P^{(k)}1 - a^{(k)}\|_1/\sum a^{(k)} > \mathrm{tol}`; the mask is updated on the
device after every sweep and a problem that is no longer active keeps its potentials (the
sweep's new values are discarded by ``where``), so its result is the iterate at which it
converged, and its ``nit`` counts its own sweeps. The host reads the error and dual vectors
once per ``check_every`` sweeps (one transfer) and stops when no problem is active or a
budget is spent (then the unconverged problems get that status). Once a quarter of the
problems a torch sweep computes are seen converged at a check, the sweeps gather the active
problems' costs and compute only those (the numba kernel skips converged problems anyway).

Differences from solving the problems one after another (:func:`optkit.ot.batch.solve_batch`):
the same iterates up to rounding (potentials within 1e-12, the same sweep counts in the
tests), but every pass runs in float64 (a float32 cost is upcast; the default ``tol`` stays
the float32 one, so results agree with the per-problem solves to that tolerance), the stopping
test is exact per sweep even with ``check_every > 1``, and the batch holds ``B n m`` float64
temporaries per pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit, prange

from optkit.core.backend import device_of, is_torch_tensor, namespace, to_numpy
from optkit.core.result import MESSAGES, STATUS, Trace
from optkit.core.solver import run

from ._numba_kernels import _exp as vexp  # the vectorizable exp of the numba kernels
from .result import OTResult

__all__ = ["BatchProblem", "BatchSinkhornSolver", "BatchSinkhornState", "solve_vectorised"]


def _lse(Z, axis):
    """``log(sum(exp(Z), axis))`` with the maximum shifted out, overwriting ``Z`` (numpy or
    torch; in place, which on CPU is about twice as fast as ``torch.logsumexp``)."""
    xp = namespace(Z)
    top = xp.max(Z, axis=axis, keepdims=True)
    top = xp.where(xp.isfinite(top), top, xp.zeros_like(top))
    if is_torch_tensor(Z):
        Z.sub_(top).exp_()
    else:
        np.subtract(Z, top, out=Z)
        np.exp(Z, out=Z)
    return xp.log(xp.sum(Z, axis=axis)) + xp.squeeze(top, axis=axis)


def _shifted(u, C_scaled, inv):
    """``u * inv - C_scaled`` in one fresh buffer (``u`` broadcast against the scaled cost
    :math:`C/\varepsilon`): one pass over the batch."""
    if is_torch_tensor(C_scaled):
        import torch

        return torch.sub(u * inv, C_scaled)
    return np.subtract(u * inv, C_scaled)


def _scatter(full, index, part):
    """A copy of ``full`` with the rows ``index`` replaced by ``part``."""
    out = namespace(full).asarray(full, copy=True)
    out[index] = part
    return out


_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}  # keeps inf and NaN semantics


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _batch_sweep(C, f, g, L, log_a, log_b, a, b, eps, active, err, dual):
    r"""One log-domain Sinkhorn sweep of every active problem of a numpy batch, in place:
    problems in parallel (``prange``), each in fused passes over its cost (column maxima,
    column sums, then per row its maximum, sum, error and dual terms); an inactive problem is
    skipped and keeps its values. ``C`` is (B, n, m) or (1, n, m) (shared); ``err`` receives
    :math:`\|P1 - a\|_1` (not yet divided by :math:`\sum a`)."""
    size, n = f.shape
    m = g.shape[1]
    inv = 1.0 / eps
    for k in prange(size):
        if not active[k]:
            continue
        Ck = C[0] if C.shape[0] == 1 else C[k]
        for i in range(n):
            f[k, i] = eps * (log_a[k, i] - L[k, i])
        top = np.full(m, -np.inf)
        for i in range(n):
            for j in range(m):
                top[j] = max(top[j], (f[k, i] - Ck[i, j]) * inv)
        for j in range(m):
            if not np.isfinite(top[j]):
                top[j] = 0.0
        acc = np.zeros(m)
        for i in range(n):
            for j in range(m):
                acc[j] += vexp((f[k, i] - Ck[i, j]) * inv - top[j])
        for j in range(m):
            g[k, j] = eps * (log_b[k, j] - (top[j] + np.log(acc[j])))
        e, d = 0.0, 0.0
        for i in range(n):
            mx = -np.inf
            for j in range(m):
                mx = max(mx, (g[k, j] - Ck[i, j]) * inv)
            if not np.isfinite(mx):
                mx = 0.0
            total = 0.0
            for j in range(m):
                total += vexp((g[k, j] - Ck[i, j]) * inv - mx)
            L[k, i] = mx + np.log(total)
            row = np.exp(f[k, i] * inv + L[k, i])
            e += abs(row - a[k, i])
            d += a[k, i] * f[k, i] - eps * row
        for j in range(m):
            d += b[k, j] * g[k, j]
        err[k] = e
        dual[k] = d


@dataclass
class BatchProblem:
    """``B`` problems in one namespace: ``C`` (B, n, m) or a shared (n, m) cost, float64;
    ``a`` (B, n), ``b`` (B, m) positive float64 masses; ``eps``, ``tol``."""

    C: Any
    a: Any
    b: Any
    eps: float
    tol: float
    xp: Any = field(init=False)

    def __post_init__(self):
        self.xp = namespace(self.a)
        self.inv_eps = 1.0 / self.eps
        self.log_a, self.log_b = self.xp.log(self.a), self.xp.log(self.b)
        self.sum_a = self.xp.sum(self.a, axis=1)
        self.size = self.a.shape[0]
        x0 = self.xp.zeros((self.size, self.a.shape[1] + self.b.shape[1]), dtype=self.xp.float64,
                           device=device_of(self.a))
        self.x0 = (x0[:, :self.a.shape[1]], x0[:, self.a.shape[1]:])
        self.C_scaled = self.C * self.inv_eps  # C / eps, read by every batched pass
        self.sweep_kernel = None
        if not is_torch_tensor(self.C):
            self.sweep_kernel = _batch_sweep
            self.C3 = np.ascontiguousarray(self.C if self.C.ndim == 3 else self.C[None])

    def subset(self, work):
        """The sub-batch of the problems ``work`` (host indices; None: the whole batch), kept
        until the next call with another set (one gather of their costs)."""
        if work is None:
            return self
        key = tuple(work.tolist())
        if getattr(self, "_subset", (None,))[0] != key:
            w = self.xp.asarray(work, device=device_of(self.a))
            C = self.C if self.C.ndim == 2 else self.xp.take(self.C, w, axis=0)
            self._subset = (key, BatchProblem(C, self.xp.take(self.a, w, axis=0),
                                              self.xp.take(self.b, w, axis=0), self.eps,
                                              self.tol))
        return self._subset[1]

    def row_lse(self, g):
        r""":math:`L_i = \mathrm{LSE}_j((g_j - C_{ij})/\varepsilon)` per problem, (B, n)."""
        return _lse(_shifted(g[:, None, :], self.C_scaled, self.inv_eps), 2)

    def col_lse(self, f):
        r""":math:`\mathrm{LSE}_i((f_i - C_{ij})/\varepsilon)` per problem, (B, m)."""
        return _lse(_shifted(f[:, :, None], self.C_scaled, self.inv_eps), 1)

    def row_pass(self, f, g):
        """``(L, err, dual)`` of ``(f, g)``: the row LSE, the row error (the columns are
        exact after a sweep) and :math:`D(f, g)` per problem."""
        xp = self.xp
        L = self.row_lse(g)
        rows = xp.exp(f * self.inv_eps + L)
        err = xp.sum(xp.abs(rows - self.a), axis=1) / self.sum_a
        dual = (xp.sum(self.a * f, axis=1) + xp.sum(self.b * g, axis=1)
                - self.eps * xp.sum(rows, axis=1))
        return L, err, dual

    def plan(self, f, g):
        r""":math:`P^{(k)}_{ij} = e^{(f_i + g_j - C_{ij})/\varepsilon}`, (B, n, m)."""
        return self.xp.exp((f[:, :, None] + g[:, None, :] - self.C) * self.inv_eps)


@dataclass
class BatchSinkhornState:
    """Potentials (B, n), (B, m), the row LSE ``L``, per-problem error, dual, activity mask and
    sweep counts (device arrays); ``checks`` the host reads ``(sweeps, err, dual)``; ``work``
    the problems the torch sweeps compute (host indices, None: all)."""

    f: Any
    g: Any
    L: Any
    err_value: Any
    dual_value: Any
    active: Any
    nit_each: Any
    tol: float
    n_sweeps: int = 0
    host: tuple | None = None
    checks: list = field(default_factory=list)
    work: Any = None

    def read(self):
        """Host ``(err, dual)`` vectors of the current iterate: one transfer, cached."""
        if self.host is None:
            xp = namespace(self.err_value)
            both = to_numpy(xp.concat([self.err_value, self.dual_value]))
            size = both.shape[0] // 2
            self.host = (both[:size], both[size:])
            self.checks.append((self.n_sweeps, *self.host))
        return self.host

    @property
    def fun(self) -> float:
        """The sum of the duals (the run loop's finiteness check sees every problem)."""
        return float(np.sum(self.read()[1]))

    @property
    def x(self):
        return namespace(self.f).concat([self.f, self.g], axis=1)

    def counts(self) -> dict:
        return {"n_value": 2 + 2 * self.n_sweeps}

    def trace_extra(self) -> dict:
        err = self.read()[0]
        return {"err": float(np.max(err)) if self.n_sweeps else math.nan, "kind": "sinkhorn",
                "n_active": int(np.sum(~(err <= self.tol))) if self.n_sweeps else err.size}


class BatchSinkhornSolver:
    """Batched log-domain Sinkhorn on a :class:`BatchProblem` (module docstring), a core
    solver for :func:`optkit.core.run`."""

    def init(self, problem: BatchProblem, x0, rng=None) -> BatchSinkhornState:
        xp = problem.xp
        f, g = x0
        L, _, dual = problem.row_pass(f, g)
        err = xp.full_like(dual, math.nan)
        active = xp.ones(dual.shape, dtype=xp.bool, device=device_of(dual))
        nit = xp.zeros(dual.shape, dtype=xp.int64, device=device_of(dual))
        return BatchSinkhornState(f, g, L, err, dual, active, nit, problem.tol)

    def step(self, problem: BatchProblem, state: BatchSinkhornState) -> BatchSinkhornState:
        if problem.sweep_kernel is not None:
            return self._numba_step(problem, state)
        xp, eps, act = problem.xp, problem.eps, state.active
        work = self._work(problem, state)
        sub = problem.subset(work)
        if work is None:
            L_old = state.L
        else:
            w = xp.asarray(work, device=device_of(state.f))
            L_old = xp.take(state.L, w, axis=0)
        f = eps * (sub.log_a - L_old)
        g = eps * (sub.log_b - sub.col_lse(f))
        L, err, dual = sub.row_pass(f, g)
        new = {"f": f, "g": g, "L": L, "err_value": err, "dual_value": dual}
        old = {key: getattr(state, key) for key in new}

        def kept(mask, value, previous):  # a problem no longer active keeps its values
            return xp.where(mask[:, None] if value.ndim == 2 else mask, value, previous)

        if work is None:
            upd = {key: kept(act, value, old[key]) for key, value in new.items()}
        else:
            mask = xp.take(act, w, axis=0)
            upd = {key: _scatter(old[key], w, kept(mask, value, xp.take(old[key], w, axis=0)))
                   for key, value in new.items()}
        return BatchSinkhornState(
            upd["f"], upd["g"], upd["L"], upd["err_value"], upd["dual_value"],
            act & ~(upd["err_value"] <= problem.tol),  # a NaN error stays active
            state.nit_each + xp.astype(act, xp.int64), problem.tol, state.n_sweeps + 1,
            checks=state.checks, work=work)

    @staticmethod
    def _work(problem, state):
        """The problems a torch sweep computes: the whole batch until the host has seen a
        quarter of the current set converge (at a check), then only the active ones (their
        costs gathered once), so converged problems cost nothing."""
        work, host = state.work, state.host
        if host is None:
            return work
        live = np.flatnonzero(~(host[0] <= problem.tol))
        current = problem.size if work is None else work.size
        if 0 < live.size <= 0.75 * current:
            return live
        return work

    def _numba_step(self, problem, state):
        """The same sweep on numpy input by :func:`_numba_sweep`'s kernel (one compiled
        program over the batch; inactive problems are skipped, so they keep their values)."""
        f, g, L = state.f.copy(), state.g.copy(), state.L.copy()
        err, dual = state.err_value.copy(), state.dual_value.copy()
        problem.sweep_kernel(problem.C3, f, g, L, problem.log_a, problem.log_b, problem.a,
                             problem.b, problem.eps, state.active, err, dual)
        err[state.active] /= problem.sum_a[state.active]
        return BatchSinkhornState(f, g, L, err, dual, state.active & ~(err <= problem.tol),
                                  state.nit_each + state.active, problem.tol,
                                  state.n_sweeps + 1, checks=state.checks)

    def terminate(self, problem: BatchProblem, state: BatchSinkhornState):
        if state.n_sweeps == 0:
            return False, 0, ""
        err = state.read()[0]
        if bool(np.all(err <= problem.tol)):
            return True, 0, (f"converged: all {err.size} marginal errors <= tol "
                             f"{problem.tol:.1e} (largest {np.max(err):.3e})")
        return False, 0, ""

    def result(self, problem: BatchProblem, state: BatchSinkhornState) -> dict:
        xp = problem.xp
        P = problem.plan(state.f, state.g)
        rows, cols = xp.sum(P, axis=2), xp.sum(P, axis=1)
        err = (xp.sum(xp.abs(rows - problem.a), axis=1)
               + xp.sum(xp.abs(cols - problem.b), axis=1)) / problem.sum_a
        dual = (xp.sum(problem.a * state.f, axis=1) + xp.sum(problem.b * state.g, axis=1)
                - problem.eps * xp.sum(rows, axis=1))
        cost = xp.sum(xp.sum(problem.C * P, axis=2), axis=1)
        ent = xp.sum(rows * state.f, axis=1) + xp.sum(cols * state.g, axis=1)
        values = to_numpy(xp.stack([err, dual, cost, ent, xp.astype(state.nit_each, xp.float64),
                                    xp.astype(state.active, xp.float64)]))
        return {"plan_batch": P, "f": state.f, "g": state.g, "marginal_error": values[0],
                "dual": values[1], "cost": values[2], "ent_reg_cost": values[3],
                "nit_each": values[4].astype(np.int64), "converged": values[5] == 0,
                "checks": state.checks}


def solve_vectorised(a, b, C, C_graph, a_graph, b_graph, *, eps, tol, run_options, tracked):
    r"""Solve the batch ``(a (B, n), b (B, m), C)`` (float64, positive masses, validated) and
    return a :class:`~optkit.ot.batch.BatchOTResult`.

    ``C_graph``, ``a_graph``, ``b_graph`` are the caller's tensors (``a_graph``/``b_graph``
    (B, ·) float64, possibly expanded from shared masses) when ``tracked``: ``dual`` and
    ``ent_reg_cost`` then carry the envelope gradient (:class:`BatchEnvelopeValue`).
    """
    from .batch import BatchOTResult

    problem = BatchProblem(C, a, b, eps, tol)
    res = run(BatchSinkhornSolver(), problem, x0=problem.x0, method="sinkhorn",
              result_type=OTResult, **run_options)
    size = problem.size
    n = a.shape[1]
    nit = res.nit_each
    # a problem still active at the end has the run's status (a budget, a non-finite dual,
    # the callback); the run's status is 0 only when every problem converged
    status = np.where(res.converged, STATUS["success"], res.status)
    out = BatchOTResult()
    out.update(f=res.f, g=res.g, x=res.x, fun=res.dual.copy(), dual=res.dual,
               cost=res.cost, ent_reg_cost=res.ent_reg_cost, marginal_error=res.marginal_error,
               nit=nit, nfev=2 + 2 * nit, n_sinkhorn=nit.copy(), n_newton=np.zeros(size, int),
               n_cg=np.zeros(size, int), status=status, successes=status == STATUS["success"],
               reg=eps, vectorised=True, execution_time=res.execution_time)
    out["success"] = bool(out.successes.all())
    failed = np.flatnonzero(~out.successes)
    out["message"] = ("all problems converged" if failed.size == 0 else
                      f"problems {failed.tolist()} did not converge: {res.message}")
    plans = res.plan_batch
    out.set_plan(lambda: plans)
    out["results"] = [_one(res, k, n, status[k], plans, eps, out.execution_time)
                      for k in range(size)]
    if tracked:
        import torch

        from .autograd import BatchEnvelopeValue

        for key in ("dual", "ent_reg_cost"):
            values = torch.as_tensor(out[key], dtype=torch.float64, device=res.f.device)
            out[key] = BatchEnvelopeValue.apply(C_graph, a_graph, b_graph, values,
                                                res.f, res.g, eps)
        out["cost"] = torch.as_tensor(out["cost"], dtype=torch.float64, device=res.f.device)
    return out


def _one(res, k, n, status, plans, eps, elapsed) -> OTResult:
    """Problem ``k`` of a batch result as an :class:`OTResult` (its own trace of the checks
    made up to its last sweep)."""
    nit = int(res.nit_each[k])
    trace = Trace()
    for sweeps, err, dual in res.checks:
        if 0 < sweeps <= nit:
            trace.append(nit=sweeps, fun=float(dual[k]), err=float(err[k]), kind="sinkhorn")
    one = OTResult(x=res.x[k], fun=float(res.dual[k]))
    one.update(f=res.f[k], g=res.g[k], dual=float(res.dual[k]), cost=float(res.cost[k]),
               ent_reg_cost=float(res.ent_reg_cost[k]),
               marginal_error=float(res.marginal_error[k]), nit=nit, nfev=2 + 2 * nit,
               n_sinkhorn=nit, n_newton=0, n_cg=0, n_trials=0, status=int(status),
               success=int(status) == STATUS["success"],
               message=MESSAGES[int(status)],
               method="sinkhorn", trace=trace, reg=eps, execution_time=elapsed)
    one.set_plan(lambda: plans[k])
    return one
