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


def _mixed_params():
    """fp32, fp64 and complex64 tensors in one group, and one tensor that never gets a gradient."""
    gen = torch.Generator().manual_seed(1)
    return [torch.nn.Parameter(torch.randn(30, 20, generator=gen)),
            torch.nn.Parameter(torch.randn(5, generator=gen, dtype=torch.float64)),
            torch.nn.Parameter(torch.randn(4, 3, generator=gen, dtype=torch.complex64)),
            torch.nn.Parameter(torch.randn(6, generator=gen)),  # no gradient, ever
            torch.nn.Parameter(torch.randn(7, generator=gen))]  # no gradient at the first step


def _steps(opt, params, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    for t in range(steps):
        for i, p in enumerate(params):
            grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.grad = None if i == 3 or (i == 4 and t == 0 and seed == 0) else grad
        opt.step()


@pytest.mark.parametrize("cls,kw", [
    (Lion, {"lr": 1e-2, "weight_decay": 0.1}),
    (Lion, {"lr": 1e-2, "kappa": "tanh", "kappa_options": {"e": 0.5, "scale": "sqrt_numel"},
            "maximize": True}),
    (DiffGrad, {"lr": 1e-2, "weight_decay": 0.1}),
    (DiffGrad, {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True,
                "maximize": True}),
])
def test_fused_multi_tensor_step_on_mixed_dtypes_and_missing_grads(cls, kw):
    """One compiled step per (device, dtype) bucket gives the single-tensor numbers per tensor,
    with per-tensor step counts (DiffGrad's bias corrections) and untouched grad-less tensors."""
    results = {}
    for fused in (False, True):
        params = _mixed_params()
        before = params[3].detach().clone()
        opt = cls(params, fused=fused, foreach=False, **kw)
        _steps(opt, params, 3, seed=0)
        assert torch.equal(params[3], before) and params[3] not in opt.state
        results[fused] = params, opt
    (eager, eager_opt), (fused, fused_opt) = results[False], results[True]
    for a, b in zip(eager, fused):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
    if cls is DiffGrad:
        for params, opt in ((eager, eager_opt), (fused, fused_opt)):
            assert [opt.state[p]["step"].item() for p in params if p in opt.state] == [3, 3, 3, 2]


@pytest.mark.parametrize("cls,kw", [(Lion, {"lr": 1e-2, "weight_decay": 0.1}),
                                    (DiffGrad, {"lr": 1e-2, "weight_decay": 0.1})])
@pytest.mark.parametrize("first,second", [(True, False), (False, True)])
def test_state_dict_round_trip_between_fused_and_foreach(cls, kw, first, second):
    """Two steps with one kernel, state_dict into an optimizer with the other, two more steps:
    the foreach kernel's four steps (the state layout is shared)."""
    reference = _mixed_params()
    opt = cls(reference, foreach=True, **kw)
    _steps(opt, reference, 2, seed=0)
    _steps(opt, reference, 2, seed=5)

    params = _mixed_params()
    opt_a = cls(params, fused=first, foreach=not first, **kw)
    _steps(opt_a, params, 2, seed=0)
    opt_b = cls(params, fused=second, foreach=not second, **kw)
    opt_b.load_state_dict(opt_a.state_dict())
    _steps(opt_b, params, 2, seed=5)
    for a, b in zip(reference, params):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls,module,body", [(Lion, "lion", "_lion_tensors"),
                                             (DiffGrad, "diffgrad", "_diffgrad_tensors")])
def test_fused_step_is_one_compiled_call_per_device_and_dtype(monkeypatch, cls, module, body):
    """The fused step calls its compiled multi-tensor function once per (device, dtype) bucket
    with every tensor of the bucket, not once per tensor."""
    import importlib

    mod = importlib.import_module(f"optkit.optim.{module}")
    compiled_body = mod.compiled(getattr(mod, body))
    calls = []

    def counting(fn):
        assert fn is getattr(mod, body)

        def call(params, *args, **kwargs):
            calls.append(sorted({(p.dtype, tuple(p.shape)) for p in params}, key=str))
            return compiled_body(params, *args, **kwargs)
        return call

    monkeypatch.setattr(mod, "compiled", counting)
    params = _mixed_params()
    opt = cls(params, lr=1e-2, fused=True)
    _steps(opt, params, 1, seed=1)  # every tensor but params[3] has a gradient
    assert sorted(calls, key=str) == sorted([
        [(torch.float32, (30, 20)), (torch.float32, (7,))],
        [(torch.float64, (5,))],
        [(torch.float32, (4, 3, 2))],  # complex64 as its real view
    ], key=str)
