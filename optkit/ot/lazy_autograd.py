r"""Gradients through :func:`optkit.ot.sinkhorn` on lazy costs (``lazy=True``), with neither
the cost :math:`C_{ij} = c(x_i, y_j)` nor the plan :math:`P` ever formed.

Every backward here streams over blocks :math:`I` of rows of ``x``: a block forms its costs
:math:`C_{I\cdot}` from the points, its plan entries :math:`P_{I\cdot} = e^{(f_I \oplus g -
C_{I\cdot})/\varepsilon}` from the potentials, a weight :math:`W_{I\cdot} = \partial
L/\partial C_{I\cdot}` and accumulates the vector-Jacobian product of the cost
(:func:`cost_vjp`)

.. math::

    \bar x_i = \sum_j W_{ij}\,\nabla_x c(x_i, y_j), \qquad
    \bar y_j = \sum_i W_{ij}\,\nabla_y c(x_i, y_j),

so a backward holds :math:`O((n + m)d)` memory plus one block of rows: the online reductions
of GeomLoss's KeOps backend (Feydy et al., *Interpolating between Optimal Transport and MMD
using Sinkhorn Divergences*, AISTATS 2019) and of OTT's ``PointCloud(batch_size=)`` (Cuturi
et al., *Optimal Transport Tools (OTT)*, arXiv 2201.12324, 2022). The modes of
:mod:`optkit.ot.autograd` differ in their weight:

``"envelope"`` (:class:`LazyEnvelopeValue`)
    :math:`W = \bar v\,P^*` for an incoming gradient :math:`\bar v` of the optimal value.
``"implicit"`` (:class:`LazyImplicitPotentials`, :class:`LazyKKTAdjoint`)
    :math:`W_{ij} = (\lambda_{f,i} + \lambda_{g,j})P_{ij}/\varepsilon` with :math:`H\lambda =
    \Pi u` solved as in :class:`~optkit.ot.autograd.KKTAdjoint`, whose CG products
    :math:`Pv`, :math:`P^\top u` (and the marginals on :math:`H`'s diagonal) run by blocks:
    one pass over the clouds per CG iteration. The preconditioner is the SNS sparsified
    Hessian built by the blocked select pass of the lazy kernels (:math:`O(|K|)` memory).
``"autodiff"`` (:class:`LazyLogSumExp`, :class:`LazySweepKernels`)
    Each log-sum-exp of a Sinkhorn sweep, e.g. :math:`L_i = \mathrm{LSE}_j((g_j -
    C_{ij})/\varepsilon)`, is one autograd node that saves ``x``, ``y``, its input potential
    and its output only. With :math:`\pi_{ij} = e^{(g_j - C_{ij})/\varepsilon - L_i}` (rows of
    :math:`\pi` sum to 1) and the incoming :math:`\bar L`,

    .. math::

        \bar g_j = \frac1\varepsilon \sum_i \bar L_i\,\pi_{ij}, \qquad
        W_{ij} = -\frac1\varepsilon\,\bar L_i\,\pi_{ij},

    recomputed by blocks; the column pass is the same with the roles of rows and columns
    exchanged. The tape thus grows by :math:`O((n + m)d)` per sweep, not :math:`O(nm)`.
Losses of the plan (:class:`LazyPlan`)
    A reduction :math:`\sum_I \phi(P_{I\cdot}, C_{I\cdot})` is recomputed block by block in
    the backward (activation checkpointing): with :math:`\bar P = \partial\phi/\partial P`,
    :math:`\bar C = \partial\phi/\partial C` on the block (autograd of :math:`\phi` there)
    and :math:`\partial P_{ij}/\partial f_i = P_{ij}/\varepsilon = -\partial
    P_{ij}/\partial C_{ij}`,

    .. math::

        \bar f_i = \frac1\varepsilon\sum_j \bar P_{ij}P_{ij},\quad
        \bar g_j = \frac1\varepsilon\sum_i \bar P_{ij}P_{ij},\quad
        W = \bar C - \frac1\varepsilon\,\bar P \odot P.

The backwards are once differentiable (no gradient of a gradient through them). A block of
rows holds a few float64 arrays of its size (cost, plan, weight) and, for the
``"l1"`` cost, its (rows, m, d) signs: ``_torch_kernels._LAZY_BLOCK_BYTES // (8 m (2d + 4))``
rows per block.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import _torch_kernels
from .autograd import KKTAdjoint
from .costs import cost_matrix

__all__ = ["LazyPlan", "LazyEnvelopeValue", "LazyImplicitPotentials", "LazyKKTAdjoint",
           "LazyLogSumExp", "LazySweepKernels", "cost_vjp"]


def _blocks(x, y, cost):
    r"""``(rows, x_rows, C_rows)`` for blocks of rows (``rows`` a slice): the detached float64
    points of the block and their costs, formed by :func:`~optkit.ot.costs.cost_matrix`."""
    x, y = x.detach().double(), y.detach().double()
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    step = max(1, min(n, _torch_kernels._LAZY_BLOCK_BYTES // (8 * m * (2 * d + 4))))
    for lo in range(0, n, step):
        rows = slice(lo, min(lo + step, n))
        yield rows, x[rows], cost_matrix(x[rows], y, cost)


def _gibbs(f_rows, g, C_rows, eps):
    r""":math:`e^{(f_i + g_j - C_{ij})/\varepsilon}` on a block (float64, detached)."""
    return (f_rows.detach().double()[:, None] + g.detach().double()[None, :] - C_rows).mul_(
        1.0 / eps).exp_()


def cost_vjp(x_rows, y, W, cost, C_rows):
    r"""The vector-Jacobian product of a block of the cost, :math:`\bar x_i = \sum_j W_{ij}
    \nabla_x c(x_i, y_j)` for the block's rows and :math:`\bar y_j = \sum_{i \in I} W_{ij}
    \nabla_y c(x_i, y_j)`.

    ``"sqeuclidean"`` (:math:`\nabla_x c = 2(x_i - y_j)`) and ``"half_sqeuclidean"`` reduce to
    :math:`2(x_i \sum_j W_{ij} - (Wy)_i)` and :math:`2(y_j \sum_i W_{ij} - (W^\top x)_j)`,
    two matrix products on points centred at the mean of ``y`` (which leaves the differences
    unchanged and removes a common offset from the cancellation); ``"euclidean"`` is the
    same with :math:`W_{ij}/C_{ij}` (the subgradient 0 at coincident points, where autograd
    through :func:`~optkit.ot.costs.cost_matrix` gives NaN); ``"l1"`` sums
    :math:`W_{ij}\,\mathrm{sign}(x_i - y_j)` over a (rows, m, d) block.
    """
    if cost == "l1":
        S = torch.sign(x_rows[:, None, :] - y[None, :, :]).mul_(W[:, :, None])
        return S.sum(dim=1), -S.sum(dim=0)
    if cost == "euclidean":
        W = torch.where(C_rows > 0, W / torch.where(C_rows > 0, C_rows, 1.0), 0.0)
        scale = 1.0
    else:
        scale = 2.0 if cost == "sqeuclidean" else 1.0
    centre = y.mean(dim=0)
    xc, yc = x_rows - centre, y - centre
    dx = scale * (xc * W.sum(dim=1)[:, None] - W @ yc)
    dy = scale * (yc * W.sum(dim=0)[:, None] - W.T @ xc)
    return dx, dy


class _PointGradients:
    """Accumulators of :math:`\\bar x`, :math:`\\bar y` over the blocks of a backward."""

    def __init__(self, x, y, need_x, need_y):
        self.x, self.y, self.need = x, y, need_x or need_y
        self.need_x, self.need_y = need_x, need_y
        self.dx = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
        self.dy = torch.zeros(y.shape, dtype=torch.float64, device=y.device)
        self.y64 = y.detach().double()

    def add(self, rows, x_rows, W, cost, C_rows):
        if not self.need:
            return
        bx, by = cost_vjp(x_rows, self.y64, W, cost, C_rows)
        self.dx[rows] += bx
        self.dy += by

    def out(self):
        return (self.dx.to(self.x.dtype) if self.need_x else None,
                self.dy.to(self.y.dtype) if self.need_y else None)


class LazyPlan:
    r"""The plan :math:`P_{ij} = e^{(f_i + g_j - c(x_i, y_j))/\varepsilon}` of a lazy solve as
    an operator that is never formed (``result.lazy_plan``; OTT's ``SinkhornOutput.apply``
    and ``marginal`` are the same idea).

    Every method is one pass over blocks of rows and differentiable with respect to the points,
    the potentials and its tensor arguments when those carry a graph (``grad="implicit"`` or
    ``"autodiff"``: the potentials are then functions of the points and masses); the backward
    is one more pass (module docstring). ``result.plan`` still forms the dense n x m plan
    when read.

    Parameters
    ----------
    x, y : Tensor (n, d), (m, d)
        The clouds.
    f, g : Tensor (n,), (m,)
        float64 potentials.
    eps : float
        :math:`\varepsilon`.
    cost : str
        A named cost of :func:`~optkit.ot.costs.cost_matrix`.
    row_mask, col_mask : Tensor, optional
        float64 0/1 vectors: rows and columns of zero mass carry no plan.
    """

    def __init__(self, x, y, f, g, eps, cost, row_mask=None, col_mask=None):
        self.x, self.y, self.f, self.g = x, y, f, g
        self.eps, self.cost = float(eps), cost
        self.row_mask, self.col_mask = row_mask, col_mask
        self.shape = (x.shape[0], y.shape[0])

    def entries(self, rows, f, g, C_rows):
        """The plan on a block of rows, from detached potentials (masked)."""
        P = _gibbs(f[rows], g, C_rows, self.eps)
        if self.row_mask is not None:
            P.mul_(self.row_mask[rows, None])
        if self.col_mask is not None:
            P.mul_(self.col_mask[None, :])
        return P

    def apply(self, fn, *tensors, per_row=False):
        r""":math:`\sum_I \phi(P_{I\cdot}, C_{I\cdot})` over blocks :math:`I` of rows, or, with
        ``per_row=True``, the blocks' outputs concatenated along the first axis (one entry per
        row of the plan).

        ``fn(P, C, rows, *tensors)`` gets the block of the plan and of the cost (float64) and
        the block's rows (a slice), and returns a tensor; it must be differentiable in ``P``,
        ``C`` and ``tensors`` (it is rerun per block in the backward). Example: :math:`\sum_{ij} P_{ij}W_{ij}` is
        ``plan.apply(lambda P, C, rows, W: (P * W[rows]).sum(), W)``.
        """
        return _PlanReduce.apply(self, fn, per_row, self.x, self.y, self.f, self.g, *tensors)

    def matvec(self, v):
        """:math:`P v`, shape (n,)."""
        return self.apply(lambda P, C, rows, v: P @ v.to(P.dtype), v, per_row=True)

    def rmatvec(self, u):
        """:math:`P^\\top u`, shape (m,)."""
        return self.apply(lambda P, C, rows, u: P.T @ u[rows].to(P.dtype), u)

    def sum(self):
        """:math:`\\sum_{ij} P_{ij}` (0-d)."""
        return self.apply(lambda P, C, rows: P.sum())

    def dense(self):
        """The n x m plan (formed; differentiable as the operator)."""
        C = cost_matrix(self.x, self.y, self.cost).double()
        P = ((self.f[:, None] + self.g[None, :] - C) / self.eps).exp()
        if self.row_mask is not None:
            P = P * self.row_mask[:, None]
        if self.col_mask is not None:
            P = P * self.col_mask[None, :]
        return P

    def value_terms(self):
        r"""``(sum P, <C, P>, <P1, f> + <P^T 1, g>)`` in one pass, a float64 (3,) tensor."""
        return self.apply(lambda P, C, rows, f, g: torch.stack(
            [P.sum(), (C * P).sum(), (P * (f[rows, None] + g[None, :])).sum()]),
            self.f, self.g)


class _PlanReduce(torch.autograd.Function):
    """:meth:`LazyPlan.apply`: forward without a graph, backward by recomputing each block."""

    @staticmethod
    def forward(ctx, plan, fn, per_row, x, y, f, g, *tensors):
        ctx.plan, ctx.fn, ctx.per_row = plan, fn, per_row
        ctx.save_for_backward(x, y, f, g, *tensors)
        plain = [t.detach() for t in tensors]
        parts = []
        for rows, _, Cb in _blocks(x, y, plan.cost):
            parts.append(fn(plan.entries(rows, f, g, Cb), Cb, rows, *plain))
        return torch.cat(parts) if per_row else torch.stack(parts).sum(dim=0)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, f, g, *tensors = ctx.saved_tensors
        plan, eps = ctx.plan, ctx.plan.eps
        need_x, need_y, need_f, need_g = ctx.needs_input_grad[3:7]
        need_t = ctx.needs_input_grad[7:]
        points = _PointGradients(x, y, need_x, need_y)
        df = torch.zeros(f.shape, dtype=torch.float64, device=f.device)
        dg = torch.zeros(g.shape, dtype=torch.float64, device=g.device)
        dt = [torch.zeros_like(t) if need else None for t, need in zip(tensors, need_t)]
        for rows, xb, Cb in _blocks(x, y, plan.cost):
            P = plan.entries(rows, f, g, Cb)
            with torch.enable_grad():
                Pl, Cl = P.clone().requires_grad_(), Cb.clone().requires_grad_()
                leaves = [t.detach().requires_grad_(need) for t, need in zip(tensors, need_t)]
                out = ctx.fn(Pl, Cl, rows, *leaves)
                wrt = [Pl, Cl, *(t for t in leaves if t.requires_grad)]
                parts = torch.autograd.grad(out, wrt, grad[rows] if ctx.per_row else grad,
                                            allow_unused=True)
            dP, dC = (torch.zeros_like(P) if p is None else p for p in parts[:2])
            dlogP = dP * P * (1.0 / eps)
            df[rows] += dlogP.sum(dim=1)
            dg += dlogP.sum(dim=0)
            points.add(rows, xb, dC - dlogP, plan.cost, Cb)
            rest = iter(parts[2:])
            for k, need in enumerate(need_t):
                if need:
                    part = next(rest)
                    if part is not None:
                        dt[k] += part
        dx, dy = points.out()
        return (None, None, None, dx, dy, df.to(f.dtype) if need_f else None,
                dg.to(g.dtype) if need_g else None, *dt)


class LazyEnvelopeValue(torch.autograd.Function):
    r"""A value of the optimal potentials of a lazy cost with the envelope gradient with
    respect to the points and the masses, computed block by block.

    By the envelope theorem (:class:`~optkit.ot.autograd.EnvelopeValue`) and the chain rule
    through :math:`C_{ij} = c(x_i, y_j)`,

    .. math::

        \frac{\partial \mathrm{OT}_\varepsilon}{\partial x_i}
            = \sum_j P^*_{ij}\, \nabla_x c(x_i, y_j),\qquad
        \frac{\partial \mathrm{OT}_\varepsilon}{\partial y_j}
            = \sum_i P^*_{ij}\, \nabla_y c(x_i, y_j),

    and :math:`(\partial_a, \partial_b) = (f^*, g^*)` (centred by the mass tensors); Peyré &
    Cuturi, *Computational Optimal Transport*, 2019, Prop. 9.2 / §9.1.3. The backward is one
    pass of :func:`cost_vjp` with :math:`W = \bar v P^*` (zero-mass rows and columns masked).

    ``forward(x, y, a, b, value, plan)``: the clouds and masses on the caller's graph, ``value``
    a 0-d float64 tensor, ``plan`` a detached :class:`LazyPlan` of the optimal potentials.
    """

    @staticmethod
    def forward(ctx, x, y, a, b, value, plan):
        ctx.save_for_backward(x, y, plan.f, plan.g)
        ctx.plan, ctx.dtypes = plan, (a.dtype, b.dtype)
        return value.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, f, g = ctx.saved_tensors
        need_x, need_y, need_a, need_b = ctx.needs_input_grad[:4]
        points = _PointGradients(x, y, need_x, need_y)
        if points.need:
            for rows, xb, Cb in _blocks(x, y, ctx.plan.cost):
                W = ctx.plan.entries(rows, f, g, Cb).mul_(grad.double())
                points.add(rows, xb, W, ctx.plan.cost, Cb)
        dx, dy = points.out()
        da = (grad * f).to(ctx.dtypes[0]) if need_a else None
        db = (grad * g).to(ctx.dtypes[1]) if need_b else None
        return dx, dy, da, db, None, None


class LazyKKTAdjoint(KKTAdjoint):
    r""":class:`~optkit.ot.autograd.KKTAdjoint` on a lazy cost: the same CG, gauge handling
    and SNS preconditioner, with the products :math:`Pv_g`, :math:`P^\top v_f` of each CG
    iteration computed together in one pass over blocks of rows (no n x m array).

    Parameters
    ----------
    cost : LazyCost
        The clouds (detached) and the named cost, on the potentials' device.
    f, g, eps, j0, preconditioner
        As :class:`~optkit.ot.autograd.KKTAdjoint`.
    """

    def _blocks(self):
        return _blocks(self.C.x, self.C.y, self.C.cost)

    def _system(self):
        r = torch.empty(self.f.shape[0], dtype=torch.float64, device=self.f.device)
        c = torch.zeros(self.g.shape[0], dtype=torch.float64, device=self.g.device)
        for rows, _, Cb in self._blocks():
            P = _gibbs(self.f[rows], self.g, Cb, self.eps)
            r[rows] = P.sum(dim=1)
            c += P.sum(dim=0)

        def products(vg, vf):
            out_f = torch.empty_like(vf)
            out_g = torch.zeros_like(vg)
            for rows, _, Cb in self._blocks():
                P = _gibbs(self.f[rows], self.g, Cb, self.eps)
                out_f[rows] = P @ vg
                out_g += P.T @ vf[rows]
            return out_f, out_g

        return r, c, products

    def _select_kernels(self):
        from .costs import LazyCost
        from .problem import kernels

        if self.C.device.type == "cpu":
            return kernels(LazyCost(self.C.x.numpy(), self.C.y.numpy(), self.C.cost), False)
        return kernels(self.C, True, host=True)

    def point_gradients(self, lam_f, lam_g, need_x, need_y):
        r"""``(x̄, ȳ)`` of :math:`W_{ij} = (\lambda_{f,i} + \lambda_{g,j})P_{ij}/\varepsilon`
        (None where not needed), one pass."""
        x, y = self.C.x, self.C.y
        points = _PointGradients(x, y, need_x, need_y)
        for rows, xb, Cb in self._blocks():
            W = _gibbs(self.f[rows], self.g, Cb, self.eps)
            W.mul_(lam_f[rows, None] + lam_g[None, :]).mul_(1.0 / self.eps)
            points.add(rows, xb, W, self.C.cost, Cb)
        return points.out()


class LazyImplicitPotentials(torch.autograd.Function):
    r"""``(f, g)`` as the implicit function of the clouds and the masses; the backward
    solves the KKT system with a :class:`LazyKKTAdjoint` and maps
    :math:`\partial L/\partial C_{ij} = (\lambda_{f,i} + \lambda_{g,j})P_{ij}/\varepsilon`
    to the points by blocks (:func:`cost_vjp`); :math:`\partial L/\partial a = \lambda_f`,
    :math:`\partial L/\partial b = \lambda_g`.

    ``forward(x, y, a, b, f, g, adjoint)``: ``f``, ``g`` the gauge-fixed converged potentials
    (float64, detached), ``adjoint`` a :class:`LazyKKTAdjoint` built on them.
    """

    @staticmethod
    def forward(ctx, x, y, a, b, f, g, adjoint):
        ctx.adjoint = adjoint
        ctx.dtypes = (x.dtype, y.dtype, a.dtype, b.dtype)
        return f.clone(), g.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, uf, ug):
        need_x, need_y, need_a, need_b = ctx.needs_input_grad[:4]
        lam_f, lam_g = ctx.adjoint.solve(uf, ug)
        dx, dy = None, None
        if need_x or need_y:
            dx, dy = ctx.adjoint.point_gradients(lam_f, lam_g, need_x, need_y)
        da = lam_f.to(ctx.dtypes[2]) if need_a else None
        db = lam_g.to(ctx.dtypes[3]) if need_b else None
        return dx, dy, da, db, None, None, None


class LazyLogSumExp(torch.autograd.Function):
    r"""One log-sum-exp pass of a Sinkhorn sweep on a lazy cost as an autograd node:
    ``rowwise`` :math:`L_i = \mathrm{LSE}_j((h_j - C_{ij})/\varepsilon)` (``h`` = g, (m,)),
    else :math:`L_j = \mathrm{LSE}_i((h_i - C_{ij})/\varepsilon)` (``h`` = f, (n,)).

    Forward and backward run by blocks of rows (module docstring); the node saves ``x``,
    ``y``, ``h`` and ``L``: :math:`O((n + m)d)`.

    ``apply(x, y, h, eps, cost, rowwise)``.
    """

    @staticmethod
    def forward(ctx, x, y, h, eps, cost, rowwise):
        hd = h.detach().double()
        if rowwise:
            L = torch.cat([torch.logsumexp((hd[None, :] - Cb).mul_(1.0 / eps), dim=1)
                           for _, _, Cb in _blocks(x, y, cost)])
        else:
            L = torch.full((y.shape[0],), -torch.inf, dtype=torch.float64, device=y.device)
            for rows, _, Cb in _blocks(x, y, cost):
                L = torch.logaddexp(L, torch.logsumexp((hd[rows, None] - Cb).mul_(1.0 / eps),
                                                       dim=0))
        ctx.save_for_backward(x, y, h, L)
        ctx.eps, ctx.cost, ctx.rowwise = eps, cost, rowwise
        return L

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, h, L = ctx.saved_tensors
        need_x, need_y, need_h = ctx.needs_input_grad[:3]
        inv, hd, grad = 1.0 / ctx.eps, h.detach().double(), grad.double()
        points = _PointGradients(x, y, need_x, need_y)
        dh = torch.zeros(h.shape, dtype=torch.float64, device=h.device)
        for rows, xb, Cb in _blocks(x, y, ctx.cost):
            if ctx.rowwise:
                W = (hd[None, :] - Cb).mul_(inv).sub_(L[rows, None]).exp_()
                W.mul_(grad[rows, None] * inv)
                dh += W.sum(dim=0)
            else:
                W = (hd[rows, None] - Cb).mul_(inv).sub_(L[None, :]).exp_()
                W.mul_(grad[None, :] * inv)
                dh[rows] = W.sum(dim=1)
            points.add(rows, xb, W.neg_(), ctx.cost, Cb)
        dx, dy = points.out()
        return dx, dy, dh.to(h.dtype) if need_h else None, None, None, None


class LazySweepKernels:
    r"""The kernel interface that :class:`~optkit.ot.log_sinkhorn.SinkhornSolver` uses
    (``row_lse``, ``col_lse``, ``stats``) on a lazy cost, for ``grad="autodiff"``: the
    log-sum-exp passes are :class:`LazyLogSumExp` nodes on the clouds ``x``, ``y`` (which may
    require gradients), so the unrolled sweeps keep a graph of :math:`O((n + m)d)` per
    sweep; ``stats`` (the stopping test's plan statistics) carries no graph.

    Parameters
    ----------
    x, y : Tensor (n, d), (m, d)
        The clouds as the caller passed them.
    cost : LazyCost
        The same clouds, detached (:class:`~optkit.ot.costs.LazyCost`).
    eps : float
        :math:`\varepsilon` (the passes scale by ``1/eps``).
    """

    def __init__(self, x, y, cost, eps):
        from ._torch_kernels import TorchKernels

        self.x, self.y, self.cost, self.eps = x, y, cost.cost, float(eps)
        self.plain = TorchKernels(cost)
        self.like = cost.like

    def row_lse(self, g, inv_eps, shift=None):
        r""":math:`L_i = \mathrm{LSE}_j((g_j - C_{ij})/\varepsilon)` as a graph node.
        ``inv_eps`` is the problem's :math:`1/\varepsilon` (the node keeps ``eps``) and
        ``shift``, the numba kernels' guess of the maximum, is not needed by the blocked
        ``logsumexp``; both belong to the kernel interface."""
        return LazyLogSumExp.apply(self.x, self.y, g, self.eps, self.cost, True)

    def col_lse(self, f, inv_eps, shift=None):
        r""":math:`L_j = \mathrm{LSE}_i((f_i - C_{ij})/\varepsilon)` as a graph node (as
        :meth:`row_lse`)."""
        return LazyLogSumExp.apply(self.x, self.y, f, self.eps, self.cost, False)

    def stats(self, f, g, inv_eps):
        """``(P1, P^T 1, sum P, <C, P>)`` of the blocked torch kernels, without a graph."""
        with torch.no_grad():
            return self.plain.stats(f.detach(), g.detach(), inv_eps)
