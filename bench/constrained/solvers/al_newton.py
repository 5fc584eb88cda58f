from benchmark_utils import ALNewtonSolver


class Solver(ALNewtonSolver):
    """optkit al-newton (AdaSketch-Newton), each accuracy mode and sketch."""

    name = "optkit-al-newton"
    parameters = {"accuracy": ["paper", "relative"], "sketch": ["rk", "minres", "direct"]}
    test_config = {"accuracy": "relative", "sketch": "rk"}
