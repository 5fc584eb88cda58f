from optkit._bench.suite import ScipySolver


class Solver(ScipySolver):
    """Peer: scipy.optimize.minimize(method="Newton-CG")."""

    name = "scipy-newton_cg"
    method = "Newton-CG"
    uses = ("grad", "hvp")
