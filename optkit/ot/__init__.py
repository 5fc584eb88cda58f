"""Entropic optimal transport: log-domain Sinkhorn, Sinkhorn–Newton–Sparse, the Monge gap.

``sinkhorn(a, b, C, reg, method="sns" | "sinkhorn")`` solves balanced entropic OT with
``reg`` = epsilon = 1/eta_SNS (POT's ``reg``, OTT's ``epsilon``); ``monge_gap`` and
``fit_map`` (torch) estimate the Monge gap of a map and fit Monge-gap-regularized maps.
numba kernels (numpy input) and torch kernels (torch input, CPU or CUDA) are loaded on first
use, not at import.
"""

from .monge_gap import fit_map, monge_gap
from .sinkhorn import COSTS, OTResult, cost_matrix, sinkhorn

__all__ = ["COSTS", "OTResult", "cost_matrix", "fit_map", "monge_gap", "sinkhorn"]
