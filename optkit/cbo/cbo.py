"""Consensus-based optimization (CBO): a derivative-free swarm method with a provable mean field.

One solver, :class:`CBO`, runs ``M`` independent swarms of ``N`` particles in ``d`` dimensions
as one ``(M, N, d)`` array (numpy, or torch on CPU/CUDA). Every objective evaluation goes
through the problem's population oracle (``value_batch``), one batch per step, so ``nfev`` is exact.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from optkit.core.oracle import Counted, FunctionOracle, dask_map
from optkit.core.result import STATUS
from optkit.core.validate import (
    check_in,
    check_int,
    check_nonnegative,
    check_positive,
    is_torch_tensor,
)

__all__ = ["CBO", "consensus", "ess_alpha", "VARIANTS", "NOISES", "ALPHA_SCHEDULES"]

VARIANTS = ("cbo", "hopping")
NOISES = ("anisotropic", "isotropic", "covariance")
ALPHA_SCHEDULES = ("geometric", "constant", "ess")

_ALPHA_BRACKET = (1e-5, 1e5)
_HOP_STEPS = 125  # hopping's default N fits this many steps into maxfev (0.97**125 ~ 0.02)


# --------------------------------------------------------------------------- array helpers
def _is_torch(a) -> bool:
    return not isinstance(a, (np.ndarray, np.generic, float, int)) and is_torch_tensor(a)


def _amin(a, axis):
    return a.amin(dim=axis, keepdim=True) if _is_torch(a) else a.min(axis=axis, keepdims=True)


def _amax(a, axis, keepdims=False):
    return a.amax(dim=axis, keepdim=keepdims) if _is_torch(a) else a.max(axis=axis, keepdims=keepdims)


def _sum(a, axis, keepdims=False):
    return a.sum(dim=axis, keepdim=keepdims) if _is_torch(a) else a.sum(axis=axis, keepdims=keepdims)


def _where(c, a, b):
    if _is_torch(c):
        import torch

        return torch.where(c, a, b)
    return np.where(c, a, b)


def _isfinite(a):
    return a.isfinite() if _is_torch(a) else np.isfinite(a)


def _exp(a):
    return a.exp() if _is_torch(a) else np.exp(a)


def _f64(a, like=None):
    """``a`` as float64 in the backend of ``like`` (or of ``a``)."""
    like = a if like is None else like
    if _is_torch(like):
        import torch

        return torch.as_tensor(a, dtype=torch.float64, device=like.device)
    return _np(a)


def _np(a) -> np.ndarray:
    """``a`` as a float64 numpy array (torch tensors are moved to the CPU)."""
    if _is_torch(a):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _mask(shape, like, value: bool):
    """A boolean array of ``shape`` filled with ``value``, in the backend of ``like``."""
    if _is_torch(like):
        import torch

        return torch.full(shape, value, dtype=torch.bool, device=like.device)
    return np.full(shape, value, dtype=bool)


def _finite_rows(a) -> np.ndarray:
    """(M,) numpy bool: every entry of row ``m`` (over the trailing axes) is finite."""
    if _is_torch(a):
        return a.isfinite().reshape(a.shape[0], -1).all(dim=1).cpu().numpy()
    return np.isfinite(a).reshape(a.shape[0], -1).all(axis=1)


def _any_finite_rows(E) -> np.ndarray:
    if _is_torch(E):
        return E.isfinite().any(dim=1).cpu().numpy()
    return np.isfinite(E).any(axis=1)


def _cast(a, like):
    """``a`` with the dtype (and device) of ``like``."""
    if _is_torch(like):
        return a.to(dtype=like.dtype, device=like.device)
    return a.astype(like.dtype, copy=False)


# --------------------------------------------------------------------------- consensus and α
def consensus(X, energies, alpha):
    r"""Weighted consensus point of each swarm, computed stably in float64.

    .. math::
        v_\alpha = \sum_i w_i X^i, \qquad
        w_i = \exp\Big(-\alpha\,(f_i - f_{\min}) - \log \sum_j e^{-\alpha (f_j - f_{\min})}\Big),

    an exact rewriting of :math:`\omega_\alpha(x) = e^{-\alpha f(x)}` normalized (the shift by
    :math:`f_{\min}` cancels), so nothing underflows even when :math:`e^{-\alpha f_i}` is 0 in
    float64 for every particle. Non-finite energies (NaN, ±inf) get weight 0.

    Parameters
    ----------
    X : array, shape (M, N, d)
        Particles of ``M`` swarms (numpy or torch; float32 allowed).
    energies : array, shape (M, N)
        Objective values (converted to float64).
    alpha : float or array, shape (M,)
        Inverse temperature(s), > 0.

    Returns
    -------
    v : array, shape (M, d)
        Consensus points, dtype of ``X``. A swarm without any finite energy gets NaN.
    weights : array, shape (M, N)
        The float64 weights :math:`w_i` (rows sum to 1).
    """
    E = _f64(energies, X)
    a = _f64(alpha, X)
    a = a.reshape(-1, 1) if a.ndim else a
    finite = _isfinite(E)
    if bool(finite.all()):
        w = _exp(-a * (E - _amin(E, 1)))
    else:
        Ef = _where(finite, E, _f64(math.inf, E))
        fmin = _amin(Ef, 1)
        fmin = _where(_isfinite(fmin), fmin, _f64(0.0, E))
        w = _where(finite, _exp(-a * (Ef - fmin)), _f64(0.0, E))
    # the best finite particle has weight exp(0) = 1, so the sum is >= 1 when any is finite;
    # a row without finite energy gives 0/0 = NaN, on purpose
    with np.errstate(invalid="ignore"):
        w = w / _sum(w, 1, keepdims=True)
    Xw = _f64(X) if not _is_torch(X) else X.double()
    v = (w[:, None, :] @ Xw)[:, 0, :]
    return _cast(v, X), w


def _ess(w):
    """Effective sample size (Σw)²/Σw² of normalized weights, per row."""
    return 1.0 / _sum(w * w, 1)


def ess_alpha(energies, eta=0.5, bracket=_ALPHA_BRACKET, n_bisect=40):
    r"""The α with effective sample size :math:`J_{\rm eff}(\alpha) = \eta N`, per swarm.

    :math:`J_{\rm eff}(\alpha) = (\sum_i \omega_i)^2 / \sum_i \omega_i^2` is non-increasing in α
    (:math:`\tfrac{d}{d\alpha}\log J_{\rm eff} = 2(E_{2\alpha}[f] - E_\alpha[f]) \le 0`), so
    bisection on :math:`\log\alpha` in ``bracket`` is well defined; the end points are returned
    when the target lies outside (Carrillo, Hoffmann, Stuart, Vaes, Stud. Appl. Math. 2022).
    Non-finite energies are excluded from :math:`N`.
    """
    E = _f64(energies)
    n_finite = _sum(_f64(_isfinite(E), E), 1)
    target = eta * n_finite
    lo = _f64(np.full(E.shape[0], math.log(bracket[0])), E)
    hi = _f64(np.full(E.shape[0], math.log(bracket[1])), E)
    dummy = E[:, :, None]
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        _, w = consensus(dummy, E, _exp(mid))
        too_peaked = _ess(w) < target
        hi = _where(too_peaked, mid, hi)
        lo = _where(too_peaked, lo, mid)
    return _exp(0.5 * (lo + hi))


# --------------------------------------------------------------------------- evaluation
def _mapper(workers, chunksize):
    """A ``map``-like callable from ``workers`` (int, callable map, Executor or dask Client)."""
    if isinstance(workers, int):
        pool = ProcessPoolExecutor(max_workers=workers)
        return partial(pool.map, chunksize=chunksize), pool
    if isinstance(workers, Executor):
        return partial(workers.map, chunksize=chunksize), None
    if hasattr(workers, "gather") and hasattr(workers, "map") and hasattr(workers, "submit"):
        return dask_map(workers), None
    return workers, None


def _evaluator(objective, vectorized, workers, chunksize):
    """``(X) -> values`` going through ``objective.value_batch``, re-batched as asked.

    Without ``vectorized``/``workers`` this is the objective's own ``value_batch`` (its
    :class:`~optkit.core.Counted` wrapper counts every point). Otherwise the plain function
    is rewrapped in a :class:`FunctionOracle` with a vectorized ``value_batch`` or a map,
    and the points are charged to the same counter.
    """
    if not vectorized and workers is None:
        return objective.value_batch, None
    inner = objective.oracle if isinstance(objective, Counted) else objective
    if not isinstance(inner, FunctionOracle):
        raise TypeError("vectorized=/workers= need an objective built from a function "
                        "(FunctionOracle); pass value_batch= or workers= to the oracle instead")
    mapper, pool = (None, None) if workers is None else _mapper(workers, chunksize)
    oracle = inner.with_population(value_batch=inner.fun if vectorized else None, workers=mapper)

    def evaluate(X):
        if isinstance(objective, Counted):
            objective.nfev += int(X.shape[0])
        return oracle.value_batch(X)

    return evaluate, pool


# --------------------------------------------------------------------------- state
_RUNNING = -1


@dataclass
class _CBOState:
    X: Any                      # (M, N, d) particles
    energies: Any               # (M, N) float64, valid where ``fresh``
    fresh: Any                  # (M, N) bool: energies match the current positions
    alpha: Any                  # (M,) float64
    best_x: Any                 # (M, d) best evaluated particle per run
    best_f: np.ndarray          # (M,) float64
    v: Any                      # (M, d) last consensus
    run_status: np.ndarray      # (M,) int: _RUNNING or a STATUS code
    ref_f: np.ndarray           # (M,) best f at the last improvement > f_tol
    ref_it: np.ndarray          # (M,) iteration of that improvement
    batch: Any = None           # (M, B) indices of the current batch, None without batching
    perm: Any = None            # (M, N) current permutations (batching)
    perm_pos: int = 0
    nit: int = 0
    nfev: int = 0
    spread: float = math.inf
    sigma: float = 0.0          # current noise strength (decays by sigma_decay per step)
    n_nonfinite: int = 0
    n_projected: int = 0
    t0: float = field(default_factory=time.perf_counter)

    @property
    def x(self):
        return self.best_x[int(np.argmin(self.best_f))]

    @property
    def fun(self) -> float:
        return float(np.min(self.best_f))

    def trace_extra(self) -> dict[str, Any]:
        return {"alpha": float(np.sort(self.alpha)[len(self.alpha) // 2]), "sigma": self.sigma, "spread": self.spread,
                "n_active": int(np.sum(self.run_status == _RUNNING)),
                "n_nonfinite": self.n_nonfinite, "n_projected": self.n_projected}


# --------------------------------------------------------------------------- solver
class CBO:
    r"""Consensus-based optimization (CBO), several independent swarms at once.

    Every variant moves toward the weighted consensus point of its swarm

    .. math::
        v_\alpha(X) = \frac{\sum_j \omega_\alpha(X^j) X^j}{\sum_j \omega_\alpha(X^j)},
        \qquad \omega_\alpha = e^{-\alpha f},

    with :math:`\xi^i \sim \mathcal{N}(0, I_d)` independent per particle, run and step.

    ``variant="hopping"`` (the default) is Consensus Hopping (Riedl, Klock, Geldhauser,
    Fornasier, "Gradient is all you need?", arXiv 2306.09778): each step samples N points around
    the current consensus and moves to their consensus,

    .. math::
        X^i = v_k + \sigma_k \xi^i, \qquad v_{k+1} = v_\alpha(X), \qquad
        \sigma_{k+1} = \gamma_\sigma \sigma_k \ (\gamma_\sigma = \texttt{sigma\_decay}).

    For large α it approximates a proximal step
    :math:`\arg\min_x f(x) + \|x - v_k\|^2 / (2\alpha\sigma_k^2)`. Its law is
    rotation-equivariant: on :math:`f(Q\,\cdot)` with :math:`Q` orthogonal it gives the rotated
    run in distribution, so it does not depend on axis-aligned (separable) structure. Defaults:
    N = 800 (scaled down to fit about 125 steps into ``maxfev``), α by effective sample size
    (``"ess"``), :math:`\sigma_0` = the initial half-width, :math:`\gamma_\sigma = 0.97`.

    ``variant="cbo"`` is the Euler–Maruyama discretization of the CBO system (Pinnau, Totzeck,
    Tse, Martin 2017)

    .. math::
        X^i \leftarrow X^i - \lambda\,\Delta t\,(X^i - v_\alpha)
            + \sigma \sqrt{\Delta t}\; N^i,

    with the noise term :math:`N^i` chosen by ``noise``:

    - ``"anisotropic"``: :math:`N^i = (X^i - v_\alpha) \odot \xi^i` (Carrillo, Jin, Li, Zhu,
      ESAIM:COCV 2021; Fornasier, Klock, Riedl 2022). Coordinate-wise, so it exploits
      axis-aligned (separable) structure; with σ = 10.1, α₀ = 30 (×1.05 per step, cap 1e5) and
      N = 50 (CBXpy's success-evaluation setting) it is the best setting on axis-aligned functions.
    - ``"isotropic"``: :math:`N^i = \|X^i - v_\alpha\|_2\, \xi^i` (Pinnau et al. 2017;
      Carrillo, Choi, Totzeck, Tse 2018). Rotation-equivariant; its convergence analysis asks
      for :math:`2\lambda > d\sigma^2`, so it explores little in high dimension.
    - ``"covariance"``: :math:`N^i = C_\alpha^{1/2} \xi^i` with the weighted covariance
      :math:`C_\alpha = \sum_j w_j (X^j - v_\alpha)(X^j - v_\alpha)^\top`, the noise of
      consensus-based sampling in optimization mode (Carrillo, Hoffmann, Stuart, Vaes, Stud. Appl.
      Math. 148, 2022, arXiv 2106.02519, whose SDE is this one with :math:`\lambda = 1`,
      :math:`\sigma = \sqrt 2`). Rotation-equivariant.

    The noise is written :math:`\sigma` as in CBXpy; Pinnau et al. and ConsensusBasedX.jl write
    :math:`\sqrt 2 \sigma`, so :math:`\sigma_{\rm optkit} = \sqrt 2\, \sigma_{\rm jl}`.
    The weights are computed in float64 by :func:`consensus` (shifted by the best energy, so
    they never underflow); non-finite objective values get weight 0 and are counted in the trace.

    α follows ``alpha_schedule``: ``"geometric"`` :math:`\alpha_{k+1} = \min(\alpha_{\max},
    \gamma \alpha_k)` (CBXpy's ``multiply`` scheduler), ``"constant"``, or ``"ess"``: each step
    the α whose effective sample size is ``ess_eta``·N (Carrillo et al. 2022), see
    :func:`ess_alpha`. With ``batch_size`` B < N, each step uses the next B indices of a
    without-replacement permutation per swarm (random batch method, Carrillo, Jin, Li, Zhu 2021):
    the consensus uses the batch; ``batch_partial`` moves only the batch, otherwise all particles.

    Initialization: uniform in ``bounds`` where both bounds are finite, otherwise
    ``x0 + spread * U(-1, 1)``. Bounds are enforced by projection after each step (the
    number of projected coordinates is in the trace). One numpy ``Generator`` (a torch
    ``Generator`` seeded from it for tensors) drives everything: same seed, same run.

    Each step evaluates every particle whose position changed (``M·N`` points, ``M·B`` with
    batching) through the objective's ``value_batch`` in one call; runs that finished are
    frozen and no longer evaluated. A run finishes when its swarm collapsed
    (:math:`\max_i \|X^i - v_\alpha\|_\infty <` ``x_tol``), its best value improved by less than
    ``f_tol`` over ``patience`` steps, it reached ``f_target``, or it has no finite value
    left. The solve ends when every run finished, or at ``maxiter``, ``maxfev`` (``nfev`` never
    exceeds it), ``max_time``. The result's ``x`` is the best evaluated particle of all runs.

    Parameters
    ----------
    n_particles : int or None, default None
        Particles per swarm, N >= 2. None: 50 (cbo); for hopping 800, or with ``maxfev``
        ``maxfev / (125 n_runs)`` clipped to [20, 800], so that about 125 steps fit the budget.
    n_runs : int, default 1
        Independent swarms M, vectorized.
    variant : {"hopping", "cbo"}, default "hopping"
        Consensus Hopping (rotation-equivariant, the default), or the CBO dynamics.
    noise : {"anisotropic", "isotropic", "covariance"}, default "anisotropic"
        Noise of the ``"cbo"`` variant.
    sigma : float or None, default None
        Noise strength σ >= 0 (CBXpy's convention). None: 10.1 (anisotropic),
        :math:`\sqrt{\lambda/d}` (isotropic, half the stability bound :math:`2\lambda > d\sigma^2`),
        :math:`\sqrt{2\lambda}` (covariance, as CBS), and for hopping the initial half-width
        (``spread``, or the mean half-width of the finite bounds).
    sigma_decay : float or None, default None
        σ ← ``sigma_decay``·σ after each step, in (0, 1]. None: 0.97 (hopping), 1 (cbo).
    lam : float, default 1.0
        Drift strength λ > 0; λ·dt <= 1.
    dt : float, default 0.01
        Time step Δt > 0.
    alpha : float, default 30.0
        Initial inverse temperature α₀ > 0.
    alpha_schedule : {"geometric", "constant", "ess"} or None, default None
        None: ``"ess"`` (hopping), ``"geometric"`` (cbo).
    alpha_factor : float, default 1.05
        Growth factor γ >= 1 of the geometric schedule.
    alpha_max : float, default 1e5
        Cap of the geometric schedule.
    ess_eta : float, default 0.5
        Target effective-sample-size fraction η in (0, 1] of the ``"ess"`` schedule.
    spread : float, default 1.0
        Half-width of the initial cube around ``x0`` (unbounded coordinates).
    batch_size : int or None, default None
        Particles per consensus B, 2 <= B <= N (None: all).
    batch_partial : bool, default False
        Move only the batch.
    maxfev : int or None, default None
        Budget of objective evaluations over all runs.
    max_time : float or None, default None
        Wall-time budget in seconds.
    f_target : float or None, default None
        A run stops when its best value is <= f_target.
    x_tol : float, default 1e-8
        Consensus-spread tolerance.
    patience : int, default 500
        Steps without an improvement larger than ``f_tol`` before a run stops.
    f_tol : float, default 1e-12
    vectorized : bool, default False
        The objective maps an ``(n, d)`` array to ``(n,)``: one call per step.
    workers : int, callable, Executor, dask Client or None, default None
        Evaluate the points of a step through a map: an int starts a process pool of that
        size for the solve, a callable is used as ``map``, an ``Executor`` through its ``map``,
        a ``dask.distributed.Client`` through ``client.map`` + ``gather``.
    chunksize : int, default 1
        Points per task for process pools and executors.

    Notes
    -----
    Measured on a 2-core CPU, particles ``U(-3, 3)^d``, success :math:`\|Q(x - x^*)\|_\infty <
    0.25` in the function's own coordinates, standard Rastrigin
    :math:`10d + \sum_i z_i^2 - 10\cos 2\pi z_i`, rotated variants :math:`z = Q(x - x^*)`:

    - defaults (hopping), 100k evaluations per run: Rastrigin-20 50/50 runs, rotated
      Rastrigin-20 and rotated Ackley-20 10/10 (CMA-ES with IPOP restarts at the same budget:
      0/10 and 9/10). At 100k evaluations the runs sit in the global basin but are not refined
      (f ≈ 2–5); refining to ``x_tol`` costs more: about 550k evaluations per run on Rastrigin-10.
      Pass ``maxfev`` to cap the cost (N then shrinks with it: Rastrigin-10 at 50k, N = 400,
      10/10 runs; at 20k, N = 160, 6/10).
    - ``variant="cbo"`` (anisotropic): Rastrigin-20 49/50 runs within 100k evaluations, 50/50
      to its own stopping rules (about 140k per run), but 0/10 on the rotated functions: its
      success on axis-aligned functions comes from separability.

    Benchmark suite: ``optkit bench run cbo``.

    References
    ----------
    R. Pinnau, C. Totzeck, O. Tse, S. Martin, "A consensus-based model for global optimization and
    its mean-field limit", M3AS 27(1), 2017. J. A. Carrillo, S. Jin, L. Li, Y. Zhu, "A
    consensus-based global optimization method for high dimensional machine learning problems",
    ESAIM:COCV 27, 2021. J. A. Carrillo, F. Hoffmann, A. M. Stuart, U. Vaes, "Consensus-based
    sampling", Stud. Appl. Math. 148(3), 2022. M. Fornasier, T. Klock, K. Riedl, "Consensus-based
    optimization methods converge globally", SIAM J. Optim., 2024 (arXiv 2103.15130).
    """

    def __init__(self, n_particles: int | None = None, n_runs: int = 1, variant: str = "hopping",
                 noise: str = "anisotropic", sigma: float | None = None,
                 sigma_decay: float | None = None, lam: float = 1.0, dt: float = 0.01,
                 alpha: float = 30.0,
                 alpha_schedule: str | None = None, alpha_factor: float = 1.05,
                 alpha_max: float = 1e5, ess_eta: float = 0.5, spread: float = 1.0,
                 batch_size: int | None = None, batch_partial: bool = False,
                 maxfev: int | None = None, max_time: float | None = None,
                 f_target: float | None = None, x_tol: float = 1e-8, patience: int = 500,
                 f_tol: float = 1e-12, vectorized: bool = False, workers: Any = None,
                 chunksize: int = 1):
        self.variant = check_in(variant, "variant", VARIANTS)
        hopping = self.variant == "hopping"
        self.n_runs = check_int(n_runs, "n_runs", minimum=1)
        if n_particles is None:
            n_particles = 50
            if hopping:  # about _HOP_STEPS steps within the budget, sigma shrinking to ~2%
                n_particles = 800 if maxfev is None else int(np.clip(
                    check_int(maxfev, "maxfev", minimum=1) // (self.n_runs * _HOP_STEPS), 20, 800))
        self.n_particles = check_int(n_particles, "n_particles", minimum=2)
        self.noise = check_in(noise, "noise", NOISES)
        self.sigma = None if sigma is None else check_nonnegative(sigma, "sigma")
        if sigma_decay is None:
            sigma_decay = 0.97 if hopping else 1.0
        self.sigma_decay = check_positive(sigma_decay, "sigma_decay")
        if self.sigma_decay > 1:
            raise ValueError(f"sigma_decay must lie in (0, 1], got {self.sigma_decay}")
        self.lam = check_positive(lam, "lam")
        self.dt = check_positive(dt, "dt")
        if self.lam * self.dt > 1:
            raise ValueError(f"lam * dt must be <= 1 (the drift must not overshoot the consensus), "
                             f"got lam={self.lam}, dt={self.dt}")
        self.alpha = check_positive(alpha, "alpha")
        if alpha_schedule is None:
            alpha_schedule = "ess" if hopping else "geometric"
        self.alpha_schedule = check_in(alpha_schedule, "alpha_schedule", ALPHA_SCHEDULES)
        self.alpha_factor = check_positive(alpha_factor, "alpha_factor")
        if self.alpha_factor < 1:
            raise ValueError(f"alpha_factor must be >= 1, got {self.alpha_factor}")
        self.alpha_max = check_positive(alpha_max, "alpha_max")
        self.ess_eta = check_positive(ess_eta, "ess_eta")
        if self.ess_eta > 1:
            raise ValueError(f"ess_eta must lie in (0, 1], got {self.ess_eta}")
        self.spread = check_nonnegative(spread, "spread")
        if batch_size is not None:
            batch_size = check_int(batch_size, "batch_size", minimum=2)
            if batch_size > self.n_particles:
                raise ValueError(f"batch_size must be <= n_particles ({self.n_particles}), "
                                 f"got {batch_size}")
            if batch_size == self.n_particles:
                batch_size = None
        if batch_size is not None and self.variant == "hopping":
            raise ValueError("batch_size is not available with variant='hopping' (every sample "
                             "is new each step)")
        self.batch_size = batch_size
        if not isinstance(batch_partial, bool):
            raise TypeError(f"batch_partial must be a bool, got {type(batch_partial).__name__}")
        self.batch_partial = batch_partial
        self.maxfev = None if maxfev is None else check_int(maxfev, "maxfev", minimum=1)
        if self.maxfev is not None and self.maxfev < self.n_runs * self.n_particles:
            raise ValueError(f"maxfev must be >= n_runs * n_particles "
                             f"({self.n_runs * self.n_particles}, the initial evaluation), "
                             f"got {self.maxfev}")
        self.max_time = None if max_time is None else check_positive(max_time, "max_time")
        self.f_target = None if f_target is None else float(f_target)
        self.x_tol = check_nonnegative(x_tol, "x_tol")
        self.patience = check_int(patience, "patience", minimum=1)
        self.f_tol = check_nonnegative(f_tol, "f_tol")
        if not isinstance(vectorized, bool):
            raise TypeError(f"vectorized must be a bool, got {type(vectorized).__name__}")
        self.vectorized = vectorized
        if workers is not None and not (isinstance(workers, (int, Executor)) or callable(workers)
                                        or hasattr(workers, "gather")):
            raise TypeError(f"workers must be an int, a map-like callable, an Executor or a dask "
                            f"Client, got {type(workers).__name__}")
        if isinstance(workers, bool) or (isinstance(workers, int) and workers < 1):
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.workers = workers
        self.chunksize = check_int(chunksize, "chunksize", minimum=1)
        self._evaluate = None
        self._pool = None

    # ------------------------------------------------------------------ helpers
    def _setup_random(self, like, rng: np.random.Generator):
        if _is_torch(like):
            import torch

            gen = torch.Generator(device=like.device)
            gen.manual_seed(int(rng.integers(2 ** 62)))
            kw = {"dtype": like.dtype, "device": like.device, "generator": gen}
            self._normal = lambda shape: torch.randn(shape, **kw)
            self._uniform = lambda shape: torch.rand(shape, **kw)
            self._perm = lambda m, n: torch.argsort(
                torch.rand((m, n), generator=gen, device=like.device), dim=1)
        else:
            dtype = like.dtype
            self._normal = lambda shape: rng.standard_normal(shape, dtype=dtype)
            self._uniform = lambda shape: rng.random(shape, dtype=dtype)
            self._perm = lambda m, n: rng.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)

    def _bounds(self, problem, x0):
        b = problem.bounds
        if b is None:
            return None, None
        lb, ub = np.asarray(b.lb, dtype=float), np.asarray(b.ub, dtype=float)
        d = x0.shape[0]
        if lb.shape != (d,) or ub.shape != (d,):
            raise ValueError(f"bounds must have dimension {d} (the size of x0), got lb of shape "
                             f"{lb.shape} and ub of shape {ub.shape}")
        if np.any(lb > ub):
            i = int(np.argmax(lb > ub))
            raise ValueError(f"bounds: lb must be <= ub, but variable {i} has lb={lb[i]} > ub={ub[i]}")
        if _is_torch(x0):
            import torch

            return (torch.as_tensor(lb, dtype=x0.dtype, device=x0.device),
                    torch.as_tensor(ub, dtype=x0.dtype, device=x0.device))
        return lb.astype(x0.dtype), ub.astype(x0.dtype)

    def _project(self, state, X, moved):
        """Clip the moved particles to the box; count the projected coordinates."""
        if self._lb is None:
            return X
        outside = (X < self._lb) | (X > self._ub)
        state.n_projected += int(outside[moved].sum())
        return X.clamp(self._lb, self._ub) if _is_torch(X) else np.clip(X, self._lb, self._ub)

    def _eval_into(self, state, mask):
        """Evaluate the particles under ``mask`` (M, N) in one batch; update energies and bests."""
        X = state.X
        M, N = state.energies.shape
        full = bool(mask.all())
        pts = X.reshape(M * N, -1) if full else X[mask]
        n = int(pts.shape[0])
        if n == 0:
            return
        vals = _f64(self._evaluate(pts), state.energies)
        if tuple(vals.shape) != (n,):
            raise ValueError(f"the objective returned shape {tuple(vals.shape)} for {n} points; "
                             f"expected ({n},)")
        state.nfev += n
        if full:  # a copy: the array may be the objective's own, and energies are updated in place
            state.energies = vals.reshape(M, N) + 0.0
        else:
            state.energies[mask] = vals
        state.fresh = state.fresh | mask
        state.n_nonfinite += int((~_isfinite(vals)).sum())
        E = _where(mask & _isfinite(state.energies), state.energies,
                   _f64(math.inf, state.energies))
        rows = np.arange(M)
        if _is_torch(E):
            f_new, i_new = E.min(dim=1)
            f_new, i_new = f_new.cpu().numpy(), i_new.cpu().numpy()
        else:
            i_new = E.argmin(axis=1)
            f_new = E[rows, i_new]
        better = f_new < state.best_f
        if better.any():
            state.best_f = np.where(better, f_new, state.best_f)
            state.best_x = _where(_f64(better, X)[:, None] > 0, X[rows, i_new], state.best_x)

    def _next_batch(self, state):
        B, N, M = self.batch_size, self.n_particles, self.n_runs
        if state.perm is None or state.perm_pos + B > N:
            state.perm = self._perm(M, N)
            state.perm_pos = 0
        state.batch = state.perm[:, state.perm_pos:state.perm_pos + B]
        state.perm_pos += B

    def _batch_mask(self, state):
        """(M, N) mask of the current batch (every particle without batching)."""
        shape = (self.n_runs, self.n_particles)
        if state.batch is None:
            return _mask(shape, state.X, True)
        mask = _mask(shape, state.X, False)
        if _is_torch(mask):
            mask.scatter_(1, state.batch, True)
        else:
            np.put_along_axis(mask, state.batch, True, axis=1)
        return mask

    def _running(self, state):
        """(M,) mask of the running swarms, in the particles' backend."""
        run = state.run_status == _RUNNING
        return _f64(run, state.X) > 0 if _is_torch(state.X) else run

    def _update_alpha(self, state):
        if self.alpha_schedule == "geometric":
            state.alpha = np.minimum(self.alpha_max, state.alpha * self.alpha_factor)
        elif self.alpha_schedule == "ess":
            E = state.energies if state.batch is None else _take(state.energies, state.batch)
            state.alpha = _np(ess_alpha(E, self.ess_eta))

    def _stop_runs(self, state, spread_runs):
        """Apply the per-run stopping rules (only running swarms change status)."""
        running = state.run_status == _RUNNING
        improved = state.best_f < state.ref_f - self.f_tol
        if improved.any():
            state.ref_f = np.where(improved, state.best_f, state.ref_f)
            state.ref_it = np.where(improved, state.nit, state.ref_it)
        hit = (spread_runs < self.x_tol) | (state.nit - state.ref_it >= self.patience)
        hit |= ~np.isfinite(state.best_f)
        if self.f_target is not None:
            hit |= state.best_f <= self.f_target
        if not (hit & running).any():
            return
        rules = [(~np.isfinite(state.best_f), STATUS["nonfinite"]),
                 (spread_runs < self.x_tol, STATUS["success"]),
                 (state.nit - state.ref_it >= self.patience, STATUS["success"])]
        if self.f_target is not None:
            rules.insert(0, (state.best_f <= self.f_target, STATUS["success"]))
        for hit, code in rules:
            newly = running & hit
            state.run_status[newly] = code
            running &= ~newly

    # ------------------------------------------------------------------ protocol
    def init(self, problem, x0, rng):
        M, N = self.n_runs, self.n_particles
        self._evaluate, self._pool = _evaluator(problem.objective, self.vectorized, self.workers,
                                                self.chunksize)
        x0 = x0.detach().clone() if _is_torch(x0) else np.array(x0, copy=True)
        d = x0.shape[0]
        self._setup_random(x0, rng)
        self._lb, self._ub = self._bounds(problem, x0)
        U = self._uniform((M, N, d))
        X = x0 + self.spread * (2 * U - 1)
        if self._lb is not None:
            lb, ub = _np(self._lb), _np(self._ub)
            box = np.isfinite(lb) & np.isfinite(ub)
            lo, width = _f64(np.where(box, lb, 0.0), X), _f64(np.where(box, ub - lb, 0.0), X)
            X = _where(_f64(box, X) > 0, lo + width * U, X)
            X = _cast(X, x0)
        state = _CBOState(
            sigma=self._initial_sigma(d, x0), X=X, energies=_f64(np.full((M, N), np.nan), X), fresh=_mask((M, N), X, False),
            alpha=np.full(M, self.alpha), best_x=X[:, 0] + 0, best_f=np.full(M, np.inf),
            v=X[:, 0] + 0, run_status=np.full(M, _RUNNING), ref_f=np.full(M, np.inf),
            ref_it=np.zeros(M, dtype=int))
        if self._lb is not None:
            state.X = X = self._project(state, X, slice(None))
            state.n_projected = 0
        self._eval_into(state, _mask((M, N), X, True))
        state.ref_f = state.best_f.copy()
        if self.batch_size is not None:
            self._next_batch(state)
        if self.alpha_schedule == "ess":
            self._update_alpha(state)
        self._stop_runs(state, np.full(M, np.inf))
        return state

    def _initial_sigma(self, d, x0) -> float:
        if self.sigma is not None:
            return self.sigma
        if self.variant == "hopping":
            if self._lb is None:
                return self.spread
            half = (_np(self._ub) - _np(self._lb)) / 2
            return float(np.mean(np.where(np.isfinite(half), half, self.spread)))
        return {"anisotropic": 10.1, "isotropic": math.sqrt(self.lam / d),
                "covariance": math.sqrt(2 * self.lam)}[self.noise]

    def step(self, problem, state):
        X, batch = state.X, state.batch
        Xb = X if batch is None else _take(X, batch)
        Eb = state.energies if batch is None else _take(state.energies, batch)
        no_finite = ~_any_finite_rows(Eb) & (state.run_status == _RUNNING)
        state.run_status[no_finite] = STATUS["nonfinite"]
        running = self._running(state)
        v, w = consensus(Xb, Eb, state.alpha)
        state.v = _where(running[:, None], v, state.v)
        Db = Xb - v[:, None, :]
        partial_move = batch is not None and self.batch_partial
        D = Db if batch is None or partial_move else X - v[:, None, :]
        xi = self._normal(tuple(D.shape))
        if self.variant == "hopping":
            step = state.sigma * xi - D  # X + step = v + sigma * xi
        else:
            s, drift = state.sigma * math.sqrt(self.dt), self.lam * self.dt
            if self.noise == "anisotropic":  # -drift D + s D * xi, in one product
                step = D * (s * xi - drift)
            elif self.noise == "isotropic":
                step = (s * _sum(D * D, 2, keepdims=True) ** 0.5) * xi - drift * D
            else:
                step = s * (xi @ _cast(_sqrt_cov(Db, w), X)) - drift * D
        state.sigma *= self.sigma_decay
        if partial_move:
            moved = self._batch_mask(state) & running[:, None]
            X_new = _scatter_add(X, batch, step, running)
        else:
            moved = _mask(state.fresh.shape, X, True) & running[:, None]
            all_running = bool(running.all())
            X_new = X + step if all_running else _where(running[:, None, None], X + step, X)
        X_new = self._project(state, X_new, moved)
        spread_runs = _np(_amax(_amax(abs(Db), 2), 1))
        state.X = X_new
        state.fresh = state.fresh & ~moved
        state.nit += 1
        is_running = state.run_status == _RUNNING
        state.spread = float(np.max(spread_runs, where=is_running, initial=0.0))
        state.run_status[is_running & ~_finite_rows(X_new)] = STATUS["diverged"]
        if batch is not None:
            self._next_batch(state)
            need = ~state.fresh & self._batch_mask(state) & self._running(state)[:, None]
        elif (state.run_status == _RUNNING).all():
            need = ~state.fresh  # every particle moved
        else:
            need = ~state.fresh & self._running(state)[:, None]
        self._eval_into(state, need)
        self._update_alpha(state)
        self._stop_runs(state, spread_runs)
        return state

    def _step_cost(self, state) -> int:
        """Evaluations of the next step, at most (frozen swarms cost nothing)."""
        return int(np.sum(state.run_status == _RUNNING)) * (self.batch_size or self.n_particles)

    def terminate(self, problem, state):
        status = state.run_status
        if np.all(status != _RUNNING):
            code = int(status[int(np.argmin(state.best_f))])
            message = {
                STATUS["success"]: "Optimization terminated successfully: every run converged.",
                STATUS["diverged"]: "The best run's particles became non-finite (diverged).",
                STATUS["nonfinite"]: "The best run has no finite objective value.",
            }[code]
            return True, code, message
        if self.maxfev is not None and state.nfev + self._step_cost(state) > self.maxfev:
            return True, STATUS["maxfev"], (
                f"Maximum number of function evaluations would be exceeded (maxfev={self.maxfev}).")
        if self.max_time is not None and time.perf_counter() - state.t0 > self.max_time:
            return True, STATUS["maxiter"], f"The time budget max_time={self.max_time} s is spent."
        return False, 0, ""

    def result(self, problem, state):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        to_np = (lambda a: a.detach().cpu().numpy().copy()) if _is_torch(state.X) else np.copy
        names = {code: name for name, code in STATUS.items()}
        return {
            "x_runs": to_np(state.best_x),
            "fun_runs": state.best_f.copy(),
            "x_consensus": to_np(state.v),
            "run_status": [names[int(s)] if s != _RUNNING else "running" for s in state.run_status],
            "alpha": state.alpha.copy(),
            "n_nonfinite": state.n_nonfinite,
            "n_projected": state.n_projected,
        }


# --------------------------------------------------------------------------- small kernels
def _take(A, idx):
    """``A[m, idx[m]]`` for every row ``m`` (``A`` of shape (M, N) or (M, N, d))."""
    if _is_torch(A):
        if A.ndim == 3:
            return A.gather(1, idx[:, :, None].expand(-1, -1, A.shape[2]))
        return A.gather(1, idx)
    return np.take_along_axis(A, idx[:, :, None] if A.ndim == 3 else idx, axis=1)


def _scatter_add(X, idx, step, running):
    """A copy of ``X`` with ``step`` added at rows ``idx`` of the running swarms."""
    if _is_torch(X):
        step = step * running[:, None, None].to(step.dtype)
        return X.scatter_add(1, idx[:, :, None].expand(-1, -1, X.shape[2]), step)
    out = X.copy()
    cur = np.take_along_axis(out, idx[:, :, None], axis=1)
    np.put_along_axis(out, idx[:, :, None], np.where(running[:, None, None], cur + step, cur),
                      axis=1)
    return out


def _sqrt_cov(D, w):
    r"""Symmetric square root of :math:`C = \sum_i w_i D_i D_i^\top` per swarm, float64, (M, d, d)."""
    Dw = _f64(D, w)
    if _is_torch(Dw):
        import torch

        lam, U = torch.linalg.eigh((Dw * w[:, :, None]).transpose(1, 2) @ Dw)
        return (U * lam.clamp_min(0).sqrt()[:, None, :]) @ U.transpose(1, 2)
    lam, U = np.linalg.eigh(np.swapaxes(Dw * w[:, :, None], 1, 2) @ Dw)
    return (U * np.sqrt(np.maximum(lam, 0))[:, None, :]) @ np.swapaxes(U, 1, 2)
