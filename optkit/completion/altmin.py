r"""Low-rank matrix completion by (robust) alternating minimization.

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

from __future__ import annotations

import numbers
import time

import numpy as np
import scipy.sparse as sp

from optkit.core.result import STATUS, OptimizeResult, Trace
from optkit.core.validate import (
    check_in,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
    is_torch_tensor,
)

from ._backend import make_backend
from ._halfstep import (
    HalfStepConfig,
    entry_width,
    finalize_stats,
    make_blocks,
    merge_stats,
    solve_block,
)
from ._observed import Observed, as_triplets, canonicalize, warn_coverage
from .datasets import relative_error

__all__ = ["altmin", "half_step", "CompletionResult"]

SOLVERS = ("exact", "sketch", "cg")
SKETCHES = ("countsketch", "gaussian", "srht")


class CompletionResult(OptimizeResult):
    """Result of :func:`altmin` (an :class:`~scipy.optimize.OptimizeResult`).

    Attributes
    ----------
    U, V : array (m, k), (n, k)
        The factors (numpy, or torch tensors when the observed values were tensors);
        ``U @ V.T`` (plus ``mean`` and the biases) is the completed matrix.
    mean : float
        Subtracted global mean (0 unless ``center="global"``).
    row_bias, col_bias : array or None
        Row (user) and column (item) biases when ``biases=True``.
    nit, success, status, message, trace, execution_time
        As scipy / optkit. ``success`` means the stopping test was met, not that the
        matrix was recovered.
    parts : int array or None
        With ``split_samples=True``, the part (0 .. 2T) of each observed entry, in the
        order the entries were given.
    """

    def predict(self, rows, cols, clip=None):
        """Completed entries ``mean + row_bias[i] + col_bias[j] + U[i] . V[j]``.

        ``clip=(lo, hi)`` clips the predictions (e.g. ratings to [1, 5]).
        """
        U, V = self["U"], self["V"]
        torch_out = is_torch_tensor(U)
        if torch_out:
            import torch

            r = torch.as_tensor(np.asarray(rows), dtype=torch.long, device=U.device)
            c = torch.as_tensor(np.asarray(cols), dtype=torch.long, device=U.device)
        else:
            r, c = np.asarray(rows), np.asarray(cols)
        out = (U[r] * V[c]).sum(1) + self["mean"]
        if self.get("row_bias") is not None:
            out = out + self["row_bias"][r] + self["col_bias"][c]
        if clip is not None:
            lo, hi = clip
            out = out.clamp(lo, hi) if torch_out else np.clip(out, lo, hi)
        return out


def _resolve_dtype(dtype, vals: np.ndarray, device):
    """The numpy dtype and the backend's (a torch dtype on torch) from ``dtype`` or the values."""
    if dtype is None:
        name = vals.dtype.name
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype).removeprefix("torch.")
        if name not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if device is None:
        return np.dtype(name), np.dtype(name)
    import torch

    return np.dtype(name), getattr(torch, name)


def _check_rng(rng) -> np.random.Generator:
    if rng is None or isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be None, an int or a numpy.random.Generator, got {type(rng).__name__}")


class _Side:
    """One orientation of (a part of) Omega: its groups (rows or columns) cut into blocks."""

    def __init__(self, backend, obs: Observed, by: str, reg: float, reg_scaling: str, width: int):
        if by == "row":
            n_groups, group, other, vals = obs.shape[0], obs.rows, obs.cols, obs.vals
        else:
            order = obs.column_order()
            n_groups, group, other, vals = obs.shape[1], obs.cols[order], obs.rows[order], \
                obs.vals[order]
        counts = np.bincount(group, minlength=n_groups)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        lam = reg * (counts if reg_scaling == "count" else np.ones(n_groups))
        self.blocks = make_blocks(backend, indptr, other, vals, lam, width)
        self.remote = None  # the blocks' futures once scattered to a dask cluster


