from benchmark_utils import BilevelSolver

from optkit.bilevel import solve


class Solver(BilevelSolver):
    """BASELINE: V-PBGD (Shen & Chen, ICML 2023), written natively from its update."""

    name = "baseline-vpbgd"
    key = "vpbgd"

    def solve(self, problem, **kwargs):
        return solve(problem, "vpbgd", **kwargs)
