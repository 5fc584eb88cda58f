from benchmark_utils import TorchSolver

from optkit.optim import DiffGrad


class Solver(TorchSolver):
    """optkit diffGrad (paper-exact friction, decoupled decay off)."""

    name = "optkit-diffgrad"
    parameters = {"lr": [1e-3]}

    def make_optimizer(self, params):
        return DiffGrad(params, lr=self.lr)
