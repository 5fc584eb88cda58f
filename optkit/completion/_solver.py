r"""AltMin as a core solver: ``init / step / terminate / result`` for :func:`optkit.core.run`.

:class:`AltMin` holds the configuration only; everything a run changes (factors, sample
split, per-side blocks, counters, the random generator) lives in :class:`AltMinState`,
so one instance drives any number of runs. :class:`CompletionProblem` is the validated
data. The metrics of an iterate (objective, observed RMSE and relative residual, relative
change of :math:`UV^T`, held-out RMSE) stay on the array's device and are computed when
the run loop reads them.
"""

from __future__ import annotations

from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from optkit.core.backend import to_float, to_numpy

from ._blocks import Arrays, make_blocks
from ._halfstep import entry_width, finalize_stats, merge_stats, passes, solve_block
from ._observed import Observed
from ._options import HalfStepConfig

__all__ = ["AltMin", "AltMinState", "CompletionProblem", "Side", "run_half_step",
           "check_verify"]


@dataclass
class CompletionProblem:
    """The validated data of a run: observed entries, held-out entries, the run's arrays."""

    obs: Observed
    arrays: Arrays
    validation: tuple | None = None
    x0: Any = None  # a warm start [U; V], or None: the solver builds its start


class Side:
    """One orientation of (a part of) Omega: its groups (rows or columns) cut into blocks."""

    def __init__(self, arrays: Arrays, obs: Observed, by: str, reg: float, reg_scaling: str,
                 width: int):
        if by == "row":
            n_groups, group, other, vals = obs.shape[0], obs.rows, obs.cols, obs.vals
        else:
            order = obs.column_order()
            n_groups, group, other, vals = obs.shape[1], obs.cols[order], obs.rows[order], \
                obs.vals[order]
        counts = np.bincount(group, minlength=n_groups)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        lam = reg * (counts if reg_scaling == "count" else np.ones(n_groups))
        self.blocks = make_blocks(arrays, indptr, other, vals, lam, width)
        self.remote = None  # the blocks' futures once scattered to a dask cluster


def run_half_step(arrays: Arrays, cfg: HalfStepConfig, client, side: Side, factor, offset, mu,
                  x0, entropy: int):
    """New factor for every group of ``side`` and the raw solver stats, in this process or on
    a dask ``client`` (see :func:`_on_cluster`)."""
    factor_t = factor.T
    slices = [None if x0 is None else x0[b.g0:b.g1] for b in side.blocks]
    if client is None:
        out = [solve_block(arrays, b, factor_t, offset, mu, x, cfg, entropy)
               for b, x in zip(side.blocks, slices)]
    else:
        out = _on_cluster(client, arrays, cfg, side, (factor_t, offset), mu, slices, entropy)
    return arrays.xp.concat([x for x, _ in out], axis=0), merge_stats([st for _, st in out])


#: Attempts of one half-step on a dask cluster that loses workers (each attempt after the
#: first scatters the blocks again).
CLUSTER_ATTEMPTS = 3


