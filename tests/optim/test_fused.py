"""The torch.compile-d (``fused=True``) kernels give the eager numbers (slow: compilation)."""

import pytest
import torch

from optkit.optim import DiffGrad, Lion

pytestmark = pytest.mark.slow


def _run(cls, steps=4, **kw):
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(30, 20, generator=gen)),
              torch.nn.Parameter(torch.randn(7, generator=gen))]
    opt = cls(params, **kw)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
    return params, opt


@pytest.mark.parametrize("cls,kw", [
    (Lion, {"lr": 1e-2, "weight_decay": 0.1}),
    (Lion, {"lr": 1e-2, "kappa": "l2", "maximize": True}),
    (DiffGrad, {"lr": 1e-2, "weight_decay": 0.1}),
])
def test_fused_equals_eager(cls, kw):
    eager, _ = _run(cls, **kw)
    fused, opt = _run(cls, fused=True, **kw)
    with_tensor_lr, _ = _run(cls, fused=True, **{**kw, "lr": torch.tensor(kw["lr"])})
    for a, b, c in zip(eager, fused, with_tensor_lr):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(c, a, rtol=1e-6, atol=1e-6)
    if cls is DiffGrad:
        assert all(s["step"].item() == 4 for s in opt.state.values())


def test_fused_rejects_kappas_it_cannot_fuse():
    with pytest.raises(ValueError, match="fused=True"):
        Lion([torch.nn.Parameter(torch.zeros(2, 2))], kappa="nuclear", fused=True)


def test_scheduled_tensor_lr_does_not_recompile():
    from torch._dynamo.utils import counters

    params, opt = _run(Lion, steps=1, lr=torch.tensor(1e-2), weight_decay=0.1, fused=True)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    graphs = counters["stats"]["unique_graphs"]
    for _ in range(3):
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
        sched.step()
    assert counters["stats"]["unique_graphs"] == graphs
    assert float(opt.param_groups[0]["lr"]) == pytest.approx(1e-2 / 8)
