"""
Fine-tuning with forward passes only: MeZO
==========================================

:class:`optkit.zeroth.MeZO` estimates a directional derivative from two forward passes per
step and needs no ``backward``. Here it trains a logistic-regression head on the digits data
set, with the default learning rate :math:`20/D` (:math:`D` the number of parameters) and
with three times that, next to plain SGD with true gradients at a learning rate of the same
size per step. :func:`~optkit.zeroth.probe_directional_derivatives` shows the size of the
directional derivatives before training.
"""

import functools

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits

import optkit.zeroth

torch.set_num_threads(1)  # a model this small runs faster on one thread
digits = load_digits()
X = torch.tensor(digits.data, dtype=torch.float32) / 16
y = torch.tensor(digits.target)


def make_model():
    torch.manual_seed(0)
    return torch.nn.Linear(64, 10)


def loss_of(model):
    return torch.nn.functional.cross_entropy(model(X), y)


model = make_model()
D = sum(p.numel() for p in model.parameters())
with torch.no_grad():
    d = optkit.zeroth.probe_directional_derivatives(model.parameters(), lambda: loss_of(model),
                                                    eps=1e-3, n=64, rng=0)
print(f"D = {D} parameters; |d| quantiles 50/90/99 %:", np.quantile(np.abs(d), [0.5, 0.9, 0.99]))

# %%
# Each MeZO step costs two forward passes; the closure returns the loss and calls no backward.
curves = {}
for name, lr in [("MeZO lr = 20/D (default)", None), ("MeZO lr = 60/D", 60 / D)]:
    model = make_model()
    opt = optkit.zeroth.MeZO(model.parameters(), lr=lr, eps=1e-3, rng=0)
    losses = []
    with torch.no_grad():
        for _ in range(1000):
            losses.append(float(opt.step(functools.partial(loss_of, model))))
    curves[name] = losses
    print(f"{name:26s} loss {losses[0]:.3f} -> {losses[-1]:.3f}, forwards {opt.zo_stats['n_forward']}")

model = make_model()
sgd = torch.optim.SGD(model.parameters(), lr=0.5)
losses = []
for _ in range(1000):
    sgd.zero_grad()
    loss = loss_of(model)
    loss.backward()
    sgd.step()
    losses.append(loss.item())
curves["SGD with gradients, lr 0.5"] = losses

# %%
# A zeroth-order step is a gradient step projected on one random direction: unbiased, but its
# variance grows with D, so the stable learning rate, and the progress per step, scale like
# 1/D. That is the price of needing no backward pass and no activation memory.
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, losses in curves.items():
    ax.plot(losses, label=name)
ax.set(xlabel="step", ylabel="training loss", title="digits, logistic regression")
ax.legend()
fig.tight_layout()
