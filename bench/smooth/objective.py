from optkit._bench.suite import ProblemObjective


class Objective(ProblemObjective):
    """Smooth unconstrained minimization; curves of f, f - f*, |grad f| and oracle calls."""

    name = "smooth"
    url = "https://github.com/optkit/optkit"
