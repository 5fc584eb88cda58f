r"""The three half-step solvers, batched over all groups of a block.

A half-step with fixed factor :math:`F` solves, for every group :math:`j` (a column for
the V half-step, a row for the U half-step),

.. math:: x_j = \arg\min_x \|A_j x - b_j\|^2 + \lambda_j \|x\|^2,
          \qquad A_j = F[\Omega_j, :],\ b_j = M[\Omega_j, j].

No Python loop runs over groups. On numpy arrays the exact and CG half-steps run the
compiled kernels of :mod:`._kernels` (numba, threaded over groups; the sketched
half-step uses them for its exact fallback and its ``verify`` check); on torch tensors
each kernel below works on all groups of a block at once through the array API
(segment sums, batched ``k x k`` solves). Blocks are cut so that the per-entry work
arrays stay under a memory cap. The kernels are plain functions of picklable arguments,
so the same code runs in-process and on dask workers.
"""

from __future__ import annotations

import numpy as np

from optkit.core.cg import pcg

from ._blocks import Arrays, Block, segment_sum, sub_block
from ._options import HalfStepConfig

__all__ = ["entry_width", "solve_block", "merge_stats", "finalize_stats", "passes"]

#: Most CGLS iterations of a sketched regression.
T_MAX = 50


def compiled(arrays: Arrays, cfg: HalfStepConfig) -> bool:
    """Whether the half-steps run the compiled kernels (numpy arrays, exact or CG solver)."""
    return isinstance(arrays.proto, np.ndarray) and cfg.solver in ("exact", "cg")


def entry_width(cfg: HalfStepConfig, k: int, arrays: Arrays) -> int:
    """Numbers per entry of the solver's largest work array (sets the block size)."""
    if compiled(arrays, cfg):  # the targets; the kernels' scratch is per thread
        return 1
    if cfg.solver == "exact" or cfg.checks:
        return k * (k + 1) // 2 + k
    if cfg.solver == "sketch" and cfg.sketch == "gaussian":
        return cfg.sketch_size * (k + 1)
    if cfg.solver == "sketch" and cfg.sketch == "srht":
        return 2 * (k + 1)
    return k + 1


def passes(cfg: HalfStepConfig, stats: dict) -> int:
    """Sweeps over the observed entries one half-step made (the oracle-call axis)."""
    if cfg.solver == "exact":
        return 1
    if cfg.solver == "cg":
        return 2 + cfg.cg_steps
    return 2 + stats.get("sketch_iters_max", 0)


def _coldot(xp, a, b):
    """Column-wise dot products of two (k, e) arrays."""
    return xp.sum(a * b, axis=0)


def _bmv(xp, a, x):
    """Batched matrix-vector product ``a[g] @ x[g]``."""
    return xp.matmul(a, x[..., None])[..., 0]


def _targets(block: Block, offset, mu):
    """b for every entry: the value minus the global mean and the other side's bias."""
    y = block.vals
    if offset is not None:
        y = y - offset[block.other]
    if mu:
        y = y - mu
    return y


