from optkit._bench.suite import ScipySolver


class Solver(ScipySolver):
    """Peer: scipy.optimize.minimize(method="L-BFGS-B")."""

    name = "scipy-l_bfgs_b"
    method = "L-BFGS-B"
    uses = ("grad",)
