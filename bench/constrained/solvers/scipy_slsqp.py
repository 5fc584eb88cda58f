from benchmark_utils import ScipyConstrained
from benchopt import BaseSolver


class Solver(ScipyConstrained, BaseSolver):
    """Peer: scipy SLSQP (ftol 1e-12)."""

    name = "scipy-slsqp"
    method = "SLSQP"
    options = {"ftol": 1e-12}
