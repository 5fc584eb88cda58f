import torch
from benchmark_utils import TorchSolver


class Solver(TorchSolver):
    """torch.optim.AdamW (the baseline)."""

    name = "torch-adamw"
    parameters = {"lr": [1e-3], "weight_decay": [0.01]}

    def make_optimizer(self, params):
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