def _on_cluster(client, arrays, cfg, side: Side, shared, mu, slices, entropy):
    """The blocks of one half-step solved on a dask cluster, surviving lost workers.

    The blocks are scattered once per run and the fixed factor once per half-step, each to
    one worker (dask copies it to the others on demand). Scattered data is not recomputable:
    a worker that dies takes its share with it, and dask cancels the tasks that needed it
    (``FuturesCancelledError``) or the scatter fails (``CommClosedError``). The half-step is
    then run again from the client's copy of the blocks, at most ``CLUSTER_ATTEMPTS`` times;
    a block is a pure function of its inputs (its sketch seed included), so a repeated
    half-step gives the same factor. After that a ``RuntimeError`` names the cause. Tasks
    that die with their worker are retried by dask itself (``distributed.scheduler.
    allowed-failures``; past it, ``KilledWorker``, re-raised as the ``RuntimeError``).

    No ``broadcast=True`` scatter and no ``client.replicate``: the scheduler's replication
    loop keeps retrying a worker that died during it and never returns, which hung
    ``altmin(parallel=client)`` when a worker was killed mid-run.
    """
    from distributed import KilledWorker
    from distributed.comm import CommClosedError

    lost = (CancelledError, CommClosedError, KilledWorker, OSError)
    for attempt in range(1, CLUSTER_ATTEMPTS + 1):
        try:
            if side.remote is None:
                side.remote = client.scatter(side.blocks, hash=False)
            [remote_shared] = client.scatter([shared], hash=False)
            futures = [client.submit(_remote_block, arrays, b, remote_shared, mu, x, cfg, entropy,
                                     pure=False)
                       for b, x in zip(side.remote, slices)]
            return client.gather(futures)
        except lost as exc:
            side.remote = None  # scatter the blocks again on the next attempt
            if attempt == CLUSTER_ATTEMPTS:
                raise RuntimeError(
                    f"altmin(parallel=client): the dask cluster lost workers during a half-step "
                    f"{CLUSTER_ATTEMPTS} times in a row (last error: {type(exc).__name__}: "
                    f"{exc}); check the cluster's workers") from exc


def _remote_block(arrays, block, shared, mu, x0, cfg, entropy):
    factor_t, offset = shared
    return solve_block(arrays, block, factor_t, offset, mu, x0, cfg, entropy)


def check_verify(stats: dict, cfg: HalfStepConfig) -> None:
    """``verify="raise"``: a sketched half-step that failed its accuracy check raises."""
    if cfg.verify == "raise" and stats.get("verify_violations", 0):
        raise RuntimeError(
            f"sketched half-step failed its accuracy check in {stats['verify_violations']} "
            f"group(s): max residual ratio {stats['verify_q_max']:.12g} (bound 1 + "
            f"{cfg.eps0:g}), max forward-error ratio {stats['verify_forward_max']:.3g} (bound 1)")


class _Evaluator:
    """Observed and held-out metrics over blocks of entries (O(|Omega| k)), on the device."""

    def __init__(self, arrays: Arrays, obs: Observed, val, reg, reg_scaling):
        self.arrays = arrays
        self.reg = reg
        m, n = obs.shape
        counts_r = np.bincount(obs.rows, minlength=m)
        counts_c = np.bincount(obs.cols, minlength=n)
        self.c_r = arrays.asarray(counts_r if reg_scaling == "count" else np.ones(m))
        self.c_c = arrays.asarray(counts_c if reg_scaling == "count" else np.ones(n))
        self.obs = self._blocks(obs.rows, obs.cols, obs.vals)
        self.norm_m = float(np.sqrt(np.sum(np.asarray(obs.vals, dtype=np.float64) ** 2)))
        self.nnz = obs.nnz
        self.val = None if val is None else self._blocks(*val)
        self.n_val = 0 if val is None else val[0].size

    def _blocks(self, rows, cols, vals, size=2**18):
        a = self.arrays
        return [(a.index(rows[i:i + size]), a.index(cols[i:i + size]), a.asarray(vals[i:i + size]))
                for i in range(0, rows.size, size)]

    def _sse(self, blocks, U, V, bu, bv, mu):
        xp = self.arrays.xp
        total = 0.0
        for r, c, v in blocks:
            pred = xp.sum(xp.take(U.T, r, axis=1) * xp.take(V.T, c, axis=1), axis=0) + mu
            if bu is not None:
                pred = pred + xp.take(bu, r) + xp.take(bv, c)
            res = pred - v
            total = total + xp.sum(res * res)
        return total

    def __call__(self, U, V, bu, bv, mu) -> dict:
        xp = self.arrays.xp
        sse = self._sse(self.obs, U, V, bu, bv, mu)
        fun = sse
        if self.reg:
            pu = xp.sum(U * U, axis=1) + (0 if bu is None else bu * bu)
            pv = xp.sum(V * V, axis=1) + (0 if bv is None else bv * bv)
            fun = sse + self.reg * (xp.sum(self.c_r * pu) + xp.sum(self.c_c * pv))
        out = {"fun": fun, "rmse": xp.sqrt(sse / self.nnz),
               "rel_residual": xp.sqrt(sse) / (self.norm_m or 1.0)}
        if self.val is not None:
            out["val_rmse"] = xp.sqrt(self._sse(self.val, U, V, bu, bv, mu) / self.n_val)
        return out


