r"""Gradients of entropic OT through :func:`optkit.ot.sinkhorn`.

The problem of :mod:`optkit.ot.sinkhorn` has the optimality conditions
:math:`F(f, g; C, a, b) = (P1 - a, P^\top 1 - b) = -\nabla D = 0` with
:math:`P_{ij} = e^{(f_i + g_j - C_{ij})/\varepsilon}`. Four ways to differentiate through a
solve (POT's words, ``ot.solve(..., grad=...)``):

``"envelope"``
    The optimal value :math:`\mathrm{OT}_\varepsilon(a, b, C) = \max_{f,g} D` has, by the
    envelope (Danskin) theorem, :math:`\partial_C = P^*`, :math:`\partial_a = f^*`,
    :math:`\partial_b = g^*`. :class:`EnvelopeValue` attaches these to the value without any
    graph through the iterations; its backward is one pass over ``C`` forming :math:`P^*`.
``"implicit"``
    The potentials are the implicit function of :math:`F = 0`; for any loss :math:`L(f, g)`
    with :math:`u = \partial L/\partial(f, g)`,
    :math:`\mathrm{d}L/\mathrm{d}\theta = -\lambda^\top \partial F/\partial\theta` where
    :math:`H\lambda = u` and :math:`H = \partial F/\partial(f, g) = \frac1\varepsilon
    \begin{pmatrix}\mathrm{diag}(P1) & P\\ P^\top & \mathrm{diag}(P^\top 1)\end{pmatrix}`
    (Krantz & Parks, *The Implicit Function Theorem*, 2002; for Sinkhorn: Luise, Rudi,
    Pontil, Ciliberto, *Differential Properties of Sinkhorn Approximation*, NeurIPS 2018;
    Eisenberger et al., *A Unified Framework for Implicit Sinkhorn Differentiation*, CVPR
    2022). This gives :math:`\partial L/\partial C_{ij} = (\lambda_{f,i} + \lambda_{g,j})
    P_{ij}/\varepsilon`, :math:`\partial L/\partial a = \lambda_f`, :math:`\partial L/\partial
    b = \lambda_g`. A loss of the plan reaches :math:`u` by autograd through
    :math:`P(f, g, C)`.
``"autodiff"``
    Autograd through the unrolled log-domain Sinkhorn sweeps (memory grows with the sweeps).
``"detach"``
    No gradient.

**The null space.** :math:`H\nu = 0` for :math:`\nu = (1_n, -1_m)`: the gauge
:math:`(f + t, g - t)` leaves :math:`P` unchanged. The ``"implicit"`` outputs are
gauge-fixed by :math:`\sum_i f_i = \sum_j g_j` (:math:`\nu^\top z = 0`), so
:math:`\mathrm{d}z/\mathrm{d}\theta \perp \nu` and only the projection :math:`\Pi u = u -
\frac{\nu^\top u}{\nu^\top \nu}\nu` matters; :math:`H\lambda = \Pi u` is consistent (the
rows of :math:`H` satisfy :math:`\nu^\top H = 0` exactly when its diagonal is built from the
same :math:`P`) and is solved in the reduced variables :math:`\lambda_{g, j_0} = 0`,
:math:`j_0 = \arg\max_j b_j`, where :math:`H` is positive definite (:mod:`optkit.ot.sns`). The dropped
equation is the sum of the others. The solve is CG with :math:`H` applied densely and the
SNS sparsified Hessian :math:`H_s` (exact diagonal, :math:`P/\varepsilon` on the kept set
of :mod:`optkit.ot.sns`) as preconditioner, factorized once by a sparse LU (SuperLU, as
``scipy.sparse.linalg.splu``).

**Lazy costs.** :mod:`optkit.ot.lazy_autograd` has the same four modes for point clouds
whose cost is never formed (``sinkhorn(x=, y=, lazy=True)``), with blockwise backwards.

**Masses.** :math:`\sum a = \sum b` ties the masses, so only perturbations that keep each
total (:math:`\sum\delta a = \sum\delta b = 0`) are meaningful; every mode returns the
gradients with respect to ``a`` and ``b`` centred (:math:`f^* - \mathrm{mean}(f^*)` for the
envelope), as POT's ``ot.solve(..., grad="envelope")`` does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

__all__ = ["EnvelopeValue", "BatchEnvelopeValue", "gibbs_plan", "ImplicitPotentials",
           "KKTAdjoint", "centre_gradient", "differentiable_fields", "gauge_fixed"]

_KKT_RTOL = 1e-12
_KKT_MAXITER = 1000
_KEPT_PER_ROW = 10.0  # kept entries per row of the preconditioner (SNS's initial kappa)


class _CentreGradient(torch.autograd.Function):
    """Identity whose backward removes the mean of the incoming gradient."""

    @staticmethod
    def forward(ctx, v):
        return v.view_as(v)

    @staticmethod
    def backward(ctx, grad):
        return grad - grad.mean()


def centre_gradient(v):
    """``v`` itself, with its gradient projected on zero-sum perturbations (centred)."""
    return _CentreGradient.apply(v)


def gibbs_plan(C, f, g, eps, scale=None):
    r""":math:`s\,e^{(f_i + g_j - C_{ij})/\varepsilon}` in ``C``'s dtype, formed in place in
    one float64 n x m buffer (the envelope backward: one pass over ``C``, one exponential per
    entry, against two in a Sinkhorn sweep). ``scale`` :math:`s` is a 0-d tensor or None (1)."""
    P = torch.add(f[:, None], g[None, :])
    P.sub_(C).mul_(1.0 / eps).exp_()
    if scale is not None:
        P.mul_(scale.to(P.dtype))
    return P.to(C.dtype)


class EnvelopeValue(torch.autograd.Function):
    r"""A value of the optimal potentials with the envelope gradient
    :math:`(\partial_C, \partial_a, \partial_b) = (P^*, f^*, g^*)` times the incoming gradient.

    ``forward(C, a, b, value, f, g, plan_fn)`` returns ``value`` (a 0-d float64 tensor);
    ``plan_fn(s)`` forms :math:`s P^*` in ``C``'s dtype and device (one pass over ``C``), only
    in the backward and only when ``C`` needs a gradient.
    """

    @staticmethod
    def forward(ctx, C, a, b, value, f, g, plan_fn):
        ctx.plan_fn = plan_fn
        ctx.dtypes = (a.dtype if a is not None else None, b.dtype if b is not None else None)
        ctx.save_for_backward(f, g)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        f, g = ctx.saved_tensors
        dC = da = db = None
        if ctx.needs_input_grad[0]:
            dC = ctx.plan_fn(grad)
        if ctx.needs_input_grad[1]:
            da = (grad * f).to(ctx.dtypes[0])
        if ctx.needs_input_grad[2]:
            db = (grad * g).to(ctx.dtypes[1])
        return dC, da, db, None, None, None, None


class BatchEnvelopeValue(torch.autograd.Function):
    r"""Per-problem values of a batch (:mod:`optkit.ot.batch_sinkhorn`) with the envelope
    gradient :math:`(\partial_{C^{(k)}}, \partial_{a^{(k)}}, \partial_{b^{(k)}}) =
    (P^{(k)}, f^{(k)}, g^{(k)})` of each problem's optimal value (as :class:`EnvelopeValue`),
    times the incoming gradient :math:`\bar v_k`; the mass gradients are centred per problem,
    and a cost shared by the batch (2-D ``C``) receives :math:`\sum_k \bar v_k P^{(k)}`.

    ``forward(C, a, b, values, f, g, eps)``: ``C`` (B, n, m) or (n, m), ``a`` (B, n), ``b``
    (B, m) on the caller's graph; ``values`` (B,), ``f`` (B, n), ``g`` (B, m) detached
    float64. The backward forms the B plans once (:math:`B n m` float64).
    """

    @staticmethod
    def forward(ctx, C, a, b, values, f, g, eps):
        ctx.save_for_backward(C.detach(), f, g)
        ctx.eps, ctx.dtypes = eps, (C.dtype, a.dtype, b.dtype)
        return values.clone()

    @staticmethod
    def backward(ctx, grad):
        C, f, g = ctx.saved_tensors
        dC = da = db = None
        if ctx.needs_input_grad[0]:
            P = ((f[:, :, None] + g[:, None, :] - C.double()) / ctx.eps).exp_()
            P.mul_(grad[:, None, None])
            dC = (P if C.dim() == 3 else P.sum(dim=0)).to(ctx.dtypes[0])
        if ctx.needs_input_grad[1]:
            da = (grad[:, None] * (f - f.mean(dim=1, keepdim=True))).to(ctx.dtypes[1])
        if ctx.needs_input_grad[2]:
            db = (grad[:, None] * (g - g.mean(dim=1, keepdim=True))).to(ctx.dtypes[2])
        return dC, da, db, None, None, None, None


def gauge_fixed(f, g):
    r""":math:`(f - t, g + t)` with :math:`t = (\sum f - \sum g)/(n + m)`, so that
    :math:`\sum f = \sum g` (the gauge of the ``"implicit"`` outputs)."""
    t = (f.sum() - g.sum()) / (f.shape[0] + g.shape[0])
    return f - t, g + t


class KKTAdjoint:
    r"""The adjoint solve :math:`H\lambda = \Pi u` of the optimality system (module docstring).

    Parameters
    ----------
    C : Tensor (n, m)
        The cost (detached), float32 or float64.
    f, g : Tensor
        Converged float64 potentials on ``C``'s device.
    eps : float
        :math:`\varepsilon`.
    j0 : int
        The column whose :math:`\lambda_g` is fixed to 0 (``argmax b``).
    preconditioner : {"sns", "jacobi"}
        The sparse LU of the SNS sparsified Hessian :math:`H_s` (default), or the diagonal of
        :math:`H` (for comparison: ``bench/ot/grad.py --kkt``).

    Attributes
    ----------
    n_cg : int
        CG iterations of the last solve; ``residual`` its relative residual.
    """

    def __init__(self, C, f, g, eps, j0, preconditioner="sns"):
        self.C, self.f, self.g, self.eps, self.j0 = C, f, g, float(eps), int(j0)
        self.preconditioner = preconditioner
        self.n_cg, self.residual = 0, math.nan

    def plan(self):
        """:math:`P` in float64 on ``C``'s device."""
        return ((self.f[:, None] + self.g[None, :] - self.C.double()) / self.eps).exp()

    def _system(self):
        r"""``(P1, P^T 1, products)`` with ``products(v_g, v_f) = (P v_g, P^T v_f)``: the
        pieces of :math:`H` (here from the dense plan, formed once per solve)."""
        P = self.plan()
        return P.sum(dim=1), P.sum(dim=0), lambda vg, vf: (P @ vg, P.T @ vf)

    def _select_kernels(self):
        """The kernels whose ``select`` pass builds the SNS kept set (numba for a CPU cost)."""
        from .problem import kernels

        on_cpu = self.C.device.type == "cpu"
        return kernels(self.C.cpu().numpy() if on_cpu else self.C, not on_cpu, host=True)

    def _preconditioner(self, r, c):
        r"""Sparse LU of the reduced SNS Hessian :math:`H_s` (:mod:`optkit.ot.sns`) on the host."""
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        n, m = r.shape[0], c.shape[0]
        f, g = self.f.cpu().numpy(), self.g.cpu().numpy()
        kern = self._select_kernels()
        k = math.ceil(_KEPT_PER_ROW * max(n, m))
        with kern.threads():
            indptr, cols, vals = kern.select(f, g, 1.0 / self.eps, self.j0, k, r.cpu().numpy())
        keep = np.flatnonzero(np.arange(m) != self.j0)
        sigma = sp.csr_matrix((vals, cols, indptr), shape=(n, m))[:, keep]
        Hs = sp.bmat([[sp.diags(r.cpu().numpy() / self.eps), sigma],
                      [sigma.T, sp.diags(c.cpu().numpy()[keep] / self.eps)]], format="csc")
        lu = splu(Hs)
        dev = r.device
        return lambda v: torch.from_numpy(lu.solve(v.cpu().numpy())).to(dev)

    def solve(self, uf, ug):
        r""":math:`(\lambda_f, \lambda_g)` for the incoming gradients ``uf``, ``ug`` (None for
        zero), with :math:`\lambda_{g, j_0} = 0`."""
        from optkit.core.cg import pcg

        n, m = self.f.shape[0], self.g.shape[0]
        dev = self.f.device
        uf = torch.zeros(n, dtype=torch.float64, device=dev) if uf is None else uf.double()
        ug = torch.zeros(m, dtype=torch.float64, device=dev) if ug is None else ug.double()
        shift = (uf.sum() - ug.sum()) / (n + m)
        uf, ug = uf - shift, ug + shift
        keep = torch.arange(m, device=dev) != self.j0
        rhs = torch.cat([uf, ug[keep]])
        if not bool(rhs.abs().max() > 0):
            return torch.zeros_like(uf), torch.zeros(m, dtype=torch.float64, device=dev)
        r, c, products = self._system()
        inv = 1.0 / self.eps

        def matvec(v):
            vg = torch.zeros(m, dtype=v.dtype, device=v.device)
            vg[keep] = v[n:]
            P_vg, Pt_vf = products(vg, v[:n])
            top = (r * v[:n] + P_vg) * inv
            bottom = (c * vg + Pt_vf) * inv
            return torch.cat([top, bottom[keep]])

        if self.preconditioner == "sns":
            precond = self._preconditioner(r, c)
        else:
            precond = torch.cat([r, c[keep]]) * inv
        cg = pcg(matvec, rhs, precond=precond, rtol=_KKT_RTOL, maxiter=_KKT_MAXITER)
        self.n_cg = cg.nit
        self.residual = cg.residual / float(torch.linalg.vector_norm(rhs))
        if not cg.converged:
            warnings.warn(f"sinkhorn(grad='implicit'): the adjoint CG stopped after {cg.nit} "
                          f"iterations at relative residual {self.residual:.2e} (target "
                          f"{_KKT_RTOL:.0e}); the gradient is approximate", RuntimeWarning,
                          stacklevel=3)
        lam_g = torch.zeros(m, dtype=torch.float64, device=dev)
        lam_g[keep] = cg.x[n:]
        return cg.x[:n], lam_g


