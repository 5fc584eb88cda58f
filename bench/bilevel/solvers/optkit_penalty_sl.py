from benchmark_utils import BilevelSolver

from optkit.bilevel import solve


class Solver(BilevelSolver):
    """optkit's single-loop penalty method with STORM momentum (mini-batches where the
    dataset gives a batch size)."""

    name = "optkit-penalty-sl"
    key = "penalty-sl"
    parameters = {"sigma": [1e-1, 1e-2]}
    # benchopt test: the sigma the test datasets' step sizes are tuned for (see sigma_grid)
    test_config = {"sigma": 1e-2}

    def solve(self, problem, **kwargs):
        if "batch_size" in kwargs:  # rng is an option of mini-batch runs only
            kwargs["rng"] = self.get_seed(use_repetition=True)
        return solve(problem, "penalty-sl", **kwargs)
