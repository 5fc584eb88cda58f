"""Equality-constrained optimization: AdaSketch-Newton and randomized iterative sketching.

- :func:`al_newton`: inexact Newton on the exact augmented Lagrangian with randomized
  sketching of the KKT system (Hong, Na, Mahoney, Kolar, ICML 2023); method ``"al-newton"``.
- :mod:`optkit.constrained.sketch`: sketch-and-project solvers for linear systems and
  least squares (randomized Kaczmarz, Gaussian and block sketches).
"""

from . import sketch
from .al_newton import al_newton

__all__ = ["al_newton", "sketch"]
