from benchmark_utils import BilevelSolver

from optkit.bilevel import solve


class Solver(BilevelSolver):
    """BASELINE: BOME (Liu et al., NeurIPS 2022), written natively from its update."""

    name = "baseline-bome"
    key = "bome"

    def solve(self, problem, **kwargs):
        return solve(problem, "bome", **kwargs)
