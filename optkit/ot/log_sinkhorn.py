r"""Log-domain Sinkhorn as a core solver.

Cuturi, *Sinkhorn Distances*, NeurIPS 2013; Peyré & Cuturi, *Computational Optimal
Transport*, §4.4 (log-domain stabilization). One iteration is one sweep of exact block
maximizations of the dual :math:`D(f, g)` (module :mod:`optkit.ot.sinkhorn`):

.. math::

    f_i \leftarrow \varepsilon(\log a_i - L_i),\quad
    g_j \leftarrow \varepsilon\big(\log b_j - \mathrm{LSE}_i((f_i - C_{ij})/\varepsilon)\big),
    \quad L_i \leftarrow \mathrm{LSE}_j\big((g_j - C_{ij})/\varepsilon\big),

so :math:`D` never decreases. The columns of the plan are exact after a sweep and the row
pass :math:`L` that the next sweep needs also gives the row sums
:math:`e^{f_i/\varepsilon + L_i}`: the marginal error and :math:`D` of the current iterate
come free. The state lives in the problem's namespace: numpy arrays, or torch tensors on
the cost's device, read on the host only at the run loop's stopping checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optkit.core.backend import to_float

from .problem import OTProblem, final_fields

__all__ = ["SinkhornSolver", "SinkhornState", "sweep", "row_pass"]


def row_pass(problem: OTProblem, f, g):
    """``(L, rows, dual)``: :math:`L_i = \\mathrm{LSE}_j((g_j - C_{ij})/\\varepsilon)`, the row
    sums :math:`(P1)_i = e^{f_i/\\varepsilon + L_i}` and :math:`D(f, g)` (one pass over ``C``)."""
    xp, inv = problem.xp, problem.inv_eps
    L = problem.kern.row_lse(g, inv, problem.log_bmax - f * inv)
    rows = xp.exp(f * inv + L)
    dual = xp.sum(problem.a * f) + xp.sum(problem.b * g) - problem.eps * xp.sum(rows)
    return L, rows, dual


def sweep(problem: OTProblem, f, g, L):
    """One Sinkhorn sweep from ``(f, g)`` with ``L`` the row pass of ``g`` (two passes over
    ``C``). Returns ``(f, g, L, rows, dual, err)`` of the new iterate."""
    xp, eps, inv = problem.xp, problem.eps, problem.inv_eps
    f = eps * (problem.log_a - L)
    g = eps * (problem.log_b - problem.kern.col_lse(f, inv, problem.log_amax - g * inv))
    L, rows, dual = row_pass(problem, f, g)
    err = xp.sum(xp.abs(rows - problem.a)) / problem.sum_a
    return f, g, L, rows, dual, err


@dataclass
class SinkhornState:
    """Potentials, the row pass ``L`` of ``g``, the current error and dual, counters."""

    f: Any
    g: Any
    L: Any
    err: Any
    fun: Any
    xp: Any
    n_sinkhorn: int = 0
    n_pass: int = 1

    @property
    def x(self):
        return self.xp.concat([self.f, self.g])

    def counts(self) -> dict:
        return {"n_value": self.n_pass}

    def trace_extra(self) -> dict:
        err = to_float(self.err) if self.n_sinkhorn else math.nan
        return {"err": err, "kind": "sinkhorn" if self.n_sinkhorn else "init"}


class SinkhornSolver:
    """Log-domain Sinkhorn on an :class:`~optkit.ot.problem.OTProblem` (configuration-free:
    the tolerance belongs to the problem)."""

    def init(self, problem: OTProblem, x0, rng=None) -> SinkhornState:
        f, g = x0
        L, _, dual = row_pass(problem, f, g)
        return SinkhornState(f, g, L, math.nan, dual, problem.xp)

    def step(self, problem: OTProblem, state: SinkhornState) -> SinkhornState:
        f, g, L, _, dual, err = sweep(problem, state.f, state.g, state.L)
        return SinkhornState(f, g, L, err, dual, state.xp, state.n_sinkhorn + 1, state.n_pass + 2)

    def terminate(self, problem: OTProblem, state: SinkhornState):
        if state.n_sinkhorn == 0:
            return False, 0, ""
        err = to_float(state.err)
        if err <= problem.tol:
            return True, 0, f"converged: marginal error {err:.3e} <= tol {problem.tol:.1e}"
        return False, 0, ""

    def result(self, problem: OTProblem, state: SinkhornState) -> dict:
        state.n_pass += 1  # the final plan statistics
        return {**final_fields(problem, state.f, state.g), "f": state.f, "g": state.g,
                "n_sinkhorn": state.n_sinkhorn, "n_newton": 0, "n_cg": 0, "n_trials": 0}
