r"""Low-rank matrix completion by (robust) alternating minimization: the public facades.

The papers are cited in :func:`altmin`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

from optkit.core.backend import is_torch_tensor, namespace
from optkit.core.registry import RNG_OPTION, Option
from optkit.core.rng import check_rng, draw_seed
from optkit.core.solver import run
from optkit.core.validate import check_in, check_int

from ._blocks import Arrays
from ._halfstep import entry_width, finalize_stats
from ._observed import canonicalize, validation_triplets, warn_coverage
from ._options import HALF_STEP_OPTIONS, resolve
from ._result import CompletionResult
from ._solver import AltMin, CompletionProblem, Side, check_verify, run_half_step

__all__ = ["altmin", "half_step", "CompletionResult"]

#: ``half_step``'s options: the half-step table, and ``rng`` for the sketch only.
_HALF_STEP_FACADE_OPTIONS = {
    **HALF_STEP_OPTIONS,
    "rng": Option(RNG_OPTION.default, RNG_OPTION.doc, applies=("solver", ("sketch",))),
}


def _arrays(proto, dtype) -> Arrays:
    """The run's arrays: the values' library and device, dtype ``dtype`` (default: the
    values' when float32/float64, else float64)."""
    xp = namespace(proto)
    if dtype is None:
        name = str(proto.dtype).removeprefix("torch.")
        dtype = name if name in ("float32", "float64") else "float64"
    return Arrays(xp.astype(proto[:0], getattr(xp, dtype)))


def altmin(observed, rank, x0=None, *, solver="exact", maxiter=30, tol=1e-6, reg=0.0, reg_scaling="none",
           center="none", biases=False, init="svd", clip_mu=None, split_samples=False,
           sketch=None, sketch_size=None, eps0=None, cg_steps=None, cg_jacobi=None,
           jitter=1e-10, verify=None, validation=None, parallel=None, rng=None, callback=None,
           dtype=None, maxfev=None, max_time=None):
    r"""Complete a low-rank matrix from observed entries by alternating minimization.

    Minimizes

    .. math:: \sum_{(i,j)\in\Omega} (u_i^Tv_j - M_{ij})^2
              + \lambda\sum_i c_i\|u_i\|^2 + \lambda\sum_j c_j\|v_j\|^2

    over :math:`U\in\mathbb R^{m\times k}`, :math:`V\in\mathbb R^{n\times k}` (AltMinComplete,
    [JNS13]_): :math:`U_0` = top-k left singular vectors of :math:`P_{\Omega_0}(M)/\hat p`
    (optionally clipped and re-orthonormalized), then for :math:`t = 1..T`

    .. math:: V_t = \arg\min_V \|P_{\Omega_t}(U_{t-1}V^T - M)\|_F^2 + \text{reg},\qquad
              U_t = \arg\min_U \|P_{\Omega_{T+t}}(UV_t^T - M)\|_F^2 + \text{reg},

    and, when ``reg == 0`` and no biases, :math:`(U_t, R) = \mathrm{qr}(U_t)`,
    :math:`V_t \leftarrow V_tR^T` (keeps :math:`U_tV_t^T`). Without sample splitting every
    :math:`\Omega_t = \Omega`. Each half-step splits into independent ridge regressions,
    solved by

    - ``"exact"``: batched normal equations (one segment sum of
      :math:`[\mathrm{triu}(u_iu_i^T), M_{ij}u_i]` over the entries, one batched solve);
    - ``"sketch"``: GSYZ's robust half-step [GSYZ24]_: each regression solved to a
      :math:`(1+\epsilon_0)` residual factor by sketch-and-precondition [RT08]_ (sketch
      :math:`S\tilde A_j = QR`, warm start :math:`R^{-1}Q^TS\tilde b_j`, CGLS on
      :math:`\tilde A_jR^{-1}` until :math:`\|(\tilde A_jR^{-1})^Tr\|\le\frac12\sqrt{\epsilon_0}
      \|r\|`);
    - ``"cg"``: ``cg_steps`` conjugate-gradient steps on the normal equations warm-started at
      the current factor, as ``implicit``'s ALS [TPT11]_ (inexact by design).

    Parameters
    ----------
    observed : scipy.sparse matrix or tuple (rows, cols, vals, shape)
        The observed entries (stored entries of a sparse matrix, explicit zeros included).
        Torch tensors as ``vals`` select the torch backend on their device (``exact``, ``cg``).
    rank : int
        Target rank k, ``1 <= k < min(m, n)``.
    x0 : array (m + n, k) or (m + n, k + 1), or a previous result, optional
        Warm start: the stacked factors ``[U; V]`` (with the bias column when ``biases``),
        e.g. the ``x`` of an interrupted run or of a callback's ``intermediate_result``; a
        result is read through its ``x``. Replaces ``init`` (no SVD, nothing drawn from
        ``rng``), so a run resumed from the result of an interrupted one repeats the
        uninterrupted run's iterations: exactly for ``"exact"`` and ``"cg"``, and for
        ``"sketch"`` when both runs get the same ``numpy.random.Generator`` (its state
        carries on). Not with ``split_samples`` (the split is drawn at the start). A
        callback saves a checkpoint to resume from::

            def checkpoint(intermediate_result):
                np.save("altmin_x.npy", intermediate_result.x)

            altmin(observed, k, callback=checkpoint, rng=gen)      # interrupted at nit
            res = altmin(observed, k, x0=np.load("altmin_x.npy"), rng=gen,
                         maxiter=30 - nit)                         # resumed
    solver : {"exact", "sketch", "cg"}
    maxiter : int
        Budget T of outer iterations (each two half-steps); spent, ``success=False``
        (status 1). With ``split_samples`` it also sets the number of parts.
    tol : float
        Stop (``success=True``) when :math:`\|U_tV_t^T - U_{t-1}V_{t-1}^T\|_F/\|U_tV_t^T\|_F
        <` ``tol`` or the observed relative residual :math:`<` ``tol``/10.
    reg : float
        Ridge weight :math:`\lambda \ge 0`.
    reg_scaling : {"none", "count"}
        :math:`c = 1`, or :math:`c_i = |\Omega^i|`, :math:`c_j = |\Omega_j|` (ALS-WR [ZWSP08]_).
    center : {"none", "global"}
        Subtract the mean of the observed values (added back by ``predict``).
    biases : bool
        Fit row and column biases (the factors get a fixed unit column; biases are
        regularized with the same weight). Disables the QR rebalancing.
    init : {"svd", "random"}
        SVD of :math:`P_{\Omega_0}(M)/\hat p` ([JNS13]_), or N(0, 1/k) entries (as Spark/implicit).
    clip_mu : float or None
        Incoherence :math:`\mu`: zero the entries of :math:`U_0` above :math:`2\mu\sqrt{k/m}`
        and re-orthonormalize (JNS13's clipping). ``None``: no clipping.
    split_samples : bool
        Theory mode: partition :math:`\Omega` at random into 2T+1 parts; part 0 for the SVD,
        part t for the t-th V half-step, part T+t for the t-th U half-step.
    sketch : {"countsketch", "gaussian", "srht"}, optional
        ``sketch`` only (default ``"countsketch"``).
    sketch_size : int, optional
        ``sketch`` only: sketch rows s (default 4k); groups with at most s entries are solved
        exactly.
    eps0 : float in (0, 1), optional
        ``sketch`` only: residual factor of the sketched regressions (default 1e-6).
    cg_steps : int, optional
        ``cg`` only: CG steps per half-step (default 3).
    cg_jacobi : bool, optional
        ``cg`` only: Jacobi-precondition the CG steps (default False).
    jitter : float
        With ``reg == 0``, the exact solver adds :math:`\delta\,\mathrm{tr}(G_j)/k` to each
        Gram matrix (so groups with fewer than k entries stay solvable).
    verify : bool or "raise", optional
        ``sketch`` only (default False): check every sketched half-step against the exact one (costs an exact
        half-step; ``verify_*`` trace columns); ``"raise"`` raises ``RuntimeError`` on a
        violation.
    validation : scipy.sparse matrix or tuple (rows, cols, vals[, shape]), optional
        Held-out entries: their RMSE is traced.
    parallel : dask.distributed.Client, optional
        Solve the blocks of each half-step on the cluster (same result as serial). A
        half-step that loses a worker is run again (same result); three losses in a row
        raise ``RuntimeError``.
    rng : None, int or numpy.random.Generator
        Randomness of the SVD start vector (or the random init), the sample split and the
        sketches (through :func:`optkit.core.rng.check_rng`); same ``rng``, same result.
    callback : callable, optional
        Called after each iteration with an :class:`~scipy.optimize.OptimizeResult`
        (``x``, ``fun``, ``nit``, ``nfev``) as ``callback(intermediate_result=...)`` when its
        one parameter is named ``intermediate_result``, else with a copy of ``x`` (scipy's
        two conventions); ``StopIteration`` ends the run (status 99). ``x[:m]`` is U,
        ``x[m:]`` is V (see Returns).
    dtype : float32 or float64, optional
        Compute dtype (default: the values' dtype when floating, else float64).
    maxfev : int, optional
        Budget of passes over the observed entries (``nfev``); spent, status 6.
    max_time : float, optional
        Wall-time budget in seconds; spent, status 9.
    Options that apply to one solver only (``sketch``, ``sketch_size``, ``eps0``, ``verify``;
    ``cg_steps``, ``cg_jacobi``) raise ``ValueError`` with another solver; ``None`` means
    "not given" for every option.

    Returns
    -------
    CompletionResult
        ``x`` (the stacked factors ``[U; V]`` of shape (m + n, k), plus a bias column with
        ``biases=True``), ``fun`` (the objective above), ``U``, ``V``, ``mean``,
        ``row_bias``, ``col_bias``, ``nit``, ``nfev`` (passes over the observed entries),
        ``success``, ``status``, ``message``, ``execution_time``, ``trace`` (per iteration
        from 0: ``fun``, ``time``, ``n_value`` (= passes), ``rmse``, ``rel_residual``,
        ``rel_change``, ``val_rmse`` and solver stats) and ``predict``.

    References
    ----------
    .. [JNS13] P. Jain, P. Netrapalli, S. Sanghavi, "Low-rank matrix completion using
       alternating minimization", STOC 2013 (arXiv:1212.0467), Algorithm 2 (AltMinComplete).
    .. [GSYZ24] Y. Gu, Z. Song, J. Yin, L. Zhang, "Low Rank Matrix Completion via Robust
       Alternating Minimization in Nearly Linear Time", ICLR 2024 (arXiv:2302.11068).
    .. [ZWSP08] Y. Zhou, D. Wilkinson, R. Schreiber, R. Pan, "Large-scale parallel
       collaborative filtering for the Netflix prize", AAIM 2008 (ALS-WR).
    .. [TPT11] G. Takács, I. Pilászy, D. Tikk, "Applications of the conjugate gradient
       method for implicit feedback collaborative filtering", RecSys 2011.
    .. [RT08] V. Rokhlin, M. Tygert, "A fast randomized algorithm for overdetermined linear
       least-squares regression", PNAS 2008 (sketch-and-precondition).
    """
    given = dict(solver=solver, maxiter=maxiter, tol=tol, reg=reg, reg_scaling=reg_scaling,
                 center=center, biases=biases, init=init, clip_mu=clip_mu,
                 split_samples=split_samples, sketch=sketch, sketch_size=sketch_size, eps0=eps0,
                 cg_steps=cg_steps, cg_jacobi=cg_jacobi, jitter=jitter, verify=verify,
                 validation=validation, parallel=parallel, rng=rng, callback=callback,
                 dtype=dtype, maxfev=maxfev, max_time=max_time)
    rank = check_int(rank, "rank", minimum=1)
    opts = resolve(given, rank)
    rng = check_rng(opts["rng"])
    problem = _problem(observed, rank, opts)
    problem.x0 = _warm_start(x0, problem, rank + bool(opts["biases"]), opts["split_samples"])
    solver_ = AltMin(rank=rank, half_step=opts["half_step"], tol=opts["tol"],
                     center=opts["center"], biases=opts["biases"], start=opts["init"],
                     clip_mu=opts["clip_mu"],
                     split_rounds=opts["maxiter"] if opts["split_samples"] else 0,
                     parallel=opts["parallel"])
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up ends the run (status 3/4)
        return run(solver_, problem, maxiter=opts["maxiter"], rng=rng, callback=opts["callback"],
                   method="altmin", maxfev=opts["maxfev"], max_time=opts["max_time"],
                   result_type=CompletionResult)


def _warm_start(x0, problem: CompletionProblem, width: int, split_samples: bool):
    """The validated warm start: ``x0`` (or a result's ``x``) as an (m + n, width) array."""
    if x0 is None:
        return None
    if split_samples:
        raise ValueError("x0 does not apply with split_samples=True (the sample split is "
                         "drawn at the start of a run)")
    if isinstance(x0, OptimizeResult):
        x0 = x0.x
    m, n = problem.obs.shape
    if getattr(x0, "ndim", None) != 2 or tuple(x0.shape) != (m + n, width):
        raise ValueError(f"x0 must be the stacked factors [U; V] of shape ({m + n}, {width}), "
                         f"got shape {getattr(x0, 'shape', type(x0).__name__)}")
    x0 = problem.arrays.asarray(x0)
    if not bool(problem.arrays.xp.all(problem.arrays.xp.isfinite(x0))):
        raise ValueError("x0 must be finite")
    return x0


def _problem(observed, rank: int, opts: dict) -> CompletionProblem:
    """The validated data of a run: canonical entries in the compute dtype, held-out entries,
    the run's arrays; the data-dependent checks and warnings of the input table."""
    obs, proto = canonicalize(observed)
    m, n = obs.shape
    if rank >= min(m, n):
        raise ValueError(f"rank must be < min(m, n) = {min(m, n)} (rank = min(m, n) leaves "
                         f"nothing to complete), got {rank}")
    if is_torch_tensor(proto) and opts["solver"] == "sketch":
        raise ValueError("solver='sketch' runs on numpy only, and vals is a torch tensor; "
                         "pass numpy values or use solver='exact' or 'cg' for torch tensors")
    arrays = _arrays(proto, opts["dtype"])
    obs.vals = obs.vals.astype(str(arrays.dtype).removeprefix("torch."), copy=False)
    n_parts = 2 * opts["maxiter"] + 1
    if opts["split_samples"] and obs.nnz < n_parts:
        raise ValueError(f"split_samples needs at least 2*maxiter+1 = {n_parts} observed "
                         f"entries, got {obs.nnz}")
    warn_coverage(obs, rank, opts["reg"], stacklevel=4)
    return CompletionProblem(obs=obs, arrays=arrays,
                             validation=validation_triplets(opts["validation"], obs.shape,
                                                            obs.vals.dtype))


def half_step(observed, factor, *, by="column", x0=None, solver="exact", reg=0.0,
              reg_scaling="none", sketch=None, sketch_size=None, eps0=None, cg_steps=None,
              cg_jacobi=None, jitter=1e-10, verify=None, rng=None):
    r"""One half-step of alternating minimization.

    ``by="column"`` returns :math:`V` with :math:`v_j = \arg\min_x \sum_{i\in\Omega_j}
    (u_i^Tx - M_{ij})^2 + \lambda_j\|x\|^2` for the fixed ``factor`` :math:`U` (m x k);
    ``by="row"`` returns :math:`U` for a fixed :math:`V` (n x k). ``x0``: the CG warm start
    (zero when omitted). Options as in :func:`altmin` (``rng``: ``sketch`` only). Returns
    ``(X, stats)``.
    """
    if getattr(factor, "ndim", None) != 2:
        raise ValueError("factor must be a 2-D array (rows x rank)")
    check_in(by, "by", ("column", "row"))
    rank = factor.shape[1]
    opts = resolve(dict(solver=solver, reg=reg, reg_scaling=reg_scaling, sketch=sketch,
                        sketch_size=sketch_size, eps0=eps0, cg_steps=cg_steps,
                        cg_jacobi=cg_jacobi, jitter=jitter, verify=verify, rng=rng), rank,
                   known=_HALF_STEP_FACADE_OPTIONS, owner="half_step")
    cfg = opts["half_step"]
    obs, proto = canonicalize(observed)
    arrays = _arrays(proto, None)
    expected = obs.shape[0] if by == "column" else obs.shape[1]
    if factor.shape[0] != expected:
        raise ValueError(f"factor must have {expected} rows for by={by!r}, got {factor.shape[0]}")
    side = Side(arrays, obs, by, cfg.reg, cfg.reg_scaling, entry_width(cfg, rank, arrays))
    n_groups = obs.shape[1] if by == "column" else obs.shape[0]
    if cfg.solver == "cg" and x0 is None:
        x0 = np.zeros((n_groups, rank))
    x, stats = run_half_step(arrays, cfg, None, side, arrays.asarray(factor), None, 0.0,
                             None if x0 is None else arrays.asarray(x0),
                             draw_seed(check_rng(opts["rng"])) if cfg.solver == "sketch" else 0)
    stats = finalize_stats(stats)
    check_verify(stats, cfg)
    return x, stats
