r"""Bounds :math:`l \le x \le u` for ``al-newton``: a primal log-barrier on the bounded
variables and equality rows for the fixed ones.

al-newton's iteration (Hong et al. 2023) is for equality constraints only. With bounds it
runs on the view

.. math::
    \min_x\; f(x) - \beta \sum_{i \in \mathcal L} \log(x_i - l_i)
               - \beta \sum_{i \in \mathcal U} \log(u_i - x_i)
    \quad \text{s.t.}\quad c(x) = 0, \quad x_i = l_i \;(i \in \mathcal F),

:math:`\mathcal F = \{i : l_i = u_i\}` the fixed variables, :math:`\mathcal L`,
:math:`\mathcal U` the other finite bounds, for a decreasing barrier parameter
:math:`\beta` (the barrier approach of IPOPT: Wächter and Biegler, "On the implementation
of an interior-point filter line-search algorithm for large-scale nonlinear
programming", Math. Program. 106, 2006, §2.1 and §3.6; Nocedal and Wright, Numerical
Optimization, 2nd ed., 2006, §19.6). Outside the open box the barrier objective is
:math:`+\infty` (the user's function is not called there), so every line-search trial that
leaves the box is rejected; the fraction-to-the-boundary rule caps the step first. The
bound multipliers are :math:`z_L = \beta/(x - l)`, :math:`z_U = \beta/(u - x)`, and the KKT
conditions of the barrier problem are those of the original with complementarity
:math:`z_L(x - l) = \beta`.

The Newton matrix's barrier block is IPOPT's primal-dual :math:`\Sigma = Z_L(X - L)^{-1}
+ Z_U(U - X)^{-1}` (Wächter and Biegler 2006, eqs. (11)-(13)) instead of the primal
barrier's Hessian :math:`\beta(X - L)^{-2} + \beta(U - X)^{-2}`, with the dual iterates
:math:`z_L, z_U` (:meth:`BoxProblem.update_duals`). They agree on the central path; after
a decrease of :math:`\beta` the primal Hessian's Newton step overshoots the bounds by
orders of magnitude and the fraction-to-the-boundary rule cuts it to a few percent for
several iterations (S2MPJ CVXQP1: steps 0.0014, 0.0027, 0.0055, ... after each decrease,
50 iterations; 23 with :math:`\Sigma`). The gradient, the barrier objective and the merit
are those of the primal barrier problem: only the Newton matrix changes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

BOUND_PUSH = 1e-2  # IPOPT's bound_push and bound_frac: x0 moved this far into the box
RESTORATION_PUSH = 1e-8  # the restoration's box: this far inside (relative, as BOUND_PUSH)
KAPPA_SIGMA = 1e10  # IPOPT's kappa_sigma: z kept within [beta/(k gap), k beta/gap]

__all__ = ["BoxProblem", "box_of"]


def box_of(bounds, n):
    """``(l, u)`` arrays of length n (``-inf``/``inf`` where unbounded), or ``None``."""
    if bounds is None:
        return None
    lo = np.broadcast_to(np.asarray(bounds.lb, dtype=float), (n,)).copy()
    hi = np.broadcast_to(np.asarray(bounds.ub, dtype=float), (n,)).copy()
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
        raise ValueError("bounds: lb and ub must not be NaN")
    if np.any(lo > hi):
        i = int(np.argmax(lo > hi))
        raise ValueError(f"bounds: lb must be <= ub, but variable {i} has lb={lo[i]} > "
                         f"ub={hi[i]}")
    if np.any(lo == np.inf) or np.any(hi == -np.inf):
        raise ValueError("bounds: lb = +inf or ub = -inf leaves no feasible point")
    if not (np.isfinite(lo).any() or np.isfinite(hi).any()):
        return None
    return lo, hi


def _push(lo, hi, x, push):
    """``x`` moved at least ``push * max(1, |bound|)`` (at most a ``push`` fraction of the
    range) inside each finite bound (IPOPT's rule; fixed variables are set afterwards)."""
    width = hi - lo
    with np.errstate(invalid="ignore"):
        p_lo = np.minimum(push * np.maximum(1.0, np.abs(lo)), push * width)
        p_hi = np.minimum(push * np.maximum(1.0, np.abs(hi)), push * width)
    x = np.where(np.isfinite(lo), np.maximum(x, lo + np.nan_to_num(p_lo)), x)
    return np.where(np.isfinite(hi), np.minimum(x, hi - np.nan_to_num(p_hi)), x)


class _BarrierObjective:
    """:math:`f - \\beta\\sum\\log(x_i - l_i) - \\beta\\sum\\log(u_i - x_i)` with the oracle
    methods al-newton calls (counts go to the user's objective)."""

    def __init__(self, objective, box):
        self._obj, self._box = objective, box

    def __getattr__(self, name):  # has_hess, has_hvp, has_separate_grad, counters, ...
        return getattr(self._obj, name)

    def value(self, x):
        b = self._box.barrier(x)
        return b if not np.isfinite(b) else self._obj.value(x) + b

    def value_and_grad(self, x):
        b = self._box.barrier(x)
        if not np.isfinite(b):
            return b, np.full(x.size, np.nan)
        f, g = self._obj.value_and_grad(x)
        return f + b, np.asarray(g, dtype=float) + self._box.barrier_grad(x)

    def grad(self, x):
        return np.asarray(self._obj.grad(x), dtype=float) + self._box.barrier_grad(x)

    def hvp(self, x, v):
        return np.asarray(self._obj.hvp(x, v), dtype=float) + self._box.barrier_diag(x) * v

    def hess(self, x):
        H = self._obj.hess(x)
        D = self._box.barrier_diag(x)
        if sp.issparse(H):
            return sp.csr_array(H + sp.diags_array(D))
        return np.asarray(H, dtype=float) + np.diag(D)


class _FixedRows:
    """The user's equality constraints followed by the rows :math:`x_i - l_i = 0`,
    :math:`i \\in \\mathcal F` (counts go to the user's constraints)."""

    def __init__(self, constraints, fixed, values):
        self._cons, self._fixed = constraints, fixed
        self._E = sp.csr_array((np.ones(fixed.size), (np.arange(fixed.size), fixed)),
                               shape=(fixed.size, constraints.n))
        self.lb = self.ub = np.concatenate([constraints.lb, values])
        self.m = self.lb.size

    def __getattr__(self, name):  # n, is_linear, has_lagrangian_hess, counters, ...
        return getattr(self._cons, name)

    def c(self, x):
        return np.concatenate([np.asarray(self._cons.c(x), dtype=float), x[self._fixed]])

    def jac(self, x):
        J = self._cons.jac(x)
        if sp.issparse(J):
            return sp.vstack([J, self._E], format="csr")
        return np.vstack([np.asarray(J, dtype=float).reshape(-1, self._E.shape[1]),
                          self._E.toarray()])

    def lagrangian_hvp(self, x, lam, v):
        return self._cons.lagrangian_hvp(x, lam[:self._cons.m], v)

    def lagrangian_hess(self, x, lam):
        return self._cons.lagrangian_hess(x, lam[:self._cons.m])


class BoxProblem:
    """The view of ``problem`` (bounds ``(lo, hi)``) that al-newton iterates on: barrier
    objective with parameter :attr:`mu`, fixed variables as equality rows, no bounds."""

    def __init__(self, problem, lo, hi, mu):
        self.problem, self.lo, self.hi, self.mu = problem, lo, hi, mu
        fixed = lo == hi
        self.fixed, self.free = np.flatnonzero(fixed), ~fixed
        self.has_lo = np.isfinite(lo) & ~fixed
        self.has_hi = np.isfinite(hi) & ~fixed
        self.objective = _BarrierObjective(problem.objective, self)
        self.constraints = (_FixedRows(problem.constraints, self.fixed, lo[self.fixed])
                            if self.fixed.size else problem.constraints)
        self.n = problem.n
        self.bounds = None
        self.m_user = problem.constraints.m
        self.z_lo = self.z_hi = None  # the dual iterates (reset_duals, update_duals)
        self.primal = True  # z = beta/gap: Sigma is the primal barrier's Hessian

    def __getattr__(self, name):
        return getattr(self.problem, name)

    def start(self, x0):
        """IPOPT's initial point: fixed variables at their value, the others pushed
        ``BOUND_PUSH`` into the box."""
        x = _push(self.lo, self.hi, np.asarray(x0, dtype=float), BOUND_PUSH)
        x[self.fixed] = self.lo[self.fixed]
        return x

    def restoration_bounds(self):
        """The free variables' box, ``RESTORATION_PUSH`` inside, for the feasibility
        restoration's ``least_squares``. The fixed variables are not least-squares
        variables: held in an interval of their value's last bits, they cut every
        trust-region reflective step with a component along them to a few ulp (S2MPJ
        OPTCNTRL: 3300 evaluations from ``||c||`` = 9e-5 to 5e-6; with them left out, 739
        evaluations to 6e-9)."""
        inf = np.full(self.n, np.inf)
        lo = np.where(self.has_lo, self.lo, -inf)
        hi = np.where(self.has_hi, self.hi, inf)
        width = np.where(self.has_lo & self.has_hi, self.hi - self.lo, np.inf)
        with np.errstate(invalid="ignore"):  # inf - inf where a bound is infinite
            p_lo = np.minimum(RESTORATION_PUSH * np.maximum(1.0, np.abs(self.lo)), width / 4)
            p_hi = np.minimum(RESTORATION_PUSH * np.maximum(1.0, np.abs(self.hi)), width / 4)
            lo = np.where(self.has_lo, self.lo + p_lo, lo)
            hi = np.where(self.has_hi, self.hi - p_hi, hi)
        return lo[self.free], hi[self.free]

    def gaps(self, x):
        """:math:`x - l` on :math:`\\mathcal L` and :math:`u - x` on :math:`\\mathcal U`. (IPOPT
        relaxes the bounds by ``bound_relax_factor`` 1e-8; tried here, eight S2MPJ problems
        that end at the progress test, CONCON, TENBARS2, DNIEPER, ..., then ended
        infeasible.)"""
        return x[self.has_lo] - self.lo[self.has_lo], self.hi[self.has_hi] - x[self.has_hi]

    def barrier(self, x):
        """:math:`-\\beta\\sum\\log(x_i - l_i) - \\beta\\sum\\log(u_i - x_i)`; ``inf`` outside
        the open box."""
        lo_gap, hi_gap = self.gaps(x)
        if np.any(lo_gap <= 0.0) or np.any(hi_gap <= 0.0):
            return np.inf
        return -self.mu * (float(np.sum(np.log(lo_gap))) + float(np.sum(np.log(hi_gap))))

    def barrier_grad(self, x):
        g = np.zeros(self.n)
        lo_gap, hi_gap = self.gaps(x)
        g[self.has_lo] -= self.mu / lo_gap
        g[self.has_hi] += self.mu / hi_gap
        return g

    def barrier_diag(self, x, primal=False):
        r"""The barrier block of the Newton matrix: :math:`\Sigma = z_L/(x - l) + z_U/(u -
        x)` with the dual iterates, or (``primal``) the barrier's Hessian
        :math:`\beta/(x - l)^2 + \beta/(u - x)^2`."""
        d = np.zeros(self.n)
        lo_gap, hi_gap = self.gaps(x)
        if primal:
            d[self.has_lo] += self.mu / lo_gap**2
            d[self.has_hi] += self.mu / hi_gap**2
        else:
            d[self.has_lo] += self.z_lo / lo_gap
            d[self.has_hi] += self.z_hi / hi_gap
        return d

    def barrier_grad_rounding(self, x):
        r"""Per variable, how closely a floating-point :math:`x_i` can fit the barrier
        gradient's :math:`\beta/(x_i - l_i)` (and :math:`\beta/(u_i - x_i)`): its change
        over two neighbouring floats of :math:`x_i`, :math:`2\epsilon|x_i|\beta/(x_i -
        l_i)^2 = 2\epsilon|x_i| z_i^2/\beta`. At an active bound with a large multiplier
        this puts a floor under the barrier problem's stationarity (see
        ``ALNewton._barrier_mu_min`` and ``ALNewton._kkt_net_of_rounding``)."""
        e = np.zeros(self.n)
        lo_gap, hi_gap = self.gaps(x)
        eps = np.finfo(float).eps
        e[self.has_lo] += 2.0 * eps * np.abs(x[self.has_lo]) * self.mu / lo_gap**2
        e[self.has_hi] += 2.0 * eps * np.abs(x[self.has_hi]) * self.mu / hi_gap**2
        return e

    def reset_duals(self, x):
        """The dual iterates set to the barrier estimates at ``x`` (:attr:`primal`)."""
        self.z_lo, self.z_hi = self.multipliers(x)
        self.primal = True

    def update_duals(self, x, dx, x_new, tau):
        r"""IPOPT's dual step after a primal step from ``x`` along the Newton direction
        ``dx`` to ``x_new`` (Wächter and Biegler 2006): the Newton step of the
        complementarity :math:`(x - l) z_L = \beta`, eq. (12),

        .. math::
            \Delta z_L = \beta/(x - l) - z_L - \frac{z_L}{x - l}\Delta x, \qquad
            \Delta z_U = \beta/(u - x) - z_U + \frac{z_U}{u - x}\Delta x,

        its own fraction-to-the-boundary step :math:`\alpha_z` (eq. (15b), ``tau``), and
        the safeguard (16) that keeps :math:`z_L \in [\beta/(\kappa_\Sigma(x - l)),
        \kappa_\Sigma\beta/(x - l)]` at ``x_new`` (``KAPPA_SIGMA``)."""
        lo_gap, hi_gap = self.gaps(x)
        dz_lo = self.mu / lo_gap - self.z_lo - self.z_lo / lo_gap * dx[self.has_lo]
        dz_hi = self.mu / hi_gap - self.z_hi + self.z_hi / hi_gap * dx[self.has_hi]
        alpha = 1.0
        for z, dz in ((self.z_lo, dz_lo), (self.z_hi, dz_hi)):
            if np.any(dz < 0):
                alpha = min(alpha, float(np.min(-tau * z[dz < 0] / dz[dz < 0])))
        lo_new, hi_new = self.multipliers(x_new)
        self.z_lo = np.clip(self.z_lo + alpha * dz_lo, lo_new / KAPPA_SIGMA, KAPPA_SIGMA * lo_new)
        self.z_hi = np.clip(self.z_hi + alpha * dz_hi, hi_new / KAPPA_SIGMA, KAPPA_SIGMA * hi_new)
        self.primal = False

    def max_step(self, x, dx, tau):
        r"""The fraction-to-the-boundary step :math:`\max\{\alpha \in (0, 1]: x + \alpha
        \Delta x - l \ge (1 - \tau)(x - l),\ u - x - \alpha\Delta x \ge (1 - \tau)(u -
        x)\}` (Wächter and Biegler 2006, eq. (15))."""
        lo_gap, hi_gap = self.gaps(x)
        alpha = 1.0
        d_lo, d_hi = dx[self.has_lo], dx[self.has_hi]
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.any(d_lo < 0):
                alpha = min(alpha, float(np.min(-tau * lo_gap[d_lo < 0] / d_lo[d_lo < 0])))
            if np.any(d_hi > 0):
                alpha = min(alpha, float(np.min(tau * hi_gap[d_hi > 0] / d_hi[d_hi > 0])))
        return alpha

    def multipliers(self, x):
        """The barrier estimates :math:`\\beta/(x - l)` on :math:`\\mathcal L` and
        :math:`\\beta/(u - x)` on :math:`\\mathcal U`."""
        lo_gap, hi_gap = self.gaps(x)
        return self.mu / lo_gap, self.mu / hi_gap

    def bound_multipliers(self, x, lam_fixed):
        r""":math:`z = z_L - z_U` with :math:`\nabla f + G^\top\lambda - z = 0`: the barrier
        estimates :math:`\beta/(x - l) - \beta/(u - x)` on bounded variables, the fixed
        rows' multipliers (sign flipped) on fixed ones."""
        z = np.zeros(self.n)
        lo_gap, hi_gap = self.gaps(x)
        z[self.has_lo] += self.mu / lo_gap
        z[self.has_hi] -= self.mu / hi_gap
        z[self.fixed] = -lam_fixed
        return z
