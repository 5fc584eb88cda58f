"""The :class:`CBO` solver: M independent swarms of N particles on the core run loop.

The swarm machinery shared by both variants lives here: initialization, one batched
evaluation per step, best-so-far tracking, the α schedules, bounds, and the per-run stopping
tests. The moves are in :mod:`optkit.cbo.hopping` (Consensus Hopping) and
:mod:`optkit.cbo.dynamics` (Euler–Maruyama CBO); the consensus in :mod:`optkit.cbo.consensus`;
the evaluators in :mod:`optkit.cbo.population`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optkit.core.backend import device_of, is_torch_tensor, namespace, to_numpy
from optkit.core.registry import resolve_options
from optkit.core.result import STATUS

from ._methods import CBO_OPTIONS
from .consensus import consensus, ess_alpha
from .dynamics import default_sigma, em_move
from .hopping import HOP_DECAY, hopping_move, hopping_particles
from .population import population_evaluator, takes_chunksize
from .state import RUNNING as _RUNNING
from .state import SWARM_ARRAYS, Draws, SwarmState, snapshot

__all__ = ["CBO", "WINDOW"]

#: consecutive steps the convergence test (spread and consensus movement <= xtol) must hold
WINDOW = 10
_CBO_DEFAULTS = {"noise": "anisotropic", "lam": 1.0, "dt": 0.01, "batch_partial": False,
                 "n_particles": 50, "sigma_decay": 1.0, "alpha_schedule": "geometric"}
_SCHEDULE_OPTIONS = {"alpha": ("geometric", "constant"), "alpha_factor": ("geometric",),
                     "alpha_max": ("geometric",), "ess_eta": ("ess",)}


class CBO:
    r"""Consensus-based optimization (CBO), several independent swarms at once.

    Every variant moves toward the weighted consensus point of its swarm

    .. math::
        v_\alpha(X) = \frac{\sum_j \omega_\alpha(X^j) X^j}{\sum_j \omega_\alpha(X^j)},
        \qquad \omega_\alpha = e^{-\alpha f},

    computed in float64 by :func:`~optkit.cbo.consensus` (shifted by the best energy, so the
    weights never underflow; non-finite values get weight 0 and are counted in the trace).

    ``variant="hopping"`` (the default) is Consensus Hopping (Riedl, Klock, Geldhauser,
    Fornasier, arXiv 2306.09778; :mod:`optkit.cbo.hopping`): each step samples N points
    :math:`v_k + \sigma_k\xi^i` around the consensus and moves to their consensus, with
    :math:`\sigma_{k+1} = \gamma_\sigma\sigma_k`. Its law is rotation-equivariant, so it does not
    depend on axis-aligned (separable) structure. Defaults: N = 40 d clipped to [40, 800], α by
    effective sample size, :math:`\sigma_0` = the initial half-width, :math:`\gamma_\sigma = 0.97`.

    ``variant="cbo"`` is the Euler–Maruyama discretization of the CBO system (Pinnau, Totzeck,
    Tse, Martin 2017; :mod:`optkit.cbo.dynamics`) with ``noise`` anisotropic (Carrillo, Jin, Li,
    Zhu 2021; coordinate-wise, it exploits separability), isotropic or covariance
    (consensus-based sampling, Carrillo, Hoffmann, Stuart, Vaes 2022). The noise is written
    :math:`\sigma` as in CBXpy; Pinnau et al. write :math:`\sqrt 2\sigma`.

    α follows ``alpha_schedule``: ``"geometric"`` :math:`\alpha_{k+1} = \min(\alpha_{\max},
    \gamma \alpha_k)`, ``"constant"``, or ``"ess"``: each step the α whose effective sample size
    is ``ess_eta``·N (Carrillo, Hoffmann, Stuart, Vaes 2022), see :func:`~optkit.cbo.ess_alpha`.
    With ``batch_size`` B < N (variant ``"cbo"``), each step uses the next B indices of a
    without-replacement permutation per swarm (random batch method, Carrillo, Jin, Li, Zhu
    2021): the consensus uses the batch; ``batch_partial`` moves only the batch, otherwise all
    particles move. Either way a step evaluates B points per running swarm.

    Initialization: uniform in ``bounds`` where both bounds are finite, otherwise
    ``x0 + spread * U(-1, 1)``. Bounds are enforced by projection after each step (the number
    of projected coordinates is in the trace). One ``rng`` drives everything (a torch
    ``Generator`` on the device for tensors): same ``rng``, same run. Particles, consensus and
    energies stay on the input's device; the host reads them only at the run loop's stopping
    checks. Energies and weights are float64; particles keep the dtype of ``x0``.

    Stopping, per run (a finished run is frozen and no longer evaluated, so ``nfev`` is exact):
    the run has converged when, for ``WINDOW`` = 10 consecutive steps, both the particle spread
    :math:`\max_i \|X^i - v_\alpha\|_\infty` and the consensus movement
    :math:`\|v_{k} - v_{k-1}\|_\infty` are at most ``xtol`` (the swarm collapsed and its consensus
    stopped moving; the consensus-movement test of Carrillo, Jin, Li, Zhu 2021 and CBXpy's
    ``diff_tol``, together with the spread test of Pinnau et al.'s collapse); or its best value
    improved by at most ``ftol`` over ``patience`` steps; or it reached ``f_target``. These are
    ``success=True``. A run with no finite value (status 3) or non-finite particles (status 4)
    stops with ``success=False``. The solve ends when every run finished (the status of the best
    run) or when the run loop's ``maxiter``, ``maxfev`` or ``max_time`` is spent
    (``success=False``; ``maxfev`` is checked before each step, so the last step may pass it by
    at most one batch). The result's ``x`` is the best evaluated particle of all runs.

    Parameters
    ----------
    n_particles : int or None, default None
        Particles per swarm, N >= 2. None: 50 (cbo); 40 d clipped to [40, 800] (hopping).
    n_runs : int, default 1
        Independent swarms M, vectorized.
    variant : {"hopping", "cbo"}, default 'hopping'
        Consensus Hopping (rotation-equivariant), or the CBO dynamics.
    noise : {"anisotropic", "isotropic", "covariance"} or None, default None
        Noise of the ``"cbo"`` variant (None: ``"anisotropic"``).
    sigma : float or None, default None
        Noise strength σ >= 0 (CBXpy's convention). None: 10.1 (anisotropic),
        :math:`\sqrt{\lambda/d}` (isotropic, half the stability bound :math:`2\lambda > d\sigma^2`
        of Fornasier, Klock, Riedl, arXiv 2103.15130), :math:`\sqrt{2\lambda}` (covariance), and
        for hopping the initial half-width (``spread``, or the mean half-width of finite bounds).
    sigma_decay : float or None, default None
        σ ← ``sigma_decay``·σ after each step, in (0, 1]. None: 0.97 (hopping), 1 (cbo).
    lam : float or None, default None
        Drift strength λ > 0 of variant ``"cbo"``, λ·dt <= 1 (None: 1).
    dt : float or None, default None
        Time step Δt > 0 of variant ``"cbo"`` (None: 0.01).
    alpha : float or None, default None
        Initial inverse temperature α₀ > 0 of the geometric and constant schedules (None: 30).
    alpha_schedule : {"geometric", "constant", "ess"} or None, default None
        None: ``"ess"`` (hopping), ``"geometric"`` (cbo).
    alpha_factor : float or None, default None
        Growth factor γ >= 1 of the geometric schedule (None: 1.05).
    alpha_max : float or None, default None
        Cap of the geometric schedule (None: 1e5).
    ess_eta : float or None, default None
        Target effective-sample-size fraction η in (0, 1] of the ``"ess"`` schedule (None: 0.5).
    spread : float or None, default None
        Half-width of the initial cube around ``x0`` in the coordinates without finite bounds
        (None: 1).
    batch_size : int or None, default None
        Particles per consensus B, 2 <= B <= N (variant ``"cbo"``; None: all).
    batch_partial : bool or None, default None
        Move only the batch (variant ``"cbo"`` with ``batch_size``; None: False).
    f_target : float or None, default None
        A run stops when its best value is <= f_target.
    xtol : float, default 1e-06
        Tolerance of the convergence test (spread and consensus movement, ∞-norm).
    patience : int, default 500
        Steps without an improvement larger than ``ftol`` before a run stops.
    ftol : float, default 1e-12
        See ``patience``.
    vectorized : bool, default False
        The objective maps an ``(n, d)`` array to ``(n,)``: one call per step.
    workers : int, callable, Executor, dask Client or None, default None
        Evaluate the points of a step through a map: an int starts a process pool of that
        size for the run, a callable is used as ``map``, an ``Executor`` through its ``map``,
        a ``dask.distributed.Client`` through ``client.map`` + ``gather``.
    chunksize : int or None, default None
        Points per task when ``workers`` is an int or an ``Executor`` (None: 1).
    warm_start : OptimizeResult or dict or None, default None
        Resume from a previous run: its result, or the ``swarm`` field of its result or of a
        callback's ``intermediate_result`` (copies, on the particles' device, of the
        particles, energies, bests, consensus, α, σ, stopping counters and batch
        permutation). The swarm replaces the
        initialization (nothing drawn, nothing evaluated); ``x0`` only fixes the dimension
        and the array library. With the same options and the interrupted run's own
        ``Generator`` as ``rng`` (or one restored to its state), the resumed run
        repeats the uninterrupted run's steps exactly; with another ``rng`` it continues
        from the same swarm with other random numbers. The shape must match
        ``(n_runs, n_particles, d)`` (``ValueError`` naming ``warm_start``).

        A callback saves a checkpoint (the copy of the swarm is made only when a callback
        is given)::

            def checkpoint(intermediate_result):
                with open("cbo.pkl", "wb") as fh:
                    pickle.dump(intermediate_result.swarm, fh)

    Every option is checked by the option table of method ``"cbo"``; an option that does not
    apply (a ``"cbo"``-only option with hopping, ``alpha`` with the ``"ess"`` schedule,
    ``ess_eta`` with another schedule, ``chunksize`` without a pool or executor, ``spread``
    when every coordinate has finite bounds) raises ``ValueError`` naming it.

    Notes
    -----
    Success rates and evaluation counts against the peers (CBXpy, CMA-ES, scipy's
    differential evolution and dual annealing): ``optkit bench run cbo``.

    References
    ----------
    R. Pinnau, C. Totzeck, O. Tse, S. Martin, "A consensus-based model for global optimization and
    its mean-field limit", M3AS 27(1), 2017. J. A. Carrillo, S. Jin, L. Li, Y. Zhu, "A
    consensus-based global optimization method for high dimensional machine learning problems",
    ESAIM:COCV 27, 2021. J. A. Carrillo, F. Hoffmann, A. M. Stuart, U. Vaes, "Consensus-based
    sampling", Stud. Appl. Math. 148(3), 2022. K. Riedl, T. Klock, C. Geldhauser, M. Fornasier,
    "Gradient is all you need?", arXiv 2306.09778. M. Fornasier, T. Klock, K. Riedl,
    "Consensus-based optimization methods converge globally", SIAM J. Optim., 2024 (arXiv
    2103.15130).
    """

    def __init__(self, n_particles: int | None = None, n_runs: int = 1, variant: str = "hopping",
                 noise: str | None = None, sigma: float | None = None,
                 sigma_decay: float | None = None, lam: float | None = None,
                 dt: float | None = None, alpha: float | None = None,
                 alpha_schedule: str | None = None, alpha_factor: float | None = None,
                 alpha_max: float | None = None, ess_eta: float | None = None,
                 spread: float | None = None, batch_size: int | None = None,
                 batch_partial: bool | None = None, f_target: float | None = None,
                 xtol: float = 1e-6, patience: int = 500, ftol: float = 1e-12,
                 vectorized: bool = False, workers: Any = None, chunksize: int | None = None,
                 warm_start: Any = None):
        given = {k: v for k, v in locals().items() if k not in ("self", "__class__")
                 and v is not None}
        o = resolve_options(CBO_OPTIONS, given, owner="CBO")
        self.variant = o["variant"]
        hopping = self.variant == "hopping"
        for name, default in _CBO_DEFAULTS.items():
            if o[name] is None and not (hopping and name in ("n_particles", "sigma_decay",
                                                             "alpha_schedule")):
                o[name] = default
        if hopping:
            o["sigma_decay"] = HOP_DECAY if o["sigma_decay"] is None else o["sigma_decay"]
            o["alpha_schedule"] = o["alpha_schedule"] or "ess"
        for name, schedules in _SCHEDULE_OPTIONS.items():
            if name in given and o["alpha_schedule"] not in schedules:
                raise ValueError(f"option {name!r} does not apply to alpha_schedule="
                                 f"{o['alpha_schedule']!r} in CBO: it is used only with "
                                 f"alpha_schedule in {list(schedules)}")
        if "chunksize" in given and not takes_chunksize(o["workers"]):
            raise ValueError("option 'chunksize' does not apply: it is used only when workers is "
                             "an int (process pool) or a concurrent.futures.Executor")
        if "batch_partial" in given and o["batch_size"] is None:
            raise ValueError("option 'batch_partial' does not apply without batch_size")
        self.n_runs = o["n_runs"]
        self.n_particles = o["n_particles"]
        self.noise, self.lam, self.dt = o["noise"], o["lam"], o["dt"]
        if not hopping and self.lam * self.dt > 1:
            raise ValueError(f"lam * dt must be <= 1 (the drift must not overshoot the consensus), "
                             f"got lam={self.lam}, dt={self.dt}")
        self.sigma, self.sigma_decay = o["sigma"], o["sigma_decay"]
        self.alpha_schedule = o["alpha_schedule"]
        self.alpha = 30.0 if o["alpha"] is None else o["alpha"]
        self.alpha_factor = 1.05 if o["alpha_factor"] is None else o["alpha_factor"]
        self.alpha_max = 1e5 if o["alpha_max"] is None else o["alpha_max"]
        self.ess_eta = 0.5 if o["ess_eta"] is None else o["ess_eta"]
        self.spread_given = o["spread"] is not None
        self.spread = 1.0 if o["spread"] is None else o["spread"]
        batch_size = o["batch_size"]
        if batch_size is not None and batch_size > self.n_particles:
            raise ValueError(f"batch_size must be <= n_particles ({self.n_particles}), "
                             f"got {batch_size}")
        self.batch_size = None if batch_size == self.n_particles else batch_size
        self.batch_partial = bool(o["batch_partial"])
        self.f_target = o["f_target"]
        self.xtol, self.patience, self.ftol = o["xtol"], o["patience"], o["ftol"]
        self.vectorized, self.workers = o["vectorized"], o["workers"]
        self.chunksize = 1 if o["chunksize"] is None else o["chunksize"]
        self.warm_start = o["warm_start"]

    # ------------------------------------------------------------------ helpers
    def _bounds(self, problem, x0):
        b = getattr(problem, "bounds", None)
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
        if self.spread_given and np.all(np.isfinite(lb) & np.isfinite(ub)):
            raise ValueError("option 'spread' does not apply: every coordinate has finite bounds, "
                             "so the particles start uniform in the box")
        return lb, ub

    def _project(self, state, X, moved):
        """Clip to the box; count the projected coordinates of the moved particles."""
        if state.lb is None:
            return X
        xp = namespace(X)
        outside = (X < state.lb) | (X > state.ub)
        state.n_projected = state.n_projected + xp.sum(
            xp.astype(outside & moved[:, :, None], xp.int64))
        return xp.clip(X, state.lb, state.ub)

    def _evaluate(self, state, idx=None):
        """Evaluate the running swarms' particles (all, or columns ``idx`` (M, K)) in one batch."""
        xp = namespace(state.X)
        X, rows = state.X, state.rows
        Xr = X[rows]
        if idx is not None:
            idx = idx[rows]
            Xr = xp.take_along_axis(Xr, idx[:, :, None], axis=1)
        A, K, d = Xr.shape
        n = A * K
        if n == 0:
            return
        pts = xp.reshape(Xr, (n, d))
        pts = xp.asarray(pts, copy=True)  # the user's function may modify its input
        vals = state.evaluate(pts)
        if tuple(vals.shape) != (n,):
            raise ValueError(f"the objective returned shape {tuple(vals.shape)} for {n} points; "
                             f"expected ({n},)")
        vals = xp.reshape(xp.asarray(vals, dtype=xp.float64, device=device_of(X)), (A, K))
        state.nfev += n
        finite = xp.isfinite(vals)
        state.n_nonfinite = state.n_nonfinite + xp.sum(xp.astype(~finite, xp.int64))
        if idx is None:
            state.energies[rows] = vals
        else:
            rid = xp.arange(X.shape[0], device=device_of(X))[rows]
            state.energies[rid[:, None], idx] = vals
        masked = xp.where(finite, vals, math.inf)
        i_new = xp.argmin(masked, axis=1, keepdims=True)
        f_new = xp.take_along_axis(masked, i_new, axis=1)[:, 0]
        x_new = xp.take_along_axis(Xr, i_new[:, :, None], axis=1)[:, 0, :]
        better = f_new < state.best_f[rows]
        state.best_f[rows] = xp.where(better, f_new, state.best_f[rows])
        state.best_x[rows] = xp.where(better[:, None], x_new, state.best_x[rows])

    def _next_batch(self, state):
        B, N, M = self.batch_size, state.n_particles, self.n_runs
        if state.perm is None or state.perm_pos + B > N:
            state.perm = state.draws.permutations(M, N)
            state.perm_pos = 0
        state.batch = state.perm[:, state.perm_pos:state.perm_pos + B]
        state.perm_pos += B

    def _update_alpha(self, state):
        xp = namespace(state.alpha)
        if self.alpha_schedule == "geometric":
            new = xp.clip(state.alpha * self.alpha_factor, max=self.alpha_max)
        elif self.alpha_schedule == "ess":
            E = state.energies
            if state.batch is not None:
                E = xp.take_along_axis(E, state.batch, axis=1)
            new = ess_alpha(E, self.ess_eta)
        else:
            return
        state.alpha = xp.where(state.running, new, state.alpha)

    # ------------------------------------------------------------------ protocol
    def init(self, problem, x0, rng):
        xp = namespace(x0)
        dev = device_of(x0)
        x0 = xp.asarray(x0, copy=True)
        if is_torch_tensor(x0):
            x0 = x0.detach()
        if x0.ndim != 1 or x0.shape[0] == 0:
            raise ValueError(f"x0 must be a non-empty 1-D array, got shape {tuple(x0.shape)}")
        if str(x0.dtype).removeprefix("torch.") not in ("float32", "float64"):
            raise TypeError(f"x0 must be float32 or float64, got dtype {x0.dtype}")
        d = x0.shape[0]
        M = self.n_runs
        N = self.n_particles or hopping_particles(d)
        if self.batch_size is not None and self.batch_size > N:
            raise ValueError(f"batch_size must be <= n_particles ({N}), got {self.batch_size}")
        lb, ub = self._bounds(problem, x0)
        draws = Draws(rng, x0)
        if self.warm_start is not None:
            return self._resume(problem, x0, N, lb, ub, draws)
        U = draws.uniform((M, N, d))
        X = x0 + self.spread * (2 * U - 1)
        if lb is not None:
            box = np.isfinite(lb) & np.isfinite(ub)
            lo = xp.asarray(np.where(box, lb, 0.0), dtype=x0.dtype, device=dev)
            width = xp.asarray(np.where(box, ub - lb, 0.0), dtype=x0.dtype, device=dev)
            X = xp.where(xp.asarray(box, device=dev), lo + width * U, X)
        if self.variant == "hopping":
            sigma = self.sigma
            if sigma is None:
                half = self.spread if lb is None else (ub - lb) / 2
                sigma = float(np.mean(np.where(np.isfinite(half), half, self.spread)))
        else:
            sigma = default_sigma(self.noise, self.lam, d) if self.sigma is None else self.sigma
        evaluate, pool = population_evaluator(problem.objective, self.vectorized, self.workers,
                                              self.chunksize)
        f64 = {"dtype": xp.float64, "device": dev}
        state = SwarmState(
            X=X, energies=xp.full((M, N), math.nan, **f64),
            alpha=xp.full((M,), self.alpha, **f64), best_x=xp.asarray(X[:, 0, :], copy=True),
            best_f=xp.full((M,), math.inf, **f64), v=xp.full((M, d), math.nan, dtype=X.dtype,
                                                              device=dev),
            spread=xp.full((M,), math.inf, **f64), movement=xp.full((M,), math.inf, **f64),
            n_conv=xp.zeros((M,), dtype=xp.int64,
                                                                   device=dev),
            stall=xp.zeros((M,), dtype=xp.int64, device=dev), ref_f=xp.full((M,), math.inf, **f64),
            diverged=xp.zeros((M,), dtype=xp.bool, device=dev),
            n_nonfinite=xp.zeros((), dtype=xp.int64, device=dev),
            n_projected=xp.zeros((), dtype=xp.int64, device=dev),
            running=xp.ones((M,), dtype=xp.bool, device=dev), rows=slice(None),
            run_status=np.full(M, _RUNNING), n_particles=N, sigma=sigma, draws=draws,
            evaluate=evaluate, pool=pool)
        if lb is not None:
            state.lb = xp.asarray(lb, dtype=x0.dtype, device=dev)
            state.ub = xp.asarray(ub, dtype=x0.dtype, device=dev)
            state.X = self._project(state, X, xp.ones((M, N), dtype=xp.bool, device=dev))
            state.n_projected = xp.zeros((), dtype=xp.int64, device=dev)
        try:
            self._evaluate(state)
        except BaseException:  # core.run closes only the states init returned
            self.close(problem, state)
            raise
        state.ref_f = xp.asarray(state.best_f, copy=True)
        if self.batch_size is not None:
            self._next_batch(state)
        if self.alpha_schedule == "ess":
            self._update_alpha(state)
        return state

    def _resume(self, problem, x0, N, lb, ub, draws):
        """The state of a warm start: the ``warm_start`` swarm on ``x0``'s library and device."""
        xp, dev = namespace(x0), device_of(x0)
        swarm = self.warm_start
        shape = tuple(np.shape(swarm["X"]))
        if shape != (self.n_runs, N, x0.shape[0]):
            raise ValueError(f"warm_start holds swarms of shape {shape}; this run has (n_runs, "
                             f"n_particles, d) = {(self.n_runs, N, x0.shape[0])}")
        if (swarm["batch"] is None) != (self.batch_size is None):
            raise ValueError("warm_start comes from a run with another batch_size setting")
        arrays = {name: None if swarm[name] is None else xp.asarray(swarm[name], device=dev)
                  for name in SWARM_ARRAYS}
        arrays["X"] = xp.astype(arrays["X"], x0.dtype)
        arrays["best_x"] = xp.astype(arrays["best_x"], x0.dtype)
        arrays["v"] = xp.astype(arrays["v"], x0.dtype)
        run_status = np.array(swarm["run_status"], copy=True)
        running = run_status == _RUNNING
        evaluate, pool = population_evaluator(problem.objective, self.vectorized, self.workers,
                                              self.chunksize)
        state = SwarmState(
            **arrays, running=xp.asarray(running, device=dev),
            rows=slice(None) if running.all() else xp.asarray(np.flatnonzero(running),
                                                              device=dev),
            run_status=run_status, n_particles=N, sigma=float(swarm["sigma"]), draws=draws,
            evaluate=evaluate, pool=pool, perm_pos=int(swarm["perm_pos"]))
        if lb is not None:
            state.lb = xp.asarray(lb, dtype=x0.dtype, device=dev)
            state.ub = xp.asarray(ub, dtype=x0.dtype, device=dev)
        return state

    def callback_fields(self, problem, state):
        """The callback's ``intermediate_result.swarm``: what ``warm_start`` resumes from."""
        return {"swarm": snapshot(state)}

    def step(self, problem, state):
        xp = namespace(state.X)
        X, batch, run = state.X, state.batch, state.running
        if batch is None:
            Xb, Eb = X, state.energies
        else:
            Xb = xp.take_along_axis(X, batch[:, :, None], axis=1)
            Eb = xp.take_along_axis(state.energies, batch, axis=1)
        v, w = consensus(Xb, Eb, state.alpha)
        v = xp.where(run[:, None], v, state.v)
        move = xp.max(xp.abs(xp.astype(v - state.v, xp.float64)), axis=1)
        Db = Xb - v[:, None, :]
        spread = xp.astype(xp.max(xp.abs(Db), axis=(1, 2)), xp.float64)
        partial_move = batch is not None and self.batch_partial
        D = Db if batch is None or partial_move else X - v[:, None, :]
        xi = state.draws.normal(tuple(D.shape))
        if self.variant == "hopping":
            step = hopping_move(D, xi, state.sigma)
        else:
            step = em_move(D, Db, w, xi, noise=self.noise, sigma=state.sigma, lam=self.lam,
                           dt=self.dt)
        state.sigma *= self.sigma_decay
        M, N = state.energies.shape
        if partial_move:
            moved = xp.zeros((M, N), dtype=xp.bool, device=device_of(X))
            rid = xp.arange(M, device=device_of(X))[:, None]
            moved[rid, batch] = run[:, None]
            X_new = xp.asarray(X, copy=True)
            X_new[rid, batch] = xp.where(run[:, None, None], Xb + step, Xb)
        else:
            moved = xp.broadcast_to(run[:, None], (M, N))
            X_new = xp.where(run[:, None, None], X + step, X)
        X_new = self._project(state, X_new, moved)
        finite_rows = xp.all(xp.isfinite(xp.reshape(X_new, (M, -1))), axis=1)
        state.diverged = state.diverged | (run & ~finite_rows)
        converged_now = (spread <= self.xtol) & (move <= self.xtol)
        state.n_conv = xp.where(converged_now, state.n_conv + 1, 0)
        state.X, state.v, state.spread, state.movement = X_new, v, spread, move
        if partial_move:  # the moved batch now, then the next batch is fresh already
            self._evaluate(state, batch)
            self._next_batch(state)
        elif batch is not None:  # everyone moved; the next consensus needs the next batch
            self._next_batch(state)
            self._evaluate(state, state.batch)
        else:
            self._evaluate(state)
        improved = state.best_f < state.ref_f - self.ftol
        state.ref_f = xp.where(improved, state.best_f, state.ref_f)
        state.stall = xp.where(improved, 0, state.stall + 1)
        self._update_alpha(state)
        return state

    def terminate(self, problem, state):
        xp = namespace(state.best_f)
        host = to_numpy(xp.stack([xp.astype(a, xp.float64) for a in (
            state.best_f, state.n_conv, state.stall, state.diverged)]))
        best_f, n_conv, stall, diverged = host[0], host[1], host[2], host[3] > 0
        running = state.run_status == _RUNNING
        rules = [(~np.isfinite(best_f), STATUS["nonfinite"]), (diverged, STATUS["diverged"]),
                 (n_conv >= WINDOW, STATUS["success"]), (stall >= self.patience, STATUS["success"])]
        if self.f_target is not None:
            rules.insert(0, (best_f <= self.f_target, STATUS["success"]))
        changed = False
        for hit, code in rules:
            newly = running & hit
            if newly.any():
                state.run_status[newly] = code
                running &= ~newly
                changed = True
        if changed:
            dev = device_of(state.X)
            state.running = xp.asarray(running, device=dev)
            state.rows = (slice(None) if running.all()
                          else xp.asarray(np.flatnonzero(running), device=dev))
        if running.any():
            return False, 0, ""
        code = int(state.run_status[int(np.argmin(best_f))])
        message = {
            STATUS["success"]: "Optimization terminated successfully: every run converged.",
            STATUS["diverged"]: "The best run's particles became non-finite (diverged).",
            STATUS["nonfinite"]: "The best run has no finite objective value.",
        }[code]
        return True, code, message

    def close(self, problem, state):
        """Shut down the process pool an int ``workers`` started (also when the run raises)."""
        if state.pool is not None:
            state.pool.shutdown()
            state.pool = None

    def result(self, problem, state):
        names = {code: name for name, code in STATUS.items()}
        return {
            "x_runs": to_numpy(state.best_x),
            "fun_runs": to_numpy(state.best_f),
            "x_consensus": to_numpy(state.v),
            "run_status": [names[int(s)] if s != _RUNNING else "running" for s in state.run_status],
            "alpha": to_numpy(state.alpha),
            "n_nonfinite": int(to_numpy(state.n_nonfinite)),
            "n_projected": int(to_numpy(state.n_projected)),
            "swarm": snapshot(state),
        }
