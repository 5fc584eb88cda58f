r"""Sinkhorn–Newton–Sparse (SNS) for entropic OT (spec ``ot.md`` §3).

Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil, Xiao, Ying, *Accelerating Sinkhorn
Algorithm with Sparse Newton Iterations*, ICLR 2024 (arXiv 2401.12253), Algorithm 1, with the
reduced variables, Levenberg shift and Schur complement of RegOT (yixuan/regot-python) and the
safeguards of the spec.

Newton step on the concave dual :math:`D(f, g)` (module :mod:`optkit.ot.sinkhorn`):

.. math::

    \nabla_f D = a - P1,\quad \nabla_g D = b - P^\top 1,\quad
    H = -\nabla^2 D = \tfrac{1}{\varepsilon}
        \begin{pmatrix} \mathrm{diag}(P1) & P \\ P^\top & \mathrm{diag}(P^\top 1)\end{pmatrix}.

With :math:`j_0 = \arg\max_j b_j` fixed (:math:`\Delta g_{j_0} = 0`, no null space),
:math:`h_1 = P1/\varepsilon`, :math:`h_2 = P^\top 1/\varepsilon` from the full plan and
:math:`\Sigma = P_K/\varepsilon` on a kept set :math:`K` (column :math:`j_0` excluded), the
direction solves :math:`(H_s + \tau I)\Delta = \nabla D`, :math:`\tau = \min(\|\nabla D\|_2,
10^{-3})`, through the Schur complement (on the smaller side; for :math:`m \le n`)

.. math::

    \big(\mathrm{diag}(h_2+\tau) - \Sigma^\top \mathrm{diag}(h_1+\tau)^{-1}\Sigma\big)\Delta g
        = \nabla_g D - \Sigma^\top \frac{\nabla_f D}{h_1 + \tau},\qquad
    \Delta f = \frac{\nabla_f D - \Sigma\Delta g}{h_1 + \tau},

by Jacobi-preconditioned CG (relative tolerance :math:`\min(0.1, \sqrt{\mathrm{err}})`, at
most 500 iterations, from 0). :math:`K` is the union of the :math:`\lceil\kappa\max(n, m)
\rceil` largest entries of :math:`P` and every row and column maximum. The step
:math:`z \leftarrow z + \alpha\Delta`, :math:`\alpha = \alpha_0 2^{-t}`, :math:`t = 0..5`,
:math:`\alpha_0 = \min(1, 64\varepsilon/\|\Delta\|_\infty)` (no trial changes a
:math:`\log P_{ij}` by more than 128, so far from the optimum trials stay finite), is the first
finite trial with (A) :math:`D(z + \alpha\Delta) \ge D(z) + 10^{-4}\alpha\nabla D^\top\Delta`
when that increase exceeds :math:`64u\max(1, |D|)`, otherwise (B) :math:`\mathrm{err}(z +
\alpha\Delta) \le \mathrm{err}(z)`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["solve_sns"]

_TAU_MAX = 1e-3
_CG_MAXITER = 500
_ARMIJO = 1e-4
_TRIALS = 6
_MAX_LOG_CHANGE = 128.0  # first trial changes no log P_ij by more than this
_U = np.finfo(np.float64).eps


def _pcg(op, rhs, diag, rtol, maxiter):
    """Preconditioned conjugate gradients from 0 with the Jacobi preconditioner ``diag``."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = r / diag
    p = z.copy()
    rz = float(r @ z)
    stop = rtol * float(np.linalg.norm(rhs))
    it = 0
    while it < maxiter and float(np.linalg.norm(r)) > stop:
        q = op(p)
        alpha = rz / float(p @ q)
        x += alpha * p
        r -= alpha * q
        z = r / diag
        rz, rz_old = float(r @ z), rz
        p = z + (rz / rz_old) * p
        it += 1
    return x, it


def _direction(run, f, g, stats, j0, k, err):
    """Newton direction ``(df, dg)`` (``dg[j0] = 0``), the number of CG iterations and |K|."""
    from ._numba_kernels import matvec, transpose

    a, b, eps = run.a, run.b, run.eps
    n, m = a.size, b.size
    gf = a - stats[0]
    gg = b - stats[1]
    gg[j0] = 0.0
    tau = min(math.sqrt(float(gf @ gf + gg @ gg)), _TAU_MAX)
    d1 = stats[0] / eps + tau
    d2 = stats[1] / eps + tau
    csr = run.kern.select(f, g, run.inv_eps, j0, k, stats[0])
    csc = transpose(csr, m)
    rtol = min(0.1, math.sqrt(err))
    if m <= n:
        inv1 = 1.0 / d1
        diag = d2 - matvec((csc[0], csc[1], csc[2] ** 2), inv1)
        diag[j0] = 1.0
        dg, it = _pcg(lambda w: d2 * w - matvec(csc, matvec(csr, w) * inv1),
                      gg - matvec(csc, gf * inv1), diag, rtol, _CG_MAXITER)
        df = (gf - matvec(csr, dg)) * inv1
    else:
        inv2 = 1.0 / d2
        inv2[j0] = 0.0
        diag = d1 - matvec((csr[0], csr[1], csr[2] ** 2), inv2)
        df, it = _pcg(lambda v: d1 * v - matvec(csr, matvec(csc, v) * inv2),
                      gf - matvec(csr, gg * inv2), diag, rtol, _CG_MAXITER)
        dg = (gg - matvec(csc, df)) * inv2
    dg[j0] = 0.0
    return df, dg, it, int(csr[0][-1]), float(gf @ df + gg @ dg)


