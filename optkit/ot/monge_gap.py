r"""The Monge gap of a map and Monge-gap-regularized map fitting (spec ``ot.md`` §5).

Uscidda & Cuturi, *The Monge Gap: A Regularizer to Learn All Transport Maps*, ICML 2023
(arXiv 2302.04953); reference implementation: OTT's ``monge_gap_from_samples``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optkit.core.result import Trace
from optkit.core.validate import check_int, check_nonnegative, check_positive, is_torch_tensor

from .sinkhorn import cost_matrix, sinkhorn

__all__ = ["monge_gap", "fit_map"]


def _dual_value(C, f, g, eps):
    r""":math:`D(f, g) = \frac1n\sum f + \frac1m\sum g - \varepsilon\sum e^{(f_i+g_j-C_{ij})/\varepsilon}`
    (uniform masses). For a torch ``C`` that requires gradients, autograd sees
    :math:`\partial D/\partial C = P` (the envelope gradient) through
    :math:`\langle P, C\rangle` with ``P`` detached, never through the exponential."""
    n, m = C.shape
    if is_torch_tensor(C):
        import torch

        with torch.no_grad():
            P = ((f[:, None] + g[None, :] - C.double()) / eps).exp()
            value = f.sum() / n + g.sum() / m - eps * P.sum()
        if not C.requires_grad:
            return value
        cp = (P.to(C.dtype) * C).sum()
        return value + (cp - cp.detach())  # value D, gradient dD/dC = P
    return float(f.mean() + g.mean()) - eps * float(np.exp((f[:, None] + g[None, :] - C) / eps).sum())


def torch_float64():
    import torch

    return torch.float64


def _reg_of(C, reg):
    if reg is None:
        return 0.05 * float(C.detach().std() if is_torch_tensor(C) else np.std(C))
    return check_positive(reg, "reg")


def _entropic_cost(C, eps, tol, method):
    """:math:`W_\\varepsilon = D(f^*, g^*) + \\varepsilon` (OTT's ``ent_reg_cost``) with the
    envelope-theorem gradient :math:`\\partial W/\\partial C = P^*` when ``C`` is a torch
    tensor that requires gradients. Returns ``(W, OTResult)``."""
    if not is_torch_tensor(C):
        res = sinkhorn(None, None, C, eps, method=method, tol=tol)
        return _dual_value(C, res.f, res.g, eps) + eps, res
    Cd = C.detach()
    if Cd.device.type == "cpu":  # zero-copy to the numba kernels, faster than torch's here
        res = sinkhorn(None, None, Cd.numpy(), eps, method=method, tol=tol)
        f, g = (Cd.new_tensor(v, dtype=torch_float64()) for v in (res.f, res.g))
    else:
        res = sinkhorn(None, None, Cd, eps, method=method, tol=tol)
        f, g = res.f, res.g
    return _dual_value(C, f, g, eps) + eps, res


def monge_gap(x, Tx, cost="sqeuclidean", reg=None, *, tol=1e-6, method="sns"):
    r"""Empirical Monge gap of a map :math:`T` on reference points :math:`x_1..x_n`.

    .. math::

        \hat M(T) = \frac1n\sum_i c(x_i, T x_i) - W_\varepsilon,\qquad
        W_\varepsilon = \min_{P \in U(1/n, 1/n)} \langle C, P\rangle - \varepsilon H(P),\quad
        C_{ij} = c(x_i, T x_j),

    with :math:`H = -\sum P\log P` (OTT's ``ent_reg_cost``), computed as
    :math:`W_\varepsilon = D(f, g) + \varepsilon` from :func:`~optkit.ot.sinkhorn`'s potentials;
    by weak duality an inexact solve can only overestimate :math:`\hat M`. The uniform coupling
    :math:`I/n` is feasible with entropy :math:`\log n`, so :math:`\hat M \ge \varepsilon\log n
    > 0` (the entropic floor); :math:`\hat M \le \hat M_0 + 2\varepsilon\log n` where
    :math:`\hat M_0` uses the unregularized OT cost.

    Parameters
    ----------
    x, Tx : array (n, d)
        Reference points and their images (numpy, or torch: then the result is a 0-d tensor
        differentiable in ``x`` and ``Tx`` by the envelope theorem, :math:`\nabla_{y_j}
        W_\varepsilon = \sum_i P^*_{ij}\nabla_y c(x_i, y_j)`, with no backpropagation
        through the solver; autograd holds the n x n cost and plan).
    cost : {"sqeuclidean", "half_sqeuclidean", "euclidean", "l1"} or callable
        ``"sqeuclidean"`` is :math:`\|x - y\|^2` with no 1/2 (OTT's ``SqEuclidean``).
    reg : float, optional
        :math:`\varepsilon`; default :math:`0.05\,\mathrm{std}(C)` (OTT's default), detached.
    tol, method
        Passed to :func:`~optkit.ot.sinkhorn` (marginal L1 error, ``"sns"`` or ``"sinkhorn"``).
    """
    if tuple(x.shape) != tuple(Tx.shape):
        raise ValueError(f"x and Tx must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(Tx.shape)}")
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be 2-D with at least 2 points, got shape {tuple(x.shape)}")
    C = cost_matrix(x, Tx, cost)
    eps = _reg_of(C, reg)
    W, _ = _entropic_cost(C, eps, tol, method)
    diag = C.diagonal()
    return (diag.double() if is_torch_tensor(diag) else diag).mean() - W


def _symmetric_entropic_cost(C, eps, tol, max_iter=1000):
    r""":math:`W_\varepsilon(\alpha, \alpha)` for a symmetric torch cost, by the symmetric
    Sinkhorn updates :math:`f \leftarrow \frac12\big(f + \varepsilon(\log a -
    \mathrm{LSE}_j((f_j - C_{ij})/\varepsilon))\big)` (Feydy et al., AISTATS 2019) until the
    marginal L1 error is ``<= tol``, then the envelope value :math:`D(f, f) + \varepsilon`,
    differentiable in ``C``."""
    import torch

    Cd = C.detach()
    if Cd.device.type == "cpu":
        from ._numba_kernels import NumbaKernels

        kern = NumbaKernels(Cd.numpy())
    else:
        from ._torch_kernels import TorchKernels

        kern = TorchKernels(Cd)
    n = Cd.shape[0]
    log_a, inv = -np.log(n), 1.0 / eps
    f = np.zeros(n)
    with kern.threads():
        for _ in range(max_iter):
            L = kern.row_lse(f, inv, log_a - f * inv)
            if float(np.abs(np.exp(f * inv + L) - 1.0 / n).sum()) <= tol:
                break
            f = 0.5 * (f + eps * (log_a - L))
    f = torch.from_numpy(f).to(Cd.device)
    return _dual_value(C, f, f, eps) + eps


def _sampler(data, name, torch):
    if callable(data):
        return data
    if not is_torch_tensor(data) or data.ndim != 2:
        raise TypeError(f"{name} must be a 2-D torch tensor or a callable (size, generator)")

    def draw(size, generator):
        idx = torch.randperm(data.shape[0], generator=generator)[:size]
        return data[idx.to(data.device)]

    return draw


def fit_map(model, source, target, lam=1.0, fit_reg=0.5, gap_reg=None, cost="sqeuclidean",
            n_iter=1000, batch_size=128, optimizer=None, seed=0, average=0, tol=1e-6):
    r"""Fit a map :math:`T_\theta` pushing the source to the target, Monge-gap regularized.

    Minimizes, over fresh batches, (Uscidda & Cuturi, ICML 2023, §5)

    .. math::

        L(\theta) = S_{\varepsilon_{fit}}(T_\theta\sharp\hat\mu, \hat\nu)
            + \lambda\,\hat M_{\hat\mu}(T_\theta),\qquad
        S_\varepsilon(\alpha, \beta) = W_\varepsilon(\alpha, \beta) - \tfrac12
            W_\varepsilon(\alpha, \alpha)\ [- \tfrac12 W_\varepsilon(\beta, \beta)],

    the Sinkhorn divergence (the constant target term is skipped, as OTT's
    ``static_b=True``) plus :func:`monge_gap` on the source batch; gradients by the envelope
    theorem.

    Parameters
    ----------
    model : torch.nn.Module
        The map, applied to a batch of source points ``(batch_size, d)``.
    source, target : torch.Tensor (N, d) or callable
        Samples (a random batch of rows per step) or samplers ``draw(size, generator)``.
    lam : float or callable
        :math:`\lambda`, or a schedule ``lam(step)``.
    fit_reg, gap_reg : float
        :math:`\varepsilon` of the fitting term and of the Monge gap (None: its default).
    cost : str or callable
        The Monge-gap cost (see :func:`monge_gap`); the fitting term uses ``"sqeuclidean"``.
    n_iter, batch_size : int
    optimizer : torch.optim.Optimizer, optional
        Default ``Adam(model.parameters(), lr=1e-3)`` (OTT's default).
    seed : int
        Seed of the batch generator.
    average : int
        If > 0, the model ends with its parameters averaged over the last ``average`` steps.
    tol : float
        Marginal L1 tolerance of the inner OT solves.

    Returns
    -------
    model, trace
        The fitted model (modified in place) and a :class:`~optkit.core.Trace` with ``loss``,
        ``fit`` and ``gap`` per step.
    """
    import torch

    n_iter = check_int(n_iter, "n_iter", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    average = check_int(average, "average", minimum=0)
    fit_reg = check_positive(fit_reg, "fit_reg")
    lam_of: Callable[[int], float] = lam if callable(lam) else (lambda _, v=lam: v)
    if not callable(lam):
        check_nonnegative(lam, "lam")
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(check_int(seed, "seed"))
    draw_x, draw_y = _sampler(source, "source", torch), _sampler(target, "target", torch)
    params = [p for p in model.parameters() if p.requires_grad]
    sums = [torch.zeros_like(p) for p in params]
    trace = Trace()
    for step in range(n_iter):
        xb, yb = draw_x(batch_size, gen), draw_y(batch_size, gen)
        y = model(xb)
        w_xy, _ = _entropic_cost(cost_matrix(y, yb, "sqeuclidean"), fit_reg, tol, "sns")
        w_xx = _symmetric_entropic_cost(cost_matrix(y, y, "sqeuclidean"), fit_reg, tol)
        fit = w_xy - 0.5 * w_xx
        lam_t = float(lam_of(step))
        gap = monge_gap(xb, y, cost, gap_reg, tol=tol) if lam_t > 0 else fit.new_zeros(())
        loss = fit + lam_t * gap
        opt.zero_grad()
        loss.backward()
        opt.step()
        trace.append(nit=step, loss=float(loss.detach()), fit=float(fit.detach()),
                     gap=float(gap.detach()), lam=lam_t)
        if step >= n_iter - average:
            with torch.no_grad():
                for s, p in zip(sums, params):
                    s += p
    if average:
        with torch.no_grad():
            for s, p in zip(sums, params):
                p.copy_(s / min(average, n_iter))
    return model, trace