def _augmented(xp, U, V, bu, bv):
    """Factors of the full prediction ``U V^T + bu 1^T + 1 bv^T``, in float64."""
    U64, V64 = xp.astype(U, xp.float64), xp.astype(V, xp.float64)
    if bu is None:
        return U64, V64
    one_m, one_n = xp.ones_like(U64[:, :1]), xp.ones_like(V64[:, :1])
    return (xp.concat([U64, one_m, xp.astype(bu, xp.float64)[:, None]], axis=1),
            xp.concat([V64, xp.astype(bv, xp.float64)[:, None], one_n], axis=1))


def _rel_change(xp, cur, prev):
    r""":math:`\|U_tV_t^T - U_{t-1}V_{t-1}^T\|_F/\|U_tV_t^T\|_F` from R factors only.

    :math:`UV^T - U'V'^T = [U, -U'][V, V']^T`; with :math:`[U, -U'] = Q_1R_1`,
    :math:`[V, V'] = Q_2R_2` its norm is :math:`\|R_1R_2^T\|_F`: O((m+n)k^2), accurate to
    ~eps relative (a difference of Gram traces would cancel down to ~sqrt(eps)).
    """
    (a, b), (c, d) = cur, prev
    r1 = xp.linalg.qr(xp.concat([a, -c], axis=1))[1]
    r2 = xp.linalg.qr(xp.concat([b, d], axis=1))[1]
    ref = xp.linalg.matrix_norm(xp.linalg.qr(a)[1] @ xp.linalg.qr(b)[1].T)
    return xp.linalg.matrix_norm(r1 @ r2.T) / ref


@dataclass
class AltMinState:
    """Everything one run changes. ``x`` stacks the factors (see :class:`CompletionResult`)."""

    arrays: Arrays
    U: Any
    V: Any
    bu: Any
    bv: Any
    mu: float
    rng: np.random.Generator
    parts: list
    labels: np.ndarray | None
    evaluator: _Evaluator
    sides: dict = field(default_factory=dict)
    prev: tuple | None = None
    it: int = 0
    passes: int = 0
    stats: dict = field(default_factory=dict)
    _metrics: dict | None = None

    @property
    def x(self):
        xp = self.arrays.xp
        if self.bu is None:
            return xp.concat([self.U, self.V], axis=0)
        return xp.concat([xp.concat([self.U, self.bu[:, None]], axis=1),
                          xp.concat([self.V, self.bv[:, None]], axis=1)], axis=0)

    @property
    def fun(self):
        return self.metrics()["fun"]

    def metrics(self) -> dict:
        """The iterate's metrics (0-d arrays on the device), computed once."""
        if self._metrics is None:
            m = self.evaluator(self.U, self.V, self.bu, self.bv, self.mu)
            if self.prev is not None:
                xp = self.arrays.xp
                m["rel_change"] = _rel_change(xp, _augmented(xp, self.U, self.V, self.bu, self.bv),
                                              _augmented(xp, *self.prev))
            self._metrics = m
        return self._metrics

    def counts(self) -> dict:
        return {"n_value": self.passes}

    def trace_extra(self) -> dict:
        """The metrics (one host transfer) and the last iteration's solver stats."""
        xp = self.arrays.xp
        metrics = {key: val for key, val in self.metrics().items() if key != "fun"}
        values = to_numpy(xp.stack([xp.astype(v, xp.float64) for v in metrics.values()]))
        out = dict(zip(metrics, values.tolist()))
        out.update(self.stats)
        return out


