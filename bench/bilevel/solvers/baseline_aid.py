from benchmark_utils import BilevelSolver

from optkit.bilevel import solve


class Solver(BilevelSolver):
    """BASELINE: implicit-differentiation hypergradient descent (CG on Hessian-vector
    products; second-order calls in ``n_hvp``). Written natively from the equations."""

    name = "baseline-aid"
    key = "aid"

    def solve(self, problem, **kwargs):
        return solve(problem, "aid", **kwargs)
