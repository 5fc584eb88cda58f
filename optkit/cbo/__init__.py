"""Consensus-based optimization: the :class:`CBO` solver (method ``"cbo"`` in ``optkit.minimize``)."""

from .cbo import CBO, consensus, ess_alpha

__all__ = ["CBO", "consensus", "ess_alpha"]
