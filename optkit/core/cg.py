r"""The one (preconditioned, batched) conjugate-gradient solver, on any array API backend.

Solves :math:`A x = b` for a symmetric positive definite operator given as a matvec, with
an optional preconditioner :math:`M^{-1}` (a callable or an array of the inverse diagonal's
reciprocal, i.e. ``diag`` of :math:`M`). A leading batch axis solves independent systems
at once (``b`` of shape ``(..., n)``, inner products along the last axis). The textbook
recursion (Hestenes and Stiefel, J. Res. NBS 49(6), 1952; Saad, *Iterative Methods for
Sparse Linear Systems*, Alg. 9.1):

.. math::
    \alpha_k = \frac{r_k^\top z_k}{p_k^\top A p_k},\quad x_{k+1} = x_k + \alpha_k p_k,\quad
    r_{k+1} = r_k - \alpha_k A p_k,\quad z_{k+1} = M^{-1} r_{k+1},\quad
    p_{k+1} = z_{k+1} + \frac{r_{k+1}^\top z_{k+1}}{r_k^\top z_k} p_k .

It stops when :math:`\|r\| \le \max(\text{rtol}\,\|b\|, \text{atol})` for every system, after
``maxiter`` iterations, or when a curvature :math:`p^\top A p \le 0` appears (the operator is
not positive definite along ``p``; ``negative_curvature=True``). The residual test reads the
device every ``check_every`` iterations only; with ``sync=False`` it never does: exactly
``maxiter`` iterations run and a system stops moving (its step is masked to zero) once its
residual meets the target or a non-positive curvature appears, so a device-resident caller
pays no host round trip for the solve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .backend import namespace, to_float

__all__ = ["CGResult", "pcg"]


@dataclass
class CGResult:
    x: Any
    nit: int
    residual: float
    converged: bool
    negative_curvature: bool = False


def _dot(xp, u, v):
    return xp.sum(u * v, axis=-1)


def pcg(matvec: Callable[[Any], Any], b, *, x0=None, precond: Callable | Any | None = None,
        rtol: float = 1e-5, atol: float = 0.0, maxiter: int | None = None,
        check_every: int = 1, sync: bool = True) -> CGResult:
    """Run preconditioned CG on ``matvec(x) = b`` (see the module docstring).

    With ``sync=False``, ``rtol`` may be an array (read on the device) and ``nit``,
    ``residual``, ``converged`` and ``negative_curvature`` of the result are arrays (per
    system): ``nit`` counts the iterations that moved the system.
    """
    xp = namespace(b)
    n = b.shape[-1]
    maxiter = 10 * n if maxiter is None else int(maxiter)
    if precond is None:
        def apply(r):
            return r
    elif callable(precond):
        apply = precond
    else:
        diag = precond

        def apply(r):
            return r / diag
    if x0 is None:
        x = xp.zeros_like(b)
        r = b
    else:
        x = x0
        r = b - matvec(x)
    if not sync:
        return _pcg_unsynced(xp, matvec, apply, b, x, r, rtol, atol, maxiter)
    bnorm = to_float(xp.max(xp.sqrt(_dot(xp, b, b)))) if b.ndim > 1 else to_float(
        xp.sqrt(_dot(xp, b, b)))
    target = max(rtol * bnorm, atol)
    z = apply(r)
    p = z
    rz = _dot(xp, r, z)
    it = 0
    res = to_float(xp.max(xp.sqrt(_dot(xp, r, r))))
    if res <= target:
        return CGResult(x, 0, res, True)
    tiny = xp.finfo(b.dtype).tiny
    while it < maxiter:
        q = matvec(p)
        curv = _dot(xp, p, q)
        if (it + 1) % check_every == 0 or it == 0:
            # a system whose direction is zero is solved exactly (its r is 0), not curved
            if to_float(xp.min(xp.where(_dot(xp, p, p) == 0, 1.0, curv))) <= 0:
                return CGResult(x, it, res, False, negative_curvature=True)
        alpha = rz / xp.where(curv == 0, tiny, curv)
        x = x + alpha[..., None] * p
        r = r - alpha[..., None] * q
        it += 1
        if it % check_every == 0 or it == maxiter:
            res = to_float(xp.max(xp.sqrt(_dot(xp, r, r))))
            if res <= target:
                return CGResult(x, it, res, True)
        z = apply(r)
        rz_new = _dot(xp, r, z)
        p = z + (rz_new / xp.where(rz == 0, tiny, rz))[..., None] * p
        rz = rz_new
    return CGResult(x, it, res, res <= target)


def _pcg_unsynced(xp, matvec, apply, b, x, r, rtol, atol, maxiter) -> CGResult:
    """``maxiter`` CG iterations with per-system masks instead of host tests (``sync=False``)."""
    target = xp.maximum(rtol * xp.sqrt(_dot(xp, b, b)), xp.asarray(atol, dtype=b.dtype))
    res = xp.sqrt(_dot(xp, r, r))
    active = res > target
    bent = xp.zeros_like(active)
    nit = xp.zeros(active.shape, dtype=xp.int64)
    tiny = xp.finfo(b.dtype).tiny
    z = apply(r)
    p = z
    rz = _dot(xp, r, z)
    for _ in range(maxiter):
        q = matvec(p)
        curv = _dot(xp, p, q)
        flat = active & (curv <= 0) & (_dot(xp, p, p) > 0)
        bent = bent | flat
        active = active & ~flat
        alpha = xp.where(active, rz / xp.where(curv == 0, tiny, curv), 0.0)
        x = x + alpha[..., None] * p
        r = r - alpha[..., None] * q
        nit = nit + xp.astype(active, xp.int64)
        res = xp.where(active, xp.sqrt(_dot(xp, r, r)), res)
        active = active & (res > target)
        z = apply(r)
        rz_new = _dot(xp, r, z)
        p = z + (rz_new / xp.where(rz == 0, tiny, rz))[..., None] * p
        rz = rz_new
    return CGResult(x, nit, res, res <= target, negative_curvature=bent)