@dataclass(frozen=True)
class AltMin:
    """AltMinComplete's configuration (see :func:`~optkit.completion.altmin` for the options).

    ``start`` is the ``init`` option; ``split_rounds`` is T with sample splitting (2T + 1
    parts), 0 without; ``parallel`` a dask ``Client`` or ``None``.
    """

    rank: int
    half_step: HalfStepConfig
    tol: float
    center: str
    biases: bool
    start: str
    clip_mu: float | None
    split_rounds: int
    parallel: Any = None

    def init(self, problem: CompletionProblem, x0, rng: np.random.Generator) -> AltMinState:
        obs, arrays, cfg = problem.obs, problem.arrays, self.half_step
        labels = None
        if self.split_rounds:
            n_parts = 2 * self.split_rounds + 1
            labels = np.empty(obs.nnz, dtype=np.int64)
            labels[rng.permutation(obs.nnz)] = np.arange(obs.nnz) % n_parts
            parts = [obs.subset(labels == p) for p in range(n_parts)]
        else:
            parts = [obs]
        mu = float(obs.vals.mean()) if self.center == "global" else 0.0
        m, n = obs.shape
        if x0 is not None:  # a warm start: the stacked factors [U; V] (+ the bias column)
            x0 = arrays.asarray(x0)
            U, V = x0[:m, :self.rank], x0[m:, :self.rank]
            bu, bv = (x0[:m, self.rank], x0[m:, self.rank]) if self.biases else (None, None)
        else:
            U, V = _initial_factors(parts[0], self.rank, mu, self.start, self.clip_mu, rng,
                                    obs.vals.dtype)
            U[np.bincount(obs.rows, minlength=m) == 0] = 0
            V[np.bincount(obs.cols, minlength=n) == 0] = 0
            bu = arrays.zeros(m) if self.biases else None
            bv = arrays.zeros(n) if self.biases else None
        return AltMinState(arrays=arrays, U=arrays.asarray(U), V=arrays.asarray(V), bu=bu, bv=bv,
                           mu=mu, rng=rng, parts=parts, labels=labels,
                           evaluator=_Evaluator(arrays, obs, problem.validation, cfg.reg,
                                                cfg.reg_scaling))

    def _side(self, state: AltMinState, part: int, by: str) -> Side:
        """Part ``part`` of the split (all of Omega without splitting), by rows or columns."""
        key = (part if self.split_rounds else 0, by)
        if key not in state.sides:
            cfg = self.half_step
            state.sides[key] = Side(state.arrays, state.parts[key[0]], by, cfg.reg,
                                    cfg.reg_scaling, entry_width(cfg, self.rank + self.biases,
                                                                  state.arrays))
        return state.sides[key]

    def step(self, problem: CompletionProblem, state: AltMinState) -> AltMinState:
        """One outer iteration: the V half-step, the U half-step, the QR rebalancing."""
        cfg, k, xp = self.half_step, self.rank, state.arrays.xp
        it = state.it + 1
        entropy = state.rng.integers(2**63, size=2) if cfg.solver == "sketch" else (0, 0)
        U, V, bu, bv, mu = state.U, state.V, state.bu, state.bv, state.mu
        cg = cfg.solver == "cg"

        def solve(part, by, factor, bias_other, unknown, bias_own, key):
            ones = xp.ones_like(factor[:, :1])
            f = xp.concat([factor, ones], axis=1) if self.biases else factor
            x0 = None
            if cg:
                x0 = xp.concat([unknown, bias_own[:, None]], axis=1) if self.biases else unknown
            x, st = run_half_step(state.arrays, cfg, self.parallel, self._side(state, part, by),
                                  f, bias_other, mu, x0, int(key))
            return (x[:, :k], x[:, k]) if self.biases else (x, None), st

        # V half-step: design [U, 1] (biases), unknowns [V, col_bias], targets M - mu - row_bias
        (V_new, bv_new), st_v = solve(it, "column", U, bu, V, bv, entropy[0])
        (U_new, bu_new), st_u = solve(self.split_rounds + it, "row", V_new, bv_new, U, bu,
                                      entropy[1])
        if cfg.reg == 0 and not self.biases:
            U_new, R = xp.linalg.qr(U_new)
            V_new = V_new @ R.T
        stats = finalize_stats(merge_stats([st_v, st_u]))
        check_verify(stats, cfg)
        return AltMinState(
            arrays=state.arrays, U=U_new, V=V_new, bu=bu_new, bv=bv_new, mu=mu, rng=state.rng,
            parts=state.parts, labels=state.labels, evaluator=state.evaluator, sides=state.sides,
            prev=(U, V, bu, bv), it=it,
            passes=state.passes + passes(cfg, st_v) + passes(cfg, st_u), stats=stats)

    def terminate(self, problem, state: AltMinState) -> tuple[bool, int, str]:
        """Converged when the relative change of :math:`UV^T` < ``tol`` or the observed
        relative residual < ``tol``/10 (tested after each iteration)."""
        if state.it == 0:
            return False, 0, ""
        metrics = state.metrics()
        if to_float(metrics["rel_change"]) < self.tol:
            return True, 0, "The relative change of U V^T fell below tol."
        if to_float(metrics["rel_residual"]) < self.tol / 10:
            return True, 0, "The observed relative residual fell below tol/10."
        return False, 0, ""

    def result(self, problem: CompletionProblem, state: AltMinState) -> dict:
        parts = None
        if state.labels is not None:
            parts = np.empty_like(state.labels)
            parts[problem.obs.order] = state.labels
        return {"U": state.U, "V": state.V, "mean": state.mu, "row_bias": state.bu,
                "col_bias": state.bv, "solver": self.half_step.solver, "parts": parts}