def exact(arrays: Arrays, block: Block, ft, y, jitter, gram=False):
    r"""Batched normal equations: :math:`(A_j^T A_j + s_j I) x_j = A_j^T b_j`.

    ``ft`` is the gathered factor, entry-last ``(k, e)``. ``W`` holds per entry the upper
    triangle of :math:`f f^T` and :math:`b_e f`; one segment sum gives every Gram matrix
    and right-hand side, one batched solve the :math:`x_j`. The shift is
    :math:`s_j = \lambda_j`, or :math:`\delta\,\mathrm{tr}(G_j)/k` when :math:`\lambda_j = 0`
    (``jitter`` :math:`\delta`, scalar or per group); an empty group without shift gets
    :math:`G_j = I` (so :math:`x_j = 0`). numpy arrays go to the compiled kernels.
    """
    xp = arrays.xp
    k, e = ft.shape
    if isinstance(ft, np.ndarray):
        from . import _kernels  # numba is imported on first use

        entries = np.arange(e)
        if not gram:
            return _kernels.exact(block.indptr, entries, y, ft.T, block.lam, jitter)
        g, rhs = _kernels.normal_equations(block.indptr, entries, y, ft.T, block.lam, jitter)
        return _kernels.cholesky_solve(g, rhs), g
    iu0, iu1 = (arrays.index(i) for i in np.triu_indices(k))
    t = iu0.shape[0]
    w = xp.empty((t + k, e), dtype=ft.dtype, device=arrays.device)  # every row written below
    start = 0
    for i in range(k):  # row i of the upper triangle (a loop over the rank, not the groups)
        w[start:start + k - i] = ft[i] * ft[i:]
        start += k - i
    w[t:] = ft * y
    s = segment_sum(block, w)
    g = xp.empty((block.n_groups, k, k), dtype=ft.dtype, device=arrays.device)
    g[:, iu0, iu1] = s[:t].T  # both triangles are written
    g[:, iu1, iu0] = s[:t].T
    trace = xp.sum(xp.linalg.diagonal(g), axis=1)
    shift = block.lam + xp.astype(block.lam == 0, ft.dtype) * (trace * (jitter / k))
    shift = shift + xp.astype((shift == 0) & (trace == 0), ft.dtype)
    g = g + shift[:, None, None] * xp.eye(k, dtype=ft.dtype, device=arrays.device)
    x = xp.linalg.solve(g, s[t:].T[..., None])[..., 0]
    return (x, g) if gram else x


def _residual_norms(arrays: Arrays, block, ft, y, x):
    r"""Per group :math:`\|\tilde A_j x_j - \tilde b_j\|` (regularization rows included)."""
    xp = arrays.xp
    r = y - _coldot(xp, ft, xp.take(x.T, block.seg, axis=1))
    return xp.sqrt(segment_sum(block, r * r) + block.lam * xp.sum(x * x, axis=1))


def _reduce(x, counts):
    """Segment sums along the last axis of ``x`` for consecutive groups of ``counts`` entries."""
    out = np.zeros((*x.shape[:-1], counts.size), dtype=x.dtype)
    nz = counts > 0
    if nz.any():
        starts = np.concatenate([[0], np.cumsum(counts[nz])[:-1]])
        out[..., nz] = np.add.reduceat(x, starts, axis=-1)
    return out


def _sketch_embed(block, ft, y, cfg, rng):
    """``S_j [A_j, b_j]`` for every group, as a ``(g, s, k + 1)`` array.

    Groups with at most ``s`` entries get the identity (their rows copied, zero padded):
    their regression is then solved exactly by the QR below.
    """
    s = cfg.sketch_size
    g, e = block.n_groups, block.n_entries
    ab = np.concatenate([ft, y[None]], axis=0)
    big = block.counts > s
    big_e = big[block.seg]
    slot = np.arange(e) - block.indptr[block.seg]
    sign = np.ones(e, dtype=ab.dtype)
    if cfg.sketch == "countsketch":
        n_big = int(big_e.sum())
        slot[big_e] = rng.integers(0, s, n_big)
        sign[big_e] = rng.choice(np.array([-1.0, 1.0], dtype=ab.dtype), n_big)
        scatter_e = np.ones(e, dtype=bool)
    else:
        scatter_e = ~big_e
    flat = block.seg[scatter_e] * s + slot[scatter_e]
    weights = ab[:, scatter_e] * sign[scatter_e]
    out = np.stack([np.bincount(flat, weights=row, minlength=g * s) for row in weights])
    out = out.reshape(-1, g, s).transpose(1, 2, 0).astype(ab.dtype)
    if cfg.sketch == "gaussian" and big_e.any():
        gauss = rng.standard_normal((s, int(big_e.sum()))).astype(ab.dtype) / np.sqrt(s)
        outer = (gauss[:, None, :] * ab[None, :, big_e]).reshape(s * ab.shape[0], -1)
        out += _reduce(outer, np.where(big, block.counts, 0)).reshape(s, -1, g).transpose(2, 0, 1)
    elif cfg.sketch == "srht" and big_e.any():
        out += _srht(block, ab, big, slot, s, rng)
    return out


