import torch
from benchopt import BaseObjective
from torch import nn


class Objective(BaseObjective):
    """Fine-tuning a pretrained MLP on shifted digits: target training loss (value),
    target test accuracy, and the forward / gradient counts."""

    name = "zeroth-finetune"
    url = "https://github.com/optkit/optkit"
    min_benchopt_version = "1.9"
    requirements = []

    def set_data(self, model, x_train, y_train, x_test, y_test):
        self.model = model
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test

    def get_objective(self):
        return dict(model=self.model, x_train=self.x_train, y_train=self.y_train,
                    seed=self.get_seed(use_repetition=True))

    @torch.no_grad()
    def evaluate_result(self, model, counts):
        loss = float(nn.functional.cross_entropy(model(self.x_train), self.y_train))
        acc = float((model(self.x_test).argmax(1) == self.y_test).float().mean())
        return {"value": loss, "test_accuracy": acc, **counts}

    def get_one_result(self):
        return dict(model=self.model, counts={"n_forward": 0, "n_backward": 0})
