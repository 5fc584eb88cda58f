"""
Lion, Lion-κ and AdamW on a small classifier
============================================

:class:`optkit.optim.Lion` is a drop-in ``torch.optim`` optimizer. With weight decay
:math:`\\lambda`, Lion drives the weights into the ball :math:`\\|x\\|_\\infty \\le 1/\\lambda`
(``kappa="sign"``); ``kappa="l2"`` uses the Euclidean ball instead (with
``scale="sqrt_numel"`` its unit-norm step is rescaled to the length of a sign step).
:meth:`~optkit.optim.Lion.implied_constraints` reports the constraint of each tensor. Lion's
learning rate is taken 3-10 times smaller than AdamW's, as the Lion paper advises.
"""

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits

import optkit.optim

torch.set_num_threads(1)  # a model this small runs faster on one thread
digits = load_digits()
X = torch.tensor(digits.data, dtype=torch.float32) / 16
y = torch.tensor(digits.target)


def train(make_optimizer, steps=300):
    """Full-batch training; the training loss after every step."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = make_optimizer(model.parameters())
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return opt, losses


runs = {
    "AdamW lr 1e-2, wd 0.01": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.01),
    "Lion lr 1e-3, wd 0.1": lambda p: optkit.optim.Lion(p, lr=1e-3, weight_decay=0.1),
    "Lion-κ l2 lr 1e-3, wd 0.1": lambda p: optkit.optim.Lion(
        p, lr=1e-3, weight_decay=0.1, kappa="l2", kappa_options={"scale": "sqrt_numel"}),
}
curves, optimizers = {}, {}
for name, make in runs.items():
    optimizers[name], curves[name] = train(make)
    print(f"{name:26s} final training loss {curves[name][-1]:.4f}")

# %%
# The implied constraint of the first layer's weights for each Lion run: the norm, the
# radius :math:`1/\lambda` and the current norm of the weights.
for name in list(runs)[1:]:
    print(name, optimizers[name].implied_constraints()[0])

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, losses in curves.items():
    ax.semilogy(range(1, len(losses) + 1), losses, label=name)
ax.set(xlabel="step", ylabel="training loss", title="digits, MLP 64-32-10")
ax.legend()
fig.tight_layout()
