import torch

torch.manual_seed(0)
X, y = torch.randn(256, 10), torch.randn(256, 1)


def train(make_optimizer, steps=200):
    torch.manual_seed(1)
    model = torch.nn.Linear(10, 1)
    opt = make_optimizer(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        opt.step()
    return model, loss.item()


# --- before
import torch_optimizer

model_before, loss_before = train(lambda params: torch_optimizer.DiffGrad(params, lr=1e-2))
# --- after
import optkit.optim

model_after, loss_after = train(lambda params: optkit.optim.DiffGrad(params, lr=1e-2))
# --- check
ones = torch.ones(256, 1)
lstsq = torch.linalg.lstsq(torch.cat([X, ones], 1), y).solution
best = torch.nn.functional.mse_loss(torch.cat([X, ones], 1) @ lstsq, y).item()
assert abs(loss_after - best) < 1e-4, (loss_after, best)       # least squares reached
# --- compare
for p_before, p_after in zip(model_before.parameters(), model_after.parameters()):
    torch.testing.assert_close(p_after, p_before, rtol=1e-4, atol=1e-6)
