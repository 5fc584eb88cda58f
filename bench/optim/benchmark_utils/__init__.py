"""A torch training-loop solver shared by every optimizer of the suite."""

import torch
import torch.nn.functional as F
from benchopt import BaseSolver
from benchopt.stopping_criterion import NoCriterion


class TorchSolver(BaseSolver):
    """One benchopt callback per optimizer step on a seeded minibatch stream.

    Subclasses implement ``make_optimizer(params)``; benchopt ``parameters`` are
    attributes. Fixed-budget stochastic training, so no stopping criterion.
    """

    sampling_strategy = "callback"
    stopping_criterion = NoCriterion()
    requirements = []

    def set_objective(self, X, y, make_model, batch_size):
        self.X, self.y, self.make_model, self.batch_size = X, y, make_model, batch_size

    def make_optimizer(self, params):
        raise TypeError(f"{type(self).__name__} must define make_optimizer(params)")

    def run(self, callback):
        torch.set_num_threads(1)
        self.model = self.make_model()
        opt = self.make_optimizer(self.model.parameters())
        gen = torch.Generator().manual_seed(0)
        n = len(self.y)
        self.steps, order, pos = 0, torch.randperm(n, generator=gen), 0
        while callback():
            if pos + self.batch_size > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + self.batch_size]
            pos += self.batch_size
            opt.zero_grad()
            F.cross_entropy(self.model(self.X[idx]), self.y[idx]).backward()
            opt.step()
            self.steps += 1

    def get_result(self):
        params = [p.detach().clone() for p in self.model.parameters()]
        counts = {"n_value": self.steps, "n_grad": self.steps, "n_hvp": 0,
                  "n_samples": self.steps * self.batch_size}
        return dict(params=params, counts=counts)
