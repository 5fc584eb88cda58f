r"""The Monge gap of a map and the entropic costs it is built from.

Uscidda & Cuturi, *The Monge Gap: A Regularizer to Learn All Transport Maps*, ICML 2023
(arXiv 2302.04953); reference implementation: OTT's ``monge_gap_from_samples``.
"""

from __future__ import annotations

import numpy as np

from optkit.core.backend import is_torch_tensor, namespace, to_float
from optkit.core.validate import check_positive

from .costs import as_real_points, cost_matrix
from .divergence import entropic_ot

__all__ = ["monge_gap", "entropic_cost"]


def _reg_of(C, reg):
    if reg is None:
        return 0.05 * to_float(namespace(C).std(C))
    return check_positive(reg, "reg")


def entropic_cost(C, eps, tol, method="sns", symmetric=False):
    r""":math:`W_\varepsilon = \mathrm{OT}_\varepsilon + \varepsilon` (OTT's ``ent_reg_cost``
    with uniform masses) from :func:`~optkit.ot.divergence.entropic_ot`: on a torch ``C`` that
    requires gradients it carries the envelope gradient :math:`\partial W/\partial C = P^*`
    (no graph through the solver, :class:`~optkit.ot.autograd.EnvelopeValue`). ``symmetric``:
    :math:`W_\varepsilon(\alpha, \alpha)` of a symmetric cost by the averaged symmetric
    update."""
    return entropic_ot(C, reg=eps, tol=tol, method=method, symmetric=symmetric) + eps


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
        through the solver; the backward forms the plan once from the potentials).
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
    W = entropic_cost(C, eps, tol, method)
    diag = C.diagonal()
    xp = namespace(diag)
    return xp.mean(xp.astype(diag, xp.float64)) - W


def _all_finite(C) -> bool:
    if is_torch_tensor(C):
        return bool(C.detach().isfinite().all())
    return bool(np.isfinite(C).all())
