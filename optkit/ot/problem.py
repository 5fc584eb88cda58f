"""One entropic OT problem as the run loop sees it, and the validation of the inputs.

:class:`OTProblem` holds the kernels over the cost, the masses, ``reg`` and the start
potentials, in one backend: numpy arrays (numba kernels, or torch kernels driven from the
host) or torch tensors on the cost's device (torch kernels, no host round trips).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optkit.core.backend import device_of, is_torch_tensor, namespace, to_float, to_numpy
from optkit.core.validate import check_positive

from .costs import LazyCost

__all__ = ["OTProblem", "make_problem", "kernels", "check_cost", "masses", "check_reg",
           "host_vector", "extend", "embed", "submatrix", "err_and_dual", "final_fields"]


@dataclass
class OTProblem:
    """Kernels, masses ``a``, ``b`` (positive entries only), ``eps`` and ``tol``.

    ``a``, ``b`` and the start ``x0 = (f0, g0)`` are arrays of one namespace ``xp``;
    ``output`` turns a host vector into the caller's kind (a tensor on the cost's device for
    torch input driven from the host). ``j0 = argmax b`` is the column that SNS pins, ``free``
    the mask (1 except at ``j0``) and ``device_resident`` says whether the state is torch
    tensors on the cost's device.
    """

    kern: Any
    a: Any
    b: Any
    eps: float
    tol: float
    x0: tuple
    output: Any = None
    xp: Any = field(init=False)
    inv_eps: float = field(init=False)
    sum_a: float = field(init=False)

    def __post_init__(self):
        self.xp = namespace(self.a)
        self.inv_eps = 1.0 / self.eps
        self.log_a, self.log_b = self.xp.log(self.a), self.xp.log(self.b)
        self.sum_a = float(to_numpy(self.a).sum())
        self.log_amax = float(np.log(to_numpy(self.a).max()))
        self.log_bmax = float(np.log(to_numpy(self.b).max()))
        self.j0 = int(np.argmax(to_numpy(self.b)))
        free = np.ones(self.b.shape[0])
        free[self.j0] = 0.0
        self.free = self.xp.asarray(free, dtype=self.b.dtype, device=device_of(self.b))
        self.device_resident = is_torch_tensor(self.a)


def make_problem(kern, a, b, eps, tol, f0, g0, device=None) -> OTProblem:
    """An :class:`OTProblem` from host vectors; on ``device`` (torch) when given."""
    if device is None:
        return OTProblem(kern, a, b, eps, tol, (f0, g0), getattr(kern, "output", None))
    xp = namespace(kern.like)
    a, b, f0, g0 = (xp.asarray(v, dtype=xp.float64, device=device) for v in (a, b, f0, g0))
    return OTProblem(kern, a, b, eps, tol, (f0, g0))


def kernels(C, torch_in, *, host=False):
    """numba kernels for a numpy cost; torch kernels for a torch one (``host``: numpy in/out).
    A :class:`~optkit.ot.costs.LazyCost` gets the blocked kernels of its backend."""
    if torch_in:
        from ._torch_kernels import HostKernels, TorchKernels

        return HostKernels(C) if host else TorchKernels(C)
    if isinstance(C, LazyCost):
        from ._numba_kernels import LazyNumbaKernels

        return LazyNumbaKernels(C)
    from ._numba_kernels import NumbaKernels

    return NumbaKernels(C)


def _is_half(x) -> bool:
    return str(x.dtype) in ("float16", "torch.float16", "torch.bfloat16")


def masses(v, name, n, torch_in, device):
    """A float64 numpy vector of non-negative masses (uniform ``1/n`` for None)."""
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
        v = to_numpy(v.double())
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


def check_cost(C):
    """``(C, torch_in)``: a real 2-D finite float32/float64 cost (detached for torch)."""
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


def check_reg(reg, eta) -> float:
    """:math:`\\varepsilon` from exactly one of ``reg`` and ``eta = 1/reg``."""
    if (reg is None) == (eta is None):
        raise TypeError("give exactly one of reg (= epsilon) and eta (= 1/reg)")
    if reg is None:
        return 1.0 / check_positive(eta, "eta")
    return check_positive(reg, "reg")


def host_vector(v, name, size):
    """A finite float64 numpy vector of length ``size`` (warm-start potentials)."""
    v = np.asarray(to_numpy(v), dtype=np.float64)
    if v.shape != (size,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a finite vector of length {size}, got shape {v.shape}")
    return v


def _index(xp, mask, like):
    return xp.asarray(np.flatnonzero(mask), device=device_of(like))


def submatrix(C, rows, cols):
    """The block ``C[rows][:, cols]`` of boolean masks (a copy; only with zero masses)."""
    if isinstance(C, LazyCost):
        return LazyCost(*(xp.take(v, _index(xp, mask, v), axis=0) for v, mask, xp in
                          ((C.x, rows, namespace(C.x)), (C.y, cols, namespace(C.y)))), C.cost)
    xp = namespace(C)
    return xp.take(xp.take(C, _index(xp, rows, C), axis=0), _index(xp, cols, C), axis=1)


def embed(P, rows, cols, shape):
    """``P`` placed in the ``rows`` x ``cols`` block of a zero matrix of ``shape``."""
    xp = namespace(P)
    Z = xp.zeros(shape, dtype=P.dtype, device=device_of(P))
    Z[_index(xp, rows, P)[:, None], _index(xp, cols, P)[None, :]] = P
    return Z


def extend(C, f, g, rows, cols, eps):
    """Full-length host potentials; a zero-mass entry gets the soft c-transform of the other
    side, e.g. :math:`f_i = -\\varepsilon\\,\\mathrm{LSE}_j((g_j - C_{ij})/\\varepsilon)`."""
    torch_in = is_torch_tensor(C.like if isinstance(C, LazyCost) else C)
    inv = 1.0 / eps
    f_full, g_full = np.empty(rows.size), np.empty(cols.size)
    f_full[rows], g_full[cols] = f, g
    if not rows.all():
        Cr = submatrix(C, ~rows, cols)
        f_full[~rows] = -eps * kernels(Cr, torch_in, host=True).row_lse(g, inv, np.zeros(Cr.shape[0]))
    if not cols.all():
        Cc = submatrix(C, rows, ~cols)
        g_full[~cols] = -eps * kernels(Cc, torch_in, host=True).col_lse(f, inv, np.zeros(Cc.shape[1]))
    return f_full, g_full


def err_and_dual(problem: OTProblem, f, g, stats):
    """Marginal L1 error and :math:`D(f, g)` from the plan statistics ``(P1, P^T 1, sum P)``."""
    xp = problem.xp
    err = (xp.sum(xp.abs(stats[0] - problem.a)) + xp.sum(xp.abs(stats[1] - problem.b))) / problem.sum_a
    dual = xp.sum(problem.a * f) + xp.sum(problem.b * g) - problem.eps * stats[2]
    return err, dual




def final_fields(problem: OTProblem, f, g) -> dict:
    """The result's values at ``(f, g)`` from one pass of plan statistics: ``fun`` = ``dual``
    = :math:`D(f, g)`, ``cost`` = :math:`\\langle C, P\\rangle`, ``ent_reg_cost`` =
    :math:`\\langle C, P\\rangle - \\varepsilon H(P) = \\langle P1, f\\rangle + \\langle
    P^\\top 1, g\\rangle` and ``marginal_error``."""
    xp = problem.xp
    stats = problem.kern.stats(f, g, problem.inv_eps)
    err, dual = err_and_dual(problem, f, g, stats)
    dual = to_float(dual)
    return {"fun": dual, "dual": dual, "cost": to_float(stats[3]), "marginal_error": to_float(err),
            "ent_reg_cost": to_float(xp.sum(stats[0] * f) + xp.sum(stats[1] * g))}
