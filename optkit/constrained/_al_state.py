r"""State of an AdaSketch-Newton run and the merit gradient (Hong, Na, Mahoney, Kolar,
ICML 2023, §2: the exact augmented Lagrangian
:math:`\mathcal{L}_{\mu,\nu} = f + \lambda^\top c + \tfrac{\mu}{2}\|c\|^2
+ \tfrac{\nu}{2}\|\nabla_x L\|^2`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["merit_gradient", "merit_value", "penalized_lagrangian"]


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
    path: str  # linear algebra: "dense", "sparse" or "matrix-free"
    has_hvp: bool  # the objective has Hessian-vector products (else forward differences)
    base: tuple  # constraint counts (ncev, njev, nhev) at the start of the run
    view: Any = None  # ScaledProblem when safeguards="robust" scales the problem, else None
    box: Any = None  # BoxProblem (barrier view, optkit.constrained._box) when bounds are given
    eigvec: np.ndarray | None = None  # warm starts of the reduced-Hessian Lanczos
    eigvec_H: np.ndarray | None = None  # and of the ||grad^2 L|| Lanczos
    gram_solve: Callable | None = None  # r -> (G G^T)^{-1} r for the current G
    null_G: np.ndarray | None = None  # orthonormal basis of null(G^T) (robust, dense path)
    ldl: Any = None  # ReusableLDL of the sparse path's KKT matrices (one analysis per pattern)
    k: int = 0
    best_kkt: float = np.inf  # lowest KKT residual so far and its iteration (progress test)
    best_k: int = 0
    barrier_k: int = 0  # iteration of the last barrier-parameter decrease (bounds)
    no_interior_mark: tuple = (0, np.inf, np.inf)  # (k, ||lambda||, KKT) at the start of
    # the window of the no-interior-point test (ALNewton._no_interior_point)
    certificate: dict | None = None  # fitted multipliers of a certified KKT point (bounds)
    short_steps: int = 0  # consecutive Armijo steps below SHORT_STEP (robust crawl test)
    tiny_step: bool = False  # the last step was below the merit's resolution (robust)
    last_step: float = 1.0  # the last accepted step, relative to the capped direction (robust)
    shift_floor: float | None = None  # robust: the shift's floor at a PSD reduced Hessian
    lam_norm_prev: float = np.inf  # ||lambda|| at the previous iterate (robust Fritz John stop)
    unbounded_steps: int = 0  # consecutive Newton steps with ||lambda|| blowing up (same)
    n_inner: int = 0
    n_direct_fallback: int = 0  # sketch passes finished by an LU solve (inner_fallback)
    n_recoveries: int = 0  # failed Newton steps answered by ALNewton._recover (robust)
    n_restorations: int = 0  # feasibility restorations among them
    n_restoration_nfev: int = 0  # constraint evaluations of the restorations
    n_soc: int = 0  # unit steps accepted after a second-order correction (robust)
    n_projections: int = 0  # Newton projections onto c(x) = 0 at the solution (robust)
    n_screened: int = 0  # line-search trials rejected on f and c alone (robust)
    n_least_squares_multipliers: int = 0  # steps taken at the least-squares multipliers (robust)
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


@dataclass
class _Inner:
    """Outcome of the sketch passes of one Newton iteration (:meth:`ALNewton._newton_direction`)."""

    z: np.ndarray
    slope: float  # merit gradient times z
    steps: int = 0
    flops: float = 0.0
    rtol: float = np.nan
    capped: bool = False
    penalty_updates: int = 0
    safeguard_step: bool = False
    fallbacks: int = 0


@dataclass
class _Accuracy:
    """The paper's accuracy constants of one iteration (NaN unless ``paper``)."""

    paper: bool
    psi: float = np.nan
    ups: float = np.nan
    trial0: float = np.nan
    theta: float = 1.0


def penalized_lagrangian(f, lam, c, mu):
    r""":math:`f + \lambda^\top c + \tfrac{\mu}{2}\|c\|^2`, the merit without its
    :math:`\nu` term (a lower bound on it for :math:`\nu > 0`)."""
    return f + lam @ c + 0.5 * mu * (c @ c)


def merit_value(f, lam, c, gl, mu, nu):
    r""":math:`\mathcal{L}_{\mu,\nu} = f + \lambda^\top c + \tfrac{\mu}{2}\|c\|^2 +
    \tfrac{\nu}{2}\|\nabla_x L\|^2` (``gl`` = :math:`\nabla_x L`), summed in that order."""
    return penalized_lagrangian(f, lam, c, mu) + 0.5 * nu * (gl @ gl)


def merit_gradient(gl, c, Gt_c, G_gl, Hgl, mu, nu):
    r""":math:`\nabla\mathcal{L}_{\mu,\nu} = ((I + \nu H)\nabla_x L + \mu G^\top c,\;
    c + \nu G \nabla_x L)` from its pieces (``Gt_c`` = :math:`G^\top c`, ``G_gl`` =
    :math:`G\nabla_x L`, ``Hgl`` = :math:`H \nabla_x L`)."""
    return np.concatenate([gl + nu * Hgl + mu * Gt_c, c + nu * G_gl])