def _srht(block, ab, big, slot, s, rng):
    """Subsampled randomized trigonometric transform of the groups with more than s rows.

    Each group's rows get random signs, are zero-padded to the next power of two L,
    transformed by the orthonormal DCT-II along the rows, and s of the L rows are kept
    (uniformly, without replacement) and scaled by sqrt(L/s). Groups are batched by L.
    """
    from scipy.fft import dct

    g, w = block.n_groups, ab.shape[0]
    out = np.zeros((g, s, w), dtype=ab.dtype)
    lengths = np.where(big, 2 ** np.ceil(np.log2(np.maximum(block.counts, 1))).astype(int), 0)
    for length in np.unique(lengths[big]):  # a loop over the distinct padded lengths
        groups = np.flatnonzero(lengths == length)
        local = np.full(g, -1)
        local[groups] = np.arange(groups.size)
        ent = local[block.seg] >= 0
        z = np.zeros((groups.size, length, w), dtype=ab.dtype)
        signs = rng.choice(np.array([-1.0, 1.0], dtype=ab.dtype), int(ent.sum()))
        z[local[block.seg[ent]], slot[ent]] = (ab[:, ent] * signs).T
        z = dct(z, type=2, norm="ortho", axis=1)
        keep = np.argsort(rng.random((groups.size, length)), axis=1)[:, :s]
        out[groups] = np.take_along_axis(z, keep[:, :, None], axis=1) * np.sqrt(length / s)
    return out


def sketch(arrays: Arrays, block: Block, ft, y, cfg: HalfStepConfig, rng):
    r"""Sketch-and-precondition least squares for every group (GSYZ's robust half-step).

    Per group: :math:`QR = S\tilde A_j` (sketch, plus :math:`\sqrt{\lambda_j} I` rows),
    start :math:`y_0 = Q^T S \tilde b_j`, then CGLS on :math:`\min_y \|\tilde A_j R^{-1} y
    - \tilde b_j\|` until :math:`\|(\tilde A_j R^{-1})^T r\| \le \tfrac12\sqrt{\epsilon_0}
    \|r\|` (or below the rounding floor), at most ``T_MAX`` iterations; :math:`x_j =
    R^{-1} y`. Groups whose sketch is rank deficient are solved exactly (counted). numpy only.
    """
    g, k = block.n_groups, ft.shape[0]
    sab = _sketch_embed(block, ft, y, cfg, rng)
    sa, sb = sab[:, :, :k], sab[:, :, k]
    sqlam = np.sqrt(block.lam)
    if (block.lam > 0).any():
        sa = np.concatenate([sa, sqlam[:, None, None] * np.eye(k, dtype=sa.dtype)], axis=1)
        sb = np.concatenate([sb, np.zeros((g, k), dtype=sb.dtype)], axis=1)
    q, r = np.linalg.qr(sa)
    d = np.abs(r.diagonal(0, 1, 2))
    bad = d.min(1) <= arrays.eps ** (2 / 3) * np.maximum(d.max(1), np.finfo(d.dtype).tiny)
    r[bad] = np.eye(k)
    rinv = np.linalg.inv(r)
    yv = np.einsum("gsk,gs->gk", q, sb)
    yv[bad] = 0

    def apply(v):  # (A R^-1) v as (entry part, regularization part)
        z = _bmv(np, rinv, v)
        return _coldot(np, ft, np.take(np.ascontiguousarray(z.T), block.seg, axis=1)), \
            sqlam[:, None] * z

    def apply_t(re, rr):  # (A R^-1)^T r
        t = segment_sum(block, ft * re).T + sqlam[:, None] * rr
        return np.einsum("gji,gj->gi", rinv, t)

    ae, ar = apply(yv)
    re, rr = y - ae, -ar
    sv = apply_t(re, rr)
    p = sv.copy()
    gamma = (sv * sv).sum(1)
    floor = 64 * arrays.eps * np.sqrt(segment_sum(block, y * y))
    iters = np.zeros(g, dtype=np.int64)
    for _ in range(T_MAX):
        rnorm = np.sqrt(segment_sum(block, re * re) + (rr * rr).sum(1))
        snorm = np.sqrt(gamma)
        active = (snorm > 0.5 * np.sqrt(cfg.eps0) * rnorm) & (snorm > floor) & ~bad
        if not active.any():
            break
        qe, qr_ = apply(p)
        qq = segment_sum(block, qe * qe) + (qr_ * qr_).sum(1)
        alpha = np.where(active, _safe_div(gamma, qq), 0)
        yv += alpha[:, None] * p
        re -= alpha[block.seg] * qe
        rr -= alpha[:, None] * qr_
        sv = apply_t(re, rr)
        gamma_new = (sv * sv).sum(1)
        beta = np.where(active, _safe_div(gamma_new, gamma), 0)
        p = sv + beta[:, None] * p
        gamma = np.where(active, gamma_new, gamma)
        iters += active
    x = _bmv(np, rinv, yv)
    if bad.any():
        x[bad] = _exact_subset(arrays, block, ft, y, bad, cfg.jitter)
    small = block.counts <= cfg.sketch_size
    stats = {"sketch_iters_max": int(iters.max(initial=0)), "sketch_iters_sum": int(iters.sum()),
             "sketch_groups": int((~small & ~bad).sum()), "exact_groups": int((small & ~bad).sum()),
             "fallback_groups": int(bad.sum())}
    if cfg.checks:
        stats.update(_verify(arrays, block, ft, y, x, cfg.eps0))
    return x, stats


