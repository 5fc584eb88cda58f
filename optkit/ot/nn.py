r"""``torch.nn.Module`` losses of :mod:`optkit.ot` (imports torch; loaded on first use)."""

from __future__ import annotations

import torch

from .divergence import sinkhorn_divergence

__all__ = ["SinkhornDivergence"]


class SinkhornDivergence(torch.nn.Module):
    r"""The debiased Sinkhorn divergence :math:`S_\varepsilon` as a loss module (GeomLoss's
    ``SamplesLoss("sinkhorn", debias=True)``): ``loss(x, y)`` or ``loss(x, y, a, b)``.

    See :func:`optkit.ot.sinkhorn_divergence` for the maths, the parameters and the gradient
    (envelope theorem, no graph through the solver).

    Parameters
    ----------
    reg : float
        :math:`\varepsilon`.
    cost, method, tol, maxiter, grad, warn
        As :func:`~optkit.ot.sinkhorn_divergence`.

    Examples
    --------
    >>> loss = SinkhornDivergence(reg=0.05, cost="half_sqeuclidean")
    >>> value = loss(x, y)          # doctest: +SKIP
    >>> value.backward()            # doctest: +SKIP
    """

    def __init__(self, reg, cost="sqeuclidean", *, method="sns", tol=1e-6, maxiter=1000,
                 grad="envelope", warn=True):
        super().__init__()
        self.reg, self.cost, self.method, self.tol = reg, cost, method, tol
        self.maxiter, self.grad, self.warn = maxiter, grad, warn

    def forward(self, x, y, a=None, b=None):
        return sinkhorn_divergence(x, y, a, b, reg=self.reg, cost=self.cost, method=self.method,
                                   tol=self.tol, maxiter=self.maxiter, grad=self.grad,
                                   warn=self.warn)

    def extra_repr(self) -> str:
        return f"reg={self.reg}, cost={self.cost!r}, method={self.method!r}, tol={self.tol}"
