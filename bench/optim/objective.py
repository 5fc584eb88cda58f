import numpy as np
import torch
import torch._dynamo  # noqa: F401  (the first Optimizer() imports it: seconds not to bill a solver)
import torch.nn.functional as F
from benchopt import BaseObjective


class Objective(BaseObjective):
    """Train a small MLP by minibatch steps; curves of the full training loss, test accuracy
    and gradient evaluations (one per optimizer step, ``n_samples`` per example seen)."""

    name = "optimizers"
    url = "https://github.com/optkit/optkit"
    min_benchopt_version = "1.9"
    requirements = []
    parameters = {"batch_size": [64]}

    def set_data(self, X_train, y_train, X_test, y_test, hidden):
        self.data = [torch.as_tensor(a) for a in (X_train, y_train, X_test, y_test)]
        self.hidden = hidden

    def make_model(self, seed=0):
        torch.manual_seed(seed)
        d, k = self.data[0].shape[1], int(self.data[1].max()) + 1
        return torch.nn.Sequential(torch.nn.Linear(d, self.hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(self.hidden, self.hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(self.hidden, k))

    def get_objective(self):
        X_train, y_train, _, _ = self.data
        return dict(X=X_train, y=y_train, make_model=self.make_model,
                    batch_size=self.batch_size)

    @torch.no_grad()
    def evaluate_result(self, params, counts):
        model = self.make_model()
        for p, q in zip(model.parameters(), params):
            p.copy_(q)
        X_train, y_train, X_test, y_test = self.data
        logits = model(X_train)
        loss = float(F.cross_entropy(logits, y_train))
        if not np.isfinite(loss):
            loss = np.inf
        return dict(value=loss,
                    train_accuracy=float((logits.argmax(1) == y_train).float().mean()),
                    test_accuracy=float((model(X_test).argmax(1) == y_test).float().mean()),
                    **counts)

    def get_one_result(self):
        return dict(params=[p.detach() for p in self.make_model().parameters()],
                    counts={"n_value": 0, "n_grad": 0, "n_hvp": 0, "n_samples": 0})
