from optkit._bench.suite import ScipySolver


class Solver(ScipySolver):
    """Peer: scipy.optimize.minimize(method="CG")."""

    name = "scipy-cg"
    method = "CG"
    uses = ("grad",)
