from optkit._bench.suite import OptkitSolver


class Solver(OptkitSolver):
    """optkit's gradient descent with Armijo backtracking."""

    name = "optkit-gd"
    method = "gd"
