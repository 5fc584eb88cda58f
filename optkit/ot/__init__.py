"""Entropic optimal transport: log-domain Sinkhorn, Sinkhorn–Newton–Sparse, the Monge gap.

``sinkhorn(a, b, C, reg, method="sns" | "sinkhorn")`` solves balanced entropic OT with
``reg`` = epsilon = 1/eta_SNS (POT's ``reg``, OTT's ``epsilon``) on :func:`optkit.core.run`
and returns an :class:`OTResult` (a ``scipy.optimize.OptimizeResult``); ``monge_gap`` and
``fit_map`` (torch) estimate the Monge gap of a map and fit Monge-gap-regularized maps;
``sinkhorn_divergence`` (and the module ``SinkhornDivergence``) is the debiased loss. On torch
input that requires gradients, ``sinkhorn(..., grad=...)`` gives envelope, implicit or unrolled
gradients (:mod:`optkit.ot.autograd`); ``optkit.ot.compat`` has POT's call shapes.
numba kernels (numpy input) and torch kernels (torch input, CPU or CUDA) are loaded on first
use, not at import.
"""

from .costs import COSTS, cost_matrix
from .divergence import sinkhorn_divergence
from .fit_map import FitMapResult, fit_map
from .monge_gap import monge_gap
from .result import OTResult
from .sinkhorn import sinkhorn

__all__ = ["COSTS", "FitMapResult", "OTResult", "SinkhornDivergence", "cost_matrix", "fit_map",
           "monge_gap", "sinkhorn", "sinkhorn_divergence"]


def __getattr__(name):
    """``SinkhornDivergence`` (a ``torch.nn.Module``) imports torch, so it loads on first use."""
    if name == "SinkhornDivergence":
        from .nn import SinkhornDivergence

        return SinkhornDivergence
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
