r"""The Monge gap of a map (spec ``ot.md`` §5) and the entropic costs it is built from.

Uscidda & Cuturi, *The Monge Gap: A Regularizer to Learn All Transport Maps*, ICML 2023
(arXiv 2302.04953); reference implementation: OTT's ``monge_gap_from_samples``.
"""

from __future__ import annotations

import numpy as np

from optkit.core.backend import is_torch_tensor, namespace, to_float
from optkit.core.validate import check_positive

from .costs import as_real_points, cost_matrix
from .sinkhorn import sinkhorn

__all__ = ["monge_gap"]


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
        return 0.05 * to_float(namespace(C).std(C))
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
    if is_torch_tensor(x) != is_torch_tensor(Tx):
        raise TypeError("x and Tx must both be numpy arrays or both torch tensors")
    x, Tx = as_real_points(x, "x"), as_real_points(Tx, "Tx")
    if tuple(x.shape) != tuple(Tx.shape):
        raise ValueError(f"x and Tx must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(Tx.shape)}")
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be 2-D with at least 2 points, got shape {tuple(x.shape)}")
    C = cost_matrix(x, Tx, cost)
    if not _all_finite(C):
        raise ValueError("the costs c(x_i, Tx_j) are not finite: x and Tx must be finite (no "
                         "NaN or inf) and their distances must not overflow")
    eps = _reg_of(C, reg)
    W, _ = _entropic_cost(C, eps, tol, method)
    diag = C.diagonal()
    xp = namespace(diag)
    return xp.mean(xp.astype(diag, xp.float64)) - W


def _all_finite(C) -> bool:
    if is_torch_tensor(C):
        return bool(C.detach().isfinite().all())
    return bool(np.isfinite(C).all())


def _symmetric_entropic_cost(C, eps, tol, maxiter=1000):
    r""":math:`W_\varepsilon(\alpha, \alpha)` for a symmetric torch cost, by the symmetric
    Sinkhorn updates :math:`f \leftarrow \frac12\big(f + \varepsilon(\log a -
    \mathrm{LSE}_j((f_j - C_{ij})/\varepsilon))\big)` (Feydy et al., AISTATS 2019) until the
    marginal L1 error is ``<= tol``, then the envelope value :math:`D(f, f) + \varepsilon`,
    differentiable in ``C``. A CPU cost goes to the numba kernels (zero-copy); on another
    device the potential stays there and the error is read every 10 iterations."""
    import torch

    Cd = C.detach()
    n = Cd.shape[0]
    if Cd.device.type == "cpu":
        from ._numba_kernels import NumbaKernels

        kern, f, check_every = NumbaKernels(Cd.numpy()), np.zeros(n), 1
    else:
        from ._torch_kernels import TorchKernels

        kern, check_every = TorchKernels(Cd), 10
        f = torch.zeros(n, dtype=torch.float64, device=Cd.device)
    xp = namespace(f)
    log_a, inv = -float(np.log(n)), 1.0 / eps
    with kern.threads():
        for it in range(maxiter):
            L = kern.row_lse(f, inv, log_a - f * inv)
            if it % check_every == 0 and to_float(
                    xp.sum(xp.abs(xp.exp(f * inv + L) - 1.0 / n))) <= tol:
                break
            f = 0.5 * (f + eps * (log_a - L))
    f = torch.as_tensor(f, dtype=torch.float64, device=Cd.device)
    return _dual_value(C, f, f, eps) + eps
