r"""AdaSketch-Newton: inexact Newton on an exact augmented Lagrangian, KKT systems sketched.

Implements Hong, Na, Mahoney and Kolar, "Constrained Optimization via Exact Augmented
Lagrangian and Randomized Iterative Sketching", ICML 2023 (arXiv:2305.18379), for

.. math::
    \min_x f(x) \quad \text{s.t.}\quad c(x) = 0, \qquad c: \mathbb{R}^n \to \mathbb{R}^m .

See :class:`ALNewton` for the exact iteration and :func:`al_newton` for the options.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from optkit.core.constraints import ConstraintOracle
from optkit.core.result import STATUS

from . import sketch as _sk

__all__ = ["ALNewton", "al_newton", "AL_STATUS", "merit_gradient"]

#: Status codes of ``al-newton`` (the core's where the meaning is the same).
AL_STATUS = {
    "success": STATUS["success"],  # 0: ||grad L|| <= tol
    "maxiter": STATUS["maxiter"],  # 1
    "line_search": STATUS["line_search"],  # 2: Armijo step below 1e-10
    "nonfinite": STATUS["nonfinite"],  # 3 (set by the run loop)
    "penalty": STATUS["penalty"],  # 8: penalty safeguards reached without a descent direction
    "sketch_budget": STATUS["stalled"],  # 5: over 10 * max_inner sketch steps in one Newton step
    "singular": STATUS["singular"],  # 7: G G^T (numerically) singular, see singular_test
}

DENSE_MAX = 1000  # linear_algebra="auto": form K densely when n + m <= DENSE_MAX
ALPHA_MIN = 1e-10
KAPPA_MIN = 1e-10
XI_G_MIN = 1e-150  # floor of xi_G in Psi (only reached with singular_tol = 0): finite Psi
_EPS = np.finfo(float).eps
_FD = np.sqrt(_EPS)


@dataclass
class _State:
    x: np.ndarray
    lam: np.ndarray
    fun: float
    g: np.ndarray  # grad f
    c: np.ndarray  # c(x) - lb
    G: Any  # constraint Jacobian (dense or sparse)
    gl: np.ndarray  # grad_x L = g + G^T lam
    xi_G: float | None  # lambda_min(G G^T); None until needed (ALNewton._gram)
    gram_max: float | None  # lambda_max(G G^T)
    mu: float
    nu: float
    delta: float
    kappa: float
    rng: np.random.Generator
    eigvec: np.ndarray | None = None  # warm starts of the reduced-Hessian Lanczos
    eigvec_H: np.ndarray | None = None  # and of the ||grad^2 L|| Lanczos
    gram_solve: Callable | None = None  # r -> (G G^T)^{-1} r for the current G
    k: int = 0
    n_inner: int = 0
    inner_flops: float = 0.0
    setup_flops: float = 0.0
    stop: tuple[int, str] | None = None
    info: dict = field(default_factory=dict)

    @property
    def kkt(self) -> float:
        return float(np.sqrt(self.gl @ self.gl + self.c @ self.c))

    def trace_extra(self) -> dict[str, Any]:
        return {"kkt": self.kkt,
                "constr_violation": float(np.max(np.abs(self.c), initial=0.0)),
                "optimality": float(np.max(np.abs(self.gl))), "mu": self.mu, "nu": self.nu,
                "delta": self.delta, "kappa": self.kappa,
                "xi_G": np.nan if self.xi_G is None else self.xi_G,
                "n_inner": self.n_inner, "inner_flops": self.inner_flops,
                "setup_flops": self.setup_flops, **self.info}


def merit_gradient(gl, c, Gt_c, G_gl, Hgl, mu, nu):
    r""":math:`\nabla\mathcal{L}_{\mu,\nu} = ((I + \nu H)\nabla_x L + \mu G^\top c,\;
    c + \nu G \nabla_x L)` from its pieces (``Gt_c`` = :math:`G^\top c`, ``G_gl`` =
    :math:`G\nabla_x L`, ``Hgl`` = :math:`H \nabla_x L`)."""
    return np.concatenate([gl + nu * Hgl + mu * Gt_c, c + nu * G_gl])


def _extreme_eig(matvec, n, which, v0=None):
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


def _gershgorin_min(M) -> float:
    """Gershgorin lower bound :math:`\\min_i (M_{ii} - \\sum_{j \\ne i} |M_{ij}|)` on
    :math:`\\lambda_{\\min}` of a symmetric sparse matrix."""
    M = sp.csr_array(M)
    diag = M.diagonal()
    off = abs(M).sum(axis=1) - np.abs(diag)
    return float(np.min(diag - off, initial=np.inf))


def _gram_solver(G):
    """``r -> (G G^T)^{-1} r``: Cholesky for dense ``G``, SuperLU for sparse ``G``."""
    GG = G @ G.T
    if sp.issparse(GG):
        return _sk._sparse_lu(GG).solve
    from scipy.linalg import cho_factor, cho_solve

    factor = cho_factor(GG)
    return lambda r: cho_solve(factor, r)


def _gram_eigs(G) -> tuple[float, float]:
    r"""Smallest and largest eigenvalue of :math:`GG^\top` (both 1 when :math:`m = 0`).

    Dense ``eigvalsh`` up to ``DENSE_MAX`` rows. For a larger sparse :math:`G`:
    :math:`\lambda_{\max}` by Lanczos (ARPACK, ``tol=1e-3``); :math:`\lambda_{\min}` is the
    Gershgorin bound when that bound is :math:`\ge 1` (the method uses only
    :math:`\min(\xi_G, 1)` and the singularity tests, which a bound :math:`\ge 1` passes
    while :math:`\lambda_{\max} < 10^{12}`), else shift-invert Lanczos at 0 on a SuperLU
    factorization (0.0 when :math:`GG^\top` is exactly singular).
    """
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

    m = G.shape[0]
    if m == 0:
        return 1.0, 1.0
    GG = G @ G.T
    if not sp.issparse(GG) or m <= DENSE_MAX:
        eig = np.linalg.eigvalsh(GG.toarray() if sp.issparse(GG) else GG)
        return float(eig[0]), float(eig[-1])
    GG = sp.csc_array(GG)
    try:
        gram_max = float(eigsh(GG, k=1, which="LA", tol=1e-3, v0=np.ones(m),
                               return_eigenvectors=False)[0])
    except (ArpackError, ArpackNoConvergence):
        gram_max = float(abs(GG).sum(axis=1).max())  # Gershgorin upper bound
    bound = _gershgorin_min(GG)
    if bound >= 1.0:
        return bound, gram_max
    try:
        solve = _sk._sparse_lu(GG).solve
    except RuntimeError:  # SuperLU: G G^T exactly singular
        return 0.0, gram_max
    inverse = LinearOperator((m, m), matvec=solve, dtype=float)
    try:
        return float(eigsh(GG, k=1, sigma=0.0, which="LM", OPinv=inverse, tol=1e-6,
                           return_eigenvectors=False)[0]), gram_max
    except (ArpackError, ArpackNoConvergence):
        return float(np.linalg.eigvalsh(GG.toarray())[0]), gram_max


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
       status 7 (see :meth:`_blame_singular`);
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

    def __init__(self, *, lam0, sketch, sampling, block_size, accuracy, kappa, theta,
                 hessian_in_merit, tol, max_inner, inner_fallback, check_every, linear_algebra,
                 mu0, nu0,
                 delta0, xi_B, beta, rho, delta_floor, hess_mod_tol, singular_tol,
                 singular_test, mu_max, nu_min):
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
        self.delta_floor = delta_floor
        self.hess_mod_tol = hess_mod_tol
        self.singular_tol = singular_tol
        self.singular_test = singular_test
        self.mu_max, self.nu_min = mu_max, nu_min
        if sketch in ("block-rk", "block-gaussian") and block_size < 2:
            raise ValueError(f"block_size must be >= 2 for sketch={sketch!r}, got {block_size}")

    # ------------------------------------------------------------------ problem access
    def _check_problem(self, problem):
        if problem.bounds is not None:
            raise ValueError("bounds: al-newton handles equality constraints only; "
                             "write bounds as constraints with slacks or use a bound-aware method")
        cons = problem.constraints
        if cons is None:
            raise ValueError("constraints: al-newton needs equality constraints "
                             "(an empty ConstraintOracle([], n) for none)")
        if not isinstance(cons, ConstraintOracle):
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
        if cons.m > n:
            raise ValueError(f"constraints: {cons.m} equality constraints on {n} variables "
                             "cannot have a full-rank Jacobian (LICQ); remove dependent rows")
        obj = problem.objective
        if self.linear_algebra == "sparse" and not (getattr(obj, "has_hess", False)
                                                    and cons.has_lagrangian_hess):
            raise ValueError("linear_algebra='sparse' needs Hessian matrices: hess= for the "
                             "objective and for every nonlinear constraint")
        self._path = self._linear_algebra(problem)
        if self._path == "matrix-free" and self.sketch == "direct":
            raise ValueError("sketch='direct' needs K as a matrix, but this problem uses the "
                             "matrix-free path (n + m > 1000 without Hessian matrices): pass "
                             "hess= (objective and constraints) or linear_algebra='dense', or "
                             "use an iterative sketch")
        self._has_hvp = bool(getattr(obj, "has_hvp", hasattr(obj, "hvp")))
        if not self._has_hvp:
            warnings.warn("al-newton: no hess/hessp given; Hessian products are forward "
                          "differences of the gradient (one extra gradient each)",
                          RuntimeWarning, stacklevel=2)
        return cons

    def _eval(self, problem, x, lam):
        """f, grad f, c - lb, G, grad_x L at x (one value_and_grad, one c, one jac)."""
        cons = problem.constraints
        f, g = problem.objective.value_and_grad(x)
        g = np.asarray(g, dtype=float)
        c = np.asarray(cons.c(x), dtype=float) - cons.lb
        G = cons.jac(x)
        gl = g + G.T @ lam
        return float(f), g, c, G, np.asarray(gl, dtype=float).ravel()

    def _hvp_f(self, problem, x, g, v):
        if self._has_hvp:
            return np.asarray(problem.objective.hvp(x, v), dtype=float)
        vn = float(np.linalg.norm(v))
        if vn == 0.0:
            return np.zeros_like(x)
        h = _FD * max(1.0, float(np.linalg.norm(x))) / vn
        return (np.asarray(problem.objective.grad(x + h * v), dtype=float) - g) / h

    def _hvp_L(self, problem, s, v):
        out = self._hvp_f(problem, s.x, s.g, v)
        if s.lam.size:
            out = out + problem.constraints.lagrangian_hvp(s.x, s.lam, v)
        return out

    # ------------------------------------------------------------------ solver protocol
    def init(self, problem, x0, rng):
        cons = self._check_problem(problem)
        self._base = (cons.ncev, cons.njev, cons.nhev)
        x = np.array(x0, dtype=float)
        m = cons.m
        lam = np.zeros(m)
        f, g, c, G, gl = self._eval(problem, x, lam)
        if isinstance(self.lam0, str):  # "ls": least-squares multipliers
            if m:
                Gd = G.toarray() if sp.issparse(G) else G
                lam = np.linalg.lstsq(Gd.T, -g, rcond=None)[0]
                gl = g + Gd.T @ lam
        elif self.lam0 is not None:
            lam = np.array(self.lam0, dtype=float).ravel()
            if lam.shape != (m,) or not np.all(np.isfinite(lam)):
                raise ValueError(f"lam0 must be a finite array of shape ({m},), got {lam.shape}")
            gl = g + G.T @ lam
        return _State(x=x, lam=lam, fun=f, g=g, c=c, G=G, gl=np.asarray(gl).ravel(),
                      xi_G=None, gram_max=None, mu=self.mu0, nu=self.nu0, delta=self.delta0,
                      kappa=self.kappa0, rng=rng)

    def terminate(self, problem, state):
        if state.stop is not None:
            return True, state.stop[0], state.stop[1]
        kkt = state.kkt
        if not np.isfinite(kkt):
            return True, AL_STATUS["nonfinite"], "The KKT residual is not finite."
        if kkt <= self.tol:
            return True, AL_STATUS["success"], "Optimization terminated successfully."
        if self.singular_test == "absolute" and self._singular(state):
            return True, AL_STATUS["singular"], self._singular_message(state)
        return False, 0, ""

    @staticmethod
    def _gram(state):
        """Fill in ``xi_G`` and ``gram_max`` for the current G, only when a test needs them
        (an eigenvalue problem of size m: the sparse path's largest setup cost)."""
        if state.xi_G is None:
            state.xi_G, state.gram_max = _gram_eigs(state.G)

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

    def _singular_message(self, state) -> str:
        if self.singular_test == "absolute":
            test = f"lambda_min(G G^T) = {state.xi_G:.3g} < singular_tol = {self.singular_tol:g}"
        else:
            test = (f"lambda_min(G G^T) = {state.xi_G:.3g} <= singular_tol * lambda_max(G G^T) "
                    f"= {self.singular_tol:g} * {state.gram_max:.3g}")
        return (f"The constraint Jacobian is (nearly) rank-deficient at iteration {state.k}: "
                f"{test}.")

    def _blame_singular(self, s):
        r"""``singular_test="relative"``: a rank-deficient G does not stop the run by itself
        (sketching needs no factorization, and the KKT system of a problem whose Jacobian
        loses rank only near x*, or is merely ill-conditioned, is still consistent or close
        to it); when a Newton step then fails (penalty safeguards, sketch budget, line
        search) at a singular G, the singularity is the reported cause (status 7)."""
        if s.stop is not None and self.singular_test == "relative" and self._singular(s):
            s.stop = (AL_STATUS["singular"], f"{self._singular_message(s)} The Newton step "
                      f"failed there: {s.stop[1]}")

    def _dense(self, problem, s):
        """Dense K, and the pieces the accuracy condition and merit gradient need."""
        n, m = s.x.size, s.lam.size
        E = np.eye(n)
        Hf = np.column_stack([self._hvp_f(problem, s.x, s.g, E[:, j]) for j in range(n)])
        Hf = 0.5 * (Hf + Hf.T)
        H = Hf
        if m:
            Hc = np.column_stack([problem.constraints.lagrangian_hvp(s.x, s.lam, E[:, j])
                                  for j in range(n)])
            H = Hf + 0.5 * (Hc + Hc.T)
        G = s.G.toarray() if sp.issparse(s.G) else np.asarray(s.G)
        H_norm = float(np.linalg.norm(H))
        flops = 2.0 * m * m * n + 9.0 * m**3 + 2.0 * n * n
        if m < n:
            Z = np.linalg.qr(G.T, mode="complete")[0][:, m:] if m else E
            lam_min = float(np.linalg.eigvalsh(Z.T @ H @ Z)[0])
            flops += 4.0 * n**3 / 3 + 2.0 * n * n * (n - m) + 2.0 * n * (n - m) ** 2 \
                + 9.0 * (n - m) ** 3
        else:
            lam_min = np.inf
        t = self.xi_B + H_norm if lam_min < self.hess_mod_tol else 0.0
        B = H + t * E
        K = np.zeros((n + m, n + m))
        K[:n, :n] = B
        K[:n, n:] = G.T
        K[n:, :n] = G
        norms = dict(B=float(np.linalg.norm(B)), G=float(np.linalg.norm(G)), H=H_norm,
                     K=float(np.linalg.norm(K)))
        Hm = H if self.hessian_in_merit == "lagrangian" else Hf
        return "dense", K, norms, t, Hm @ s.gl, flops + 10.0 * (n + m) ** 2

    def _reduced_min_eig(self, hv, G, n, H_norm, s, H=None):
        r""":math:`\lambda_{\min}(Z^\top \nabla_x^2 L Z)`, or a lower bound when that bound
        already passes the modification test.

        A sparse Hessian ``H`` whose Gershgorin bound is :math:`\ge` ``hess_mod_tol`` needs
        nothing more (:math:`\lambda_{\min}(Z^\top H Z) \ge \lambda_{\min}(H)`, :math:`Z`
        orthonormal). Otherwise Lanczos on :math:`P H P + (\|H\| + 1)(I - P)`,
        :math:`P = I - G^\top (GG^\top)^{-1} G`, warm-started at the previous iteration's
        eigenvector; :math:`-\infty` (modify) when Lanczos fails or :math:`GG^\top` is
        singular.
        """
        m = G.shape[0]
        if m >= n:
            return np.inf
        if H is not None:
            bound = _gershgorin_min(H)
            if bound >= self.hess_mod_tol:
                return bound
        if m:
            if s.gram_solve is None:
                try:
                    s.gram_solve = _gram_solver(G)
                except (np.linalg.LinAlgError, RuntimeError):  # G rank-deficient: no projector
                    return -np.inf  # modify (safe)
            gram_solve = s.gram_solve

            def proj(v):
                return v - G.T @ gram_solve(G @ v)
        else:
            def proj(v):
                return v
        shift = H_norm + 1.0

        def red(v):
            v = np.asarray(v, dtype=float).ravel()
            pv = proj(v)
            return proj(hv(pv)) + shift * (v - pv)

        lam_min, s.eigvec = _extreme_eig(red, n, "SA", v0=s.eigvec)
        return -np.inf if lam_min is None else lam_min

    def _matrix_free(self, problem, s):
        """K as a LinearOperator from Hessian-vector products and the Jacobian."""
        n, m = s.x.size, s.lam.size
        G = s.G

        def hv(v):
            return self._hvp_L(problem, s, np.asarray(v, dtype=float).ravel())

        H_norm, s.eigvec_H = _extreme_eig(hv, n, "LM", v0=s.eigvec_H)
        if H_norm is None:  # Lanczos failed: power iteration (a lower bound)
            v = np.ones(n) / np.sqrt(n)
            for _ in range(30):
                w = hv(v)
                H_norm = float(np.linalg.norm(w))
                if H_norm == 0.0:
                    break
                v = w / H_norm
        G_norm = float(np.sqrt((G.multiply(G) if sp.issparse(G) else G * G).sum())) if m else 0.0
        lam_min = self._reduced_min_eig(hv, G, n, H_norm, s)
        t = self.xi_B + H_norm if lam_min < self.hess_mod_tol else 0.0

        def kv(v):
            v = np.asarray(v, dtype=float).ravel()
            vx, vl = v[:n], v[n:]
            top = hv(vx) + t * vx + (G.T @ vl if m else 0.0)
            return np.concatenate([top, G @ vx if m else np.zeros(0)])

        K = LinearOperator((n + m, n + m), matvec=kv, rmatvec=kv, dtype=float)
        B_norm = H_norm + t
        norms = dict(B=B_norm, G=G_norm, H=H_norm, K=B_norm + G_norm)
        if self.hessian_in_merit == "lagrangian":
            Hgl = hv(s.gl)
        else:
            Hgl = self._hvp_f(problem, s.x, s.g, s.gl)
        return "operator", K, norms, t, Hgl, 2.0 * m * m * n + 9.0 * m**3 + 10.0 * (n + m) ** 2

    def _sparse(self, problem, s):
        """Sparse K from the Hessian matrices and the Jacobian (never a dense N x N)."""
        n, m = s.x.size, s.lam.size
        Hf = problem.objective.hess(s.x)
        if isinstance(Hf, LinearOperator):
            raise ValueError("hess returned a LinearOperator: linear_algebra='sparse' needs a "
                             "matrix (use linear_algebra='matrix-free')")
        Hf = sp.csr_array(Hf)
        H = Hf + sp.csr_array(problem.constraints.lagrangian_hess(s.x, s.lam)) if m else Hf
        H = sp.csr_array(0.5 * (H + H.T))
        G = sp.csr_array(s.G)
        H_norm = float(sp.linalg.norm(H))
        lam_min = self._reduced_min_eig(lambda v: H @ v, G, n, H_norm, s, H=H)
        t = self.xi_B + H_norm if lam_min < self.hess_mod_tol else 0.0
        B = sp.csr_array(H + t * sp.identity(n, format="csr")) if t else H
        K = sp.csr_array(sp.bmat([[B, G.T], [G, None]], format="csr"))
        norms = dict(B=float(sp.linalg.norm(B)), G=float(sp.linalg.norm(G)) if m else 0.0,
                     H=H_norm, K=float(sp.linalg.norm(K)))
        Hgl = (H if self.hessian_in_merit == "lagrangian" else Hf) @ s.gl
        return "sparse", K, norms, t, Hgl, 4.0 * K.nnz

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

    def step(self, problem, s):
        build = {"dense": self._dense, "sparse": self._sparse,
                 "matrix-free": self._matrix_free}[self._path]
        kind, K, norms, t, Hgl, setup = build(problem, s)
        s.setup_flops += setup
        b = -np.concatenate([s.gl, s.c])
        kkt = float(np.linalg.norm(b))
        Gt_c = s.G.T @ s.c
        G_gl = s.G @ s.gl

        def merit_grad(mu, nu):
            return merit_gradient(s.gl, s.c, Gt_c, G_gl, Hgl, mu, nu)

        # Psi, Upsilon and delta only enter the paper condition of an iterative sketch
        # ("direct" is exact); xi_G is then computed (min(xi_G, 1) as the paper, floored
        # so that Psi stays finite at singular_tol = 0)
        paper = self.accuracy == "paper" and self.sketch != "direct"
        psi = ups = trial0 = np.nan
        if paper:
            self._gram(s)
            psi = 20.0 * max(norms["B"] ** 2, 1.0) / (min(max(s.xi_G, XI_G_MIN), 1.0)
                                                      * min(self.xi_B, 1.0))
            ups = max(norms["G"], norms["H"], 1.0)

        def delta_trial(mu, nu):
            return (0.5 - self.beta) * nu / ((1.0 + mu + nu) * ups**2 * psi * psi)

        theta = self.theta(s.k) if callable(self.theta) else self.theta
        mu, nu, kappa = s.mu, s.nu, s.kappa
        delta = s.delta
        if paper:
            trial0 = delta_trial(mu, nu)
            delta = max(min(delta, trial0), self.delta_floor)
        z = np.zeros(b.size)
        steps = penalty_updates = safeguard_steps = fallbacks = 0
        flops = 0.0
        capped = False
        check_every = self.check_every or b.size
        while True:
            if paper:
                rtol = theta * delta / (norms["K"] * psi)
            else:
                rtol = 0.0 if self.sketch == "direct" else kappa
            try:
                out = _sk._solve(kind, K, b, z, self.sketch, self.sampling,
                                 min(self.block_size, b.size), rtol * kkt, self.max_inner,
                                 check_every, s.rng)
            except _sk.SingularMatrixError as exc:  # sketch="direct" on an exactly singular K
                s.stop = (AL_STATUS["singular"], f"The KKT matrix is singular at iteration "
                          f"{s.k}: {exc}.")
                slope = 0.0
                break
            z = out.x
            steps += out.n_steps
            flops += out.flops
            capped = rtol > 0 and not out.converged  # rtol 0: "direct", exact by design
            if capped and self.inner_fallback == "direct" and kind != "operator":
                try:  # finish the pass exactly: the accuracy condition then holds
                    exact = _sk._solve(kind, K, b, z, "direct", self.sampling, 1, rtol * kkt,
                                       1, 1, s.rng)
                    z = exact.x
                    flops += exact.flops
                    capped = False
                    fallbacks += 1
                except _sk.SingularMatrixError:
                    pass
            gm = merit_grad(mu, nu)
            slope = float(gm @ z)
            if slope <= -0.5 * nu * kkt**2:
                break
            if mu > self.mu_max or nu < self.nu_min:
                if slope < 0.0:  # the reference takes z at the safeguards: still a descent
                    safeguard_steps += 1  # direction of the merit, Armijo decides
                    break
                s.stop = (AL_STATUS["penalty"], (
                    f"The penalty safeguards (mu = {mu:.3g} > {self.mu_max:g} or nu = {nu:.3g} < "
                    f"{self.nu_min:g}) were reached without a descent direction at iteration "
                    f"{s.k}; the KKT system may be too ill-conditioned for the sketch."))
                break
            if steps >= 10 * self.max_inner:
                s.stop = (AL_STATUS["sketch_budget"], (
                    f"The sketch budget (10 * max_inner = {10 * self.max_inner} steps) was "
                    f"exhausted in Newton iteration {s.k} without a descent direction "
                    f"(relative residual target {rtol:.3g}, reached {out.residual / kkt:.3g})."))
                break
            mu *= self.rho**2
            nu /= self.rho
            if paper:
                delta = max(min(delta / self.rho**4, delta_trial(mu, nu)), self.delta_floor)
            kappa = max(kappa / self.rho**2, KAPPA_MIN)
            penalty_updates += 1
        s.n_inner += steps
        s.inner_flops += flops
        s.mu, s.nu, s.delta, s.kappa = mu, nu, delta, kappa
        s.info = {"inner_steps": steps, "hess_shift": t, "rtol": rtol, "inner_capped": capped,
                  "penalty_updates": penalty_updates, "safeguard_step": bool(safeguard_steps),
                  "inner_fallbacks": fallbacks,
                  "alpha": 0.0, "psi": psi,
                  "upsilon": ups, "K_norm": norms["K"], "delta_trial": trial0}
        s.k += 1
        if s.stop is None:
            self._line_search(problem, s, z, slope)
        self._blame_singular(s)
        return s

    def _line_search(self, problem, s, z, slope):
        n = s.x.size
        mu, nu = s.mu, s.nu
        merit0 = s.fun + s.lam @ s.c + 0.5 * mu * (s.c @ s.c) + 0.5 * nu * (s.gl @ s.gl)
        slack = 10.0 * _EPS * abs(merit0)
        alpha = 1.0
        while alpha >= ALPHA_MIN:
            x = s.x + alpha * z[:n]
            lam = s.lam + alpha * z[n:]
            with np.errstate(all="ignore"):
                f, g, c, G, gl = self._eval(problem, x, lam)
                merit = f + lam @ c + 0.5 * mu * (c @ c) + 0.5 * nu * (gl @ gl)
            if np.isfinite(merit) and merit <= merit0 + alpha * self.beta * slope + slack:
                s.x, s.lam, s.fun, s.g, s.c, s.G, s.gl = x, lam, f, g, c, G, gl
                if not problem.constraints.is_linear:  # else G is constant: keep its spectrum
                    s.xi_G = s.gram_max = s.gram_solve = None  # and factorization
                s.info["alpha"] = alpha
                return s
            alpha *= 0.5
        s.stop = (AL_STATUS["line_search"], (
            f"The line search on the augmented Lagrangian found no decrease down to step "
            f"{ALPHA_MIN:g} at iteration {s.k - 1} (merit slope {slope:.3g}); the derivatives "
            "may be inconsistent with the function values."))
        return s

    def result(self, problem, s):
        cons = problem.constraints
        return {
            "jac": s.g.copy(),
            "multipliers": s.lam.copy(),
            "constr_violation": float(np.max(np.abs(s.c), initial=0.0)),
            "optimality": float(np.max(np.abs(s.gl))),
            "kkt_residual": s.kkt,
            "constr_nfev": cons.ncev - self._base[0],
            "constr_njev": cons.njev - self._base[1],
            "constr_nhev": cons.nhev - self._base[2],
            "penalty": (s.mu, s.nu),
            "n_inner": s.n_inner,
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
    ``optkit.show_options("al-newton")``), ``rng`` its seed, and ``constants`` the
    remaining ones (``mu0``, ``nu0``, ``delta0``, ``xi_B``, ``beta``, ``rho``,
    ``delta_floor``, ``hess_mod_tol``, ``singular_tol``, ``singular_test``, ``mu_max``,
    ``nu_min``, ``inner_fallback``, ``check_every``, ``linear_algebra``).

    Parameters
    ----------
    problem : optkit.core.Problem
        Objective with value and gradient (``hvp`` optional: forward differences
        otherwise), and ``constraints`` whose rows all have ``lb == ub``.

    Returns
    -------
    OptimizeResult
        scipy's fields plus ``multipliers``, ``constr_violation`` (:math:`\|c\|_\infty`),
        ``optimality`` (:math:`\|\nabla_x L\|_\infty`), ``kkt_residual``,
        ``constr_nfev``/``constr_njev``/``constr_nhev``, ``penalty`` ``(mu, nu)``,
        ``n_inner`` (sketch steps), ``inner_flops``, ``setup_flops`` and the ``trace``.

    Notes
    -----
    Status codes (``success`` only for 0): 0 converged (:math:`\|\nabla L\| \le` ``tol``);
    1 ``maxiter``; 2 line search failed (step below 1e-10); 3 non-finite value; 8 penalty
    safeguards (``mu_max``/``nu_min``) reached without a descent direction; 5 sketch budget
    (10 ``max_inner`` steps in one Newton step) exhausted; 7 constraint Jacobian (nearly)
    rank-deficient: with ``singular_test="relative"`` (default) a Newton step failed (as for
    2, 4, 5, or a singular K with ``sketch="direct"``) where :math:`\lambda_{\min}(GG^\top)
    \le` ``singular_tol`` :math:`\lambda_{\max}(GG^\top)` (``singular_tol = 1e-12``);
    with ``"absolute"`` (the reference code's rule, there with ``singular_tol=1e-2``)
    :math:`\lambda_{\min}(GG^\top) <` ``singular_tol`` at any iterate; 99 callback
    ``StopIteration``.

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
                   max_inner=max_inner, seed=rng, **constants)
    return solve(problem, "al-newton", callback=callback, options=options)