def _safe_div(a, b):
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _exact_subset(arrays: Arrays, block, ft, y, mask, jitter):
    """Exact solutions of the groups in ``mask`` (the fallback of the sketched solver)."""
    ent = mask[block.seg]
    return exact(arrays, sub_block(arrays, block, mask), ft[:, ent], y[ent], jitter)


def _verify(arrays: Arrays, block, ft, y, x, eps0):
    r"""The accuracy check of the sketched half-step against the exact one (same factor).

    For every group whose exact least-squares problem is well posed and whose optimal
    residual is measurable (:math:`\|r^*_j\| > \sqrt{\mathrm{eps}}\,\|b_j\|`):
    :math:`q_j = \|A_jx'_j - b_j\| / \|A_jx^*_j - b_j\|` (must be :math:`\le 1+\epsilon_0`)
    and :math:`\|x'_j - x^*_j\| \sigma_{\min}(\tilde A_j) / (\sqrt{2\epsilon_0+\epsilon_0^2}
    \|r^*_j\|)` (must be :math:`\le 1`), both up to rounding slack.
    """
    k = ft.shape[0]
    ok = (block.counts >= k) | (block.lam > 0)
    xs, g = exact(arrays, block, ft, y, arrays.asarray(np.where(ok, 0.0, 1.0)), gram=True)
    r_opt = _residual_norms(arrays, block, ft, y, xs)
    r_new = _residual_norms(arrays, block, ft, y, x)
    bnorm = np.sqrt(segment_sum(block, y * y))
    check = ok & (r_opt > np.sqrt(arrays.eps) * bnorm)
    if not check.any():
        return {"verify_q_max": 1.0, "verify_forward_max": 0.0, "verify_groups": 0,
                "verify_violations": 0}
    eig = np.maximum(np.linalg.eigvalsh(g[check]), 0)
    r_opt, bnorm = r_opt[check], bnorm[check]
    q = r_new[check] / r_opt
    dx = np.linalg.norm(x[check] - xs[check], axis=1)
    bound = np.sqrt(2 * eps0 + eps0**2) * r_opt / np.sqrt(eig[:, 0])
    # rounding slack: residuals are computed to ~eps*||b||, x* to ~eps*cond(G)*||x*||
    slack_x = 64 * arrays.eps * eig[:, -1] / eig[:, 0] * np.linalg.norm(xs[check], axis=1)
    bad = (q > 1 + eps0 + 64 * arrays.eps * bnorm / r_opt) | (dx > bound + slack_x)
    return {"verify_q_max": float(q.max()), "verify_forward_max": float((dx / bound).max()),
            "verify_groups": int(check.sum()), "verify_violations": int(bad.sum())}