def solve_sns(run, f, g, *, n_init, kappa, adaptive, polish, n_fallback, max_stalls):
    r"""Run SNS (spec §3.5) on the :class:`~optkit.ot.sinkhorn._Run` ``run`` from ``(f, g)``.

    ::

        n_init Sinkhorn sweeps; stop if err <= tol
        while err > tol and n_iter < max_iter:
            K, h1, h2, tau -> PCG -> Delta -> line search (A)/(B)
            nothing accepted or non-finite: n_fallback sweeps, kappa <- 2 kappa
            accepted: adapt kappa (q = err_new/err_old: x2 if alpha < 1 or q > 0.5,
                      x0.9 if q < 0.1, within [2, ceil(m/4)]); with polish and err > 1e-6,
                      one sweep
            best err of the last 5 steps > 0.5 x best before: n_fallback sweeps,
                      kappa <- 2 kappa (after max_stalls stalls: Sinkhorn only)

    ``n_iter`` counts sweeps + Newton steps, as the paper. Returns ``(f, g, converged)``.
    """
    a, b, eps, tol = run.a, run.b, run.eps, run.tol
    n, m = a.size, b.size
    j0 = int(np.argmax(b))
    k_max = max(2.0, float(math.ceil(m / 4)))
    kappa = min(float(kappa), k_max)
    f, g, err = run.sweeps(f, g, n_init, final_check=False)
    if err is not None and err <= tol:
        return f, g, True
    stats = run.kern.stats(f, g, run.inv_eps)
    err = run.err_of(stats)
    history = [err]
    stalls = 0

    def restart(f, g, kappa):
        f, g, _ = run.sweeps(f, g, n_fallback, final_check=False)
        st = run.kern.stats(f, g, run.inv_eps)
        return f, g, st, run.err_of(st), min(2.0 * kappa, k_max)

    while err > tol and run.n_iter < run.max_iter:
        if stalls >= max_stalls:
            f, g, err = run.sweeps(f, g, run.max_iter)
            return f, g, err is not None and err <= tol
        k = math.ceil(kappa * max(n, m))
        df, dg, n_cg, nnz, slope = _direction(run, f, g, stats, j0, k, err)
        run.n_cg += n_cg
        dual = run.dual_of(f, g, stats)
        accepted = None
        step = max(float(np.abs(df).max()), float(np.abs(dg).max()))
        if np.isfinite(slope) and slope > 0:
            alpha0 = min(1.0, _MAX_LOG_CHANGE * eps / (2.0 * step))
            for t in range(_TRIALS):
                alpha = alpha0 * 2.0 ** -t
                fn, gn = f + alpha * df, g + alpha * dg
                st = run.kern.stats(fn, gn, run.inv_eps)
                if not (np.isfinite(st[2]) and np.isfinite(st[3])):
                    continue
                dual_n = run.dual_of(fn, gn, st)
                err_n = run.err_of(st)
                gain = _ARMIJO * alpha * slope
                if gain > 64 * _U * max(1.0, abs(dual)):
                    ok = dual_n >= dual + gain
                else:
                    ok = err_n <= err
                if ok:
                    accepted = (alpha, fn, gn, st, dual_n, err_n)
                    break
        if accepted is None:
            f, g, stats, err, kappa = restart(f, g, kappa)
            history = [err]
            continue
        alpha, f, g, stats, dual_n, err_n = accepted
        run.n_newton += 1
        run.record("newton", f, g, err_n, dual_n, alpha=alpha, kappa=kappa, nnz=nnz, n_cg=n_cg)
        if adaptive:
            q = err_n / err
            if alpha < 1 or q > 0.5:
                kappa = min(2.0 * kappa, k_max)
            elif q < 0.1:
                kappa = max(0.9 * kappa, 2.0)
        err = err_n
        if polish and 1e-6 < err and err > tol and run.n_iter < run.max_iter:
            f, g, _ = run.sweeps(f, g, 1, final_check=False)
            stats = run.kern.stats(f, g, run.inv_eps)
            err = run.err_of(stats)
        history.append(err)
        if len(history) > 5 and min(history[-5:]) > 0.5 * min(history[:-5]) and err > tol:
            stalls += 1
            f, g, stats, err, kappa = restart(f, g, kappa)
            history = [err]
    return f, g, err <= tol
