r"""Consensus Hopping: each step resamples the swarm around the current consensus.

Riedl, Klock, Geldhauser, Fornasier, "Gradient is All You Need?" (arXiv 2306.09778,
the consensus hopping scheme): with :math:`\xi^i \sim \mathcal N(0, I_d)`,

.. math::
    X^i_k = v_k + \sigma_k \xi^i, \qquad v_{k+1} = v_\alpha(X_k), \qquad
    \sigma_{k+1} = \gamma_\sigma \sigma_k .

For large α and N the step approximates the proximal step
:math:`\arg\min_x f(x) + \|x - v_k\|^2 / (2\alpha\sigma_k^2)` (the paper's Laplace-principle
argument). The law of the scheme is rotation-equivariant.
"""

from __future__ import annotations

__all__ = ["hopping_move", "hopping_particles", "HOP_DECAY", "HOP_PER_DIM", "HOP_MAX"]

#: default σ decay per step
HOP_DECAY = 0.97
#: default particles per dimension, and their cap
HOP_PER_DIM = 40
HOP_MAX = 800


def hopping_particles(d: int) -> int:
    """Default swarm size in dimension ``d``: ``40 d`` clipped to [40, 800]."""
    return int(min(HOP_MAX, max(HOP_PER_DIM, HOP_PER_DIM * d)))


def hopping_move(D, xi, sigma):
    r"""The displacement taking particles :math:`X = v + D` to :math:`v + \sigma \xi`."""
    return sigma * xi - D
