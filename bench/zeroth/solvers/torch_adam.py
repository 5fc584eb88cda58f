import torch
from benchmark_utils import FinetuneSolver


class Solver(FinetuneSolver):
    """First-order reference: torch.optim.Adam with backpropagation (fp32)."""

    name = "torch-adam"
    parameters = {"lr": [1e-3]}

    def setup(self, model):
        self.n_grad = 0
        return model, torch.optim.Adam(model.parameters(), lr=self.lr)

    def one_step(self, closure):
        self.opt.zero_grad()
        closure().backward()
        self.opt.step()
        self.n_grad += 1

    def counts(self):
        return {"n_forward": self.n_grad, "n_backward": self.n_grad}
