from optkit._bench.suite import ScipySolver


class Solver(ScipySolver):
    """Peer: scipy.optimize.minimize(method="BFGS")."""

    name = "scipy-bfgs"
    method = "BFGS"
    uses = ("grad",)