def _initial_factors(obs: Observed, k: int, mu: float, init: str, clip_mu, rng, dtype):
    r"""``U0`` = top-k left singular vectors of :math:`P_{\Omega_0}(M)/\hat p` and
    ``V0`` = :math:`V_s\Sigma_s` ([JNS13]_ Algorithm 2 step 2, with clipping when ``clip_mu``
    is set), or N(0, 1/k) entries for ``init="random"``."""
    m, n = obs.shape
    if init == "random":
        U = rng.standard_normal((m, k)) / np.sqrt(k)
        V = rng.standard_normal((n, k)) / np.sqrt(k)
        return U.astype(dtype), V.astype(dtype)
    from scipy.sparse.linalg import svds

    p_hat = obs.nnz / (m * n)
    a = sp.csr_matrix(((obs.vals - mu) / p_hat, (obs.rows, obs.cols)), shape=(m, n),
                      dtype=np.float64)
    v0 = rng.standard_normal(min(m, n))
    # ARPACK works on A^T A: scale A to max |a_ij| = 1 so that it neither under- nor overflows
    # (singular vectors are scale-invariant, singular values scale back).
    scale = float(np.max(np.abs(a.data), initial=0.0))
    if scale == 0.0:  # P(M) = 0: every singular value is 0, any orthonormal U0 and V0 = 0
        return np.linalg.qr(rng.standard_normal((m, k)))[0].astype(dtype), np.zeros((n, k), dtype)
    u, s, vt = svds(a / scale, k=k, v0=v0, solver="arpack")
    order = np.argsort(s)[::-1]
    U, V = u[:, order], vt[order].T * (s[order] * scale)
    if clip_mu is not None:
        U = np.where(np.abs(U) > 2 * clip_mu * np.sqrt(k / m), 0.0, U)
        U = np.linalg.qr(U)[0]
    return U.astype(dtype), V.astype(dtype)
