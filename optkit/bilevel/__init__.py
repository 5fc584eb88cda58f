"""Bilevel optimization by value-function penalty methods (Kwon, Kwon, Wright, Nowak, ICLR 2024).

``BilevelProblem`` holds the upper objective f(x, y) and the lower objective g(x, y);
``solve(problem, method="penalty" | "penalty-sl")`` returns an ``OptimizeResult``.
``optkit.bilevel.toys`` builds the test problems with known solutions; the comparison
methods of the benchmark live in ``optkit.bilevel.baselines``.
"""

from .penalty import solve
from .problem import BilevelProblem, Level

__all__ = ["BilevelProblem", "Level", "solve"]