def cg(arrays: Arrays, block: Block, ft, y, x0, cfg: HalfStepConfig):
    r"""``cg_steps`` conjugate-gradient steps on :math:`(A_j^TA_j + \lambda_j I)x = A_j^Tb_j`
    from the current factor (warm start), matrix-free and batched over groups
    (:func:`optkit.core.cg.pcg` with ``rtol = 0``; the array API path, for torch tensors;
    numpy arrays run :func:`._kernels.cg`); optional Jacobi preconditioner
    :math:`\mathrm{diag}(A_j^TA_j) + \lambda_j` (1 where it vanishes: empty groups).
    Stats: the largest final residual norm over the groups and the largest right-hand side.
    """
    xp = arrays.xp
    lam = block.lam[:, None]

    def gram_apply(p):
        pe = _coldot(xp, ft, xp.take(p.T, block.seg, axis=1))
        return segment_sum(block, ft * pe).T + lam * p

    rhs = segment_sum(block, ft * y).T
    precond = None
    if cfg.cg_jacobi:
        diag = segment_sum(block, ft * ft).T + lam
        precond = xp.where(diag > 0, diag, xp.ones_like(diag))
    out = pcg(gram_apply, rhs, x0=x0, precond=precond, rtol=0.0, atol=0.0,
              maxiter=cfg.cg_steps, check_every=cfg.cg_steps)
    rhs_max = float(xp.max(xp.sqrt(xp.sum(rhs * rhs, axis=1)))) if rhs.shape[0] else 0.0
    return out.x, {"cg_res_max": float(out.residual), "cg_rhs_max": rhs_max}


def solve_block(arrays: Arrays, block: Block, factor_t, offset, mu, x0, cfg: HalfStepConfig,
                entropy):
    """One block of a half-step: new factor rows for groups ``[g0, g1)`` and solver stats.

    ``factor_t`` is the fixed factor transposed, ``(k, n_other)``; ``entropy`` with the
    block's key seeds the block's sketch randomness.
    """
    y = _targets(block, offset, mu)
    if compiled(arrays, cfg):  # the factor rows are read in place, through block.other
        from . import _kernels  # numba is imported on first use

        if cfg.solver == "exact":
            return _kernels.exact(block.indptr, block.other, y, factor_t.T, block.lam,
                                  cfg.jitter), {}
        x, res, rhs = _kernels.cg(block.indptr, block.other, y, factor_t.T, block.lam, x0,
                                  cfg.cg_steps, cfg.cg_jacobi)
        return x, {"cg_res_max": float(res.max(initial=0)),
                   "cg_rhs_max": float(rhs.max(initial=0))}
    ft = arrays.xp.take(factor_t, block.other, axis=1)
    if cfg.solver == "exact":
        return exact(arrays, block, ft, y, cfg.jitter), {}
    if cfg.solver == "cg":
        return cg(arrays, block, ft, y, x0, cfg)
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(block.key,)))
    return sketch(arrays, block, ft, y, cfg, rng)


def merge_stats(stats: list[dict]) -> dict:
    """Combine raw per-block (or per-half-step) stats: maxima of ``*_max``, sums otherwise."""
    out: dict = {}
    for st in stats:
        for key, val in st.items():
            out[key] = max(out.get(key, val), val) if key.endswith("_max") else out.get(key, 0) + val
    return out


def finalize_stats(raw: dict) -> dict:
    """Derived stats for the trace: CG relative residual, mean sketch iterations."""
    out = dict(raw)
    if "cg_res_max" in out:
        rhs = out.pop("cg_rhs_max")
        out["cg_rel_residual"] = out.pop("cg_res_max") / rhs if rhs > 0 else 0.0
    if "sketch_iters_sum" in out:
        n = out["sketch_groups"]
        out["sketch_iters_mean"] = out.pop("sketch_iters_sum") / n if n else 0.0
    return out