class ImplicitPotentials(torch.autograd.Function):
    r"""``(f, g)`` as the implicit function of ``(C, a, b)``; the backward solves the KKT
    system with :class:`KKTAdjoint` (module docstring).

    ``forward(C, a, b, f, g, adjoint)``: ``f``, ``g`` are the gauge-fixed converged
    potentials (float64, detached), ``adjoint`` a :class:`KKTAdjoint` built on them.
    """

    @staticmethod
    def forward(ctx, C, a, b, f, g, adjoint):
        ctx.adjoint = adjoint
        ctx.dtypes = (C.dtype, a.dtype, b.dtype)
        return f.clone(), g.clone()

    @staticmethod
    def backward(ctx, uf, ug):
        lam_f, lam_g = ctx.adjoint.solve(uf, ug)
        dC = da = db = None
        if ctx.needs_input_grad[0]:
            P = ctx.adjoint.plan()
            dC = ((lam_f[:, None] + lam_g[None, :]) * P / ctx.adjoint.eps).to(ctx.dtypes[0])
        if ctx.needs_input_grad[1]:
            da = lam_f.to(ctx.dtypes[1])
        if ctx.needs_input_grad[2]:
            db = lam_g.to(ctx.dtypes[2])
        return dC, da, db, None, None, None


def differentiable_fields(C, a, b, f, g, eps) -> dict:
    r"""The result's differentiable fields from potentials that carry a graph:
    ``plan`` :math:`P = e^{(f \oplus g - C)/\varepsilon}` (``C``'s dtype), ``cost``
    :math:`\langle C, P\rangle`, ``dual`` :math:`D(f, g)` and ``ent_reg_cost``
    :math:`\langle P1, f\rangle + \langle P^\top 1, g\rangle` (0-d float64 tensors)."""
    Cd = C.double()
    P = ((f[:, None] + g[None, :] - Cd) / eps).exp()
    return {"plan": P.to(C.dtype), "cost": (Cd * P).sum(),
            "dual": (a * f).sum() + (b * g).sum() - eps * P.sum(),
            "ent_reg_cost": (P.sum(dim=1) * f).sum() + (P.sum(dim=0) * g).sum()}
