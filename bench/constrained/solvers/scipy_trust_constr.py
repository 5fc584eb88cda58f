from benchmark_utils import ScipyConstrained
from benchopt import BaseSolver


class Solver(ScipyConstrained, BaseSolver):
    """Peer: scipy trust-constr (equality-constrained SQP, Byrd-Omojokun), exact Hessian
    products of f and of the constraints."""

    name = "scipy-trust-constr"
    method = "trust-constr"
    options = {"gtol": 1e-10, "xtol": 1e-12}
