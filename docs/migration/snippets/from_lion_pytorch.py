import torch

torch.manual_seed(0)
X, y = torch.randn(128, 8), torch.randn(128, 1)


def train(make_optimizer, steps=50):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = make_optimizer(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(X), y).backward()
        opt.step()
    return model


# --- before
from lion_pytorch import Lion

model_before = train(lambda params: Lion(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1))
# --- after
import optkit.optim

model_after = train(lambda params: optkit.optim.Lion(params, lr=1e-3, betas=(0.9, 0.99),
                                                     weight_decay=0.1))
# lion-pytorch's decoupled_weight_decay=True is weight_decay_mode="initial_lr_normalized";
# kappa="l2", "huber", "nuclear", ... select the other members of the Lion-κ family.
# --- check
assert all(torch.isfinite(p).all() for p in model_after.parameters())
# --- compare
for p_before, p_after in zip(model_before.parameters(), model_after.parameters()):
    torch.testing.assert_close(p_after, p_before, rtol=1e-6, atol=1e-7)   # the same update
