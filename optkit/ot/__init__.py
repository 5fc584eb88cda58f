"""Entropic optimal transport: log-domain Sinkhorn, Sinkhorn–Newton–Sparse, the Monge gap.

``sinkhorn(a, b, C, reg, method="sns" | "sinkhorn")`` solves balanced entropic OT with
``reg`` = epsilon = 1/eta_SNS (POT's ``reg``, OTT's ``epsilon``) on :func:`optkit.core.run`
and returns an :class:`OTResult` (a ``scipy.optimize.OptimizeResult``); ``monge_gap`` and
``fit_map`` (torch) estimate the Monge gap of a map and fit Monge-gap-regularized maps.
numba kernels (numpy input) and torch kernels (torch input, CPU or CUDA) are loaded on first
use, not at import.
"""

from .costs import COSTS, cost_matrix
from .fit_map import FitMapResult, fit_map
from .monge_gap import monge_gap
from .result import OTResult
from .sinkhorn import sinkhorn

__all__ = ["COSTS", "FitMapResult", "OTResult", "cost_matrix", "fit_map", "monge_gap", "sinkhorn"]