class _Runner:
    """Runs the blocks of a half-step in this process or on a dask ``Client``."""

    def __init__(self, backend, cfg: HalfStepConfig, client):
        self.backend, self.cfg, self.client = backend, cfg, client

    def __call__(self, side: _Side, factor, offset, mu, x0, seed):
        """New factor for every group of ``side`` and the raw solver stats."""
        B = self.backend
        factor = B.contiguous(factor.T)
        slices = [None if x0 is None else x0[b.g0:b.g1] for b in side.blocks]
        if self.client is None:
            out = [solve_block(B, b, factor, offset, mu, x, self.cfg, seed)
                   for b, x in zip(side.blocks, slices)]
        else:
            if side.remote is None:
                side.remote = self.client.scatter(side.blocks, hash=False)
            [shared] = self.client.scatter([(factor, offset)], broadcast=True, hash=False)
            futures = [self.client.submit(_remote_block, B, b, shared, mu, x, self.cfg, seed,
                                          pure=False)
                       for b, x in zip(side.remote, slices)]
            out = self.client.gather(futures)
        return B.concat([x for x, _ in out], 0), merge_stats([st for _, st in out])


def _remote_block(backend, block, shared, mu, x0, cfg, seed):
    factor, offset = shared
    return solve_block(backend, block, factor, offset, mu, x0, cfg, seed)


def _make_config(solver, rank, sketch, sketch_size, eps0, cg_steps, cg_jacobi, jitter, verify):
    check_in(solver, "solver", SOLVERS)
    check_in(sketch, "sketch", SKETCHES)
    if sketch_size is None:
        sketch_size = 4 * rank
    sketch_size = check_int(sketch_size, "sketch_size")
    if sketch_size < rank:
        raise ValueError(f"sketch_size must be >= rank={rank}, got {sketch_size}")
    eps0 = check_probability(eps0, "eps0")
    if eps0 == 0:
        raise ValueError("eps0 must lie in (0, 1), got 0.0")
    cg_steps = check_int(cg_steps, "cg_steps", minimum=1)
    jitter = check_nonnegative(jitter, "jitter")
    check_in(verify, "verify", (False, True, "raise"))
    if not isinstance(cg_jacobi, bool):
        raise TypeError(f"cg_jacobi must be a bool, got {type(cg_jacobi).__name__}")
    return HalfStepConfig(solver=solver, jitter=jitter, sketch=sketch, sketch_size=sketch_size,
                          eps0=eps0, cg_steps=cg_steps, cg_jacobi=cg_jacobi,
                          verify=bool(verify) and solver == "sketch")


def _check_verify(stats: dict, verify, eps0: float) -> None:
    if verify == "raise" and stats.get("verify_violations", 0):
        raise RuntimeError(
            f"sketched half-step failed its accuracy check in {stats['verify_violations']} "
            f"group(s): max residual ratio {stats['verify_q_max']:.12g} (bound 1 + {eps0:g}), "
            f"max forward-error ratio {stats['verify_forward_max']:.3g} (bound 1)")


def _passes(cfg: HalfStepConfig, stats: dict) -> int:
    """Sweeps over the observed entries one half-step made (the oracle-call axis)."""
    if cfg.solver == "exact":
        return 1
    if cfg.solver == "cg":
        return 2 + cfg.cg_steps
    return 2 + stats.get("sketch_iters_max", 0)


