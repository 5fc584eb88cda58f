"""Consensus-based optimization: the :class:`CBO` solver (method ``"cbo"`` in ``optkit.minimize``).

Modules: :mod:`~optkit.cbo.solver` (the swarm solver on the core run loop),
:mod:`~optkit.cbo.hopping` (Consensus Hopping), :mod:`~optkit.cbo.dynamics` (Euler–Maruyama
CBO), :mod:`~optkit.cbo.consensus` (consensus point, effective-sample-size α),
:mod:`~optkit.cbo.population` (batched and parallel evaluation).
"""

from .consensus import consensus, ess_alpha
from .solver import CBO

__all__ = ["CBO", "consensus", "ess_alpha"]
