"""Bilevel optimization: value-function penalty methods and the comparison methods.

``BilevelProblem`` holds the upper objective f(x, y) and the lower objective g(x, y);
``solve(problem, method=...)`` runs one of ``"penalty"``, ``"penalty-sl"`` (Kwon, Kwon,
Wright, Nowak, ICLR 2024), ``"aid"`` (implicit differentiation), ``"bome"`` or ``"vpbgd"``
on :func:`optkit.core.run` and returns a :class:`BilevelResult`. ``optkit.bilevel.toys``
builds the test problems with known solutions.
"""

from .base import BilevelResult
from .facade import OPTIONS, solve
from .problem import BilevelProblem, Level

__all__ = ["BilevelProblem", "BilevelResult", "Level", "OPTIONS", "solve"]