def half_step(observed, factor, *, by="column", solver="exact", reg=0.0, reg_scaling="none",
              x0=None, sketch="countsketch", sketch_size=None, eps0=1e-6, cg_steps=3,
              cg_jacobi=False, jitter=1e-10, verify=False, rng=None):
    r"""One half-step of alternating minimization.

    ``by="column"`` returns :math:`V` with :math:`v_j = \arg\min_x \sum_{i\in\Omega_j}
    (u_i^Tx - M_{ij})^2 + \lambda_j\|x\|^2` for the fixed ``factor`` :math:`U` (m x k);
    ``by="row"`` returns :math:`U` for a fixed :math:`V` (n x k). Options as in
    :func:`altmin` (``x0``: the CG warm start). Returns ``(X, stats)``.
    """
    if getattr(factor, "ndim", None) != 2:
        raise ValueError("factor must be a 2-D array (rows x rank)")
    rank = factor.shape[1]
    obs, device = canonicalize(observed)
    _, dtype = _resolve_dtype(None, obs.vals, device)
    check_in(by, "by", ("column", "row"))
    cfg = _make_config(solver, rank, sketch, sketch_size, eps0, cg_steps, cg_jacobi, jitter, verify)
    reg = check_nonnegative(reg, "reg")
    check_in(reg_scaling, "reg_scaling", ("none", "count"))
    B = make_backend(dtype, device)
    expected = obs.shape[0] if by == "column" else obs.shape[1]
    if factor.shape[0] != expected:
        raise ValueError(f"factor must have {expected} rows for by={by!r}, got {factor.shape[0]}")
    side = _Side(B, obs, by, reg, reg_scaling, entry_width(cfg, rank))
    seed = int(_check_rng(rng).integers(2**63))
    x, stats = _Runner(B, cfg, None)(side, B.asarray(factor), None, 0.0,
                                     None if x0 is None else B.asarray(x0), seed)
    stats = finalize_stats(stats)
    _check_verify(stats, verify, cfg.eps0)
    return x, stats


