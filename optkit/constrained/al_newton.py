r"""AdaSketch-Newton: inexact Newton on an exact augmented Lagrangian, KKT systems sketched.

Implements Hong, Na, Mahoney and Kolar, "Constrained Optimization via Exact Augmented
Lagrangian and Randomized Iterative Sketching", ICML 2023 (arXiv:2305.18379), for

.. math::
    \min_x f(x) \quad \text{s.t.}\quad c(x) = 0, \qquad c: \mathbb{R}^n \to \mathbb{R}^m .

See :class:`ALNewton` for the exact iteration and :func:`al_newton` for the options.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from optkit.core.constraints import ConstraintOracle
from optkit.core.linesearch import LineSearchResult, backtracking
from optkit.core.result import MESSAGES, STATUS

from . import _sketch_ops as _sk
from ._al_state import _Accuracy, _Inner, _State, merit_gradient, merit_value, penalized_lagrangian
from ._box import BoxProblem, box_of
from ._kkt import KKTSystem, _curvature_scale, build_kkt
from ._ldl import ReusableLDL
from ._scaling import ScaledProblem, scale_factors
from ._spectral import DENSE_MAX, gram_eigs, gram_solver

__all__ = ["ALNewton", "al_newton", "AL_STATUS", "merit_gradient"]

#: Status codes of ``al-newton`` (the core's where the meaning is the same).
AL_STATUS = {
    "success": STATUS["success"],  # 0: ||grad L|| <= tol
    "maxiter": STATUS["maxiter"],  # 1
    "line_search": STATUS["line_search"],  # 2: Armijo step below 1e-10
    "nonfinite": STATUS["nonfinite"],  # 3 (set by the run loop)
    "penalty": STATUS["penalty"],  # 8: penalty safeguards reached without a descent direction
    "sketch_budget": STATUS["stalled"],  # 5: over 10 * max_inner sketch steps in one Newton step
    "stalled": STATUS["stalled"],  # 5 also: no progress for STALL_WINDOW iterations (robust)
    "singular": STATUS["singular"],  # 7: G G^T (numerically) singular, see singular_test
    # 10: the feasibility restoration of safeguards="robust" stopped at a stationary point
    # of ||c||^2 that is not feasible (locally infeasible constraints)
    "infeasible": STATUS["infeasible"],
}

#: Failures after which safeguards="robust" restores feasibility / resets the penalties.
RECOVERABLE = frozenset({AL_STATUS["line_search"], AL_STATUS["penalty"],
                         AL_STATUS["sketch_budget"], AL_STATUS["singular"]})
MAX_RECOVERIES = 5  # per run: a problem that fails again after 5 recoveries fails
RESTORATION_MAXFEV = 100  # times n + 1: the evaluation budget of one restoration
STALL_WINDOW = 50  # robust: iterations without a 1% decrease of the KKT residual ...
STALL_DECREASE = 0.01  # ... end the run (status 5, ALNewton._stalled)
CRAWL_STEPS = 5  # robust: this many consecutive Armijo steps below SHORT_STEP at an
SHORT_STEP = 1e-3  # infeasible iterate trigger a feasibility restoration (ALNewton._stalled)
RESTORATION_TARGET = 0.1  # times tol: ||c||_inf at which a restoration has succeeded
RESTORATION_SETTLE = 10  # times n + 1: evaluations without a ||c|| lower by the fraction
RESTORATION_SETTLE_DECREASE = (0.01, 1e-4)  # ... (feasible, or ||c|| reduced 1e3 only) that
# end a restoration once it has succeeded (ALNewton._restore)
LAMBDA_BLOWUP = 1e6  # robust: ||lambda|| ||G||_F / ||grad f|| beyond which a feasible,
# singular iterate is a Fritz John point (ALNewton._multipliers_unbounded)
UNBOUNDED_STEPS = 5  # ... over this many consecutive Newton steps with growing ||lambda||
BARRIER_MU0 = 0.1  # bounds: IPOPT's mu_init, barrier_tol_factor, mu_linear_decrease_factor,
BARRIER_KAPPA_EPS = 10.0  # mu_superlinear_decrease_power (ALNewton._barrier_update)
BARRIER_KAPPA_MU = 0.2
BARRIER_THETA_MU = 1.5
BARRIER_MU_MIN = 1e-9
NO_INTERIOR_WINDOW = 10  # robust, bounds: iterations at one barrier parameter over which
NO_INTERIOR_GROWTH = 10.0  # ||lambda|| growing this much without KKT progress decreases it
CERTIFY_EVERY = 10  # robust, bounds: iterations at one barrier parameter between KKT certificates
CERTIFIED = ("Optimization terminated successfully (a KKT point with multipliers fitted at "
             "the bounds within tol; the barrier problem did not converge).")
MIN_PASS_CAP = 1000  # sketch steps a pass always gets before the LU fallback (robust)
PROJECTION_STEPS = 10  # robust: Newton projections onto c(x) = 0 at the solution ...
PROJECTION_FLOOR = 1e-12  # ... while the user's ||c||_inf exceeds this (ALNewton._project)
LAMBDA_INIT_MAX = 1e3  # robust, lam0=None: least-squares multipliers at x0 unless their
# largest (scaled) entry exceeds this, then zeros (IPOPT's constr_mult_init_max)

ALPHA_MIN = 1e-10
TINY_STEP = 10.0 * np.finfo(float).eps  # robust: IPOPT's tiny_step_tol (ALNewton._tiny_step)
TINY_STEP_FEASIBILITY = 1e-4  # ... at ||c||_inf at most this
KAPPA_MIN = 1e-10
LU_PIVOT_RATIO = 1e-10  # a sparse LU of G G^T with a smaller pivot ratio is taken as singular
XI_G_MIN = 1e-150  # floor of xi_G in Psi (only reached with singular_tol = 0): finite Psi
_EPS = np.finfo(float).eps


class _OutOfTime(Exception):
    """``max_time`` ran out inside a feasibility restoration (``ALNewton._restore``)."""


class _Settled(Exception):
    """A feasibility restoration that has succeeded stopped improving (``ALNewton._restore``)."""


def _evaluation_errors_rejected(at):
    r"""A line-search trial ``at(x, lam, threshold) -> (merit, payload)`` whose user
    functions raise an ``ArithmeticError`` (``OverflowError``, ``ZeroDivisionError``,
    ``FloatingPointError``) at the trial point returns an infinite merit instead, as for a
    point outside the bounds' box: the trial is rejected and the step is shortened. Python
    floats raise where numpy returns ``inf`` (S2MPJ LUKVLE17 raised ``OverflowError`` from
    ``x**4`` at a long trial step, and the exception ended ``minimize``). IPOPT's
    backtracking line search does the same with an evaluation error at a trial point
    (``IpBacktrackingLineSearch.cpp``: "cutting back alpha due to evaluation error").
    Errors at the starting point, and any other exception, reach the caller."""

    def guarded(x, lam, threshold=np.inf):
        try:
            return at(x, lam, threshold)
        except ArithmeticError:
            nan = np.full(lam.size, np.nan)
            return np.inf, (x, lam, np.inf, None, nan, None, None)

    return guarded


class ALNewton:
    r"""AdaSketch-Newton (Hong, Na, Mahoney, Kolar, ICML 2023).

    With :math:`L = f + \lambda^\top c`, :math:`G = \nabla c^\top`,
    :math:`\nabla L = (\nabla_x L, c)` and the exact augmented Lagrangian

    .. math::
        \mathcal{L}_{\mu,\nu}(x, \lambda) = f + \lambda^\top c + \tfrac{\mu}{2}\|c\|^2
        + \tfrac{\nu}{2}\|\nabla_x L\|^2, \quad
        \nabla_x \mathcal{L}_{\mu,\nu} = (I + \nu \nabla_x^2 L)\nabla_x L + \mu G^\top c, \quad
        \nabla_\lambda \mathcal{L}_{\mu,\nu} = c + \nu G \nabla_x L,

    each iteration

    1. stops if :math:`\|\nabla L\| \le` ``tol`` (status 0); with
       ``singular_test="absolute"`` (the reference code's rule) also if
       :math:`\xi_G = \lambda_{\min}(GG^\top) <` ``singular_tol`` (status 7). The default
       ``"relative"`` test does not stop the run: a Newton step that fails (steps 4, 5) while
       :math:`\xi_G \le` ``singular_tol`` :math:`\lambda_{\max}(GG^\top)` is reported as
       status 7, or 10 when the robust recovery's restoration finds the constraints locally
       infeasible (see :meth:`_blame_singular`);
    2. forms :math:`K = [[B, G^\top], [G, 0]]`, :math:`B = \nabla_x^2 L + tI` with
       :math:`t = \xi_B + \|\nabla_x^2 L\|` if :math:`\lambda_{\min}(Z^\top \nabla_x^2 L Z) <`
       ``hess_mod_tol`` (:math:`Z` a null-space basis of :math:`G`), else :math:`t = 0`,
       so that :math:`Z^\top B Z \succeq \xi_B I`;
    3. sketches :math:`K\Delta = -\nabla L` from :math:`\Delta = 0` (``sketch``) until
       ``accuracy`` holds: ``"paper"``:
       :math:`\|K\|\Psi\|r\| \le \theta\delta\|\nabla L\|` with
       :math:`\Psi = 20\max(\|B\|^2, 1)/(\min(\xi_G, 1)\min(\xi_B, 1))`,
       :math:`\Upsilon = \max(\|G\|, \|\nabla^2_x L\|, 1)`,
       :math:`\delta \leftarrow \max(\min(\delta, \delta_{\rm trial}), \delta_{\rm floor})`,
       :math:`\delta_{\rm trial} = (0.5 - \beta)\nu / ((1 + \mu + \nu)\Upsilon^2\Psi^2)`;
       ``"relative"``: :math:`\|r\| \le \kappa \|\nabla L\|`. A pass that ends at
       ``max_inner`` steps short of the target is finished by an exact (LU) solve when K is a
       matrix (``inner_fallback="direct"``, the default; ``"none"`` keeps the capped
       iterate, as the reference code);
    4. accepts :math:`\Delta` if :math:`\nabla\mathcal{L}_{\mu,\nu}^\top \Delta \le
       -\tfrac{\nu}{2}\|\nabla L\|^2`; otherwise :math:`\mu \leftarrow \rho^2\mu`,
       :math:`\nu \leftarrow \nu/\rho`, :math:`\delta \leftarrow \max(\min(\delta/\rho^4,
       \delta_{\rm trial}), \delta_{\rm floor})`, :math:`\kappa \leftarrow \max(\kappa/\rho^2,
       10^{-10})` and sketching resumes from the same :math:`\Delta`; once
       :math:`\mu >` ``mu_max`` or :math:`\nu <` ``nu_min``, :math:`\Delta` is taken if
       :math:`\nabla\mathcal{L}_{\mu,\nu}^\top \Delta < 0` (the reference code takes it
       regardless), else status 8; status 5 after 10 ``max_inner`` steps;
    5. backtracks :math:`\alpha = 1, \tfrac12, \dots` until :math:`\mathcal{L}_{\mu,\nu}
       (x + \alpha\Delta_x, \lambda + \alpha\Delta_\lambda) \le \mathcal{L}_{\mu,\nu}(x,\lambda)
       + \alpha\beta\nabla\mathcal{L}_{\mu,\nu}^\top\Delta + 10\,\varepsilon_{\rm mach}
       |\mathcal{L}_{\mu,\nu}(x,\lambda)|` (the round-off relaxation of Wächter and Biegler,
       Math. Program. 106, 2006, §3.9; status 2 below :math:`\alpha = 10^{-10}`), then
       :math:`(x, \lambda) \mathrel{+}= \alpha\Delta`.

    **Safeguards.** ``safeguards="paper"`` is the iteration above, exactly, from
    :math:`\lambda_0 = 0` unless ``lam0`` is given. The default ``"robust"`` keeps it as
    the core and adds, for problems outside the paper's assumptions (full-rank G
    everywhere, bounded iterates, moderate scaling):

    - without bounds, on the dense path, *least-squares initial multipliers*
      (``lam0=None``):
      :math:`\lambda_0 = \arg\min_\lambda \|\nabla f(x_0) + G(x_0)^\top\lambda\|` in
      the scaled problem, or :math:`0` where an entry exceeds ``LAMBDA_INIT_MAX`` = 1e3
      (IPOPT's initialization, ``constr_mult_init_max``; Wächter and Biegler 2006, §3.6).
      From :math:`\lambda_0 = 0` the first Newton steps fit the multipliers and the step
      together; on S2MPJ ORTHRGDS the run then ended at a Fritz John point (status 7,
      f = 31.9 after 144 iterations), from the least-squares ones at IPOPT's f = 6.21 after
      17 (LUKVLE8 7131 → 4121 and LUKVLE16 16.15 → 4.48, SLSQP's local minima). With
      bounds the start stays :math:`\lambda_0 = 0`: there :math:`\nabla f` holds the
      barrier's gradient at the pushed :math:`x_0`, and the least-squares start lost
      ALJAZZAF (locally infeasible), HIMMELBJ and DECONVBNE (past 60 s) and slowed
      ORTHREGE 0.8 → 32 s. It also stays 0 on the sparse and matrix-free paths, where the
      least-squares solve is a sparse factorization of :math:`GG^\top`, as costly as a
      Newton step's (the semilinear PDE control of :mod:`.large` on a 40 x 40 grid, two
      Newton iterations: 14 → 22 ms);
    - *scaling* at :math:`x_0` (IPOPT's gradient-based rule, Wächter and Biegler, Math.
      Program. 106, 2006, automatic scaling; :mod:`optkit.constrained._scaling`), results and the
      stopping test in the user's units;
    - a *spectral Hessian shift* :math:`t = \xi_B - \lambda_{\min} + \max(-\lambda_{\min},
      0)`, :math:`\lambda_{\min} = \lambda_{\min}(Z^\top\nabla^2_x L Z)` (the negative
      curvature mirrored), instead of :math:`\xi_B + \|\nabla^2_x L\|` (same guarantee
      :math:`Z^\top BZ \succeq \xi_B I`; :func:`._kkt.hessian_shift`), and on the dense
      and sparse paths no shift where :math:`Z^\top\nabla^2_x L Z` passes the test in the
      variables scaled by :math:`\operatorname{diag}(|\nabla^2_x L|_{ii})^{-1/2}` (IPOPT's
      inertia test is scale-free; :func:`._kkt._positive_definite_scaled`); the floor
      :math:`\xi_B` of the shift adapts to the line search, down to ``hess_mod_tol``
      while full steps are taken (:meth:`_adapt_shift_floor`);
    - sketch passes capped at :math:`\max(1000, N^2)` steps before the LU fallback
      (:meth:`_pass_cap`);
    - after a failed Newton step (line search, penalty safeguards, sketch budget,
      singular K), or a stall / crawl at an infeasible point, a *feasibility
      restoration* (least squares on :math:`\tfrac12\|c\|^2`; Wächter and Biegler 2006
      restoration phase; Nocedal and Wright 2006, inconsistent SQP linearizations) and a reset of multipliers and penalties
      (:meth:`_recover`, :meth:`_restore`); status 10 when the constraints are locally
      infeasible;
    - a *progress test* (:meth:`_stalled`): status 5 after ``STALL_WINDOW`` iterations
      without a 1% decrease of the KKT residual.
    - a *Fritz John stop* (:meth:`_multipliers_unbounded`): status 7 at a feasible iterate
      where :math:`G` is rank-deficient and the multipliers grow without bound (no KKT
      multipliers exist there; Newton's steps stay feasible and crawl).
    - in the line search (:meth:`_robust_backtracking`), a *second-order correction* of a
      rejected unit step against the Maratos effect (Fletcher 1982; Nocedal and Wright
      2006, §15.6; :meth:`_correction`), then, where the unit step raised
      :math:`\|c\|`, backtracking along the *arc* through it (Mayne and Polak 1982), and
      *least-squares multipliers* at a trial point rejected only through
      :math:`\tfrac{\nu}{2}\|\nabla_x L\|^2`
      (Fletcher's multiplier function, no larger than the current or the step's;
      :meth:`_with_least_squares_multipliers`);
    - *minimum-norm multipliers* after each step on the dense path
      (:meth:`_drop_null_multipliers`): no component in :math:`\operatorname{null}(G^\top)`
      where rows of :math:`G` are dependent;
    - IPOPT's *tiny-step rule* (:meth:`_tiny_step`): a step below the merit's resolution
      (:math:`|\Delta x_i| \le 10\varepsilon_{\rm mach}(1 + |x_i|)`) at a nearly feasible
      iterate is taken without the Armijo test, and lowers the barrier parameter;
    - with bounds, the *barrier's rounding in the Armijo slack*
      (:meth:`_barrier_rounding_slack`): the slack also holds the rounding error of
      :math:`\tfrac{\nu}{2}\|\nabla_x L\|^2` at active bounds with large multipliers;
    - with bounds, a *no-interior-point test* (:meth:`_no_interior_point`): multipliers
      growing tenfold at one :math:`\beta` without KKT progress lower :math:`\beta`;
    - a *Newton projection onto* :math:`c(x) = 0` at the solution (:meth:`_project`): at
      most ``PROJECTION_STEPS`` least-norm steps :math:`-G^\top(GG^\top)^{-1}c(x)` (with
      bounds in the barrier's metric), each kept only where it halves
      :math:`\|c\|_\infty` and the success test still holds (result field
      ``n_projections``);
    - *screened trials* (:meth:`_screened_merit`): a trial point is rejected on
      :math:`f + \lambda^\top c + \tfrac{\mu}{2}\|c\|^2`, a lower bound on the merit,
      before :math:`\nabla f` and :math:`G` are evaluated (same decisions and iterates,
      fewer derivative calls).

    **Bounds** :math:`l \le x \le u` (both configurations; :mod:`optkit.constrained._box`):
    fixed variables (:math:`l_i = u_i`) become equality rows :math:`x_i = l_i` (their Newton
    steps are 0), the other finite bounds a log-barrier :math:`-\beta\sum\log(x_i - l_i)
    - \beta\sum\log(u_i - x_i)` added to :math:`f`, with IPOPT's initial point push, monotone
    :math:`\beta` update (:meth:`_barrier_update`, :math:`\beta` from 0.1 down to 1e-9)
    and fraction-to-the-boundary rule (Wächter and Biegler 2006, §2.1, §3.6). The Newton
    matrix's barrier block is IPOPT's primal-dual :math:`\Sigma = Z(X - L)^{-1}` with
    dual iterates updated by IPOPT's dual step (:meth:`._box.BoxProblem.update_duals`); the
    merit, its slope and the KKT residual are those of the primal barrier problem. After a
    Newton step that failed (steps 4, 5) the next one uses the primal barrier Hessian
    :math:`\beta(X - L)^{-2}` (the exact one) before any other safeguard. Success needs the barrier
    problem's KKT residual :math:`\le` ``tol`` at the last :math:`\beta`
    (:meth:`_barrier_mu_min`), i.e. complementarity :math:`z_i(x_i - l_i) \le 10^{-9}`
    unless rounding needs a larger :math:`\beta`. The user's functions are never
    evaluated outside the box (IPOPT's 1e-8 relaxation of the bounds was tried: eight S2MPJ
    problems that end at the progress test then ended infeasible).

    **More constraints than variables** (:math:`m > n`, robust only): see
    :meth:`_overdetermined_start`.

    The sparse path's exact solves (``sketch="direct"`` and the LU fallback) use an
    :math:`LDL^\top` factorization whose symbolic analysis is computed once per run
    (:mod:`optkit.constrained._ldl`, result field ``n_kkt_analyses``), with SuperLU as
    the fallback; this applies to both configurations.

    Three linear-algebra paths (``linear_algebra``) build the same K. ``"dense"`` (n + m
    <= 1000 by default) forms it from n Hessian-vector products, with Frobenius norms (as the
    reference code) and an explicit null-space basis. ``"sparse"`` assembles a
    ``scipy.sparse`` K from the Hessian matrices (``hess=`` of the objective and of every
    nonlinear constraint) and the Jacobian, never a dense N x N matrix: Frobenius norms from
    the nonzeros, and the modification test is decided by the Gershgorin bound
    :math:`\lambda_{\min}(Z^\top H Z) \ge \lambda_{\min}(H) \ge \min_i(H_{ii} -
    \sum_{j\ne i}|H_{ij}|)` when that bound is :math:`\ge` ``hess_mod_tol``, by Lanczos
    otherwise. ``"matrix-free"`` applies K through Hessian-vector products: the Lanczos
    estimate of :math:`\|\nabla_x^2 L\|_2`, :math:`\|B\| = \|\nabla_x^2 L\|_2 + t`,
    :math:`\|G\|_F`, :math:`\|K\| \le \|B\| + \|G\|_F`. Both large paths find
    :math:`\lambda_{\min}(Z^\top\nabla_x^2 L Z)` by Lanczos on
    :math:`P\nabla_x^2 L P + (\|\nabla_x^2 L\| + 1)(I - P)`, :math:`P = I -
    G^\top(GG^\top)^{-1}G` (one Cholesky/SuperLU factorization of :math:`GG^\top`, kept while
    the constraints are linear), warm-started at the previous eigenvector.
    :math:`\xi_G` and :math:`\lambda_{\max}(GG^\top)` are computed only when a test uses
    them (the paper condition of an iterative sketch, the singularity tests).
    """

    deadline = np.inf  # time.perf_counter() at which max_time runs out (set by core.run)

    def __init__(self, *, lam0, sketch, sampling, block_size, accuracy, kappa, theta,
                 hessian_in_merit, tol, max_inner, inner_fallback, check_every, linear_algebra,
                 mu0, nu0,
                 delta0, xi_B, shift_floor0, beta, rho, delta_floor, hess_mod_tol,
                 singular_tol, singular_test, mu_max, nu_min, safeguards):
        self.lam0 = lam0
        self.sketch = sketch
        self.sampling = sampling
        self.block_size = block_size
        self.accuracy = accuracy
        self.kappa0 = kappa
        self.theta = theta
        self.hessian_in_merit = hessian_in_merit
        self.tol = tol
        self.max_inner = max_inner
        self.inner_fallback = inner_fallback
        self.check_every = check_every
        self.linear_algebra = linear_algebra
        self.mu0, self.nu0, self.delta0 = mu0, nu0, delta0
        self.xi_B, self.beta, self.rho = xi_B, beta, rho
        self.shift_floor0 = xi_B if shift_floor0 is None else shift_floor0
        self.delta_floor = delta_floor
        self.hess_mod_tol = hess_mod_tol
        self.singular_tol = singular_tol
        self.singular_test = singular_test
        self.mu_max, self.nu_min = mu_max, nu_min
        self.safeguards = safeguards
        self.robust = safeguards == "robust"
        if sketch in ("block-rk", "block-gaussian") and block_size < 2:
            raise ValueError(f"block_size must be >= 2 for sketch={sketch!r}, got {block_size}")

    # ------------------------------------------------------------------ problem access
    def _check_problem(self, problem):
        """The constraints, the linear-algebra path and whether the objective has ``hvp``."""
        cons = problem.constraints
        if cons is None:
            raise ValueError("constraints: al-newton needs equality constraints "
                             "(an empty ConstraintOracle([], n) for none)")
        if not isinstance(cons, ConstraintOracle) and not isinstance(problem, BoxProblem):
            raise TypeError(f"constraints must be a ConstraintOracle, got {type(cons).__name__}")
        if cons.has_inequalities:
            i = int(np.argmax(~cons.is_equality))
            raise ValueError(
                f"constraints: al-newton handles equality constraints only (lb == ub), but row "
                f"{i} has lb={cons.lb[i]}, ub={cons.ub[i]}; add a slack s with c(x) - s = 0 and "
                "bounds on s, or use a method with inequality support")
        n = problem.n
        if cons.n != n:
            raise ValueError(f"constraints are for {cons.n} variables but x0 has {n}")
        if cons.m > n and not self.robust:
            raise ValueError(f"constraints: {cons.m} equality constraints on {n} variables "
                             "cannot have a full-rank Jacobian (LICQ); remove dependent rows "
                             "or use safeguards='robust' (the default)")
        obj = problem.objective
        if self.linear_algebra == "sparse" and not (getattr(obj, "has_hess", False)
                                                    and cons.has_lagrangian_hess):
            raise ValueError("linear_algebra='sparse' needs Hessian matrices: hess= for the "
                             "objective and for every nonlinear constraint")
        path = self._linear_algebra(problem)
        if path == "matrix-free" and self.sketch == "direct":
            raise ValueError("sketch='direct' needs K as a matrix, but this problem uses the "
                             "matrix-free path (n + m > 1000 without Hessian matrices): pass "
                             "hess= (objective and constraints) or linear_algebra='dense', or "
                             "use an iterative sketch")
        has_hvp = bool(getattr(obj, "has_hvp", hasattr(obj, "hvp")))
        if not has_hvp:
            warnings.warn("al-newton: no hess/hessp given; Hessian products are forward "
                          "differences of the gradient (one extra gradient each)",
                          RuntimeWarning, stacklevel=2)
        return cons, path, has_hvp

    def _eval(self, problem, x, lam):
        """f, grad f, c - lb, G, grad_x L at x (one value_and_grad, one c, one jac)."""
        cons = problem.constraints
        f, g = problem.objective.value_and_grad(x)
        g = np.asarray(g, dtype=float)
        if f == np.inf:  # outside the bounds' open box (BoxProblem): no constraint calls
            nan = np.full(cons.m, np.nan)
            return float(f), g, nan, None, np.full(x.size, np.nan)
        c = np.asarray(cons.c(x), dtype=float) - cons.lb
        G = cons.jac(x)
        gl = g + G.T @ lam
        return float(f), g, c, G, np.asarray(gl, dtype=float).ravel()

    # ------------------------------------------------------------------ solver protocol
    def init(self, problem, x0, rng):
        x = np.array(x0, dtype=float)
        box = box_of(problem.bounds, x.size)
        if box is not None and isinstance(problem.constraints, ConstraintOracle):
            # barrier view, fixed variables as rows (optkit.constrained._box)
            box = BoxProblem(problem, *box, mu=BARRIER_MU0)
            problem, x = box, box.start(x)
            box.reset_duals(x)
        cons, path, has_hvp = self._check_problem(problem)
        base = (cons.ncev, cons.njev, cons.nhev)
        m = cons.m
        lam = np.zeros(m)
        f, g, c, G, gl = self._eval(problem, x, lam)
        view = None
        if self.robust:
            s_f, d = scale_factors(g, G)
            if m > x.size:  # rows unscaled: the least-squares point of the user's c(x) = 0
                d = np.ones(m)
            if s_f < 1.0 or np.any(d < 1.0):  # iterate on the scaled problem
                view = ScaledProblem(problem, s_f, d)  # the values at x0, scaled: no new calls
                f, g, c, G = view.scale_values(f, g, c, G)
                gl = np.asarray(g + G.T @ lam, dtype=float).ravel()
        lam0 = self.lam0
        if isinstance(lam0, str) or (lam0 is None and self.robust and box is None
                                     and path == "dense"):
            if m:
                lam = self._least_squares_multipliers(G, g)
                if lam0 is None and not np.max(np.abs(lam)) <= LAMBDA_INIT_MAX:
                    lam = np.zeros(m)
                gl = np.asarray(g + G.T @ lam, dtype=float).ravel()
        elif lam0 is not None:
            lam = np.array(self.lam0, dtype=float).ravel()
            if lam.shape != (m,) or not np.all(np.isfinite(lam)):
                raise ValueError(f"lam0 must be a finite array of shape ({m},), got {lam.shape}")
            if view is not None:
                lam = view.scale_multipliers(lam)
            gl = g + G.T @ lam
        state = _State(x=x, lam=lam, fun=f, g=g, c=c, G=G, gl=np.asarray(gl).ravel(),
                       xi_G=None, gram_max=None, mu=self.mu0, nu=self.nu0, delta=self.delta0,
                       kappa=self.kappa0, rng=rng, path=path, has_hvp=has_hvp,
                       base=base, view=view, box=box,
                       shift_floor=self.shift_floor0 if self.robust else None)
        if m > x.size:  # robust only (_check_problem)
            self._overdetermined_start(view or problem, state)
        return state

    def terminate(self, problem, state):
        if state.stop is not None:
            return True, state.stop[0], state.stop[1]
        kkt = state.kkt
        if not np.isfinite(kkt):
            return True, AL_STATUS["nonfinite"], "The KKT residual is not finite."
        if state.box is not None:
            kkt = self._barrier_update(state)
        if self._solved(state):
            if self.robust:
                self._project(problem, state)
            return True, AL_STATUS["success"], "Optimization terminated successfully."
        certify = (self.robust and state.box is not None and state.k > state.barrier_k
                   and ((state.k - state.barrier_k) % CERTIFY_EVERY == 0
                        or bool(state.info.get("recovery"))))
        if certify and self._certify(state):
            return True, AL_STATUS["success"], CERTIFIED
        problem = state.view or state.box or problem
        if self.singular_test == "absolute" and self._singular(state):
            return True, AL_STATUS["singular"], self._singular_message(state)
        infeasible = np.max(np.abs(state.c), initial=0.0) > self.tol
        if self.robust and self._multipliers_unbounded(state, infeasible):
            return True, AL_STATUS["singular"], (
                f"The iterate is feasible (||c||_inf <= tol = {self.tol:g}) but not a KKT point, "
                f"and the multipliers grow without bound (||lambda|| = "
                f"{np.linalg.norm(state.lam):.3g}) at a rank-deficient Jacobian, "
                f"{self._singular_test_text(state)}, at iteration {state.k}: a Fritz John "
                "point where no multipliers exist (LICQ fails); Newton's method cannot leave "
                "it. Another x0 may reach a KKT point.")
        if (self.robust and infeasible and state.short_steps >= CRAWL_STEPS
                and state.n_recoveries < MAX_RECOVERIES):
            self._recover(problem, state)  # crawling (see _stalled): restore, reset
            state.short_steps = 0
            state.best_kkt, state.best_k = state.kkt, state.k
            if state.stop is not None:
                return True, state.stop[0], state.stop[1]
            infeasible = np.max(np.abs(state.c), initial=0.0) > self.tol
        if self.robust and self._stalled(state, kkt):
            if state.box is not None and not certify and self._certify(state):
                return True, AL_STATUS["success"], CERTIFIED
            state.stop = (AL_STATUS["stalled"], (
                f"No progress: the KKT residual has not fallen below {1 - STALL_DECREASE:g} "
                f"times its best value {state.best_kkt:.3g} for {STALL_WINDOW} iterations; "
                f"the problem may have no KKT point (e.g. a rank-deficient Jacobian at the "
                f"solution) or be too ill-conditioned for tol={self.tol:g}."))
            if infeasible and state.n_recoveries < MAX_RECOVERIES:
                self._recover(problem, state)
                state.best_kkt, state.best_k = state.kkt, state.k
            if state.stop is not None:
                return True, state.stop[0], state.stop[1]
            if state.kkt <= self.tol and self._unscaled_kkt(state) <= self.tol:
                return True, AL_STATUS["success"], "Optimization terminated successfully."
        return False, 0, ""

    def _solved(self, state) -> bool:
        """The success test: the KKT residual (scaled and the user's) within ``tol``; with
        bounds, that of the barrier problem net of rounding at the last barrier parameter."""
        if state.box is None:
            return state.kkt <= self.tol and self._unscaled_kkt(state) <= self.tol
        return (state.box.mu <= self._barrier_mu_min(state)
                and self._kkt_net_of_rounding(state) <= self.tol)

    def _project(self, problem, s):
        r"""``safeguards="robust"``, once the success test (:meth:`_solved`) holds: up to
        ``PROJECTION_STEPS`` Newton projections onto :math:`c(x) = 0`, the least-norm step
        of :meth:`_correction` at the iterate itself (zero on fixed variables),

        .. math::
            x^+ = x - W^{-1}G^\top (G W^{-1} G^\top)^{-1} c(x),

        with :math:`W = I`, or with bounds the barrier's metric :math:`W = I + \Sigma`
        (:meth:`._box.BoxProblem.barrier_diag`), so that variables at active bounds stay
        where they are. It is the Gauss-Newton step of :math:`\tfrac12\|c\|^2`:
        quadratically convergent where :math:`G` has full row rank, linearly where it is
        singular at the solution (S2MPJ BT8, BT13, CHANDHEQ, RECIPE: :math:`\|c\|` falls two
        to fourfold per step). The multipliers are kept, or where the success test fails
        with them, those of least squares at :math:`x^+` (:meth:`_least_squares_multipliers`;
        S2MPJ HS27 from a perturbed start, where :math:`\nabla^2 L\,p` moved
        :math:`\nabla_x L` from 2e-7 to 1.7e-6). The success test
        :math:`\|\nabla L\| \le` ``tol`` leaves :math:`\|c\|_\infty` up to ``tol`` (S2MPJ
        BOOTH, BT1, MARATOS: 1e-8 to 1e-7 where SLSQP and IPOPT end at 1e-14), and the
        objective off by about :math:`\lambda^\top c` (optiprofiler's merit adds
        :math:`10^5 \|c\|_\infty` above :math:`10^{-10}`). A projection is kept when it
        halves :math:`\|c\|_\infty` and the success test still holds (S2MPJ ORTHRDS2, where
        the step is long, and the Euclidean step on BT13, which moves a variable at its
        bound, are not taken); they stop once the user's :math:`\|c\|_\infty \le`
        ``PROJECTION_FLOOR``. Each costs one gradient, one constraint and one Jacobian
        evaluation (counted) and no Hessian, against a Newton iteration for a tighter
        ``tol``."""
        problem = s.view or s.box or problem
        d = self._user_scales(s)[1]
        for _ in range(PROJECTION_STEPS):
            c_inf = float(np.max(np.abs(s.c), initial=0.0))
            if float(np.max(np.abs(s.c / d), initial=0.0)) <= PROJECTION_FLOOR:
                return
            step = self._correction(s, s.c, None if s.box is None
                                    else 1.0 / (1.0 + s.box.barrier_diag(s.x)))
            if step is None:
                return
            with np.errstate(all="ignore"):
                try:
                    f, g, c, G, gl = self._eval(problem, s.x + step, s.lam)
                except ArithmeticError:
                    return
            if not (np.isfinite(f) and np.all(np.isfinite(gl))
                    and float(np.max(np.abs(c), initial=0.0)) <= 0.5 * c_inf):
                return
            trial = replace(s, x=s.x + step, fun=f, g=g, c=c, G=G, gl=gl)
            if not self._solved(trial):  # the least-squares multipliers of x+
                lam = self._least_squares_multipliers(G, g)
                trial = replace(trial, lam=lam, gl=np.asarray(g + G.T @ lam).ravel())
                if not self._solved(trial):
                    return
            s.x, s.lam, s.fun, s.g, s.c, s.G, s.gl = (trial.x, trial.lam, f, g, c, G,
                                                      trial.gl)
            if not problem.constraints.is_linear:
                self._forget_jacobian(s)
            s.n_projections += 1

    @staticmethod
    def _forget_jacobian(s):
        """A new G: its Gram spectrum, factorization and null-space basis are recomputed
        when next needed."""
        s.xi_G = s.gram_max = s.gram_solve = s.null_G = None

    @staticmethod
    def _unscaled_kkt(state) -> float:
        r"""The KKT residual :math:`\|(\nabla_x L, c)\|_2` of the user's problem. Scaling
        only shrinks f and c, so the scaled test alone would stop early (BT1: f off by
        2e-5); ``tol`` keeps its meaning whatever the scaling (Newton's local rate makes
        the difference a few iterations)."""
        if state.view is None:
            return state.kkt
        gl, c = state.gl / state.view.s_f, state.c / state.view.d
        return float(np.sqrt(gl @ gl + c @ c))

    @staticmethod
    def _user_scales(state):
        """``(s_f, d)``: the objective's and the rows' scale factors (1 without scaling)."""
        if state.view is None:
            return 1.0, np.ones(state.c.size)
        return state.view.s_f, state.view.d

    @staticmethod
    def _kkt_net_of_rounding(state) -> float:
        r"""With bounds: the KKT residual :math:`\|(\nabla_x L, c)\|_2` in the user's units
        with each bounded entry of :math:`\nabla_x L` reduced (down to 0) by the rounding
        floor of its barrier term (:meth:`._box.BoxProblem.barrier_grad_rounding`), the
        closest a floating-point x can fit it. At the last barrier parameter it is the
        success test: the plain residual stalls at that floor at active bounds with large
        multipliers (a convex QP with f times 10, z up to 87: 1.8e-6 > ``tol`` = 1e-6 for 50
        iterations, status 5, with x exact to 2e-7). ``_barrier_mu_min`` raises the last
        barrier parameter to lower the floor, but only up to ``tol``/10."""
        s_f, d = ALNewton._user_scales(state)
        gl = np.maximum(np.abs(state.gl / s_f) - state.box.barrier_grad_rounding(state.x), 0.0)
        c = state.c / d
        return float(np.sqrt(gl @ gl + c @ c))

    @staticmethod
    def _stalled(state, kkt) -> bool:
        r"""``safeguards="robust"``: the progress test that ends a run whose KKT residual has
        not fallen below ``1 - STALL_DECREASE`` times its best value for ``STALL_WINDOW``
        Newton iterations. At an infeasible iterate the stall, and also ``CRAWL_STEPS``
        consecutive Armijo steps below ``SHORT_STEP`` (checked in :meth:`terminate`), are
        answered by :meth:`_recover` (feasibility restoration and reset) while recoveries
        remain: steps of :math:`10^{-4}` on a merit whose Newton direction overshoots (S2MPJ
        EXTROSNBNE, a Rosenbrock-type square system) are the typical case. Otherwise the
        run stops (status 5): problems whose minimizer has no multipliers (G
        rank-deficient at :math:`x^*`, S2MPJ BT8) drive :math:`\|\lambda\| \to \infty`
        while the residual stays put, and without the test they spend all of ``maxiter``.
        The same role as IPOPT's "acceptable" termination (Wächter and Biegler, 2006; its ``acceptable_tol`` options)
        without claiming success."""
        if kkt < (1.0 - STALL_DECREASE) * state.best_kkt:
            state.best_kkt, state.best_k = kkt, state.k
            return False
        return state.k - state.best_k >= STALL_WINDOW

    def _barrier_mu_min(self, s) -> float:
        r"""The last barrier parameter: ``BARRIER_MU_MIN`` = 1e-9, or ``tol``/10 if smaller,
        raised (up to ``tol``/10) to the rounding floor of the barrier gradient. The
        objective's barrier error is about the number of active bounds times it
        (``tol``/10 = 1e-7 left f 2e-6 above SLSQP's on S2MPJ DUAL1, DUAL4, HIMMELBK,
        READING1, SREADIN3); IPOPT's ``mu_min`` 1e-11 is beyond the primal barrier's
        conditioning. The floor: at an active bound :math:`x_i - l_i = \beta/z_i`, and
        :math:`\beta/(x_i - l_i)` is computed from the rounded :math:`x_i` with the error
        :math:`\varepsilon_{\rm mach}|x_i| z_i^2/\beta`; the last :math:`\beta` keeps
        the norm of these errors below ``tol``/2, so that the KKT test can still be met
        (a bounded convex QP with 16 active bounds, z up to 6.6: residual stuck at 1.4e-6
        with :math:`\beta` = 1e-9, all of it in the active components)."""
        floor = min(BARRIER_MU_MIN, self.tol / 10.0)
        z_lo, z_hi = s.box.multipliers(s.x)
        x = np.abs(s.x)
        size = np.linalg.norm(np.concatenate([x[s.box.has_lo] * z_lo**2,
                                              x[s.box.has_hi] * z_hi**2]))
        return max(floor, min(2.0 * _EPS * float(size) / self.tol, self.tol / 10.0))

    def _barrier_update(self, s) -> float:
        r"""Bounds (:mod:`optkit.constrained._box`): IPOPT's monotone barrier update
        (Wächter and Biegler 2006, §2.1, eq. (7)): while the barrier problem's KKT residual
        is :math:`\le \kappa_\epsilon\beta` (``BARRIER_KAPPA_EPS``), or after a tiny step
        (:meth:`_tiny_step`, IPOPT's rule), :math:`\beta \leftarrow
        \max(\beta_{\min}, \min(\kappa_\beta\beta, \beta^{\theta_\beta}))`. The residual
        tested is also taken net of the barrier gradient's rounding floor
        (:meth:`_kkt_net_of_rounding`, as the success test): at active bounds with large
        multipliers the plain residual cannot fall below that floor, and the barrier
        parameter stayed put with Newton steps of 1e-15 (S2MPJ NCVXQP7: residual 5.8e-4 at
        :math:`\beta` = 1.8e-6 for 50 iterations at IPOPT's f, status 5). The state's
        objective and gradients change by the barrier's difference alone (no user calls);
        the multipliers, penalties and the iterate are kept. Returns the new KKT residual."""
        box, mu_min = s.box, self._barrier_mu_min(s)
        s_f = 1.0 if s.view is None else s.view.s_f
        kkt, tiny = s.kkt, s.tiny_step or (self.robust and self._no_interior_point(s))
        while box.mu > mu_min and (
                tiny or min(kkt, self._unscaled_kkt(s), self._kkt_net_of_rounding(s))
                <= max(BARRIER_KAPPA_EPS * box.mu, self.tol)):
            tiny = False  # a tiny step decreases the barrier parameter once
            value, grad = box.barrier(s.x), box.barrier_grad(s.x)
            box.mu = max(mu_min, min(BARRIER_KAPPA_MU * box.mu, box.mu**BARRIER_THETA_MU))
            step = s_f * (box.barrier_grad(s.x) - grad)
            s.fun = s.fun + s_f * (box.barrier(s.x) - value)
            s.g, s.gl = s.g + step, s.gl + step
            s.best_kkt, s.best_k, s.short_steps, s.unbounded_steps = np.inf, s.k, 0, 0
            s.barrier_k = s.k
            s.no_interior_mark = (s.k, np.inf, np.inf)
            kkt = s.kkt
        return kkt

    @staticmethod
    def _no_interior_point(s) -> bool:
        r"""``safeguards="robust"``, bounds: has the barrier problem at this :math:`\beta` no
        solution? When the constraints force variables onto their bounds, no point strictly
        inside the bounds is feasible: the iterates approach the bound, the multipliers
        balance the barrier's :math:`\beta/(x_i - l_i)` and grow without limit, and the
        KKT residual of the barrier problem does not fall (S2MPJ OPTCNTRL: :math:`\|\lambda\|`
        670 → 5.4e5 at :math:`\beta = 0.1` over iterations 25–41, then 40 iterations there;
        HIMMELBJ from a perturbed start: 4e3 → 2e8 and the time limit). The test: over
        ``NO_INTERIOR_WINDOW`` iterations at one :math:`\beta`, :math:`\|\lambda\|` grew
        by ``NO_INTERIOR_GROWTH`` or more and the KKT residual did not fall below its value at
        the window's start. Then :math:`\beta` decreases as after a solved barrier problem
        (:meth:`_barrier_update`; IPOPT's monotone rule needs that solve, and without an
        interior point there is none to wait for)."""
        k0, lam0, kkt0 = s.no_interior_mark
        if s.k - k0 < NO_INTERIOR_WINDOW:
            return False
        lam, kkt = float(np.linalg.norm(s.lam)), s.kkt
        s.no_interior_mark = (s.k, lam, kkt)
        return lam >= NO_INTERIOR_GROWTH * lam0 and kkt >= kkt0

    def _certify(self, s) -> bool:
        r"""``safeguards="robust"`` with bounds: is the feasible iterate a KKT point of the
        user's problem with multipliers fitted for it? The bound multipliers of a barrier
        iterate are :math:`\beta/(x - l)`; when no point strictly inside the bounds meets
        the constraints (they force variables onto their bounds) the barrier problem has no
        solution, :math:`\beta` never falls and its multipliers grow without bound (S2MPJ
        OPTCNTRL: ten controls forced to their bound 0.2, :math:`\|c\|_\infty` = 2e-10 and
        f at SLSQP's from iteration 100 on, :math:`\|\lambda\|` 6e7 → 5e8 over the next 1500).
        The test solves, by scipy's ``lsq_linear``, the bounded linear least-squares problem
        of the KKT conditions (Nocedal and Wright 2006, Theorem 12.1) over the bounds within
        ``tol`` of x,

        .. math::
            \min_{\lambda,\ z_L \ge 0,\ z_U \ge 0}
            \|\nabla f + G^\top\lambda - E_L z_L + E_U z_U\|_2,

        and certifies x when :math:`\|(r, c)\|_2 \le` ``tol`` and :math:`\max z_i
        (x_i - l_i) \le` ``tol`` (complementarity), all in the user's units. Tried at a
        feasible iterate every ``CERTIFY_EVERY`` iterations without a barrier decrease,
        after each recovery (:meth:`_recover`, a restoration onto the constraints), and
        before a stall stop (the identification of the active set by its gaps, as in
        active-set crossovers of interior-point methods: Wright 1997, *Primal-Dual
        Interior-Point Methods*, ch. 7). The fitted multipliers go to the result."""
        from scipy.optimize import lsq_linear

        box = s.box
        s_f, d = self._user_scales(s)
        c = s.c / d
        if np.max(np.abs(c), initial=0.0) > self.tol:
            return False
        g = s.g / s_f - box.barrier_grad(s.x)
        lo_gap, hi_gap = box.gaps(s.x)
        near_lo, near_hi = lo_gap <= self.tol, hi_gap <= self.tol
        at_lo, at_hi = np.flatnonzero(box.has_lo)[near_lo], np.flatnonzero(box.has_hi)[near_hi]
        n, m, k = s.x.size, s.c.size, at_lo.size + at_hi.size
        E = sp.csr_array((np.concatenate([-np.ones(at_lo.size), np.ones(at_hi.size)]),
                          (np.concatenate([at_lo, at_hi]), np.arange(k))), shape=(n, k))
        G = sp.diags(1.0 / d) @ sp.csr_array(s.G) if sp.issparse(s.G) else s.G / d[:, None]
        A = (sp.hstack([G.T, E], format="csr") if sp.issparse(G)
             else np.hstack([G.T, E.toarray()]))
        lower = np.concatenate([np.full(m, -np.inf), np.zeros(k)])
        fit = lsq_linear(A, -g, bounds=(lower, np.inf),
                         lsmr_tol="auto" if sp.issparse(A) else None)
        r = A @ fit.x + g
        z = fit.x[m:]
        gaps = np.concatenate([lo_gap[near_lo], hi_gap[near_hi]])
        kkt = float(np.sqrt(r @ r + c @ c))
        if kkt > self.tol or np.max(z * gaps, initial=0.0) > self.tol:
            return False
        lam, bound = fit.x[:m], np.zeros(n)
        bound[at_lo], bound[at_hi] = z[:at_lo.size], -z[at_lo.size:]
        bound[box.fixed] = -lam[box.m_user:]
        s.certificate = {"multipliers": lam[:box.m_user], "bound_multipliers": bound,
                         "kkt_residual": kkt, "optimality": float(np.max(np.abs(r), initial=0.0))}
        return True

    def _multipliers_unbounded(self, state, infeasible) -> bool:
        r"""``safeguards="robust"``, at a feasible iterate that is not a KKT point: do the
        multipliers blow up at a rank-deficient Jacobian? Near a feasible point
        :math:`\bar x` where :math:`G` loses rank and :math:`\nabla f(\bar x) \notin
        \operatorname{range}(G^\top)` (a Fritz John point that is not a KKT point), the Newton
        steps stay feasible, the multipliers grow like :math:`1/\sigma_{\min}(G)` and the KKT
        residual cannot reach ``tol`` (S2MPJ ORTHRGDS: :math:`\|\lambda\|` from 60 to
        :math:`10^8` in 20 iterations, :math:`\lambda_{\min}(GG^\top)/\lambda_{\max} \to
        10^{-17}`, unit steps rejected until the time limit). Cheap necessary condition first:
        at a KKT point :math:`\|\lambda\|_2 \le \|\nabla f\|_2/\sigma_{\min}(G)`, so
        :math:`\|\lambda\|_2\|G\|_F > 10^6 \max(\|\nabla f\|_2, \text{tol})` needs
        :math:`\|G\|_F/\sigma_{\min}(G) > 10^6`; it must hold, with :math:`\|\lambda\|`
        growing, over ``UNBOUNDED_STEPS`` consecutive Newton steps (least-squares multipliers
        after a restoration onto a singular point are large without any crawl: S2MPJ
        LUKVLE18 still descends from there, f 18.17 to 17.67); then the relative singularity
        test (``singular_tol``) decides. Such points are where penalty and SQP methods also stop
        (Nocedal and Wright 2006, §12.6 and §18.4: no multipliers without a constraint
        qualification); the run ends with status 7 at the feasible point."""
        G = state.G
        G_norm = float(sp.linalg.norm(G) if sp.issparse(G) else np.linalg.norm(G))
        lam_norm = float(np.linalg.norm(state.lam))
        growing = (not infeasible and lam_norm > state.lam_norm_prev
                   and not state.info.get("recovery")
                   and lam_norm * G_norm > LAMBDA_BLOWUP * max(float(np.linalg.norm(state.g)),
                                                               self.tol))
        state.lam_norm_prev = lam_norm
        state.unbounded_steps = state.unbounded_steps + 1 if growing else 0
        if state.unbounded_steps < UNBOUNDED_STEPS:
            return False
        self._gram(state)
        return state.xi_G <= self.singular_tol * state.gram_max

    @staticmethod
    def _gram(state):
        """Fill in ``xi_G`` and ``gram_max`` for the current G, only when a test needs them
        (an eigenvalue problem of size m: the sparse path's largest setup cost)."""
        if state.xi_G is None:
            state.xi_G, state.gram_max = gram_eigs(state.G)

    def _singular(self, state) -> bool:
        r"""Is :math:`GG^\top` (numerically) singular? ``"absolute"`` (the reference code's,
        with its ``singular_tol = 1e-2``): :math:`\lambda_{\min}(GG^\top) <` ``singular_tol``.
        ``"relative"`` (default): :math:`\lambda_{\min}(GG^\top) \le` ``singular_tol``
        :math:`\cdot\lambda_{\max}(GG^\top)` (scale-invariant; ``1e-12`` is a few thousand
        times the eigenvalues' round-off)."""
        self._gram(state)
        if self.singular_test == "absolute":
            return state.xi_G < self.singular_tol
        return state.xi_G <= self.singular_tol * state.gram_max

    def _singular_test_text(self, state) -> str:
        if self.singular_test == "absolute":
            return f"lambda_min(G G^T) = {state.xi_G:.3g} < singular_tol = {self.singular_tol:g}"
        return (f"lambda_min(G G^T) = {state.xi_G:.3g} <= singular_tol * lambda_max(G G^T) "
                f"= {self.singular_tol:g} * {state.gram_max:.3g}")

    def _singular_message(self, state) -> str:
        return (f"The constraint Jacobian is (nearly) rank-deficient at iteration {state.k}: "
                f"{self._singular_test_text(state)}.")

    def _blame_singular(self, s):
        r"""``singular_test="relative"``: a rank-deficient G does not stop the run by itself
        (sketching needs no factorization, and the KKT system of a problem whose Jacobian
        loses rank only near x*, or is merely ill-conditioned, is still consistent or close
        to it); when a Newton step then fails (penalty safeguards, sketch budget, line
        search) at a singular G, the singularity is the reported cause (status 7). Not when
        the recovery's feasibility restoration has ended at an infeasible stationary point
        of :math:`\tfrac12\|c\|^2` (status 10, the more specific verdict, which the
        same run reaches through the crawl test too: two inconsistent rows ended with 7 or
        10 depending on the sketch seed)."""
        if (s.stop is not None
                and s.stop[0] not in (STATUS["max_time"], AL_STATUS["infeasible"])
                and self.singular_test == "relative" and self._singular(s)):
            s.stop = (AL_STATUS["singular"], f"{self._singular_message(s)} The Newton step "
                      f"failed there: {s.stop[1]}")

    def _linear_algebra(self, problem) -> str:
        """``"dense"``, ``"sparse"`` or ``"matrix-free"`` for this problem."""
        if self.linear_algebra != "auto":
            return self.linear_algebra
        if problem.n + problem.constraints.m <= DENSE_MAX:
            return "dense"
        cons = problem.constraints
        if getattr(problem.objective, "has_hess", False) and cons.has_lagrangian_hess:
            return "sparse"
        return "matrix-free"

    # ------------------------------------------------------------------ one Newton iteration
    def step(self, problem, s):
        """Steps 2-5 of the iteration (see the class docstring)."""
        problem = s.view or s.box or problem
        kkt = build_kkt(self, problem, s)
        s.setup_flops += kkt.setup_flops
        inner = self._newton_direction(s, kkt)
        s.k += 1
        if s.stop is None:
            self._line_search(problem, s, inner.z, inner.slope)
            if s.stop is None and kkt.floored:
                self._adapt_shift_floor(s)
        if (s.stop is not None and s.stop[0] in RECOVERABLE and s.box is not None
                and not s.box.primal):  # bounds: retry with the primal barrier Hessian
            s.box.reset_duals(s.x)
            s.stop = None
            return s
        if (s.stop is not None and self.robust and s.stop[0] in RECOVERABLE
                and s.n_recoveries < MAX_RECOVERIES):
            self._recover(problem, s)
        self._blame_singular(s)
        return s

    # ------------------------------------------------------------------ robust safeguards
    def _adapt_shift_floor(self, s):
        r"""``safeguards="robust"``, after a step whose Hessian shift lifted a reduced
        Hessian with :math:`|\lambda_{\min}(Z^\top\nabla_x^2 L Z)| <` ``hess_mod_tol``
        to the floor :math:`\xi` (:func:`._kkt.hessian_shift`): the floor falls tenfold,
        to ``hess_mod_tol`` at least, when the line search took the
        full step, and rises tenfold, to :math:`\xi_B` at most, when it backtracked (or the
        bounds cut the step). It starts at ``shift_floor0`` (default :math:`\xi_B`, the
        paper's floor).

        A fixed floor :math:`\xi_B` on an almost flat reduced Hessian turns Newton's method
        into gradient steps of length :math:`\|\nabla L\|/\xi_B` that the line search
        accepts whole, iteration after iteration (S2MPJ UBH5, n = 110: unit steps for
        950 iterations at :math:`\lambda_{\min} \approx 10^{-7}`, time limit; LUKVLE13: 528
        iterations; HS54 from a perturbed start, :math:`\lambda_{\min}` slightly negative:
        3743 iterations), while the floor :math:`\xi_B` is what keeps the step short where
        the model is poor. Accepted full steps are the sign that the model is trusted: the
        radius rule of trust-region methods (Nocedal and Wright, Numerical Optimization, 2nd
        ed., 2006, Algorithm 4.1), applied to the regularization as in IPOPT's inertia
        correction, whose next trial shift is the last one divided by
        :math:`\kappa_w^- = 3` (Wächter and Biegler, Math. Program. 106, 2006, §3.1).
        :math:`Z^\top B Z \succeq \xi I` holds with the current floor :math:`\xi \ge`
        ``hess_mod_tol`` (the paper's guarantee with :math:`\xi_B` = ``hess_mod_tol`` at
        worst)."""
        fl = s.shift_floor
        if s.info.get("alpha") == 1.0:
            s.shift_floor = max(self.hess_mod_tol, fl / 10.0)
        else:
            s.shift_floor = min(self.xi_B, fl * 10.0)

    def _recover(self, problem, s):
        r"""``safeguards="robust"``: the answer to a failed Newton step (line search,
        penalty safeguards, sketch budget, singular K) instead of stopping.

        1. If the iterate is infeasible (:math:`\|c\|_\infty >` ``tol``), a feasibility
           restoration phase (:meth:`_restore`), as the restoration phase of IPOPT's filter
           line search (Wächter and Biegler, Math. Program. 106, 2006) and the
           feasibility phase of SQP methods for inconsistent or rank-deficient
           linearizations (Nocedal and Wright, Numerical Optimization, 2nd ed., 2006,
           ch. 18): the AL-Newton direction needs a consistent KKT system, and far
           from the feasible set with a rank-deficient :math:`G` it has none.
        2. Then (and at a feasible iterate directly) the multipliers are reset to the least
           squares estimate :math:`\lambda = -(GG^\top)^{+}G\nabla f` and
           :math:`\mu, \nu, \delta, \kappa` to their initial values: penalties driven
           to ``mu_max``/``nu_min`` by inexact or ill-conditioned early steps no longer fit
           the new point. (This reset is this implementation's choice; the paper's
           analysis holds again from the new point, as from a fresh start.)

        At most ``MAX_RECOVERIES`` per run; after that the failure stands. A restoration
        that ends at an infeasible stationary point of :math:`\tfrac12\|c\|^2` stops the
        run with status 10 (locally infeasible).
        """
        failure = s.stop
        s.stop = None
        s.n_recoveries += 1
        if np.max(np.abs(s.c), initial=0.0) > self.tol:
            ok, message = self._restore(problem, s)
            if s.stop is not None:  # max_time ran out in the restoration
                return
            if not ok:
                s.stop = (AL_STATUS["infeasible"], (
                    f"{message} (entered after: "
                    f"{failure[1] if failure else 'steps below SHORT_STEP'})"))
                return
        lam = self._least_squares_multipliers(s.G, s.g)
        s.lam, s.gl = lam, np.asarray(s.g + s.G.T @ lam, dtype=float).ravel()
        s.mu, s.nu, s.delta, s.kappa = self.mu0, self.nu0, self.delta0, self.kappa0
        s.last_step = 1.0
        s.info["recovery"] = 1.0

    def _overdetermined_start(self, problem, s):
        r"""``safeguards="robust"`` with more constraints than variables (:math:`m > n`):
        :math:`G` cannot have full row rank, so the paper's iteration (LICQ) does not apply
        as it stands, and SLSQP and IPOPT refuse such problems. The constraints are then
        either consistent (the S2MPJ "NE" forms of zero-residual least-squares problems;
        duplicated or dependent rows) or not (data fits). The run starts with the feasibility
        restoration from :math:`x_0` (:meth:`_restore`: MINPACK's Levenberg-Marquardt on
        :math:`\tfrac12\|c\|^2`, the Gauss-Newton method for overdetermined systems, or the
        trust-region reflective method with bounds or a sparse :math:`G`; the
        rows are not scaled, so that this is the user's least-squares problem). If it
        ends infeasible, the run stops with status 10 at that least-squares point of
        :math:`c(x) = 0`. Otherwise the multipliers are the least-squares ones: where
        :math:`G` has rank :math:`n` the feasible point is isolated, :math:`G^\top` is onto and
        the KKT residual is zero (success); where it has lower rank (dependent rows) the
        Newton iteration continues on the feasible manifold, the sketch solving the
        consistent singular KKT systems."""
        n, m = s.x.size, s.c.size
        if np.max(np.abs(s.c)) > self.tol:
            self._restore(problem, s)
            if s.stop is not None:  # max_time ran out in the restoration
                return
            if np.max(np.abs(s.c)) > self.tol:
                c = s.c / s.view.d if s.view is not None else s.c  # the user's units
                s.stop = (AL_STATUS["infeasible"], (
                    f"The {m} equality constraints on {n} variables have no solution near the "
                    f"least-squares point of c(x) = 0 returned (||c||_inf = "
                    f"{np.max(np.abs(c)):.3g} after {s.n_restoration_nfev} evaluations of "
                    "the least-squares restoration from x0)."))
                return
        s.lam = self._least_squares_multipliers(s.G, s.g)
        s.gl = np.asarray(s.g + s.G.T @ s.lam, dtype=float).ravel()

    @staticmethod
    def _least_squares_multipliers(G, g):
        r""":math:`\arg\min_\lambda \|\nabla f + G^\top\lambda\|` (minimum norm): LAPACK's
        ``lstsq`` on a dense :math:`G` (:func:`._sketch_ops.min_norm_lstsq`). For a sparse
        :math:`G` beyond the dense limit: the normal equations :math:`GG^\top\lambda =
        -G\nabla f` by one sparse LU when :math:`G` has full row rank; otherwise LSQR from
        :math:`\lambda = 0` (Paige and Saunders, ACM TOMS 8, 1982), which converges to the
        minimum-norm least-squares solution (at most :math:`10\min(m, n)` iterations: an
        ill-conditioned :math:`G`, :math:`\kappa = 1.6 \cdot 10^4`, needed 2507 for rank
        599). :math:`G` is taken as rank-deficient when :math:`m > n`, when the LU fails, or
        when its smallest pivot is below ``LU_PIVOT_RATIO`` times the largest (a
        rank-deficient :math:`G` gives one pivot of :math:`10^{-15}`–:math:`10^{-17}` per
        missing rank, a full-rank one :math:`\sim 10^{-4}`): the LU of the singular
        :math:`GG^\top` gave zeros or a solution with an arbitrary
        :math:`\operatorname{null}(G^\top)` component (norm 7.9e3 for 178)."""
        if G.shape[0] == 0:
            return np.zeros(0)
        g = np.asarray(g, dtype=float)
        if sp.issparse(G) and sum(G.shape) > DENSE_MAX:
            G = sp.csr_array(G)
            if G.shape[0] <= G.shape[1]:
                try:
                    lu = _sk.sparse_lu(G @ G.T)
                    pivots = np.abs(lu.U.diagonal())
                    if pivots.min() > LU_PIVOT_RATIO * pivots.max():
                        return -lu.solve(G @ g)
                except RuntimeError:  # exactly singular
                    pass
            return sp.linalg.lsqr(G.T, -g, atol=1e-14, btol=1e-14,
                                  iter_lim=10 * min(G.shape))[0]
        Gd = G.toarray() if sp.issparse(G) else np.asarray(G, dtype=float)
        return _sk.min_norm_lstsq(Gd.T, -g)

    def _restore(self, problem, s):
        r"""Feasibility restoration: minimize :math:`\phi(x) = \tfrac12\|c(x)\|^2` from the
        current iterate, the objective ignored.

        The solver is ``scipy.optimize.least_squares``: MINPACK's trust-region
        Levenberg-Marquardt (Moré, "The Levenberg-Marquardt algorithm: implementation and
        theory", 1978) when :math:`m \ge n` and :math:`G` is dense (or within the dense limit),
        else the trust-region reflective method
        (Branch, Coleman and Li, SIAM J. Sci. Comput. 21, 1999), which handles
        underdetermined and rank-deficient :math:`G` (sparse :math:`G` through LSMR when
        :math:`n + m` exceeds the dense limit). A trust region matters here: a Gauss-Newton
        or fixed-damping LM line search crawls along curved valleys (S2MPJ EXTROSNBNE: Armijo
        steps of :math:`6 \cdot 10^{-5}`, where MINPACK converges in 261 evaluations).
        Success: :math:`\|c\|_\infty \le` ``tol``/10, or :math:`\|c\|` reduced by
        :math:`10^3`; otherwise the end point is taken as a stationary point of
        :math:`\phi` away from the feasible set (locally infeasible). (Two early stops
        were tried and dropped, both for S2MPJ problems whose Jacobian is singular at the
        solution: at the first point with :math:`\|c\|_\infty \le` ``tol``/10, half the
        restoration evaluations on MARATOS, BT7, CYCLOOCF, but LUKVLE17 and LUKVLE18 took
        other paths from that less feasible point and lost their feasible end points; after
        :math:`10(n + 1)` evaluations without a 1% lower :math:`\|c\|`, OSCIPANE 1100 →
        111 evaluations at the same infeasible end, but POWERSUMNE ended locally infeasible
        from 2 of 8 seeds where the full run is feasible.) Once it has succeeded, the
        restoration ends after ``RESTORATION_SETTLE`` :math:`(n + 1)` evaluations without a
        :math:`\|c\|` lower by the fraction ``RESTORATION_SETTLE_DECREASE``, at the least
        :math:`\|c\|` seen: 1% at a feasible point (the Newton iteration takes over; S2MPJ
        NONSCOMPNE 35 → 4.4 s), 1e-4 after a reduction by :math:`10^3` only, which may be the
        least-squares point returned (S2MPJ DECONVBNE: :math:`\|c\|` from 0.47 to
        3.9050592e-7 in 1540 evaluations, then 3.9050579e-7 after 1540 more, past
        ``max_time``; the descents to the least-squares points of inconsistent systems, 1% in
        800 evaluations on PENLT1NE, go on).
        With bounds, the trust-region reflective method inside the box, ``RESTORATION_PUSH``
        from its faces (:meth:`._box.BoxProblem.restoration_bounds`), so that the barrier
        stays finite; the fixed variables keep their values and are not least-squares
        variables; it ends at the first point with :math:`\|c\|_\infty \le` ``tol``/10
        (near the faces the reflective steps are cut short, and the descent below that
        crawled: S2MPJ OPTCNTRL 1e-7 → 2e-9 in 470 of its 490 evaluations). With fixed
        variables only, the free ones are unbounded and the choice
        above holds (S2MPJ POROUS1: LM in 299 evaluations to :math:`\|c\|` = 31.3, where
        the trust-region reflective method spent 2600 going from 44.92 to 44.92). The
        iterate's own :math:`c` and :math:`G` are passed on, not evaluated again.
        An ``ArithmeticError`` from :math:`c` at a trial point counts as a non-finite residual
        (``least_squares`` then shrinks its trust region), as in the line search
        (:func:`_evaluation_errors_rejected`).
        ``max_time`` (:attr:`deadline`) is checked at each evaluation: past it the run stops
        (status 9) at the least :math:`\|c\|` seen (the budget of ``RESTORATION_MAXFEV``
        :math:`(n + 1)` evaluations ran S2MPJ LAKES past 200 s with ``max_time=60``). Returns
        ``(success, message)``; the state holds the end point whenever it lowered
        :math:`\|c\|` (multipliers unchanged)."""
        from scipy.optimize import least_squares

        cons = problem.constraints
        n, m = s.x.size, s.c.size
        large = n + m > DENSE_MAX
        x_entry, target = s.x.copy(), RESTORATION_TARGET * self.tol
        c_entry = float(np.linalg.norm(s.c))
        calls, best = [0], [x_entry, s.c]  # best: the least ||c|| seen (kept past max_time)
        progress = [[c_entry, 0], [c_entry, 0]]  # ||c|| at its last decrease by each
        # fraction of RESTORATION_SETTLE_DECREASE, and when

        def succeeded(c):
            return (np.max(np.abs(c), initial=0.0) <= target
                    or np.linalg.norm(c) <= 1e-3 * c_entry)

        free = np.ones(n, dtype=bool) if s.box is None else s.box.free
        bounded = s.box is not None and bool(np.any(s.box.has_lo | s.box.has_hi))
        columns = None if free.all() else np.flatnonzero(free)

        def full(y):  # the fixed variables stay at their values (x_entry's)
            if columns is None:
                return y
            x = x_entry.copy()
            x[columns] = y
            return x

        def residual(y):
            if time.perf_counter() > self.deadline:
                raise _OutOfTime
            calls[0] += 1
            x = full(y)
            if np.array_equal(x, x_entry):  # the iterate's c is known: no new call
                return s.c.copy()
            try:
                c = np.asarray(cons.c(x), dtype=float) - cons.lb
            except ArithmeticError:  # as a non-finite residual: the trust region shrinks
                return np.full(m, np.inf)
            c_norm = np.linalg.norm(c)
            if c_norm < np.linalg.norm(best[1]):
                best[:] = [x.copy(), c.copy()]
            for mark, fraction in zip(progress, RESTORATION_SETTLE_DECREASE):
                if c_norm < (1.0 - fraction) * mark[0]:
                    mark[:] = [c_norm, calls[0]]
            feasible = np.max(np.abs(best[1]), initial=0.0) <= target
            settle = progress[0 if feasible else 1][1] + RESTORATION_SETTLE * (n + 1)
            if (feasible and bounded) or (calls[0] >= settle and succeeded(best[1])):
                raise _Settled
            return c

        def jacobian(y):
            if time.perf_counter() > self.deadline:
                raise _OutOfTime
            x = full(y)
            J = s.G if np.array_equal(x, x_entry) else cons.jac(x)
            if columns is not None:
                J = J[:, columns]
            if sp.issparse(J):
                return sp.csr_array(J, copy=True) if large else J.toarray()
            return np.array(J, dtype=float)

        sparse = large and sp.issparse(s.G)  # MINPACK's LM takes dense Jacobians only
        method = "lm" if m >= n and not bounded and not sparse else "trf"
        extra = {"tr_solver": "lsmr"} if large and method == "trf" else {}
        start = s.x[free]
        if bounded:  # stay strictly inside the bounds (the barrier is finite)
            extra["bounds"] = s.box.restoration_bounds()
            start = np.clip(start, *extra["bounds"])
            if m >= n:  # trf in place of MINPACK's LM: LM's scaling by the column norms
                extra["x_scale"] = "jac"
        timed_out = exhausted = False
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ls = least_squares(residual, start, jac=jacobian, method=method, xtol=1e-15,
                                   ftol=1e-15, gtol=1e-15,
                                   max_nfev=RESTORATION_MAXFEV * (n + 1), **extra)
                x, c, exhausted = full(ls.x), ls.fun, ls.status == 0  # scipy's status 0: its budget ran out
            except (ValueError, np.linalg.LinAlgError) as exc:  # non-finite residuals
                return False, f"The feasibility restoration failed: {exc}."
            except _OutOfTime:  # the run ends (status 9) at the least ||c|| seen
                (x, c), timed_out = best, True
            except _Settled:
                x, c = best
        c_norm, nfev = float(np.linalg.norm(c)), calls[0]
        s.n_restoration_nfev += nfev
        ok = succeeded(c)
        if ok or c_norm < c_entry:  # a failed restoration still ends at the least ||c||
            f, g, c, G, gl = self._eval(problem, x, s.lam)
            s.x, s.fun, s.g, s.c, s.G, s.gl = x, f, g, c, G, gl
            if s.box is not None:
                s.box.reset_duals(x)
            self._forget_jacobian(s)
            s.eigvec = s.eigvec_H = None
        if timed_out:
            s.stop = (STATUS["max_time"], f"{MESSAGES[STATUS['max_time']]} (in the "
                      f"feasibility restoration, after {nfev} evaluations)")
            return False, s.stop[1]
        if not ok:
            G = s.G.toarray() if sp.issparse(s.G) else np.asarray(s.G)
            verdict = ("its evaluation budget ran out there; the constraints may be "
                       "locally infeasible" if exhausted
                       else "the constraints look locally infeasible")
            return False, (
                f"The feasibility restoration (least squares on ||c||^2/2, {nfev} "
                f"evaluations) stopped at ||c|| = {c_norm:.3g} (from {c_entry:.3g}) with "
                f"||G^T c|| = {float(np.linalg.norm(G.T @ s.c)):.3g}: {verdict} at "
                f"iteration {s.k}.")
        s.n_restorations += 1
        return True, ""

    def _accuracy(self, s, norms) -> _Accuracy:
        r"""Psi, Upsilon and delta_trial of the paper condition.

        They only enter the paper condition of an iterative sketch (``"direct"`` is exact);
        :math:`\xi_G` is then computed (:math:`\min(\xi_G, 1)` as the paper, floored so
        that Psi stays finite at ``singular_tol = 0``).
        """
        acc = _Accuracy(self.accuracy == "paper" and self.sketch != "direct",
                        theta=self.theta(s.k) if callable(self.theta) else self.theta)
        if acc.paper:
            self._gram(s)
            acc.psi = 20.0 * max(norms["B"] ** 2, 1.0) / (min(max(s.xi_G, XI_G_MIN), 1.0)
                                                          * min(self.xi_B, 1.0))
            acc.ups = max(norms["G"], norms["H"], 1.0)
            acc.trial0 = self._delta_trial(acc, s.mu, s.nu)
        return acc

    def _delta_trial(self, acc, mu, nu) -> float:
        return (0.5 - self.beta) * nu / ((1.0 + mu + nu) * acc.ups**2 * acc.psi * acc.psi)

    def _newton_direction(self, s, kkt: KKTSystem) -> _Inner:
        r"""Steps 3-4: sketch :math:`K\Delta = -\nabla L` until the accuracy condition holds,
        then test descent; on failure raise the penalties and resume from the same
        :math:`\Delta`. Updates the state's penalties, counters and ``info``; sets
        ``s.stop`` when no direction is found."""
        b = -np.concatenate([s.gl, s.c])
        kkt_norm = float(np.linalg.norm(b))
        Gt_c = s.G.T @ s.c
        G_gl = s.G @ s.gl
        Hgl = kkt.Hgl  # the merit's Hessian term: with bounds the primal barrier's, not Sigma
        if s.box is not None and not s.box.primal:  # in the scaled problem's units (s_f)
            s_f = 1.0 if s.view is None else s.view.s_f
            Hgl = Hgl + s_f * (s.box.barrier_diag(s.x, primal=True)
                               - s.box.barrier_diag(s.x)) * s.gl
        acc = self._accuracy(s, kkt.norms)
        mu, nu, kappa, delta = s.mu, s.nu, s.kappa, s.delta
        if acc.paper:
            delta = max(min(delta, acc.trial0), self.delta_floor)
        inner = _Inner(z=np.zeros(b.size), slope=0.0)
        check_every = self.check_every or b.size
        while True:
            if acc.paper:
                inner.rtol = acc.theta * delta / (kkt.norms["K"] * acc.psi)
            else:
                inner.rtol = 0.0 if self.sketch == "direct" else kappa
            try:
                residual = self._sketch_pass(s, kkt, b, inner, kkt_norm, check_every)
            except _sk.SingularMatrixError as exc:  # sketch="direct" on an exactly singular K
                s.stop = (AL_STATUS["singular"], f"The KKT matrix is singular at iteration "
                          f"{s.k}: {exc}.")
                inner.slope = 0.0
                break
            if s.box is not None:  # fixed variables: the exact step is 0 (rows x_i = l_i)
                inner.z[s.box.fixed] = 0.0
            gm = merit_gradient(s.gl, s.c, Gt_c, G_gl, Hgl, mu, nu)
            inner.slope = float(gm @ inner.z)
            if inner.slope <= -0.5 * nu * kkt_norm**2:
                break
            if mu > self.mu_max or nu < self.nu_min:
                if inner.slope < 0.0:  # the reference takes z at the safeguards: still a
                    inner.safeguard_step = True  # descent direction of the merit, Armijo decides
                    break
                s.stop = (AL_STATUS["penalty"], (
                    f"The penalty safeguards (mu = {mu:.3g} > {self.mu_max:g} or nu = {nu:.3g} < "
                    f"{self.nu_min:g}) were reached without a descent direction at iteration "
                    f"{s.k}; the KKT system may be too ill-conditioned for the sketch."))
                break
            if inner.steps >= 10 * self.max_inner:
                s.stop = (AL_STATUS["sketch_budget"], (
                    f"The sketch budget (10 * max_inner = {10 * self.max_inner} steps) was "
                    f"exhausted in Newton iteration {s.k} without a descent direction "
                    f"(relative residual target {inner.rtol:.3g}, reached "
                    f"{residual / kkt_norm:.3g})."))
                break
            mu *= self.rho**2
            nu /= self.rho
            if acc.paper:
                delta = max(min(delta / self.rho**4, self._delta_trial(acc, mu, nu)),
                            self.delta_floor)
            kappa = max(kappa / self.rho**2, KAPPA_MIN)
            inner.penalty_updates += 1
        s.n_inner += inner.steps
        s.n_direct_fallback += inner.fallbacks
        s.inner_flops += inner.flops
        s.mu, s.nu, s.delta, s.kappa = mu, nu, delta, kappa
        s.info = {"inner_steps": inner.steps, "hess_shift": kkt.t, "rtol": inner.rtol, "recovery": 0.0,
                  "inner_capped": inner.capped, "penalty_updates": inner.penalty_updates, "soc": 0.0,
                  "least_squares_multipliers": 0.0,
                  "safeguard_step": inner.safeguard_step, "inner_fallbacks": inner.fallbacks,
                  "alpha": 0.0, "psi": acc.psi, "upsilon": acc.ups, "K_norm": kkt.norms["K"],
                  "delta_trial": acc.trial0,
                  "barrier": np.nan if s.box is None else s.box.mu}
        return inner

    def _sketch_pass(self, s, kkt: KKTSystem, b, inner: _Inner, kkt_norm, check_every) -> float:
        """One sketch pass from ``inner.z`` to the relative target ``inner.rtol`` (at most
        ``max_inner`` steps); a capped pass is finished by LU with ``inner_fallback="direct"``
        when K is a matrix. Returns the pass's residual."""
        ldl = self._reusable_ldl(s, kkt)
        out = _sk.run_pass(kkt.kind, kkt.K, b, inner.z, self.sketch, self.sampling,
                           min(self.block_size, b.size), inner.rtol * kkt_norm,
                           self._pass_cap(kkt.kind, b.size), check_every, s.rng, ldl=ldl)
        inner.z = out.x
        inner.steps += out.n_steps
        inner.flops += out.flops
        inner.capped = inner.rtol > 0 and not out.converged  # rtol 0: "direct", exact by design
        if inner.capped and self.inner_fallback == "direct" and kkt.kind != "operator":
            try:  # finish the pass exactly: the accuracy condition then holds
                exact = _sk.run_pass(kkt.kind, kkt.K, b, inner.z, "direct", self.sampling, 1,
                                     inner.rtol * kkt_norm, 1, 1, s.rng, ldl=ldl)
                inner.z = exact.x
                inner.flops += exact.flops
                inner.capped = False
                inner.fallbacks += 1
            except _sk.SingularMatrixError:
                pass
        return out.residual

    @staticmethod
    def _reusable_ldl(s, kkt: KKTSystem):
        """``(ReusableLDL, m)`` for exact solves on the sparse path (the KKT pattern is the
        same at every Newton step, so its symbolic analysis is computed once per run:
        :mod:`optkit.constrained._ldl`); ``None`` on the dense and matrix-free paths."""
        if kkt.kind != "sparse":
            return None
        if s.ldl is None:
            s.ldl = ReusableLDL()
        return s.ldl, s.lam.size

    def _pass_cap(self, kind, size) -> int:
        r"""Sketch steps of one pass before the LU fallback. ``max_inner``, except with
        ``safeguards="robust"`` when an LU fallback exists (K a matrix,
        ``inner_fallback="direct"``): :math:`\min(\text{max\_inner}, \max(1000, N^2))`.
        An RK step costs :math:`\approx 4N` flops and the LU :math:`\tfrac23 N^3`, so
        :math:`N^2` steps cost about six LU factorizations; sketching longer than that on a
        system it cannot solve to the target only wastes time (S2MPJ EIGENB, EIGENBCO: every
        pass ran 10^5 steps, then the LU)."""
        if self.robust and self.inner_fallback == "direct" and kind != "operator":
            return int(min(self.max_inner, max(MIN_PASS_CAP, size * size)))
        return self.max_inner

    def _line_search(self, problem, s, z, slope):
        """Step 5: Armijo backtracking on the merit with a round-off slack
        (:func:`optkit.core.linesearch.backtracking`, halving from 1 down to ``ALPHA_MIN``);
        with ``safeguards="robust"`` a rejected unit step is first retried with a
        second-order correction (:meth:`_correction`) and then backtracked also along the
        arc through it (:meth:`_robust_backtracking`), and a trial rejected
        through the merit's :math:`\nu` term at least-squares multipliers
        (:meth:`_with_least_squares_multipliers`)."""
        n = s.x.size
        mu, nu = s.mu, s.nu
        merit0 = merit_value(s.fun, s.lam, s.c, s.gl, mu, nu)
        slack = 10.0 * _EPS * abs(merit0) + self._barrier_rounding_slack(s, nu)
        cap = 1.0
        direction, x_old = z[:n], s.x
        if s.box is not None:  # bounds: the fraction-to-the-boundary rule caps the step
            tau = max(0.99, 1.0 - s.box.mu)
            cap = s.box.max_step(s.x, direction, tau)
            z, slope = cap * z, cap * slope

        @_evaluation_errors_rejected
        def at(x, lam, threshold=None):  # threshold: see _screened_merit (unused here)
            with np.errstate(all="ignore"):
                f, g, c, G, gl = self._eval(problem, x, lam)
                merit = merit_value(f, lam, c, gl, mu, nu)
            return merit, (x, lam, f, g, c, G, gl)

        def trial(alpha):
            merit, payload = at(s.x + alpha * z[:n], s.lam + alpha * z[n:])
            return merit, alpha * slope, payload

        ls = None
        if self.robust and self._tiny_step(s, z[:n]):  # below the merit's resolution:
            value, payload = at(s.x + z[:n], s.lam + z[n:])  # the full step, no Armijo test,
            if np.isfinite(value):  # unless it rounds onto a bound (then the line search)
                ls = LineSearchResult(True, 1.0, value, payload, 1)
        s.tiny_step = ls is not None
        if ls is None and self.robust:
            screen = bool(getattr(problem.objective, "has_separate_grad", False))
            merit_at, reset = self._with_least_squares_multipliers(
                s, self._screened_merit(problem, s, mu, nu) if screen else at)
            ls = self._robust_backtracking(s, z, slope, merit0, slack, merit_at)
            if ls.success and any(ls.payload is p for p in reset):
                s.n_least_squares_multipliers += 1
                s.info["least_squares_multipliers"] = 1.0
        elif ls is None:
            ls = backtracking(trial, merit0, step=1.0, c1=self.beta, shrink=0.5,
                              min_step=ALPHA_MIN, slack=slack)
        if ls.success:
            s.x, s.lam, s.fun, s.g, s.c, s.G, s.gl = ls.payload
            if not problem.constraints.is_linear:  # else G is constant: keep its spectrum
                self._forget_jacobian(s)  # and factorization
            s.info["alpha"] = cap * ls.step
            if self.robust and s.path == "dense":
                self._drop_null_multipliers(s)
            if s.box is not None:
                s.box.update_duals(x_old, direction, s.x, tau)
            s.short_steps = s.short_steps + 1 if ls.step < SHORT_STEP else 0
            s.last_step = ls.step
            return s
        s.stop = (AL_STATUS["line_search"], (
            f"The line search on the augmented Lagrangian found no decrease down to step "
            f"{ALPHA_MIN:g} at iteration {s.k - 1} (merit slope {slope:.3g}); the derivatives "
            "may be inconsistent with the function values."))
        return s

    def _barrier_rounding_slack(self, s, nu) -> float:
        r"""``safeguards="robust"``, with bounds: the rounding error of the merit's
        :math:`\tfrac{\nu}{2}\|\nabla_x L\|^2` term, :math:`\nu\sum_i |(\nabla_x L)_i|
        r_i` with :math:`r_i` the barrier gradient's rounding floor
        (:meth:`._box.BoxProblem.barrier_grad_rounding`, in the scaled problem's units),
        added to the Armijo test's round-off slack. At active bounds with large multipliers
        and a small barrier parameter those entries of :math:`\nabla_x L` are rounding
        noise that no floating-point step can remove, yet the Newton step's slope
        :math:`\approx -\nu\|\nabla_x L\|^2` counts them: every unit step failed the
        test and Armijo steps of 1/8 moved x by 1e-14 for 18 iterations at the last barrier
        parameter (S2MPJ NCVXQP3). Negligible until :math:`\beta` is small and
        :math:`z` large."""
        if s.box is None or not self.robust:
            return 0.0
        return float(nu * _curvature_scale(s) * (np.abs(s.gl) @ s.box.barrier_grad_rounding(s.x)))

    @staticmethod
    def _drop_null_multipliers(s):
        r"""``safeguards="robust"``, dense path: :math:`\lambda` minus its component in
        :math:`\operatorname{null}(G^\top)` (``scipy.linalg.null_space``: the SVD, rank at
        :math:`\max(m, n)\,\varepsilon\,\sigma_{\max}`), and :math:`\nabla_x L` formed again.

        Where rows of :math:`G` are linearly dependent the multipliers are determined only
        up to that null space, which changes neither :math:`\nabla_x L` nor the KKT
        conditions; but the Newton steps (solves of a singular KKT matrix) can leave a huge
        component there, and it multiplies the rounding of :math:`c` in the merit's
        :math:`\lambda^\top c` (S2MPJ STNQP1, four dependent linear rows: :math:`\lambda`
        entries :math:`\pm 8.8 \cdot 10^{13}`, :math:`c \sim 4 \cdot 10^{-16}`, merit noise
        0.05 against an Armijo decrease of 5e-4, so every line search backtracked to 1/32: 193
        iterations where 16 do). The minimum-norm multipliers, as at the start
        (:meth:`_least_squares_multipliers`), remove it. Rank deficiency short of the
        rounding level (Fritz John points, :meth:`_multipliers_unbounded`) is left alone."""
        if s.lam.size == 0:
            return
        G = s.G.toarray() if sp.issparse(s.G) else np.asarray(s.G, dtype=float)
        if s.null_G is None:  # kept while G is (linear constraints: one SVD per run)
            s.null_G = scipy.linalg.null_space(G.T)
        if s.null_G.shape[1]:
            s.lam = s.lam - s.null_G @ (s.null_G.T @ s.lam)
            s.gl = np.asarray(s.g + G.T @ s.lam, dtype=float).ravel()

    @staticmethod
    def _tiny_step(s, dx) -> bool:
        r"""``safeguards="robust"``: IPOPT's tiny-step rule (its ``tiny_step_tol``; Wächter
        and Biegler, Math. Program. 106, 2006): a primal step with :math:`\max_i |\Delta x_i|/(1 +
        |x_i|) \le 10\varepsilon_{\rm mach}` (after the fraction-to-the-boundary cap) at
        an iterate with :math:`\|c\|_\infty \le 10^{-4}` changes the merit by less than
        its rounding, so the Armijo test only sees noise; the full step is taken without
        it, and with bounds the barrier parameter is decreased (:meth:`_barrier_update`;
        IPOPT's monotone update does the same after a tiny step).
        At active bounds with large multipliers the Newton steps of the last barrier
        problems are of this size (S2MPJ NCVXQP2, NCVXQP3, NCVXQP6: 50 iterations at
        IPOPT's f with Armijo steps of 1/32 that moved x by 1e-15, status 5; now status 0).
        A full step that rounds onto a bound (the barrier infinite there) goes through the
        line search instead."""
        tiny = np.max(np.abs(dx) / (1.0 + np.abs(s.x)), initial=0.0) <= TINY_STEP
        return bool(tiny and np.max(np.abs(s.c), initial=0.0) <= TINY_STEP_FEASIBILITY)

    @staticmethod
    def _screened_merit(problem, s, mu, nu):
        r"""``safeguards="robust"``: the merit at a trial point, with the derivatives paid
        only when the point can pass the Armijo test.

        Returns ``at(x, lam, threshold) -> (value, payload)``. Since :math:`\nu > 0`,

        .. math::
            \mathcal{L}_{\mu,\nu}(x, \lambda) \;\ge\; \ell(x, \lambda) = f(x) +
            \lambda^\top c(x) + \tfrac{\mu}{2}\|c(x)\|^2 ,

        and :math:`\ell` needs :math:`f` and :math:`c` only. A trial with
        :math:`\ell >` ``threshold`` (the Armijo right-hand side) is rejected there: the
        value returned is :math:`\ell` and the payload carries :math:`c` (for the
        second-order correction) but no derivatives. Otherwise :math:`\nabla f` and
        :math:`G` are evaluated and the value is the merit, computed as
        :math:`\ell + \tfrac{\nu}{2}\|\nabla_x L\|^2` in the same floating-point order
        as the unscreened merit (rounding is monotone, so :math:`\ell \le` the merit in
        floating point too): every accept/reject decision, and so every iterate, is the
        one of the line search without the screen; only the rejected trials' gradient and
        Jacobian calls are saved. The merit's exact term :math:`\tfrac{\nu}{2}\|\nabla_x
        L\|^2` is what makes each trial of the exact augmented Lagrangian (Hong et al.
        2023, §2; Di Pillo and Grippo, SIAM J. Control Optim. 17, 1979) cost first
        derivatives; dropping it gives the classical augmented Lagrangian of Hestenes and
        Powell as a lower bound, the same "cheap necessary test before the expensive one"
        as a filter or penalty pre-check (Fletcher and Leyffer, Math. Program. 91, 2002).
        Used when the objective's gradient has its own callable
        (``has_separate_grad``); with ``jac=True`` a value costs a gradient anyway."""
        cons = problem.constraints

        @_evaluation_errors_rejected
        def at(x, lam, threshold=np.inf):
            with np.errstate(all="ignore"):
                f = float(problem.objective.value(x))
                if f == np.inf:  # outside the bounds' open box: no constraint call
                    s.n_screened += 1
                    return f, (x, lam, f, None, np.full(lam.size, np.nan), None, None)
                c = np.asarray(cons.c(x), dtype=float) - cons.lb
                lower = penalized_lagrangian(f, lam, c, mu)
                if not lower <= threshold:
                    s.n_screened += 1
                    return lower, (x, lam, f, None, c, None, None)
                g = np.asarray(problem.objective.grad(x), dtype=float)
                G = cons.jac(x)
                gl = np.asarray(g + G.T @ lam, dtype=float).ravel()
                merit = lower + 0.5 * nu * (gl @ gl)  # = merit_value(...), bit for bit
            return merit, (x, lam, f, g, c, G, gl)

        return at

    def _robust_backtracking(self, s, z, slope, merit0, slack, at):
        r"""``safeguards="robust"``: the same Armijo test as the paper's line search, on the
        unit step, then on its second-order correction :math:`p + \hat p`
        (:meth:`_correction`), then by halving, where each step :math:`\alpha` is tried
        first on the arc

        .. math::
            x(\alpha) = x + \alpha p + \alpha^2 \hat p, \qquad
            \lambda(\alpha) = \lambda + \alpha\Delta_\lambda

        and then on the line :math:`x + \alpha p` (the arc search of Mayne and Polak, "A
        superlinearly convergent algorithm for constrained optimization problems", Math.
        Program. Study 16, 1982). The arc has the line's tangent at :math:`\alpha = 0`, so
        the Armijo test holds on it for small :math:`\alpha` as on the line. Where
        :math:`Gp = -c(x)`, :math:`c(x + p) = \tfrac12 p^\top\nabla^2 c\, p + O(\|p\|^3)` is
        the constraints' curvature over the step, :math:`G\hat p` cancels it, and
        :math:`c(x(\alpha)) = (1 - \alpha)c(x) + O(\alpha^2\|p\|^3)` on the arc against
        :math:`(1 - \alpha)c(x) + O(\alpha^2\|p\|^2)` on the line.

        On curved constraints with little curvature of the Lagrangian in their tangent
        space (a linear objective, a small barrier parameter) the Newton step is long, the
        line leaves the constraints quadratically and the penalty term
        :math:`\tfrac{\mu}{2}\|c\|^2` rejects it down to :math:`\alpha = 1/32`, for dozens of
        iterations (S2MPJ HIMMELBK: 36 iterations at 1/32 to 1/8, where the arc accepts 1/4
        to 1/2 from the same points; ORTHREGE: 790 iterations, 17 with the arc). The arc
        is tried only where it answers that failure, the Maratos effect's signature:

        - the unit step raised the infeasibility, :math:`\|c(x + p)\| > \|c(x)\|`;
        - the correction is shorter than the step, :math:`\|\hat p\| \le \|p\|` (its
          premise is :math:`\|\hat p\| = O(\|p\|^2)`; far from a solution the ratio reached
          40 to :math:`10^{11}`, S2MPJ HYDCAR20 and CYCLOOCT, and the arc's jumps ended in
          timeouts where the line had converged).

        Without the first condition the arc also changed steps far from the feasible set
        (S2MPJ ALJAZZAF, ORTHRDS2: one ended locally infeasible, one with status 8, where
        the line succeeds). The halving starts at twice the previous iteration's step
        (``last_step``), grown back by doubling while accepted
        (:func:`optkit.core.linesearch.backtracking` with ``max_step`` 1/2): where the
        steps stay short, each iteration paid the rejected trials 1/2, 1/4, ... again
        (their :math:`f` and :math:`c`). (Safeguarded quadratic interpolation instead of
        halving was tried twice, the second time only after the first halving and bounded
        to :math:`[\alpha/10, \alpha/2]`: fewer evaluations on MARATOS and HS27, but
        LUKVLE4 and LUKVLI4 stalled infeasible and POWERSUMNE ended locally infeasible, so
        it is not used.)"""
        n = s.x.size
        threshold = merit0 + self.beta * slope + slack
        value, payload = at(s.x + z[:n], s.lam + z[n:], threshold)
        if np.isfinite(value) and value <= threshold:
            return LineSearchResult(True, 1.0, value, payload, 1)
        c_full = payload[4]
        correction = self._correction(s, c_full) if s.c.size else None
        if correction is not None:
            value, payload = at(s.x + z[:n] + correction, s.lam + z[n:], threshold)
            if np.isfinite(value) and value <= threshold:
                s.n_soc += 1
                s.info["soc"] = 1.0
                return LineSearchResult(True, 1.0, value, payload, 2)
        arc = (correction is not None and np.linalg.norm(c_full) > np.linalg.norm(s.c)
               and np.linalg.norm(correction) <= np.linalg.norm(z[:n]))

        def trial(alpha):
            model = alpha * slope  # the Armijo right-hand side, as backtracking forms it
            armijo = merit0 + self.beta * float(model) + slack
            lam = s.lam + alpha * z[n:]
            if arc:
                merit, point = at(s.x + alpha * z[:n] + alpha**2 * correction, lam, armijo)
                if np.isfinite(merit) and merit <= armijo:
                    return merit, model, point
            merit, point = at(s.x + alpha * z[:n], lam, armijo)
            return merit, model, point

        return backtracking(trial, merit0, step=min(0.5, 2.0 * s.last_step), c1=self.beta,
                            shrink=0.5, min_step=ALPHA_MIN, slack=slack, max_step=0.5)

    def _with_least_squares_multipliers(self, s, at):
        r"""``safeguards="robust"``: the merit at a line-search trial point :math:`x'`
        also at multipliers between the Newton step's, :math:`\lambda_\alpha = \lambda +
        \alpha\Delta_\lambda`, and the least-squares multipliers of :math:`x'`,

        .. math::
            \lambda_{\rm LS}(x') = \arg\min_\lambda \|\nabla f(x') + G(x')^\top\lambda\|

        (:meth:`_least_squares_multipliers`; the multiplier function of Fletcher's exact
        penalty, "A class of methods for nonlinear programming with termination and
        convergence properties", in *Integer and Nonlinear Programming*, 1970).

        Returns ``(at wrapped, reset)``, ``reset`` the list of the payloads taken at new
        multipliers. A trial that fails the Armijo test is retried when it fails only
        through the merit's :math:`\tfrac{\nu}{2}\|\nabla_x L\|^2` term, i.e. when
        :math:`f + \lambda_\alpha^\top c + \tfrac{\mu}{2}\|c\|^2` passes (so the screen of
        :meth:`_screened_merit` decides the same trials), and when :math:`\|\lambda_{\rm
        LS}\| \le \max(\|\lambda\|, \|\lambda_\alpha\|)`. The multipliers
        :math:`\lambda_\alpha + t(\lambda_{\rm LS} - \lambda_\alpha)`, :math:`t \in [0,
        1]`, that minimize the merit (a quadratic in :math:`t`) replace
        :math:`\lambda_\alpha` when their merit is lower; the Armijo test then decides.

        The Newton step linearizes :math:`\nabla_x L` in :math:`(x, \lambda)`; its error
        at the trial point holds the product term :math:`\alpha^2 \sum_i \Delta\lambda_i
        \nabla^2 c_i\,\Delta x`, which large multiplier steps on curved constraints make
        dominate the merit: on S2MPJ ORTHREGA (:math:`\|\Delta x\| = 10`,
        :math:`\|\Delta\lambda\| = 203`) the unit step lowers :math:`f + \lambda^\top c +
        \tfrac{\mu}{2}\|c\|^2` by 157 and raises the :math:`\nu` term by 3.7e6, and the
        run took steps of 1/64 for 50 iterations and ended with status 5 after 263; at
        :math:`\lambda_{\rm LS}` the merit falls at the unit step, and the run ends at
        IPOPT's point after 54. The bound on :math:`\|\lambda_{\rm LS}\|` keeps the
        retry from enlarging the multipliers: at a nearly singular :math:`G`, or with the
        barrier gradient of active bounds in :math:`\nabla f`, the least-squares
        multipliers are huge (S2MPJ DRUGDIS: 1.3e6 at the first step), and without it
        DRUGDIS, ALJAZZAF and DALLASS ended infeasible. The accepted point satisfies the
        same Armijo test, and the accepted step is at least as long as without the retry,
        so the merit decreases monotonically as in the paper's line search. The cost is
        one least-squares solve with :math:`G(x')` per retried trial."""
        mu, nu = s.mu, s.nu
        lam_norm = float(np.linalg.norm(s.lam))
        reset = []

        def at_least_squares(x, lam, threshold=np.inf):
            merit, payload = at(x, lam, threshold)
            if merit <= threshold or payload[5] is None or not np.isfinite(merit):
                return merit, payload  # (a finite merit has finite derivatives)
            x, lam, f, g, c, G, gl = payload
            with np.errstate(all="ignore"):
                if not penalized_lagrangian(f, lam, c, mu) <= threshold:
                    return merit, payload
                lam_ls = self._least_squares_multipliers(G, g)
                if not np.linalg.norm(lam_ls) <= max(lam_norm, float(np.linalg.norm(lam))):
                    return merit, payload
                d = lam_ls - lam  # merit(lam + t d) = merit + b t + a t^2 / 2
                Gt_d = np.asarray(G.T @ d, dtype=float).ravel()
                a, b = nu * (Gt_d @ Gt_d), d @ c + nu * (gl @ Gt_d)
                t = min(max(-b / a, 0.0), 1.0) if a > 0.0 else float(b < 0.0)
                lam_t = lam + t * d
                gl_t = np.asarray(g + G.T @ lam_t, dtype=float).ravel()
                merit_t = merit_value(f, lam_t, c, gl_t, mu, nu)
            if not merit_t < merit:  # also when merit_t is NaN
                return merit, payload
            reset.append((x, lam_t, f, g, c, G, gl_t))
            return merit_t, reset[-1]

        return at_least_squares, reset

    def _correction(self, s, c_full, inverse_metric=None):
        r"""``safeguards="robust"``: the second-order correction of a rejected unit step
        against the Maratos effect (Fletcher, "Second order corrections for
        non-differentiable optimization", Lecture Notes in Math. 912, 1982; Nocedal and
        Wright, Numerical Optimization, 2nd ed., 2006, §15.6 (the Maratos effect, §15.5),
        and its use in the line-search SQP method of ch. 18).

        Near a solution a merit function can reject the unit Newton step because of the
        constraints' curvature (the Maratos effect: the step is tangent to the linearized
        constraints, :math:`c(x + p) = O(\|p\|^2)` grows the penalty terms). The correction
        is the least-norm step back onto the linearization at :math:`x + p`,

        .. math::
            \hat p = -G^\top (G G^\top)^{-1} c(x + p), \qquad G = \nabla c(x)^\top,

        (zero on fixed variables), from ``c_full`` = :math:`c(x + p)` of the rejected trial:
        a least-squares solve with :math:`G` (dense) or one sparse LU of :math:`GG^\top`.
        With ``inverse_metric`` :math:`= \operatorname{diag}(W^{-1})` the least-norm step in
        the metric :math:`W`, :math:`-W^{-1}G^\top(GW^{-1}G^\top)^{-1}c` (:meth:`_project`).
        ``None`` when it cannot be formed. :meth:`_robust_backtracking` tries
        :math:`x + p + \hat p` and then the arc through it."""
        if not np.all(np.isfinite(c_full)):
            return None
        G, root = s.G, None if inverse_metric is None else np.sqrt(inverse_metric)
        if root is not None:  # the least-norm step in the metric W: that of G W^{-1/2}
            G = G @ sp.diags_array(root) if sp.issparse(G) else np.asarray(G) * root
        with np.errstate(all="ignore"):
            try:
                if sp.issparse(G):
                    if root is None and s.gram_solve is None:
                        s.gram_solve = gram_solver(sp.csr_array(G))
                    solve = s.gram_solve if root is None else gram_solver(sp.csr_array(G))
                    correction = -(G.T @ solve(c_full))
                else:  # minimum-norm solution of G p = -c(x + p)
                    correction = _sk.min_norm_lstsq(np.asarray(G), -c_full)
            except (np.linalg.LinAlgError, RuntimeError, ValueError):
                return None
        if root is not None:
            correction = root * correction
        if not np.all(np.isfinite(correction)):
            return None
        if s.box is not None:
            correction[s.box.fixed] = 0.0
        return correction

    def result(self, problem, s):
        """Result fields, in the user's units when scaling was active (then ``trace["fun"]``
        and the trace's KKT quantities are those of the scaled problem)."""
        cons = problem.constraints
        s_f, d = self._user_scales(s)
        fun, g, c, gl, lam = s.fun / s_f, s.g / s_f, s.c / d, s.gl / s_f, d * s.lam / s_f
        box = {}
        if s.box is not None:  # the user's f and gradient; bound multipliers
            fun, g = fun - s.box.barrier(s.x), g - s.box.barrier_grad(s.x)
            m = s.box.m_user
            box = {"bound_multipliers": s.box.bound_multipliers(s.x, lam[m:]),
                   "barrier_parameter": s.box.mu}
            lam = lam[:m]
        return {
            "fun": fun,
            "jac": g,
            "multipliers": lam,
            **box,
            "constr_violation": float(np.max(np.abs(c), initial=0.0)),
            "optimality": float(np.max(np.abs(gl), initial=0.0)),
            "kkt_residual": (float(np.sqrt(gl @ gl + c @ c)) if s.box is None
                             else self._kkt_net_of_rounding(s)),
            **(s.certificate or {}),
            "scaling": (s_f, d.copy()),
            "constr_nfev": cons.ncev - s.base[0],
            "constr_njev": cons.njev - s.base[1],
            "constr_nhev": cons.nhev - s.base[2],
            "penalty": (s.mu, s.nu),
            "resume": {"lam0": s.lam.copy(), "mu0": s.mu, "nu0": s.nu, "delta0": s.delta,
                       "kappa": s.kappa, **({"shift_floor0": s.shift_floor}
                                            if self.robust else {})},
            "n_inner": s.n_inner,
            "n_direct_fallback": s.n_direct_fallback,
            "n_kkt_analyses": 0 if s.ldl is None else s.ldl.n_analyses,
            "n_recoveries": s.n_recoveries,
            "n_restorations": s.n_restorations,
            "n_restoration_nfev": s.n_restoration_nfev,
            "n_soc": s.n_soc,
            "n_projections": s.n_projections,
            "n_screened_trials": s.n_screened,
            "n_least_squares_multipliers": s.n_least_squares_multipliers,
            "inner_flops": s.inner_flops,
            "setup_flops": s.setup_flops,
        }


def al_newton(problem, *, lam0=None, sketch="rk", sampling="uniform", block_size=1,
              accuracy="paper", kappa=0.1, theta=1.0, hessian_in_merit="lagrangian", tol=1e-6,
              maxiter=10_000, max_inner=100_000, rng=None, callback: Callable | None = None,
              **constants):
    r"""Solve an equality-constrained problem with AdaSketch-Newton.

    Runs method ``"al-newton"`` (:class:`ALNewton`) on ``problem`` through
    :func:`optkit.core.solve`; the keywords are that method's options (see
    ``optkit.show_options("al-newton")``), ``rng`` its randomness (``None``, an ``int`` or a
    ``numpy.random.Generator``), and ``constants`` the
    remaining ones (``mu0``, ``nu0``, ``delta0``, ``xi_B``, ``shift_floor0``, ``beta``, ``rho``,
    ``delta_floor``, ``hess_mod_tol``, ``singular_tol``, ``singular_test``, ``mu_max``,
    ``nu_min``, ``inner_fallback``, ``check_every``, ``linear_algebra``, ``safeguards``) and the run loop's
    ``maxfev`` (objective evaluations), ``max_time`` and ``disp``; every value is checked by
    the method's option table and an unknown name raises ``TypeError``.

    Parameters
    ----------
    problem : optkit.core.Problem
        Objective with value and gradient (``hvp`` optional: forward differences
        otherwise), ``constraints`` whose rows all have ``lb == ub``, and optional
        ``bounds`` (a log-barrier; fixed variables allowed).

    Returns
    -------
    OptimizeResult
        scipy's fields plus ``multipliers``, ``constr_violation`` (:math:`\|c\|_\infty`),
        ``optimality`` (:math:`\|\nabla_x L\|_\infty`), ``kkt_residual``
        (:math:`\|(\nabla_x L, c)\|_2`; with bounds net of the barrier gradient's rounding,
        :meth:`ALNewton._kkt_net_of_rounding`),
        ``constr_nfev``/``constr_njev``/``constr_nhev``, ``penalty`` ``(mu, nu)``,
        ``n_inner`` (sketch steps), ``n_direct_fallback`` (sketch passes finished by an LU
        solve, ``inner_fallback="direct"``; 0 in a pure sketch run), ``inner_flops``,
        ``setup_flops``, ``n_screened_trials`` (line-search trials rejected on f and c
        alone, see :meth:`ALNewton._screened_merit`), ``n_least_squares_multipliers``
        (steps taken at least-squares multipliers,
        :meth:`ALNewton._with_least_squares_multipliers`), with bounds ``bound_multipliers``
        :math:`z` (:math:`\nabla f + G^\top\lambda - z = 0`, :math:`z > 0` at an active lower
        bound) and ``barrier_parameter`` (the last :math:`\beta`; the ``trace``'s ``fun`` is
        then the barrier objective; a run that ends certified by
        :meth:`ALNewton._certify` reports its fitted multipliers, residual and
        optimality), the ``trace`` and ``resume``: the options that continue the run
        (``lam0`` the multipliers, ``mu0``, ``nu0`` the penalties, ``delta0`` and ``kappa``
        the current step parameters, ``shift_floor0`` the robust shift's floor).
        ``al_newton(problem with x0=res.x, **res.resume,
        rng=gen)`` with the interrupted run's ``Generator`` repeats the uninterrupted run's
        iterations exactly; a callback checkpoints ``intermediate_result.x`` and the
        trace's last ``mu``, ``nu``, ``delta``, ``kappa`` (the multipliers are in the result
        only). With bounds the continuation is not exact: the barrier restarts at
        :math:`\beta = 0.1` from ``x0`` pushed into the box (``lam0`` then also holds the
        fixed variables' rows).

    Notes
    -----
    Status codes (``success`` only for 0): 0 converged (:math:`\|\nabla L\| \le` ``tol``;
    with bounds at the last barrier parameter, or certified with fitted multipliers);
    1 ``maxiter``; 2 line search failed (step below 1e-10); 3 non-finite value; 8 penalty
    safeguards (``mu_max``/``nu_min``) reached without a descent direction; 5 sketch budget
    (10 ``max_inner`` steps in one Newton step) exhausted; 7 constraint Jacobian (nearly)
    rank-deficient: with ``singular_test="relative"`` (default) a Newton step failed (as for
    2, 4, 5, or a singular K with ``sketch="direct"``) where :math:`\lambda_{\min}(GG^\top)
    \le` ``singular_tol`` :math:`\lambda_{\max}(GG^\top)` (``singular_tol = 1e-12``);
    with ``"absolute"`` (the reference code's rule, there with ``singular_tol=1e-2``)
    :math:`\lambda_{\min}(GG^\top) <` ``singular_tol`` at any iterate; 10 (only with
    ``safeguards="robust"``, the default) the feasibility restoration ended at an
    infeasible stationary point of :math:`\|c\|^2` (locally infeasible constraints);
    5 also for the robust progress test (no 1% decrease of the KKT residual in 50
    iterations); 99 callback ``StopIteration``. See :class:`ALNewton` for the
    safeguards and ``safeguards="paper"`` for the exact paper iteration.

    The default singularity rule deviates from the reference code, whose absolute stop
    :math:`\lambda_{\min}(GG^\top) < 10^{-2}` ends well-posed problems whose constraint
    gradients are merely small or badly scaled, often at :math:`x_0` (S2MPJ: BYRDSPHR,
    GOTTFR, RECIPE, DENSCHNDNE, BT8, HATFLDF, ...); sketching needs no factorization, so
    the run continues and only a failed step is blamed on the singularity.
    ``singular_test="absolute", singular_tol=1e-2`` restores the reference behaviour.

    References
    ----------
    I. Hong, S. Na, M. W. Mahoney, M. Kolar, "Constrained Optimization via Exact Augmented
    Lagrangian and Randomized Iterative Sketching", ICML 2023, arXiv:2305.18379.
    """
    from optkit.core.minimize import solve

    options = dict(lam0=lam0, sketch=sketch, sampling=sampling, block_size=block_size,
                   accuracy=accuracy, kappa=kappa, theta=theta,
                   hessian_in_merit=hessian_in_merit, tol=tol, maxiter=maxiter,
                   max_inner=max_inner, rng=rng, **constants)
    return solve(problem, "al-newton", callback=callback, options=options)
