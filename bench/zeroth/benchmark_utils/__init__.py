"""The digits protocol of spec zeroth.md §9, shared by the suite and bench/zeroth_digits.py."""

from __future__ import annotations

import copy

import numpy as np
import torch
from benchopt import BaseSolver
from benchopt.stopping_criterion import NoCriterion
from torch import nn

N_TRAIN = 600
BATCH = 64


def load_data(device="cpu"):
    """Source and target digits; target = 0.6 x (image shifted right by 1 pixel) + pattern.

    ``{"source" | "target": (x_train, y_train, x_test, y_test)}``: the same 600 images
    for training in both domains, the other 1,197 for test.
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.reshape(-1, 8, 8) / 16.0
    shifted = np.zeros_like(x)
    shifted[:, :, 1:] = x[:, :, :-1]
    pattern = 0.3 * np.random.default_rng(1234).random((8, 8))
    target = 0.6 * shifted + pattern
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:N_TRAIN], perm[N_TRAIN:]

    def t(a):
        return torch.tensor(a.reshape(len(a), -1), dtype=torch.float32, device=device)

    yt = torch.tensor(y, device=device)
    return {"source": (t(x[tr]), yt[tr], t(x[te]), yt[te]),
            "target": (t(target[tr]), yt[tr], t(target[te]), yt[te])}


def mlp():
    """MLP 64-256-256-10 with GELU (85,002 parameters)."""
    return nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(),
                         nn.Linear(256, 10))


@torch.no_grad()
def accuracy(model, x, y):
    return float((model(x).argmax(1) == y).float().mean())


def pretrain(data, seed=0, epochs=60):
    """Adam (lr 1e-3, batch 64) on the source training images; returns the model in eval mode."""
    torch.manual_seed(seed)
    model = mlp()
    xs, ys, _, _ = data["source"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(ys), generator=gen).split(BATCH):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xs[idx]), ys[idx]).backward()
            opt.step()
    return model.eval()


class FinetuneSolver(BaseSolver):
    """Fine-tune a copy of the pretrained model on target mini-batches of 64.

    One benchopt iteration is ``block`` optimizer steps; each step draws its batch
    from a seeded generator. Subclasses implement ``setup(model) -> (model, optimizer)``
    and ``one_step(closure)``; ZO solvers report ``n_forward``.
    """

    sampling_strategy = "callback"
    stopping_criterion = NoCriterion(strategy="callback")
    requirements = []
    block = 5

    def set_objective(self, model, x_train, y_train, seed):
        self.base, self.x, self.y, self.seed = model, x_train, y_train, seed

    def run(self, callback):
        torch.set_num_threads(1)
        self.model, self.opt = self.setup(copy.deepcopy(self.base))
        self.model.eval()
        gen = torch.Generator().manual_seed(self.seed)
        self.n_steps = 0
        while callback():
            for _ in range(self.block):
                idx = torch.randint(len(self.y), (BATCH,), generator=gen)
                xb, yb = self.x[idx], self.y[idx]
                self.one_step(lambda xb=xb, yb=yb: nn.functional.cross_entropy(self.model(xb), yb))
                self.n_steps += 1

    def counts(self):
        """Forward passes (the common cost axis); first-order solvers add ``n_backward``."""
        return {"n_forward": self.opt.zo_stats["n_forward"], "n_backward": 0}

    def get_result(self):
        return dict(model=self.model, counts=self.counts())
