import torch
from benchmark_utils import TorchSolver

from optkit.optim import PerpGrad


class Solver(TorchSolver):
    """optkit ⊥AdamW: AdamW on gradients projected orthogonally to the weights."""

    name = "optkit-perp-adamw"
    parameters = {"lr": [1e-3], "rescale": [False]}

    def make_optimizer(self, params):
        return PerpGrad(torch.optim.AdamW, params, lr=self.lr, weight_decay=0.0,
                        rescale=self.rescale)
