from benchmark_utils import BilevelSolver

from optkit.bilevel import solve


class Solver(BilevelSolver):
    """optkit's double-loop value-function penalty method (KKWN, ICLR 2024)."""

    name = "optkit-penalty"
    key = "penalty"
    parameters = {"sigma": [1e-1, 1e-2, 1e-3]}

    def solve(self, problem, **kwargs):
        return solve(problem, "penalty", **kwargs)