def altmin(observed, rank, *, solver="exact", max_iter=30, tol=1e-6, reg=0.0, reg_scaling="none",
           center="none", biases=False, init="svd", clip_mu=None, split_samples=False,
           sketch="countsketch", sketch_size=None, eps0=1e-6, cg_steps=3, cg_jacobi=False,
           jitter=1e-10, verify=False, validation=None, parallel=None, rng=None, callback=None,
           dtype=None):
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
    solver : {"exact", "sketch", "cg"}
    max_iter : int
        Number T of outer iterations (each two half-steps).
    tol : float
        Stop when :math:`\|U_tV_t^T - U_{t-1}V_{t-1}^T\|_F/\|U_tV_t^T\|_F <` ``tol`` or the
        observed relative residual :math:`<` ``tol``/10.
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
    sketch : {"countsketch", "gaussian", "srht"}
    sketch_size : int or None
        Sketch rows s (default 4k); groups with at most s entries are solved exactly.
    eps0 : float in (0, 1)
        Residual factor of the sketched regressions.
    cg_steps : int
        CG steps per half-step (``cg``).
    cg_jacobi : bool
        Jacobi-precondition the CG steps.
    jitter : float
        With ``reg == 0``, the exact solver adds :math:`\delta\,\mathrm{tr}(G_j)/k` to each
        Gram matrix (so groups with fewer than k entries stay solvable).
    verify : bool or "raise"
        ``sketch`` only: check every sketched half-step against the exact one (costs an exact
        half-step; ``verify_*`` trace columns); ``"raise"`` raises ``RuntimeError`` on a
        violation.
    validation : scipy.sparse matrix or tuple (rows, cols, vals[, shape]), optional
        Held-out entries: their RMSE is traced.
    parallel : dask.distributed.Client, optional
        Solve the blocks of each half-step on the cluster (same result as serial).
    rng : None, int or numpy.random.Generator
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration; ``StopIteration`` stops.
    dtype : float32 or float64, optional
        Compute dtype (default: the values' dtype when floating, else float64).

    Returns
    -------
    CompletionResult
        ``U``, ``V``, ``mean``, ``row_bias``, ``col_bias``, ``nit``, ``success``, ``status``,
        ``message``, ``trace`` (per iteration: ``rmse``, ``rel_residual``, ``rel_change``,
        ``val_rmse``, ``fun``, ``time``, ``passes`` and solver stats) and ``predict``.
    """
    t0 = time.perf_counter()
    rank = check_int(rank, "rank", minimum=1)
    obs, device = canonicalize(observed)
    np_dtype, dtype = _resolve_dtype(dtype, obs.vals, device)
    obs.vals = obs.vals.astype(np_dtype, copy=False)
    m, n = obs.shape
    if rank >= min(m, n):
        raise ValueError(f"rank must be < min(m, n) = {min(m, n)} (rank = min(m, n) leaves "
                         f"nothing to complete), got {rank}")
    cfg = _make_config(solver, rank, sketch, sketch_size, eps0, cg_steps, cg_jacobi, jitter, verify)
    if device is not None and solver == "sketch":
        raise ValueError("solver='sketch' runs on numpy only; pass numpy values or use "
                         "solver='exact' or 'cg' for torch tensors")
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    tol = check_nonnegative(tol, "tol")
    reg = check_nonnegative(reg, "reg")
    check_in(reg_scaling, "reg_scaling", ("none", "count"))
    check_in(center, "center", ("none", "global"))
    check_in(init, "init", ("svd", "random"))
    for flag, name in ((biases, "biases"), (split_samples, "split_samples")):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if clip_mu is not None:
        clip_mu = check_positive(clip_mu, "clip_mu")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    rng = _check_rng(rng)
    val = _validation(validation, obs.shape, np_dtype)
    n_parts = 2 * max_iter + 1
    if split_samples and obs.nnz < n_parts:
        raise ValueError(f"split_samples needs at least 2*max_iter+1 = {n_parts} observed "
                         f"entries, got {obs.nnz}")
    warn_coverage(obs, rank, reg)

    B = make_backend(dtype, device)
    k = rank
    labels = None
    if split_samples:
        labels = np.empty(obs.nnz, dtype=np.int64)
        labels[rng.permutation(obs.nnz)] = np.arange(obs.nnz) % n_parts
        parts = [obs.subset(labels == p) for p in range(n_parts)]
    else:
        parts = [obs]
    mu = float(obs.vals.mean()) if center == "global" else 0.0
    width = entry_width(cfg, k + biases)
    cache: dict = {}

    def side(part: int, by: str) -> _Side:  # part t of the split, or all of Omega
        key = (part if split_samples else 0, by)
        if key not in cache:
            cache[key] = _Side(B, parts[key[0]], by, reg, reg_scaling, width)
        return cache[key]

    U, V = _initial_factors(parts[0], k, mu, init, clip_mu, rng, np_dtype)
    counts_r = np.bincount(obs.rows, minlength=m)
    counts_c = np.bincount(obs.cols, minlength=n)
    U[counts_r == 0] = 0
    V[counts_c == 0] = 0
    U, V = B.asarray(U), B.asarray(V)
    bu = B.zeros(m) if biases else None
    bv = B.zeros(n) if biases else None
    ones_m, ones_n = B.zeros((m, 1)) + 1, B.zeros((n, 1)) + 1
    runner = _Runner(B, cfg, parallel)
    ev = _Evaluator(B, obs, val, reg, reg_scaling, counts_r, counts_c)
    trace = Trace()
    prev = _augmented(B, U, V, bu, bv)
    status, message = STATUS["maxiter"], "Maximum number of iterations has been exceeded."
    passes = 0
    nit = 0
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported below
        for it in range(1, max_iter + 1):
            seeds = rng.integers(2**63, size=2) if solver == "sketch" else (0, 0)
            # V half-step: design [U, 1] (biases), unknowns [V, col_bias], targets M - mu - row_bias
            f = B.concat([U, ones_m], 1) if biases else U
            x0 = (B.concat([V, bv[:, None]], 1) if biases else V) if solver == "cg" else None
            x, st_v = runner(side(it, "column"), f, bu, mu, x0, int(seeds[0]))
            V, bv = (x[:, :k], x[:, k]) if biases else (x, None)
            f = B.concat([V, ones_n], 1) if biases else V
            x0 = (B.concat([U, bu[:, None]], 1) if biases else U) if solver == "cg" else None
            x, st_u = runner(side(max_iter + it, "row"), f, bv, mu, x0, int(seeds[1]))
            U, bu = (x[:, :k], x[:, k]) if biases else (x, None)
            if reg == 0 and not biases:
                U, R = B.qr(U)
                V = V @ R.T
            nit = it
            passes += _passes(cfg, st_v) + _passes(cfg, st_u)
            stats = finalize_stats(merge_stats([st_v, st_u]))
            _check_verify(stats, verify, cfg.eps0)
            if not (B.isfinite_all(U) and B.isfinite_all(V)):
                status, message = STATUS["nonfinite"], f"The factors became non-finite at iteration {it}."
                break
            cur = _augmented(B, U, V, bu, bv)
            metrics = ev(U, V, bu, bv, mu)
            metrics["rel_change"] = _rel_change(cur, prev)
            prev = cur
            trace.append(nit=it, time=time.perf_counter() - t0, passes=passes, **metrics, **stats)
            if metrics["rel_change"] < tol or metrics["rel_residual"] < tol / 10:
                status = STATUS["success"]
                message = ("The relative change of U V^T fell below tol."
                           if metrics["rel_change"] < tol else
                           "The observed relative residual fell below tol/10.")
                break
            if callback is not None:
                try:
                    callback(intermediate_result=OptimizeResult(
                        U=U, V=V, mean=mu, row_bias=bu, col_bias=bv, nit=it, passes=passes,
                        **metrics))
                except StopIteration:
                    status, message = STATUS["callback"], "`callback` raised `StopIteration`."
                    break
    out = CompletionResult(
        U=U, V=V, mean=mu, row_bias=bu, col_bias=bv, nit=nit, status=status,
        success=status == STATUS["success"], message=message, trace=trace,
        execution_time=time.perf_counter() - t0, solver=solver,
        parts=None if labels is None else _input_order(labels, obs))
    return out


def _input_order(labels, obs: Observed) -> np.ndarray:
    out = np.empty_like(labels)
    out[obs.order] = labels
    return out


def _initial_factors(obs: Observed, k: int, mu: float, init: str, clip_mu, rng, dtype):
    r"""``U0`` = top-k left singular vectors of :math:`P_{\Omega_0}(M)/\hat p`, ``V0`` = V_s Sigma_s."""
    m, n = obs.shape
    if init == "random":
        U = rng.standard_normal((m, k)) / np.sqrt(k)
        V = rng.standard_normal((n, k)) / np.sqrt(k)
        return U.astype(dtype), V.astype(dtype)
    from scipy.sparse.linalg import svds

    p_hat = obs.nnz / (m * n)
    a = sp.csr_matrix(((obs.vals - mu) / p_hat, (obs.rows, obs.cols)), shape=(m, n), dtype=np.float64)
    u, s, vt = svds(a, k=k, v0=rng.standard_normal(min(m, n)), solver="arpack")
    order = np.argsort(s)[::-1]
    U, V = u[:, order], vt[order].T * s[order]
    if clip_mu is not None:
        U = np.where(np.abs(U) > 2 * clip_mu * np.sqrt(k / m), 0.0, U)
        U = np.linalg.qr(U)[0]
    return U.astype(dtype), V.astype(dtype)


def _augmented(B, U, V, bu, bv):
    """Factors of the full prediction ``U V^T + bu 1^T + 1 bv^T`` (float64 for the Grams)."""
    U64, V64 = _f64(B, U), _f64(B, V)
    if bu is None:
        return U64, V64
    one_m, one_n = np.ones((U64.shape[0], 1)), np.ones((V64.shape[0], 1))
    return (np.hstack([U64, one_m, _f64(B, bu)[:, None]]),
            np.hstack([V64, _f64(B, bv)[:, None], one_n]))


def _f64(B, x):
    return np.asarray(B.to_numpy(x), dtype=np.float64)


def _rel_change(cur, prev) -> float:
    r""":math:`\|U_tV_t^T - U_{t-1}V_{t-1}^T\|_F/\|U_tV_t^T\|_F` (QR of the stacked factors)."""
    return relative_error(prev[0], prev[1], cur[0], cur[1])


def _validation(validation, shape, dtype):
    if validation is None:
        return None
    if sp.issparse(validation):
        coo = validation.tocoo()
        rows, cols, vals = coo.row, coo.col, coo.data
        if tuple(coo.shape) != tuple(shape):
            raise ValueError(f"validation must have shape {shape}, got {coo.shape}")
    elif isinstance(validation, tuple | list) and len(validation) in (3, 4):
        rows, cols, vals = validation[:3]
        if len(validation) == 4 and tuple(validation[3]) != tuple(shape):
            raise ValueError(f"validation must have shape {shape}, got {tuple(validation[3])}")
    else:
        raise TypeError("validation must be a scipy.sparse matrix or a (rows, cols, vals) tuple")
    rows, cols, vals, _, _ = as_triplets((rows, cols, vals, tuple(shape)), "validation")
    if not (rows.size == cols.size == vals.size):
        raise ValueError("validation rows, cols and vals must have the same length")
    if ((rows < 0) | (rows >= shape[0]) | (cols < 0) | (cols >= shape[1])).any():
        raise ValueError(f"validation indices out of range for shape {shape}")
    return rows, cols, np.asarray(vals, dtype=dtype)


class _Evaluator:
    """Observed and held-out metrics, computed over blocks of entries (O(|Omega| k))."""

    def __init__(self, B, obs: Observed, val, reg, reg_scaling, counts_r, counts_c):
        self.B = B
        self.reg = reg
        self.c_r = B.asarray(counts_r if reg_scaling == "count" else np.ones_like(counts_r))
        self.c_c = B.asarray(counts_c if reg_scaling == "count" else np.ones_like(counts_c))
        self.obs = self._blocks(obs.rows, obs.cols, obs.vals)
        self.norm_m = float(np.sqrt(np.sum(np.asarray(obs.vals, dtype=np.float64) ** 2)))
        self.nnz = obs.nnz
        self.val = None if val is None else self._blocks(*val)
        self.n_val = 0 if val is None else val[0].size

    def _blocks(self, rows, cols, vals, size=2**18):
        B = self.B
        return [(B.index(rows[i:i + size]), B.index(cols[i:i + size]), B.asarray(vals[i:i + size]))
                for i in range(0, rows.size, size)]

    def _sse(self, blocks, U, V, bu, bv, mu) -> float:
        B = self.B
        ut, vt = B.contiguous(U.T), B.contiguous(V.T)
        total = 0.0
        for r, c, v in blocks:
            pred = B.coldot(B.take(ut, r), B.take(vt, c)) + mu
            if bu is not None:
                pred = pred + bu[r] + bv[c]
            res = pred - v
            total += float((res * res).sum())
        return total

    def __call__(self, U, V, bu, bv, mu) -> dict:
        sse = self._sse(self.obs, U, V, bu, bv, mu)
        penalty = 0.0
        if self.reg:
            pu = (U * U).sum(1) + (0 if bu is None else bu * bu)
            pv = (V * V).sum(1) + (0 if bv is None else bv * bv)
            penalty = self.reg * float((self.c_r * pu).sum() + (self.c_c * pv).sum())
        out = {"fun": sse + penalty, "rmse": float(np.sqrt(sse / self.nnz)),
               "rel_residual": float(np.sqrt(sse)) / self.norm_m if self.norm_m else float(np.sqrt(sse))}
        if self.val is not None:
            out["val_rmse"] = float(np.sqrt(self._sse(self.val, U, V, bu, bv, mu) / self.n_val))
        return out
