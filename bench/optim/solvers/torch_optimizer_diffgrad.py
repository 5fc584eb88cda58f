from benchmark_utils import TorchSolver
from torch_optimizer import DiffGrad


class Solver(TorchSolver):
    """torch-optimizer's DiffGrad (peer, = diffGrad_v2 up to the placement of ε)."""

    name = "torch-optimizer-diffgrad"
    requirements = ["pip::torch-optimizer"]
    parameters = {"lr": [1e-3]}

    def make_optimizer(self, params):
        return DiffGrad(params, lr=self.lr)
