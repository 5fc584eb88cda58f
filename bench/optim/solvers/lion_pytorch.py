from benchmark_utils import TorchSolver
from lion_pytorch import Lion


class Solver(TorchSolver):
    """lion-pytorch's Lion (peer; same update as optkit's ``kappa="sign"``)."""

    name = "lion-pytorch"
    requirements = ["pip::lion-pytorch"]
    parameters = {"lr": [3e-4], "weight_decay": [0.1]}

    def make_optimizer(self, params):
        return Lion(params, lr=self.lr, weight_decay=self.weight_decay)
