from benchmark_utils import TorchSolver

from optkit.optim import PerpAdamW


class Solver(TorchSolver):
    """optkit ⊥AdamW: AdamW on gradients projected orthogonally to the weights."""

    name = "optkit-perp-adamw"
    parameters = {"lr": [1e-3], "rescale": [False]}

    def make_optimizer(self, params):
        return PerpAdamW(params, lr=self.lr, weight_decay=0.0, rescale=self.rescale)
