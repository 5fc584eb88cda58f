r"""Entropic optimal transport in the log domain: Sinkhorn and Sinkhorn–Newton–Sparse.

Convention (spec ``ot.md`` §1): with masses :math:`a \in \mathbb{R}^n_+`,
:math:`b \in \mathbb{R}^m_+` of equal totals, a cost :math:`C` and ``reg`` :math:`= \varepsilon
= 1/\eta_{\mathrm{SNS}}`,

.. math::

    \min_{P \ge 0,\ P1 = a,\ P^\top 1 = b} \langle C, P\rangle
        + \varepsilon \sum_{ij} P_{ij}(\log P_{ij} - 1)
    \;=\; \max_{f, g}\ D(f, g) = \langle a, f\rangle + \langle b, g\rangle
        - \varepsilon \sum_{ij} e^{(f_i + g_j - C_{ij})/\varepsilon},

with the plan :math:`P_{ij} = e^{(f_i + g_j - C_{ij})/\varepsilon}`. ``reg`` is POT's ``reg``
(``f = reg * log_u``, ``g = reg * log_v`` in ``ot.sinkhorn(..., log=True)``) and OTT's
``epsilon``; the SNS paper's :math:`\eta` is ``1/reg`` (its potentials are ``x = f + reg``,
``y = g``). Convergence is the L1 marginal error
:math:`\mathrm{err} = (\|P1 - a\|_1 + \|P^\top 1 - b\|_1)/\sum_i a_i = \|\nabla D\|_1/\sum a`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from optkit.core.result import STATUS, OptimizeResult, Trace
from optkit.core.validate import check_in, check_int, check_options, check_positive, is_torch_tensor

__all__ = ["OTResult", "sinkhorn", "cost_matrix", "COSTS"]

COSTS = ("sqeuclidean", "half_sqeuclidean", "euclidean", "l1")
METHODS = ("sns", "sinkhorn")
SNS_OPTIONS = {"n_init": 20, "kappa": 10.0, "adaptive": True, "polish": True,
               "n_fallback": 20, "max_stalls": 20}


@dataclass(repr=False)
class OTResult:
    """Result of :func:`sinkhorn`.

    Attributes
    ----------
    f, g : ndarray or Tensor (float64)
        Dual potentials (torch tensors on ``C``'s device for torch input).
    plan : ndarray or Tensor
        :math:`P_{ij} = e^{(f_i + g_j - C_{ij})/\\varepsilon}`, formed only when read, in
        ``C``'s dtype.
    cost : float
        :math:`\\langle C, P\\rangle`.
    dual : float
        :math:`D(f, g)`.
    ent_reg_cost : float
        :math:`\\langle C, P\\rangle - \\varepsilon H(P)`, :math:`H = -\\sum P\\log P` (OTT's
        ``ent_reg_cost``); equals ``dual + reg * sum(a)`` at exact marginals.
    n_iter, n_sinkhorn, n_newton, n_cg : int
        Sinkhorn sweeps + Newton steps; sweeps; Newton steps; CG iterations.
    marginal_error : float
        :math:`(\\|P1 - a\\|_1 + \\|P^\\top 1 - b\\|_1)/\\sum a` at the returned potentials.
    success, status, message
        ``status`` 0: converged, 1: ``max_iter`` reached, 99: stopped by the callback
        (``optkit.core.STATUS``).
    trace : optkit.core.Trace
        One record per sweep or Newton step: ``nit``, ``kind``, ``err``, ``dual``, ``time``
        (and for Newton steps ``alpha``, ``kappa``, ``nnz``, ``n_cg``).
    reg : float
        :math:`\\varepsilon`.
    """

    f: Any
    g: Any
    cost: float
    dual: float
    ent_reg_cost: float
    n_iter: int
    n_sinkhorn: int
    n_newton: int
    n_cg: int
    marginal_error: float
    success: bool
    status: int
    message: str
    trace: Trace
    reg: float
    plan_fn: Callable[[], Any] = field(repr=False)

    @cached_property
    def plan(self):
        return self.plan_fn()

    def __repr__(self) -> str:
        return (f"OTResult(success={self.success}, cost={self.cost:.6g}, dual={self.dual:.6g}, "
                f"marginal_error={self.marginal_error:.2e}, n_iter={self.n_iter} "
                f"({self.n_sinkhorn} sweeps + {self.n_newton} Newton), message={self.message!r})")


# ----------------------------------------------------------------------------- costs


def cost_matrix(x, y, cost: str | Callable = "sqeuclidean"):
    r"""Cost matrix :math:`C_{ij} = c(x_i, y_j)` from point clouds, by direct differences.

    Parameters
    ----------
    x, y : array (n, d), (m, d)
        numpy arrays or torch tensors (differentiable).
    cost : {"sqeuclidean", "half_sqeuclidean", "euclidean", "l1"} or callable
        :math:`\|x - y\|_2^2` (no 1/2, as OTT's ``SqEuclidean``), :math:`\frac12\|x - y\|_2^2`,
        :math:`\|x - y\|_2`, :math:`\|x - y\|_1`; a callable ``cost(x, y)`` returns the matrix.

    Differences are formed explicitly (never :math:`\|x\|^2 + \|y\|^2 - 2\langle x, y\rangle`,
    which cancels catastrophically), in row blocks of at most 32 MiB of temporaries.
    """
    if callable(cost):
        return cost(x, y)
    check_in(cost, "cost", COSTS)
    torch_in = is_torch_tensor(x)
    if torch_in != is_torch_tensor(y):
        raise TypeError("x and y must both be numpy arrays or both torch tensors")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be 2-D with the same number of columns, got shapes "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    rows = max(1, (4 * 2**20) // max(1, y.shape[0] * y.shape[1]))
    out = []
    for lo in range(0, x.shape[0], rows):
        d = x[lo:lo + rows, None, :] - y[None, :, :]
        if cost == "l1":
            out.append(abs(d).sum(-1))
            continue
        sq = (d * d).sum(-1)
        if cost == "sqeuclidean":
            out.append(sq)
        elif cost == "half_sqeuclidean":
            out.append(0.5 * sq)
        else:
            out.append(sq.sqrt() if torch_in else np.sqrt(sq))
    if torch_in:
        import torch

        return torch.cat(out)
    return np.concatenate(out)


# ----------------------------------------------------------------------------- validation


def _is_half(x) -> bool:
    return str(x.dtype) in ("float16", "torch.float16", "torch.bfloat16")


def _masses(v, name, n, torch_in, device):
    if v is None:
        return np.full(n, 1.0 / n)
    if is_torch_tensor(v) != torch_in:
        raise TypeError(f"{name} and C must both be numpy arrays or both torch tensors")
    if torch_in:
        if v.device != device:
            raise TypeError(f"{name} is on {v.device} but C is on {device}")
        if v.is_complex():
            raise TypeError(f"{name} must be real, got {v.dtype}")
        if _is_half(v):
            raise TypeError(f"{name} must be float32 or float64, got {v.dtype}")
        v = v.detach().cpu().double().numpy()
    else:
        v = np.asarray(v)
        if np.iscomplexobj(v) or not (np.issubdtype(v.dtype, np.number) or v.dtype == bool):
            raise TypeError(f"{name} must be a real array, got dtype {v.dtype}")
        if v.dtype == np.float16:
            raise TypeError(f"{name} must be float32 or float64, got float16")
        v = v.astype(np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {v.shape}")
    if not (np.all(np.isfinite(v)) and np.all(v >= 0)):
        raise ValueError(f"{name} must be finite and non-negative")
    return v


def _check_cost(C):
    torch_in = is_torch_tensor(C)
    if torch_in:
        if C.is_complex():
            raise TypeError(f"C must be real, got {C.dtype}")
        if _is_half(C):
            raise TypeError(f"C must be float32 or float64, got {C.dtype}")
        C = C.detach()
        if not C.is_floating_point():
            C = C.double()
        finite = bool(C.isfinite().all())
    else:
        C = np.asarray(C)
        if np.iscomplexobj(C) or not (np.issubdtype(C.dtype, np.number) or C.dtype == bool):
            raise TypeError(f"C must be a real array, got dtype {C.dtype}")
        if C.dtype == np.float16:
            raise TypeError("C must be float32 or float64, got float16")
        if C.dtype not in (np.float32, np.float64):
            C = C.astype(np.float64)
        finite = bool(np.isfinite(C).all()) if C.ndim == 2 else True
    if C.ndim != 2:
        raise ValueError(f"C must be 2-D, got shape {tuple(C.shape)}")
    if not finite:
        raise ValueError("C must be finite (no NaN or inf)")
    return C, torch_in


def _sns_options(options):
    opts = {**SNS_OPTIONS, **check_options(options, SNS_OPTIONS, "sinkhorn(method='sns')")}
    for name in ("n_init", "n_fallback", "max_stalls"):
        check_int(opts[name], f"options['{name}']", minimum=0)
    if check_positive(opts["kappa"], "options['kappa']") < 2:
        raise ValueError(f"options['kappa'] must be >= 2, got {opts['kappa']}")
    for name in ("adaptive", "polish"):
        if not isinstance(opts[name], bool):
            raise TypeError(f"options['{name}'] must be a bool, got {type(opts[name]).__name__}")
    return opts


def _check_reg(reg, eta):
    if (reg is None) == (eta is None):
        raise TypeError("give exactly one of reg (= epsilon) and eta (= 1/reg)")
    if reg is None:
        return 1.0 / check_positive(eta, "eta")
    return check_positive(reg, "reg")


# ----------------------------------------------------------------------------- the run


class _Run:
    """Shared state of one solve: kernels, masses, counters and the trace."""

    def __init__(self, kern, a, b, eps, tol, max_iter, callback=None):
        self.kern, self.a, self.b, self.eps, self.tol, self.max_iter = kern, a, b, eps, tol, max_iter
        self.callback = callback
        self.last = None
        self.inv_eps = 1.0 / eps
        self.log_a, self.log_b = np.log(a), np.log(b)
        self.sum_a = float(a.sum())
        self.log_amax, self.log_bmax = float(self.log_a.max()), float(self.log_b.max())
        self.n_sinkhorn = self.n_newton = self.n_cg = 0
        self.trace = Trace()
        self.t0 = time.perf_counter()

    @property
    def n_iter(self) -> int:
        return self.n_sinkhorn + self.n_newton

    def record(self, kind, f, g, err, dual, **extra):
        """Trace one sweep or Newton step and call the user's callback (may raise
        ``StopIteration``; ``last`` then holds the potentials to return)."""
        self.trace.append(nit=self.n_iter, kind=kind, err=err, dual=dual,
                          time=time.perf_counter() - self.t0, **extra)
        self.last = (f, g)
        if self.callback is not None:
            self.callback(OptimizeResult(f=f, g=g, marginal_error=err, dual=dual, nit=self.n_iter,
                                         n_sinkhorn=self.n_sinkhorn, n_newton=self.n_newton,
                                         n_cg=self.n_cg))

    def err_of(self, stats) -> float:
        return float(np.abs(stats[0] - self.a).sum() + np.abs(stats[1] - self.b).sum()) / self.sum_a

    def dual_of(self, f, g, stats) -> float:
        return float(self.a @ f + self.b @ g) - self.eps * stats[2]

    def sweeps(self, f, g, count, *, final_check=True):
        r"""Up to ``count`` log-domain Sinkhorn sweeps (spec §2)

        .. math::

            L_i = \mathrm{LSE}_j\big((g_j - C_{ij})/\varepsilon\big),\quad
            f_i \leftarrow \varepsilon(\log a_i - L_i),\quad
            g_j \leftarrow \varepsilon\big(\log b_j - \mathrm{LSE}_i((f_i - C_{ij})/\varepsilon)\big).

        The row pass also gives the row sums :math:`e^{f_i/\varepsilon + L_i}` of the current
        iterate, whose columns are exact after a sweep: the error check is free. Returns
        ``(f, g, err)``, with ``err`` None when the returned iterate was not checked.
        """
        eps, inv = self.eps, self.inv_eps
        count = min(count, self.max_iter - self.n_iter)
        err = None
        for sweep in range(count + 1):
            if sweep == count and not (final_check and count > 0):
                return f, g, None
            L = self.kern.row_lse(g, inv, self.log_bmax - f * inv)
            if sweep > 0:
                err = float(np.abs(np.exp(f * inv + L) - self.a).sum()) / self.sum_a
                self.record("sinkhorn", f, g, err, float(self.a @ f + self.b @ g) - eps * float(self.b.sum()))
                if err <= self.tol or sweep == count:
                    return f, g, err
            f = eps * (self.log_a - L)
            g = eps * (self.log_b - self.kern.col_lse(f, inv, self.log_amax - g * inv))
            self.n_sinkhorn += 1
        return f, g, err


def _kernels(C, torch_in):
    if torch_in:
        from ._torch_kernels import TorchKernels

        return TorchKernels(C)
    from ._numba_kernels import NumbaKernels

    return NumbaKernels(C)


def _sinkhorn_solve(run, f, g):
    f, g, err = run.sweeps(f, g, run.max_iter)
    return f, g, err is not None and err <= run.tol


def sinkhorn(a, b, C=None, reg=None, *, eta=None, method="sns", tol=None, max_iter=1000,
             init=None, x=None, y=None, cost="sqeuclidean", options=None,
             callback=None) -> OTResult:
    r"""Balanced entropic optimal transport, log domain, by Sinkhorn or Sinkhorn–Newton–Sparse.

    Solves :math:`\max_{f,g} \langle a,f\rangle + \langle b,g\rangle - \varepsilon\sum_{ij}
    e^{(f_i+g_j-C_{ij})/\varepsilon}` (module docstring) until the L1 marginal error is
    ``<= tol``.

    - ``method="sinkhorn"``: log-domain Sinkhorn (Cuturi, NeurIPS 2013; Peyré & Cuturi,
      *Computational Optimal Transport*, §4.4), the alternating exact block maximizations
      of :meth:`_Run.sweeps`; D never decreases.
    - ``method="sns"``: Sinkhorn–Newton–Sparse (Tang et al., ICLR 2024, arXiv 2401.12253,
      Algorithm 1): ``n_init`` Sinkhorn sweeps, then Newton ascent steps on the reduced dual
      with a sparsified Hessian; see :func:`optkit.ot.sns.solve_sns`.

    Parameters
    ----------
    a, b : array (n,), (m,) or None
        Non-negative masses with equal totals (any common total); None means uniform 1/n.
        Zero entries are allowed: their rows/columns are dropped (zero in the plan) and their
        potentials are the soft c-transforms, e.g. :math:`f_i = -\varepsilon\,
        \mathrm{LSE}_j((g_j - C_{ij})/\varepsilon)`.
    C : array (n, m), optional
        Cost, float32 or float64 (numpy or torch; float32 is upcast in registers). Give
        either ``C`` or the point clouds ``x``, ``y``.
    reg : float
        :math:`\varepsilon > 0` (POT's ``reg``, OTT's ``epsilon``). Exactly one of ``reg``
        and ``eta`` (:math:`= 1/\varepsilon`, the SNS paper's :math:`\eta`).
    method : {"sns", "sinkhorn"}
    tol : float, optional
        Target L1 marginal error; default 1e-9 (1e-5 for Sinkhorn on a float32 cost).
    max_iter : int
        Budget of Sinkhorn sweeps + Newton steps.
    init : (f, g), optional
        Warm start potentials (default zeros).
    x, y, cost : point clouds and a cost name or callable (see :func:`cost_matrix`).
    options : dict, optional
        SNS settings: ``n_init`` (20), ``kappa`` (10: kept entries per row, adapted in
        [2, ceil(m/4)]), ``adaptive`` (True), ``polish`` (True), ``n_fallback`` (20),
        ``max_stalls`` (20).
    callback : callable, optional
        ``callback(intermediate_result)`` after every checked sweep and Newton step, with an
        ``OptimizeResult`` holding ``f``, ``g``, ``marginal_error``, ``dual``, ``nit``,
        ``n_sinkhorn``, ``n_newton``, ``n_cg``; raising ``StopIteration`` ends the run
        (status 99, as scipy).

    Returns
    -------
    OTResult
        Non-convergence is not an exception: ``success=False`` with the error in ``message``.
    """
    check_in(method, "method", METHODS)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    eps = _check_reg(reg, eta)
    opts = _sns_options(options)
    if method == "sinkhorn" and options:
        raise TypeError("options apply to method='sns' only")
    if C is None:
        if x is None or y is None:
            raise TypeError("give either C or both point clouds x and y")
        C = cost_matrix(x, y, cost)
    elif x is not None or y is not None:
        raise TypeError("give either C or the point clouds x, y, not both")
    C, torch_in = _check_cost(C)
    n, m = C.shape
    device = C.device if torch_in else None
    a = _masses(a, "a", n, torch_in, device)
    b = _masses(b, "b", m, torch_in, device)
    if a.shape[0] != n or b.shape[0] != m:
        raise ValueError(f"C has shape {(n, m)} but (len(a), len(b)) = {(a.shape[0], b.shape[0])}")
    sa, sb = float(a.sum()), float(b.sum())
    if sa == 0 or abs(sa - sb) > 1e-6 * max(sa, sb):
        raise ValueError(f"a and b must have equal positive totals, got sum(a)={sa!r}, "
                         f"sum(b)={sb!r}")
    f32 = str(C.dtype) in ("float32", "torch.float32")
    tol = (1e-5 if f32 and method == "sinkhorn" else 1e-9) if tol is None else check_positive(tol, "tol")
    if init is None:
        f0, g0 = np.zeros(n), np.zeros(m)
    else:
        f0, g0 = (_host(v, name, k) for v, name, k in zip(init, ("init[0]", "init[1]"), (n, m)))
    rows, cols = a > 0, b > 0
    full = rows.all() and cols.all()
    kern = _kernels(C if full else _sub(C, rows, cols, torch_in), torch_in)
    run = _Run(kern, a[rows], b[cols], eps, tol, max_iter, callback)
    f, g = f0[rows], g0[cols]
    stopped = False
    with kern.threads():
        try:
            if method == "sinkhorn":
                f, g, converged = _sinkhorn_solve(run, f, g)
            else:
                from .sns import solve_sns

                f, g, converged = solve_sns(run, f, g, **opts)
        except StopIteration:
            (f, g), converged, stopped = run.last, False, True
        stats = kern.stats(f, g, run.inv_eps)
    err = run.err_of(stats)
    if not np.isfinite(err):
        converged = False
    if converged:
        status, message = STATUS["success"], f"converged: marginal error {err:.3e} <= tol {tol:.1e}"
    elif stopped:
        status, message = STATUS["callback"], f"stopped by the callback: marginal error {err:.3e}"
    else:
        status = STATUS["maxiter"]
        message = f"max_iter={max_iter} reached: marginal error {err:.3e} > tol {tol:.1e}"
    f_full, g_full = _extend(C, f, g, rows, cols, eps, torch_in)
    kind = C.dtype

    def plan_fn():
        with kern.threads():
            P = kern.plan(f, g, run.inv_eps)
        if not full:
            Z = np.zeros((n, m)) if not torch_in else \
                _torch().zeros((n, m), dtype=P.dtype, device=device)
            if torch_in:
                Z[_idx(rows, device)[:, None], _idx(cols, device)[None, :]] = P
            else:
                Z[np.ix_(rows, cols)] = P
            P = Z
        return P.to(kind) if torch_in else P.astype(kind, copy=False)

    if torch_in:
        torch = _torch()
        f_full, g_full = (torch.from_numpy(v).to(device) for v in (f_full, g_full))
    return OTResult(
        f=f_full, g=g_full, cost=float(stats[3]), dual=run.dual_of(f, g, stats),
        ent_reg_cost=float(stats[0] @ f + stats[1] @ g), n_iter=run.n_iter,
        n_sinkhorn=run.n_sinkhorn, n_newton=run.n_newton, n_cg=run.n_cg, marginal_error=err,
        success=bool(converged), status=status, message=message, trace=run.trace, reg=eps,
        plan_fn=plan_fn)


def _torch():
    import torch

    return torch


def _idx(mask, device):
    return _torch().from_numpy(np.flatnonzero(mask)).to(device)


def _sub(C, rows, cols, torch_in):
    """The block ``C[rows][:, cols]`` of boolean masks (a copy; only with zero masses)."""
    if torch_in:
        return C[_idx(rows, C.device)][:, _idx(cols, C.device)]
    return C[np.ix_(rows, cols)]


def _host(v, name, size):
    v = np.asarray(v.detach().cpu() if is_torch_tensor(v) else v, dtype=np.float64)
    if v.shape != (size,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a finite vector of length {size}, got shape {v.shape}")
    return v


def _extend(C, f, g, rows, cols, eps, torch_in):
    """Full-length potentials; zero-mass entries get the soft c-transform of the other side."""
    if rows.all() and cols.all():
        return f, g
    inv = 1.0 / eps
    f_full, g_full = np.empty(rows.size), np.empty(cols.size)
    f_full[rows], g_full[cols] = f, g
    if not rows.all():
        Cr = _sub(C, ~rows, cols, torch_in)
        f_full[~rows] = -eps * _kernels(Cr, torch_in).row_lse(g, inv, np.zeros(Cr.shape[0]))
    if not cols.all():
        Cc = _sub(C, rows, ~cols, torch_in)
        g_full[~cols] = -eps * _kernels(Cc, torch_in).col_lse(f, inv, np.zeros(Cc.shape[1]))
    return f_full, g_full

